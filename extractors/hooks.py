"""Optional hooks the orchestrator installs into the library (no Prefect import here).

``extractors`` never imports Prefect; the flows inject behaviour through these module-level
callables instead. Library users get the harmless defaults.

Model engines wrap every model forward pass (or batch of them) in :func:`model_call`::

    from extractors import hooks

    with hooks.model_call():
        outputs = model(**inputs)

Under ``docai process`` the flows replace :data:`model_call_guard` with a Prefect global
concurrency limit named ``gpu`` (see ``flows/gpu.py``), so that however many documents run at
once, only as many model calls as the limit allows use the GPU at the same time.

Long stages call :func:`alive` now and then (e.g. once per page); in a worker process this feeds
the watchdog that kills a hung worker.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

__all__ = ["alive", "model_call", "model_call_guard", "progress_beat"]

model_call_guard: Callable[[], AbstractContextManager[Any]] = nullcontext
"""Factory of the context manager held around one model call (default: no limit)."""

progress_beat: Callable[[], None] = lambda: None  # noqa: E731
"""Called by :func:`alive`; the worker process sets it to refresh its watchdog heartbeat."""


def model_call() -> AbstractContextManager[Any]:
    """The context manager to hold around one model call (GPU slot under the flows)."""
    alive()
    return model_call_guard()


def alive() -> None:
    """Tell the watchdog (if any) that this process is making progress; never raises."""
    with suppress(Exception):  # a broken hook must never fail a document
        progress_beat()
