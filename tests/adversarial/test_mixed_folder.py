"""A mixed inbox (good and bad files together): the ledger and every table, checked in full."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from extractors.settings import Settings
from tests.adversarial.conftest import SENTINEL, page_bomb_pdf, pdf_bytes

pytestmark = [pytest.mark.adversarial, pytest.mark.tesseract]


def test_mixed_folder_ledger_and_tables(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from flows.process import run_batch

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "sub").mkdir(parents=True)
    invoice = pdf_bytes()
    (inbox / "good_invoice.pdf").write_bytes(invoice)
    (inbox / "sub" / "same_bytes.pdf").write_bytes(invoice)
    (inbox / "receipt.pdf").write_bytes(pdf_bytes([(72, 60, "Corner Cafe"), (72, 80, "Receipt"),
                                                   (72, 100, "Date: 03/04/2024"),
                                                   (72, 140, "TOTAL"), (300, 140, "9.50")]))
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "web.pdf").write_bytes(b"<html>" + SENTINEL.encode() + b"</html>")
    (inbox / "bomb.pdf").write_bytes(page_bomb_pdf(5000))
    (inbox / "notes.txt").write_text("ignored: not a document suffix")

    result = run_batch([inbox], out, Settings(workers=2))

    docs = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()]
    by = {d["source"]: d for d in docs}
    assert sorted(by) == ["bomb.pdf", "empty.pdf", "good_invoice.pdf", "receipt.pdf",
                          "sub/same_bytes.pdf", "web.pdf"]
    assert [(by[s]["status"], by[s]["reason"]) for s in ("bomb.pdf", "empty.pdf", "web.pdf")] == [
        ("rejected", "too_many_pages"), ("rejected", "empty_file"), ("rejected", "unsupported_type")]
    assert by["good_invoice.pdf"]["doc_type"] == "invoice"
    assert by["good_invoice.pdf"]["fields"]["invoice_id"]["value"] == "INV-77"
    assert by["good_invoice.pdf"]["fields"]["total"]["value"] == "60.00"
    assert by["receipt.pdf"]["doc_type"] == "receipt"
    assert by["receipt.pdf"]["fields"]["total"]["value"] == "9.50"
    # the same bytes under two names: one ledger record, two document rows with their own source
    assert by["sub/same_bytes.pdf"]["sha256"] == by["good_invoice.pdf"]["sha256"]
    assert by["sub/same_bytes.pdf"]["fields"] == by["good_invoice.pdf"]["fields"]

    ledger = [json.loads(x) for x in (out / "ledger.jsonl").read_text().splitlines()]
    assert len(ledger) == 5 and len({r["sha256"] for r in ledger}) == 5
    assert {r["status"] for r in ledger} <= {"ok", "needs_review", "rejected"}

    def rows(name: str) -> list[dict[str, str]]:
        with open(out / name, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    invoices, receipts = rows("invoices.csv"), rows("receipts.csv")
    assert sorted(r["source"] for r in invoices) == ["good_invoice.pdf", "sub/same_bytes.pdf"]
    assert [r["source"] for r in receipts] == ["receipt.pdf"]
    assert {r["invoice_id"] for r in invoices} == {"INV-77"}
    assert receipts[0]["total"] == "9.50"
    documents = rows("documents.csv")
    assert sorted(r["source"] for r in documents) == sorted(by)
    assert {r["source"]: r["status"] for r in documents}["web.pdf"] == "rejected"
    for name in ("line_items.csv", "key_values.csv"):
        assert {r["source"] for r in rows(name)} <= set(by)

    # quarantine: copies named by sha256 with a sidecar, originals untouched
    q = out / "quarantine"
    for src, reason in (("bomb.pdf", "too_many_pages"), ("web.pdf", "unsupported_type")):
        sha = by[src]["sha256"]
        assert list((q / reason).glob(f"{sha}.*"))
        assert (inbox / src).exists()
    assert SENTINEL not in caplog.text
    assert all(SENTINEL not in p.read_text(errors="replace") for p in q.rglob("*.json"))
    assert not list(tmp_path.rglob("*.tmp"))
    assert result.ignored == [] and "notes.txt" not in by
