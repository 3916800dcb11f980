"""Export presets: an accounting system's import columns, mapped from our records (data, not code).

The built-in presets live in ``presets.toml`` beside this module (``xero-bills``,
``quickbooks-bills``, ``expenses``); a user writes a custom one in the same shape as a small TOML or
JSON file and passes its path to ``--preset``. A preset says:

- ``rows``: ``documents`` (one row per document) or ``line_items`` (one row per line item, the
  document's header fields repeated on each; a document without printed line items gets one line
  carrying its net amount, so no bill is dropped);
- ``doc_types``: which documents it takes (``invoice``, ``receipt``, …);
- ``columns``: in order, each a source field (or a list tried in order), a constant ``value``, a
  ``default`` and, for dates, a ``format``;
- ``date_format`` (``strftime`` pattern or ``iso``), ``decimal_separator``, ``csv_delimiter``.

Source names (:data:`SOURCES`): every canonical header field (``vendor_name``, ``total``, …), the
record's ``source``, ``file_name``, ``sha256``, ``status``, ``reason``, ``doc_type``,
``needs_review``, ``errors``, ``pages``, and for ``line_items`` presets ``line.number``,
``line.description``, ``line.quantity``, ``line.unit_price``, ``line.amount``,
``line.product_code``, ``line.tax_rate`` plus the import-ready ``line.import_quantity`` (1 when
none is printed), ``line.import_unit_price`` (the amount when no unit price is printed),
``line.import_amount`` (quantity x unit price when no amount is printed) and ``line.tax_amount``
(the document's tax total when it has a single line).

>>> p = get_preset("expenses")
>>> [c.name for c in p.columns][:4]
['date', 'time', 'merchant', 'subtotal']
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from extractors.errors import UsageError
from extractors.export import (
    DOCUMENT_FIELDS,
    Column,
    Table,
    date_value,
    decimal_value,
    error_codes,
    field_kind,
    record_currency,
    typed_field,
)
from schemas.fields import LINE_ITEM_FIELDS
from schemas.normalize import format_money
from schemas.record import Record

__all__ = ["SOURCES", "Preset", "PresetColumn", "get_preset", "known_presets", "load_preset_file",
           "parse_preset"]

BUILTIN_FILE = Path(__file__).with_name("presets.toml")

RECORD_SOURCES: dict[str, str] = {
    "source": "text", "file_name": "text", "sha256": "text", "status": "text", "reason": "text",
    "doc_type": "text", "needs_review": "bool", "errors": "text", "pages": "int",
}
LINE_SOURCES: dict[str, str] = {
    "line.number": "int",
    **{f"line.{n}": field_kind(n) for n in LINE_ITEM_FIELDS},
    "line.import_quantity": "decimal",
    "line.import_unit_price": "money",
    "line.import_amount": "money",
    "line.tax_amount": "money",
}
SOURCES: dict[str, str] = {**{n: field_kind(n) for n in DOCUMENT_FIELDS}, **RECORD_SOURCES,
                           **LINE_SOURCES}
"""Every name a preset column may read, and its kind."""

ROWS = ("documents", "line_items")
_MAX_UNIT_DECIMALS = 4
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


@dataclass(frozen=True)
class PresetColumn:
    """One column of a preset: where its value comes from."""

    name: str
    fields: tuple[str, ...] = ()
    value: str | None = None
    default: str | None = None
    format: str | None = None
    help: str = ""

    @property
    def kind(self) -> str:
        """The column's kind (a constant is text; a list of fields takes the first one's)."""
        return "text" if self.value is not None or not self.fields else SOURCES[self.fields[0]]


@dataclass(frozen=True)
class Preset:
    """A named mapping from records to an import file's columns."""

    name: str
    columns: tuple[PresetColumn, ...]
    description: str = ""
    rows: str = "documents"
    doc_types: tuple[str, ...] = ("invoice", "receipt")
    date_format: str | None = None
    decimal_separator: str = "."
    csv_delimiter: str = ","
    note: str = ""

    def selects(self, record: Record) -> bool:
        """True when the preset takes this document (by type)."""
        return record.doc_type in self.doc_types

    def with_options(self, *, overrides: dict[str, str] | None = None,
                     date_format: str | None = None) -> Preset:
        """A copy with constant ``overrides`` (column → value) and another ``date_format``.

        Raises:
            UsageError: for a column the preset does not have.
        """
        p = self
        if date_format is not None:
            p = replace(p, date_format=_date_format(date_format))
        if overrides:
            cols = list(p.columns)
            for key, value in overrides.items():
                i = _find_column(cols, key)
                if i is None:
                    raise UsageError(f"preset {p.name!r} has no column {key!r}; its columns: "
                                     + ", ".join(c.name for c in cols))
                cols[i] = replace(cols[i], fields=(), value=value)
            p = replace(p, columns=tuple(cols))
        return p

    def table(self, records: list[Record]) -> Table:
        """The import table of ``records`` (already filtered), rows in ``records`` order."""
        cols = [Column(c.name, self._out_kind(c), c.help) for c in self.columns]
        table = Table(self.name, cols)
        for r in records:
            if self.rows == "line_items":
                for line in _lines(r):
                    table.rows.append([self._cell(c, r, line) for c in self.columns])
            else:
                table.rows.append([self._cell(c, r, None) for c in self.columns])
        return table

    def _out_kind(self, col: PresetColumn) -> str:
        kind = col.kind
        if kind == "date" and (col.format or self.date_format):
            return "text"
        return kind

    def _cell(self, col: PresetColumn, record: Record, line: dict[str, Any] | None) -> Any:
        if col.value is not None:
            return col.value or None  # an empty constant is an empty cell (null in JSON)
        value: Any = None
        for src in col.fields:
            value = _source(src, record, line)
            if value not in (None, ""):
                break
        if value in (None, "") and col.default is not None:
            value = _typed_default(col.default, col.kind)
        if isinstance(value, dt.date):
            fmt = col.format or self.date_format
            return value.strftime(fmt) if fmt else value
        if isinstance(value, str):
            return _NEWLINES.sub(", ", value).strip()
        return value


