"""Process isolation: each document is read, rendered, OCR'd and extracted in a worker process.

A document task (a thread of the flow) checks out a :class:`WorkerSlot` — one worker process of its
own, reused for the next documents — and waits for the result while watching a heartbeat the worker
refreshes at every page (``extractors.hooks.alive``) and model call. So:

- a worker that dies (``SIGKILL`` by the OOM killer, a segfault in a native library) fails *that*
  document with :class:`WorkerCrashed`; the slot starts a fresh process for the next one;
- a worker that stops making progress for :func:`watchdog_s` seconds (a hung native call the
  engines' own timeouts could not stop) is killed and the document fails with
  :class:`WorkerHung`;
- the other documents of the batch, in their own slots, are not affected.

Workers start through ``forkserver`` (``spawn`` where it does not exist): never a fork of the
multi-threaded parent. Each worker sets Pillow's decompression-bomb limit from
``settings.max_page_pixels`` (and turns the bomb warning into an error) in its initializer — the
parent's Pillow settings are left alone — ignores ``SIGINT`` (Ctrl-C is the parent's business),
repeats the parent's engine registrations and ``DOCAI_*`` environment, and is replaced after
:data:`MAX_TASKS_PER_CHILD` documents so memory stays flat over long batches.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from extractors import errors as _errors
from extractors.errors import DocaiError
from extractors.settings import Settings

__all__ = [
    "MAX_TASKS_PER_CHILD",
    "WorkerCrashed",
    "WorkerHung",
    "WorkerSlot",
    "check_in_worker",
    "process_in_worker",
    "shutdown_workers",
    "watchdog_s",
    "worker_slot",
]

log = logging.getLogger("docai.worker")

MAX_TASKS_PER_CHILD = 50
"""Documents a worker process handles before it is replaced (keeps memory flat)."""

START_METHOD = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"

_CTX = mp.get_context(START_METHOD)
if START_METHOD == "forkserver":
    # imported once in the fork server, so each worker starts with the pipeline already loaded;
    # ``__main__`` too, or every worker would re-import the main script (multiprocessing's rule)
    _CTX.set_forkserver_preload(["__main__", "flows.worker", "extractors.pipeline"])


class WorkerCrashed(DocaiError):
    """The worker process died while handling the document (killed, crashed, out of memory)."""

    reason = "crashed"


class WorkerHung(WorkerCrashed):
    """The worker made no progress for too long and was killed."""

    reason = "hung"


def watchdog_s(settings: Settings) -> float:
    """Seconds without a heartbeat after which a worker counts as hung.

    The engines enforce ``render_timeout_s``/``ocr_timeout_s`` per page themselves; the watchdog
    only catches what they cannot stop, so it allows twice a page's budget plus start-up time.
    """
    return 2.0 * (settings.render_timeout_s + settings.ocr_timeout_s) + 5.0


# -- inside the worker process ---------------------------------------------------------------

_W: dict[str, Any] = {}


def _beat() -> None:
    hb = _W.get("heartbeat")
    if hb is not None:
        hb.value = time.time()


class _BeatingOcr:
    """Proxy of the OCR engine that refreshes the heartbeat around every page."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def ocr(self, image: Any, *, page_number: int) -> Any:
        _beat()
        try:
            return self._engine.ocr(image, page_number=page_number)
        finally:
            _beat()


