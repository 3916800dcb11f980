"""The folder flow: one Prefect task per document, isolated in worker processes, results in the ledger.

Tasks receive paths and hashes and return small summaries (sha256, status, pages); records go
straight to the ledger, never through Prefect results. What a batch does, per input:

1. discover → sha256 → skip when the ledger already holds a terminal record for the same content
   and settings (``settings.output_hash()``, which includes the pipeline version);
2. same bytes under two names are processed once;
3. the document runs in a worker process (:mod:`flows.worker`); a worker that crashes or hangs is
   retried once in a fresh process, and a second crash makes the document ``failed``/``poison``;
4. rejected and poison inputs are copied to ``OUT/quarantine/<reason>/`` (moved with ``move``);
5. the record is appended to the ledger (one ``O_APPEND`` write); transient failures are retried by
   Prefect (``retry_condition_fn``) before anything is written;
6. at the end ``documents.jsonl`` and the CSV tables are rebuilt from the ledger, atomically.

A ``kill -9`` at any point loses at most the documents in flight: the same command again skips what
the ledger holds and produces the exports an uninterrupted run would have.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from extractors.errors import (
    DependencyMissing,
    OutputError,
    TransientError,
    UsageError,
    outcome_for,
)
from extractors.pipeline import Pipeline, safe_source
from extractors.preflight import sha256_file
from extractors.settings import PIPELINE_VERSION, Settings
from flows.ledger import Ledger
from schemas.record import Record, Status

__all__ = ["DOCUMENT_SUFFIXES", "TRANSIENT_REASONS", "BatchResult", "InputFile", "discover",
           "get_pipeline", "make_task_runner", "process_document", "process_folder",
           "process_one", "run_batch", "summarize"]

log = logging.getLogger("docai.flow")

DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif"})
"""Files picked up when a folder is given (explicitly named files are always processed)."""

TRANSIENT_REASONS = frozenset({"transient"})
"""Record reasons that Prefect retries (once) before the failure is written to the ledger."""

FATAL = (DependencyMissing, OutputError, UsageError)
"""Errors that stop the whole batch: not any document's fault, every document would hit them."""


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
    processed: int = 0
    """Documents run through the pipeline in this batch (not skipped, not duplicates)."""
    pages: int = 0
    seconds: float = 0.0


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


# -- one document --------------------------------------------------------------------------------

_LEDGERS: dict[str, Ledger] = {}


def _ledger(out: str | Path) -> Ledger:
    """This process's writer for ``out``'s ledger (no temp-file cleaning: other tasks write)."""
    key = os.path.abspath(out)
    with _PIPELINES_LOCK:
        if key not in _LEDGERS:
            _LEDGERS[key] = Ledger(out, clean=False)
        return _LEDGERS[key]

def _failure_record(path: Path, root: Path | None, sha: str, settings: Settings, *,
                    status: Status, reason: str, message: str) -> Record:
    """A record for a document the pipeline could not turn into one (crash, hang, bug)."""
    from extractors.preflight import sniff_type

    try:
        size: int | None = os.lstat(path).st_size
        with open(path, "rb") as f:
            media = sniff_type(f.read(1024))
    except OSError:
        size, media = None, None
    return Record(source=safe_source(path, root), sha256=sha or None, status=status,
                  reason=reason, message=message, pipeline_version=PIPELINE_VERSION,
                  settings_hash=settings.output_hash(), size_bytes=size, media_type=media)


_WARNED_DAEMON: list[bool] = []


def _daemonic() -> bool:
    """True in a daemonic process, which may not start worker processes (says so once)."""
    import multiprocessing

    if not multiprocessing.current_process().daemon:
        return False
    if not _WARNED_DAEMON:
        _WARNED_DAEMON.append(True)
        log.warning("daemonic process (a Dask worker?): documents run in-thread without process "
                    "isolation; set DASK_DISTRIBUTED__WORKER__DAEMON=False on the workers")
    return True


