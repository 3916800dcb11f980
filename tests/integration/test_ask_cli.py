"""``docai ask`` / ``docai ask-eval`` end to end on hand-made documents whose answers and boxes are
known: native-text PDFs (reportlab), scanned PNGs and image-only PDFs (Pillow + Tesseract), and a
tiny random LayoutLMv3 QA model for the model path."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_scan, make_text_pdf
from tests.conftest import run_cli as run

A4_W, A4_H = 595.2756, 841.8898
FONT = ("Helvetica", 12)

INVOICE = [
    (50, 60, "ACME Tools GmbH"),
    (50, 75, "Hauptstrasse 5, 10115 Berlin"),
    (330, 120, "Invoice No: INV-2024-017"),
    (330, 135, "Invoice Date: 12.03.2024"),
    (330, 150, "PO Number: PO-7781"),
    (300, 500, "Subtotal: 20.00"),
    (300, 515, "VAT: 3.80"),
    (300, 530, "Total: 23.80"),
]


def value_box(line: tuple[float, float, str], value: str) -> tuple[float, float, float, float]:
    """Expected 0–1000 box of ``value`` printed at the end of a reportlab line."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    x, y, text = line
    x0 = x + stringWidth(text[: text.index(value)], *FONT)
    x1 = x0 + stringWidth(value, *FONT)
    return (1000 * x0 / A4_W, 1000 * (y - 9) / A4_H, 1000 * x1 / A4_W, 1000 * (y + 2) / A4_H)


def assert_box_near(bbox: list[int], expected: tuple[float, ...], tol: float = 12) -> None:
    assert bbox is not None and len(bbox) == 4
    for got, want in zip(bbox, expected, strict=True):
        assert abs(got - want) <= tol, (bbox, expected)


@pytest.fixture()
def invoice(tmp_path: Path) -> Path:
    return make_text_pdf(tmp_path / "invoice.pdf", INVOICE)


def test_ask_json_native_pdf(invoice, capsys, monkeypatch):
    code, out, err = run(["ask", str(invoice), "What is the invoice number?", "--json"],
                         capsys, monkeypatch)
    assert code == 0, err
    obj = json.loads(out)
    assert list(obj) == ["answer", "confidence", "page", "bbox", "engine"]
    assert obj["answer"] == "INV-2024-017" and obj["page"] == 1 and obj["engine"] == "rules"
    assert 0.5 <= obj["confidence"] <= 1.0
    assert_box_near(obj["bbox"], value_box(INVOICE[2], "INV-2024-017"))


def test_ask_human_output_top_k_and_i_dont_know(invoice, capsys, monkeypatch):
    code, out, _ = run(["ask", str(invoice), "What is the total?", "--top-k", "3"], capsys,
                       monkeypatch)
    assert code == 0
    assert out.splitlines()[0].strip() == "23.80"
    assert "page 1" in out
    code, out, _ = run(["ask", str(invoice), "What is the IBAN?", "--json", "--top-k", "2"],
                       capsys, monkeypatch)
    obj = json.loads(out)
    assert code == 0 and obj["answer"] is None and obj["bbox"] is None
    assert obj["confidence"] < 0.35 and obj["alternatives"] == []


def test_ask_many_questions_many_documents_csv(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    make_text_pdf(folder / "a.pdf", INVOICE)
    make_text_pdf(folder / "sub" / "b.pdf", [(50, 60, "Other Company Ltd"),
                                             (330, 120, "Invoice No: B-99"),
                                             (300, 530, "Total: =1+2")])
    questions = tmp_path / "questions.txt"
    questions.write_text("# one per line\nWhat is the invoice number?\n\nWhat is the total?\n")
    out_csv = tmp_path / "answers.csv"
    code, out, err = run(["ask", str(folder), "--questions", str(questions), "-q",
                          "What is the PO number?", "--out", str(out_csv)], capsys, monkeypatch)
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open(newline="", encoding="utf-8")))
    assert [r["file"] for r in rows] == ["a.pdf"] * 3 + ["sub/b.pdf"] * 3
    got = {(r["file"], r["question"]): r["answer"] for r in rows}
    assert got[("a.pdf", "What is the invoice number?")] == "INV-2024-017"
    assert got[("a.pdf", "What is the total?")] == "23.80"
    assert got[("a.pdf", "What is the PO number?")] == "PO-7781"
    assert got[("sub/b.pdf", "What is the invoice number?")] == "B-99"
    assert got[("sub/b.pdf", "What is the PO number?")] == ""  # I don't know
    assert not any(r["answer"].startswith("=") for r in rows)  # formula guard
    assert list(rows[0]) == ["file", "question", "answer", "confidence", "page", "bbox",
                             "engine", "error"]

    code, out, _ = run(["ask", str(folder / "a.pdf"), str(folder / "sub" / "b.pdf"), "-q",
                        "What is the invoice number?", "--json"], capsys, monkeypatch)
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["file"], x["answer"]) for x in lines] == [("a.pdf", "INV-2024-017"),
                                                         ("b.pdf", "B-99")]


def test_ask_bad_document_among_good_exits_3(tmp_path, invoice, capsys, monkeypatch):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not a pdf")
    code, out, _ = run(["ask", str(invoice), str(bad), "-q", "What is the total?", "--json"],
                       capsys, monkeypatch)
    assert code == 3
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["answer"] == "23.80"
    assert lines[1]["answer"] is None and lines[1]["error"]


@pytest.mark.parametrize("args", [["ask"], ["ask", "only-a-file.pdf"],
                                  ["ask", "missing.pdf", "What is the total?"]])
def test_ask_usage_errors(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "only-a-file.pdf").write_bytes(b"%PDF-1.4")
    code, _, _ = run(args, capsys, monkeypatch)
    assert code == 2


