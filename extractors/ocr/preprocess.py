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

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["UPSCALE_KEY", "dark_regions", "ink_extent", "invert_dark_regions", "otsu_threshold",
           "source_line_height", "stated_dpi", "text_line_height", "upscale_factor"]


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


def ink_extent(image: Image.Image, *, max_side: int = 600, trim: float = 2.0
               ) -> tuple[float, float, float, float] | None:
    """Where the ink lies on the page: ``(x0, y0, x1, y1)`` as fractions of the width and height,
    the ``trim``-th and ``100 - trim``-th percentiles of the dark pixels' coordinates (specks,
    stamps and a handwritten note at the edge do not widen it). ``None`` for a blank page.

    Computed on a thumbnail (``max_side`` px): ~5 ms for a 300 DPI A4 scan.

    >>> img = Image.new("L", (400, 600), 255); img.paste(0, (150, 100, 250, 500))
    >>> [round(v, 1) for v in ink_extent(img)]
    [0.4, 0.2, 0.6, 0.8]
    """
    grey = image.convert("L")
    grey.thumbnail((max_side, max_side))
    a = np.asarray(grey)
    dark = a < min(otsu_threshold(a), 160)
    ys, xs = np.nonzero(dark)
    if xs.size < 50:
        return None
    x0, x1 = np.percentile(xs, [trim, 100 - trim]) / a.shape[1]
    y0, y1 = np.percentile(ys, [trim, 100 - trim]) / a.shape[0]
    return float(x0), float(y0), float(x1), float(y1)


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


def stated_dpi(image: Image.Image) -> float | None:
    """The resolution a page's file states (``image.info["dpi"]``: an (x, y) pair or a number; the
    horizontal one), or ``None`` when it states none or zero.

    >>> page = Image.new("L", (10, 10)); page.info["dpi"] = (300, 300); stated_dpi(page)
    300.0
    >>> page.info["dpi"] = (0, 0); stated_dpi(page) is None
    True
    """
    dpi = image.info.get("dpi")
    value = dpi[0] if isinstance(dpi, tuple) and dpi else dpi
    try:
        return float(value) if value and float(value) > 0 else None
    except (TypeError, ValueError):
        return None


UPSCALE_KEY = "docai_upscale"
"""``image.info`` key holding the factor a page was enlarged by before OCR
(:func:`extractors.pages.prepare_for_ocr`)."""


def source_line_height(image: Image.Image) -> float | None:
    """:func:`text_line_height` of the page as it was scanned: measured on the image the OCR
    engine gets and divided by the factor it was enlarged by (:data:`UPSCALE_KEY`)."""
    height = text_line_height(image)
    return height / float(image.info.get(UPSCALE_KEY) or 1.0) if height else None


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


DARK_FRACTION = 0.35
"""A neighbourhood is dark background when fewer than this share of its pixels are light (at or
above the page's Otsu threshold):
white text on a dark band is mostly dark (10-25 % light), black text on paper mostly light (even
bold headings stay above ~50 %)."""


MIN_WIDTH, MIN_HEIGHT = 0.15, 0.012
"""Smallest dark rectangle considered, as shares of the page width and height: a band of text
spans a good part of the page (a shaded totals row is ~40 % of the width and ~2 % of the height of
an A4 page)."""

MIN_LIGHT, MAX_LIGHT = 0.02, 0.45
"""A dark rectangle is worth inverting only when at least ``MIN_LIGHT`` of it is light (its text):
solid blocks (logos, redaction bars, barcodes) are left alone; and at most ``MAX_LIGHT``: the
bounding box of a dark frame (the table around a photographed receipt) is mostly light inside."""


