"""The folder flow end to end through Prefect, on a native PDF, a scan and a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from extractors.settings import Settings
from tests.conftest import make_scan, make_text_pdf

INVOICE_LINES = [
    (72, 60, "ACME Supplies Ltd"),
    (72, 76, "12 High Street, London"),
    (350, 120, "INVOICE"),
    (350, 140, "Invoice No: INV-2024-001"),
    (350, 156, "Invoice Date: 14/03/2024"),
    (72, 260, "Description"), (330, 260, "Qty"), (400, 260, "Unit Price"), (490, 260, "Amount"),
    (72, 280, "Widget"), (330, 280, "2"), (400, 280, "10.00"), (490, 280, "20.00"),
    (72, 296, "Gadget"), (330, 296, "1"), (400, 296, "30.00"), (490, 296, "30.00"),
    (400, 340, "Subtotal"), (490, 340, "50.00"),
    (400, 356, "VAT 20%"), (490, 356, "10.00"),
    (400, 372, "Total"), (490, 372, "£60.00"),
]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "in"
    (inbox / "sub").mkdir(parents=True)
    make_text_pdf(inbox / "native.pdf", INVOICE_LINES)
    scale = 200 / 72
    make_scan(inbox / "sub" / "scan.png",
              [(int(x * scale), int(y * scale), t) for x, y, t in INVOICE_LINES], fmt="PNG",
              size=(1654, 2339), font_size=26)
    (inbox / "bad.pdf").write_bytes(b"<html>saved web page</html>")
    (inbox / "notes.txt").write_text("not a document")  # no document suffix: not picked up
    return inbox


@pytest.mark.tesseract
def test_flow_processes_a_folder_and_skips_on_rerun(prefect_harness, inbox: Path, tmp_path: Path) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.process import process_folder

    out = tmp_path / "out"
    flow = process_folder.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))
    counts = flow([str(inbox)], str(out), Settings(workers=2).model_dump_json())
    rows = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()]
    by = {r["source"]: r for r in rows}
    assert set(by) == {"bad.pdf", "native.pdf", "sub/scan.png"}
    assert by["bad.pdf"]["status"] == "rejected" and by["bad.pdf"]["reason"] == "unsupported_type"
    native, scan = by["native.pdf"], by["sub/scan.png"]
    assert native["engine"]["ocr"] == "pdfium"
    assert scan["engine"]["ocr"].startswith("tesseract")
    for r in (native, scan):
        assert r["doc_type"] == "invoice"
        assert r["fields"]["invoice_id"]["value"] == "INV-2024-001"
        assert r["fields"]["total"]["value"] == "60.00"
        assert r["fields"]["invoice_date"]["value"] == "2024-03-14"
        x0, y0, x1, y1 = r["fields"]["total"]["bbox"]
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 1000
    assert counts["rejected"] == 1 and counts["skipped"] == 0
    inv = pd.read_csv(out / "invoices.csv", dtype=str)
    assert sorted(inv["source"]) == ["native.pdf", "sub/scan.png"]
    items = pd.read_csv(out / "line_items.csv", dtype=str)
    assert set(items[items.source == "native.pdf"]["amount"]) == {"20.00", "30.00"}
    before = {p.name: p.read_bytes() for p in out.glob("*.csv")}

    again = flow([str(inbox)], str(out), Settings(workers=2).model_dump_json())
    assert again["skipped"] == 3
    after = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    assert before == after
    ledger_lines = (out / "ledger.jsonl").read_text().splitlines()
    assert len(ledger_lines) == 3  # nothing was processed twice
