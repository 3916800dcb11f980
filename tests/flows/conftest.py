"""Fixtures for the flow tests: inboxes of small native PDFs, fake engines, fake-engine state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_text_pdf
from tests.flows import fakes


def invoice_lines(n: int) -> list[tuple[float, float, str]]:
    """A small native-text invoice, different for each ``n``."""
    return [
        (72, 60, "ACME Supplies Ltd"),
        (350, 120, "INVOICE"),
        (350, 140, f"Invoice No: INV-{n:04d}"),
        (350, 156, "Invoice Date: 14/03/2024"),
        (400, 340, "Subtotal"), (490, 340, f"{50 + n}.00"),
        (400, 356, "VAT"), (490, 356, "10.00"),
        (400, 372, "Total"), (490, 372, f"{60 + n}.00"),
    ]


def make_inbox(folder: Path, n: int, *, bad: bool = True, duplicate: bool = False) -> Path:
    """``n`` native invoices (+ one rejected file, + a copy of the first under another name)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_text_pdf(folder / f"inv_{i:03d}.pdf", invoice_lines(i))
    if bad:
        (folder / "bad.pdf").write_bytes(b"<html>not a pdf</html>")
    if duplicate:
        (folder / "zz_copy.pdf").write_bytes((folder / "inv_000.pdf").read_bytes())
    return folder


@pytest.fixture(scope="session")
def fake_engines() -> None:
    """Register the fake engines (workers repeat the registrations)."""
    fakes.register()


@pytest.fixture
def fake_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where fake engines leave their markers (forwarded to workers as DOCAI_FAKE_DIR)."""
    d = tmp_path / "fake-state"
    d.mkdir()
    monkeypatch.setenv("DOCAI_FAKE_DIR", str(d))
    return d


@pytest.fixture
def white_png(tmp_path: Path) -> Path:
    """A small blank PNG: goes through OCR (and so through a fake OCR engine)."""
    from PIL import Image

    p = tmp_path / "scan.png"
    Image.new("L", (300, 200), 255).save(p)
    return p
