"""``docai eval`` end to end on a tiny labelled folder of native-text PDFs (no datasets needed).

Deterministic stand-in engines (registered for the test only) make every number predictable, so
the assertions check the metrics and the CLI plumbing, not the current state of the extractor.
One test runs the default engines, one runs real OCR over 5 SROIE receipts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from extractors import registry
from extractors.registry import Extraction
from schemas.fields import Field, KeyValue, LineItem
from schemas.normalize import parse_date, parse_money
from tests.conftest import make_text_pdf

LABELS = {"Vendor": "vendor_name", "Invoice No": "invoice_id", "Date": "invoice_date",
          "Total": "total"}


class LineExtractor:
    """Reads ``Label: value`` lines; ``Item: desc | amount`` lines become line items."""

    name = "evaltest"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def extract(self, doc: Any, doc_type: str) -> Extraction:
        fields: dict[str, Field] = {}
        items: list[LineItem] = []
        kvs: list[KeyValue] = []
        page = doc.pages[0]
        for line in page.lines:
            label, sep, value = line.text.partition(": ")
            if not sep:
                continue
            box = list(line.box)
            kvs.append(KeyValue(key=label + ":", value=value, confidence=0.8, page=1,
                                key_bbox=box, value_bbox=box))
            if label == "Item":
                desc, _, amount = value.partition(" | ")
                items.append(LineItem(description=Field(value=desc, confidence=0.8),
                                      amount=Field(value=amount, confidence=0.8)))
            elif label in LABELS:
                name = LABELS[label]
                canonical = value
                if name == "invoice_date":
                    canonical = parse_date(value).isoformat()
                elif name == "total":
                    canonical = str(parse_money(value)[0])
                fields[name] = Field(value=canonical, text=value, page=1, bbox=box,
                                     confidence=0.4 if name == "total" else 0.95,
                                     engine=self.name)
        return Extraction(fields=fields, line_items=items, key_values=kvs)


class FixedClassifier:
    name = "evaltest"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def classify(self, doc: Any) -> tuple[str, float]:
        return "invoice", 0.9


def _doc(n: int, total: str, items: list[str] = ()) -> list[tuple[float, float, str]]:
    lines = [(72, 60, "Vendor: ACME Supplies Ltd"), (72, 90, f"Invoice No: INV-00{n}"),
             (72, 120, "Date: 03/04/2024"), (72, 150, f"Total: {total}")]
    lines += [(72, 200 + 20 * i, f"Item: {t}") for i, t in enumerate(items)]
    return lines


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """3 invoices; doc 3's label says 999.99 where 30.00 is printed (so total is 2/3 right)."""
    root = tmp_path / "set"
    root.mkdir()
    make_text_pdf(root / "a.pdf", _doc(1, "10.00"))
    make_text_pdf(root / "b.pdf", _doc(2, "EUR 1.234,50", ["Widget | 10.00", "Gadget | 5.50"]))
    make_text_pdf(root / "c.pdf", _doc(3, "30.00"))
    rows = [
        {"id": "a", "file": "a.pdf", "doc_type": "invoice",
         "fields": {"vendor_name": "acme  supplies LTD", "invoice_id": "inv-001",
                    "invoice_date": "2024-04-03", "total": "10"},
         "kv_pairs": [{"question": "Invoice No:", "answer": "INV-001"},
                      {"question": "Total :", "answer": "10.00"},
                      {"question": "Due:", "answer": "never printed"}]},
        {"id": "b", "file": "b.pdf", "doc_type": "invoice",
         "fields": {"vendor_name": "ACME Supplies Ltd", "invoice_id": "INV-002",
                    "invoice_date": "03.04.2024", "total": "1234.50"},
         "line_items": [{"description": "Widget", "amount": "10.0"},
                        {"description": "Gadget", "amount": "5.00"}]},
        {"id": "c", "file": "c.pdf", "doc_type": "receipt",
         "fields": {"vendor_name": "ACME Supplies Ltd", "invoice_id": "INV-003",
                    "invoice_date": "2024-04-03", "total": "999.99"}},
    ]
    (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY["extract"], "evaltest", LineExtractor)
    monkeypatch.setitem(registry._REGISTRY["classify"], "evaltest", FixedClassifier)


