# docai — every target is idempotent and fast when already done.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.docai-installed
APT_STAMP := .venv-apt-ok
EXTRAS ?= models,semantic,export,report,samples,dask,ocr-rapid,tesserocr
export OMP_THREAD_LIMIT := 1

.PHONY: setup system venv demo test test-all samples eval bench lint clean golden

## setup: system packages (tesseract, poppler, libGL for RapidOCR's OpenCV) + .venv with the docai console script
setup: system venv

system:
	@if command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx deu \
	    && tesseract --list-langs 2>/dev/null | grep -qx fra && command -v pdftoppm >/dev/null \
	    && ldconfig -p | grep -q 'libGL.so.1 ' && ldconfig -p | grep -q 'libgthread-2.0.so.0 '; then \
	  echo "system packages: ok"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra poppler-utils \
	    libgl1 libglib2.0-0; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU torch wheel first: a looser requirement would pull GBs of CUDA packages.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]" --group test
	@touch $(STAMP)

## samples: regenerate the committed demo set (deterministic)
samples: setup
	$(BIN)/python -m samples.generate --out samples/demo --invoices 4 --receipts 3 --seed 7

## demo: process the demo samples and print the summary table
demo: setup
	$(BIN)/docai process samples/ --out out/

## test: the test suite (CI runs exactly this)
test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q --runslow

## eval: measure on the three dev sets (OCR is cached in ~/.cache/docai/eval: re-runs are quick)
eval: setup
	$(BIN)/docai eval ../shared/datasets/sroie --out out/eval/sroie --report out/eval/sroie/report
	$(BIN)/docai eval ../shared/datasets/funsd --out out/eval/funsd --report out/eval/funsd/report
	test -f out/eval/generated/labels.jsonl || $(BIN)/python -m samples.generate \
	  --out out/eval/generated --invoices 200 --receipts 0 --seed 1234 --only-scanned
	$(BIN)/docai eval out/eval/generated --out out/eval/generated-results \
	  --report out/eval/generated-results/report

bench: setup
	@$(BIN)/python -c "import invoice2data" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[bench]" \
	  || echo "bench: invoice2data could not be installed; the peer part will say so"
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check flows extractors schemas samples tests bench

clean:
	rm -rf out .pytest_cache

## golden: regenerate samples/expected/ from the current pipeline (review the diff!)
golden: setup
	DOCAI_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/golden/test_demo_golden.py