def _init(settings_json: str, registrations: dict[str, dict[str, Any]], env: dict[str, str],
          heartbeat: Any, gpu_limit: str | None) -> None:
    """Worker initializer (runs once per worker process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for key in [k for k in os.environ if k.startswith("DOCAI_") and k not in env]:
        del os.environ[key]  # the fork server's environment may be older than the parent's
    os.environ.update(env)
    settings = Settings.model_validate_json(settings_json)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = settings.max_page_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    from extractors import hooks, registry

    for kind, entries in registrations.items():
        for name, factory in entries.items():
            registry.register(kind, name, factory)  # type: ignore[arg-type]
    hooks.progress_beat = _beat
    if gpu_limit:
        from flows.gpu import install

        install(gpu_limit)
    _W.update(settings=settings, heartbeat=heartbeat, pipeline=None)
    _beat()


def _pipeline() -> Any:
    pipe = _W.get("pipeline")
    if pipe is None:
        from extractors import registry
        from extractors.pipeline import Pipeline

        s: Settings = _W["settings"]
        pipe = Pipeline(s, ocr=_BeatingOcr(registry.create("ocr", s.ocr_engine, s)))
        _W["pipeline"] = pipe
        _beat()
    return pipe


def _error_payload(exc: DocaiError) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "reason": exc.reason, "message": exc.message,
                      "stage": exc.stage}}


def _check() -> dict[str, Any]:
    """Build the pipeline and check its dependencies (in the worker)."""
    try:
        _pipeline().check()
    except DocaiError as exc:
        return _error_payload(exc)
    return {}


def _process(path: str, root: str | None) -> dict[str, Any]:
    """Process one document (in the worker); the record travels back as JSON."""
    _beat()
    try:
        record = _pipeline().process(path, root=root)
    except DocaiError as exc:  # e.g. an engine that cannot be built, a transient failure
        return _error_payload(exc)
    except Exception as exc:  # typed here: an exception's text may quote the document
        from extractors.errors import outcome_for

        status, reason, message = outcome_for(exc)
        kind = "InputRejected" if status == "rejected" else "DocaiError"
        return {"error": {"type": kind, "reason": reason, "message": message,
                          "stage": "pipeline"}}
    return {"record": record.model_dump_json(), "pid": os.getpid()}


# -- in the parent ---------------------------------------------------------------------------

def _raise_payload(payload: dict[str, Any]) -> None:
    err = payload.get("error")
    if not err:
        return
    cls = getattr(_errors, str(err.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, DocaiError)):
        cls = DocaiError
    raise cls(err.get("message") or "", reason=err.get("reason"), stage=err.get("stage"))


def _picklable(registrations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keep: dict[str, dict[str, Any]] = {}
    for kind, entries in registrations.items():
        for name, factory in entries.items():
            try:
                pickle.dumps(factory)
            except Exception:
                log.warning("engine %s/%s cannot be sent to worker processes", kind, name)
                continue
            keep.setdefault(kind, {})[name] = factory
    return keep


def _worker_env(api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("DOCAI_")}
    env["OMP_THREAD_LIMIT"] = os.environ.get("OMP_THREAD_LIMIT", "1")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


class WorkerSlot:
    """One worker process, used by one document at a time.

    Args:
        settings: the run's settings (built into the worker's pipeline).
        gpu_limit: name of the Prefect global concurrency limit held around model calls, or None.
        api_url: the Prefect API the worker talks to for that limit.
        max_tasks: documents per worker process before it is replaced.
    """

    def __init__(self, settings: Settings, *, gpu_limit: str | None = None,
                 api_url: str | None = None, max_tasks: int = MAX_TASKS_PER_CHILD) -> None:
        from extractors.registry import registrations

        self.settings_json = settings.model_dump_json()
        self.idle_timeout_s = watchdog_s(settings)
        self.gpu_limit = gpu_limit
        self.env = _worker_env(api_url if gpu_limit else None)
        self.max_tasks = max_tasks
        self.registrations = _picklable(registrations())
        self.heartbeat = _CTX.Value("d", time.time(), lock=False)
        self._pool: cf.ProcessPoolExecutor | None = None
        self.started = 0
        """Worker processes started by this slot (for tests and the benchmark)."""

    # pool management
    def _ensure(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=1, mp_context=_CTX, initializer=_init,
                initargs=(self.settings_json, self.registrations, self.env, self.heartbeat,
                          self.gpu_limit),
                max_tasks_per_child=self.max_tasks,
            )
            self.started += 1
        return self._pool

    def pids(self) -> list[int]:
        """Process ids of the live worker(s)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def kill(self) -> None:
        """Kill the worker process now (a hung or broken worker) and forget the pool."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill()
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(5)

    def close(self) -> None:
        """Stop the worker cleanly (waits for a running call)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.shutdown(wait=True, cancel_futures=True)

    def call(self, fn: Callable[..., dict[str, Any]], *args: Any,
             idle_timeout_s: float | None = None) -> dict[str, Any]:
        """Run ``fn(*args)`` in the worker under the watchdog.

        Raises:
            WorkerCrashed: the worker died; the next call starts a fresh one.
            WorkerHung: no heartbeat for ``idle_timeout_s``; the worker was killed.
        """
        limit = self.idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        self.heartbeat.value = time.time()
        try:
            future = self._ensure().submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # broken since the last call: start afresh
            self.kill()
            self.heartbeat.value = time.time()
            future = self._ensure().submit(fn, *args)
        while True:
            try:
                result = future.result(timeout=min(1.0, limit))
            except cf.TimeoutError:
                idle = time.time() - self.heartbeat.value
                if idle > limit:
                    self.kill()
                    raise WorkerHung(f"no progress for {idle:.0f}s; the worker was killed",
                                     stage="worker") from None
                continue
            except BrokenProcessPool:
                self.kill()
                raise WorkerCrashed("the worker process died", stage="worker") from None
            return result