def _find_column(cols: list[PresetColumn], key: str) -> int | None:
    want = key.strip().lstrip("*").casefold()
    for i, c in enumerate(cols):
        if c.name == key:
            return i
    for i, c in enumerate(cols):
        if c.name.lstrip("*").casefold() == want:
            return i
    return None


def _typed_default(text: str, kind: str) -> Any:
    if kind in ("money", "decimal"):
        return decimal_value(text)
    if kind == "date":
        return date_value(text)
    return text


def _source(name: str, record: Record, line: dict[str, Any] | None) -> Any:
    if name.startswith("line."):
        return None if line is None else line.get(name[5:])
    if name in RECORD_SOURCES:
        if name == "file_name":
            return record.source.rsplit("/", 1)[-1]
        if name == "status":
            return record.status.value
        if name == "needs_review":
            return record.needs_review
        if name == "errors":
            return error_codes(record)
        return getattr(record, name)
    f = record.fields.get(name)
    return typed_field(record, name, f.value) if f else None


def _money(value: Decimal | None, currency: str | None) -> Decimal | None:
    return None if value is None else Decimal(format_money(value, currency))


def _lines(record: Record) -> list[dict[str, Any]]:
    """Line contexts of a record: its printed items, or one line carrying its net amount."""
    cur = record_currency(record)
    lines: list[dict[str, Any]] = []
    for i, li in enumerate(record.line_items, start=1):
        cells = {n: getattr(li, n) for n in LINE_ITEM_FIELDS}
        line: dict[str, Any] = {"number": i}
        for n, f in cells.items():
            line[n] = typed_field(record, n, f.value) if f else None
        lines.append(line)
    if not lines:
        get = record.fields.get

        def amount(name: str) -> Decimal | None:
            f = get(name)
            return typed_field(record, name, f.value) if f else None

        subtotal, tax, total = amount("subtotal"), amount("tax_total"), amount("total")
        net = subtotal
        if net is None and total is not None and tax is not None:
            net = total - tax
        if net is None:
            net = total
        lines.append({"number": 1, "description": None, "quantity": None, "unit_price": None,
                      "amount": _money(net, cur), "product_code": None, "tax_rate": None})
    for line in lines:
        q, p, a = line["quantity"], line["unit_price"], line["amount"]
        iq, ip = q, p
        if p is None and a is not None:
            iq, ip = Decimal(1), a
            if q is not None and q != 0:
                unit = a / q
                exp = unit.normalize().as_tuple().exponent
                if unit * q == a and isinstance(exp, int) and -exp <= _MAX_UNIT_DECIMALS:
                    iq, ip = q, _money(unit, cur)
        elif iq is None and p is not None:
            iq = Decimal(1)
        line["import_quantity"] = iq
        line["import_unit_price"] = ip
        line["import_amount"] = a if a is not None else (
            _money(iq * ip, cur) if iq is not None and ip is not None else None)
        line["tax_amount"] = None
    if len(lines) == 1:
        f = record.fields.get("tax_total")
        lines[0]["tax_amount"] = typed_field(record, "tax_total", f.value) if f else None
    return lines


# ---------------------------------------------------------------------------------------------
# Loading


def _date_format(fmt: str | None) -> str | None:
    if fmt is None or fmt.strip().lower() in ("", "iso"):
        return None
    if "%" not in fmt:
        raise UsageError(f"date format {fmt!r} is not a strftime pattern (e.g. %d/%m/%Y) or 'iso'")
    return fmt


