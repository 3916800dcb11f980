"""The ``docai`` command line: a thin shell over ``extractors`` and the Prefect flows.

Exit codes (``extractors.errors.ExitCode``): 0 all inputs processed (``ok`` or ``needs_review``),
3 finished but some inputs were rejected/failed/partial, 2 usage error, 4 missing dependency
(tesseract, language data, model weights), 5 output folder not writable, 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from extractors.errors import DocaiError, ExitCode

# Quiet, offline defaults for the local ephemeral Prefect API (a user's own settings win).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

__all__ = ["app", "main", "settings_from_options"]

app = typer.Typer(
    name="docai",
    help="Self-hosted Document AI: invoices, receipts and forms in; validated records out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out_console = Console()

# Options shared by every command that runs the pipeline.
LangOpt = Annotated[str | None, typer.Option(
    "--lang", help="Tesseract language(s): auto (default: deu+fra+eng, those installed), eng, eng+deu …")]
DpiOpt = Annotated[int | None, typer.Option("--dpi", help="Render resolution for scanned PDF pages [default: 300].")]
OcrOpt = Annotated[str | None, typer.Option("--ocr-engine", help="OCR engine (see `docai engines`) [default: auto: RapidOCR for receipt-shaped pages, Tesseract otherwise].")]
ClsOpt = Annotated[str | None, typer.Option("--classify-engine", help="Document-type engine name [default: rules].")]
ExtOpt = Annotated[str | None, typer.Option("--extract-engine", help="Field extraction engine name [default: rules].")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Hub id or local dir for a model engine.")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N (model engines) [default: cpu].")]


def settings_from_options(**options: Any) -> Any:
    """Build the one :class:`Settings` model from CLI options (``None`` means: keep the default).

    Raises:
        typer.Exit: with ``ExitCode.USAGE`` and a readable message on invalid values.
    """
    from pydantic import ValidationError

    from extractors.settings import Settings

    given = {k: v for k, v in options.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            console.print(f"[red]invalid option {loc}:[/red] {err['msg']}")
        raise typer.Exit(ExitCode.USAGE) from None


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")


def _key_fields(rec: Any) -> str:
    f = rec.fields
    parts = []
    for name in ("vendor_name", "merchant_name", "invoice_id", "invoice_date", "transaction_date",
                 "total"):
        if name in f and f[name].value:
            value = f[name].value
            if name == "total" and "currency" in f and f["currency"].value:
                value = f"{value} {f['currency'].value}"
            parts.append(f"{name}={value}")
    return ", ".join(parts)


def print_summary(records: list[Any], skipped: list[str]) -> None:
    """The end-of-batch table: file, type, key fields, status."""
    table = Table(title=f"docai: {len(records)} documents", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("type")
    table.add_column("key fields", overflow="fold")
    table.add_column("status")
    colors = {"ok": "green", "needs_review": "yellow", "partial": "yellow", "rejected": "red",
              "failed": "red"}
    for r in records:
        status = r.status.value + (f" ({r.reason})" if r.reason else "")
        table.add_row(r.source, r.doc_type or "-", _key_fields(r),
                      f"[{colors.get(r.status.value, 'white')}]{status}[/]")
    out_console.print(table)
    if skipped:
        console.print(f"{len(skipped)} already processed (same content and settings): skipped")


@app.command()
def process(
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Documents processed at once (default: CPU cores).")] = None,
    lang: LangOpt = None,
    dpi: DpiOpt = None,
    ocr_engine: OcrOpt = None,
    classify_engine: ClsOpt = None,
    extract_engine: ExtOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Pages per model batch (model engines).")] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="auto, fp32, fp16 or bf16 (model engines on CUDA).")] = None,
    strict_pages: Annotated[bool, typer.Option("--strict-pages", help="Fail a document when any page fails (default: partial).")] = False,
    all_files: Annotated[bool, typer.Option("--all-files", help="Also try files without a document extension.")] = False,
    no_prefect: Annotated[bool, typer.Option("--no-prefect", help="Run in-process without the Prefect flow.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (hash prefixes only).")] = False,
    export_format: Annotated[str | None, typer.Option("--format", help="Also export the tables at the end: csv, jsonl, json, parquet or xlsx (see `docai export`).")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Also write this export preset at the end (see `docai presets`).")] = None,
    move: Annotated[bool, typer.Option("--move", help="Move rejected inputs into OUT/quarantine (default: copy).")] = False,
    task_runner: Annotated[str, typer.Option("--task-runner", help="thread (default) or dask.")] = "thread",
    dask_address: Annotated[str | None, typer.Option("--dask-address", help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --task-runner dask; default: a local cluster).")] = None,
    isolation: Annotated[str, typer.Option("--isolation", help="process (default: each document in a worker process, crash/hang-safe) or none (in-thread).")] = "process",
) -> None:
    """Process invoices, receipts and forms into OUT/documents.jsonl and CSV tables.

    Exit codes: 0 all inputs ok or needs_review; 3 some inputs rejected, failed or partial;
    2 usage error; 4 missing dependency; 5 output folder not writable; 130 interrupted.
    """
    _configure_logging(verbose)
    from flows.cmd_export import check_export_options, export_after_batch

    check_export_options(export_format, preset)  # fail before the batch, not after it
    settings = settings_from_options(workers=workers, lang=lang, dpi=dpi, ocr_engine=ocr_engine,
                                     classify_engine=classify_engine,
                                     extract_engine=extract_engine, model=model, device=device,
                                     batch_size=batch_size, precision=precision,
                                     strict_pages=strict_pages or None)
    missing = [str(p) for p in inputs if not p.exists() and not p.is_symlink()]
    if missing:
        console.print(f"[red]no such file or folder:[/red] {', '.join(missing)}")
        raise typer.Exit(ExitCode.USAGE)
    if isolation not in ("process", "none") or task_runner not in ("thread", "dask"):
        console.print("[red]--isolation must be process or none; --task-runner thread or dask[/red]")
        raise typer.Exit(ExitCode.USAGE)
    if dask_address and task_runner != "dask":
        console.print("[red]--dask-address needs --task-runner dask[/red]")
        raise typer.Exit(ExitCode.USAGE)
    from flows.api_server import early_api_server

    with early_api_server(enabled=not no_prefect) as api_ready:  # boots while we import
        from flows.progress import print_totals, run_cli_batch

        result, prog = run_cli_batch(inputs, out, settings, all_files=all_files,
                                     no_prefect=no_prefect, move=move, task_runner=task_runner,
                                     dask_address=dask_address, isolate=isolation == "process",
                                     console=console, show_bar=not quiet and console.is_terminal,
                                     before_flow=api_ready)
    if not quiet:
        print_summary(result.records, result.skipped)
        print_totals(console, prog, result.records)
    console.print(f"outputs in {out}/: documents.jsonl, documents.csv, invoices.csv, "
                  "receipts.csv, line_items.csv, key_values.csv")
    export_after_batch(out, export_format, preset)
    bad = [r for r in result.records if r.status.value in ("rejected", "failed", "partial")]
    raise typer.Exit(ExitCode.INPUT_ISSUES if bad else ExitCode.OK)


@app.command()
def engines() -> None:
    """List the registered engines of each kind."""
    from extractors.registry import available

    for kind in ("ocr", "classify", "extract", "qa"):
        out_console.print(f"{kind}: {', '.join(available(kind))}")  # type: ignore[arg-type]


@app.command()
def version() -> None:
    """Print docai's pipeline version."""
    from extractors.settings import PIPELINE_VERSION

    out_console.print(f"docai {PIPELINE_VERSION}")


COMMAND_MODULES = ("flows.cmd_eval", "flows.cmd_ask", "flows.cmd_export", "flows.cmd_train",
                   "flows.cmd_ops")
"""Modules that add subcommands to ``app`` (each does ``from flows.cli import app``)."""


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


_register_commands()


def main() -> None:
    """Console-script entry point: the one place exceptions become exit codes."""
    try:
        code = app(standalone_mode=False)  # non-standalone click returns typer.Exit codes
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except DocaiError as exc:
        console.print(f"[red]error ({exc.reason}):[/red] {exc.message}")
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        # typer >= 0.2x raises its vendored click's exceptions (typer.TyperException / typer.Abort)
        if isinstance(exc, click.exceptions.Abort | typer.Abort):
            sys.exit(ExitCode.INTERRUPTED)
        if isinstance(exc, click.exceptions.ClickException | typer.TyperException) and callable(
                getattr(exc, "show", None)):
            exc.show()
            sys.exit(ExitCode.USAGE)
        console.print(f"[red]unexpected error:[/red] {type(exc).__name__}")
        logging.getLogger("docai").debug("unexpected error", exc_info=True)
        sys.exit(ExitCode.OTHER)


if __name__ == "__main__":
    main()
