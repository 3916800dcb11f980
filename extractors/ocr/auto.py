"""``--ocr-engine auto``: RapidOCR for receipts and low-resolution scans, Tesseract for everything else.

RapidOCR (PP-OCRv4, :mod:`extractors.ocr.rapid`) reads receipts far better than Tesseract but
A4/Letter invoices worse (no accents or ``€`` in its dictionary, glued words). Pages are chosen by
shape: taller than :data:`RECEIPT_RATIO` times their width (A4 is 1.41, Letter 1.29; a till receipt
is a long strip). Chosen on sroie_train: with the per-document results of both engines (first 100
receipts), RapidOCR above 1.42 / 1.6 / 2.2 gave 63.5 / 63.8 / 60.5 % fields exact (all RapidOCR
63.2 %, all Tesseract 59.0 %). A receipt laid on a scanner bed or photographed on a page-shaped
frame is a receipt too: its ink is a narrow, tall block (:func:`receipt_shaped`); it is cut out,
enlarged and read by RapidOCR (:data:`CROP_SCALE`); so is a page whose file gives a resolution that
makes it till-roll narrow, however short (:data:`RECEIPT_WIDTH_IN`). A page-shaped scan whose text lines were only
a few pixels high as scanned (:data:`LOW_RES_LINE`: old faxes and forms at ~100 DPI) goes to
RapidOCR as well, unless it turns out to be German or French (:data:`ACCENTED`). Without the
optional package every page goes to Tesseract (logged once).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from extractors.errors import DependencyMissing
from extractors.ocr.preprocess import ink_extent, source_line_height, stated_dpi
from extractors.ocr.rapid import RapidOcrEngine
from extractors.ocr.tesseract import TesseractEngine, page_language
from extractors.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

    from schemas.document import Word

__all__ = ["CROP_MARGIN", "CROP_SCALE", "LOW_RES_LINE", "NARROW_INK", "RECEIPT_RATIO", "RECEIPT_WIDTH_IN",
           "READ_BY_KEY", "AutoOcrEngine", "low_resolution", "receipt_on_page", "receipt_shaped", "till_roll"]

log = logging.getLogger("docai.ocr")

RECEIPT_RATIO = 1.6
"""Pages with ``height > RECEIPT_RATIO * width`` are read by RapidOCR."""

RECEIPT_WIDTH_IN = 3.5
"""A page narrower than this many inches, by the resolution its file states, is till-roll paper (57
to 80 mm) whatever its length, and is read by RapidOCR: a receipt with one item is nearly square
(the demo's ``rcp_0003.png``, 3.2 inches wide, whose right-hand column of amounts Tesseract did
not read at all). Pages whose file states no resolution are judged by their shape alone."""

NARROW_INK = 0.5
"""A page whose ink lies within this fraction of its width, in a block taller than
:data:`RECEIPT_RATIO` times its width, is a receipt laid on a scanner or photographed on a
page-shaped frame, and is read by RapidOCR too (see :func:`receipt_shaped`)."""

CROP_MARGIN = 0.03
"""Margin around the ink of a receipt lying on a page, as a fraction of the page's sides."""
CROP_SCALE = 1.5
"""Such a receipt is cut out and enlarged this much before RapidOCR reads it (its print is small:
~20 px lines). On the 18 receipts of sroie_train photographed or scanned on a page-shaped frame
(12 of them narrow, the rest read by Tesseract either way; ``docai eval --no-cache``), fields exact:
Tesseract 63.9 %, RapidOCR on the whole page 62.5 %, cut out 62.5 % (x1), 66.7 % (x1.5),
63.9 % (x2)."""


LOW_RES_LINE = 12.0
"""A page-shaped scan whose text lines were under this many pixels high as scanned
(:func:`~extractors.ocr.preprocess.source_line_height`: 10-point print at ~100 DPI or less) is
read by RapidOCR too: enlarging such a scan does not give Tesseract the strokes it needs, while
RapidOCR's recogniser still reads it. Chosen on funsd_train (149 forms scanned at ~90 DPI, lines 4 to
13 px as scanned; ``docai ask-eval``, 1,323 questions, mean ANLS): all Tesseract 0.687, all
RapidOCR 0.710, RapidOCR below 10 / 11 / 12 / 13 px 0.700 / 0.711 / 0.713 / 0.710. The generated
invoices (150 to 200 DPI scans, 12 to 24 px) read better with Tesseract at every height (all
RapidOCR: header fields exact 96.2 → 80.6 %), and only one of them is under 12 px."""


