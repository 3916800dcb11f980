"""The ``lang`` setting: ``auto`` (the default) reads English, German and French in one pass
with the models that are installed; an explicit value is used as given."""

from __future__ import annotations

import logging
import subprocess

import pytest
from PIL import Image
from pydantic import ValidationError

from extractors.errors import DependencyMissing
from extractors.ocr import tesseract as tess
from extractors.settings import Settings


def test_settings_lang_default_and_forms() -> None:
    assert Settings().lang == "auto"
    assert Settings(lang="AUTO").lang == "auto"
    assert Settings(lang="eng,deu").lang == "eng+deu"
    with pytest.raises(ValidationError):
        Settings(lang="eng deu!")


def test_resolve_lang() -> None:
    assert tess.resolve_lang("auto", {"eng", "deu", "fra", "osd"}) == "deu+fra+eng"
    assert tess.resolve_lang("auto", {"fra", "eng"}) == "fra+eng"
    assert tess.resolve_lang("auto", {"eng"}) == "eng"
    assert tess.resolve_lang("eng+spa", {"eng"}) == "eng+spa"  # explicit: as given


class _Proc:
    returncode = 0
    pid = 0
    seen: list[list[str]] = []

    def __init__(self, cmd: list[str], **_: object) -> None:
        _Proc.seen.append(cmd)

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        return b"level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n", b""


def _fake_tesseract(monkeypatch: pytest.MonkeyPatch, installed: set[str]) -> None:
    monkeypatch.setattr(tess, "tesseract_version", lambda binary="tesseract": "tesseract 5.3.0")
    monkeypatch.setattr(tess, "tesseract_languages", lambda binary="tesseract", tessdata_dir=None: installed)
    monkeypatch.setattr(subprocess, "Popen", _Proc)
    monkeypatch.setattr(tess, "_tesserocr", lambda: None)  # the binary's path (tesserocr: below)
    _Proc.seen = []


def test_auto_runs_tesseract_with_the_installed_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tesseract(monkeypatch, {"eng", "deu", "fra", "osd"})
    engine = tess.TesseractEngine(Settings())
    engine.ocr(Image.new("L", (40, 20), 255))
    cmd = _Proc.seen[-1]
    assert cmd[cmd.index("-l") + 1] == "deu+fra+eng"
    explicit = tess.TesseractEngine(Settings(lang="eng"))
    explicit.ocr(Image.new("L", (40, 20), 255))
    assert _Proc.seen[-1][_Proc.seen[-1].index("-l") + 1] == "eng"


