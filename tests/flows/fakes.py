"""Fake engines for the flow tests, importable by dotted path in worker processes.

They are configured through ``DOCAI_FAKE_*`` environment variables, which docai forwards to its
worker processes. ``python -m tests.flows.fakes ARGS`` registers them and runs the ``docai`` CLI.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from extractors.classify import RulesClassifier
from extractors.errors import TransientError

ENGINES = {
    ("ocr", "fake-killer"): "tests.flows.fakes:KillerOcr",
    ("ocr", "fake-crash-once"): "tests.flows.fakes:CrashOnceOcr",
    ("classify", "fake-slow"): "tests.flows.fakes:SlowClassifier",
    ("classify", "fake-flaky"): "tests.flows.fakes:FlakyClassifier",
}


def register() -> None:
    """Register the fakes in this process (docai repeats registrations in its workers)."""
    from extractors import registry

    for (kind, name), target in ENGINES.items():
        registry.register(kind, name, target)  # type: ignore[arg-type]


def _mark(kind: str) -> int:
    """Leave a marker file in DOCAI_FAKE_DIR; returns how many markers of ``kind`` exist."""
    folder = Path(os.environ["DOCAI_FAKE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{kind}.{uuid.uuid4().hex}").touch()
    return len(list(folder.glob(f"{kind}.*")))


class KillerOcr:
    """Kills its own process (like the OOM killer) on every page."""

    name = "fake-killer"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def version(self) -> str:
        return "fake-killer 1"

    def check(self) -> None:
        return None

    def ocr(self, image: Any, *, page_number: int) -> list[Any]:
        _mark("kill")
        os.kill(os.getpid(), signal.SIGKILL)
        return []


class CrashOnceOcr(KillerOcr):
    """Kills its process the first time only; then finds no words."""

    name = "fake-crash-once"

    def ocr(self, image: Any, *, page_number: int) -> list[Any]:
        if _mark("attempt") == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return []


class SlowClassifier(RulesClassifier):
    """The rules classifier, after ``DOCAI_FAKE_SLEEP`` seconds (0 when unset)."""

    name = "rules"

    def classify(self, doc: Any) -> tuple[str, float]:
        time.sleep(float(os.environ.get("DOCAI_FAKE_SLEEP", "0")))
        return super().classify(doc)


class FlakyClassifier(RulesClassifier):
    """Raises a TransientError on the first call for each document, then classifies."""

    name = "rules"

    def classify(self, doc: Any) -> tuple[str, float]:
        if _mark(f"flaky-{doc.sha256[:12]}") == 1:
            raise TransientError("resource busy")
        return super().classify(doc)


def pil_limit() -> dict[str, Any]:
    """Pillow's bomb limit as seen in the process running this (a worker)."""
    from PIL import Image

    return {"limit": Image.MAX_IMAGE_PIXELS, "pid": os.getpid()}


def pid() -> dict[str, Any]:
    """This process's id."""
    return {"pid": os.getpid()}


if __name__ == "__main__":
    register()
    from flows.cli import main

    sys.argv = ["docai", *sys.argv[1:]]
    main()
