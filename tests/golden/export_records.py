"""A fixed set of records for the export golden tests (every shape an export has to handle).

Not a test module: imported by ``test_export_golden.py``. Changing a record here changes the
golden files; regenerate them with ``DOCAI_UPDATE_GOLDEN=1 pytest tests/golden`` and read the diff.
"""

from __future__ import annotations

from schemas.fields import Field, KeyValue, LineItem
from schemas.record import FieldError, Record, Status


def _f(value: str | None, confidence: float = 0.9, text: str | None = None) -> Field:
    return Field(value=value, text=text if text is not None else (value or ""),
                 confidence=confidence, page=1, bbox=[10, 10, 20, 20])


def _item(description: str | None, quantity: str | None, unit_price: str | None,
          amount: str | None, **extra: str) -> LineItem:
    cells = {"description": description, "quantity": quantity, "unit_price": unit_price,
             "amount": amount, **extra}
    return LineItem(**{k: _f(v, 0.8) for k, v in cells.items() if v is not None})


def golden_records() -> list[Record]:
    """Nine documents: invoices (USD, KWD 3-decimal, EUR), receipts (EUR, JPY), a form,
    needs_review, rejected and failed — with hostile cell values along the way."""
    common = {"pipeline_version": "0.1.0", "pages": 1, "doc_type_confidence": 0.95,
              "engine": {"ocr": "pdfium", "classify": "rules", "extract": "rules"}}
    return [
        Record(
            source="invoices/acme_2024-001.pdf", sha256="1" * 64, status=Status.OK,
            doc_type="invoice", **common,
            fields={
                "vendor_name": _f("ACME Supplies Ltd"),
                "vendor_address": _f("1 Main Street\nSpringfield"),
                "vendor_tax_id": _f("GB123456789"),
                "customer_name": _f("Example Corp", 0.7512345),
                "invoice_id": _f("INV-2024-001"),
                "invoice_date": _f("2024-03-14", text="14/03/2024"),
                "due_date": _f("2024-04-13"),
                "po_number": _f("PO-77"),
                "payment_terms": _f("Net 30"),
                "currency": _f("USD"),
                "subtotal": _f("50.00"),
                "tax_total": _f("10.00"),
                "total": _f("60.00", text="$60.00"),
                "amount_due": _f("60.00"),
            },
            line_items=[
                _item("Widget, blue", "2", "10.00", "20.00", product_code="W-1"),
                _item("Consulting \"senior\"", "1.5", "20.00", "30.00", tax_rate="20%"),
            ],
            key_values=[KeyValue(key="P.O.#", value="PO-77", confidence=0.8, page=1)],
        ),
        Record(
            source="invoices/kuwait.pdf", sha256="2" * 64, status=Status.OK, doc_type="invoice",
            **common,
            fields={
                "vendor_name": _f("Gulf Trading Co."),
                "invoice_id": _f("KW-9"),
                "invoice_date": _f("2024-02-01"),
                "currency": _f("KWD"),
                "subtotal": _f("12.5"),
                "tax_total": _f("0.625"),
                "total": _f("13.125"),
            },
        ),
        Record(
            source="invoices/review_me.pdf", sha256="3" * 64, status=Status.NEEDS_REVIEW,
            doc_type="invoice", **common,
            fields={
                "vendor_name": _f("=HYPERLINK(\"http://evil.example\",\"click\")"),
                "invoice_id": _f("-1001"),
                "invoice_date": _f("2024-01-05"),
                "currency": _f("EUR"),
                "total": _f("10.00", 0.3),
            },
            line_items=[_item("@SUM(1+1)", "3", None, "10.00")],
            errors=[FieldError(field="total", code="low_confidence",
                               message="confidence below 0.5")],
        ),
        Record(
            source="receipts/cafe.jpg", sha256="4" * 64, status=Status.OK, doc_type="receipt",
            **common,
            fields={
                "merchant_name": _f("Café Zürich"),
                "merchant_phone": _f("+41 44 123 45 67"),
                "transaction_date": _f("2024-05-02"),
                "transaction_time": _f("12:30"),
                "currency": _f("EUR"),
                "subtotal": _f("0.1"),
                "tax_total": _f("0.2"),
                "tip": _f("-0.05"),
                "total": _f("0.25"),
            },
        ),
        Record(
            source="receipts/tokyo.png", sha256="5" * 64, status=Status.OK, doc_type="receipt",
            **common,
            fields={
                "merchant_name": _f("\tTokyo Ramen"),
                "transaction_date": _f("2024-06-30"),
                "currency": _f("JPY"),
                "total": _f("1500"),
            },
        ),
        Record(
            source="receipts/blurry.jpg", sha256="6" * 64, status=Status.NEEDS_REVIEW,
            doc_type="receipt", **common,
            fields={"merchant_name": _f("Corner Shop", 0.4), "total": _f("not-a-number")},
            errors=[FieldError(field="total", code="invalid_amount", message="not an amount"),
                    FieldError(field="transaction_date", code="missing", message="not found")],
        ),
        Record(
            source="forms/application.pdf", sha256="7" * 64, status=Status.OK, doc_type="form",
            **common,
            key_values=[KeyValue(key="Name:", value="Jane Roe", confidence=0.91, page=1),
                        KeyValue(key="Amount", value="-12.50", confidence=0.5, page=2)],
        ),
        Record(source="broken.pdf", sha256="8" * 64, status=Status.REJECTED,
               reason="corrupt_pdf", message="the PDF cannot be parsed",
               pipeline_version="0.1.0"),
        Record(source="crashed.tif", sha256="9" * 64, status=Status.FAILED,
               reason="internal_error", message="unexpected RuntimeError",
               pipeline_version="0.1.0"),
    ]
