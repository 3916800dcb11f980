"""Quarantine: rejected and poison inputs are kept, with evidence, under ``OUT/quarantine``.

Layout::

    OUT/quarantine/<reason>/<sha256>.<ext>     the original bytes (copied; moved only with --move)
    OUT/quarantine/<reason>/<sha256>.json      the sidecar: why, where, when — no document text

``<ext>`` comes from the file's magic bytes (``pdf``, ``png``, ``jpg``, ``tif``, ``gif``, else
``bin``), never from its name, and the original name is kept only as sanitised metadata in the
sidecar, so a hostile file name cannot steer where anything is written. Quarantining the same
content twice is a no-op. Originals are never deleted without ``--move``; quarantined files are
never removed by docai (retention is the operator's call).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from extractors.errors import OutputError
from extractors.fsutil import TMP_SUFFIX, atomic_write_text
from schemas.record import Record, Status

__all__ = ["QUARANTINE_DIR", "quarantine", "should_quarantine", "sidecar_for", "stage_for"]

QUARANTINE_DIR = "quarantine"

_EXT = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif",
        "image/gif": "gif"}

_NOT_A_FILE = frozenset({"not_found", "not_a_file", "unreadable"})
"""Reasons where there is nothing (or nothing safe) to copy."""

_PREFLIGHT_REASONS = frozenset({"empty_file", "file_too_large", "unsupported_type", "corrupt_pdf",
                                "encrypted", "too_many_pages", "image_too_large", "corrupt_image"})

_REASON_RE = re.compile(r"^[a-z0-9_]{1,64}$")


def should_quarantine(record: Record) -> bool:
    """Rejected inputs and poison documents (the worker crashed twice) go to quarantine."""
    if not record.sha256 or record.reason in _NOT_A_FILE:
        return False
    return record.status == Status.REJECTED or (record.status == Status.FAILED
                                                and record.reason == "poison")


def stage_for(record: Record) -> str:
    """Pipeline stage that turned the input down (from the record, else from its reason)."""
    stage = getattr(record, "stage", None)
    if isinstance(stage, str) and stage:
        return stage
    if record.reason == "poison":
        return "worker"
    if record.reason in _PREFLIGHT_REASONS:
        return "preflight"
    return "pages"


def _sanitise_name(name: str, limit: int = 120) -> str:
    """The original name as harmless metadata: no separators, controls, bidi marks or NULs."""
    out = []
    for c in name:
        cat = unicodedata.category(c)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn") or c in "/\\":
            out.append("_")
        else:
            out.append(c)
    text = "".join(out).strip() or "_"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _ext(path: Path, media_type: str | None) -> str:
    if media_type in _EXT:
        return _EXT[media_type]
    try:
        from extractors.preflight import sniff_type

        with open(path, "rb") as f:
            return _EXT.get(sniff_type(f.read(1024)) or "", "bin")
    except OSError:
        return "bin"


def sidecar_for(record: Record, original: Path, *, moved: bool) -> dict[str, Any]:
    """The sidecar's content: PII-free (reason codes and our own messages, never document text)."""
    return {
        "sha256": record.sha256,
        "status": record.status.value,
        "reason": record.reason,
        "stage": stage_for(record),
        "message": record.message,
        "original_name": _sanitise_name(original.name),
        "source": record.source,
        "size_bytes": record.size_bytes,
        "media_type": record.media_type,
        "pipeline_version": record.pipeline_version,
        "settings_hash": record.settings_hash,
        "moved": moved,
        "quarantined_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }


def _keep_atomic(src: Path, dest: Path, *, link: bool) -> None:
    """Put ``src``'s bytes at ``dest`` atomically: a hard link when ``link`` (the original is
    about to be removed: a move without a copy), else — or when linking fails — a copy."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX, dir=dest.parent)
    try:
        linked = False
        if link:
            os.close(fd)
            fd = -1
            os.unlink(tmp)
            try:
                os.link(src, tmp)  # follows a symlink: the link points at the real bytes
                linked = True
            except OSError:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if not linked:
            out = os.fdopen(fd, "wb")
            fd = -1  # owned by ``out`` from here on
            with out, open(src, "rb") as inp:
                shutil.copyfileobj(inp, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def quarantine(path: str | Path, record: Record, out: str | Path, *,
               move: bool = False) -> Path | None:
    """Keep a rejected or poison input under ``OUT/quarantine/<reason>/``.

    The original is never touched here: with ``move`` the caller removes it once the record is
    in the ledger (so a kill in between leaves the input where it was, never lost), and the
    quarantined copy is a hard link when the output is on the same file system.

    Args:
        path: the input file.
        record: its record (``sha256``, ``reason`` …).
        out: the output folder.
        move: the original will be removed (``--move``): noted in the sidecar.

    Returns:
        The quarantined file, or None when the record is not for quarantine.

    Raises:
        OutputError: the quarantine folder cannot be written.
    """
    if not should_quarantine(record):
        return None
    path = Path(path)
    reason = record.reason if record.reason and _REASON_RE.match(record.reason) else "other"
    folder = Path(out) / QUARANTINE_DIR / reason
    dest = folder / f"{record.sha256}.{_ext(path, record.media_type)}"
    side = folder / f"{record.sha256}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            _keep_atomic(path, dest, link=move)
    except OSError as exc:
        raise OutputError(f"cannot write the quarantine folder: {exc.strerror}") from exc
    if not side.exists():
        atomic_write_text(side, json.dumps(sidecar_for(record, path, moved=move), indent=2,
                                           ensure_ascii=False) + "\n")
    return dest
