"""The synthetic invoice/receipt generator: determinism, ground truth, text layer."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("reportlab")
pytest.importorskip("faker")

import pypdfium2 as pdfium  # noqa: E402
from PIL import Image  # noqa: E402

from samples.generate import LAYOUTS, generate, main  # noqa: E402
from schemas.fields import (  # noqa: E402
    DATE_FIELDS,
    INVOICE_FIELDS,
    LINE_ITEM_FIELDS,
    MONEY_FIELDS,
    RECEIPT_FIELDS,
    TIME_FIELDS,
)

MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_RE = re.compile(r"^\d{2}:\d{2}$")
DEMO = Path(__file__).resolve().parents[2] / "samples" / "demo"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()
    return re.sub(r"\s+", " ", text)


def _d(row: dict[str, Any], name: str) -> Decimal:
    return Decimal(row["fields"].get(name, "0"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("synthetic")
    rows = generate(out, invoices=12, receipts=8, seed=123, scanned_ratio=0.25, dpi=(100, 120))
    return out, rows


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", invoices=4, receipts=3, seed=5, dpi=(100, 120))
    b = generate(tmp_path / "b", invoices=4, receipts=3, seed=5, dpi=(100, 120))
    assert a == b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert "labels.jsonl" in names and len(names) == 8
    for name in names:
        assert _sha(tmp_path / "a" / name) == _sha(tmp_path / "b" / name), name
    c = generate(tmp_path / "c", invoices=4, receipts=3, seed=6, scanned_ratio=0.0)
    assert [r["fields"] for r in c] != [r["fields"] for r in a]


def test_labels_file_matches_returned_rows(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    out, rows = corpus
    lines = (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert len({r["id"] for r in rows}) == len(rows) == 20
    assert sum(r["scanned"] for r in rows if r["doc_type"] == "invoice") == 3  # round(12 * 0.25)


def test_labels_use_canonical_names_and_formats(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    out, rows = corpus
    for r in rows:
        assert (out / r["file"]).is_file()
        assert r["doc_type"] in ("invoice", "receipt")
        assert r["lang"] in ("en", "de", "fr")
        allowed = INVOICE_FIELDS if r["doc_type"] == "invoice" else RECEIPT_FIELDS
        assert set(r["fields"]) <= set(allowed), r["id"]
        for must in (("invoice_id", "total", "vendor_name") if r["doc_type"] == "invoice"
                     else ("merchant_name", "total", "transaction_date")):
            assert must in r["fields"], (r["id"], must)
        for k, v in r["fields"].items():
            assert isinstance(v, str) and v, (r["id"], k)
            if k in MONEY_FIELDS:
                assert MONEY_RE.match(v), (r["id"], k, v)
            elif k in DATE_FIELDS:
                assert DATE_RE.match(v), (r["id"], k, v)
            elif k in TIME_FIELDS:
                assert TIME_RE.match(v), (r["id"], k, v)
            elif k == "currency":
                assert v in ("USD", "EUR", "GBP", "AUD", "MYR"), v
        assert r["line_items"], r["id"]
        for item in r["line_items"]:
            assert set(item) <= set(LINE_ITEM_FIELDS)
            assert MONEY_RE.match(item["unit_price"]) and MONEY_RE.match(item["amount"])
            assert Decimal(item["quantity"]) > 0


def test_arithmetic_is_consistent(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    _, rows = corpus
    for r in rows:
        items = r["line_items"]
        for it in items:
            product = Decimal(it["quantity"]) * Decimal(it["unit_price"])
            assert product.quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal(it["amount"]), it
        line_sum = sum(Decimal(it["amount"]) for it in items)
        total = _d(r, "total")
        if r["tax_inclusive"]:  # VAT-inclusive receipt: prices are gross, subtotal is the net
            assert line_sum == total, r["id"]
        else:
            assert line_sum == _d(r, "subtotal"), r["id"]
        if "subtotal" in r["fields"]:
            assert (_d(r, "subtotal") - _d(r, "discount") + _d(r, "tax_total") + _d(r, "tip")
                    == total), r["id"]
        if r.get("credit_note"):
            assert total < 0
        elif "amount_due" in r["fields"]:
            assert Decimal(0) < _d(r, "amount_due") <= total


def test_native_pdf_text_layer_has_printed_values(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    out, rows = corpus
    native = [r for r in rows if not r["scanned"]]
    assert any(r["doc_type"] == "invoice" for r in native)
    for r in native:
        text = _pdf_text(out / r["file"])
        key = "invoice_id" if r["doc_type"] == "invoice" else "merchant_name"
        assert r["fields"][key] in text, r["id"]
        assert r["printed"]["total"] in text, (r["id"], r["printed"]["total"])
        date_key = "invoice_date" if r["doc_type"] == "invoice" else "transaction_date"
        assert r["printed"][date_key] in text
        for it in r["line_items"]:
            assert it["description"] in text


def test_scanned_documents_have_no_text_layer(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    out, rows = corpus
    scanned = [r for r in rows if r["scanned"]]
    assert scanned
    for r in scanned:
        path = out / r["file"]
        if path.suffix == ".pdf":
            pdf = pdfium.PdfDocument(str(path))
            assert len(pdf) == r["pages"]
            assert all(not pdf[i].get_textpage().get_text_range().strip() for i in range(len(pdf)))
            pdf.close()
        else:
            with Image.open(path) as im:
                assert getattr(im, "n_frames", 1) == r["pages"]
                assert im.width > 400


def test_layouts_and_languages_are_all_used(corpus: tuple[Path, list[dict[str, Any]]]) -> None:
    _, rows = corpus
    invoices = [r for r in rows if r["doc_type"] == "invoice"]
    assert {r["layout"] for r in invoices} == set(LAYOUTS)
    assert {r["lang"] for r in invoices} == {"en", "de", "fr"}


def test_cli_only_native(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--invoices", "2", "--receipts", "1", "--seed", "3",
                 "--langs", "de", "--only-native"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert all(not r["scanned"] and r["file"].endswith(".pdf") for r in rows)
    assert {r["lang"] for r in rows if r["doc_type"] == "invoice"} == {"de"}
    assert "wrote 3 documents" in capsys.readouterr().out


def test_committed_demo_set_is_complete_and_small() -> None:
    labels = DEMO / "labels.jsonl"
    if not labels.is_file():
        pytest.skip("demo set not present")
    rows = [json.loads(x) for x in labels.read_text(encoding="utf-8").splitlines()]
    files = {p.name for p in DEMO.iterdir() if p.is_file()}
    assert {r["file"] for r in rows} <= files
    assert sum(p.stat().st_size for p in DEMO.iterdir() if p.is_file()) < 5 * 1024 * 1024
    invoices = [r for r in rows if r["doc_type"] == "invoice"]
    assert {"de", "fr"} <= {r["lang"] for r in invoices}
    assert any(r["scanned"] and not r["file"].endswith(".pdf") for r in invoices)
    assert any(r["scanned"] and r["file"].endswith(".pdf") for r in rows)
    assert any(not r["scanned"] for r in invoices)
