"""``--ocr-engine auto``: RapidOCR for receipt-shaped pages, Tesseract for everything else.

RapidOCR (PP-OCRv4, :mod:`extractors.ocr.rapid`) reads receipts far better than Tesseract but
A4/Letter invoices worse (no accents or ``€`` in its dictionary, glued words). Pages are chosen by
shape: taller than :data:`RECEIPT_RATIO` times their width (A4 is 1.41, Letter 1.29; a till receipt
is a long strip). Chosen on sroie_train: with the per-document results of both engines (first 100
receipts), RapidOCR above 1.42 / 1.6 / 2.2 gave 63.5 / 63.8 / 60.5 % fields exact (all RapidOCR
63.2 %, all Tesseract 59.0 %). Without the optional package every page goes to Tesseract (logged
once).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from extractors.errors import DependencyMissing
from extractors.ocr.rapid import RapidOcrEngine
from extractors.ocr.tesseract import TesseractEngine
from extractors.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

    from schemas.document import Word

__all__ = ["RECEIPT_RATIO", "AutoOcrEngine"]

log = logging.getLogger("docai.ocr")

RECEIPT_RATIO = 1.6
"""Pages with ``height > RECEIPT_RATIO * width`` are read by RapidOCR."""


class AutoOcrEngine:
    """Tesseract, with RapidOCR for receipt-shaped pages when ``rapidocr_onnxruntime`` is installed.

    >>> AutoOcrEngine(Settings()).name
    'auto'
    """

    name = "auto"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.tesseract = TesseractEngine(self.settings)
        self.rapid = RapidOcrEngine(self.settings)
        self._rapid_ok: bool | None = None

    def _rapid_importable(self) -> bool:
        """Whether the optional package imports (cheap: its models load on the first receipt page)."""
        if self._rapid_ok is not None:
            return self._rapid_ok
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except Exception:  # ImportError, or OpenCV without libGL
            return False
        return True

    def _rapid_available(self) -> bool:
        """RapidOCR can run (loads its models once, on the first receipt-shaped page)."""
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
        return (f"auto (h/w > {RECEIPT_RATIO:g}: {rapid}; otherwise {self.tesseract.version()})")

    def check(self) -> None:
        """Tesseract is required; RapidOCR is used when it can run. Its models (~1 GB resident)
        load on the first receipt-shaped page, not here: a batch of native PDFs or A4 scans never
        loads them."""
        self.tesseract.check()
        if not self._rapid_importable():
            log.warning("ocr auto: RapidOCR is not installed; every page goes to Tesseract")

    def orientation(self, image: Image.Image) -> int:
        """Tesseract's orientation detection."""
        return self.tesseract.orientation(image)

    def engine_for(self, image: Image.Image) -> TesseractEngine | RapidOcrEngine:
        """The engine that reads this page."""
        w, h = image.size
        if h > RECEIPT_RATIO * w and self._rapid_available():
            return self.rapid
        return self.tesseract

    def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
        """OCR one page with the engine chosen by its shape."""
        return self.engine_for(image).ocr(image, page_number=page_number)