def dark_regions(image: Image.Image, *, max_side: int = 400) -> list[tuple[int, int, int, int]]:
    """Pixel boxes ``(x0, y0, x1, y1)`` of the page's dark-background rectangles (coloured header
    bands, shaded totals rows, negative scans).

    Decided on a shrunken copy (at most ``max_side`` px, cells of ``k`` px): a cell is dark when
    fewer than :data:`DARK_FRACTION` of the pixels in its ~5x5-cell neighbourhood are light; a
    morphological opening drops text strokes and a closing fills the light inside big letters.
    Each connected dark area becomes its bounding box, grown one cell at a time while the strip
    next to an edge is still mostly dark (a band's ends and thin shaded rows are cut short by the
    neighbourhood test); boxes inside the page whose band goes on left or right where it cannot
    be told apart from its text, boxes too small to hold a band of text (:data:`MIN_WIDTH`,
    :data:`MIN_HEIGHT`) or not dark with some light in them (:data:`MIN_LIGHT`) are dropped and
    overlapping ones merged.

    >>> page = Image.new("L", (400, 300), 255)
    >>> dark_regions(page)
    []
    >>> page.paste(20, (0, 0, 400, 100))
    >>> dark_regions(page)  # solid: nothing to read in it
    []
    >>> page.paste(230, (100, 40, 300, 60))  # a light "word" in the band
    >>> dark_regions(page)
    [(0, 0, 400, 100)]
    """
    from scipy import ndimage

    grey = image if image.mode == "L" else image.convert("L")
    w, h = grey.size
    k = max(1, -(-max(w, h) // max_side))  # ceil
    # light and dark relative to the page (Otsu): a dim grey receipt's paper is light too
    t = otsu_threshold(np.asarray(grey.reduce(k) if k > 1 else grey, dtype=np.uint8))
    light = grey.point(lambda v: 255 if v >= t else 0)
    small = light.reduce(k) if k > 1 else light
    share = small.filter(ImageFilter.BoxBlur(2))
    dark = share.point(lambda v: 255 if v < 255 * DARK_FRACTION else 0)
    dark = dark.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))  # opening
    if dark.getbbox() is None:
        return []
    dark = dark.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.MinFilter(7))  # closing
    cells = np.asarray(small, dtype=np.float32) / 255.0  # light share per cell
    labels, _ = ndimage.label(np.asarray(dark) > 0)
    sh, sw = cells.shape
    boxes: list[list[int]] = []
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        grew = True
        while grew:
            grew = False
            if y0 > 0 and cells[y0 - 1, x0:x1].mean() < 0.5:
                y0, grew = y0 - 1, True
            if y1 < sh and cells[y1, x0:x1].mean() < 0.5:
                y1, grew = y1 + 1, True
            if x0 > 0 and cells[y0:y1, x0 - 1].mean() < 0.5:
                x0, grew = x0 - 1, True
            if x1 < sw and cells[y0:y1, x1].mean() < 0.5:
                x1, grew = x1 + 1, True
        if (x1 - x0) < MIN_WIDTH * sw or (y1 - y0) < MIN_HEIGHT * sh:
            continue  # a blob, a stain, the edge of a photo: not a band of text
        inside = y0 > 0 and y1 < sh  # a header or footer band at the page edge may be skewed
        if inside and ((x0 > 0 and cells[y0:y1, max(0, x0 - 4):x0].mean() < 0.75)
                       or (x1 < sw and cells[y0:y1, x1:x1 + 4].mean() < 0.75)):
            continue  # the band goes on left or right with light text we cannot tell apart: half
            # a band inverted would break its words, so leave it as it is
        if MIN_LIGHT <= cells[y0:y1, x0:x1].mean() <= MAX_LIGHT:
            boxes.append([x0, y0, x1, y1])
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return sorted((x0 * k, y0 * k, min(w, x1 * k), min(h, y1 * k)) for x0, y0, x1, y1 in boxes)


def invert_dark_regions(image: Image.Image, *, max_side: int = 400) -> Image.Image | None:
    """The page with its light-on-dark rectangles (:func:`dark_regions`) turned into
    dark-on-light text, or ``None`` when it has none.

    Tesseract reads dark text on a light background; its own per-line inversion test misses most
    of a white-on-colour band. Each rectangle is inverted, and its background, only as light as
    the band was dark (a mid-blue band turns mid-grey, which a global threshold would make all
    ink), is stretched back to white by the rectangle's median level.

    >>> page = Image.new("L", (400, 300), 255)
    >>> invert_dark_regions(page) is None
    True
    >>> page.paste(60, (0, 0, 400, 100))  # a dark band across the top
    >>> page.paste(250, (100, 40, 300, 60))  # with something light printed on it
    >>> out = invert_dark_regions(page)
    >>> out.getpixel((50, 50)), out.getpixel((200, 50)) < 60, out.getpixel((200, 200))
    (255, True, 255)
    """
    grey = image if image.mode == "L" else image.convert("L")
    boxes = dark_regions(grey, max_side=max_side)
    if not boxes:
        return None
    out = np.array(grey, dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        inv = 255.0 - out[y0:y1, x0:x1].astype(np.float32)
        bg = max(float(np.median(inv)), 64.0)
        out[y0:y1, x0:x1] = np.clip(inv * 255.0 / bg, 0, 255).astype(np.uint8)
    result = Image.fromarray(out, mode="L")
    if "dpi" in image.info:
        result.info["dpi"] = image.info["dpi"]
    return result
