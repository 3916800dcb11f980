from __future__ import annotations

from decimal import Decimal

from schemas.fields import Field, Invoice, LineItem
from schemas.validate import to_model, validate_fields


def F(v: str | None) -> Field:
    return Field(value=v, text=v or "", confidence=0.9)


def codes(errors: list) -> list[tuple[str, str]]:
    return sorted((e.field, e.code) for e in errors)


def test_consistent_invoice_has_no_errors() -> None:
    fields = {"subtotal": F("100.00"), "tax_total": F("20.00"), "total": F("120.00"),
              "invoice_date": F("2024-03-01"), "due_date": F("2024-03-31"), "currency": F("EUR")}
    items = [LineItem(quantity=F("2"), unit_price=F("25.00"), amount=F("50.00")),
             LineItem(quantity=F("1"), unit_price=F("50.00"), amount=F("50.00"))]
    assert validate_fields("invoice", fields, items) == []


def test_arithmetic_and_order_errors() -> None:
    fields = {"subtotal": F("100.00"), "tax_total": F("20.00"), "total": F("130.00"),
              "invoice_date": F("2024-03-31"), "due_date": F("2024-03-01")}
    items = [LineItem(quantity=F("2"), unit_price=F("25.00"), amount=F("40.00"))]
    got = codes(validate_fields("invoice", fields, items))
    assert ("total", "arithmetic_mismatch") in got
    assert ("due_date", "date_order") in got
    assert ("line_items", "arithmetic_mismatch") in got
    assert ("line_items[0]", "arithmetic_mismatch") in got


def test_invalid_values_are_errors_not_exceptions() -> None:
    fields = {"total": F("1,234.5O"), "invoice_date": F("2024-02-31"), "currency": F("€€"),
              "transaction_time": F("25:61")}
    got = codes(validate_fields("invoice", fields, []))
    assert got == [("currency", "invalid_currency"), ("invoice_date", "invalid_date"),
                   ("total", "invalid_amount"), ("transaction_time", "invalid_time")]


def test_credit_note_negative_totals_are_consistent() -> None:
    fields = {"subtotal": F("-10.00"), "tax_total": F("-2.00"), "total": F("-12.00")}
    assert validate_fields("invoice", fields, []) == []


def test_to_model_types_values() -> None:
    model = to_model("invoice", {"total": F("12.50"), "invoice_date": F("2024-01-02"),
                                 "invoice_id": F("A-1"), "due_date": F("garbage")})
    assert isinstance(model, Invoice)
    assert model.total == Decimal("12.50")
    assert model.invoice_date.isoformat() == "2024-01-02"
    assert model.due_date is None
    assert to_model("form", {}) is None
