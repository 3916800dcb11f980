"""Image preprocessing for OCR: how big the text is, and how much to upscale a page.

Tesseract's LSTM recogniser rescales every text line to a fixed height internally (36 px for the
``eng`` models); text much smaller than that loses strokes before it gets there. Receipt scans
and phone photos carry no trustworthy DPI, so the upscaling factor is chosen from the text
itself: :func:`text_line_height` measures the median height of text lines from a row projection
of the ink (computed in vertical strips so that a slightly skewed page still separates its
lines), and :func:`upscale_factor` turns it into a factor towards a target line height.

Measured (``prepare_for_ocr`` in :mod:`extractors.pages`, opt-in via ``ocr_line_height``):

* ``sroie_train`` (200 real receipts), ``docai eval``, exact total/date/name/address:
  DPI rule 73.5/74.0/47.5/29.0 %, line height 40 px 71.5/77.0/45.5/31.0 % (CPU +32 %); the OCR
  ceiling (ground truth found in the OCR text, psm 4) rises more: total 79.5 -> 83.0, address
  34.5 -> 41.5 (30 px: 79.5/39.5, 50 px: 78.5/37.5).
* 40 generated scanned invoices (150-200 DPI): worse (invoice_id 83 -> 73 %, tax_total
  92 -> 72 %) and 1.8x the CPU, hence off by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["otsu_threshold", "text_line_height", "upscale_factor"]


def otsu_threshold(grey: np.ndarray) -> int:
    """Otsu's global threshold of an 8-bit greyscale array (pixels ``< t`` are ink).

    >>> otsu_threshold(np.array([[0, 0, 255, 255]], dtype=np.uint8)) in range(1, 256)
    True
    """
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128
    p = hist / total
    w = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w - mu) ** 2 / (w * (1.0 - w))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0, neginf=-1.0)
    if between.max() <= 0:
        return 128
    # the threshold separates levels <= argmax from the rest; ink is strictly below t
    return int(np.argmax(between)) + 1


def text_line_height(image: Image.Image, *, strips: int = 4, min_height: int = 3,
                     max_side: int = 1600) -> float | None:
    """Median height in pixels of the text lines of a page image, or ``None`` when it has none.

    The page is binarised (Otsu), cut into ``strips`` vertical strips, and in each strip the rows
    holding ink form runs: one run per text line. Runs shorter than ``min_height`` (rules, specks)
    are ignored. Large pages are measured on a copy shrunk by an integer factor (to at most
    ``max_side`` px) and the height is scaled back.
    """
    grey = image.convert("L")
    scale = 1
    if max(grey.size) > max_side:
        scale = -(-max(grey.size) // max_side)  # ceil
        grey = grey.reduce(scale)  # box average: cheap, and keeps text lines apart
    a = np.asarray(grey, dtype=np.uint8)
    if a.size == 0:
        return None
    ink = a < otsu_threshold(a)
    height, width = ink.shape
    runs: list[int] = []
    for i in range(strips):
        part = ink[:, i * width // strips:(i + 1) * width // strips]
        if part.shape[1] == 0:
            continue
        rows = (part.mean(axis=1) > 0.01).astype(np.int8)
        edges = np.diff(np.concatenate(([0], rows, [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs.extend(int(e - s) for s, e in zip(starts, ends, strict=True) if e - s >= min_height)
    if not runs:
        return None
    return float(np.median(runs)) * scale


def upscale_factor(line_height: float | None, *, target: float, cap: float,
                   min_gain: float = 1.15) -> float:
    """Factor that brings ``line_height`` up to ``target`` px, at most ``cap``; 1.0 when the text
    is already big enough, unknown, or the gain would be below ``min_gain``.

    >>> upscale_factor(10, target=40, cap=3.0)
    3.0
    >>> upscale_factor(38, target=40, cap=3.0)
    1.0
    """
    if not line_height or line_height <= 0 or target <= 0:
        return 1.0
    factor = min(cap, target / line_height)
    return factor if factor > min_gain else 1.0
