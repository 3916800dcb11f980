"""OCR preprocessing: Otsu threshold, text line height, upscaling factor, dark regions, prepare_for_ocr."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors.ocr.preprocess import (
    dark_regions,
    invert_dark_regions,
    otsu_threshold,
    text_line_height,
    upscale_factor,
)
from extractors.pages import prepare_for_ocr
from extractors.settings import Settings


def _lines_page(width: int, height: int, line_h: int, gap: int, *, ink: int = 40,
                paper: int = 235, skew_px: int = 0) -> Image.Image:
    """A page of 'text lines': rows of word-like dark blocks ``line_h`` px high.

    The solid blocks line up in columns, which looks like striped dark regions to
    ``invert_dark_regions``: the upscaling tests below switch that off (``_UP``)."""
    img = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(img)
    y = gap
    while y + line_h < height - gap:
        x = 10
        while x < width - 60:
            word_w = 25 + (x * 7) % 30
            dy = int(skew_px * x / width)
            draw.rectangle((x, y + dy, x + word_w, y + dy + line_h - 1), fill=ink)
            x += word_w + 12
        y += line_h + gap
    return img


def test_otsu_separates_two_levels() -> None:
    a = np.array([[30] * 50 + [220] * 50], dtype=np.uint8)
    t = otsu_threshold(a)
    assert 30 < t <= 220
    assert (a < t).sum() == 50


def test_otsu_uniform_image_does_not_crash() -> None:
    assert 0 <= otsu_threshold(np.full((10, 10), 255, dtype=np.uint8)) <= 256


@pytest.mark.parametrize("line_h", [8, 14, 30])
def test_text_line_height_measures_lines(line_h: int) -> None:
    img = _lines_page(500, 900, line_h, gap=line_h // 2 + 3)
    got = text_line_height(img)
    assert got is not None
    assert abs(got - line_h) <= 1


def test_text_line_height_tolerates_slight_skew() -> None:
    # 6 px drift over the width: whole-page rows would merge lines; per-strip runs do not
    img = _lines_page(800, 900, 12, gap=10, skew_px=6)
    got = text_line_height(img)
    assert got is not None and got <= 16


def test_text_line_height_large_page_scaled_back() -> None:
    img = _lines_page(2400, 3400, 40, gap=20)
    got = text_line_height(img, max_side=1200)
    assert got is not None and abs(got - 40) <= 3


def test_text_line_height_blank_page_is_none() -> None:
    assert text_line_height(Image.new("L", (300, 400), 255)) is None


def test_upscale_factor() -> None:
    assert upscale_factor(10, target=40, cap=3.0) == 3.0
    assert upscale_factor(20, target=40, cap=4.0) == pytest.approx(2.0)
    assert upscale_factor(38, target=40, cap=4.0) == 1.0   # below min gain
    assert upscale_factor(60, target=40, cap=4.0) == 1.0   # never downscale
    assert upscale_factor(None, target=40, cap=4.0) == 1.0
    assert upscale_factor(0, target=40, cap=4.0) == 1.0


_UP = {"invert_dark": False}


def test_prepare_for_ocr_upscales_small_text_towards_target() -> None:
    img = _lines_page(400, 800, 10, gap=8).convert("RGB")
    out, base = prepare_for_ocr(img, Settings(ocr_line_height=40, upscale_max=4.0, **_UP))
    assert base == (400, 800)
    assert out.mode == "L"
    assert out.size == (1600, 3200)
    lh = text_line_height(out)
    assert lh is not None and 36 <= lh <= 44


def test_prepare_for_ocr_leaves_big_text_alone() -> None:
    img = _lines_page(600, 800, 44, gap=20)
    out, base = prepare_for_ocr(img, Settings(ocr_line_height=40))
    assert out.size == base == (600, 800)


def test_prepare_for_ocr_respects_cap_and_pixel_budget() -> None:
    img = _lines_page(400, 800, 5, gap=6)
    out, _ = prepare_for_ocr(img, Settings(ocr_line_height=40, upscale_max=2.0))
    assert out.size == (800, 1600)
    out, _ = prepare_for_ocr(img, Settings(ocr_line_height=40, max_page_pixels=400 * 800 * 2))
    assert out.size == (400, 800)


def test_prepare_for_ocr_scales_known_dpi() -> None:
    img = _lines_page(400, 800, 10, gap=8)
    img.info["dpi"] = (150, 150)
    out, _ = prepare_for_ocr(img, Settings(ocr_line_height=30, upscale_max=4.0, **_UP))
    assert out.size == (1200, 2400)
    assert out.info["dpi"][0] == pytest.approx(450)


def test_prepare_for_ocr_default_is_the_dpi_rule() -> None:
    # line-height upscaling is opt-in; by default a 100-DPI scan goes to 200 DPI (2x)
    img = _lines_page(400, 800, 44, gap=20)
    img.info["dpi"] = (100, 100)
    out, base = prepare_for_ocr(img, Settings())
    assert base == (400, 800)
    assert out.size == (800, 1600)
    assert out.info["dpi"][0] == pytest.approx(200)
    img.info["dpi"] = (300, 300)
    out, _ = prepare_for_ocr(img, Settings())
    assert out.size == (400, 800)


def test_prepare_for_ocr_no_dpi_estimate_without_upscaling() -> None:
    # a page with no DPI in the file that is not upscaled is passed on without a guessed DPI
    img = _lines_page(2400, 3000, 44, gap=20)
    out, _ = prepare_for_ocr(img, Settings())
    assert out.size == (2400, 3000)
    assert "dpi" not in out.info


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _band_page() -> Image.Image:
    """A 200-DPI page: black text on paper, a mid-blue header band with white text (title, vendor)
    and a thin shaded totals row with white text."""
    img = Image.new("L", (1654, 2339), 242)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 1653, 300), fill=70)
    d.text((120, 90), "INVOICE", fill=250, font=_font(90))
    d.text((1150, 80), "Harbour Tools Ltd", fill=250, font=_font(34))
    for i, line in enumerate(["Bill to: Globex Corporation", "Invoice No: INV-2291", "Date: 2024-03-14"]):
        d.text((120, 420 + 60 * i), line, fill=20, font=_font(34))
    d.text((120, 800), "HEAVY BOLD HEADING", fill=10, font=_font(70))
    d.rectangle((900, 1200, 1560, 1245), fill=90)
    d.text((920, 1203), "Total: 1,234.56", fill=245, font=_font(34))
    d.rectangle((120, 1500, 500, 1600), fill=0)  # a solid block (logo, redaction): nothing to read
    return img


def test_dark_regions_find_bands_and_thin_shaded_rows_not_black_text() -> None:
    boxes = dark_regions(_band_page())
    assert len(boxes) == 2
    (bx0, by0, bx1, by1), (tx0, ty0, tx1, ty1) = boxes
    assert bx0 == 0 and by0 == 0 and bx1 >= 1640 and 295 <= by1 <= 320  # the whole band
    assert tx0 <= 905 and ty0 <= 1205 and tx1 >= 1555 and ty1 >= 1240  # the whole shaded row
    assert not any(y0 < 870 and y1 > 800 for _, y0, _, y1 in boxes)  # the bold heading is not dark


def test_invert_dark_regions_makes_band_text_dark_on_white() -> None:
    out = invert_dark_regions(_band_page())
    assert out is not None
    a = np.asarray(out)
    band = a[10:290, 10:1640]
    assert np.median(band) > 230  # background stretched back to white, not mid-grey
    assert band.min() < 60  # the title is dark ink now
    assert abs(float(np.median(a[600:700])) - 242) < 3  # paper outside untouched
    assert invert_dark_regions(Image.new("L", (800, 600), 240)) is None


def test_prepare_for_ocr_inverts_bands_and_drops_the_source_shortcut() -> None:
    page = _band_page()
    page.info["dpi"] = (200, 200)
    page.info["docai_source"] = "/nowhere/scan.png"
    img, _ = prepare_for_ocr(page, Settings())
    assert np.median(np.asarray(img)[10:290, 10:1640]) > 230
    assert "docai_source" not in img.info  # the engine must read these pixels, not the file
    off, _ = prepare_for_ocr(page, Settings(invert_dark=False))
    assert np.median(np.asarray(off)[10:290, 10:1640]) < 100


@pytest.mark.tesseract
def test_tesseract_reads_white_on_dark_band_text_after_inversion() -> None:
    from extractors.ocr.tesseract import TesseractEngine

    engine = TesseractEngine(Settings(lang="eng"))
    img, _ = prepare_for_ocr(_band_page(), Settings())
    text = " ".join(w.text for w in engine.ocr(img))
    assert "Harbour" in text and "1,234.56" in text


def test_dark_table_around_a_photographed_receipt_is_not_a_band() -> None:
    img = Image.new("L", (900, 1800), 35)  # the table the receipt lies on
    d = ImageDraw.Draw(img)
    d.rectangle((120, 80, 780, 1720), fill=225)  # the receipt
    for i in range(20):
        d.text((160, 140 + 70 * i), f"ITEM {i:02d}      12.50", fill=30, font=_font(30))
    boxes = dark_regions(img)
    # whatever strips of table are found, none reaches into the receipt's text
    assert not any(x0 < 700 and x1 > 200 and y0 < 1500 and y1 > 200 for x0, y0, x1, y1 in boxes)
    out = invert_dark_regions(img)
    page = np.asarray(out if out is not None else img)
    assert np.median(page[200:1500, 200:700]) > 200  # the receipt stays dark-on-light
