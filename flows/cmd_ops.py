"""``docai serve`` (scheduled batches) and ``docai watch`` (a watched inbox).

Both run the same folder flow as ``docai process`` (one task per document, worker-process
isolation, the ledger, quarantine). See the README section "Running docai in production".
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from extractors.errors import ExitCode
from flows.cli import (
    ClsOpt,
    DeviceOpt,
    DpiOpt,
    ExtOpt,
    LangOpt,
    ModelOpt,
    OcrOpt,
    _configure_logging,
    app,
    console,
    settings_from_options,
)

__all__ = ["serve", "watch"]


def _options(**given: Any) -> dict[str, Any]:
    """Settings overrides that differ from the defaults (validated; ``workers`` kept when set)."""
    from extractors.settings import Settings

    settings = settings_from_options(**given)
    defaults = Settings()
    keep = {k: v for k, v in settings.model_dump().items()
            if k in given and given[k] is not None and v != getattr(defaults, k)}
    if given.get("workers") is not None:
        keep["workers"] = settings.workers
    return keep


@app.command()
def serve(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Folders (or files) to process on each run.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help='Cron schedule, e.g. "0 2 * * *" (02:00 every day).')] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Run every N seconds instead of a cron schedule.")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA time zone of the cron schedule, e.g. Europe/Berlin.")] = None,
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "docai-batch",
    config: Annotated[Path | None, typer.Option("--config", help="TOML/YAML file with several jobs ([[job]] tables; see flows/schedule.py).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Flow runs executed at the same time by this process.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the deployments and exit (nothing is served).")] = False,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Documents processed at once per run.")] = None,
    lang: LangOpt = None,
    dpi: DpiOpt = None,
    ocr_engine: OcrOpt = None,
    classify_engine: ClsOpt = None,
    extract_engine: ExtOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    all_files: Annotated[bool, typer.Option("--all-files", help="Also try files without a document extension.")] = False,
    move: Annotated[bool, typer.Option("--move", help="Move rejected inputs into OUT/quarantine (default: copy).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (hash prefixes only).")] = False,
) -> None:
    """Run the folder flow on a schedule (Prefect deployments served by this process).

    Point PREFECT_API_URL at a Prefect server (`prefect server start`) to see runs in its UI;
    with a work pool and workers instead, use prefect.yaml (see the README, "Work pools and workers").
    """
    _configure_logging(verbose)
    from extractors.errors import UsageError
    from flows.schedule import Job, build_deployments, load_jobs, serve_jobs

    try:
        if config is not None:
            if inputs or out or cron or interval:
                raise UsageError("--config replaces INPUT/--out/--cron/--interval")
            jobs = load_jobs(config)
        else:
            if not inputs or out is None:
                raise UsageError("give INPUT... and --out (or --config FILE)")
            opts = _options(workers=workers, lang=lang, dpi=dpi, ocr_engine=ocr_engine,
                            classify_engine=classify_engine, extract_engine=extract_engine,
                            model=model, device=device)
            jobs = [Job(name=name, inputs=[str(p) for p in inputs], out=str(out), cron=cron,
                        interval_s=interval, timezone=timezone, options=opts,
                        all_files=all_files, move=move).validate()]
        deployments = build_deployments(jobs)
    except UsageError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(ExitCode.USAGE) from None
    for dep in deployments:
        when = "; ".join(_describe(s.schedule) for s in dep.schedules)
        console.print(f"deployment [bold]{dep.name}[/bold]: {when}; "
                      f"inputs={dep.parameters['inputs']} out={dep.parameters['out']}")
    if dry_run:
        raise typer.Exit(ExitCode.OK)
    serve_jobs(jobs, limit=limit)


def _describe(schedule: Any) -> str:
    cron = getattr(schedule, "cron", None)
    if cron:
        tz = getattr(schedule, "timezone", None)
        return f"cron {cron!r}" + (f" ({tz})" if tz else "")
    interval = getattr(schedule, "interval", None)
    return f"every {interval}" if interval is not None else str(schedule)


@app.command()
def watch(
    inputs: Annotated[list[Path], typer.Argument(help="Folders to watch (polled).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    poll: Annotated[float, typer.Option("--poll", help="Seconds between polls.")] = 2.0,
    settle: Annotated[int, typer.Option("--settle", help="Polls a file's size/mtime must stay unchanged (>= 2).")] = 2,
    ready_timeout: Annotated[float | None, typer.Option("--ready-timeout", help="Process a stable file without an end marker after this many seconds (default 300; 10 with --once).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Process what is there (once written) and exit.")] = False,
    no_prefect: Annotated[bool, typer.Option("--no-prefect", help="Run batches in-process without Prefect.")] = False,
    isolation: Annotated[str, typer.Option("--isolation", help="process (default) or none.")] = "process",
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Documents processed at once.")] = None,
    lang: LangOpt = None,
    dpi: DpiOpt = None,
    ocr_engine: OcrOpt = None,
    classify_engine: ClsOpt = None,
    extract_engine: ExtOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    all_files: Annotated[bool, typer.Option("--all-files", help="Also try files without a document extension.")] = False,
    move: Annotated[bool, typer.Option("--move", help="Move rejected inputs into OUT/quarantine (default: copy).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (hash prefixes only).")] = False,
) -> None:
    """Process files as they arrive in INPUT, each once, when completely written.

    Stops on Ctrl-C or SIGTERM (after the batch in progress). Restarting is safe: the ledger in
    OUT remembers what was processed.
    """
    _configure_logging(verbose)
    if isolation not in ("process", "none"):
        console.print("[red]--isolation must be process or none[/red]")
        raise typer.Exit(ExitCode.USAGE)
    missing = [str(p) for p in inputs if not p.is_dir()]
    if missing:
        console.print(f"[red]not a folder:[/red] {', '.join(missing)}")
        raise typer.Exit(ExitCode.USAGE)
    settings = settings_from_options(workers=workers, lang=lang, dpi=dpi, ocr_engine=ocr_engine,
                                     classify_engine=classify_engine,
                                     extract_engine=extract_engine, model=model, device=device)
    from flows.watch import Watcher

    totals: dict[str, int] = {}

    def report(counts: dict[str, int]) -> None:
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        done = {k: v for k, v in counts.items() if v and k not in ("ignored",)}
        console.print(f"batch: {done}")

    if ready_timeout is None:
        ready_timeout = max(10.0, 5 * poll) if once else 300.0
    watcher = Watcher(inputs, out, settings, poll_s=poll, settle_polls=settle,
                      ready_timeout_s=ready_timeout, all_files=all_files, move=move,
                      use_prefect=not no_prefect, isolate=isolation == "process", on_batch=report)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"watching {', '.join(str(p) for p in inputs)} every {poll:g}s "
                  f"(outputs in {out}/); Ctrl-C to stop")
    try:
        watcher.run(stop=stop, until_idle=once)
    finally:
        signal.signal(signal.SIGTERM, previous)
    bad = totals.get("rejected", 0) + totals.get("failed", 0) + totals.get("partial", 0)
    raise typer.Exit(ExitCode.INPUT_ISSUES if bad else ExitCode.OK)
