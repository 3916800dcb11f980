"""The ledger: one terminal record per input sha256 — the source of truth for every export.

``OUT/ledger.jsonl`` is append-only (one JSON line per finished document, written with a single
``O_APPEND`` write and fsync); the last line for a key wins, and a torn last line left by a
``kill -9`` is ignored. ``documents.jsonl`` and the CSV tables are rebuilt from it atomically.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from extractors.errors import OutputError
from extractors.export import write_tables
from extractors.fsutil import atomic_write_text, clean_stale_temps
from schemas.record import Record, Status

__all__ = ["FINAL_FAILURES", "TERMINAL", "Ledger"]

TERMINAL = frozenset({Status.OK, Status.NEEDS_REVIEW, Status.PARTIAL, Status.REJECTED})
"""Statuses that are final for a given (content, settings): re-runs skip them. ``failed`` is retried."""

FINAL_FAILURES = frozenset({"poison"})
"""``failed`` reasons that are final too: a document that crashed its worker twice is quarantined
and not retried on every run (a settings or pipeline-version change retries it)."""


def record_key(record: Record) -> str:
    """Ledger key: the content hash, or the source for inputs that could not be hashed."""
    return record.sha256 or f"source:{record.source}"


class Ledger:
    """The output folder's ledger."""

    def __init__(self, out: str | Path, *, clean: bool = True) -> None:
        """Open (create) the ledger of ``out``; ``clean`` removes temp files a killed run left
        (only at the start of a batch: never while other writers may be busy)."""
        self.out = Path(out)
        self.path = self.out / "ledger.jsonl"
        self._lock = threading.Lock()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder: {exc.strerror}") from exc
        if clean:
            clean_stale_temps(self.out)

    def load(self) -> dict[str, Record]:
        """Records by key (last line wins; unreadable lines are skipped)."""
        records: dict[str, Record] = {}
        if not self.path.exists():
            return records
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = Record.model_validate_json(line)
                except ValueError:
                    continue  # a torn line from an interrupted write
                records[record_key(rec)] = rec
        return records

    def is_done(self, records: dict[str, Record], sha256: str, settings_hash: str) -> bool:
        """True when ``sha256`` already has a terminal record made with the same settings."""
        rec = records.get(sha256)
        if rec is None or rec.settings_hash != settings_hash:
            return False
        return rec.status in TERMINAL or (rec.status == Status.FAILED
                                          and rec.reason in FINAL_FAILURES)

    def append(self, record: Record) -> None:
        """Add one terminal record (thread-safe, one write, durable)."""
        data = (record.model_dump_json() + "\n").encode("utf-8")
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    # a torn line from a killed writer must not glue onto ours
                    if os.fstat(fd).st_size and not self._ends_with_newline():
                        data = b"\n" + data
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise OutputError(f"cannot write the ledger: {exc.strerror}") from exc

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def write_outputs(self, records: list[Record]) -> list[Path]:
        """Rebuild ``documents.jsonl`` and the CSV tables from ``records`` (atomically)."""
        ordered = sorted(records, key=lambda r: (r.source, r.sha256 or ""))
        lines = "".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n"
                        for r in ordered)
        atomic_write_text(self.out / "documents.jsonl", lines)
        return [self.out / "documents.jsonl", *write_tables(ordered, self.out)]
