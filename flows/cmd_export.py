"""``docai export``, ``docai presets`` and ``docai schema``: tables from the ledger, no reprocessing.

``docai export OUT`` reads ``OUT/ledger.jsonl`` (or ``OUT/documents.jsonl`` when there is no
ledger) and writes, by default into ``OUT/exports/``:

- without ``--preset``: the ``documents``, ``line_items`` and ``key_values`` tables (one file per
  table for CSV, JSON Lines and Parquet; one workbook with a sheet per table for XLSX; one object
  of arrays for JSON);
- with ``--preset NAME|FILE``: one import file, ``NAME.<format>``.

``review.csv`` beside the output lists every document the export left out, with the reasons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from extractors.errors import DocaiError, ExitCode, UsageError
from flows.cli import app, console

if TYPE_CHECKING:
    from extractors.export import ExportResult
    from schemas.record import Record

__all__ = ["check_export_options", "export", "export_after_batch", "load_records", "presets",
           "schema"]

EXPORT_DIR = "exports"
"""Default folder for export files, inside the output folder."""

SCHEMAS = ("invoice", "receipt", "record")


def load_records(out: Path) -> list[Record]:
    """The records of an output folder: the ledger (last line per key wins), else documents.jsonl.

    Reads without touching the folder (no temp-file clean-up), so it is safe while a batch runs.

    Raises:
        UsageError: when the folder holds neither file.
    """
    from flows.ledger import record_key
    from schemas.record import Record

    ledger, documents = out / "ledger.jsonl", out / "documents.jsonl"
    path = ledger if ledger.is_file() else documents if documents.is_file() else None
    if path is None:
        raise UsageError(f"{out} has no ledger.jsonl or documents.jsonl: run `docai process "
                         f"INPUTS --out {out}` first")
    records: dict[str, Record] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = Record.model_validate_json(line)
            except ValueError:
                continue  # a torn last line from an interrupted write
            if path == ledger:
                records[record_key(rec)] = rec
            else:
                records[f"{record_key(rec)}|{rec.source}"] = rec
    return list(records.values())


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--set expects COLUMN=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        result[key.strip()] = value
    return result


def check_export_options(fmt: str | None, preset: str | None) -> None:
    """Fail fast (before a batch starts) on an unknown format or preset.

    Raises:
        UsageError: naming the known formats or presets.
    """
    from extractors.export import FORMATS
    from extractors.presets import get_preset

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if preset is not None:
        get_preset(preset)


def _say(text: str) -> None:
    """One plain line on stderr: paths are neither wrapped nor read as markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _report(result: ExportResult) -> None:
    for key, n in result.rows.items():
        _say(f"wrote {key} ({n} rows)")
    if result.review is not None:
        n = len(result.excluded)
        _say(f"{n} document{'' if n == 1 else 's'} left out, listed with the reasons in "
             f"{result.review}")
    if result.note:
        _say(f"note: {result.note}")


def export_after_batch(out: Path, fmt: str | None, preset: str | None) -> ExportResult | None:
    """The export ``docai process --format/--preset`` writes at the end of a batch (into
    ``OUT/exports/``); ``None`` when neither option was given."""
    from extractors.export import export_records

    if fmt is None and preset is None:
        return None
    result = export_records(load_records(out), fmt or "csv", dest=out / EXPORT_DIR, preset=preset)
    _report(result)
    return result


@app.command()
def export(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `docai process` (holds ledger.jsonl).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl, json, parquet or xlsx.")] = "csv",
    preset: Annotated[str | None, typer.Option("--preset", "-p", help="xero-bills, quickbooks-bills, expenses, or a .toml/.json preset file (see `docai presets`).")] = None,
    only_valid: Annotated[bool, typer.Option("--only-valid", help="Leave out documents that are not ok; they are listed in review.csv.")] = False,
    to: Annotated[Path | None, typer.Option("--to", help="File to write (a folder when several tables are written). Default: OUT_DIR/exports/.")] = None,
    table: Annotated[str | None, typer.Option("--table", help="Write only this table: documents, line_items or key_values.")] = None,
    bom: Annotated[bool, typer.Option("--bom", help="Start CSV files with a UTF-8 byte-order mark (Excel).")] = False,
    date_format: Annotated[str | None, typer.Option("--date-format", help="Preset date format: a strftime pattern such as %m/%d/%Y, or iso.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="COLUMN=VALUE: a constant for a preset column, e.g. --set '*AccountCode=429'. Repeatable.")] = None,
) -> None:
    """Rebuild export tables or an accounting import file from the ledger (no reprocessing)."""
    from extractors.export import export_records

    try:
        check_export_options(fmt, preset)
        if not out_dir.is_dir():
            raise UsageError(f"no such output folder: {out_dir}")
        result = export_records(
            load_records(out_dir), fmt, dest=out_dir / EXPORT_DIR, to=to, preset=preset,
            table=table, only_valid=only_valid, bom=bom, date_format=date_format,
            overrides=_overrides(set_))
    except DocaiError as exc:
        _say(f"error ({exc.reason}): {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None
    _report(result)


@app.command()
def presets(
    name: Annotated[str | None, typer.Argument(help="A preset name or .toml/.json file: show its columns.")] = None,
) -> None:
    """List the export presets, or the columns of one."""
    from extractors.presets import get_preset, known_presets

    try:
        if name is None:
            for n in known_presets():
                print(f"{n}: {get_preset(n).description}")
            return
        p = get_preset(name)
    except DocaiError as exc:
        _say(f"error ({exc.reason}): {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None
    print(f"{p.name}: {p.description}")
    print(f"rows: one per {'line item' if p.rows == 'line_items' else 'document'}; "
          f"documents: {', '.join(p.doc_types)}; dates: {p.date_format or 'ISO'}")
    for c in p.columns:
        src = f"= {c.value!r}" if c.value is not None else " | ".join(c.fields)
        print(f"  {c.name:<20} {src:<32} {c.help}")


@app.command()
def schema(
    model: Annotated[str, typer.Argument(help="invoice, receipt or record.")] = "record",
) -> None:
    """Print the JSON Schema of what docai writes (money and dates are strings)."""
    from pydantic import BaseModel

    from schemas.fields import Invoice, Receipt
    from schemas.record import Record

    models: dict[str, type[BaseModel]] = {"invoice": Invoice, "receipt": Receipt, "record": Record}
    if model not in models:
        _say(f"unknown schema {model!r}; known: {', '.join(SCHEMAS)}")
        raise typer.Exit(int(ExitCode.USAGE))
    data = models[model].model_json_schema(mode="serialization")
    data = {"$schema": "https://json-schema.org/draft/2020-12/schema", **data}
    print(json.dumps(data, indent=2, ensure_ascii=False))
