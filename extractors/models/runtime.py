"""Model runtime: device and precision, loading with clear errors, a per-process cache, batching.

Nothing here imports torch or transformers at import time; :func:`require_torch` does it on first
use and turns a missing install into :class:`~extractors.errors.DependencyMissing`.

Every model call runs inside :func:`model_call`, which on CUDA holds
:func:`extractors.hooks.model_call` (the flows install a Prefect global concurrency limit named
``gpu`` there — ``flows/gpu.py`` — without ``extractors`` importing Prefect) and on CPU only beats
the worker heartbeat (:func:`extractors.hooks.alive`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Generic, TypeVar

from extractors.errors import DependencyMissing, UsageError

__all__ = [
    "BatchRunner",
    "cached",
    "clear_cache",
    "is_offline",
    "load_pretrained",
    "model_call",
    "require_torch",
    "resolve_device",
    "resolve_dtype",
]

log = logging.getLogger("docai.models")

T = TypeVar("T")
R = TypeVar("R")


def model_call(device: Any) -> AbstractContextManager[Any]:
    """What to hold around one model call on ``device``: the GPU guard on CUDA, nothing on CPU."""
    from extractors import hooks

    if str(getattr(device, "type", device)).startswith("cuda"):
        return hooks.model_call()
    hooks.alive()
    return nullcontext()


def require_torch() -> Any:
    """Import torch and transformers (once), or raise ``DependencyMissing``."""
    try:
        import torch
        import transformers  # noqa: F401
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise DependencyMissing(
            "model engines need torch and transformers: pip install 'docai[models]'",
            reason="models_not_installed") from exc
    hf_logging.disable_progress_bar()
    if os.environ.get("DOCAI_HF_VERBOSE", "") == "":
        hf_logging.set_verbosity_error()
    return torch


def resolve_device(spec: str | None) -> Any:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` → a ``torch.device``.

    Raises:
        UsageError: an unknown spelling or a CUDA index that does not exist.
        DependencyMissing: CUDA asked for explicitly but not available.
    """
    torch = require_torch()
    s = (spec or "cpu").strip().lower()
    if s == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if not m:
        raise UsageError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DependencyMissing(f"device {s} requested but CUDA is not available "
                                "(use --device auto or cpu)", reason="cuda_unavailable")
    index = int(m.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise UsageError(f"device {s} does not exist ({count} CUDA device(s) visible)")
    return torch.device(f"cuda:{index}")


def resolve_dtype(device: Any, precision: str = "auto") -> Any:
    """Weights/compute dtype: fp32 on CPU; bf16 (or fp16 where bf16 is unsupported) on CUDA.

    ``precision`` is ``auto``, ``fp32``, ``fp16`` or ``bf16``; fp16 on CPU falls back to fp32.
    """
    torch = require_torch()
    p = (precision or "auto").lower()
    if p not in ("auto", "fp32", "fp16", "bf16"):
        raise UsageError(f"unknown precision {precision!r}: use auto, fp32, fp16 or bf16")
    if getattr(device, "type", "cpu") != "cuda":
        if p == "fp16":
            log.warning("fp16 is not used on CPU; running fp32")
        return torch.bfloat16 if p == "bf16" else torch.float32
    if p == "fp32":
        return torch.float32
    if p == "fp16":
        return torch.float16
    if p == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` or ``DOCAI_OFFLINE`` is set."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DOCAI_OFFLINE"))


def _looks_like_path(name: str) -> bool:
    return (name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
            or bool(re.match(r"^[A-Za-z]:", name)))


def missing_message(name: str, what: str) -> str:
    """The user-facing text when a model cannot be loaded (names the model and the fix)."""
    return (f"cannot load {what} of model {name!r}: the weights are not available here. "
            f"Download them where there is internet (`huggingface-cli download {name} "
            f"--local-dir DIR`), copy DIR to this machine and pass --model DIR, or point HF_HOME "
            f"at a Hugging Face cache that holds them (offline mode: "
            f"{'on' if is_offline() else 'off'}).")


