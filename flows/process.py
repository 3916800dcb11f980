"""The folder flow: one Prefect task per document, concurrent across cores, results in the ledger.

Tasks receive paths and return small summaries (sha256, status); records go straight to the
ledger, never through Prefect results.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from extractors.errors import TransientError
from extractors.pipeline import Pipeline, safe_source
from extractors.preflight import sha256_file
from extractors.settings import PIPELINE_VERSION, Settings
from flows.ledger import Ledger
from schemas.record import Record, Status

__all__ = ["DOCUMENT_SUFFIXES", "BatchResult", "InputFile", "discover", "get_pipeline",
           "process_folder", "run_batch", "summarize"]

log = logging.getLogger("docai.flow")

DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif"})
"""Files picked up when a folder is given (explicitly named files are always processed)."""


@dataclass(frozen=True)
class InputFile:
    """One input: its path and the folder its ``source`` is relative to."""

    path: Path
    root: Path | None
    sha: str = ""

    @property
    def source(self) -> str:
        """The record's ``source``."""
        return safe_source(self.path, self.root)


@dataclass
class BatchResult:
    """What a batch did: every input's record, and which were skipped as already done."""

    records: list[Record] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


def discover(inputs: Iterable[str | Path], *, all_files: bool = False,
             ignored: list[str] | None = None) -> list[InputFile]:
    """Files to process, in a stable order. Symlinks leaving a folder, FIFOs, sockets and hidden
    files are skipped (listed in ``ignored``); a folder is walked recursively."""
    found: list[InputFile] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            root = p.resolve()
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    fp = Path(dirpath) / name
                    if name.startswith("."):
                        continue
                    if not all_files and fp.suffix.lower() not in DOCUMENT_SUFFIXES:
                        continue
                    if _regular_inside(fp, root, ignored):
                        found.append(InputFile(Path(os.path.abspath(fp)), root))
        else:
            found.append(InputFile(Path(os.path.abspath(p)), Path(os.path.abspath(p)).parent))
    return found


def _regular_inside(fp: Path, root: Path, ignored: list[str] | None) -> bool:
    try:
        st = os.lstat(fp)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        try:
            target = fp.resolve(strict=True)
            inside = target.is_relative_to(root) and target.is_file()
        except OSError:
            inside = False
        if not inside and ignored is not None:
            ignored.append(safe_source(fp, root))
        return inside
    if not stat.S_ISREG(st.st_mode):
        if ignored is not None:
            ignored.append(safe_source(fp, root))
        return False
    return True