def _run_document(path: Path, root: Path | None, sha: str, settings: Settings, *, isolate: bool,
                  gpu_limit: str | None, api_url: str | None) -> tuple[Record, int]:
    """The record of one document and the number of attempts it took."""
    if isolate and _daemonic():
        isolate = False  # e.g. a Dask worker with distributed.worker.daemon=True (its default)
    if not isolate:
        return get_pipeline(settings).process(path, root=root), 1
    from flows.worker import WorkerCrashed, process_in_worker

    crash: WorkerCrashed | None = None
    for attempt in (1, 2):  # a crash gets one retry in a fresh process, then it is poison
        try:
            return process_in_worker(path, root, settings, gpu_limit=gpu_limit,
                                     api_url=api_url), attempt
        except WorkerCrashed as exc:
            crash = exc
            log.warning("document %s: worker %s (attempt %d of 2)", (sha or "-")[:12],
                        exc.reason, attempt)
    what = "hung" if crash is not None and crash.reason == "hung" else "crashed"
    return _failure_record(path, root, sha, settings, status=Status.FAILED, reason="poison",
                           message=f"the worker process {what} twice on this document"), 2


def process_one(path: str | Path, root: str | Path | None, sha: str, out: str | Path,
                settings: Settings, *, move: bool = False, isolate: bool = False,
                gpu_limit: str | None = None, api_url: str | None = None,
                final_attempt: bool = True, write: bool = True) -> dict[str, Any]:
    """Process one document into the ledger (and quarantine); returns a small summary.

    Args:
        path, root: the input and the folder its ``source`` is relative to.
        sha: its sha256 as discovered (used for logs and the poison record).
        out: the output folder.
        settings: the run's settings.
        move: move rejected/poison inputs into quarantine instead of copying them.
        isolate: run the pipeline in a worker process (crash/hang isolation).
        gpu_limit: Prefect global concurrency limit held around model calls (workers only).
        api_url: the Prefect API the workers use for that limit.
        final_attempt: when False, a transient failure raises ``TransientError`` (Prefect
            retries the task) instead of being written to the ledger.
        write: append to the ledger here; when False the summary carries the record (JSON,
            ``"record"``) for the flow process to append — one writer host for tasks running on
            other machines (Dask) — and, with ``move``, the path to remove after that
            (``"remove"``).

    Raises:
        TransientError: transient failure and not the final attempt.
        DependencyMissing, OutputError, UsageError: the batch cannot go on.
    """
    from flows.quarantine import quarantine

    path = Path(path)
    root_p = Path(root) if root is not None else None
    t0 = time.monotonic()
    try:
        record, attempts = _run_document(path, root_p, sha, settings, isolate=isolate,
                                         gpu_limit=gpu_limit, api_url=api_url)
    except FATAL:
        raise
    except TransientError as exc:
        if not final_attempt:
            raise
        record, attempts = _failure_record(path, root_p, sha, settings, status=Status.FAILED,
                                           reason=exc.reason, message=exc.message), 1
    except Exception as exc:  # the pipeline raised: a typed outcome, never a crashed batch
        status, reason, message = outcome_for(exc)
        record, attempts = _failure_record(path, root_p, sha, settings, status=Status(status),
                                           reason=reason, message=message), 1
    if (record.status == Status.FAILED and record.reason in TRANSIENT_REASONS
            and not final_attempt):
        raise TransientError(f"document {(record.sha256 or sha or '-')[:12]}: transient failure")
    kept = quarantine(path, record, out, move=move)  # before the ledger: a kill re-does it
    extra: dict[str, Any] = {}
    if write:
        _ledger(out).append(record)
        if kept is not None and move:
            remove_original(path, record.sha256)
    else:
        extra["record"] = record.model_dump_json()
        if kept is not None and move:
            extra["remove"] = str(path)
    seconds = time.monotonic() - t0
    log.info("document %s: %s%s, %s pages, %.2fs", (record.sha256 or sha or "-")[:12],
             record.status.value, f" ({record.reason})" if record.reason else "",
             record.pages if record.pages is not None else "-", seconds)
    return {"sha256": record.sha256, "status": record.status.value, "reason": record.reason,
            "pages": record.pages or 0, "seconds": round(seconds, 3), "attempts": attempts,
            "quarantined": kept is not None, **extra}