def load_pretrained(loader: Callable[..., T], name: str, *, what: str = "weights", **kwargs: Any) -> T:
    """Call ``loader(name_or_dir, ...)`` (a ``from_pretrained``) with offline mode honoured.

    A local directory is used as is; a hub id is looked up in the local cache only when offline
    mode is on. Any failure to find files becomes ``DependencyMissing`` naming the model.

    Raises:
        DependencyMissing: the files are not available (message says how to make them so).
    """
    require_torch()
    local = Path(name).expanduser()
    if local.is_dir():
        source, local_only = str(local), True
    elif local.exists():
        raise UsageError(f"model {name!r} is a file; pass the model directory or a hub id")
    elif _looks_like_path(name):
        raise DependencyMissing(f"model directory {name!r} does not exist. "
                                + missing_message(name, what), reason="model_missing")
    else:
        source, local_only = name, is_offline()
    try:
        return loader(source, local_files_only=local_only, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        log.debug("loading %s of a model failed: %s", what, type(exc).__name__)
        if local.is_dir():
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise DependencyMissing(f"cannot load {what} of the model in {name!r}: "
                                    f"{type(exc).__name__}: {detail}", reason="model_missing") from exc
        raise DependencyMissing(missing_message(name, what) + f" ({type(exc).__name__})",
                                reason="model_missing") from exc


_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def cached(key: tuple[Any, ...], factory: Callable[[], T]) -> T:
    """One loaded model per ``key`` and process, shared by every engine and document."""
    with _CACHE_LOCK:
        if key not in _CACHE:
            started = time.perf_counter()
            _CACHE[key] = factory()
            log.info("loaded model %s in %.1fs", key[0], time.perf_counter() - started)
        return _CACHE[key]  # type: ignore[no-any-return]


def clear_cache() -> None:
    """Forget every loaded model (tests; freeing GPU memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


class _Request(Generic[T, R]):
    __slots__ = ("done", "error", "items", "results")

    def __init__(self, items: list[T]) -> None:
        self.items = items
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.done = False


class BatchRunner(Generic[T, R]):
    """Runs items through ``fn`` in batches of ``batch_size``, merging concurrent callers.

    When several threads (documents of a batch) call :meth:`run` at once, one of them becomes the
    leader and runs everybody's items together — pages of different documents share GPU batches.
    Items are sorted by ``size`` before batching so padding stays small; results come back in each
    caller's order. An exception in ``fn`` is raised in every caller whose items were in the run.
    """

    def __init__(self, fn: Callable[[list[T]], list[R]], batch_size: int, *,
                 size: Callable[[T], int] | None = None, wait_s: float = 0.002) -> None:
        self.fn = fn
        self.batch_size = max(1, int(batch_size))
        self.size = size
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._queue: list[_Request[T, R]] = []
        self._busy = False

    def run(self, items: Sequence[T]) -> list[R]:
        """Results of ``fn`` for ``items``, in order."""
        if not items:
            return []
        req: _Request[T, R] = _Request(list(items))
        with self._cond:
            self._queue.append(req)
            while self._busy and not req.done:
                self._cond.wait()
            if req.done:
                return self._result(req)
            self._busy = True
        try:
            if self.wait_s > 0:
                time.sleep(self.wait_s)  # let concurrent documents join this run
            with self._cond:
                reqs, self._queue = self._queue, []
            self._execute(reqs)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return self._result(req)

    @staticmethod
    def _result(req: _Request[T, R]) -> list[R]:
        if req.error is not None:
            raise req.error
        return req.results

    def _execute(self, reqs: list[_Request[T, R]]) -> None:
        flat = [(ri, ii) for ri, r in enumerate(reqs) for ii in range(len(r.items))]
        if self.size is not None:
            size = self.size
            flat.sort(key=lambda p: size(reqs[p[0]].items[p[1]]))
        out: dict[tuple[int, int], R] = {}
        try:
            for start in range(0, len(flat), self.batch_size):
                chunk = flat[start:start + self.batch_size]
                results = self.fn([reqs[ri].items[ii] for ri, ii in chunk])
                if len(results) != len(chunk):
                    raise RuntimeError("batch function returned the wrong number of results")
                out.update(zip(chunk, results, strict=True))
            for ri, r in enumerate(reqs):
                r.results = [out[(ri, ii)] for ii in range(len(r.items))]
        except BaseException as exc:  # handed to every waiting caller, re-raised there
            for r in reqs:
                r.error = exc
        finally:
            for r in reqs:
                r.done = True
