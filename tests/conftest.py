"""Shared fixtures and markers: ``slow`` (opt in with --runslow), ``gpu``, ``tesseract``, ``models``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    runslow = config.getoption("--runslow")
    has_tesseract = shutil.which("tesseract") is not None
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    for item in items:
        if "slow" in item.keywords and not runslow:
            item.add_marker(pytest.mark.skip(reason="slow: use --runslow"))
        if "tesseract" in item.keywords and not has_tesseract:
            item.add_marker(pytest.mark.skip(reason="tesseract binary not installed"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device"))


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API (SQLite) for flow tests, started once per session (all folders)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def datasets() -> Path:
    """``../shared/datasets``; tests using it skip cleanly in a user's clone."""
    if not DATASETS.is_dir():
        pytest.skip("../shared/datasets not available")
    return DATASETS


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """The committed demo set."""
    d = REPO / "samples" / "demo"
    if not d.is_dir():
        pytest.skip("samples/demo missing")
    return d


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
            ) -> tuple[int, str, str]:
    """``docai ARGS`` through the real entry point: exit code, stdout, stderr."""
    from flows.cli import main

    monkeypatch.setattr(sys, "argv", ["docai", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def make_text_pdf(path: Path, lines: list[tuple[float, float, str]], pages: int = 1) -> Path:
    """A native-text PDF with ``(x_pt, y_pt_from_top, text)`` lines on each page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for _ in range(pages):
        for x, y, text in lines:
            c.drawString(x, A4[1] - y, text)
        c.showPage()
    c.save()
    return path


def make_scan(path: Path, lines: list[tuple[int, int, str]], size: tuple[int, int] = (1700, 2200),
              fmt: str = "PNG", font_size: int = 36) -> Path:
    """A clean 200-DPI 'scan' image with text drawn by Pillow at pixel positions."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_size)
    except OSError:
        font = ImageFont.load_default(size=font_size)
    for x, y, text in lines:
        draw.text((x, y), text, fill=0, font=font)
    img.save(path, fmt, dpi=(200, 200))
    return path
