"""Dev-set accuracy must not drop: a small fixed subset (the first 10 SROIE receipts and the first
3 FUNSD forms of ``../shared/datasets``, in ``labels.jsonl`` order), end to end with our OCR.

The thresholds sit a few points below what the pipeline measured when they were set (the numbers
are in THRESHOLDS' comments); raise them when the extractor improves, never lower them to make a
change pass. Runs in well under a minute on 2 cores (13 pages of OCR; no cache is shared with other
runs unless ``DOCAI_EVAL_TEST_CACHE`` points at a folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extractors.eval_run import EvalRunner
from extractors.evaluate import load_dataset, summarize
from extractors.settings import Settings

pytestmark = pytest.mark.tesseract

N_SROIE = 10
N_FUNSD = 3

THRESHOLDS = {
    # Re-set 2026-11-21 at commit 4c7c3f3 when the default OCR engine became ``auto`` (RapidOCR for
    # receipt-shaped pages): on all 100 SROIE dev receipts that raised total 61 -> 85 %, date
    # 66 -> 88 %, name 40 -> 50 %, all fields 48.2 -> 60.0 % (README), but on this 10-receipt
    # subset the date went 0.8 -> 0.6 (sroie_000 read by RapidOCR has no date, sroie_031/035 are
    # Tesseract pages as before) and address ANLS 0.7203 -> 0.6893. Measured then: total 0.7,
    # transaction_date 0.6, merchant_name 0.7, merchant_address 0.1 (ANLS 0.6893), all fields
    # 0.525 (ANLS 0.7888), doc type 1.0; FUNSD kv F1 0.1153, doc type 1.0. One document of slack
    # per field (10 receipts = 0.1 each); previous thresholds (bfa69f8, tesseract eng) in git.
    # Raised at 497cf1f (third session: dates glued to times / OCR-slipped months, kv reader
    # retrained): measured total 0.7, date 0.7, name 0.7, address 0.1 (ANLS 0.688), all fields
    # 0.55 (ANLS 0.8135); FUNSD kv F1 0.1486.
    # Raised at 1966450 (fourth session: digit/letter repairs in names and addresses, RapidOCR
    # spaces from the ink gaps): measured name 0.8 (ANLS 0.8966), all fields 0.575 (ANLS 0.8427),
    # the rest as before.
    # Raised in the fifth session (money labels read through OCR slips, cash less change, receipts
    # lying on a page read by RapidOCR, the name/address rework): measured total 0.9, date 1.0,
    # name 0.8 (ANLS 0.992), address 0.0 (ANLS 0.8285), all fields 0.675 (ANLS 0.951); FUNSD as
    # before.
    "sroie.total": 0.8,
    "sroie.transaction_date": 0.9,
    "sroie.merchant_name": 0.7,
    "sroie.merchant_address": 0.0,
    "sroie.merchant_address.anls": 0.78,
    "sroie.overall_exact": 0.625,
    "sroie.overall_anls": 0.9,
    "sroie.doc_type": 0.9,
    "funsd.kv_f1": 0.12,
    "funsd.doc_type": 0.95,
}


def measure(datasets: Path, cache: Path | str) -> dict[str, float]:
    """The subset's numbers, keyed like ``THRESHOLDS`` (one runner, both sets in one batch)."""
    sroie = load_dataset(datasets / "sroie")[:N_SROIE]
    funsd = load_dataset(datasets / "funsd")[:N_FUNSD]
    runner = EvalRunner(Settings(workers=2), cache_dir=cache)
    runner.check()
    results = [r for r, _ in runner.run([*sroie, *funsd], workers=2)]
    s = summarize(results[:N_SROIE])
    f = summarize(results[N_SROIE:])
    assert s["n_docs"] == N_SROIE and f["n_docs"] == N_FUNSD
    got = {f"sroie.{name}": d["exact"] for name, d in s["fields"].items()}
    got.update({f"sroie.{name}.anls": d["anls"] for name, d in s["fields"].items()})
    got.update({
        "sroie.overall_exact": s["overall"]["exact"],
        "sroie.overall_anls": s["overall"]["anls"],
        "sroie.doc_type": s["doc_type"]["accuracy"],
        "funsd.kv_f1": f["key_values"]["f1"],
        "funsd.doc_type": f["doc_type"]["accuracy"],
    })
    return got


def test_dev_subset_accuracy(datasets: Path, tmp_path: Path) -> None:
    got = measure(datasets, os.environ.get("DOCAI_EVAL_TEST_CACHE") or tmp_path / "cache")
    print(got)
    below = {k: (got[k], v) for k, v in THRESHOLDS.items() if got[k] < v}
    assert not below, f"accuracy dropped (measured, threshold): {below}; all: {got}"
