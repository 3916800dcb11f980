from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from extractors.errors import InputRejected
from extractors.preflight import preflight, sniff_type
from extractors.settings import Settings
from tests.conftest import make_scan, make_text_pdf


def reason(path: Path, **kw: object) -> str:
    with pytest.raises(InputRejected) as exc:
        preflight(path, Settings(**kw))
    return exc.value.reason


def test_sniff_type_uses_bytes() -> None:
    assert sniff_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_type(b"II*\x00") == "image/tiff"
    assert sniff_type(b"<html><body>") is None
    assert sniff_type(b"PK\x03\x04") is None


def test_pdf_facts(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", [(72, 72, "Hello")], pages=3)
    pre = preflight(pdf)
    assert pre.media_type == "application/pdf"
    assert pre.n_pages == 3
    assert pre.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert round(pre.page_sizes_pt[0][0]) == 595
    assert not pre.encrypted


def test_image_named_pdf_is_an_image(tmp_path: Path) -> None:
    png = make_scan(tmp_path / "x.png", [(10, 10, "hi")], size=(200, 100))
    fake = tmp_path / "scan.pdf"
    fake.write_bytes(png.read_bytes())
    assert preflight(fake).media_type == "image/png"


def test_rejections(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert reason(tmp_path / "empty.pdf") == "empty_file"
    (tmp_path / "page.pdf").write_bytes(b"<html>not a pdf</html>")
    assert reason(tmp_path / "page.pdf") == "unsupported_type"
    (tmp_path / "head.pdf").write_bytes(b"%PDF-1.7\n%%EOF")
    assert reason(tmp_path / "head.pdf") == "corrupt_pdf"
    big = make_text_pdf(tmp_path / "big.pdf", [(72, 72, "x")], pages=5)
    assert reason(big, max_pages=3) == "too_many_pages"
    assert reason(big, max_file_bytes=100) == "file_too_large"
    img = make_scan(tmp_path / "i.png", [(10, 10, "x")], size=(400, 400))
    assert reason(img, max_page_pixels=1000) == "image_too_large"
    assert reason(tmp_path / "missing.pdf") == "not_found"
    assert reason(tmp_path) == "not_a_file"