ACCENTED = ("deu", "fra")
"""Languages (:func:`~extractors.ocr.tesseract.page_language`) whose low-resolution pages go back to
Tesseract after RapidOCR has read them: RapidOCR's dictionary has no accents, umlauts, ``ß`` or
``€`` (a German invoice scanned at ~100 DPI lost 4 of its 13 header fields to it)."""


READ_BY_KEY = "docai_read_by"
"""``image.info`` key naming the engine whose reading of a page was kept when it is not the one
:class:`AutoOcrEngine` chose first."""


def low_resolution(image: Image.Image) -> bool:
    """Whether a page's text lines were under :data:`LOW_RES_LINE` pixels high as scanned."""
    height = source_line_height(image)
    return height is not None and height < LOW_RES_LINE


def receipt_on_page(image: Image.Image) -> tuple[float, float, float, float] | None:
    """The ink extent (:func:`~extractors.ocr.preprocess.ink_extent`) of a page that is not
    receipt-shaped itself but carries one: its ink a narrow (:data:`NARROW_INK`), tall block."""
    w, h = image.size
    ext = ink_extent(image) if h <= RECEIPT_RATIO * w else None
    if ext is None:
        return None
    x0, y0, x1, y1 = ext
    return ext if x1 - x0 < NARROW_INK and (y1 - y0) * h > RECEIPT_RATIO * (x1 - x0) * w else None


def till_roll(image: Image.Image) -> bool:
    """Whether the file gives a resolution that makes the page narrower than
    :data:`RECEIPT_WIDTH_IN`.

    >>> from PIL import Image
    >>> page = Image.new("L", (760, 750), 255)
    >>> till_roll(page)
    False
    >>> page.info["dpi"] = (241, 241); till_roll(page)
    True
    """
    dpi = stated_dpi(image)
    return dpi is not None and image.size[0] / dpi < RECEIPT_WIDTH_IN


def receipt_shaped(image: Image.Image) -> bool:
    """Whether a page is a receipt: taller than :data:`RECEIPT_RATIO` times its width, till-roll
    narrow (:func:`till_roll`), or a receipt lying on a page (:func:`receipt_on_page`).

    >>> from PIL import Image
    >>> receipt_shaped(Image.new("L", (300, 900), 255))
    True
    >>> page = Image.new("L", (1240, 1754), 255)
    >>> receipt_shaped(page)
    False
    >>> page.paste(0, (500, 300, 800, 1400)); receipt_shaped(page)
    True
    """
    return _receipt(image)[0]


def _receipt(image: Image.Image) -> tuple[bool, tuple[float, float, float, float] | None]:
    """Whether a page is a receipt (:func:`receipt_shaped`), and the receipt's ink extent when it
    lies on a page."""
    w, h = image.size
    on_page = receipt_on_page(image)
    return h > RECEIPT_RATIO * w or till_roll(image) or on_page is not None, on_page


