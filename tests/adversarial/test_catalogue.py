"""The 25 cases of ../shared/bad_inputs.md, each with the five invariants (see conftest)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from extractors import registry
from extractors.errors import DependencyMissing, PageError
from extractors.settings import Settings
from schemas.document import Word
from tests.adversarial.conftest import (
    SENTINEL,
    active_content_pdf,
    giant_page_pdf,
    page_bomb_pdf,
    pdf_bytes,
    png_header_bomb,
)
from tests.conftest import make_scan

pytestmark = [pytest.mark.adversarial, pytest.mark.tesseract]


def status(run, name: str) -> str:
    r = run.by_source[name]
    return r.status.value + (f":{r.reason}" if r.reason else "")


# 1 ------------------------------------------------------------------------------------------
def test_01_zero_byte(run_batch_case) -> None:
    run = run_batch_case({"empty.pdf": b""})
    assert status(run, "empty.pdf") == "rejected:empty_file"


# 2 ------------------------------------------------------------------------------------------
def test_02_wrong_magic(run_batch_case, tmp_path: Path) -> None:
    png = make_scan(tmp_path / "p.png", [(60, 60, "Receipt 12.00")], size=(600, 300)).read_bytes()
    run = run_batch_case({
        "image.pdf": png,
        "page.pdf": b"<!DOCTYPE html><html><body>" + SENTINEL.encode() + b"</body></html>",
        "archive.pdf": b"PK\x03\x04" + b"\x00" * 100,
        "really_a_pdf.jpg": pdf_bytes(),
    })
    assert run.by_source["image.pdf"].media_type == "image/png"
    assert run.by_source["image.pdf"].status.value in ("ok", "needs_review")
    assert status(run, "page.pdf") == "rejected:unsupported_type"
    assert status(run, "archive.pdf") == "rejected:unsupported_type"
    assert run.by_source["really_a_pdf.jpg"].media_type == "application/pdf"


# 3 ------------------------------------------------------------------------------------------
def test_03_header_only_and_truncated(run_batch_case) -> None:
    full = pdf_bytes(pages=2)
    run = run_batch_case({"head.pdf": b"%PDF-1.7\n%%EOF", "cut.pdf": full[: len(full) // 2]})
    assert status(run, "head.pdf") == "rejected:corrupt_pdf"
    assert status(run, "cut.pdf") == "rejected:corrupt_pdf"
    assert not [p for p in run.out.glob("*.json")]  # no partial per-document JSON


# 4 ------------------------------------------------------------------------------------------
def test_04_repairable_xref(run_batch_case) -> None:
    data = bytearray(pdf_bytes())
    i = data.rfind(b"startxref") + len(b"startxref\n")
    j = data.index(b"\n", i)
    data[i:j] = b"%d" % (int(data[i:j]) - 17)  # wrong offset: pdfium rebuilds the xref
    run = run_batch_case({"damaged.pdf": bytes(data)})
    rec = run.by_source["damaged.pdf"]
    assert rec.status.value in ("ok", "needs_review")
    assert "repaired" in rec.warnings
    assert rec.fields["invoice_id"].value == "INV-77"


# 5 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("R", [4, 6])
def test_05_encrypted_user_password(run_batch_case, tmp_path: Path, R: int) -> None:
    pikepdf = pytest.importorskip("pikepdf")
    src = tmp_path / "plain.pdf"
    src.write_bytes(pdf_bytes())

    def make(p: Path) -> None:
        with pikepdf.open(src) as pdf:
            pdf.save(p, encryption=pikepdf.Encryption(user="secret", owner="owner", R=R))

    t0 = time.monotonic()
    run = run_batch_case({"locked.pdf": make})
    rec = run.by_source["locked.pdf"]
    assert status(run, "locked.pdf") == "rejected:encrypted"
    assert "qpdf" in (rec.message or "")  # actionable
    assert time.monotonic() - t0 < 30


def test_05_owner_password_only_is_read(run_batch_case, tmp_path: Path) -> None:
    """Policy (README): a PDF with only an owner password opens read-only and is processed."""
    pikepdf = pytest.importorskip("pikepdf")
    src = tmp_path / "plain.pdf"
    src.write_bytes(pdf_bytes())

    def make(p: Path) -> None:
        with pikepdf.open(src) as pdf:
            pdf.save(p, encryption=pikepdf.Encryption(user="", owner="owner", R=6))

    run = run_batch_case({"owner_only.pdf": make})
    rec = run.by_source["owner_only.pdf"]
    assert rec.status.value in ("ok", "needs_review")
    assert "encrypted_owner_password" in rec.warnings


# 6 ------------------------------------------------------------------------------------------
def test_06_page_count_bomb(run_batch_case) -> None:
    run = run_batch_case({"bomb.pdf": page_bomb_pdf(5000)}, budget_s=30)
    assert status(run, "bomb.pdf") == "rejected:too_many_pages"


# 7 ------------------------------------------------------------------------------------------
def test_07_giant_page(run_batch_case) -> None:
    run = run_batch_case({"giant.pdf": giant_page_pdf(14400)}, budget_s=30)
    assert status(run, "giant.pdf") == "rejected:page_too_large"


def test_07_large_page_is_downsampled_to_budget(tmp_path: Path) -> None:
    from extractors.pages import render_pdf_page

    class FakePage:
        def render(self, scale: float, grayscale: bool):
            self.scale = scale

            class R:
                def to_pil(self_inner):
                    from PIL import Image

                    return Image.new("L", (10, 10))

            return R()

    page = FakePage()
    s = Settings(max_page_pixels=10_000_000)
    render_pdf_page(page, 2000, 2000, s)  # 2000pt at 300 dpi would be 69 MP
    assert (2000 * page.scale) ** 2 <= 10_000_000 * 1.001


# 8 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [30000, 10000])  # far over, and between 1x and 2x the limit
def test_08_decompression_bomb(run_batch_case, side: int) -> None:
    from PIL import Image

    limit_before = Image.MAX_IMAGE_PIXELS
    run = run_batch_case({"bomb.png": png_header_bomb(side, side)}, budget_s=30)
    assert status(run, "bomb.png") == "rejected:image_too_large"
    assert limit_before == Image.MAX_IMAGE_PIXELS  # the host's setting is left alone


# 9 ------------------------------------------------------------------------------------------
def test_09_off_list_and_broken_images(run_batch_case, tmp_path: Path) -> None:
    from PIL import Image

    buf = tmp_path / "ok.jpg"
    Image.new("RGB", (800, 600), "white").save(buf, "JPEG")
    jpeg = buf.read_bytes()
    run = run_batch_case({
        "fits.jpg": b"SIMPLE  =                    T" + b" " * 50,
        "icns.jpg": b"icns\x00\x00\x01\x00" + b"\x00" * 64,
        "psd.jpg": b"8BPS\x00\x01" + b"\x00" * 64,
        "truncated.jpg": jpeg[: len(jpeg) // 3],
    })
    for name in ("fits.jpg", "icns.jpg", "psd.jpg"):
        assert status(run, name) == "rejected:unsupported_type"
    assert status(run, "truncated.jpg") == "rejected:corrupt_image"
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# 10 -----------------------------------------------------------------------------------------
def test_10_multiframe_tiff_and_gif(run_batch_case) -> None:
    from PIL import Image

    def tiff(n: int):
        def make(p: Path) -> None:
            frames = [Image.new("L", (64, 64), 255) for _ in range(n)]
            frames[0].save(p, save_all=True, append_images=frames[1:])
        return make

    def gif(p: Path) -> None:
        frames = [Image.new("L", (64, 64), 60 * i) for i in range(3)]
        frames[0].save(p, save_all=True, append_images=frames[1:])

    run = run_batch_case({"many.tif": tiff(200), "three.tif": tiff(3), "anim.gif": gif},
                         settings=Settings(workers=1, max_pages=50))
    assert status(run, "many.tif") == "rejected:too_many_pages"
    three = run.by_source["three.tif"]
    assert three.pages == 3 and three.page_status == ["ok", "ok", "ok"]
    assert run.by_source["anim.gif"].pages == 3


# 11 -----------------------------------------------------------------------------------------
def test_11_blank_page(run_batch_case) -> None:
    from PIL import Image

    run = run_batch_case({"blank.png": lambda p: Image.new("L", (2480, 3508), 255).save(p)})
    rec = run.by_source["blank.png"]
    assert rec.status.value == "needs_review"
    assert rec.doc_type == "other"
    assert not rec.fields
    assert any(e.code == "no_text" for e in rec.errors)


# 12 -----------------------------------------------------------------------------------------
ROT_LINES = [(120, 120 + 70 * i, t) for i, t in enumerate([
    "ACME Office Supplies", "INVOICE", "Invoice Number: ROT-2024-17", "Invoice Date: 02/05/2024",
    "Paper A4 500 sheets 2 x 5.00 = 10.00", "Toner cartridge black 1 x 40.00 = 40.00",
    "Subtotal 50.00", "VAT 20% 10.00", "Total 60.00 EUR"])]


@pytest.mark.parametrize("angle", [90, 180, 3])
def test_12_rotated_and_skewed_scans(run_batch_case, tmp_path: Path, angle: int) -> None:
    from PIL import Image

    src = make_scan(tmp_path / "upright.png", ROT_LINES, size=(1700, 1100))

    def make(p: Path) -> None:
        Image.open(src).rotate(angle, expand=True, fillcolor=255).save(p)

    run = run_batch_case({"rotated.png": make})
    rec = run.by_source["rotated.png"]
    assert rec.fields["invoice_id"].value == "ROT-2024-17"
    assert rec.fields["total"].value == "60.00"


def test_12_orientation_is_deterministic(tmp_path: Path) -> None:
    from PIL import Image

    from extractors.pipeline import Pipeline

    src = make_scan(tmp_path / "upright.png", ROT_LINES, size=(1700, 1100))
    Image.open(src).rotate(180, expand=True, fillcolor=255).save(tmp_path / "r.png")
    pipe = Pipeline(Settings())
    a = pipe.process(tmp_path / "r.png").model_dump(mode="json")
    b = pipe.process(tmp_path / "r.png").model_dump(mode="json")
    assert a == b


# 13 -----------------------------------------------------------------------------------------
class SleepyOcr:
    """Fake OCR: hangs on page 2 (or raises the given error there)."""

    name = "sleepy"

    def __init__(self, settings: Settings, error: Exception | None = None) -> None:
        self.error = error

    def version(self) -> str:
        return "sleepy 1"

    def check(self) -> None:
        pass

    def ocr(self, image, *, page_number: int):
        if page_number == 2:
            if self.error is not None:
                raise self.error
            time.sleep(5)
        return [Word.from_pixels("Total", (10, 10, 60, 30), page_width=image.width,
                                 page_height=image.height, confidence=0.9)]


def _three_frame_tiff(p: Path) -> None:
    from PIL import Image

    frames = [Image.new("L", (200, 200), 255) for _ in range(3)]
    frames[0].save(p, save_all=True, append_images=frames[1:])


def test_13_ocr_hang_is_a_page_timeout(run_batch_case) -> None:
    s = Settings(workers=1, ocr_timeout_s=1.0)
    run = run_batch_case({"slow.tif": _three_frame_tiff}, settings=s, budget_s=20,
                         pipeline_kwargs={"ocr": SleepyOcr(s)})
    rec = run.by_source["slow.tif"]
    assert rec.status.value == "partial" and rec.page_status == ["ok", "ocr_timeout", "ok"]


def test_13_timeout_runtimeerror_is_mapped_by_message(run_batch_case) -> None:
    s = Settings(workers=1)
    run = run_batch_case({"slow.tif": _three_frame_tiff}, settings=s,
                         pipeline_kwargs={"ocr": SleepyOcr(s, RuntimeError("Tesseract process timeout"))})
    assert run.by_source["slow.tif"].page_status == ["ok", "ocr_timeout", "ok"]


def test_13_other_runtimeerror_is_not_a_timeout(run_batch_case) -> None:
    s = Settings(workers=1)
    run = run_batch_case({"slow.tif": _three_frame_tiff}, settings=s,
                         pipeline_kwargs={"ocr": SleepyOcr(s, RuntimeError("bad alloc"))})
    rec = run.by_source["slow.tif"]
    assert rec.status.value == "failed" and rec.reason != "ocr_timeout"


# 14 -----------------------------------------------------------------------------------------
def test_14_missing_tesseract_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.process import _PIPELINES, run_batch

    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(pdf_bytes())
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    _PIPELINES.clear()
    with pytest.raises(DependencyMissing) as exc:
        run_batch([inbox], tmp_path / "out", Settings(workers=1))
    assert "apt-get install tesseract-ocr" in exc.value.message
    assert not (tmp_path / "out" / "quarantine").exists()
    assert not (tmp_path / "out" / "ledger.jsonl").exists()  # no document was blamed


def test_14_empty_tessdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from extractors.ocr.tesseract import TesseractEngine

    empty = tmp_path / "tessdata"
    empty.mkdir()
    monkeypatch.setenv("TESSDATA_PREFIX", str(empty))
    with pytest.raises(DependencyMissing) as exc:
        TesseractEngine(Settings()).check()
    assert exc.value.exit_code == 4


# 15 -----------------------------------------------------------------------------------------
# Worker crashes (SIGKILL of the worker process) are covered in tests/flows/ with the
# process-isolated runner: the document is retried once, then quarantined as poison.


# 16 -----------------------------------------------------------------------------------------
class PageTwoFails:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, page, w, h, settings):
        from extractors.pages import render_pdf_page

        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("render exploded")
        return render_pdf_page(page, w, h, settings)


def _scanned_pdf(n: int):
    def make(p: Path) -> None:
        from PIL import Image

        pages = [Image.new("L", (850, 1100), 255) for _ in range(n)]
        pages[0].save(p, "PDF", resolution=100, save_all=True, append_images=pages[1:])
    return make


@pytest.mark.parametrize("strict", [False, True])
def test_16_one_page_fails_to_render(run_batch_case, strict: bool) -> None:
    s = Settings(workers=1, strict_pages=strict, dpi=72)
    run = run_batch_case({"three.pdf": _scanned_pdf(3)}, settings=s,
                         pipeline_kwargs={"rasterizer": PageTwoFails()})
    rec = run.by_source["three.pdf"]
    if strict:
        assert rec.status.value == "failed" and rec.reason == "render_failed"
    else:
        assert rec.status.value == "partial"
        assert rec.page_status == ["ok", "render_failed", "ok"]


# 17 -----------------------------------------------------------------------------------------
def test_17_active_content_is_inert(run_batch_case, tmp_path: Path) -> None:
    data = active_content_pdf()
    run = run_batch_case({"active.pdf": data})
    rec = run.by_source["active.pdf"]
    assert rec.status.value in ("ok", "needs_review")
    inbox_file = tmp_path / "inbox" / "active.pdf"
    assert hashlib.sha256(inbox_file.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not [p for p in run.written if "evil" in p.name]


def test_17_hidden_text_layer_is_flagged(run_batch_case, tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    img = make_scan(tmp_path / "visible.png", [(150, 150, "Invoice No: VIS-1"),
                                               (150, 250, "Total 10.00 EUR")],
                    size=(1654, 2339), font_size=40)

    def make(p: Path) -> None:
        c = canvas.Canvas(str(p), pagesize=A4)
        c.drawImage(str(img), 0, 0, width=A4[0], height=A4[1])
        t = c.beginText(72, 700)
        t.setTextRenderMode(3)  # invisible
        t.textLine("Invoice No: HIDDEN-999 Total 99999.00 EUR pay to account 123456")
        c.drawText(t)
        c.showPage()
        c.save()

    run = run_batch_case({"hidden.pdf": make})
    rec = run.by_source["hidden.pdf"]
    assert rec.status.value == "needs_review"
    assert any("hidden_text_mismatch" in w for w in rec.warnings)
    assert rec.fields["invoice_id"].value == "VIS-1"  # the image is trusted
    assert rec.engine["ocr"].startswith("tesseract")


# 18 -----------------------------------------------------------------------------------------
def test_18_hostile_filenames(run_batch_case) -> None:
    good = pdf_bytes([(72, 72, "Receipt"), (72, 100, "Total 5.00")])
    names = {
        "CON.pdf": good,
        "inv\u202efdp.exe.pdf": good + b"\n%1",
        ("x" * 240) + ".pdf": good + b"\n%2",
        "Case.pdf": good + b"\n%3",
        "case.pdf": good + b"\n%4",
        "-rf .pdf": good + b"\n%5",
    }
    run = run_batch_case(names)
    assert len(run.by_source) == len(names) + 1
    for src in run.by_source:
        assert "\u202e" not in src and "/" not in src.strip("/")
    assert "inv\\u202efdp.exe.pdf" in run.by_source
    assert not [p for p in run.written if "\u202e" in str(p)]


def test_18_dotdot_paths_stay_relative(tmp_path: Path) -> None:
    from flows.process import discover

    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "x.pdf").write_bytes(pdf_bytes())
    f = discover([tmp_path / "in" / "sub" / ".." / ".." / "in" / "x.pdf"])[0]
    assert f.source == "x.pdf"


# 19 -----------------------------------------------------------------------------------------
def test_19_symlinks_fifos_directories(run_batch_case, tmp_path: Path) -> None:
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(pdf_bytes([(72, 72, "outside the inbox")]))

    def fifo(p: Path) -> None:
        os.mkfifo(p)

    def link_out(p: Path) -> None:
        p.symlink_to(outside)

    def dir_pdf(p: Path) -> None:
        p.mkdir()

    run = run_batch_case({"pipe.pdf": fifo, "escape.pdf": link_out, "folder.pdf": dir_pdf},
                         budget_s=30)
    assert set(run.by_source) == {"good_invoice.pdf"}
    assert {"pipe.pdf", "escape.pdf"} <= set(run.result.ignored)


# 20 -----------------------------------------------------------------------------------------
# Files still being written are handled by `docai watch` (tests/flows/).


# 21 -----------------------------------------------------------------------------------------
def test_21_duplicates_and_reruns(run_batch_case, tmp_path: Path, monkeypatch) -> None:
    from flows.process import run_batch

    data = pdf_bytes([(72, 72, "Invoice No: DUP-1"), (72, 100, "Total 5.00")])
    run = run_batch_case({"a.pdf": data, "copy_of_a.pdf": data})
    assert run.by_source["a.pdf"].sha256 == run.by_source["copy_of_a.pdf"].sha256
    ledger = (run.out / "ledger.jsonl").read_text().splitlines()
    assert len(ledger) == 2  # the good invoice + one record for both copies
    exports = {p.name: p.read_bytes() for p in run.out.glob("*.csv")}
    docs = (run.out / "documents.jsonl").read_bytes()

    again = run_batch([tmp_path / "inbox"], run.out, Settings(workers=1))
    assert sorted(again.skipped) == ["a.pdf", "copy_of_a.pdf", "good_invoice.pdf"]
    assert {p.name: p.read_bytes() for p in run.out.glob("*.csv")} == exports
    assert (run.out / "documents.jsonl").read_bytes() == docs

    (tmp_path / "inbox" / "a.pdf").write_bytes(pdf_bytes([(72, 72, "Invoice No: DUP-2")]))
    changed = run_batch([tmp_path / "inbox"], run.out, Settings(workers=1))
    assert "a.pdf" not in changed.skipped

    import extractors.settings as settings_mod

    monkeypatch.setattr(settings_mod, "PIPELINE_VERSION", "999.0")
    bumped = run_batch([tmp_path / "inbox"], run.out, Settings(workers=1))
    assert bumped.skipped == []


# 22 -----------------------------------------------------------------------------------------
def test_22_crash_during_output_leaves_nothing_half_written(run_batch_case, tmp_path: Path) -> None:
    from flows.process import run_batch

    run = run_batch_case({"b.pdf": pdf_bytes([(72, 72, "Invoice No: OUT-1")])})
    clean = {p.name: p.read_bytes() for p in run.out.glob("*.csv")}
    # a kill after the temp file was written, before os.replace; and a torn ledger line
    (run.out / ".invoices.csv.abc.docai.tmp").write_text("half")
    with open(run.out / "ledger.jsonl", "a") as f:
        f.write('{"source": "b.pdf", "sha256": "tor')
    run_batch([tmp_path / "inbox"], run.out, Settings(workers=1))
    assert not list(run.out.glob("*.tmp"))
    assert {p.name: p.read_bytes() for p in run.out.glob("*.csv")} == clean


# 23 -----------------------------------------------------------------------------------------
def test_23_formula_injection_in_extracted_values(run_batch_case) -> None:
    import csv

    import pandas as pd

    lines = [(72, 60, "Note: =HYPERLINK(\"x\",\"y\")"), (72, 80, "Ref: +SUM(1,1)"),
             (72, 100, "Contact: @cmd"), (72, 120, "Code: -2+3"),
             (72, 140, "Invoice No: INJ-1"), (300, 300, "Total"), (400, 300, "-12.50")]
    run = run_batch_case({"inject.pdf": pdf_bytes(lines)})
    rec = run.by_source["inject.pdf"]
    raw_values = {kv.value for kv in rec.key_values}
    assert {"+SUM(1,1)", "@cmd", "-2+3"} <= raw_values  # JSON keeps the raw values
    with open(run.out / "key_values.csv", newline="", encoding="utf-8") as f:
        cells = [c for row in csv.reader(f) for c in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r", "\0") or (
        c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit())]
    assert not dangerous, dangerous
    df = pd.read_csv(run.out / "key_values.csv", dtype=str)
    values = set(df["value"].dropna())
    assert {"'+SUM(1,1)", "'@cmd", "'-2+3"} <= values
    assert "-12.50" in values  # a number stays a number


# 24 -----------------------------------------------------------------------------------------
def test_24_schema_invalid_values_are_field_errors(run_batch_case) -> None:
    from extractors.registry import Extraction
    from schemas.fields import Field, LineItem

    class BadValues:
        name = "bad-values"

        def extract(self, doc, doc_type):
            f = lambda v: Field(value=v, text=v, confidence=0.9)  # noqa: E731
            return Extraction(fields={
                "invoice_id": f("INV-77"), "total": f("1,234.5O"), "invoice_date": f("2024-02-31"),
                "currency": f("€€"), "subtotal": f("100.00"), "tax_total": f("10.00"),
            }, line_items=[LineItem(amount=f("50.00"))])

    run = run_batch_case({"bad_values.pdf": pdf_bytes([(72, 72, "Invoice")])},
                         pipeline_kwargs={"extractor": BadValues()}, expect_good=False)
    rec = run.by_source["bad_values.pdf"]
    codes = {(e.field, e.code) for e in rec.errors}
    assert rec.status.value == "needs_review"
    assert {("total", "invalid_amount"), ("invoice_date", "invalid_date"),
            ("currency", "invalid_currency"), ("line_items", "arithmetic_mismatch")} <= codes


# 25 -----------------------------------------------------------------------------------------
# Model-input hygiene (box clamping, >512-token windows, unparseable Donut output) is tested
# on tiny models in tests/models/; the clamp itself is part of the Document model:
def test_25_boxes_are_clamped_for_models() -> None:
    w = Word.from_pixels("x", (-50, -5, 5000, 20), page_width=1000, page_height=1000)
    assert w.box == (0, 0, 1000, 20)
    z = Word.from_pixels("x", (0, 0, 10, 10), page_width=0, page_height=0)
    assert all(0 <= v <= 1000 for v in z.box)


def test_registry_lists_fakes_like_real_engines() -> None:
    registry.register("ocr", "sleepy", SleepyOcr)
    try:
        assert "sleepy" in registry.available("ocr")
        with pytest.raises(PageError):
            raise PageError("x", reason="ocr_timeout")
    finally:
        registry._REGISTRY["ocr"].pop("sleepy")
