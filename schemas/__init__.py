"""docai schemas: pydantic models and normalisers only (no I/O, imports nothing of ours)."""

from __future__ import annotations

from schemas.document import Block, Document, Line, Page, Word, normalize_box, union_box
from schemas.fields import (
    INVOICE_FIELDS,
    LINE_ITEM_FIELDS,
    RECEIPT_FIELDS,
    Field,
    Invoice,
    KeyValue,
    LineItem,
    Receipt,
)
from schemas.record import Answer, FieldError, Record, Status

__all__ = [
    "INVOICE_FIELDS", "LINE_ITEM_FIELDS", "RECEIPT_FIELDS", "Answer", "Block", "Document", "Field",
    "FieldError", "Invoice", "KeyValue", "Line", "LineItem", "Page", "Receipt", "Record", "Status",
    "Word", "normalize_box", "union_box",
]
