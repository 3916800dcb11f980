"""Watched folders: process files as they arrive, once they are completely written.

Polling (no extra dependency, works on network shares where inotify does not): every ``poll_s``
seconds the inbox is listed (:func:`flows.process.discover`: regular files only — a FIFO is never
opened, symlinks leaving the inbox and hidden files such as ``.name.part`` upload temporaries are
ignored). A file is *ready* when

1. its size, mtime and inode are the same on ``settle_polls`` consecutive polls, and
2. it looks complete: a PDF has ``%%EOF`` near its end, a PNG ends with ``IEND``, a JPEG with
   ``FFD9``, a GIF with ``;`` — or it has looked stable for ``ready_timeout_s`` anyway (it is
   then processed, and rejected as corrupt if it really is).

Ready files go through the same batch as ``docai process`` (the Prefect flow unless
``use_prefect=False``), restricted to them, and the exports list every record in the ledger. The
ledger is what survives a restart: files already processed are skipped by content hash, so each
file gets exactly one record however often the watcher is restarted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractors.settings import Settings
from flows.process import FATAL, discover

__all__ = ["Watcher", "looks_complete"]

log = logging.getLogger("docai.watch")


def looks_complete(path: str | Path) -> bool:
    """True when the file's last bytes are the end marker of its type (or the type has none).

    Reads the first and last few KB only; never parses the document.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 2048))
            tail = f.read()
    except OSError:
        return False
    if size == 0:
        return False
    if b"%PDF-" in head:
        return b"%%EOF" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail[-16:]
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail[-64:]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return b";" in tail[-16:]
    return True  # TIFF and unknown types have no end marker: stability alone decides


@dataclass
class _Seen:
    sig: tuple[int, int, int]
    polls: int
    since: float


class Watcher:
    """Watch ``inputs`` (folders) and process each completely written file once into ``out``.

    Args:
        inputs: folders (or files) to watch.
        out: the output folder (ledger, exports, quarantine).
        settings: the run's settings.
        poll_s: seconds between polls.
        settle_polls: consecutive polls a file's size/mtime must stay the same.
        ready_timeout_s: after this long stable but without an end marker, process it anyway.
        all_files: also pick up files without a document suffix.
        move: move rejected/poison inputs into quarantine.
        use_prefect: run each arrival batch as a Prefect flow run (else plain Python).
        isolate: documents in worker processes.
        task_runner: a Prefect task runner for the flow runs (default: threads, ``workers``).
        on_batch: called with each batch's counts (``{"ok": 2, "skipped": 0, ...}``).
    """

    def __init__(self, inputs: Sequence[str | Path], out: str | Path,
                 settings: Settings | None = None, *, poll_s: float = 2.0, settle_polls: int = 2,
                 ready_timeout_s: float = 300.0, all_files: bool = False, move: bool = False,
                 use_prefect: bool = True, isolate: bool = True, task_runner: Any = None,
                 on_batch: Callable[[dict[str, int]], None] | None = None) -> None:
        self.inputs = [Path(p) for p in inputs]
        self.out = Path(out)
        self.settings = settings or Settings()
        self.poll_s = poll_s
        self.settle_polls = max(2, settle_polls)
        self.ready_timeout_s = ready_timeout_s
        self.all_files = all_files
        self.move = move
        self.use_prefect = use_prefect
        self.isolate = isolate
        self.task_runner = task_runner
        self.on_batch = on_batch
        self._seen: dict[str, _Seen] = {}
        self._handled: dict[str, tuple[int, int, int]] = {}
        self.batches = 0

    @property
    def settling(self) -> int:
        """Files seen but not yet ready (still being written, or waiting for a second poll)."""
        return len(self._seen)

    def poll(self) -> list[Path]:
        """One look at the inbox: the files that became ready (not yet handled)."""
        now = time.monotonic()
        ready: list[Path] = []
        current: set[str] = set()
        for f in discover(self.inputs, all_files=self.all_files):
            key = str(f.path)
            current.add(key)
            try:
                st = os.stat(f.path)
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns, st.st_ino)
            if self._handled.get(key) == sig:
                continue
            seen = self._seen.get(key)
            if seen is None or seen.sig != sig:
                self._seen[key] = _Seen(sig, 1, now)
                continue
            seen.polls += 1
            if seen.polls < self.settle_polls:
                continue
            if not looks_complete(f.path) and now - seen.since < self.ready_timeout_s:
                continue  # stable but not finished (a paused upload): wait, up to the budget
            ready.append(f.path)
        for store in (self._seen, self._handled):
            for key in [k for k in store if k not in current]:
                del store[key]  # gone (moved away, deleted)
        return ready

    def run_once(self) -> dict[str, int] | None:
        """Poll, and process what is ready; returns the batch's counts (None: nothing ready)."""
        ready = self.poll()
        if not ready:
            return None
        counts = self._process(ready)
        for p in ready:
            seen = self._seen.pop(str(p), None)
            if seen is not None:
                self._handled[str(p)] = seen.sig
        self.batches += 1
        log.info("watch: batch of %d ready files: %s", len(ready), counts)
        if self.on_batch is not None:
            self.on_batch(counts)
        return counts

    def _process(self, ready: list[Path]) -> dict[str, int]:
        if self.use_prefect:
            from flows.process import make_task_runner, process_folder

            runner = self.task_runner or make_task_runner("thread", self.settings.workers)
            flow = process_folder.with_options(task_runner=runner)
            return flow([str(p) for p in self.inputs], str(self.out),  # type: ignore[no-any-return]
                        self.settings.model_dump_json(), self.all_files, move=self.move,
                        isolate=self.isolate, only=[str(p) for p in ready], export="ledger")
        from flows.process import run_batch, summarize

        return summarize(run_batch(self.inputs, self.out, self.settings, all_files=self.all_files,
                                   only=ready, move=self.move, isolate=self.isolate,
                                   export="ledger"))

    def run(self, *, stop: threading.Event | None = None, max_cycles: int | None = None,
            until_idle: bool = False) -> None:
        """Poll until ``stop`` is set (or ``max_cycles`` polls, or — with ``until_idle`` — until
        a poll finds nothing ready and nothing still settling).

        Raises:
            DependencyMissing, OutputError: the watcher cannot do its job; it stops.
        """
        stop = stop or threading.Event()
        cycles = 0
        while not stop.is_set():
            try:
                counts = self.run_once()
            except FATAL:
                raise
            except Exception as exc:  # e.g. the Prefect API is restarting: try again next poll
                log.warning("watch: batch failed (%s); retrying at the next poll",
                            type(exc).__name__)
                counts = None
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                return
            if until_idle and counts is None and not self._seen:
                return
            stop.wait(self.poll_s)
