"""The optional RapidOCR engine (``--ocr-engine rapidocr``): registry, word splitting, boxes, CLI.

Tests that run the models skip cleanly when ``rapidocr_onnxruntime`` is not installed
(``pip install -e ".[ocr-rapid]"``); the pure word-splitting tests always run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from extractors import registry
from extractors.errors import DependencyMissing
from extractors.ocr.rapid import RapidOcrEngine, line_words
from extractors.settings import Settings
from tests.conftest import make_scan

HAVE_RAPID = importlib.util.find_spec("rapidocr_onnxruntime") is not None
needs_rapid = pytest.mark.skipif(not HAVE_RAPID, reason="rapidocr_onnxruntime not installed "
                                 "(pip install -e '.[ocr-rapid]')")


@pytest.fixture(scope="module")
def rapid_ok() -> None:
    """Skip when the package is installed but cannot load (e.g. OpenCV without libGL.so.1)."""
    try:
        RapidOcrEngine(Settings()).check()
    except DependencyMissing as exc:
        pytest.skip(f"rapidocr cannot run here: {exc.message}")

LINE = [(100, 50), (300, 50), (300, 70), (100, 70)]


def test_registry_builds_the_engine_without_importing_the_library() -> None:
    assert "rapidocr" in registry.available("ocr")
    engine = registry.create("ocr", "rapidocr", Settings(ocr_engine="rapidocr"))
    assert isinstance(engine, RapidOcrEngine)
    assert isinstance(engine, registry.OcrEngine)
    assert engine.name == "rapidocr"


def test_line_is_split_at_spaces_by_character_offsets_without_char_boxes() -> None:
    words = line_words(LINE, "Total  12.50", 0.8)
    assert [w for w, _, _ in words] == ["Total", "12.50"]
    (x0, y0, x1, y1), (u0, _, u1, _) = words[0][1], words[1][1]
    assert (x0, y0, y1) == (100, 50, 70)
    assert x1 == pytest.approx(100 + 200 * 5 / 12)
    assert u0 == pytest.approx(100 + 200 * 7 / 12) and u1 == 300
    assert all(c == 0.8 for _, _, c in words)  # the line score when no character scores


def test_word_box_is_the_union_of_its_character_boxes() -> None:
    def cell(x: float) -> list[tuple[float, float]]:
        return [(x, 52), (x + 8, 52), (x + 8, 68), (x, 68)]

    text = "ab cd"
    boxes = [cell(110), cell(120), cell(135), cell(200), cell(210)]
    confs = [0.9, 0.7, 0.99, 1.0, 0.5]
    words = line_words(LINE, text, 0.8, boxes, confs)
    assert [w for w, _, _ in words] == ["ab", "cd"]
    assert words[0][1] == (110, 52, 128, 68)
    assert words[1][1] == (200, 52, 218, 68)
    assert words[0][2] == pytest.approx(0.8) and words[1][2] == pytest.approx(0.75)


def test_character_boxes_that_do_not_match_the_text_are_ignored() -> None:
    words = line_words(LINE, "ab cd", 0.6, [[(0, 0), (1, 0), (1, 1), (0, 1)]], [0.1])
    assert [b for _, b, _ in words] == [(100, 50, 180, 70), (220, 50, 300, 70)]
    assert [c for _, _, c in words] == [0.6, 0.6]


def test_blank_line_gives_no_words() -> None:
    assert line_words(LINE, "   ", 0.9) == []


def test_missing_package_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from extractors.ocr import rapid

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import fails
    monkeypatch.setattr(rapid, "_MODELS", {})
    with pytest.raises(DependencyMissing) as err:
        RapidOcrEngine(Settings()).check()
    assert "ocr-rapid" in err.value.message and err.value.reason == "rapidocr_missing"


@needs_rapid
@pytest.mark.usefixtures("rapid_ok")
def test_words_and_boxes_come_out_where_they_were_drawn(tmp_path: Path) -> None:
    from PIL import Image, ImageFont

    lines = [(150, 200, "INVOICE  INV-2041"), (150, 900, "Total"), (1100, 900, "1234.56")]
    path = make_scan(tmp_path / "scan.png", lines)
    try:  # the font make_scan draws with
        font = ImageFont.truetype("DejaVuSans.ttf", 36)
    except OSError:
        font = ImageFont.load_default(size=36)
    drawn = {}  # word -> its ink box in pixels, from the font's metrics
    for x, y, text in lines:
        offset = 0
        for word in text.split():
            start = text.index(word, offset)
            offset = start + len(word)
            left, top, right, bottom = font.getbbox(text[:offset])
            drawn[word] = (x + font.getlength(text[:start]), y + top, x + right, y + bottom)
    engine = RapidOcrEngine(Settings(ocr_engine="rapidocr"))
    engine.check()
    words = engine.ocr(Image.open(path), page_number=1)
    got = {w.text: w for w in words}
    assert set(drawn) <= set(got), [w.text for w in words]
    for text, (dx0, dy0, dx1, dy1) in drawn.items():
        w = got[text]
        x0, y0, x1, y1 = w.bbox
        assert abs(x0 - dx0) < 12 and abs(x1 - dx1) < 12, (text, w.bbox, drawn[text])
        assert abs(y0 - dy0) < 12 and abs(y1 - dy1) < 12, (text, w.bbox, drawn[text])
        assert 0.5 < w.confidence <= 1.0
        assert w.box == pytest.approx((x0 / 1700 * 1000, y0 / 2200 * 1000, x1 / 1700 * 1000,
                                       y1 / 2200 * 1000), abs=1.01)
    assert got["INVOICE"].bbox[2] < got["INV-2041"].bbox[0]  # one line, split into two words
    assert "rapidocr_onnxruntime" in engine.version() and "PP-OCRv4" in engine.version()


@needs_rapid
@pytest.mark.usefixtures("rapid_ok")
def test_blank_page_gives_no_words() -> None:
    from PIL import Image

    assert RapidOcrEngine(Settings()).ocr(Image.new("L", (400, 300), 255), page_number=1) == []


@needs_rapid
@pytest.mark.usefixtures("rapid_ok")
def test_process_cli_with_rapidocr_writes_a_record(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    inbox = tmp_path / "in"
    inbox.mkdir()
    make_scan(inbox / "receipt.png", [(150, 150, "CORNER SHOP"), (150, 250, "Date: 14/03/2024"),
                                      (150, 900, "TOTAL"), (900, 900, "12.50")])
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["process", str(inbox), "--out", str(out), "--no-prefect", "-q",
                                   "--workers", "1", "--ocr-engine", "rapidocr"])
    assert res.exit_code in (0, 3), res.output
    recs = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()]
    assert len(recs) == 1
    rec = recs[0]
    assert rec["status"] in ("ok", "needs_review"), rec
    assert rec["engine"]["ocr"].startswith("rapidocr_onnxruntime")
    assert rec["pages"] == 1
    # the words reached extraction (the total is found as a field or a key-value)
    assert "12.50" in json.dumps([rec["fields"], rec["key_values"]])


def _cells(text: str, steps: dict[int, float]) -> list[list[tuple[float, float]]]:
    """Character boxes 10 px apart, plus extra space before the given indices."""
    boxes, x = [], 100.0
    for i in range(len(text)):
        x += steps.get(i, 0.0)
        boxes.append([(x, 52), (x + 8, 52), (x + 8, 68), (x, 68)])
        x += 10
    return boxes


def test_a_dropped_space_is_restored_from_the_character_gap() -> None:
    text = "InvoiceNumber 42"
    words = line_words([(90, 50), (400, 50), (400, 70), (90, 70)], text, 0.9,
                       _cells(text, {7: 9.0}), [0.9] * len(text), gap_factor=1.5)
    assert [w for w, _, _ in words] == ["Invoice", "Number", "42"]
    assert words[0][1][2] < words[1][1][0]
    # off, or a gap below the factor: one word
    assert [w for w, _, _ in line_words(LINE, text, 0.9, _cells(text, {7: 9.0}))][0] == \
        "InvoiceNumber"
    assert [w for w, _, _ in line_words(LINE, text, 0.9, _cells(text, {7: 4.0}),
                                        gap_factor=1.5)][0] == "InvoiceNumber"


def test_gaps_split_a_date_from_its_time_but_not_an_amounts_decimals() -> None:
    text = "02/02/20177:31PM RM29.30"
    # a wide gap before the time; uneven steps around the decimal point of the amount
    words = line_words([(90, 50), (500, 50), (500, 70), (90, 70)], text, 0.9,
                       _cells(text, {10: 8.0, 22: 7.0, 23: 7.0}), gap_factor=1.5)
    assert [w for w, _, _ in words] == ["02/02/2017", "7:31PM", "RM29.30"]


def test_a_whole_date_is_not_cut_where_its_digits_step_unevenly() -> None:
    # "15/03/2018" with a long step inside the year, as the recogniser gives it
    for text, gaps, expected in [
        ("Date: 15/03/2018", {14: 7.0}, ["Date:", "15/03/2018"]),
        ("Date: 03/01/18", {10: 7.0}, ["Date:", "03/01/18"]),
        # a date glued to its time is still cut from it ("1813" is no year)
        ("18-11-1813:58", {8: 8.0}, ["18-11-18", "13:58"]),
    ]:
        words = line_words([(90, 50), (500, 50), (500, 70), (90, 70)], text, 0.9,
                           _cells(text, gaps), gap_factor=1.5)
        assert [w for w, _, _ in words] == expected, text


def _inked(text: str, centers: list[float], widths: dict[int, float] | None = None) -> object:
    """A white page with one black block per character (17 px wide unless ``widths`` says
    otherwise) centred on ``centers``, rows 15-35."""
    import numpy as np

    page = np.full((60, 400), 255, dtype=np.uint8)
    for i, c in enumerate(centers):
        half = (widths or {}).get(i, 17.0) / 2
        page[15:36, int(c - half):int(c + half)] = 0
    return page


def _boxes(centers: list[float]) -> list[list[tuple[float, float]]]:
    return [[(c - 4, 12), (c + 4, 12), (c + 4, 38), (c - 4, 38)] for c in centers]


def test_a_dropped_space_is_restored_from_the_ink_gap() -> None:
    text, line = "SANYUSHOP", [(0, 10), (300, 10), (300, 40), (0, 40)]
    # big print: a 25 px pitch, the word gap adds 12 px (a step of 1.48, under GAP_FACTOR)
    centers = [20 + 25 * i + (12 if i >= 5 else 0) for i in range(len(text))]
    page = _inked(text, centers)
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == ["SANYU", "SHOP"]
    # without the page, or switched off: one word
    assert len(line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5)) == 1
    assert len(line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0)) == 1
    # a wide blank that the recogniser's steps do not show (a narrow glyph, "TS" in a monospaced
    # font) is no space: even pitch, the fifth letter only 5 px wide
    even = [20 + 25 * i for i in range(len(text))]
    words = line_words(line, text, 0.9, _boxes(even), gap_factor=1.5,
                       page=_inked(text, even, {4: 5.0}), ink_gap=0.2)
    assert [w for w, _, _ in words] == ["SANYUSHOP"]


def test_a_mark_read_in_a_blank_word_gap_is_the_space() -> None:
    text, line = "EAGLE.ENTERPRISE", [(0, 10), (400, 10), (400, 40), (0, 40)]
    # even 20 px pitch, a 20 px word gap where the recogniser put the full stop
    centers = [12 + 20 * i + (20 if i > 5 else 0) for i in range(len(text))]
    letters = [c for i, c in enumerate(centers) if i != 5]
    page = _inked(text.replace(".", ""), letters, dict.fromkeys(range(len(letters)), 13.0))
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == ["EAGLE", "ENTERPRISE"]
    # a printed dot (ink at its place) stays, and so does a comma in a blank gap
    page[30:35, centers[5] - 2:centers[5] + 3] = 0
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert "EAGLE.ENTERPRISE" in "".join(w for w, _, _ in words)
    page = _inked(text.replace(".", ""), letters, dict.fromkeys(range(len(letters)), 13.0))
    words = line_words(line, text.replace(".", ","), 0.9, _boxes(centers), gap_factor=1.5, page=page,
                       ink_gap=0.2)
    assert "," in "".join(w for w, _, _ in words)


def test_a_mark_read_from_a_speck_past_the_line_end_is_dropped() -> None:
    text, line = "MARKET.", [(0, 10), (200, 10), (200, 40), (0, 40)]
    centers = [12 + 20 * i for i in range(len(text))]  # the "." read 20 px past the T
    page = _inked("MARKET", centers[:-1], dict.fromkeys(range(6), 13.0))
    page[33, centers[-1]] = 0  # a lone speck of the scan where the "." was read
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == ["MARKET"]
    # a printed full stop (a dot of a few pixels) stays, as does one the recogniser placed a
    # little short of its ink
    for x in (centers[-1], centers[-1] + 6):
        page[32:35, x - 1:x + 2] = 0
        words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
        assert [w for w, _, _ in words] == ["MARKET."]
        page[32:35, x - 1:x + 2] = 255


def test_a_word_gap_in_small_print_splits_even_where_the_recogniser_steps_evenly() -> None:
    # small print: a 16 px pitch, 14 px glyphs; the recogniser's columns put every character 16 px
    # apart, but the ink after "UNIHAKKA" sits 6 px further right (an 8 px blank, 2 px elsewhere),
    # next to a narrow letter
    text, line = "UNIHAKKAINTERNATIONAL", [(0, 10), (360, 10), (360, 40), (0, 40)]
    centers = [20.0 + 16 * i for i in range(len(text))]
    page = np.full((60, 400), 255, dtype=np.uint8)
    for i, c in enumerate(centers):
        x = int(c + (6 if i >= 8 else 0))
        page[15:36, x - 7:x + 7] = 0
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == ["UNIHAKKA", "INTERNATIONAL"]
    # a blank only twice as wide as its neighbours' is not enough without a longer step
    page = np.full((60, 400), 255, dtype=np.uint8)
    for i, c in enumerate(centers):
        x = int(c + (2 if i >= 8 else 0))
        page[15:36, x - 7:x + 7] = 0
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == [text]


def test_letter_spaced_print_is_not_cut_into_letters() -> None:
    # "GARDENIA HOUSE" at a 25 px pitch with its space dropped, then "BAKERIES" set wide (40 px)
    text, line = "GARDENIAHOUSEBAKERIES", [(0, 10), (760, 10), (760, 40), (0, 40)]
    centers, x = [], 20.0
    for i in range(len(text)):
        centers.append(x)
        x += 40 if i >= 12 else 37 if i == 7 else 25
    page = np.full((60, 800), 255, dtype=np.uint8)
    for c in centers:
        page[15:36, int(c - 8.5):int(c + 8.5)] = 0
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.7, page=page, ink_gap=0.2)
    assert [w for w, _, _ in words] == ["GARDENIA", "HOUSEBAKERIES"]


def test_a_space_dropped_between_a_word_and_a_number_or_after_a_comma_is_restored() -> None:
    # "UTAMA4,TAMAN" at a 25 px pitch: the blank before "4" and after "," is 12 px wider than the
    # rest (a step of 1.48, under GAP_FACTOR), 17 px glyphs
    text, line = "UTAMA4,TAMAN", [(0, 10), (380, 10), (380, 40), (0, 40)]
    centers = [20 + 25 * i + (12 if i >= 5 else 0) + (12 if i >= 7 else 0) for i in range(len(text))]
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5, page=_inked(text, centers),
                       ink_gap=0.2)
    assert [w for w, _, _ in words] == ["UTAMA", "4,", "TAMAN"]
    # the same gap between two digits, after a full stop before a digit, or after a slash is
    # left alone (an amount's or a code's own spacing: "No.2", "U13/4")
    for text in ("UTAMA12345,7", "UTAMA.4,TAMA", "UTAMA/4/TAMA"):
        centers = [20 + 25 * i + (12 if i >= 6 else 0) for i in range(len(text))]
        words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5,
                           page=_inked(text, centers), ink_gap=0.2)
        assert len(words) == 1, text


def test_a_wide_letter_lengthens_the_step_but_splits_only_with_an_ink_gap() -> None:
    # "SHAHALAM": the recogniser's step from "A" to "M" is 1.6 times the median (a wide "M"), but
    # the ink leaves no wider blank there: no space. With the ink gap widened, there is one.
    text, line = "SHAHALAM", [(0, 10), (300, 10), (300, 40), (0, 40)]
    centers = [20.0 + 25 * i + (15 if i >= 7 else 0) for i in range(len(text))]
    wide = {7: 47.0}  # the "M" fills the longer step: the blank before it stays 8 px
    assert [w for w, _, _ in line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5)] == \
        ["SHAHALA", "M"]  # the step alone splits
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5,
                       page=_inked(text, centers, wide), ink_gap=0.2)
    assert [w for w, _, _ in words] == ["SHAHALAM"]
    words = line_words(line, text, 0.9, _boxes(centers), gap_factor=1.5,
                       page=_inked(text, centers), ink_gap=0.2)
    assert [w for w, _, _ in words] == ["SHAHALA", "M"]


def test_orientation_is_left_alone_without_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from PIL import Image

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert RapidOcrEngine(Settings()).orientation(Image.new("L", (50, 80), 255)) == 0


def test_auto_engine_reads_receipt_shaped_pages_with_rapidocr(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from PIL import Image

    from extractors.ocr import rapid as rapid_module
    from extractors.ocr.auto import AutoOcrEngine
    from extractors.ocr.tesseract import TesseractEngine

    engine = registry.create("ocr", "auto", Settings(ocr_engine="auto"))
    assert isinstance(engine, AutoOcrEngine) and isinstance(engine, registry.OcrEngine)
    engine._rapid_ok = True
    assert isinstance(engine.engine_for(Image.new("L", (750, 1600))), RapidOcrEngine)  # receipt
    assert engine.engine_for(Image.new("L", (750, 1600))).line_end == rapid_module.LINE_END > 0
    assert isinstance(engine.engine_for(Image.new("L", (1700, 2400))), TesseractEngine)  # A4
    assert isinstance(engine.engine_for(Image.new("L", (1700, 2200))), TesseractEngine)  # Letter
    short = Image.new("L", (760, 750))  # a one-item receipt: square, but 3.2 inches wide
    assert isinstance(engine.engine_for(short), TesseractEngine)  # its width unknown
    short = short.copy()
    short.info["dpi"] = (241, 241)
    assert isinstance(engine.engine_for(short), RapidOcrEngine)
    # a till receipt laid on an A4 scanner bed: its ink is a narrow, tall block on a white page
    scan = Image.new("L", (1240, 1754), 255)
    scan.paste(0, (450, 300, 800, 1300))
    assert isinstance(engine.engine_for(scan), RapidOcrEngine)
    scan.paste(0, (100, 300, 1100, 1300))  # an A4 invoice: its ink spans the page
    assert isinstance(engine.engine_for(scan.copy()), TesseractEngine)
    calls: list[str] = []
    monkeypatch.setattr(RapidOcrEngine, "ocr", lambda self, img, page_number=1: calls.append("r"))
    monkeypatch.setattr(TesseractEngine, "ocr", lambda self, img, page_number=1: calls.append("t"))
    engine.ocr(Image.new("L", (500, 2000)), page_number=1)
    engine.ocr(Image.new("L", (2000, 500)), page_number=1)
    assert calls == ["r", "t"]


def test_auto_engine_cuts_out_a_receipt_lying_on_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from extractors.ocr import auto
    from schemas.document import Word

    engine = auto.AutoOcrEngine(Settings())
    engine._rapid_ok = True
    seen: list[tuple[int, int]] = []

    def read(self, img, page_number=1):  # type: ignore[no-untyped-def]
        seen.append(img.size)  # one word drawn 30 px right of and 60 px below the cut's corner
        return [Word.from_pixels("TOTAL", (30, 60, 120, 90), page_width=img.width,
                                 page_height=img.height, confidence=0.9)]

    monkeypatch.setattr(RapidOcrEngine, "ocr", read)
    scan = Image.new("L", (1000, 1400), 255)
    scan.paste(0, (400, 200, 650, 1200))
    words = engine.ocr(scan)
    x0, y0, x1, _ = auto.ink_extent(scan)
    assert 0.39 < x0 < 0.42 and 0.63 < x1 < 0.66  # the block, less the extreme percentiles
    left, top = int((x0 - 0.03) * 1000), int((y0 - 0.03) * 1400)  # the ink and a margin
    assert seen and seen[0][0] == pytest.approx((x1 - x0 + 0.06) * 1000 * auto.CROP_SCALE, abs=4)
    x0, y0, x1, y1 = words[0].bbox
    assert x0 == pytest.approx(left + 30 / auto.CROP_SCALE, abs=2)
    assert y1 == pytest.approx(top + 90 / auto.CROP_SCALE, abs=2)
    assert words[0].box[0] == round(x0 / 1000 * 1000)  # on the page's 0-1000 scale, not the cut's


def test_auto_engine_falls_back_to_tesseract_without_rapidocr(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import shutil
    import sys

    from PIL import Image

    from extractors.ocr import rapid
    from extractors.ocr.auto import AutoOcrEngine
    from extractors.ocr.tesseract import TesseractEngine

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import fails
    monkeypatch.setattr(rapid, "_MODELS", {})
    engine = AutoOcrEngine(Settings())
    assert isinstance(engine.engine_for(Image.new("L", (500, 2000))), TesseractEngine)
    if shutil.which("tesseract"):
        assert "unavailable" in engine.version()


class _LineClassifier:
    """Stands in for RapidOCR's classifier: reads each crop's orientation from ``labels`` and,
    like the library, turns the crops it reads as upside down above ``cls_thresh``."""

    def __init__(self, labels: list[tuple[str, float]]) -> None:
        self.labels = labels
        self.cls_thresh = 0.9

    def __call__(self, crops: list[np.ndarray]) -> tuple[list[np.ndarray], list[list[object]], float]:
        out = [np.rot90(c, 2) if "180" in lab and s > self.cls_thresh else c.copy()
               for c, (lab, s) in zip(crops, self.labels, strict=True)]
        return out, [[lab, s] for lab, s in self.labels], 0.01


def _crops(n: int) -> list[np.ndarray]:
    return [np.arange(12, dtype=np.uint8).reshape(3, 4) + 20 * i for i in range(n)]


def test_a_lone_line_read_as_upside_down_is_not_turned() -> None:
    from extractors.ocr.rapid import PageVote

    labels = [("0", 0.99), ("180", 0.97), ("0", 0.95), ("180", 0.6)]
    crops = _crops(4)
    got, read, _ = PageVote(_LineClassifier(labels))(crops)
    assert all(np.array_equal(g, c) for g, c in zip(got, crops, strict=True))
    assert read == [["0", 0.99], ["180", 0.97], ["0", 0.95], ["180", 0.6]]  # what it read is kept


def test_lines_of_a_page_that_reads_upside_down_are_turned() -> None:
    from extractors.ocr.rapid import PageVote

    labels = [("180", 0.99), ("180", 0.97), ("0", 0.95), ("180", 0.6), ("180", 0.92)]
    crops = _crops(5)
    vote = PageVote(_LineClassifier(labels))
    got, _, _ = vote(crops)
    for i in (0, 1, 4):
        assert np.array_equal(got[i], crops[i][::-1, ::-1])
    assert vote.turned() and not vote.turned()  # asked once: the next page starts afresh
    assert np.array_equal(got[2], crops[2]) and np.array_equal(got[3], crops[3])  # 0.6: unsure


@needs_rapid
@pytest.mark.usefixtures("rapid_ok")
def test_an_upside_down_page_is_read_upright_line_by_line(tmp_path: Path) -> None:
    from PIL import Image

    lines = [(150, 200, "INVOICE  INV-2041"), (150, 500, "Bill to  Acme Trading Ltd"),
             (150, 900, "Total"), (1100, 900, "1234.56")]
    page = Image.open(make_scan(tmp_path / "scan.png", lines)).rotate(180)
    read = RapidOcrEngine(Settings(ocr_engine="rapidocr")).ocr(page, page_number=1)
    words = [w.text for w in read]
    assert {"INVOICE", "INV-2041", "Total", "1234.56", "Trading", "Acme"} <= set(words), words
    # each word's box is where the page shows it: "Total" drawn at (150, 900) is, turned, at the
    # right, 900 px above the bottom edge; "INVOICE" below it, "1234.56" to its left
    box = {w.text: w.bbox for w in read}
    assert 1400 < box["Total"][2] <= 1560 and 1240 < box["Total"][3] <= 1310, box["Total"]
    assert box["INVOICE"][1] > box["Total"][3] and box["1234.56"][2] < box["Total"][0]


def _page_of_lines(size: tuple[int, int], line_px: int) -> object:
    """A page-shaped scan of text lines ``line_px`` high (dark bars; what counts is their height)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    for y in range(size[1] // 10, size[1] * 9 // 10, 3 * line_px):
        draw.rectangle((size[0] // 10, y, size[0] * 8 // 10, y + line_px - 1), fill=0)
    return img


def test_a_low_resolution_scan_is_read_by_rapidocr_and_a_fine_one_by_tesseract(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from extractors.ocr import auto
    from extractors.ocr.tesseract import TesseractEngine
    from extractors.pages import prepare_for_ocr

    settings = Settings()
    engine = auto.AutoOcrEngine(settings)
    engine._rapid_ok = True
    coarse, _ = prepare_for_ocr(_page_of_lines((762, 1000), 9), settings)  # FUNSD-like, ~90 DPI
    fine, _ = prepare_for_ocr(_page_of_lines((1700, 2200), 20), settings)  # 200 DPI
    assert coarse.size[0] > 762  # enlarged before OCR, yet judged by its lines as scanned
    assert auto.low_resolution(coarse) and not auto.low_resolution(fine)
    assert isinstance(engine.engine_for(coarse), RapidOcrEngine)
    assert engine.engine_for(coarse).line_end == 0  # a form's lines end by rules, not commas
    assert isinstance(engine.engine_for(fine), TesseractEngine)
    # the same page scanned at twice the resolution: Tesseract
    assert not auto.low_resolution(prepare_for_ocr(_page_of_lines((1524, 2000), 18), settings)[0])
    engine._rapid_ok = False  # without RapidOCR every page goes to Tesseract
    assert isinstance(engine.engine_for(coarse.copy()), TesseractEngine)


def test_a_low_resolution_page_in_german_or_french_goes_back_to_tesseract(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from extractors.ocr import auto
    from extractors.ocr.tesseract import TesseractEngine
    from extractors.pages import prepare_for_ocr
    from schemas.document import Word

    def reads(text: str):  # type: ignore[no-untyped-def]
        def ocr(self, img, page_number=1):  # type: ignore[no-untyped-def]
            calls.append(self.name)
            engine.engine_for(other)  # another thread's page chosen meanwhile (eval shares engines)
            return [Word.from_pixels(t, (10 * i, 10, 10 * i + 8, 20), page_width=img.width,
                                     page_height=img.height, confidence=0.9)
                    for i, t in enumerate(text.split())]
        return ocr

    settings = Settings()
    engine = auto.AutoOcrEngine(settings)
    engine._rapid_ok = True
    other = Image.new("L", (1700, 2200), 255)
    calls: list[str] = []
    monkeypatch.setattr(TesseractEngine, "ocr", reads("Rechnung Nr. 7 Gesamtbetrag 1.234,56 €"))
    monkeypatch.setattr(RapidOcrEngine, "ocr", reads("Rechnung Nr. 7 Datum Betrag MwSt Gesamtbetrag 1.234,56"))
    page, _ = prepare_for_ocr(_page_of_lines((762, 1000), 9), settings)
    words = engine.ocr(page)
    assert calls == ["rapidocr", "tesseract"] and words[-1].text == "€"
    engine.engine_for(other)
    assert isinstance(engine.engine_for(page), TesseractEngine)  # the page's engine is the reading kept
    calls.clear()
    monkeypatch.setattr(RapidOcrEngine, "ocr", reads("TO: R. Smith DATE: 12/05/89 SUBJECT: results"))
    page, _ = prepare_for_ocr(_page_of_lines((762, 1000), 9), settings)
    assert [w.text for w in engine.ocr(page)][0] == "TO:" and calls == ["rapidocr"]
    assert isinstance(engine.engine_for(page), RapidOcrEngine)


def _decoder(chars: list[str]):  # the library's own CTC decoder over a small dictionary
    from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode

    return CTCLabelDecode(character=chars)  # adds "blank" first and " " last


def _columns(decoder, rows: list[dict[str, float]]) -> np.ndarray:
    """CTC output for one line: per column, the given probabilities, the rest on "blank"."""
    chars = decoder.character
    out = np.zeros((1, len(rows), len(chars)), dtype=np.float32)
    for t, row in enumerate(rows):
        for ch, p in row.items():
            out[0, t, chars.index(ch)] = p
        out[0, t, 0] = 1.0 - sum(row.values())
    return out


@needs_rapid
def test_a_faint_comma_the_recogniser_doubts_is_read() -> None:
    from extractors.ocr.rapid import PUNCT_PRIOR, LatinDecode

    inner = _decoder(["L", "O", "T", ",", "5"])
    # "LOT 5," where the comma's column says 0.32 comma, 0.44 nothing (blank), 0.24 "5"
    rows = [{"L": 0.99}, {"O": 0.99}, {"T": 0.99}, {" ": 0.99}, {"5": 0.99}, {},
            {",": 0.32, "5": 0.24}]
    preds = _columns(inner, rows)
    assert inner(preds)[0][0] == "LOT 5"  # the library alone drops it
    text, conf = LatinDecode(inner)(preds)[0][:2]
    assert PUNCT_PRIOR * 0.32 > 0.44 and text == "LOT 5,"
    assert 0 < conf <= 1
    assert LatinDecode(inner, punct_prior=1.0)(preds)[0][0] == "LOT 5"
    # a column nearly sure of nothing stays nothing: no comma is invented
    assert LatinDecode(inner)(_columns(inner, rows[:-1] + [{",": 0.1}]))[0][0] == "LOT 5"


@needs_rapid
def test_entries_outside_latin_script_are_never_read() -> None:
    from extractors.ocr.rapid import LatinDecode

    inner = _decoder(["A", "、", "。", ",", "汉", "（", "£", "é"])
    rows = [{"A": 0.9}, {"、": 0.5, ",": 0.3}, {"汉": 0.6, "A": 0.3}, {"（": 0.9}, {"£": 0.9},
            {"é": 0.9}]
    assert inner(_columns(inner, rows))[0][0] == "A、汉（£é"
    decoded = LatinDecode(inner)
    assert decoded(_columns(inner, rows))[0][0] == "A,A（£é"  # fullwidth "（" is NFKC "(": kept
    kept = {decoded.character[i] for i in decoded.keep}
    assert "汉" not in kept and "。" not in kept and {"blank", "A", ",", "£", "é"} <= kept
    # a model with another dictionary is decoded as it is
    other = np.zeros((1, 2, 3), dtype=np.float32)
    other[0, :, 1] = 1.0
    assert decoded(other) == inner(other)


@needs_rapid
def test_the_prior_gives_no_mark_a_second_column() -> None:
    from extractors.ocr.rapid import LatinDecode

    inner = _decoder(["C", "O", "."])
    # "CO." whose full stop the recogniser is sure of, and a doubtful second column beside it
    rows = [{"C": 0.99}, {"O": 0.99}, {".": 0.9}, {}, {".": 0.3}]
    assert LatinDecode(inner)(_columns(inner, rows))[0][0] == "CO."
    # a doubtful mark with no twin beside it is still read, and two sure ones stay two
    assert LatinDecode(inner)(_columns(inner, rows[:2] + [{}, {}, {".": 0.3}]))[0][0] == "CO."
    assert LatinDecode(inner)(_columns(inner, rows[:3] + [{}, {".": 0.9}]))[0][0] == "CO.."


def test_ctc_score_sums_every_alignment() -> None:
    import itertools

    from extractors.ocr.rapid import _ctc_align, _ctc_score

    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(3), size=5)  # 5 columns over blank, "a", "b"

    def collapse(path: tuple[int, ...]) -> list[int]:
        out: list[int] = []
        for k, c in enumerate(path):
            if c and (k == 0 or path[k - 1] != c):
                out.append(c)
        return out

    for labels in ([1, 2], [2, 2], [1], [1, 1, 2]):
        paths = [p for p in itertools.product(range(3), repeat=5) if collapse(p) == labels]
        total = sum(float(np.prod(probs[np.arange(5), p])) for p in paths)
        assert _ctc_score(np.log(probs), labels) == pytest.approx(np.log(total))
        best = max(paths, key=lambda p: float(np.prod(probs[np.arange(5), p])))
        assert tuple(_ctc_align(np.log(probs), labels).tolist()) == best


@needs_rapid
def test_a_misread_word_is_read_as_the_common_word_the_columns_allow() -> None:
    from extractors.ocr.rapid import LatinDecode

    inner = _decoder(list("TOIAL") + ["."])
    # "TOTAL" whose middle T the recogniser took for an I (0.55 against 0.40)
    rows = [{"T": 0.98}, {"O": 0.97}, {"I": 0.55, "T": 0.40}, {"A": 0.97}, {"L": 0.96}, {}]
    assert inner(_columns(inner, rows))[0][0] == "TOIAL"
    text, conf = LatinDecode(inner)(_columns(inner, rows))[0][:2]
    assert text == "TOTAL"
    assert conf < 0.97  # the letter put right keeps the recogniser's 0.40
    assert LatinDecode(inner, lexicon_margin=None)(_columns(inner, rows))[0][0] == "TOIAL"
    # a letter the recogniser is sure of is no slip: a rare word stays as read
    sure = rows[:2] + [{"I": 0.995, "T": 0.001}] + rows[3:]
    assert LatinDecode(inner)(_columns(inner, sure))[0][0] == "TOIAL"
    # a word of the lexicon is never changed, and the marks around a word are kept
    assert LatinDecode(inner)(_columns(inner, [{"T": 0.9}, {"O": 0.9}, {"T": 0.6}, {"A": 0.9}, {"L": 0.9}]))[0][0] == "TOTAL"
    marked = rows[:5] + [{".": 0.9}]
    assert LatinDecode(inner)(_columns(inner, marked))[0][0] == "TOTAL."


@needs_rapid
def test_the_lexicon_drops_no_digit_and_no_letter_of_a_short_word() -> None:
    from extractors.ocr.rapid import LatinDecode

    inner = _decoder(list("Lot3KAPRUwn"))
    # "Lot3": the lexicon's "Lot" explains the columns nearly as well (0.6 for the 3, 0.4 nothing)
    rows = [{"L": 0.99}, {"o": 0.99}, {"t": 0.99}, {"3": 0.6}]
    assert LatinDecode(inner)(_columns(inner, rows))[0][0] == "Lot3"
    short = [{"K": 0.99}, {"A": 0.99}, {"P": 0.99}, {"A": 0.99}, {"R": 0.6}]  # "KAPAR", not "KAPA"
    assert LatinDecode(inner)(_columns(inner, short))[0][0] == "KAPAR"


@needs_rapid
def test_a_word_the_recogniser_glued_to_the_next_is_checked_on_its_own() -> None:
    from extractors.ocr.rapid import LatinDecode

    inner = _decoder(list("JalnTotiIA"))
    rows = [{"J": 0.99}, {"a": 0.99}, {"l": 0.99}, {"a": 0.99}, {"n": 0.99},
            {"T": 0.98}, {"o": 0.97}, {"i": 0.5, "t": 0.45}, {"a": 0.97}, {"l": 0.96}]
    assert LatinDecode(inner)(_columns(inner, rows))[0][0] == "JalanTotal"


def _quad(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_line_boxes_are_carried_on_past_their_end_where_the_row_is_free() -> None:
    from extractors.ocr.rapid import extend_lines

    boxes = [_quad(10, 0, 100, 20), _quad(112, 2, 200, 22),  # two boxes of one row, 12 px apart
             _quad(10, 40, 150, 60),                          # a line of its own
             _quad(10, 80, 290, 100)]                         # a line ending near the page edge
    got = extend_lines(np.array(boxes, dtype=np.float32), 300, 0.5)
    assert got[0][1][0] == got[0][2][0] == 107  # 10 px wanted, stops 5 px (a quarter height) short
    assert got[1][1][0] == 210 and got[2][1][0] == 160  # free rows: half the height (20 px) on
    assert got[3][1][0] == 299  # not past the page
    assert [p[0] for p in got[0][[0, 3]]] == [10, 10] and got[1][0][0] == 112  # left ends stay
    assert got[2][:, 1].tolist() == [40, 40, 60, 60]  # and heights
    assert np.array_equal(extend_lines(np.array(boxes, dtype=np.float32), 300, 0.0), boxes)


def test_a_slanted_line_box_is_carried_on_along_its_own_direction() -> None:
    from extractors.ocr.rapid import extend_lines

    quad = np.array([[[0, 0], [80, 60], [74, 68], [-6, 8]]], dtype=np.float32)  # 100 long, 10 high
    got = extend_lines(quad, 1000, 0.5)[0]
    assert np.allclose(got[1], [84, 63]) and np.allclose(got[2], [78, 71])
    assert np.array_equal(got[0], quad[0][0]) and np.array_equal(got[3], quad[0][3])


def test_the_detector_wrapper_passes_the_librarys_settings_through() -> None:
    from extractors.ocr.rapid import LineEnds

    class _Detector:
        def __init__(self) -> None:
            self.postprocess_op = type("Op", (), {"unclip_ratio": 1.6})()

        def __call__(self, img: np.ndarray) -> tuple[np.ndarray | None, float]:
            return np.array([_quad(0, 0, 40, 10)], dtype=np.float32), 0.01

    wrapped = LineEnds(_Detector())
    wrapped.postprocess_op.unclip_ratio = 2.0  # what the library does on each call
    assert wrapped.detector.postprocess_op.unclip_ratio == 2.0
    boxes, seconds = wrapped(np.zeros((20, 100), dtype=np.uint8))
    assert (boxes[0][0][0], boxes[0][1][0], seconds) == (0, 45, 0.01)  # 40 px line, 10 high


@needs_rapid
def test_models_that_differ_in_line_ends_share_the_recogniser() -> None:
    from extractors.ocr.rapid import _model

    receipts, forms = _model(2000, 0.5), _model(2000, 0.0)
    assert receipts is not forms and receipts is _model(2000, 0.5)
    assert (receipts.text_det.reach, forms.text_det.reach) == (0.5, 0.0)
    assert receipts.text_rec is forms.text_rec and receipts.text_det.detector is forms.text_det.detector


@needs_rapid
@pytest.mark.usefixtures("rapid_ok")
def test_the_comma_that_ends_a_line_is_read(tmp_path: Path) -> None:
    from PIL import Image

    lines = [(40, 40, "NO. 42, JALAN PBS 14/11,"), (40, 100, "TAMAN PERINDUSTRIAN BUKIT,"),
             (40, 160, "43300 SERI KEMBANGAN,"), (40, 220, "SELANGOR.")]
    page = Image.open(make_scan(tmp_path / "receipt.png", lines, size=(600, 280), font_size=28))
    text = " ".join(w.text for w in RapidOcrEngine(Settings(ocr_engine="rapidocr")).ocr(page))
    # without LineEnds the detector's box stopped before the comma after BUKIT
    assert "BUKIT," in text and "KEMBANGAN," in text and text.endswith("SELANGOR."), text
