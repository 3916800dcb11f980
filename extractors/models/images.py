"""Page images for model engines that look at pixels (LayoutLMv3's patches, Donut).

A :class:`~schemas.document.Document` carries words, not pixels. The pipeline remembers which
file each document came from (:func:`remember_source`, keyed by sha256); engines re-render one
page at a time when they need it. When the file is unknown (a Document built in code), the page
is drawn from its own words on a white canvas, so engines still run, with less signal.

Cheap to import (Pillow and pypdfium2 load on first use).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from schemas.document import Document, Page

__all__ = ["forget_sources", "page_image", "remember_source", "source_of"]

log = logging.getLogger("docai.models")

_MAX_SOURCES = 4096
_SOURCES: OrderedDict[str, Path] = OrderedDict()
_LOCK = threading.Lock()


def remember_source(sha256: str, path: str | Path) -> None:
    """Note that the document ``sha256`` was read from ``path`` (kept for the last 4096 files)."""
    with _LOCK:
        _SOURCES[sha256] = Path(path)
        _SOURCES.move_to_end(sha256)
        while len(_SOURCES) > _MAX_SOURCES:
            _SOURCES.popitem(last=False)


def source_of(sha256: str) -> Path | None:
    """The file remembered for ``sha256``, if any."""
    with _LOCK:
        return _SOURCES.get(sha256)


def forget_sources() -> None:
    """Forget every remembered file (tests)."""
    with _LOCK:
        _SOURCES.clear()


def page_image(doc: Document, page: Page, *, dpi: float = 150.0, max_side: int = 2560) -> Image.Image:
    """An RGB image of ``page`` in the frame its word boxes refer to (upright).

    Renders PDFs at ``dpi`` (capped so the long side is at most ``max_side``); decodes image frames;
    falls back to drawing the page's words when the source is unknown or unreadable.
    """
    path = source_of(doc.sha256)
    if path is not None and path.is_file():
        try:
            if doc.media_type == "application/pdf":
                return _render_pdf(path, page.number, dpi, max_side)
            return _image_frame(path, page.number, max_side)
        except Exception as exc:  # fall back to drawing words: the engines still run
            log.warning("page image of %s p%d unavailable (%s); drawing words instead",
                        doc.sha256[:12], page.number, type(exc).__name__)
    return draw_words(page, max_side=min(max_side, 1600))


def _render_pdf(path: Path, number: int, dpi: float, max_side: int) -> Image.Image:
    import pypdfium2 as pdfium

    from extractors.preflight import PDFIUM_LOCK

    with PDFIUM_LOCK:  # pdfium is not thread-safe (model engines render from worker threads)
        pdf = pdfium.PdfDocument(str(path))
        try:
            pg = pdf[number - 1]
            try:
                w_pt, h_pt = pg.get_size()
                scale = min(dpi / 72.0, max_side / max(w_pt, h_pt, 1.0))
                return pg.render(scale=scale).to_pil().convert("RGB")  # type: ignore[no-any-return]
            finally:
                pg.close()
        finally:
            pdf.close()


def _image_frame(path: Path, number: int, max_side: int) -> Image.Image:
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(path) as im:
        im.seek(number - 1)
        im.load()
        frame = ImageOps.exif_transpose(im.copy()) if number == 1 else im.copy()
    img = frame.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img


def draw_words(page: Page, *, max_side: int = 1600) -> Image.Image:
    """A white page with every word drawn in its 0–1000 box (a stand-in for a missing image)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    w, h = max(float(page.width), 1.0), max(float(page.height), 1.0)
    scale = max_side / max(w, h)
    W, H = max(int(w * scale), 16), max(int(h * scale), 16)
    img = PILImage.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    fonts: dict[int, object] = {}
    for word in page.words:
        x0, y0, x1, y1 = word.box
        px0, py0 = x0 * W / 1000, y0 * H / 1000
        size = max(int((y1 - y0) * H / 1000 * 0.9), 6)
        if size not in fonts:
            try:
                fonts[size] = ImageFont.load_default(size=size)
            except TypeError:  # pragma: no cover - very old Pillow
                fonts[size] = ImageFont.load_default()
        draw.text((px0, py0), word.text, fill="black", font=fonts[size])  # type: ignore[arg-type]
    return img
