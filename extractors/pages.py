"""Pages: PDF text layers read directly, everything else rendered/decoded and OCR'd — one page at a time.

``iter_pages`` is a generator: at most one page image is alive at any moment, so a 500-page scan
needs the memory of one page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from extractors.errors import InputRejected, PageError
from extractors.preflight import IMAGE_FORMATS, Preflight
from extractors.settings import Settings
from schemas.document import Page, Word

if TYPE_CHECKING:
    from PIL import Image

    from extractors.registry import OcrEngine

__all__ = ["iter_pages", "pdf_text_words", "prepare_for_ocr", "render_pdf_page"]

MIN_RENDER_DPI = 50


def _usable_text(words: list[Word], min_chars: int) -> bool:
    """A text layer is usable when it has enough real characters (not just CID garbage)."""
    chars = "".join(w.text for w in words)
    if len(chars) < max(min_chars, 1):
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn", "Cc"))
    return bad / len(chars) < 0.1


def pdf_text_words(page: object, width_pt: float, height_pt: float, dpi: float) -> list[Word]:
    """Words of a pypdfium2 page's text layer, boxes in pixels at ``dpi`` (y down)."""
    textpage = page.get_textpage()  # type: ignore[attr-defined]
    try:
        n = textpage.count_chars()
        if n <= 0:
            return []
        text = textpage.get_text_range(0, n)
        scale = dpi / 72.0
        W, H = width_pt * scale, height_pt * scale
        words: list[Word] = []
        cur: list[str] = []
        box: list[float] | None = None

        def flush() -> None:
            nonlocal cur, box
            if cur and box is not None:
                words.append(Word.from_pixels("".join(cur), (box[0], box[1], box[2], box[3]),
                                              page_width=W, page_height=H, confidence=1.0))
            cur, box = [], None

        limit = min(n, len(text))
        for i in range(limit):
            ch = text[i]
            if ch.isspace() or ch == "\x00":
                flush()
                continue
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
            x0, x1 = left * scale, right * scale
            y0, y1 = (height_pt - top) * scale, (height_pt - bottom) * scale
            if box is not None and x0 - box[2] > 0.5 * max(y1 - y0, box[3] - box[1], 1.0):
                flush()  # a visual gap without a space character still separates words
            if box is None:
                box = [x0, y0, x1, y1]
            else:
                box = [min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)]
            cur.append(ch)
        flush()
        return words
    finally:
        textpage.close()


def render_pdf_page(page: object, width_pt: float, height_pt: float, settings: Settings) -> Image.Image:
    """Render at ``settings.dpi``, scaled down to fit ``max_page_pixels``.

    Raises:
        PageError: ``page_too_large`` when the pixel budget would force it below 50 DPI.
    """
    dpi = float(settings.dpi)
    pixels = (width_pt * dpi / 72) * (height_pt * dpi / 72)
    if pixels > settings.max_page_pixels:
        dpi = dpi * (settings.max_page_pixels / pixels) ** 0.5
    if dpi < MIN_RENDER_DPI:
        raise PageError("page is too large to render within max_page_pixels",
                        reason="page_too_large", stage="render")
    image = page.render(scale=dpi / 72.0, grayscale=True).to_pil()  # type: ignore[attr-defined]
    image.info["dpi"] = (dpi, dpi)
    return image