def remove_original(path: str | Path, sha: str | None) -> None:
    """``--move``: remove a quarantined input from the inbox once its record is in the ledger."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("document %s: could not remove the original (%s)", (sha or "-")[:12],
                    exc.strerror)


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only transient errors; a rejected input (or anything else) is never retried."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


@task(name="process-document", retries=1, retry_delay_seconds=1,
      retry_condition_fn=_retry_transient, cache_result_in_memory=False, persist_result=False,
      task_run_name="document-{sha_prefix}")
def process_document(path: str, root: str | None, out: str, settings_json: str,
                     sha_prefix: str = "", sha: str = "", move: bool = False,
                     isolate: bool = False, gpu_limit: str | None = None,
                     api_url: str | None = None, write: bool = True) -> dict[str, Any]:
    """Prefect task: one document into the ledger; returns a small summary (no document text
    unless ``write`` is False: then the flow process appends the record it returns)."""
    from prefect import get_run_logger
    from prefect.runtime import task_run

    settings = Settings.model_validate_json(settings_json)
    final = int(task_run.run_count or 1) > 1  # one retry (transient errors only)
    summary = process_one(path, root, sha, out, settings, move=move, isolate=isolate,
                          gpu_limit=gpu_limit, api_url=api_url, final_attempt=final,
                          write=write)
    get_run_logger().debug("document %s: %s%s, %d pages, %.2fs", (summary["sha256"] or "-")[:12],
                          summary["status"],
                          f" ({summary['reason']})" if summary["reason"] else "",
                          summary["pages"], summary["seconds"])
    return summary


# -- a batch -----------------------------------------------------------------------------------

Progress = Callable[[dict[str, Any]], None]
Submit = Callable[[list[InputFile], Ledger, Settings, Callable[[Record | dict[str, Any]], None]],
                  None]


def run_batch(
    inputs: Iterable[str | Path],
    out: str | Path,
    settings: Settings | None = None,
    *,
    all_files: bool = False,
    submit: Submit | None = None,
    on_progress: Progress | None = None,
    only: Iterable[str | Path] | None = None,
    move: bool = False,
    isolate: bool = False,
    gpu_limit: str | None = None,
    export: str = "batch",
) -> BatchResult:
    """Process inputs into ``out`` (skipping what the ledger has), then rebuild the outputs.

    Args:
        inputs: files or folders.
        out: the output folder.
        settings: the run's settings.
        all_files: also pick up files without a document suffix.
        submit: runs the pending files (the Prefect flow passes its task submitter); without it
            documents are processed here, one after the other — the plain-Python path.
        on_progress: called with ``{"event": "plan", "total", "pending", "skipped"}`` once, then
            with each document's summary (``status``, ``pages``, …).
        only: process only these paths (a watched folder's completely written files); the
            others are still listed when the ledger has them.
        move: move rejected/poison inputs to quarantine instead of copying them.
        isolate: run documents in worker processes (``flows.worker``).
        gpu_limit: Prefect global concurrency limit around model calls in workers.
        export: ``batch`` — the exports list this batch's inputs; ``ledger`` — every record of
            the ledger (a watched folder).

    Raises:
        DependencyMissing: before any document is touched.
        OutputError: the output folder cannot be written.
    """
    settings = settings or Settings()
    t0 = time.monotonic()
    ledger = Ledger(out)
    result = BatchResult()
    files = discover(inputs, all_files=all_files, ignored=result.ignored)
    if only is not None:
        wanted = {os.path.abspath(p) for p in only}
        files = [f for f in files if str(f.path) in wanted]
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
    if result.skipped:
        log.info("%d inputs already processed (same content and settings): skipped",
                 len(result.skipped))

    def progress(item: Record | dict[str, Any]) -> None:
        if isinstance(item, Record):
            item = {"status": item.status.value, "sha256": item.sha256, "pages": item.pages or 0}
        result.pages += int(item.get("pages") or 0)
        if on_progress is not None:
            on_progress(item)

    if on_progress is not None:
        on_progress({"event": "plan", "total": len(files), "pending": len(pending),
                     "skipped": len(result.skipped)})
    try:
        if pending:
            if isolate:
                from flows.worker import check_in_worker

                check_in_worker(settings)  # a missing dependency fails before any document
            else:
                get_pipeline(settings).check()
            if submit is not None:
                submit(pending, ledger, settings, progress)
            else:
                _run_plain_all(pending, out, settings, move=move, isolate=isolate,
                               gpu_limit=gpu_limit, progress=progress)
    finally:
        if isolate:
            from flows.worker import shutdown_workers

            shutdown_workers()
    result.processed = len(pending)
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
        found = records.get(sha) if sha else records.get(f"source:{f.source}")
        if found is None:
            continue
        if found.source != f.source:
            found = found.model_copy(update={"source": f.source})
        result.records.append(found)
    exported = list(records.values()) if export == "ledger" else result.records
    result.outputs = ledger.write_outputs(exported)
    result.seconds = time.monotonic() - t0
    return result


def _run_plain_all(pending: list[InputFile], out: str | Path, settings: Settings, *, move: bool,
                   isolate: bool, gpu_limit: str | None,
                   progress: Callable[[dict[str, Any]], None]) -> None:
    """The plain-Python batch: ``settings.workers`` documents at a time (threads; with
    ``isolate`` each thread drives its own worker process)."""
    if settings.workers <= 1 or len(pending) <= 1:
        for f in pending:
            _run_plain(f, out, settings, move=move, isolate=isolate, gpu_limit=gpu_limit,
                       progress=progress)
        return
    import concurrent.futures as cf

    lock = threading.Lock()

    def locked(item: dict[str, Any]) -> None:
        with lock:
            progress(item)

    with cf.ThreadPoolExecutor(max_workers=settings.workers,
                               thread_name_prefix="docai-doc") as pool:
        futures = [pool.submit(_run_plain, f, out, settings, move=move, isolate=isolate,
                               gpu_limit=gpu_limit, progress=locked) for f in pending]
        try:
            for fut in cf.as_completed(futures):
                fut.result()  # only fatal errors get here (_run_plain maps the rest)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _run_plain(f: InputFile, out: str | Path, settings: Settings, *, move: bool, isolate: bool,
               gpu_limit: str | None, progress: Callable[[dict[str, Any]], None]) -> None:
    """One document without Prefect (one retry for transient failures, like the task)."""
    for final in (False, True):
        try:
            summary = process_one(f.path, f.root, f.sha, out, settings, move=move,
                                  isolate=isolate, gpu_limit=gpu_limit, final_attempt=final)
        except TransientError:
            continue
        except FATAL:
            raise
        except Exception as exc:  # a bug, not the document: recorded as crashed after the batch
            log.warning("document %s failed: %s", (f.sha or "-")[:12], type(exc).__name__)
            progress({"status": "failed", "sha256": f.sha or None, "pages": 0})
            return
        progress(summary)
        return


_progress_hook: list[Progress] = []
"""Progress callbacks of the CLI running in this process (not flow parameters: not serialisable)."""


def make_task_runner(kind: str = "thread", workers: int | None = None,
                     dask_address: str | None = None) -> Any:
    """The task runner for ``--task-runner``: ``thread`` (default) or ``dask``.

    ``dask`` connects to ``dask_address`` (``tcp://scheduler:8786``) or starts a local cluster
    of threads (the documents still run in docai's own worker processes).

    Raises:
        UsageError: unknown kind, or ``dask`` without prefect-dask installed.
    """
    workers = workers or os.cpu_count() or 1
    if kind == "thread":
        if dask_address:
            raise UsageError("--dask-address needs --task-runner dask")
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind != "dask":
        raise UsageError(f"unknown task runner {kind!r}; use thread or dask")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise DependencyMissing("--task-runner dask needs prefect-dask: pip install 'docai[dask]'",
                                reason="prefect_dask_missing", stage="startup") from exc
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": 1, "threads_per_worker": workers,
                                          "processes": False, "dashboard_address": None})


def _submit_windowed(pending: list[InputFile], settings: Settings,
                     progress: Callable[[Record | dict[str, Any]], None], *, out: str,
                     move: bool, isolate: bool, gpu_limit: str | None,
                     api_url: str | None) -> None:
    """Submit one task per document, at most ``settings.workers`` in flight on a thread runner
    (a deployment's runner may have more threads than the run's settings ask for); progress is
    reported as each finishes. A fatal error (missing dependency, unwritable output) stops the
    submission and is raised once the running tasks are done.

    On a thread runner the tasks append to the ledger themselves; on any other runner (Dask,
    possibly on other machines) they return the record and this process appends it, so the
    ledger has a single writer host even on a network file system."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = getattr(ctx, "task_runner", None)
    local = isinstance(runner, ThreadPoolTaskRunner)
    window = settings.workers if local else len(pending)
    ledger = _ledger(out)
    gate = threading.BoundedSemaphore(max(1, window))
    lock = threading.Lock()
    fatal: list[BaseException] = []
    s_json = settings.model_dump_json()

    def done(fut: Any) -> None:
        try:
            try:
                item = fut.result()
            except FATAL as exc:
                fatal.append(exc)
                return
            except Exception as exc:  # a crashed task; its document is recorded as failed later
                log.warning("document task failed: %s", type(exc).__name__)
                item = {"status": "failed", "sha256": None, "pages": 0}
            with lock:
                record = item.pop("record", None)
                if record is not None:  # a task on another machine: this process writes
                    ledger.append(Record.model_validate_json(record))
                    if item.get("remove"):
                        remove_original(item.pop("remove"), item.get("sha256"))
                progress(item)
        except FATAL as exc:
            fatal.append(exc)
        finally:
            gate.release()

    size = max(1, window)
    for f in pending:
        gate.acquire()
        if fatal:
            gate.release()
            break
        fut = process_document.submit(str(f.path), str(f.root) if f.root else None, str(out),
                                      s_json, sha_prefix=f.sha[:12], sha=f.sha, move=move,
                                      isolate=isolate, gpu_limit=gpu_limit, api_url=api_url,
                                      write=local)
        fut.add_done_callback(done)  # no list of futures: memory stays flat over long batches
    for _ in range(size):  # every permit back: every submitted task has finished
        gate.acquire()
    for _ in range(size):
        gate.release()
    if fatal:
        raise fatal[0]


def _api_url() -> str | None:
    """The Prefect API this flow run talks to (handed to worker processes for the gpu limit)."""
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return str(client.api_url)
    except Exception:
        return None


@flow(name="docai-process", log_prints=False, persist_result=False,
      task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 1))  # type: ignore[arg-type]
def process_folder(inputs: list[str], out: str, settings_json: str | None = None,
                   all_files: bool = False, options: dict[str, Any] | None = None,
                   move: bool = False, isolate: bool = True, only: list[str] | None = None,
                   export: str = "batch", gpu_limit: str | None = "gpu") -> dict[str, int]:
    """Prefect flow: process every document under ``inputs`` into ``out``; counts by status.

    Args:
        inputs: files or folders.
        out: output folder (ledger, exports, quarantine).
        settings_json: the full :class:`Settings` as JSON (the CLI passes this).
        all_files: also try files without a document suffix.
        options: settings overrides by name (``{"lang": "eng+deu"}``) — handy in deployments.
        move: move rejected/poison inputs to quarantine instead of copying them.
        isolate: run documents in worker processes (default; ``False`` runs them in-thread).
        only: process only these files (the watched folder's ready files).
        export: ``batch`` or ``ledger`` (see :func:`run_batch`).
        gpu_limit: global concurrency limit held around model calls (``None``: no limit).

    Run it with ``process_folder.with_options(task_runner=make_task_runner(...))`` for N
    concurrent documents or Dask (the CLI does this for ``--workers``/``--task-runner``).
    """
    settings = Settings.model_validate_json(settings_json) if settings_json else Settings()
    if options:
        settings = Settings(**{**settings.model_dump(), **options})
    api_url = _api_url() if (isolate and gpu_limit) else None

    def submit(pending: list[InputFile], ledger: Ledger, s: Settings,
               progress: Callable[[Record | dict[str, Any]], None]) -> None:
        _submit_windowed(pending, s, progress, out=out, move=move, isolate=isolate,
                         gpu_limit=gpu_limit, api_url=api_url)

    hook = _progress_hook[-1] if _progress_hook else None
    result = run_batch(inputs, out, settings, all_files=all_files, submit=submit,
                       on_progress=hook, only=only, move=move, isolate=isolate,
                       gpu_limit=gpu_limit, export=export)
    return summarize(result)


def summarize(result: BatchResult) -> dict[str, int]:
    """Counts by status, plus ``skipped``, ``ignored``, ``processed`` and ``pages``."""
    counts: dict[str, int] = {}
    for r in result.records:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    counts["skipped"] = len(result.skipped)
    counts["ignored"] = len(result.ignored)
    counts["processed"] = result.processed
    counts["pages"] = result.pages
    return counts
