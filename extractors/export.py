"""Exports: tables rebuilt from records, written as CSV, JSON Lines, JSON, Parquet or XLSX.

Three tables, each with a stable column order (the README section "Exporting to your accounting system" documents every column):

- ``documents``: one row per document — source, sha256, type, status, every canonical header
  field, then each field's confidence, then the errors (``field:code``);
- ``line_items``: one row per printed line item, keyed by ``source`` + ``sha256`` + ``line``,
  with the document's ``currency`` repeated (one currency column per set of amounts);
- ``key_values``: one row per generic printed label/value pair.

``write_tables`` also writes the per-type ``invoices``/``receipts`` tables the ledger has always
produced. Presets (``extractors.presets``) map records onto an accounting system's import columns.

Values are typed once (:class:`Column` ``kind``) and each writer renders them:

- money and quantities are exact ``Decimal`` s (money padded to the currency's minor digits, KWD
  has three, JPY none): plain strings in CSV and JSON (never floats), ``decimal128(38, 4)`` in
  Parquet (a larger scale when a value has more digits), numbers with a ``#,##0.00`` style format
  in XLSX;
- dates are ISO ``YYYY-MM-DD`` (``date32`` in Parquet, real dates in XLSX);
- CSV string cells that a spreadsheet would run as a formula get a leading ``'``
  (:func:`neutralize_cell`, the one place for it); XLSX string cells are written as explicit
  strings, never formulas; JSON and Parquet keep the raw values.

>>> neutralize_cell("=1+2")
"'=1+2"
>>> neutralize_cell("-12.50")
'-12.50'
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractors.errors import DependencyMissing, UsageError
from extractors.fsutil import atomic_write_bytes, atomic_write_text
from schemas.fields import (
    DATE_FIELDS,
    INVOICE_FIELDS,
    LINE_ITEM_FIELDS,
    MONEY_FIELDS,
    RECEIPT_FIELDS,
)
from schemas.normalize import ISO_CURRENCIES, NormalizationError, format_money, parse_money
from schemas.record import Record, Status

if TYPE_CHECKING:
    import pandas as pd

    from extractors.presets import Preset

__all__ = [
    "DOCUMENT_FIELDS",
    "FORMATS",
    "KINDS",
    "TABLES",
    "Column",
    "ExportResult",
    "Table",
    "build_tables",
    "date_value",
    "decimal_value",
    "error_codes",
    "export_records",
    "field_kind",
    "money_value",
    "neutralize_cell",
    "plain",
    "record_currency",
    "review_table",
    "tables",
    "to_csv_text",
    "typed_field",
    "write_table",
    "write_tables",
]

FORMATS = ("csv", "jsonl", "json", "parquet", "xlsx")
"""Output formats of ``docai export``."""

TABLES = ("documents", "line_items", "key_values")
"""The export tables, in the order they are written (sheets of an XLSX, keys of a JSON)."""

KINDS = ("text", "money", "decimal", "date", "int", "float", "bool")
"""Column kinds: how each writer renders a value."""

DOCUMENT_FIELDS: tuple[str, ...] = (
    "vendor_name", "vendor_address", "vendor_tax_id",
    "merchant_name", "merchant_address", "merchant_phone",
    "customer_name", "customer_address",
    "invoice_id", "po_number", "payment_terms",
    "invoice_date", "due_date", "transaction_date", "transaction_time",
    "currency", "subtotal", "discount", "tax_total", "tip", "total", "amount_due",
)
"""Header columns of the ``documents`` table: every canonical invoice and receipt field, grouped
as parties, references, dates, then the currency followed by the amounts it applies to."""

PARQUET_SCALE = 4
"""Decimal places of Parquet ``decimal128`` money columns (more when a value needs them)."""

# ---------------------------------------------------------------------------------------------
# Formula-injection guard (OWASP "CSV injection") — the one place for it.

_NUMERIC = re.compile(r"^[+-]?\d+([.,]\d+)?$")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralize_cell(value: Any) -> Any:
    """Make a CSV cell safe to open in a spreadsheet (OWASP CSV injection).

    A string starting with ``=``, ``+``, ``-``, ``@``, tab, CR or NUL gets a leading ``'`` so that
    Excel, LibreOffice and Google Sheets show it as text instead of running it as a formula.
    Plain numbers (``-12.50``, ``+3``, ``-1,5``) are left alone, and so is anything that is not a
    string. NUL characters, which truncate the cell in many CSV readers (pandas among them),
    become U+FFFD.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(_DANGEROUS) and not _NUMERIC.match(value):
        value = "'" + value
    return value.replace("\0", "\ufffd")


