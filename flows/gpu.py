"""GPU sharing: model calls hold a slot of the Prefect global concurrency limit ``gpu``.

Create the limit once on the Prefect server (its size is how many model calls may use the GPU at
the same time, across every flow run, worker process and machine)::

    prefect gcl create gpu --limit 1

:func:`install` puts :func:`gpu_slot` into :data:`extractors.hooks.model_call_guard`; the model
engines wrap each forward pass in ``hooks.model_call()``. Without a reachable Prefect API the
guard logs once and lets calls through (a library user running a notebook is never blocked).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from extractors import hooks

__all__ = ["DEFAULT_LIMIT", "gpu_slot", "install", "uninstall"]

log = logging.getLogger("docai.gpu")

DEFAULT_LIMIT = "gpu"
"""Name of the global concurrency limit held around model calls."""

_disabled: set[str] = set()
_lock = threading.Lock()


@contextmanager
def gpu_slot(name: str = DEFAULT_LIMIT, occupy: int = 1,
             timeout_s: float | None = None) -> Iterator[None]:
    """Hold ``occupy`` slots of the global concurrency limit ``name`` for the ``with`` body.

    Args:
        name: the limit's name (``gpu``).
        occupy: slots held by this call.
        timeout_s: give up waiting after this long (``TimeoutError``); ``None`` waits.
    """
    if name in _disabled:
        yield
        return
    try:
        from prefect.concurrency.sync import concurrency

        cm = concurrency(name, occupy=occupy, timeout_seconds=timeout_s, strict=False)
        cm.__enter__()
    except TimeoutError:
        raise
    except Exception as exc:  # no Prefect API here: run unguarded, say so once
        with _lock:
            if name not in _disabled:
                _disabled.add(name)
                log.warning("concurrency limit %r unavailable (%s); model calls run unguarded",
                            name, type(exc).__name__)
        yield
        return
    try:
        yield
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        cm.__exit__(None, None, None)


def install(name: str = DEFAULT_LIMIT) -> None:
    """Make every ``hooks.model_call()`` in this process hold a slot of ``name``."""
    hooks.model_call_guard = functools.partial(gpu_slot, name)


def uninstall() -> None:
    """Back to unguarded model calls."""
    from contextlib import nullcontext

    hooks.model_call_guard = nullcontext