def prepare_for_ocr(image: Image.Image, settings: Settings) -> tuple[Image.Image, tuple[int, int]]:
    """Orientation from EXIF, greyscale, and upscaling of small scans (Tesseract likes ~300 DPI).

    Returns the image to OCR and the size of the page frame boxes are reported in (the upright
    image before any upscaling).
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    dpi_info = image.info.get("dpi")
    img = ImageOps.exif_transpose(image)
    base_size = img.size
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "LA") else img.convert("L")
    if img.mode == "RGB":
        img = img.convert("L")
    dpi = float(dpi_info[0]) if isinstance(dpi_info, tuple) and dpi_info[0] else None
    # Small scans: estimate the DPI from the width when the file does not say (a receipt strip is
    # ~3 inches wide, a page ~8); upscale so text is ~30 px high.
    if settings.upscale_below_dpi:
        w, h = img.size
        est = dpi or (w / (3.2 if h > 2.2 * w else 8.3))
        if est < settings.upscale_below_dpi:
            factor = min(settings.upscale_below_dpi / max(est, 1.0), 3.0)
            if factor > 1.15 and w * h * factor * factor <= settings.max_page_pixels:
                img = img.resize((int(w * factor), int(h * factor)), PILImage.Resampling.LANCZOS)
                dpi = (dpi or est) * factor
    if dpi:
        img.info["dpi"] = (dpi, dpi)
    return img, base_size


def _ocr_page(number: int, image: Image.Image, ocr: OcrEngine, settings: Settings) -> Page:
    img, scale_to = prepare_for_ocr(image, settings)
    words = ocr.ocr(img, page_number=number)
    w, h = img.size
    if (w, h) != scale_to:
        # report boxes in the pixel frame of the original image, not the upscaled one
        sx, sy = scale_to[0] / w, scale_to[1] / h
        words = [Word.from_pixels(wd.text, (wd.bbox[0] * sx, wd.bbox[1] * sy, wd.bbox[2] * sx,
                                            wd.bbox[3] * sy), page_width=scale_to[0],
                                  page_height=scale_to[1], confidence=wd.confidence)
                 for wd in words]
        w, h = scale_to
    dpi = image.info.get("dpi")
    return Page(number=number, width=w, height=h, dpi=float(dpi[0]) if dpi else None,
                words=words, text_source="ocr", engine=ocr.name)


def iter_pages(
    pre: Preflight,
    settings: Settings,
    ocr: OcrEngine | None,
    *,
    layout: Callable[[Page], Page] | None = None,
) -> Iterator[Page]:
    """Yield the document's pages one at a time, each with words (and layout when given).

    A page that fails to render or OCR is yielded with ``status="failed"`` and the reason in
    ``error`` (the caller decides between ``partial`` and strict failure).
    """
    finish = layout or (lambda p: p)
    if pre.media_type == "application/pdf":
        yield from (finish(p) if p.status == "ok" else p for p in _pdf_pages(pre, settings, ocr))
    else:
        yield from (finish(p) if p.status == "ok" else p for p in _image_pages(pre, settings, ocr))


def _failed(number: int, exc: Exception) -> Page:
    reason = getattr(exc, "reason", None) or "page_failed"
    return Page(number=number, width=0, height=0, status="failed", error=reason)


def _pdf_pages(pre: Preflight, settings: Settings, ocr: OcrEngine | None) -> Iterator[Page]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(pre.path))
    except pdfium.PdfiumError as exc:
        raise InputRejected("the PDF cannot be parsed", reason="corrupt_pdf", stage="pages") from exc
    try:
        for index in range(len(pdf)):
            number = index + 1
            try:
                page = pdf[index]
            except pdfium.PdfiumError as exc:
                yield _failed(number, PageError("page cannot be loaded", reason="render_failed"))
                del exc
                continue
            try:
                w_pt, h_pt = page.get_size()
                words = pdf_text_words(page, w_pt, h_pt, settings.dpi)
                if _usable_text(words, settings.min_text_chars):
                    scale = settings.dpi / 72.0
                    yield Page(number=number, width=w_pt * scale, height=h_pt * scale,
                               dpi=float(settings.dpi), words=words, text_source="text_layer",
                               engine="pdfium")
                    continue
                if ocr is None:
                    yield Page(number=number, width=w_pt, height=h_pt, text_source="none")
                    continue
                try:
                    image = render_pdf_page(page, w_pt, h_pt, settings)
                except PageError as exc:
                    yield _failed(number, exc)
                    continue
                except Exception as exc:  # pdfium render errors: this page only
                    yield _failed(number, PageError(f"render failed: {type(exc).__name__}",
                                                    reason="render_failed"))
                    continue
                try:
                    yield _ocr_page(number, image, ocr, settings)
                except PageError as exc:
                    yield _failed(number, exc)
                finally:
                    image.close()
            finally:
                page.close()
    finally:
        pdf.close()


def _image_pages(pre: Preflight, settings: Settings, ocr: OcrEngine | None) -> Iterator[Page]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    fmt = IMAGE_FORMATS[pre.media_type]
    try:
        im = Image.open(pre.path, formats=[fmt])
    except (UnidentifiedImageError, OSError) as exc:
        raise InputRejected("the image cannot be read", reason="corrupt_image", stage="pages") from exc
    with im:
        for index, frame in enumerate(ImageSequence.Iterator(im)):
            number = index + 1
            if number > settings.max_pages:
                break
            try:
                frame.load()
                image = frame.copy()
            except (OSError, ValueError, SyntaxError) as exc:
                if pre.n_pages == 1:
                    raise InputRejected("the image is truncated or corrupt", reason="corrupt_image",
                                        stage="pages") from exc
                yield _failed(number, PageError("frame cannot be decoded", reason="corrupt_image"))
                continue
            if "dpi" in im.info:
                image.info["dpi"] = im.info["dpi"]
            if ocr is None:
                yield Page(number=number, width=image.width, height=image.height, text_source="none")
                continue
            try:
                yield _ocr_page(number, image, ocr, settings)
            except PageError as exc:
                yield _failed(number, exc)
            finally:
                image.close()