class AutoOcrEngine:
    """Tesseract, with RapidOCR for receipt-shaped pages and low-resolution scans when
    ``rapidocr_onnxruntime`` is installed.

    >>> AutoOcrEngine(Settings()).name
    'auto'
    """

    name = "auto"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.tesseract = TesseractEngine(self.settings)
        self.rapid = RapidOcrEngine(self.settings)
        # forms and faxes: their lines end by rules, boxes and tick marks, not by a receipt's
        # commas (funsd_train key-value F1 0.552 -> 0.531 with the line ends carried on)
        self.rapid_scan = RapidOcrEngine(self.settings, line_end=0.0)
        self._rapid_ok: bool | None = None
        # the last page's choice: (image, engine, receipt extent on a page, chosen for its
        # resolution alone)
        self._last: tuple[Image.Image, TesseractEngine | RapidOcrEngine,
                          tuple[float, float, float, float] | None, bool] | None = None

    def _rapid_importable(self) -> bool:
        """Whether the optional package imports (cheap: its models load on the first page it reads)."""
        if self._rapid_ok is not None:
            return self._rapid_ok
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except Exception:  # ImportError, or OpenCV without libGL
            return False
        return True

    def _rapid_available(self) -> bool:
        """RapidOCR can run (loads its models once, on the first page it reads)."""
        if self._rapid_ok is None:
            try:
                self.rapid.check()
                self._rapid_ok = True
            except DependencyMissing as exc:
                log.warning("ocr auto: RapidOCR unavailable (%s); every page goes to Tesseract",
                            exc.reason)
                self._rapid_ok = False
        return self._rapid_ok

    def version(self) -> str:
        """Both engines' versions and the rule between them."""
        rapid = self.rapid.version() if self._rapid_importable() else "unavailable"
        scan = f"line ends carried on {self.rapid_scan.line_end:g}"
        return (f"auto (receipts: h/w > {RECEIPT_RATIO:g}, under {RECEIPT_WIDTH_IN:g} in wide or lying "
                f"on a page, and text lines under {LOW_RES_LINE:g} px ({scan}): {rapid}; "
                f"otherwise {self.tesseract.version()})")

    def check(self) -> None:
        """Tesseract is required; RapidOCR is used when it can run. Its models (~1 GB resident)
        load on the first page they read, not here: a batch of native PDFs or A4 scans never
        loads them."""
        self.tesseract.check()
        if not self._rapid_importable():
            log.warning("ocr auto: RapidOCR is not installed; every page goes to Tesseract")

    def orientation(self, image: Image.Image) -> int:
        """Tesseract's orientation detection."""
        return self.tesseract.orientation(image)

    def engine_for(self, image: Image.Image) -> TesseractEngine | RapidOcrEngine:
        """The engine that reads this page (decided once per image: the page's OCR and its
        ``Page.engine`` ask for the same image)."""
        return self._choose(image)[0]

    def _choose(self, image: Image.Image) -> tuple[TesseractEngine | RapidOcrEngine,
                                                   tuple[float, float, float, float] | None, bool]:
        """The engine for this page, the receipt's ink extent when it lies on a page, and whether
        RapidOCR was chosen for the page's resolution alone."""
        if image.info.get(READ_BY_KEY) == self.tesseract.name:
            return self.tesseract, None, False
        last = self._last  # one slot, shared by threads: a miss only recomputes
        if last is not None and last[0] is image:
            return last[1], last[2], last[3]
        receipt, on_page = _receipt(image)
        rapid = (receipt or low_resolution(image)) and self._rapid_available()
        by_resolution = rapid and not receipt
        engine = (self.rapid_scan if by_resolution else self.rapid) if rapid else self.tesseract
        self._last = (image, engine, on_page if rapid else None, by_resolution)
        return self._last[1], self._last[2], self._last[3]

    def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
        """OCR one page with the engine chosen by its shape and resolution; a receipt lying on a
        page-shaped scan is cut out (its ink extent and a margin), enlarged by
        :data:`CROP_SCALE` and read on its own, its words mapped back onto the page. A
        low-resolution page that RapidOCR reads as German or French is read again by Tesseract
        (:data:`ACCENTED`); that reading is the page's, and the image says so
        (:data:`READ_BY_KEY`, for :meth:`engine_for`)."""
        engine, ext, by_resolution = self._choose(image)
        w, h = image.size
        if ext is None:
            words = engine.ocr(image, page_number=page_number)
            if by_resolution and page_language(words) in ACCENTED:
                image.info[READ_BY_KEY] = self.tesseract.name
                return self.tesseract.ocr(image, page_number=page_number)
            return words
        from PIL import Image as PILImage

        from schemas.document import Word as PageWord

        x0, y0, x1, y1 = ext
        left, top = max(0, int((x0 - CROP_MARGIN) * w)), max(0, int((y0 - CROP_MARGIN) * h))
        box = (left, top, min(w, int((x1 + CROP_MARGIN) * w)), min(h, int((y1 + CROP_MARGIN) * h)))
        crop = image.crop(box)
        crop = crop.resize((int(crop.width * CROP_SCALE), int(crop.height * CROP_SCALE)),
                           PILImage.Resampling.LANCZOS)
        return [PageWord.from_pixels(wd.text, (wd.bbox[0] / CROP_SCALE + left, wd.bbox[1] / CROP_SCALE + top,
                                               wd.bbox[2] / CROP_SCALE + left, wd.bbox[3] / CROP_SCALE + top),
                                     page_width=w, page_height=h, confidence=wd.confidence)
                for wd in engine.ocr(crop, page_number=page_number)]