def test_auto_without_german_and_french_models_warns_and_reads_english(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _fake_tesseract(monkeypatch, {"eng"})
    engine = tess.TesseractEngine(Settings())
    with caplog.at_level(logging.WARNING, logger="docai.ocr"):
        engine.check()
    assert engine.lang == "eng"
    assert any("deu+fra" in r.getMessage() for r in caplog.records)
    # an explicit language that is missing still fails fast
    with pytest.raises(DependencyMissing):
        tess.TesseractEngine(Settings(lang="eng+deu")).check()


def _tsv(words: list[str]) -> bytes:
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    rows = "".join(f"5\t1\t1\t1\t1\t{i}\t{10 * i}\t5\t8\t8\t90\t{w}\n" for i, w in enumerate(words, 1))
    return (head + rows).encode()


def test_a_french_page_is_read_again_with_french_leading(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto``'s first pass leads with German; a page that reads as French is read again with
    ``fra`` first (accents kept), and that reading is the page's. English and German pages, an
    unclear page and an explicit ``lang`` get one pass."""
    _fake_tesseract(monkeypatch, {"eng", "deu", "fra"})
    pages = {"fr": ["Facture", "du", "05.06.2024", "Montant", "TTC", "à", "payer", "Saint-Etienne"],
             "de": ["Rechnung", "vom", "05.06.2024", "Gesamtbetrag", "zahlbar", "bis"],
             "en": ["Invoice", "Total", "due", "Payment", "terms"],
             "unclear": ["12", "34", "TOTAL"]}
    current: list[str] = []

    class Proc(_Proc):
        def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
            cmd = _Proc.seen[-1]
            words = list(current)
            if cmd[cmd.index("-l") + 1].startswith("fra"):
                words = [w.replace("Saint-Etienne", "Saint-Étienne") for w in words]
            return _tsv(words), b""

    monkeypatch.setattr(subprocess, "Popen", Proc)
    engine = tess.TesseractEngine(Settings())
    for name, words in pages.items():
        current[:] = words
        _Proc.seen = []
        got = [w.text for w in engine.ocr(Image.new("L", (40, 20), 255))]
        langs = [cmd[cmd.index("-l") + 1] for cmd in _Proc.seen]
        if name == "fr":
            assert langs == ["deu+fra+eng", "fra+deu+eng"]
            assert "Saint-Étienne" in got
        else:
            assert langs == ["deu+fra+eng"], name
    current[:] = pages["fr"]
    _Proc.seen = []
    tess.TesseractEngine(Settings(lang="deu+fra+eng")).ocr(Image.new("L", (40, 20), 255))
    assert len(_Proc.seen) == 1  # an explicit lang is used as given


@pytest.mark.tesseract
def test_tesserocr_reads_what_the_binary_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tesserocr")
    from tests.conftest import make_scan

    path = make_scan(tmp_path / "scan.png", [(150, 200, "INVOICE INV-2041"), (150, 900, "Total"),
                                             (1100, 900, "1234.56"), (150, 1000, "Rechnungsdatum")])
    image = Image.open(path)
    fast = tess.TesseractEngine(Settings(tesseract_backend="tesserocr"))
    fast.check()
    cli = tess.TesseractEngine(Settings(tesseract_backend="cli"))
    cli.check()
    assert fast.backend == "tesserocr" and cli.backend == "cli"
    assert "tesserocr" in fast.version() and "tesserocr" not in cli.version()
    a, b = fast.ocr(image, page_number=1), cli.ocr(image, page_number=1)
    assert [w.text for w in a] == [w.text for w in b] == ["INVOICE", "INV-2041", "Total", "1234.56",
                                                          "Rechnungsdatum"]
    for x, y in zip(a, b, strict=True):  # the same boxes, to a pixel or two
        assert max(abs(p - q) for p, q in zip(x.bbox, y.bbox, strict=True)) <= 2
    assert fast.ocr(Image.new("L", (64, 32), 255)) == []  # a blank page: no words, no error


@pytest.mark.tesseract
def test_tesserocr_page_past_the_timeout_fails_with_ocr_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tesserocr")
    from extractors.errors import PageError
    from tests.conftest import make_scan

    path = make_scan(tmp_path / "scan.png", [(150, 200 + 60 * i, "Lorem ipsum dolor sit amet 12.50")
                                             for i in range(25)])
    engine = tess.TesseractEngine(Settings(tesseract_backend="tesserocr", ocr_timeout_s=0.01))
    engine.check()
    with pytest.raises(PageError) as err:
        engine.ocr(Image.open(path), page_number=3)
    assert err.value.reason == "ocr_timeout" and "page 3" in str(err.value)


def _fake_tesserocr(monkeypatch: pytest.MonkeyPatch, api: object) -> None:
    """The binary faked (:func:`_fake_tesseract`, English only) and a tesserocr module whose
    ``PyTessBaseAPI`` is ``api``."""

    class _Mod:
        PyTessBaseAPI = api

        @staticmethod
        def tesseract_version() -> str:
            return "tesseract 5.5.4"

    _fake_tesseract(monkeypatch, {"eng"})
    monkeypatch.setattr(tess, "_tesserocr", lambda: _Mod)


def test_tesserocr_that_cannot_load_the_models_falls_back_to_the_binary(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("Failed to init API, possibly an invalid tessdata path")

    _fake_tesserocr(monkeypatch, broken)
    engine = tess.TesseractEngine(Settings(lang="eng", tessdata_dir="/nowhere"))
    assert engine.backend == "tesserocr"
    with caplog.at_level(logging.WARNING, logger="docai.ocr"):
        assert engine.ocr(Image.new("L", (40, 20), 255)) == []
    assert _Proc.seen and _Proc.seen[-1][0] == "tesseract"  # the binary read the page
    assert any("binary reads" in r.getMessage() for r in caplog.records)


def test_tesserocr_models_load_once_across_pages_on_different_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from extractors.pages import call_ocr

    made: list[dict[str, object]] = []

    class _Api:
        def __init__(self, **kw: object) -> None:
            made.append(kw)

        def SetPageSegMode(self, mode: int) -> None: ...  # noqa: N802 - tesserocr's names
        def SetVariable(self, name: str, value: str) -> None: ...  # noqa: N802
        def SetImage(self, image: object) -> None: ...  # noqa: N802
        def Recognize(self, timeout: int) -> bool:  # noqa: N802
            return True
        def GetTSVText(self, page: int) -> str:  # noqa: N802
            return "5\t1\t1\t1\t1\t1\t4\t4\t8\t8\t91\tTotal\n"
        def Clear(self) -> None: ...  # noqa: N802

    _fake_tesserocr(monkeypatch, _Api)
    engine = tess.TesseractEngine(Settings(lang="eng", tessdata_dir="/td"))
    for n in range(3):  # each page on a fresh watchdog thread, as in the pipeline
        words = call_ocr(engine, Image.new("L", (40, 20), 255), n + 1, engine.settings)
        assert [w.text for w in words] == ["Total"]
    assert made == [{"lang": "eng", "path": "/td/"}]  # the models loaded once
    assert not _Proc.seen  # the binary never read a page