# ---------------------------------------------------------------------------------------------
# Typed values

_PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def record_currency(record: Record) -> str | None:
    """The record's ISO 4217 currency, or ``None`` when none (or no valid one) was read."""
    f = record.fields.get("currency")
    code = (f.value or "").strip().upper() if f else ""
    return code if code in ISO_CURRENCIES else None


def decimal_value(text: str | None) -> Decimal | None:
    """An exact ``Decimal`` of a canonical or printed number, or ``None`` when it is not one."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    if _PLAIN_DECIMAL.match(s):
        return Decimal(s)
    try:
        value = parse_money(s)[0]
    except (NormalizationError, InvalidOperation):
        return None
    return value if value.is_finite() else None


def money_value(text: str | None, currency: str | None = None) -> Decimal | None:
    """An exact amount with at least the currency's minor digits (``1.5`` KWD → ``1.500``)."""
    value = decimal_value(text)
    if value is None:
        return None
    return Decimal(format_money(value, currency))


def date_value(text: str | None) -> dt.date | None:
    """The ``date`` of a canonical ISO date, or ``None`` (an invalid date is a record error)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        return None


def plain(value: Decimal) -> str:
    """A ``Decimal`` in plain notation, never scientific (``1E-7`` → ``0.0000001``)."""
    return format(value, "f")


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class Column:
    """One output column: its header and how its values are typed (one of :data:`KINDS`)."""

    name: str
    kind: str = "text"
    help: str = ""


@dataclass
class Table:
    """A table of typed Python values (``str``, ``Decimal``, ``date``, ``int``, ``float``,
    ``bool`` or ``None``), one list per row in column order."""

    name: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Column headers in order."""
        return [c.name for c in self.columns]

    def frame(self) -> pd.DataFrame:
        """The table as a pandas ``DataFrame`` (object columns: ``Decimal`` s stay exact)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.names, dtype=object)

    def dicts(self) -> list[dict[str, Any]]:
        """Rows as dicts in column order."""
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.rows]


def field_kind(name: str) -> str:
    """The column kind of a canonical field name (money, date, decimal quantity or text)."""
    if name in MONEY_FIELDS:
        return "money"
    if name in DATE_FIELDS:
        return "date"
    if name == "quantity":
        return "decimal"
    return "text"


def typed_field(record: Record, name: str, text: str | None) -> Any:
    """The typed value of a canonical field ``name`` of ``record`` (``None`` when unreadable)."""
    kind = field_kind(name)
    if kind == "money":
        return money_value(text, record_currency(record))
    if kind == "decimal":
        return decimal_value(text)
    if kind == "date":
        return date_value(text)
    if name == "currency":
        return record_currency(record) or (text or None)
    return text if text not in ("", None) else None


def error_codes(record: Record) -> str:
    """The record's errors as sorted ``field:code`` pairs joined by ``; ``."""
    return "; ".join(sorted({f"{e.field}:{e.code}" for e in record.errors}))


def _conf(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _sorted(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.source, r.sha256 or ""))


def _documents(records: list[Record], name: str = "documents",
               names: tuple[str, ...] = DOCUMENT_FIELDS, doc_type: str | None = None) -> Table:
    lead = [Column("source"), Column("sha256")]
    if doc_type is None:
        lead += [Column("doc_type"), Column("doc_type_confidence", "float"), Column("status"),
                 Column("reason"), Column("needs_review", "bool"), Column("pages", "int")]
    else:
        lead += [Column("status"), Column("needs_review", "bool")]
    cols = [*lead, *(Column(n, field_kind(n)) for n in names),
            *(Column(f"{n}_confidence", "float") for n in names), Column("errors")]
    table = Table(name, cols)
    for r in records:
        if doc_type is not None and r.doc_type != doc_type:
            continue
        if doc_type is None:
            row: list[Any] = [r.source, r.sha256, r.doc_type, _conf(r.doc_type_confidence),
                              r.status.value, r.reason, r.needs_review, r.pages]
        else:
            row = [r.source, r.sha256, r.status.value, r.needs_review]
        fields = [r.fields.get(n) for n in names]
        row += [typed_field(r, n, f.value) if f else None for n, f in zip(names, fields, strict=True)]
        row += [_conf(f.confidence) if f else None for f in fields]
        row.append(error_codes(r))
        table.rows.append(row)
    return table