def _red_share(img: Any, box: tuple[float, ...]) -> float:
    w, h = img.size
    x0, y0, x1, y1 = (int(box[0] * w / 1000) - 6, int(box[1] * h / 1000) - 6,
                      int(box[2] * w / 1000) + 6, int(box[3] * h / 1000) + 6)
    crop = img.crop((x0, y0, x1, y1)).convert("RGB")
    px = [crop.getpixel((x, y)) for x in range(crop.width) for y in range(crop.height)]
    return sum(1 for r, g, b in px if r > 180 and g < 80 and b < 110) / max(1, len(px))


def test_ask_show_draws_the_answer_box_on_a_pdf_page(invoice, tmp_path, capsys, monkeypatch):
    from PIL import Image

    picture = tmp_path / "out.png"
    code, _, err = run(["ask", str(invoice), "What is the invoice number?", "--show",
                        str(picture)], capsys, monkeypatch)
    assert code == 0, err
    img = Image.open(picture)
    assert img.width < img.height  # the A4 page, portrait
    assert _red_share(img, value_box(INVOICE[2], "INV-2024-017")) > 0.02
    assert _red_share(img, value_box(INVOICE[7], "23.80")) == 0.0


def test_ask_eval_on_generated_layout(tmp_path, capsys, monkeypatch):
    rows = []
    for i, num in enumerate(["INV-1", "INV-2"]):
        make_text_pdf(tmp_path / f"d{i}.pdf", [(50, 60, "Example Ltd"),
                                               (330, 120, f"Invoice No: {num}"),
                                               (300, 530, "Total: 10.00")])
        rows.append({"file": f"d{i}.pdf", "fields": {"invoice_id": num, "total": "10.00",
                                                     "po_number": "PO-1"}})
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows_out = tmp_path / "rows.jsonl"
    code, out, err = run(["ask-eval", str(tmp_path), "--json", "--no-cache", "--rows",
                          str(rows_out)], capsys, monkeypatch)
    assert code == 0, err
    s = json.loads(out)
    assert s["n"] == 6
    assert s["by_tag"]["invoice_id"] == {"n": 2, "anls": 1.0}
    assert s["by_tag"]["po_number"] == {"n": 2, "anls": 0.0}  # not printed: I don't know
    assert s["mean_anls"] == pytest.approx(4 / 6, abs=1e-4)
    assert len(rows_out.read_text().splitlines()) == 6


@pytest.mark.tesseract
def test_ask_scanned_png_and_image_pdf(tmp_path, capsys, monkeypatch):
    from PIL import Image

    lines = [(150, 150, "Northwind Traders"), (150, 400, "Invoice Number: 48213"),
             (150, 480, "Due Date: 2024-07-31"), (150, 900, "Amount Due: 1,250.00")]
    png = make_scan(tmp_path / "scan.png", lines)
    pdf = tmp_path / "scan.pdf"
    Image.open(png).convert("RGB").save(pdf, "PDF", resolution=200)
    # the value "48213" starts after "Invoice Number: " (DejaVuSans 36 px on a 1700x2200 page)
    from PIL import ImageFont

    font = ImageFont.truetype("DejaVuSans.ttf", 36)
    x0 = 150 + font.getlength("Invoice Number: ")
    x1 = 150 + font.getlength("Invoice Number: 48213")
    want = (1000 * x0 / 1700, 1000 * 405 / 2200, 1000 * x1 / 1700, 1000 * 433 / 2200)
    for path in (png, pdf):
        code, out, err = run(["ask", str(path), "-q", "What is the invoice number?", "-q",
                              "When is the invoice due?", "-q", "What is the amount due?",
                              "--json"], capsys, monkeypatch)
        assert code == 0, err
        got = [json.loads(x) for x in out.splitlines()]
        assert [g["answer"] for g in got] == ["48213", "2024-07-31", "1250.00"], path.name
        assert_box_near(got[0]["bbox"], want, tol=10)


@pytest.mark.models
def test_ask_with_tiny_layoutlmv3_qa_model(invoice, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.models.builders import tiny_layoutlmv3

    model = tiny_layoutlmv3(tmp_path / "lmv3_qa", "qa", labels=["LABEL_0", "LABEL_1"])
    code, out, err = run(["ask", str(invoice), "What is the invoice number?", "--qa-engine",
                          "layoutlmv3", "--model", str(model), "--json", "--top-k", "2"],
                         capsys, monkeypatch)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["engine"] == "layoutlmv3"  # random weights: the answer is junk, the plumbing not
    assert obj["answer"] is None or (obj["page"] == 1 and len(obj["bbox"]) == 4
                                     and all(0 <= v <= 1000 for v in obj["bbox"]))
    assert isinstance(obj["alternatives"], list)


def test_several_questions_read_the_document_once(invoice, tmp_path, capsys, monkeypatch):
    """-q repeated and --questions FILE: one read (OCR) of the document for all questions."""
    from extractors.pipeline import Pipeline

    calls = []
    original = Pipeline.load

    def counting_load(self, path, *args, **kwargs):
        calls.append(Path(path).name)
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "load", counting_load)
    questions = tmp_path / "q.txt"
    questions.write_text("What is the total?\n# a comment\nWhat is the PO number?\n")
    code, out, err = run(["ask", str(invoice), "-q", "What is the invoice number?",
                          "--questions", str(questions), "--json"], capsys, monkeypatch)
    assert code == 0, err
    got = [json.loads(x) for x in out.splitlines()]
    assert [(g["question"], g["answer"]) for g in got] == [
        ("What is the invoice number?", "INV-2024-017"), ("What is the total?", "23.80"),
        ("What is the PO number?", "PO-7781")]
    assert calls == ["invoice.pdf"]
