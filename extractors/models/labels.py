"""Model label names → our vocabulary: BIO tags, canonical fields, line-item columns, doc types.

Pure Python (no torch): shared by the LayoutLM-family engines, Donut and ``docai train``.

Hub models name their labels in many ways: ``B-TOTAL`` (SROIE fine-tunes), ``B-menu.nm`` /
``I-total.total_price`` (CORD), ``B-QUESTION`` (FUNSD), or our own canonical names
(``B-merchant_name``, what ``docai train`` writes). :func:`entity_target` maps every one of them
onto a canonical header field, a line-item column, a key/value role, or nothing.

>>> split_tag("B-TOTAL")
('B', 'total')
>>> entity_target("company", "receipt")
('field', 'merchant_name')
>>> entity_target("company", "invoice")
('field', 'vendor_name')
>>> entity_target("menu.nm", "receipt")
('item', 'description')
>>> doc_type_for("Invoice"), doc_type_for("scientific_report")
('invoice', 'other')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.fields import INVOICE_FIELDS, LINE_ITEM_FIELDS, RECEIPT_FIELDS

__all__ = [
    "Entity",
    "bio_entities",
    "doc_type_for",
    "entity_target",
    "split_tag",
    "to_doc_type_field",
]

_CANONICAL = frozenset(INVOICE_FIELDS) | frozenset(RECEIPT_FIELDS)

# Entity names seen in public datasets / fine-tunes → canonical (receipt-flavoured) field names.
_FIELD_ALIASES: dict[str, str] = {
    # SROIE
    "company": "merchant_name", "address": "merchant_address", "date": "transaction_date",
    "total": "total",
    # CORD (header parts)
    "total.total_price": "total", "total_price": "total", "sub_total.subtotal_price": "subtotal",
    "subtotal_price": "subtotal", "sub_total.tax_price": "tax_total", "tax_price": "tax_total",
    "sub_total.discount_price": "discount", "discount_price": "discount",
    "total.total_etc": "", "sub_total.service_price": "", "sub_total.etc": "",
    # common receipt / invoice dataset spellings
    "store_name": "merchant_name", "store_addr": "merchant_address", "store_address": "merchant_address",
    "merchant": "merchant_name", "vendor": "vendor_name", "seller": "vendor_name",
    "seller_name": "vendor_name", "seller_address": "vendor_address", "supplier": "vendor_name",
    "supplier_name": "vendor_name", "telephone": "merchant_phone", "phone": "merchant_phone",
    "tel": "merchant_phone", "time": "transaction_time", "tax": "tax_total", "vat": "tax_total",
    "total_tax": "tax_total", "tax_amount": "tax_total", "sub_total": "subtotal",
    "subtotal_amount": "subtotal", "total_amount": "total", "grand_total": "total",
    "invoice_number": "invoice_id", "invoice_no": "invoice_id", "invoice_num": "invoice_id",
    "invoice_date": "invoice_date", "due_date": "due_date", "po": "po_number",
    "buyer": "customer_name", "buyer_name": "customer_name", "customer": "customer_name",
    "client": "customer_name", "billing_address": "customer_address", "buyer_address": "customer_address",
    "tax_id": "vendor_tax_id", "vat_id": "vendor_tax_id", "vat_number": "vendor_tax_id",
    "terms": "payment_terms", "balance_due": "amount_due",
}

# Line-item columns (CORD menu.*, our own ``item.*`` / ``line_item.*``).
_ITEM_ALIASES: dict[str, str] = {
    "nm": "description", "name": "description", "description": "description", "item": "description",
    "cnt": "quantity", "qty": "quantity", "quantity": "quantity", "count": "quantity",
    "unitprice": "unit_price", "unit_price": "unit_price", "price": "amount", "amount": "amount",
    "num": "product_code", "code": "product_code", "product_code": "product_code",
    "tax_rate": "tax_rate",
}
_ITEM_PREFIXES = ("menu.", "item.", "line_item.", "line_items.", "items.")

# Key/value roles (FUNSD).
_KV = {"question": "key", "key": "key", "answer": "value", "value": "value", "header": "header"}

# Receipt ↔ invoice spelling of the same thing.
_TO_INVOICE = {"merchant_name": "vendor_name", "merchant_address": "vendor_address",
               "transaction_date": "invoice_date", "merchant_phone": "merchant_phone"}
_TO_RECEIPT = {v: k for k, v in _TO_INVOICE.items() if k != v}


def split_tag(label: str) -> tuple[str, str]:
    """``"B-TOTAL"`` → ``("B", "total")``; ``"O"`` → ``("O", "")``; an untagged name → ``("B", name)``.

    Prefixes ``B I E S U L`` (BIO, BIOES, BILOU) with ``-`` or ``_`` are understood; the entity is
    lower-cased.
    """
    text = str(label).strip()
    if not text or text.upper() in ("O", "OTHER", "OUTSIDE"):
        return "O", ""
    m = re.match(r"^([BIESUL])[-_](.+)$", text, re.IGNORECASE)
    if m:
        prefix = m.group(1).upper()
        prefix = {"U": "S", "L": "E"}.get(prefix, prefix)
        return prefix, m.group(2).strip().lower()
    return "B", text.lower()


def to_doc_type_field(name: str, doc_type: str | None) -> str:
    """Spell a canonical field the way ``doc_type`` does (``merchant_name`` ↔ ``vendor_name``)."""
    if doc_type == "invoice":
        return _TO_INVOICE.get(name, name)
    if doc_type == "receipt":
        return _TO_RECEIPT.get(name, name)
    return name


def entity_target(entity: str, doc_type: str | None = None) -> tuple[str, str] | None:
    """Where an entity name goes: ``("field", name)``, ``("item", column)``, ``("kv", role)`` or ``None``."""
    e = entity.strip().lower().replace(" ", "_").replace("-", "_")
    if not e or e in ("o", "other", "ignore"):
        return None
    if e in _KV:
        return "kv", _KV[e]
    for prefix in _ITEM_PREFIXES:
        if e.startswith(prefix):
            col = _ITEM_ALIASES.get(e[len(prefix):].split(".")[0])
            return ("item", col) if col else None
    if e in LINE_ITEM_FIELDS and e not in _CANONICAL:
        return "item", e
    if e in _CANONICAL:
        return "field", to_doc_type_field(e, doc_type)
    alias = _FIELD_ALIASES.get(e)
    if alias is None and "." in e:
        alias = _FIELD_ALIASES.get(e.split(".")[-1])
    if alias:
        return "field", to_doc_type_field(alias, doc_type)
    return None


@dataclass
class Entity:
    """A run of consecutive words (indices in reading order) tagged with one entity name."""

    name: str
    words: list[int]
    scores: list[float]

    @property
    def confidence(self) -> float:
        """Mean per-word probability of this entity type."""
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


def bio_entities(tags: Sequence[str], scores: Sequence[float]) -> list[Entity]:
    """Group per-word tags (``B-x``, ``I-x``, ``O``, BIOES too) into entities, in order.

    An ``I-x`` that does not continue an ``x`` starts a new entity (lenient decoding).

    >>> [(e.name, e.words) for e in bio_entities(["B-a", "I-a", "O", "I-b", "B-b", "S-a"], [1] * 6)]
    [('a', [0, 1]), ('b', [3]), ('b', [4]), ('a', [5])]
    """
    out: list[Entity] = []
    cur: Entity | None = None
    for i, (tag, score) in enumerate(zip(tags, scores, strict=True)):
        prefix, name = split_tag(tag)
        if prefix == "O":
            cur = None
            continue
        if cur is None or prefix in ("B", "S") or name != cur.name:
            cur = Entity(name, [], [])
            out.append(cur)
        cur.words.append(i)
        cur.scores.append(float(score))
        if prefix in ("S", "E"):
            cur = None
    return out


_DOC_TYPES: list[tuple[str, str]] = [
    ("receipt", "receipt"), ("invoice", "invoice"), ("bill", "invoice"), ("rechnung", "invoice"),
    ("facture", "invoice"), ("form", "form"), ("questionnaire", "form"),
]


def doc_type_for(label: str) -> str:
    """A classifier's label (RVL-CDIP class, our own names) → ``invoice|receipt|form|other``."""
    low = str(label).strip().lower()
    for needle, doc_type in _DOC_TYPES:
        if needle in low:
            return doc_type
    return "other"
