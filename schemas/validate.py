"""Validation: typed values and cross-field checks. Never raises on bad data — returns errors.

>>> from schemas.fields import Field
>>> errs = validate_fields("receipt", {"total": Field(value="1,234.5O")}, [])
>>> [e.code for e in errs]
['invalid_amount']
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import ValidationError

from schemas.fields import (
    DATE_FIELDS,
    MONEY_FIELDS,
    TIME_FIELDS,
    Field,
    Invoice,
    LineItem,
    Receipt,
)
from schemas.normalize import ISO_CURRENCIES, NormalizationError, parse_money, parse_time
from schemas.record import FieldError

__all__ = ["money", "to_model", "validate_fields"]


def money(field: Field | None) -> Decimal | None:
    """The ``Decimal`` of a money field, or ``None`` when absent or unreadable."""
    if field is None or field.value is None:
        return None
    try:
        return parse_money(field.value)[0]
    except NormalizationError:
        return None


def _close(a: Decimal, b: Decimal, n_terms: int = 1) -> bool:
    """Equal within rounding: one cent per term, or 0.5 % of the larger value."""
    tol = max(Decimal("0.011") * max(n_terms, 1), abs(max(a, b, key=abs)) * Decimal("0.005"))
    return abs(a - b) <= tol


def validate_fields(
    doc_type: str | None, fields: dict[str, Field], line_items: list[LineItem]
) -> list[FieldError]:
    """Check every value's type and the arithmetic between them; return the problems found."""
    errors: list[FieldError] = []
    for name, f in fields.items():
        if f.value is None:
            continue
        if name in MONEY_FIELDS:
            try:
                parse_money(f.value)
            except NormalizationError:
                errors.append(FieldError(field=name, code="invalid_amount", message="not an amount"))
        elif name in DATE_FIELDS:
            try:
                dt.date.fromisoformat(f.value)
            except ValueError:
                errors.append(FieldError(field=name, code="invalid_date", message="not a calendar date"))
        elif name in TIME_FIELDS:
            try:
                parse_time(f.value)
            except NormalizationError:
                errors.append(FieldError(field=name, code="invalid_time", message="not a time of day"))
        elif name == "currency" and f.value not in ISO_CURRENCIES:
            errors.append(FieldError(field=name, code="invalid_currency", message="not an ISO 4217 code"))

    subtotal, total = money(fields.get("subtotal")), money(fields.get("total"))
    tax, discount = money(fields.get("tax_total")), money(fields.get("discount"))
    tip = money(fields.get("tip"))
    if subtotal is not None and total is not None and (tax is not None or discount is not None):
        expected = subtotal - (discount or 0) + (tax or 0) + (tip or 0)
        if not _close(expected, total, 3):
            errors.append(FieldError(field="total", code="arithmetic_mismatch",
                                     message="subtotal - discount + tax != total"))
    amounts = [money(li.amount) for li in line_items]
    known = [a for a in amounts if a is not None]
    if known and len(known) == len(amounts):
        target = subtotal if subtotal is not None else (total if tax is None and discount is None else None)
        if target is not None and not _close(sum(known, Decimal(0)), target, len(known)):
            errors.append(FieldError(field="line_items", code="arithmetic_mismatch",
                                     message="line amounts do not add up to the subtotal"))
    for i, li in enumerate(line_items):
        q, p, a = money(li.quantity), money(li.unit_price), money(li.amount)
        if q is not None and p is not None and a is not None and not _close(q * p, a, 1):
            errors.append(FieldError(field=f"line_items[{i}]", code="arithmetic_mismatch",
                                     message="quantity x unit price != amount"))
    inv, due = fields.get("invoice_date"), fields.get("due_date")
    if inv and due and inv.value and due.value:
        try:
            if dt.date.fromisoformat(due.value) < dt.date.fromisoformat(inv.value):
                errors.append(FieldError(field="due_date", code="date_order",
                                         message="due date is before the invoice date"))
        except ValueError:
            pass
    return errors


def to_model(doc_type: str | None, fields: dict[str, Field]) -> Invoice | Receipt | None:
    """The typed model of a record's fields (invalid values left out), or ``None`` for forms."""
    cls = {"invoice": Invoice, "receipt": Receipt}.get(doc_type or "")
    if cls is None:
        return None
    data: dict[str, object] = {}
    for name in cls.model_fields:
        f = fields.get(name)
        if f is None or f.value is None:
            continue
        value: object = f.value
        if name in MONEY_FIELDS:
            value = money(f)
        try:
            cls.model_validate({name: value})
        except ValidationError:
            continue
        data[name] = value
    return cls.model_validate(data)