def _line_items(records: list[Record]) -> Table:
    cols = [Column("source"), Column("sha256"), Column("line", "int"),
            *(Column(n, field_kind(n)) for n in LINE_ITEM_FIELDS), Column("currency"),
            *(Column(f"{n}_confidence", "float") for n in LINE_ITEM_FIELDS)]
    table = Table("line_items", cols)
    for r in records:
        cur = record_currency(r)
        for i, li in enumerate(r.line_items, start=1):
            cells = [getattr(li, n) for n in LINE_ITEM_FIELDS]
            table.rows.append([
                r.source, r.sha256, i,
                *(typed_field(r, n, f.value) if f else None
                  for n, f in zip(LINE_ITEM_FIELDS, cells, strict=True)),
                cur,
                *(_conf(f.confidence) if f else None for f in cells),
            ])
    return table


def _key_values(records: list[Record]) -> Table:
    cols = [Column("source"), Column("sha256"), Column("page", "int"), Column("key"),
            Column("value"), Column("confidence", "float")]
    table = Table("key_values", cols)
    for r in records:
        for kv in r.key_values:
            table.rows.append([r.source, r.sha256, kv.page, kv.key, kv.value, _conf(kv.confidence)])
    return table


def build_tables(records: Iterable[Record]) -> dict[str, Table]:
    """The export tables (:data:`TABLES`), rows in ``source`` order."""
    ordered = _sorted(records)
    return {"documents": _documents(ordered), "line_items": _line_items(ordered),
            "key_values": _key_values(ordered)}


def _ledger_tables(records: Iterable[Record]) -> dict[str, Table]:
    ordered = _sorted(records)
    return {
        "documents": _documents(ordered),
        "invoices": _documents(ordered, "invoices", INVOICE_FIELDS, "invoice"),
        "receipts": _documents(ordered, "receipts", RECEIPT_FIELDS, "receipt"),
        "line_items": _line_items(ordered),
        "key_values": _key_values(ordered),
    }


def tables(records: list[Record]) -> dict[str, pd.DataFrame]:
    """The tables as pandas ``DataFrame`` s: ``documents``, ``invoices``, ``receipts``,
    ``line_items``, ``key_values`` (money as ``Decimal``, dates as ``date``)."""
    return {name: t.frame() for name, t in _ledger_tables(records).items()}


def review_table(records: Iterable[Record]) -> Table:
    """``review.csv``: documents an export left out, and why."""
    cols = [Column("source"), Column("sha256"), Column("doc_type"), Column("status"),
            Column("reason"), Column("errors"), Column("details")]
    table = Table("review", cols)
    for r in _sorted(records):
        details = []
        if r.reason or r.message:
            details.append(": ".join(x for x in (r.reason, r.message) if x))
        details += [f"{e.field}: {e.message} ({e.code})" for e in r.errors]
        details += r.warnings
        if not details:
            details.append(f"status {r.status.value}")
        table.rows.append([r.source, r.sha256, r.doc_type, r.status.value, r.reason, error_codes(r),
                           "; ".join(details)])
    return table


# ---------------------------------------------------------------------------------------------
# Writers


def _csv_cell(value: Any, decimal_separator: str = ".") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = plain(value)
        return text.replace(".", decimal_separator) if decimal_separator != "." else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralize_cell(value)
    return str(value)


def csv_text(table: Table, *, decimal_separator: str = ".", delimiter: str = ",") -> str:
    """CSV text of a table (RFC 4180): header row, CRLF line ends, cells holding a delimiter,
    quote, CR or LF quoted, formula cells neutralised."""
    buf = io.StringIO()
    # CRLF, not LF: the csv module quotes only fields holding a character of the line terminator,
    # and a bare CR left unquoted would split the row for every reader.
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(table.names)
    for row in table.rows:
        w.writerow([_csv_cell(v, decimal_separator) for v in row])
    return buf.getvalue()


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text of a ``DataFrame`` with formula-leading string cells neutralised."""
    cols = [Column(str(c)) for c in df.columns]
    rows = [[None if _isna(v) else v for v in row] for row in df.itertuples(index=False)]
    return csv_text(Table("frame", cols, rows))


def _isna(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN / NaT
    except (TypeError, ValueError):
        return False


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _json_rows(table: Table) -> list[dict[str, Any]]:
    names = table.names
    return [{n: _json_value(v) for n, v in zip(names, row, strict=True)} for row in table.rows]


def jsonl_text(table: Table) -> str:
    """One JSON object per row (money as strings, dates ISO)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _json_rows(table))


