"""OCR preprocessing: Otsu threshold, text line height, upscaling factor, prepare_for_ocr."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from extractors.ocr.preprocess import otsu_threshold, text_line_height, upscale_factor
from extractors.pages import prepare_for_ocr
from extractors.settings import Settings


def _lines_page(width: int, height: int, line_h: int, gap: int, *, ink: int = 40,
                paper: int = 235, skew_px: int = 0) -> Image.Image:
    """A page of 'text lines': rows of word-like dark blocks ``line_h`` px high."""
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


def test_prepare_for_ocr_upscales_small_text_towards_target() -> None:
    img = _lines_page(400, 800, 10, gap=8).convert("RGB")
    out, base = prepare_for_ocr(img, Settings(ocr_line_height=40, upscale_max=4.0))
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
    out, _ = prepare_for_ocr(img, Settings(ocr_line_height=30, upscale_max=4.0))
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