def _eval(*args: str) -> Any:
    from flows.cli import app

    return CliRunner().invoke(app, ["eval", *args], catch_exceptions=False)


FAKE = ("--extract-engine", "evaltest", "--classify-engine", "evaltest", "--workers", "1")


def test_eval_json_numbers(labelled: Path, engines: None, tmp_path: Path) -> None:
    res = _eval(str(labelled), "--json", "--cache", str(tmp_path / "cache"), *FAKE)
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["n_docs"] == 3
    assert s["fields"]["total"] == {"n": 3, "exact": pytest.approx(0.6667, abs=1e-4),
                                    "anls": pytest.approx(0.6667, abs=1e-4), "predicted": 1.0}
    for name in ("vendor_name", "invoice_id", "invoice_date"):
        assert s["fields"][name]["exact"] == 1.0, name  # case, spacing, date formats
    assert s["overall"]["n"] == 12 and s["overall"]["exact"] == pytest.approx(11 / 12, abs=1e-4)
    assert s["doc_type"]["accuracy"] == pytest.approx(0.6667, abs=1e-4)
    assert s["doc_type"]["errors"] == {"receipt->invoice": 1}
    # doc a: 4 predicted pairs (every "Label: value" line), 2 of 3 labelled pairs found
    assert s["key_values"]["tp"] == 2 and s["key_values"]["n_pred"] == 4
    assert s["key_values"]["n_gold"] == 3
    # doc b: Widget matches (10.00 == 10.0), Gadget's amount differs
    assert s["line_items"] == {"docs": 1, "tp": 1, "n_pred": 2, "n_gold": 2, "precision": 0.5,
                               "recall": 0.5, "f1": 0.5, "macro_f1": 0.5}
    cal = s["calibration"]
    assert cal["high"] == {"n": 9, "accuracy": 1.0}  # the 0.95 fields are all right
    assert cal["low"] == {"n": 3, "accuracy": pytest.approx(0.6667, abs=1e-4)}  # totals at 0.4
    assert cal["threshold_for_target"] == 0.95
    assert s["worst"][0]["id"] == "c"
    bad = [f for f in s["worst"][0]["fields"] if not f["exact"]]
    assert bad == [{"name": "total", "expected": "999.99", "predicted": "30.00",
                    "confidence": 0.4, "exact": False}]
    assert s["cache"] == {"none": 3}


def test_eval_cache_out_report_and_table(labelled: Path, engines: None, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _eval(str(labelled), "--json", "--cache", str(cache), *FAKE)
    assert json.loads(first.stdout)["cache"] == {"none": 3}
    assert list((cache / "docs").rglob("*.json.gz"))
    out, report = tmp_path / "out", tmp_path / "report"
    res = _eval(str(labelled), "--cache", str(cache), "--out", str(out), "--report", str(report),
                *FAKE)
    assert res.exit_code == 0, res.output
    assert "total" in res.stdout and "66.7%" in res.stdout and "worst documents" in res.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cache"] == {"doc": 3}  # second run: no document was read again
    assert summary["fields"]["total"]["exact"] == pytest.approx(0.6667, abs=1e-4)
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in results] == ["a", "b", "c"]
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert records[2]["fields"]["total"]["value"] == "30.00"
    page = (report / "index.html").read_text()
    assert page.startswith("<!doctype html>")
    pngs = re.findall(r"data:image/png;base64,", page)
    assert len(pngs) >= 3  # accuracy bars, reliability diagram, at least one page image
    assert "999.99" in page and "http" not in page.replace("http-equiv", "")  # self-contained
    # a different extractor reuses the cached words: still no document read again
    res = _eval(str(labelled), "--json", "--cache", str(cache), "--workers", "1",
                "--classify-engine", "evaltest", "--extract-engine", "evaltest", "--limit", "1")
    assert json.loads(res.stdout)["cache"] == {"doc": 1}


