"""The CLI side of a batch: task runner choice, live progress bar and the totals table.

The bar shows documents done / to do, pages, documents per second, failures and the ETA; skipped
documents (already in the ledger) are not counted in the bar's total, so the rate and ETA describe
the work actually left. Nothing here logs document text: the bar shows counts only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from extractors.settings import Settings

__all__ = ["BatchProgress", "print_totals", "run_cli_batch"]

BAD = ("failed", "rejected")


class BatchProgress:
    """Progress callback (``on_progress``) driving a rich progress bar; also keeps the totals."""

    def __init__(self, console: Console, *, disable: bool = False) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]documents"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[pages]} pages"), TextColumn("{task.fields[rate]} docs/s"),
            TextColumn("[red]{task.fields[failed]} failed[/red]"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=True, disable=disable,
        )
        self.bar = self.progress.add_task("documents", total=None, pages=0, rate="-", failed=0)
        self.counts: dict[str, int] = {}
        self.done = 0
        self.pages = 0
        self.failed = 0
        self.total = 0
        self.skipped = 0
        self.t0 = time.monotonic()

    def __enter__(self) -> BatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, item: dict[str, Any]) -> None:
        if item.get("event") == "plan":
            self.total = int(item.get("total") or 0)
            self.skipped = int(item.get("skipped") or 0)
            self.t0 = time.monotonic()
            self.progress.update(self.bar, total=int(item.get("pending") or 0))
            return
        status = str(item.get("status") or "failed")
        self.counts[status] = self.counts.get(status, 0) + 1
        self.done += 1
        self.pages += int(item.get("pages") or 0)
        if status in BAD:
            self.failed += 1
        self.progress.update(self.bar, advance=1, pages=self.pages, rate=f"{self.rate():.2f}",
                             failed=self.failed)

    def rate(self) -> float:
        """Documents per second since the plan."""
        return self.done / max(time.monotonic() - self.t0, 1e-6)

    def elapsed(self) -> float:
        """Seconds since the plan."""
        return time.monotonic() - self.t0


def print_totals(console: Console, prog: BatchProgress, records: Sequence[Any]) -> None:
    """The end-of-batch totals: outcomes of all inputs, work done now, speed."""
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r.status.value] = by_status.get(r.status.value, 0) + 1
    table = Table(title="batch totals", show_header=False, box=None, padding=(0, 2))
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("inputs", str(len(records)))
    for name in ("ok", "needs_review", "partial", "rejected", "failed"):
        if by_status.get(name):
            table.add_row(f"  {name}", str(by_status[name]))
    table.add_row("processed now", str(prog.done))
    table.add_row("skipped (already in the ledger)", str(prog.skipped))
    table.add_row("pages", str(prog.pages))
    table.add_row("documents/s", f"{prog.rate():.2f}")
    table.add_row("elapsed", f"{prog.elapsed():.1f}s")
    console.print(table)


def run_cli_batch(inputs: Sequence[Path], out: Path, settings: Settings, *, all_files: bool,
                  no_prefect: bool, move: bool, task_runner: str, dask_address: str | None,
                  isolate: bool, console: Console, show_bar: bool,
                  before_flow: Callable[[], None] | None = None) -> tuple[Any, BatchProgress]:
    """Run the batch (through the Prefect flow unless ``no_prefect``) under a progress bar.

    Returns:
        The batch's :class:`~flows.process.BatchResult` (records of every input) and the
        progress object (totals).
    """
    from flows.process import (
        _progress_hook,
        make_task_runner,
        process_folder,
        run_batch,
    )

    runner = None if no_prefect else make_task_runner(task_runner, settings.workers, dask_address)
    prog = BatchProgress(console, disable=not show_bar)
    with prog:
        if no_prefect:
            result = run_batch(inputs, out, settings, all_files=all_files, on_progress=prog,
                               move=move, isolate=isolate)
        else:
            if before_flow is not None:
                before_flow()  # e.g. wait for the early-started Prefect API server
            _progress_hook.append(prog)
            try:
                flow = process_folder.with_options(task_runner=runner)
                flow([str(p) for p in inputs], str(out), settings.model_dump_json(), all_files,
                     move=move, isolate=isolate)
            finally:
                _progress_hook.remove(prog)
            result = _read_back(out)
            result.skipped = ["?"] * prog.skipped
    return result, prog


def _read_back(out: Path) -> Any:
    """The batch's records as written (the flow itself returns only counts)."""
    from flows.process import BatchResult
    from schemas.record import Record

    result = BatchResult()
    path = Path(out) / "documents.jsonl"
    if path.exists():
        result.records = [Record.model_validate_json(line) for line in
                          path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return result
