"""Pages: PDF text layers read directly, everything else rendered/decoded and OCR'd — one page at a time.

``iter_pages`` is a generator: at most one page image is alive at any moment, so a 500-page scan
needs the memory of one page.
"""

from __future__ import annotations

import os
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
SOURCE_KEY = "docai_source_path"
"""``image.info`` key naming the file an untouched single-frame image came from."""


def _usable_text(words: list[Word], min_chars: int) -> bool:
    """A text layer is usable when it has enough real characters (not just CID garbage)."""
    chars = "".join(w.text for w in words)
    if len(chars) < max(min_chars, 1):
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn", "Cc"))
    return bad / len(chars) < 0.1


def _hidden_text_share(page: object) -> float:
    """Share of text-layer characters that are invisible (render mode 3) or filled white."""
    import ctypes

    import pypdfium2.raw as raw

    textpage = page.get_textpage()  # type: ignore[attr-defined]
    try:
        n = textpage.count_chars()
        if n <= 0:
            return 0.0
        step = max(1, n // 200)  # a sample is enough
        seen = hidden = 0
        r, g, b, a = (ctypes.c_uint() for _ in range(4))
        for i in range(0, n, step):
            seen += 1
            obj = raw.FPDFText_GetTextObject(textpage.raw, i)
            if obj and raw.FPDFTextObj_GetTextRenderMode(obj) == raw.FPDF_TEXTRENDERMODE_INVISIBLE:
                hidden += 1
                continue
            if raw.FPDFText_GetFillColor(textpage.raw, i, r, g, b, a) and (
                    (r.value, g.value, b.value) == (255, 255, 255) or a.value == 0):
                hidden += 1
        return hidden / seen if seen else 0.0
    finally:
        textpage.close()


def _overlap(a: list[Word], b: list[Word]) -> float:
    """How far two readings of a page agree: overlap of their tokens that carry digits (amounts,
    numbers, dates — what a forged layer changes), or of all tokens when there are none."""
    def tokens(ws: list[Word]) -> set[str]:
        return {w.text.casefold().strip(".,:;") for w in ws}

    ta, tb = tokens(a), tokens(b)
    da, db = {t for t in ta if any(c.isdigit() for c in t)}, {t for t in tb if any(c.isdigit() for c in t)}
    if da and db:
        ta, tb = da, db
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


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
    """Orientation from EXIF, greyscale, light-on-dark regions inverted
    (:func:`~extractors.ocr.preprocess.invert_dark_regions`, ``settings.invert_dark``), and
    upscaling of small scans.

    By default a scan below ``settings.upscale_below_dpi`` is upscaled towards it (the DPI from the
    file, or guessed from the width; Lanczos, at most 3x). With ``settings.ocr_line_height`` set
    (opt-in), the factor comes from the text itself instead
    (:func:`~extractors.ocr.preprocess.text_line_height`): a page whose median text line is
    shorter than that many px is upscaled towards it (at most ``settings.upscale_max``;
    Tesseract's recogniser reads lines ~36 px high); a page whose lines cannot be measured falls
    back to the DPI rule.

    Returns the image to OCR and the size of the page frame boxes are reported in (the upright
    image before any upscaling).
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    from extractors.ocr.preprocess import (
        UPSCALE_KEY,
        invert_dark_regions,
        stated_dpi,
        text_line_height,
        upscale_factor,
    )

    source = image.info.get(SOURCE_KEY)
    oriented = image.getexif().get(0x0112, 1) not in (0, 1)
    img = ImageOps.exif_transpose(image)
    base_size = img.size
    mode_in = img.mode
    # Bilevel scans stay bilevel (Tesseract skips its own thresholding: ~0.25 CPU-s per A4 page);
    # everything else becomes greyscale.
    if img.mode not in ("L", "RGB", "1"):
        img = img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "LA") else img.convert("L")
    if img.mode == "RGB":
        img = img.convert("L")
    inverted = invert_dark_regions(img) if settings.invert_dark else None
    if inverted is not None:
        img = inverted
    dpi = stated_dpi(image)
    w, h = img.size
    factor = 1.0
    line_h = text_line_height(img) if settings.ocr_line_height else None
    if line_h is not None:
        factor = upscale_factor(line_h, target=settings.ocr_line_height, cap=settings.upscale_max)
    elif settings.upscale_below_dpi:
        # no measurable text lines: estimate the DPI from the width when the file does not say
        # (a receipt strip is ~3 inches wide, a page ~8)
        est = dpi or (w / (3.2 if h > 2.2 * w else 8.3))
        factor = upscale_factor(est, target=settings.upscale_below_dpi, cap=3.0)
        if factor > 1.0:
            dpi = dpi or est  # an estimate is passed on only for a page we upscale
    if factor > 1.0 and w * h * factor * factor <= settings.max_page_pixels:
        if img.mode == "1":
            img = img.convert("L")
        img = img.resize((int(w * factor), int(h * factor)), PILImage.Resampling.LANCZOS)
        img.info[UPSCALE_KEY] = factor
        dpi = dpi * factor if dpi else None
    if dpi:
        img.info["dpi"] = (dpi, dpi)
    # Untouched page: the OCR engine may read the original file (no re-encoding, and Tesseract
    # reads a JPEG faster than the same pixels as PGM).
    if source and not oriented and inverted is None and img.mode == mode_in and img.size == base_size:
        img.info[SOURCE_KEY] = source
    else:
        img.info.pop(SOURCE_KEY, None)
    return img, base_size


def call_ocr(ocr: OcrEngine, image: Image.Image, number: int, settings: Settings) -> list[Word]:
    """Run an OCR engine on one page under the per-page budget, with its errors mapped.

    Engines that do not time out on their own (in-process ones) are bounded by a watchdog thread;
    a bare ``RuntimeError("Tesseract process timeout")`` (pytesseract's) becomes ``ocr_timeout``,
    other ``RuntimeError``s are not timeouts and propagate.
    """
    import concurrent.futures as cf

    pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="docai-ocr")
    try:
        fut = pool.submit(ocr.ocr, image, page_number=number)
        try:
            return fut.result(timeout=settings.ocr_timeout_s + min(5.0, settings.ocr_timeout_s / 2))
        except cf.TimeoutError as exc:
            raise PageError(f"OCR took longer than {settings.ocr_timeout_s:g}s on page {number}",
                            reason="ocr_timeout", stage="ocr") from exc
        except RuntimeError as exc:
            if "process timeout" in str(exc).lower():
                raise PageError(f"OCR timed out on page {number}", reason="ocr_timeout",
                                stage="ocr") from exc
            raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _mean_conf(words: list[Word]) -> float:
    return sum(w.confidence for w in words) / len(words) if words else 0.0


def _looks_misoriented(words: list[Word]) -> bool:
    """Strong evidence only (orientation detection costs about one more OCR pass): almost no
    words, very low confidence, or mostly tall-and-narrow word boxes (text running sideways)."""
    if len(words) < 15:
        return True
    # upright pages of the dev sets read at 0.73 (FUNSD) to 0.91 (generated scans) mean word
    # confidence at their 5th percentile; an upside-down page read by deu+fra+eng at 0.555
    if _mean_conf(words) < 0.65:
        return True
    long_words = [w for w in words if len(w.text) >= 4]
    tall = sum(1 for w in long_words if (w.bbox[3] - w.bbox[1]) > 1.5 * (w.bbox[2] - w.bbox[0]))
    return bool(long_words) and tall / len(long_words) > 0.5


def _ocr_upright(img: Image.Image, ocr: OcrEngine, number: int, settings: Settings
                 ) -> tuple[Image.Image, list[Word], int]:
    """OCR, and when the result looks like a sideways or upside-down page, detect the orientation
    (Tesseract OSD), rotate and OCR again; keep whichever reading is more confident."""
    words = call_ocr(ocr, img, number, settings)
    if not _looks_misoriented(words):
        return img, words, 0
    detect = getattr(ocr, "orientation", None)
    if detect is None:
        return img, words, 0
    angle = detect(img)
    if not angle:
        return img, words, 0
    from extractors.ocr.preprocess import UPSCALE_KEY

    rotated = img.rotate(angle, expand=True)
    rotated.info.pop(SOURCE_KEY, None)
    rotated.info["dpi"] = img.info.get("dpi")
    if UPSCALE_KEY in img.info:
        rotated.info[UPSCALE_KEY] = img.info[UPSCALE_KEY]
    words2 = call_ocr(ocr, rotated, number, settings)
    if len(words2) * _mean_conf(words2) > len(words) * _mean_conf(words):
        return rotated, words2, angle
    return img, words, 0


def _ocr_page(number: int, image: Image.Image, ocr: OcrEngine, settings: Settings) -> Page:
    img, scale_to = prepare_for_ocr(image, settings)
    img, words, rotation = _ocr_upright(img, ocr, number, settings)
    if rotation in (90, 270):
        scale_to = (scale_to[1], scale_to[0])
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
    chooser = getattr(ocr, "engine_for", None)  # an engine that picks one per page (``auto``)
    engine = chooser(img).name if chooser is not None else ocr.name
    return Page(number=number, width=w, height=h, dpi=float(dpi[0]) if dpi else None,
                words=words, text_source="ocr", engine=engine, rotation=rotation)


Rasterizer = Callable[[object, float, float, Settings], "Image.Image"]
"""``(pdfium_page, width_pt, height_pt, settings) -> PIL image``; :func:`render_pdf_page` by default."""


def iter_pages(
    pre: Preflight,
    settings: Settings,
    ocr: OcrEngine | None,
    *,
    layout: Callable[[Page], Page] | None = None,
    rasterizer: Rasterizer | None = None,
) -> Iterator[Page]:
    """Yield the document's pages one at a time, each with words (and layout when given).

    A page that fails to render or OCR is yielded with ``status="failed"`` and the reason in
    ``error`` (the caller decides between ``partial`` and strict failure).
    """
    from extractors import hooks

    def finish(p: Page) -> Page:
        hooks.alive()  # one heartbeat per page for the worker watchdog (text-layer pages too)
        return layout(p) if layout is not None else p

    if pre.media_type == "application/pdf":
        pages = _pdf_pages(pre, settings, ocr, rasterizer or render_pdf_page)
        yield from (finish(p) if p.status == "ok" else p for p in pages)
    else:
        yield from (finish(p) if p.status == "ok" else p for p in _image_pages(pre, settings, ocr))


def _failed(number: int, exc: Exception) -> Page:
    reason = getattr(exc, "reason", None) or "page_failed"
    return Page(number=number, width=0, height=0, status="failed", error=reason)


def _pdf_pages(pre: Preflight, settings: Settings, ocr: OcrEngine | None,
               rasterize: Rasterizer) -> Iterator[Page]:
    import pypdfium2 as pdfium

    from extractors.preflight import PDFIUM_LOCK

    with PDFIUM_LOCK:  # pdfium is not thread-safe; the lock is never held during OCR or a yield
        try:
            pdf = pdfium.PdfDocument(str(pre.path))
        except pdfium.PdfiumError as exc:
            raise InputRejected("the PDF cannot be parsed", reason="corrupt_pdf",
                                stage="pages") from exc
        n_pages = len(pdf)
    try:
        for index in range(n_pages):
            number = index + 1
            out: Page | None = None
            image = None
            words: list[Word] = []
            hidden = 0.0
            with PDFIUM_LOCK:
                try:
                    page = pdf[index]
                except pdfium.PdfiumError:
                    out = _failed(number, PageError("page cannot be loaded", reason="render_failed"))
                else:
                    try:
                        w_pt, h_pt = page.get_size()
                        words = pdf_text_words(page, w_pt, h_pt, settings.dpi)
                        hidden = _hidden_text_share(page) if words else 0.0
                        if _usable_text(words, settings.min_text_chars) and hidden < 0.5:
                            scale = settings.dpi / 72.0
                            out = Page(number=number, width=w_pt * scale, height=h_pt * scale,
                                       dpi=float(settings.dpi), words=words,
                                       text_source="text_layer", engine="pdfium")
                        elif ocr is None:
                            out = Page(number=number, width=w_pt, height=h_pt, text_source="none")
                        else:
                            try:
                                image = rasterize(page, w_pt, h_pt, settings)
                            except PageError as exc:
                                out = _failed(number, exc)
                            except Exception as exc:  # pdfium render errors: this page only
                                out = _failed(number, PageError(
                                    f"render failed: {type(exc).__name__}", reason="render_failed"))
                    finally:
                        page.close()
            if out is not None or image is None or ocr is None:
                if out is not None:
                    yield out
                continue
            try:
                ocr_page = _ocr_page(number, image, ocr, settings)
                if hidden >= 0.5 and _usable_text(words, settings.min_text_chars):
                    # an invisible/white text layer: trust the image, flag disagreement
                    ocr_page.error = ("hidden_text_mismatch"
                                      if _overlap(words, ocr_page.words) < 0.5 else None)
                yield ocr_page
            except PageError as exc:
                yield _failed(number, exc)
            finally:
                image.close()
    finally:
        with PDFIUM_LOCK:
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
            if pre.n_pages == 1 and pre.media_type in ("image/jpeg", "image/png"):
                image.info[SOURCE_KEY] = os.path.abspath(pre.path)  # never an option-like "-x"
            if ocr is None:
                yield Page(number=number, width=image.width, height=image.height, text_source="none")
                continue
            try:
                yield _ocr_page(number, image, ocr, settings)
            except PageError as exc:
                yield _failed(number, exc)
            finally:
                image.close()
