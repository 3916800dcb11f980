from __future__ import annotations

from pathlib import Path

import pytest

from extractors.layout import build_layout
from extractors.ocr.tesseract import TesseractEngine, parse_tsv
from extractors.pages import iter_pages
from extractors.preflight import preflight
from extractors.settings import Settings
from tests.conftest import make_scan, make_text_pdf


class CountingOcr:
    """A fake OCR engine: records calls, returns no words."""

    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def ocr(self, image, *, page_number: int):
        self.calls += 1
        return []


def test_text_layer_is_read_without_ocr(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "n.pdf", [(72, 100, "Invoice No: INV-001"),
                                            (72, 130, "Total: 1.234,56 EUR")])
    ocr = CountingOcr()
    s = Settings()
    pages = list(iter_pages(preflight(pdf, s), s, ocr, layout=build_layout))
    assert ocr.calls == 0
    assert pages[0].text_source == "text_layer"
    assert pages[0].engine == "pdfium"
    assert [ln.text for ln in pages[0].lines] == ["Invoice No: INV-001", "Total: 1.234,56 EUR"]
    w = next(w for w in pages[0].words if w.text == "Invoice")
    # 72pt from the left of a 595pt page at any DPI -> ~121/1000; 100pt from the top of 842pt
    assert 115 <= w.box[0] <= 128 and 100 <= w.box[1] <= 120
    assert w.bbox[0] == pytest.approx(w.box[0] / 1000 * pages[0].width, abs=2)


def test_pdf_without_text_is_rendered_and_ocred(tmp_path: Path) -> None:
    from PIL import Image

    img = Image.new("L", (850, 1100), 255)
    img.save(tmp_path / "scan.pdf", "PDF", resolution=100)
    ocr = CountingOcr()
    s = Settings(dpi=72)
    pages = list(iter_pages(preflight(tmp_path / "scan.pdf", s), s, ocr))
    assert ocr.calls == 1 and pages[0].text_source == "ocr"


def test_multiframe_tiff_is_one_page_per_frame(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.new("L", (300, 300), 255) for _ in range(3)]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    ocr = CountingOcr()
    s = Settings()
    pages = list(iter_pages(preflight(tmp_path / "m.tif", s), s, ocr))
    assert [p.number for p in pages] == [1, 2, 3] and ocr.calls == 3


def test_pages_are_generated_lazily(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.new("L", (300, 300), 255) for _ in range(4)]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    ocr = CountingOcr()
    s = Settings()
    gen = iter_pages(preflight(tmp_path / "m.tif", s), s, ocr)
    next(gen)
    assert ocr.calls == 1  # nothing beyond the first page was touched yet


def test_parse_tsv() -> None:
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t1000\t500\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t100\t50\t80\t20\t96.5\tTotal\n"
           "5\t1\t1\t1\t1\t2\t900\t50\t60\t20\t88\t9.00\n")
    words = parse_tsv(tsv, (1000, 500))
    assert [w.text for w in words] == ["Total", "9.00"]
    assert words[0].confidence == pytest.approx(0.965)
    assert words[1].box == (900, 100, 960, 140)


@pytest.mark.tesseract
def test_tesseract_reads_a_clean_scan(tmp_path: Path) -> None:
    scan = make_scan(tmp_path / "s.png", [(100, 100, "Invoice Number INV-4711"),
                                          (100, 200, "Total 123.45")])
    s = Settings()
    engine = TesseractEngine(s)
    engine.check()
    pages = list(iter_pages(preflight(scan, s), s, engine, layout=build_layout))
    text = pages[0].text
    assert "INV-4711" in text and "123.45" in text
    word = next(w for w in pages[0].words if w.text == "123.45")
    # boxes are in the original image's pixel frame even if the page was upscaled for OCR
    assert pages[0].width == 1700 and 180 <= word.bbox[1] <= 240