def _column(name: str, spec: Any, rows: str, where: str) -> PresetColumn:
    if isinstance(spec, str):
        spec = {"field": spec}
    if not isinstance(spec, dict):
        raise UsageError(f"{where}: column {name!r} must be a field name or a table")
    unknown = set(spec) - {"name", "field", "value", "default", "format", "help"}
    if unknown:
        raise UsageError(f"{where}: column {name!r} has unknown keys: {', '.join(sorted(unknown))}")
    raw = spec.get("field", ())
    fields = (raw,) if isinstance(raw, str) else tuple(raw)
    value = spec.get("value")
    if value is None and not fields:
        raise UsageError(f"{where}: column {name!r} needs a 'field' or a 'value'")
    for f in fields:
        if not isinstance(f, str) or f not in SOURCES:
            raise UsageError(f"{where}: column {name!r} reads unknown field {f!r}; known fields: "
                             + ", ".join(SOURCES))
        if f.startswith("line.") and rows != "line_items":
            raise UsageError(f"{where}: column {name!r} reads {f!r} but rows is not 'line_items'")
    fmt = spec.get("format")
    return PresetColumn(name=str(name), fields=fields,
                        value=None if value is None else str(value),
                        default=None if spec.get("default") is None else str(spec["default"]),
                        format=_date_format(fmt) if fmt is not None else None,
                        help=str(spec.get("help", "")))


def parse_preset(data: dict[str, Any], name: str, where: str = "preset") -> Preset:
    """Validate a preset's mapping (from TOML or JSON).

    Raises:
        UsageError: naming the key or column that is wrong.
    """
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a preset is a table/object")
    known = {"name", "description", "rows", "doc_types", "date_format", "decimal_separator",
             "csv_delimiter", "note", "columns"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{where}: unknown keys {', '.join(sorted(unknown))}; "
                         f"known keys: {', '.join(sorted(known))}")
    rows = data.get("rows", "documents")
    if rows not in ROWS:
        raise UsageError(f"{where}: rows must be one of {', '.join(ROWS)}")
    raw_cols = data.get("columns")
    if isinstance(raw_cols, dict):
        items = list(raw_cols.items())
    elif isinstance(raw_cols, list):
        items = []
        for spec in raw_cols:
            if not isinstance(spec, dict) or "name" not in spec:
                raise UsageError(f"{where}: each entry of 'columns' needs a 'name'")
            items.append((spec["name"], spec))
    else:
        raise UsageError(f"{where}: 'columns' is missing (a table of name = field, or a list)")
    if not items:
        raise UsageError(f"{where}: 'columns' is empty")
    cols = tuple(_column(str(n), s, rows, where) for n, s in items)
    names = [c.name for c in cols]
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: duplicate column names")
    doc_types = data.get("doc_types", ["invoice", "receipt"])
    if isinstance(doc_types, str):
        doc_types = [doc_types]
    dec = str(data.get("decimal_separator", "."))
    delim = str(data.get("csv_delimiter", ","))
    if dec not in (".", ",") or len(delim) != 1 or delim == dec == ",":
        raise UsageError(f"{where}: decimal_separator must be '.' or ',' and csv_delimiter one "
                         "character other than the decimal separator")
    return Preset(name=str(data.get("name", name)), columns=cols,
                  description=str(data.get("description", "")), rows=rows,
                  doc_types=tuple(str(t) for t in doc_types),
                  date_format=_date_format(data.get("date_format")),
                  decimal_separator=dec, csv_delimiter=delim, note=str(data.get("note", "")))


@cache
def _builtin() -> dict[str, Preset]:
    with open(BUILTIN_FILE, "rb") as f:
        data = tomllib.load(f)
    return {name: parse_preset(spec, name, f"preset {name}")
            for name, spec in data["presets"].items()}


def known_presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(_builtin())


def load_preset_file(path: str | Path) -> Preset:
    """A custom preset from a ``.toml`` or ``.json`` file (its name defaults to the file stem).

    Raises:
        UsageError: when the file cannot be read or is not a valid preset.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read preset file {path.name}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"preset file {path.name} is not valid "
                         f"{'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}") from exc
    return parse_preset(data, path.stem, f"preset file {path.name}")


def get_preset(name_or_path: str | Path) -> Preset:
    """A built-in preset by name, or a custom one from a ``.toml``/``.json`` file.

    Raises:
        UsageError: for an unknown name (the message lists the known ones).
    """
    key = str(name_or_path)
    builtin = _builtin()
    if key in builtin:
        return builtin[key]
    p = Path(key)
    if p.suffix.lower() in (".toml", ".json") or p.is_file():
        return load_preset_file(p)
    raise UsageError(f"unknown preset {key!r}; known presets: {', '.join(known_presets())} "
                     "(or the path of a .toml/.json preset file)")