def test_eval_diff(labelled: Path, engines: None, tmp_path: Path) -> None:
    res = _eval(str(labelled), "--diff", "c", "--no-cache", *FAKE)
    assert res.exit_code == 0, res.output
    row = next(ln for ln in res.stdout.splitlines() if ln.strip("│ ").startswith("total"))
    assert "999.99" in row and "30.00" in row and "0.40" in row and "✗" in row
    assert "expected receipt, predicted invoice" in res.stdout
    as_json = json.loads(_eval(str(labelled), "--diff", "c.pdf", "--no-cache", "--json",
                               *FAKE).stdout)
    assert as_json["id"] == "c" and as_json["record"]["fields"]["total"]["value"] == "30.00"
    missing = _eval(str(labelled), "--diff", "zzz", "--no-cache", *FAKE)
    assert missing.exit_code == 2


class BrokenExtractor(LineExtractor):
    """Crashes on one document: the evaluation must go on and count it as failed."""

    def extract(self, doc: Any, doc_type: str) -> Extraction:
        if "INV-002" in doc.text:
            raise KeyError("bug")
        return super().extract(doc, doc_type)


def test_eval_engine_crash_fails_one_document(labelled: Path, engines: None, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY["extract"], "evalbroken", BrokenExtractor)
    for cache in ("--no-cache", "--cache"):
        extra = [cache] if cache == "--no-cache" else [cache, str(tmp_path / "c")]
        res = _eval(str(labelled), "--json", *extra, "--extract-engine", "evalbroken",
                    "--classify-engine", "evaltest", "--workers", "1")
        assert res.exit_code == 0, res.output
        s = json.loads(res.stdout)
        assert s["status"].get("failed") == 1 and s["n_docs"] == 3
        assert s["worst"][0]["id"] == "b" and s["worst"][0]["score"] == 0.0


def test_eval_usage_errors(tmp_path: Path) -> None:
    assert _eval(str(tmp_path / "nope")).exit_code == 2
    (tmp_path / "empty").mkdir()
    assert _eval(str(tmp_path / "empty")).exit_code == 2


def test_eval_default_engines(labelled: Path, tmp_path: Path) -> None:
    """The shipped engines run through eval (numbers depend on them; only the shape is fixed)."""
    pytest.importorskip("extractors.fields.rules")
    res = _eval(str(labelled), "--json", "--no-cache", "--workers", "1")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["n_docs"] == 3 and s["status"].get("failed", 0) == 0
    assert set(s["fields"]) == {"vendor_name", "invoice_id", "invoice_date", "total"}
    assert s["engine"]["extract"] == "rules"


@pytest.mark.tesseract
def test_eval_sroie_five(datasets: Path, tmp_path: Path) -> None:
    """Real OCR on 5 SROIE receipts: every document is scored, and a second run is cache-only."""
    args = [str(datasets / "sroie"), "--json", "--limit", "5", "--cache", str(tmp_path / "c")]
    s = json.loads(_eval(*args).stdout)
    assert s["n_docs"] == 5 and s["cache"] == {"none": 5}
    assert sum(s["status"].values()) == 5 and not s["status"].get("failed")
    assert {n: d["n"] for n, d in s["fields"].items()} == {
        "merchant_name": 5, "merchant_address": 5, "transaction_date": 5, "total": 5}
    assert s["doc_type"]["n"] == 5
    again = json.loads(_eval(*args).stdout)
    assert again["cache"] == {"doc": 5}
    assert again["fields"] == s["fields"] and again["wall_seconds"] < s["wall_seconds"]