_PIPELINES: dict[str, Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def get_pipeline(settings: Settings) -> Pipeline:
    """One :class:`Pipeline` per process and settings (models load once, reused by all tasks)."""
    key = settings.model_dump_json()
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = Pipeline(settings)
        return _PIPELINES[key]


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only transient errors; a rejected input is never retried."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


@task(name="process-document", retries=1, retry_condition_fn=_retry_transient,
      cache_result_in_memory=False, persist_result=False,
      task_run_name="document-{sha_prefix}")
def process_document(path: str, root: str | None, out: str, settings_json: str,
                     sha_prefix: str = "") -> dict[str, Any]:
    """Process one document and append its record to the ledger; returns a small summary."""
    settings = Settings.model_validate_json(settings_json)
    record = get_pipeline(settings).process(path, root=root)
    Ledger(out).append(record)
    return {"sha256": record.sha256, "status": record.status.value, "source": record.source}


def run_batch(
    inputs: Iterable[str | Path],
    out: str | Path,
    settings: Settings | None = None,
    *,
    all_files: bool = False,
    submit: Callable[[list[InputFile], Ledger, Settings, Callable[[Record | dict[str, Any]], None]],
                     None] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Process inputs into ``out`` (skipping what the ledger has), then rebuild the outputs.

    ``submit`` runs the pending files (the Prefect flow passes its task submitter); without it
    documents are processed in this thread — the plain-Python path, no Prefect involved.
    """
    settings = settings or Settings()
    ledger = Ledger(out)
    result = BatchResult()
    files = discover(inputs, all_files=all_files, ignored=result.ignored)
    done = ledger.load()
    digest = settings.output_hash()
    pending: list[InputFile] = []
    sha_of: dict[Path, str | None] = {}
    seen: dict[str, InputFile] = {}
    for f in files:
        try:
            sha = sha256_file(f.path)
        except OSError:
            sha = None
        sha_of[f.path] = sha
        if sha and ledger.is_done(done, sha, digest):
            result.skipped.append(f.source)
            continue
        if sha and sha in seen:
            continue  # same bytes under another name: processed once
        if sha:
            seen[sha] = f
        pending.append(InputFile(f.path, f.root, sha or ""))

    def progress(item: Record | dict[str, Any]) -> None:
        if on_progress is not None:
            on_progress(item if isinstance(item, dict) else {"status": item.status.value,
                                                             "sha256": item.sha256})

    if pending:
        pipe = get_pipeline(settings)
        pipe.check()  # a missing dependency fails the batch before any document is touched
        if submit is not None:
            submit(pending, ledger, settings, progress)
        else:
            for f in pending:
                rec = pipe.process(f.path, root=f.root)
                ledger.append(rec)
                progress(rec)
    # one record per input file, rebuilt from the ledger; a task that died left no record
    records = ledger.load()
    for f in pending:
        if (f.sha or f"source:{f.source}") not in records:
            rec = Record(source=f.source, sha256=f.sha or None, status=Status.FAILED,
                         reason="crashed", message="the document's task died",
                         pipeline_version=PIPELINE_VERSION, settings_hash=digest)
            ledger.append(rec)
            records[f.sha or f"source:{f.source}"] = rec
    for f in files:
        sha = sha_of.get(f.path)
        rec = records.get(sha) if sha else records.get(f"source:{f.source}")
        if rec is None:
            continue
        if rec.source != f.source:
            rec = rec.model_copy(update={"source": f.source})
        result.records.append(rec)
    result.outputs = ledger.write_outputs(result.records)
    return result


_progress_hook: list[Callable[[dict[str, Any]], None]] = []
"""Progress callbacks of the CLI running in this process (not flow parameters: not serialisable)."""


@flow(name="docai-process", log_prints=False, persist_result=False,
      task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 1))
def process_folder(inputs: list[str], out: str, settings_json: str | None = None,
                   all_files: bool = False) -> dict[str, int]:
    """Prefect flow: process every document under ``inputs`` into ``out``; counts by status.

    Run it with ``process_folder.with_options(task_runner=ThreadPoolTaskRunner(max_workers=N))``
    for N concurrent documents (the CLI does this for ``--workers``).
    """
    from prefect.futures import as_completed

    settings = Settings.model_validate_json(settings_json) if settings_json else Settings()

    def submit(pending: list[InputFile], ledger: Ledger, s: Settings,
               progress: Callable[[Record | dict[str, Any]], None]) -> None:
        futures = [process_document.submit(str(f.path), str(f.root) if f.root else None, str(out),
                                           s.model_dump_json(), sha_prefix=f.sha[:12])
                   for f in pending]
        for fut in as_completed(futures):
            try:
                progress(fut.result())
            except Exception as exc:  # a crashed task; its document is recorded as failed below
                log.warning("document task failed: %s", type(exc).__name__)
                progress({"status": "failed", "sha256": None})

    hook = _progress_hook[-1] if _progress_hook else None
    result = run_batch(inputs, out, settings, all_files=all_files, submit=submit, on_progress=hook)
    return summarize(result)


def summarize(result: BatchResult) -> dict[str, int]:
    """Counts by status, plus ``skipped`` and ``ignored``."""
    counts: dict[str, int] = {}
    for r in result.records:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    counts["skipped"] = len(result.skipped)
    counts["ignored"] = len(result.ignored)
    return counts