_IDLE: dict[str, list[WorkerSlot]] = {}
_ALL: list[WorkerSlot] = []
_LOCK = threading.Lock()


def _slot_key(settings: Settings, gpu_limit: str | None, api_url: str | None) -> str:
    blob = json.dumps([settings.model_dump_json(), gpu_limit, api_url,
                       sorted(_worker_env(None).items())])
    return hashlib.sha256(blob.encode()).hexdigest()


@contextlib.contextmanager
def worker_slot(settings: Settings, *, gpu_limit: str | None = None,
                api_url: str | None = None) -> Iterator[WorkerSlot]:
    """Check out an idle worker slot for ``settings`` (a new one when all are busy)."""
    key = _slot_key(settings, gpu_limit, api_url)
    with _LOCK:
        idle = _IDLE.get(key)
        slot = idle.pop() if idle else None
    if slot is None:
        slot = WorkerSlot(settings, gpu_limit=gpu_limit, api_url=api_url)
        with _LOCK:
            _ALL.append(slot)
    try:
        yield slot
    finally:
        with _LOCK:
            _IDLE.setdefault(key, []).append(slot)


def process_in_worker(path: str | Path, root: str | Path | None, settings: Settings, *,
                      gpu_limit: str | None = None, api_url: str | None = None) -> Any:
    """Process one document in a worker process; returns its :class:`~schemas.record.Record`.

    Raises:
        WorkerCrashed / WorkerHung: the worker died or hung (the caller decides on a retry).
        DocaiError: the pipeline could not be built (e.g. ``DependencyMissing``).
    """
    from schemas.record import Record

    with worker_slot(settings, gpu_limit=gpu_limit, api_url=api_url) as slot:
        payload = slot.call(_process, str(path), str(root) if root is not None else None)
    _raise_payload(payload)
    return Record.model_validate_json(payload["record"])


def check_in_worker(settings: Settings, *, gpu_limit: str | None = None,
                    api_url: str | None = None) -> None:
    """Build the pipeline in a worker and check its dependencies (``DependencyMissing``)."""
    with worker_slot(settings, gpu_limit=gpu_limit, api_url=api_url) as slot:
        payload = slot.call(_check)
    _raise_payload(payload)


def shutdown_workers(*, kill: bool = False) -> None:
    """Stop every worker process of this process (end of a batch, exit)."""
    with _LOCK:
        slots = list(_ALL)
        _ALL.clear()
        _IDLE.clear()
    for slot in slots:
        if kill:
            slot.kill()
        else:
            slot.close()


atexit.register(shutdown_workers, kill=True)
