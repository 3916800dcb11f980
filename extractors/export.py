"""Tables from records: invoices, receipts, line items, key-values — built with pandas.

CSV string cells that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``,
tab, CR or NUL) get a leading ``'``; cells that are numbers (``-12.50``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from extractors.fsutil import atomic_write_text
from schemas.fields import INVOICE_FIELDS, LINE_ITEM_FIELDS, RECEIPT_FIELDS
from schemas.record import Record

__all__ = ["TABLES", "neutralize_cell", "tables", "write_tables"]

_NUMERIC = re.compile(r"^[+-]?\d+(\.\d+)?$")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralize_cell(value: Any) -> Any:
    """Make a CSV cell safe to open in a spreadsheet (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _NUMERIC.match(value):
        return "'" + value
    return value


def _base(r: Record) -> dict[str, Any]:
    return {"source": r.source, "sha256": r.sha256, "status": r.status.value,
            "needs_review": r.needs_review}


def _header_rows(records: Iterable[Record], doc_type: str, names: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for r in records:
        if r.doc_type != doc_type:
            continue
        row = _base(r)
        for n in names:
            f = r.fields.get(n)
            row[n] = f.value if f else None
        for n in names:
            f = r.fields.get(n)
            row[f"{n}_confidence"] = round(f.confidence, 4) if f else None
        row["errors"] = ";".join(sorted({f"{e.field}:{e.code}" for e in r.errors}))
        rows.append(row)
    cols = ["source", "sha256", "status", "needs_review", *names,
            *(f"{n}_confidence" for n in names), "errors"]
    return pd.DataFrame(rows, columns=cols)


def _line_items(records: Iterable[Record]) -> pd.DataFrame:
    rows = []
    for r in records:
        for i, li in enumerate(r.line_items, start=1):
            row = {"source": r.source, "sha256": r.sha256, "line": i}
            for n in LINE_ITEM_FIELDS:
                f = getattr(li, n)
                row[n] = f.value if f else None
            rows.append(row)
    return pd.DataFrame(rows, columns=["source", "sha256", "line", *LINE_ITEM_FIELDS])


def _key_values(records: Iterable[Record]) -> pd.DataFrame:
    rows = [{"source": r.source, "sha256": r.sha256, "page": kv.page, "key": kv.key,
             "value": kv.value, "confidence": round(kv.confidence, 4)}
            for r in records for kv in r.key_values]
    return pd.DataFrame(rows, columns=["source", "sha256", "page", "key", "value", "confidence"])


def tables(records: list[Record]) -> dict[str, pd.DataFrame]:
    """The four standard tables, rows in ``source`` order."""
    records = sorted(records, key=lambda r: (r.source, r.sha256 or ""))
    return {
        "invoices": _header_rows(records, "invoice", INVOICE_FIELDS),
        "receipts": _header_rows(records, "receipt", RECEIPT_FIELDS),
        "line_items": _line_items(records),
        "key_values": _key_values(records),
    }


TABLES = ("invoices", "receipts", "line_items", "key_values")


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text of a table with formula-leading string cells neutralised."""
    safe = df.copy()
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(neutralize_cell)
    return safe.to_csv(index=False, lineterminator="\n")


def write_tables(records: list[Record], out: str | Path) -> list[Path]:
    """Write ``invoices.csv``, ``receipts.csv``, ``line_items.csv``, ``key_values.csv`` atomically."""
    out = Path(out)
    written = []
    for name, df in tables(records).items():
        path = out / f"{name}.csv"
        atomic_write_text(path, to_csv_text(df))
        written.append(path)
    return written