def json_text(tables_: Sequence[Table] | Table) -> str:
    """A JSON array of rows for one table, or an object of arrays keyed by table name."""
    if isinstance(tables_, Table):
        data: Any = _json_rows(tables_)
    else:
        data = {t.name: _json_rows(t) for t in tables_}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def _scale(values: Iterable[Any]) -> int:
    scale = PARQUET_SCALE
    for v in values:
        if isinstance(v, Decimal):
            exp = v.as_tuple().exponent
            if isinstance(exp, int) and -exp > scale:
                scale = -exp
    return min(scale, 38)


def parquet_bytes(table: Table) -> bytes:
    """Parquet file of a table with an explicit schema (``decimal128`` money, ``date32`` dates)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise DependencyMissing("Parquet export needs pyarrow: pip install 'docai[export]'",
                                reason="pyarrow_missing") from exc
    arrays, fields = [], []
    for i, col in enumerate(table.columns):
        values = [row[i] for row in table.rows]
        if col.kind in ("money", "decimal"):
            typ: Any = pa.decimal128(38, _scale(values))
        elif col.kind == "date":
            typ = pa.date32()
            values = [v if isinstance(v, dt.date) or v is None else date_value(str(v))
                      for v in values]
        elif col.kind == "int":
            typ = pa.int64()
        elif col.kind == "float":
            typ = pa.float64()
        elif col.kind == "bool":
            typ = pa.bool_()
        else:
            typ = pa.string()
            values = [v if v is None or isinstance(v, str) else str(_json_value(v))
                      for v in values]
        arrays.append(pa.array(values, type=typ))
        fields.append(pa.field(col.name, typ))
    schema = pa.schema(fields, metadata={b"docai.table": table.name.encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), sink)
    return bytes(sink.getvalue().to_pybytes())


def _money_format(value: Decimal) -> str:
    exp = value.as_tuple().exponent
    places = -exp if isinstance(exp, int) and exp < 0 else 0
    return "#,##0" + ("." + "0" * places if places else "")


def xlsx_bytes(tables_: Sequence[Table]) -> bytes:
    """An XLSX workbook with one sheet per table.

    Strings are explicit string cells (never formulas, control characters replaced), amounts are
    numbers formatted to their decimal places, dates are dates.
    """
    try:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Font
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise DependencyMissing("XLSX export needs openpyxl: pip install 'docai[export]'",
                                reason="openpyxl_missing") from exc
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for t in tables_:
        ws = wb.create_sheet(t.name[:31])
        ws.freeze_panes = "A2"
        header = []
        for name in t.names:
            c = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", name))
            c.data_type = "s"
            c.font = bold
            header.append(c)
        ws.append(header)
        for row in t.rows:
            cells = []
            for v in row:
                if isinstance(v, str):
                    c = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", v))
                    c.data_type = "s"  # a string, never a formula
                elif isinstance(v, Decimal):
                    c = WriteOnlyCell(ws, value=v)
                    c.number_format = _money_format(v)
                elif isinstance(v, dt.date):
                    c = WriteOnlyCell(ws, value=v)
                    c.number_format = "yyyy-mm-dd"
                else:
                    c = WriteOnlyCell(ws, value=v)
                cells.append(c)
            ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_table(table: Table, path: str | Path, fmt: str, *, bom: bool = False,
                decimal_separator: str = ".", delimiter: str = ",") -> Path:
    """Write one table to ``path`` in ``fmt`` (one of :data:`FORMATS`), atomically."""
    path = Path(path)
    if fmt == "csv":
        text = csv_text(table, decimal_separator=decimal_separator, delimiter=delimiter)
        atomic_write_text(path, ("\ufeff" if bom else "") + text)
    elif fmt == "jsonl":
        atomic_write_text(path, jsonl_text(table))
    elif fmt == "json":
        atomic_write_text(path, json_text(table))
    elif fmt == "parquet":
        atomic_write_bytes(path, parquet_bytes(table))
    elif fmt == "xlsx":
        atomic_write_bytes(path, xlsx_bytes([table]))
    else:
        raise UsageError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    return path


def write_tables(records: list[Record], out: str | Path) -> list[Path]:
    """Write ``documents.csv``, ``invoices.csv``, ``receipts.csv``, ``line_items.csv`` and
    ``key_values.csv`` atomically (the ledger calls this after every batch)."""
    out = Path(out)
    return [write_table(t, out / f"{name}.csv", "csv") for name, t in _ledger_tables(records).items()]


# ---------------------------------------------------------------------------------------------
# docai export


@dataclass
class ExportResult:
    """What an export wrote: the files, rows per file, and the documents it left out."""

    paths: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    excluded: list[Record] = field(default_factory=list)
    review: Path | None = None
    note: str = ""


EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "parquet": ".parquet",
              "xlsx": ".xlsx"}


def _usable(record: Record) -> bool:
    """A record with data to export (rejected and failed documents have none)."""
    return record.status not in (Status.REJECTED, Status.FAILED)


def export_records(
    records: Iterable[Record],
    fmt: str = "csv",
    *,
    dest: str | Path,
    to: str | Path | None = None,
    preset: str | Path | Preset | None = None,
    table: str | None = None,
    only_valid: bool = False,
    bom: bool = False,
    date_format: str | None = None,
    overrides: dict[str, str] | None = None,
) -> ExportResult:
    """Write records as tables or as a preset's import file; the engine of ``docai export``.

    Args:
        records: the documents (from the ledger).
        fmt: one of :data:`FORMATS`.
        dest: folder for the default file names (``documents.csv``, ``tables.xlsx``,
            ``xero-bills.csv``, …).
        to: a file to write instead (or a folder when several files are written).
        preset: a built-in preset name, a path to a TOML/JSON preset file, or a :class:`Preset`.
        table: write only this table (``documents``, ``line_items`` or ``key_values``).
        only_valid: leave out documents that are not ``ok``; they are listed in ``review.csv``.
        bom: start CSV files with a UTF-8 byte-order mark (for Excel).
        date_format: ``strftime`` pattern (or ``iso``) replacing the preset's date format.
        overrides: preset column → constant value (``--set AccountCode=429``).

    Returns:
        The files written and the documents left out (listed in ``review.csv`` beside the
        output whenever anything was left out or ``only_valid`` is set).

    Raises:
        UsageError: for an unknown format, preset, table or column, or a bad ``--to``.
    """
    from extractors.presets import Preset, get_preset

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if bom and fmt != "csv":
        raise UsageError("--bom applies to CSV only")
    if table is not None and table not in TABLES:
        raise UsageError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}")
    if preset is not None and table is not None:
        raise UsageError("--table and --preset cannot be combined: a preset is one table")
    if preset is None and (overrides or date_format):
        raise UsageError("--set and --date-format apply to presets only")
    records = _sorted(records)
    result = ExportResult()
    ext = EXTENSIONS[fmt]
    dest = Path(dest)

    if preset is not None:
        p = preset if isinstance(preset, Preset) else get_preset(preset)
        p = p.with_options(overrides=overrides or {}, date_format=date_format)
        candidates = [r for r in records if p.selects(r) or not _usable(r)]
        keep = [r for r in candidates if _usable(r) and (r.status == Status.OK or not only_valid)]
        kept = {id(r) for r in keep}
        result.excluded = [r for r in candidates if id(r) not in kept]
        out_table = p.table(keep)
        safe_name = re.sub(r"[^\w.-]+", "_", p.name).strip("._") or "preset"
        path = Path(to) if to is not None else dest / f"{safe_name}{ext}"
        write_table(out_table, path, fmt, bom=bom, decimal_separator=p.decimal_separator,
                    delimiter=p.csv_delimiter)
        result.paths.append(path)
        result.rows[str(path)] = len(out_table.rows)
        result.note = p.note
    else:
        keep = [r for r in records if r.status == Status.OK or not only_valid]
        result.excluded = [r for r in records if not (r.status == Status.OK or not only_valid)]
        built = build_tables(keep)
        chosen = [built[table]] if table else [built[n] for n in TABLES]
        if fmt in ("xlsx", "json") and table is None:
            path = Path(to) if to is not None else dest / f"tables{ext}"
            if fmt == "xlsx":
                atomic_write_bytes(path, xlsx_bytes(chosen))
            else:
                atomic_write_text(path, json_text(chosen))
            result.paths.append(path)
            result.rows.update({f"{path}:{t.name}": len(t.rows) for t in chosen})
        elif len(chosen) == 1:
            path = Path(to) if to is not None else dest / f"{chosen[0].name}{ext}"
            write_table(chosen[0], path, fmt, bom=bom)
            result.paths.append(path)
            result.rows[str(path)] = len(chosen[0].rows)
        else:
            folder = dest if to is None else Path(to)
            if to is not None and folder.suffix and not folder.is_dir():
                raise UsageError(f"--format {fmt} writes {len(chosen)} tables: give --to a "
                                 "folder, or --table NAME to write one table to a file")
            for t in chosen:
                path = write_table(t, folder / f"{t.name}{ext}", fmt, bom=bom)
                result.paths.append(path)
                result.rows[str(path)] = len(t.rows)

    if result.excluded or only_valid:
        review = result.paths[0].parent / "review.csv"
        write_table(review_table(result.excluded), review, "csv", bom=bom)
        result.review = review
    return result
