"""Extracted values with provenance, and the typed invoice/receipt models they validate into.

The canonical field vocabulary lives here and nowhere else (``INVOICE_FIELDS``,
``RECEIPT_FIELDS``, ``LINE_ITEM_FIELDS``); every engine maps its output onto it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "DATE_FIELDS",
    "INVOICE_FIELDS",
    "LINE_ITEM_FIELDS",
    "MONEY_FIELDS",
    "RECEIPT_FIELDS",
    "TIME_FIELDS",
    "Field",
    "Invoice",
    "KeyValue",
    "LineItem",
    "Receipt",
    "fields_for",
]

INVOICE_FIELDS: tuple[str, ...] = (
    "vendor_name", "vendor_address", "vendor_tax_id", "customer_name", "customer_address",
    "invoice_id", "invoice_date", "due_date", "po_number", "payment_terms", "currency",
    "subtotal", "discount", "tax_total", "total", "amount_due",
)
RECEIPT_FIELDS: tuple[str, ...] = (
    "merchant_name", "merchant_address", "merchant_phone", "transaction_date",
    "transaction_time", "currency", "subtotal", "tax_total", "tip", "total",
)
LINE_ITEM_FIELDS: tuple[str, ...] = (
    "description", "quantity", "unit_price", "amount", "product_code", "tax_rate",
)
MONEY_FIELDS = frozenset({"subtotal", "discount", "tax_total", "total", "amount_due", "tip",
                          "unit_price", "amount"})
DATE_FIELDS = frozenset({"invoice_date", "due_date", "transaction_date"})
TIME_FIELDS = frozenset({"transaction_time"})


def fields_for(doc_type: str) -> tuple[str, ...]:
    """Canonical header fields of a document type (``form``/``other`` have none)."""
    return {"invoice": INVOICE_FIELDS, "receipt": RECEIPT_FIELDS}.get(doc_type, ())


class Field(BaseModel):
    """One extracted value: canonical ``value`` (string), printed ``text``, and its evidence.

    ``bbox`` is ``[x0, y0, x1, y1]`` on the 0–1000 page scale; ``page`` is 1-based.
    """

    model_config = ConfigDict(extra="forbid")

    value: str | None
    text: str = ""
    confidence: float = 0.0
    page: int | None = None
    bbox: list[int] | None = None
    engine: str = "rules"


class LineItem(BaseModel):
    """A printed line item; any of its cells may be missing."""

    description: Field | None = None
    quantity: Field | None = None
    unit_price: Field | None = None
    amount: Field | None = None
    product_code: Field | None = None
    tax_rate: Field | None = None


class KeyValue(BaseModel):
    """A generic printed label and its value (forms and anything the canonical fields miss)."""

    key: str
    value: str
    confidence: float = 0.0
    page: int | None = None
    key_bbox: list[int] | None = None
    value_bbox: list[int] | None = None


class Invoice(BaseModel):
    """Typed invoice header (what downstream systems validate against)."""

    vendor_name: str | None = None
    vendor_address: str | None = None
    vendor_tax_id: str | None = None
    customer_name: str | None = None
    customer_address: str | None = None
    invoice_id: str | None = None
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    po_number: str | None = None
    payment_terms: str | None = None
    currency: str | None = None
    subtotal: Decimal | None = None
    discount: Decimal | None = None
    tax_total: Decimal | None = None
    total: Decimal | None = None
    amount_due: Decimal | None = None


class Receipt(BaseModel):
    """Typed receipt header."""

    merchant_name: str | None = None
    merchant_address: str | None = None
    merchant_phone: str | None = None
    transaction_date: dt.date | None = None
    transaction_time: str | None = None
    currency: str | None = None
    subtotal: Decimal | None = None
    tax_total: Decimal | None = None
    tip: Decimal | None = None
    total: Decimal | None = None
