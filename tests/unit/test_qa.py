"""Rules QA: question understanding, layout search, fields/line items, "I don't know", ANLS."""

from __future__ import annotations

import json

import pytest

from extractors.layout import build_layout
from extractors.qa import (
    RulesQA,
    find_labels,
    form_value,
    kind_score,
    label_phrase,
    money_value,
    norm_label,
    parse_question,
    read_value,
)
from extractors.qa_eval import funsd_pairs, funsd_question, load_examples
from extractors.registry import Extraction
from schemas.document import Document, Page, Word
from schemas.fields import Field, KeyValue, LineItem

CHAR_W = 12.0
LINE_H = 24.0


def page_of(items: list[tuple[str, float, float]], *, number: int = 1, width: float = 1000,
            height: float = 1400) -> Page:
    """A laid-out page from ``(text, x, y)`` runs; each run is split into words (12 px/char)."""
    words: list[Word] = []
    for text, x, y in items:
        for tok in text.split():
            w = CHAR_W * len(tok)
            words.append(Word.from_pixels(tok, (x, y, x + w, y + LINE_H), page_width=width,
                                          page_height=height, confidence=0.95))
            x += w + CHAR_W
    return build_layout(Page(number=number, width=width, height=height, words=words,
                             text_source="ocr", engine="test"))


def doc_of(*pages: Page, sha: str = "ab" * 32) -> Document:
    return Document(source="t.png", sha256=sha, media_type="image/png", pages=list(pages))


def box_of(page: Page, text: str) -> tuple[int, int, int, int]:
    """0–1000 box of the (first) word ``text`` on ``page``."""
    return next(w.box for w in page.words if w.text == text)


FORM = [
    ("ACME Tools GmbH", 60, 40),
    ("Invoice No: INV-2024-017", 560, 120),
    ("Date: 12.03.2024", 560, 160),
    ("Sender: Jane Roe", 60, 240),
    ("Age: 42", 60, 280),
    ("Remarks: handle with care and keep", 60, 360),
    ("the parcel dry at all times", 192, 390),
    ("Signed: J. Roe", 60, 440),
    ("Quantity", 600, 520),
    ("17 boxes", 600, 552),
    ("Total: 1,234.50 EUR", 560, 700),
]


@pytest.fixture()
def form_doc() -> Document:
    return doc_of(page_of(FORM))


@pytest.fixture()
def layout_qa() -> RulesQA:
    """Layout search only (no classifier/extractor, no MiniLM): fast and deterministic."""
    return RulesQA(None, classifier=False, extractor=False, use_semantic=False)


# -- question understanding -----------------------------------------------------------------
@pytest.mark.parametrize(("question", "label", "wh"), [
    ("What is the invoice number?", "invoice number", "what"),
    ("what's the total amount on this invoice?", "total amount", "what"),
    ("Who is the sender?", "sender", "who"),
    ("How old is the sender?", "age", "how old"),
    ("Was ist die Rechnungsnummer?", "Rechnungsnummer", "was"),
    ("Quelle est la date de facture ?", "date de facture", "quelle"),
    ("Date:", "Date", None),
])
def test_label_phrase(question, label, wh):
    assert label_phrase(question) == (label, wh)


@pytest.mark.parametrize(("question", "field"), [
    ("What is the invoice number?", "invoice_id"),
    ("What is the Invoice #?", "invoice_id"),
    ("What is the PO number?", "po_number"),
    ("When is the invoice due?", "due_date"),
    ("How much is the total?", "total"),
    ("What is the VAT amount?", "tax_total"),
    ("What is the amount due?", "amount_due"),
    ("Who is the vendor?", "vendor_name"),
    ("Was ist die Rechnungsnummer?", "invoice_id"),
    ("Quel est le montant total ?", "total"),
    ("What is the company name?", "vendor_name"),
])
def test_question_maps_to_canonical_field(question, field):
    q = parse_question(question, use_semantic=False)
    assert q.field == field or field in dict(q.fields)


@pytest.mark.parametrize("question", ["What is the TAR?", "What is the Brand?",
                                      "What is the Remarks?"])
def test_non_field_questions_have_no_field(question):
    assert parse_question(question, use_semantic=False).field is None


def test_line_item_questions():
    q = parse_question("What is the quantity of item 2?", use_semantic=False)
    assert (q.item, q.item_field, q.kind) == (1, "quantity", "number")
    q = parse_question("What is the unit price of the first line?", use_semantic=False)
    assert (q.item, q.item_field) == (0, "unit_price")
    q = parse_question("What is the description of the last item?", use_semantic=False)
    assert (q.item, q.item_field) == (-1, "description")


def test_wh_word_sets_expected_kind():
    assert parse_question("When was it paid?", use_semantic=False).kind == "date"
    assert parse_question("How much is the deposit?", use_semantic=False).kind == "money"
    assert parse_question("Who signed?", use_semantic=False).kind == "name"


def test_norm_label_and_kinds():
    assert norm_label("Invoice #:") == norm_label("Invoice No.") == "invoice no"
    assert norm_label("Fälligkeitsdatum") == "faelligkeitsdatum"
    assert kind_score("12.50", "money") == 1.0 and kind_score("Total", "money") == 0.0
    assert kind_score("12/03/2024", "date") == 1.0 and kind_score("Jane", "date") == 0.0
    assert money_value("RM 33,90") == "33.90"
    assert money_value("1.234,56 €") == "1234.56"
    assert money_value("$1,234.56") == "1234.56"
    assert money_value("n/a") is None


# -- layout search ----------------------------------------------------------------------------
def test_find_labels_exact_and_fuzzy(form_doc):
    hit = find_labels(form_doc, ["invoice number"])[0]
    assert hit.text == "Invoice No:" and hit.score == 1.0
    hit = find_labels(form_doc, ["Remarks"])[0]
    assert hit.text == "Remarks:"
    assert find_labels(form_doc, ["IBAN"]) == []


def test_read_value_right_same_row(form_doc):
    page = form_doc.pages[0]
    hit = find_labels(form_doc, ["Date"])[0]
    (words, where, _), *_ = read_value(page, hit.word_ids, "date")
    assert where == "right" and [w.text for w in words] == ["12.03.2024"]


def test_read_value_below_in_column(form_doc):
    page = form_doc.pages[0]
    hit = find_labels(form_doc, ["Quantity"])[0]
    vals = read_value(page, hit.word_ids, None)
    assert [(" ".join(w.text for w in ws), where) for ws, where, _ in vals] == [("17 boxes", "below")]


def test_read_value_multiline_stops_at_next_label(form_doc):
    page = form_doc.pages[0]
    hit = find_labels(form_doc, ["Remarks"])[0]
    words, where, _ = read_value(page, hit.word_ids, None)[0]
    text = " ".join(w.text for w in words)
    assert text == "handle with care and keep the parcel dry at all times"
    assert "Signed:" not in text


# -- answers ----------------------------------------------------------------------------------
def test_layout_answer_with_box(form_doc, layout_qa):
    page = form_doc.pages[0]
    a = layout_qa.answer(form_doc, "What is the invoice number?")[0]
    assert a.answer == "INV-2024-017"
    assert a.page == 1 and a.bbox == list(box_of(page, "INV-2024-017"))
    assert a.confidence >= 0.8 and a.engine == "rules" and a.words == ["INV-2024-017"]


@pytest.mark.parametrize(("question", "expected"), [
    ("Who is the sender?", "Jane Roe"),
    ("How old is the sender?", "42"),
    ("What is the date?", "12.03.2024"),
    ("What is the total?", "1234.50"),
    ("What is the Quantity?", "17 boxes"),
    ("Who signed?", "J. Roe"),
])
def test_layout_answers_non_field_and_field_questions(form_doc, layout_qa, question, expected):
    assert layout_qa.answer(form_doc, question)[0].answer == expected


def test_i_dont_know_is_null_with_low_confidence(form_doc, layout_qa):
    for question in ("What is the IBAN?", "What is the airspeed velocity of a swallow?"):
        a = layout_qa.answer(form_doc, question)
        assert len(a) == 1 and a[0].answer is None and a[0].bbox is None
        assert a[0].confidence < layout_qa.min_confidence


def test_empty_document_is_i_dont_know(layout_qa):
    a = layout_qa.answer(doc_of(), "What is the total?")
    assert a[0].answer is None


def test_top_k_gives_distinct_alternatives(layout_qa):
    doc = doc_of(page_of([("Date: 01.02.2024", 60, 100), ("Date: 05.06.2024", 60, 600)]))
    answers = layout_qa.answer(doc, "What is the date?", top_k=3)
    assert sorted(a.answer for a in answers) == ["01.02.2024", "05.06.2024"]
    assert answers[0].confidence >= answers[1].confidence


def test_multi_page_answer_reports_its_page(layout_qa):
    doc = doc_of(page_of([("Hello world", 60, 100)]),
                 page_of([("Reference: R-99", 60, 100)], number=2))
    a = layout_qa.answer(doc, "What is the reference?")[0]
    assert (a.answer, a.page) == ("R-99", 2)


class FakeExtractor:
    name = "fake"

    def __init__(self, extraction: Extraction) -> None:
        self.extraction = extraction
        self.calls = 0

    def extract(self, doc, doc_type):
        self.calls += 1
        return self.extraction


def qa_on_fields(fields: dict[str, Field]) -> RulesQA:
    """The rules QA over a fixed extraction (no classifier, no semantic matching)."""
    return RulesQA(None, classifier=False, use_semantic=False,
                   extractor=FakeExtractor(Extraction(fields=fields)))


class FakeClassifier:
    name = "fake"

    def classify(self, doc):
        return "invoice", 0.9


def test_extracted_field_wins_over_layout_and_is_computed_once(form_doc):
    total = Field(value="1299.00", text="1.299,00", confidence=0.9, page=1,
                  bbox=[600, 900, 700, 920])
    ex = FakeExtractor(Extraction(fields={"total": total, "vendor_name": Field(
        value="ACME Tools GmbH", text="ACME Tools GmbH", confidence=0.8, page=1,
        bbox=[60, 28, 200, 46])}))
    qa = RulesQA(None, classifier=FakeClassifier(), extractor=ex, use_semantic=False)
    answers = qa.answer_many(form_doc, ["What is the total?", "Who is the vendor?",
                                        "What is the company name?"])
    assert answers[0][0].answer == "1299.00" and answers[0][0].bbox == [600, 900, 700, 920]
    assert answers[0][0].field == "total"
    assert answers[1][0].answer == answers[2][0].answer == "ACME Tools GmbH"
    assert ex.calls == 1


def test_receipt_fields_answer_vendor_questions(form_doc):
    ex = FakeExtractor(Extraction(fields={"merchant_name": Field(
        value="CAFE X", text="CAFE X", confidence=0.7, page=1, bbox=[10, 10, 90, 20])}))
    qa = RulesQA(None, classifier=False, extractor=ex, use_semantic=False)
    assert qa.answer(form_doc, "Who is the vendor?")[0].answer == "CAFE X"


def test_line_item_answer_from_extraction(form_doc):
    items = [LineItem(description=Field(value="Widget", text="Widget", confidence=0.9, page=1),
                      quantity=Field(value="2", text="2", confidence=0.9, page=1, bbox=[1, 2, 3, 4])),
             LineItem(description=Field(value="Gadget", text="Gadget", confidence=0.9, page=1),
                      quantity=Field(value="5", text="5", confidence=0.9, page=1, bbox=[5, 6, 7, 8]))]
    qa = RulesQA(None, classifier=False, extractor=FakeExtractor(Extraction(line_items=items)),
                 use_semantic=False)
    a = qa.answer(form_doc, "What is the quantity of item 2?")[0]
    assert (a.answer, a.bbox) == ("5", [5, 6, 7, 8])
    assert qa.answer(form_doc, "What is the description of the first item?")[0].answer == "Widget"
    assert qa.answer(form_doc, "What is the quantity of item 7?")[0].answer is None


def test_key_values_answer_label_questions(form_doc):
    kv = KeyValue(key="Tracking code", value="ZX-42-99", confidence=0.9, page=1,
                  key_bbox=[1, 1, 2, 2], value_bbox=[3, 3, 4, 4])
    qa = RulesQA(None, classifier=False, extractor=FakeExtractor(Extraction(key_values=[kv])),
                 use_semantic=False)
    a = qa.answer(form_doc, "What is the tracking code?")[0]
    assert (a.answer, a.bbox) == ("ZX-42-99", [3, 3, 4, 4])


def test_broken_extractor_leaves_layout_answers(form_doc):
    class Broken:
        name = "broken"

        def extract(self, doc, doc_type):
            raise RuntimeError("boom")

    qa = RulesQA(None, classifier=False, extractor=Broken(), use_semantic=False)
    assert qa.answer(form_doc, "What is the invoice number?")[0].answer == "INV-2024-017"


def test_registered_engine_builds_from_settings(form_doc):
    from extractors import registry
    from extractors.settings import Settings

    qa = registry.create("qa", "rules", Settings())
    assert isinstance(qa, RulesQA)
    a = qa.answer(form_doc, "What is the invoice number?")[0]
    assert a.answer == "INV-2024-017"


def test_semantic_fallback_when_model_missing(monkeypatch, form_doc, caplog):
    from extractors import semantic
    from extractors.errors import DependencyMissing

    def missing(*a, **k):
        raise DependencyMissing("no model", reason="semantic_model_missing")

    monkeypatch.setattr(semantic, "_load", missing)
    monkeypatch.setattr(semantic, "_WARNED", False)
    qa = RulesQA(None, classifier=False, extractor=False)  # semantic wanted, but missing
    with caplog.at_level("WARNING", logger="docai.semantic"):
        a = qa.answer(form_doc, "What is the consignor?")
    assert a[0].answer is None or isinstance(a[0].answer, str)
    assert "lexical matching only" in caplog.text
    assert qa.answer(form_doc, "What is the invoice number?")[0].answer == "INV-2024-017"


def test_semantic_embeddings_are_normalised_and_cached():
    from extractors import semantic

    if not semantic.available():
        pytest.skip("MiniLM not installed")
    v = semantic.embed(["invoice number", "Invoice No.", "weather today"])
    assert v.shape == (3, 384)
    assert abs(float((v[0] ** 2).sum()) - 1.0) < 1e-4
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3
    assert (semantic.embed(["invoice number"])[0] == v[0]).all()


# -- evaluation helpers ----------------------------------------------------------------------
def test_funsd_pairs_from_links():
    ann = {"form": [
        {"id": 0, "text": "DATE:", "label": "question", "linking": [[0, 1], [0, 3]]},
        {"id": 1, "text": "5/1/95", "label": "answer", "linking": [[0, 1]]},
        {"id": 2, "text": "TO:", "label": "question", "linking": []},
        {"id": 3, "text": "6/1/95", "label": "answer", "linking": [[0, 3]]},
        {"id": 4, "text": "header", "label": "header", "linking": [[4, 0]]},
    ]}
    assert funsd_pairs(ann) == [("DATE:", ["5/1/95", "6/1/95"])]
    assert funsd_question("DATE:") == "What is the DATE?"


def test_load_examples_detects_layouts(tmp_path):
    sroie = tmp_path / "sroie"
    (sroie / "key").mkdir(parents=True)
    (sroie / "img").mkdir()
    (sroie / "img" / "001.jpg").write_bytes(b"x")
    (sroie / "key" / "001.json").write_text(json.dumps(
        {"company": "A SDN BHD", "date": "01/01/2019", "address": "X", "total": "9.00"}))
    ex = load_examples(sroie)
    assert {e.tag for e in ex} == {"total", "date", "company", "address"}
    assert next(e for e in ex if e.tag == "total").answers == ("9.00",)

    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "labels.jsonl").write_text(json.dumps(
        {"file": "a.pdf", "doc_type": "invoice",
         "fields": {"invoice_id": "INV-1", "total": "10.00", "notes": "x"}}) + "\n")
    ex = load_examples(samples)
    assert sorted(e.tag for e in ex) == ["invoice_id", "total"]
    assert ex[0].path == samples / "a.pdf"

    from extractors.errors import UsageError

    with pytest.raises(UsageError):
        load_examples(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError):
        load_examples(empty)


def test_evaluate_qa_on_native_pdfs(tmp_path):
    """End to end without OCR: native-text PDFs, generated-samples layout, no cache."""
    from extractors.qa_eval import evaluate_qa
    from tests.conftest import make_text_pdf

    rows = []
    for i, (num, total) in enumerate([("INV-001", "120.00"), ("INV-002", "75.50")]):
        make_text_pdf(tmp_path / f"d{i}.pdf", [(60, 60, "Example Supplies Ltd"),
                                               (350, 120, f"Invoice No: {num}"),
                                               (350, 500, f"Total: {total}")])
        rows.append({"file": f"d{i}.pdf", "fields": {"invoice_id": num, "total": total}})
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    seen = []
    report = evaluate_qa(tmp_path, cache_dir=None, on_progress=lambda d, n: seen.append((d, n)))
    assert report.n == 4 and seen[-1] == (2, 2)
    assert report.by_tag["invoice_id"]["anls"] == 1.0
    assert report.by_tag["total"]["anls"] == 1.0
    assert report.to_dict()["mean_anls"] == 1.0
    assert "rows" not in report.to_dict()


def test_amounts_split_over_words_and_signed(layout_qa):
    doc = doc_of(page_of([("Total: - 8 844,55 EUR", 60, 100), ("Tax: 1 204,10", 60, 300)]))
    assert layout_qa.answer(doc, "What is the total?")[0].answer == "-8844.55"
    a = layout_qa.answer(doc, "What is the tax amount?")[0]
    assert a.answer == "1204.10" and a.words == ["1", "204,10"]


def test_ids_split_after_a_hyphen_are_joined(layout_qa):
    doc = doc_of(page_of([("Invoice No INV- 2022-30890", 500, 100), ("Invoice Date 2022-05-02", 500, 140)]))
    assert layout_qa.answer(doc, "What is the invoice number?")[0].answer == "INV-2022-30890"


def test_impossible_dates_are_not_trusted(layout_qa):
    doc = doc_of(page_of([("Date: 3-32.12", 60, 100), ("Printed 14.01.2024", 60, 600)]))
    a = layout_qa.answer(doc, "What is the date?", top_k=2)
    assert a[0].answer == "14.01.2024"  # the only real date, found without a label
    assert a[0].confidence < 0.6


def test_unlabelled_date_fallback_only_for_generic_dates(layout_qa):
    doc = doc_of(page_of([("CAFE X", 60, 60), ("12-01-19 21:13 CASHIER 3", 60, 400)]))
    assert layout_qa.answer(doc, "What is the date?")[0].answer == "12-01-19"
    assert layout_qa.answer(doc, "What is the due date?")[0].answer is None


def test_amount_due_prefers_its_own_label_over_the_total_fallback(form_doc):
    doc = doc_of(page_of([("Total: 1,626.57", 500, 600), ("Deposit paid: 487.97", 500, 640),
                          ("Amount Due: 1,138.60", 500, 680)]))
    total = Field(value="1626.57", text="1,626.57", confidence=0.95, page=1, bbox=[1, 2, 3, 4])
    qa = qa_on_fields({"total": total})
    assert qa.answer(doc, "What is the amount due?")[0].answer == "1138.60"
    assert qa.answer(doc, "What is the total?")[0].answer == "1626.57"


def test_free_form_preambles_and_yes_no_questions(form_doc, layout_qa):
    q = parse_question("According to the document, what is the date listed in this form?",
                       use_semantic=False)
    assert q.label == "date" and q.field == "transaction_date"
    assert layout_qa.answer(form_doc, "Based on the document, what is the date?")[0].answer \
        == "12.03.2024"
    for question in ("Is there a date on the invoice?", "Does the sender sign it?"):
        a = layout_qa.answer(form_doc, question)[0]
        assert a.answer is None and a.confidence == 0.0


# -- answers formatted as printed (ANLS against printed gold) --------------------------------
@pytest.mark.parametrize(("text", "value", "expected"), [
    ("RM 33,90", None, "33.90"),          # currency apart from the digits: a plain decimal
    ("$8.20", None, "$8.20"),             # glued: the token as printed
    ("RM40.00", None, "RM40.00"),
    ("Total $1,234.56", None, "$1,234.56"),
    ("$8.20", "8.70", "8.70"),            # the printed token reads as another amount: the value
    ("GST12.00", None, "12.00"),          # a label glued to the amount is no currency
    ("-$5.00", None, "-5.00"),
    ("no amount", None, None),
])
def test_money_answer(text, value, expected):
    from extractors.qa import money_answer

    assert money_answer(text, value) == expected


def test_glued_currency_answers_as_printed_from_fields_and_layout(form_doc, layout_qa):
    doc = doc_of(page_of([("CAFE X", 60, 60), ("TOTAL: $8.20", 60, 400)]))
    assert layout_qa.answer(doc, "What is the total?")[0].answer == "$8.20"
    total = Field(value="8.20", text="$8.20", confidence=0.9, page=1, bbox=[1, 2, 3, 4])
    qa = qa_on_fields({"total": total})
    assert qa.answer(doc, "What is the total?")[0].answer == "$8.20"
    spaced = Field(value="8.20", text="RM 8.20", confidence=0.9, page=1, bbox=[1, 2, 3, 4])
    qa = qa_on_fields({"total": spaced})
    assert qa.answer(doc, "What is the total?")[0].answer == "8.20"


def test_key_value_dates_are_trimmed_to_the_date(form_doc):
    kv = KeyValue(key="Date", value="19-04-2018 13:43:54", confidence=0.9, page=1,
                  key_bbox=[1, 1, 2, 2], value_bbox=[3, 3, 4, 4])
    qa = RulesQA(None, classifier=False, extractor=FakeExtractor(Extraction(key_values=[kv])),
                 use_semantic=False)
    assert qa.answer(doc_of(page_of([("Shop", 60, 60)])), "What is the date?")[0].answer \
        == "19-04-2018"


def test_ocr_misread_date_is_a_weak_last_resort(layout_qa):
    doc = doc_of(page_of([("CAFE X", 60, 60), ("24- i1- 17 13:11 SH01", 60, 400)]))
    a = layout_qa.answer(doc, "What is the date?")[0]
    assert a.answer == "24-11-17" and a.words == ["24-", "i1-", "17"]
    assert layout_qa.min_confidence <= a.confidence < 0.5
    # two misread characters in a spaced date, or no calendar date: no answer
    for text in ("2I- i1- 17 13:11", "45-Il-17", "SS-11-2017 total"):
        doc = doc_of(page_of([("CAFE X", 60, 60), (text, 60, 400)]))
        assert layout_qa.answer(doc, "What is the date?")[0].answer is None, text
    # a readable date is preferred to a repaired one
    doc = doc_of(page_of([("O5/O3/2018", 60, 100), ("Printed 14.01.2024", 60, 600)]))
    assert layout_qa.answer(doc, "What is the date?")[0].answer == "14.01.2024"


def test_field_date_glued_inside_a_code_loses_to_a_clean_date(form_doc):
    page = page_of([("CAFE X", 60, 60), ("SPRAYER HCO3-7 - 15", 60, 300),
                    ("12-01-19 21:13 CASHIER", 60, 500)])
    bad = Field(value="2015-07-03", text="3-7 - 15", confidence=0.43, page=1,
                bbox=list(box_of(page, "HCO3-7")[:2]) + list(box_of(page, "15")[2:]))
    qa = qa_on_fields({"transaction_date": bad})
    answers = qa.answer(doc_of(page), "What is the date?", top_k=2)
    assert [a.answer for a in answers] == ["12-01-19", "3-7 - 15"]


# -- choosing between candidates ---------------------------------------------------------------
def test_total_is_not_read_from_another_fields_longer_label(layout_qa):
    """"Total" inside "Total HT" / "Sub total" is the subtotal's label; "Montant à payer" (an
    amount-due label, which answers for the total) is where the total stands."""
    doc = doc_of(page_of([("Total HT 3 186,22 EUR", 500, 600), ("TVA 637,24 EUR", 500, 640),
                          ("Montant à payer 3 823,46 EUR", 500, 680)]))
    a = layout_qa.answer(doc, "What is the total?", top_k=2)
    assert a[0].answer == "3823.46" and a[0].words == ["3", "823,46"]
    assert a[1].answer == "3186.22" and a[1].confidence < 0.5
    doc = doc_of(page_of([("Sub total: 50.00", 500, 600), ("Total: 53.00", 500, 640)]))
    assert layout_qa.answer(doc, "What is the total?")[0].answer == "53.00"


def test_totals_that_add_up_win_over_an_unsure_extractor():
    doc = doc_of(page_of([("Total HT 12 503,54 €", 500, 600), ("TVA 687,69 €", 500, 640),
                          ("Net à payer 13 191,23 €", 500, 680)]))
    fields = {"total": Field(value="12503.54", text="12 503,54 €", confidence=0.38, page=1,
                             bbox=[500, 428, 700, 445]),
              "tax_total": Field(value="687.69", text="687,69 €", confidence=0.77, page=1)}
    qa = qa_on_fields(fields)
    assert qa.answer(doc, "What is the total?")[0].answer == "13191.23"   # 12503.54 + 687.69
    # without a trusted tax amount nothing is added up: the extractor's total stands
    fields["tax_total"] = Field(value="687.69", text="687,69 €", confidence=0.2, page=1)
    qa = qa_on_fields(fields)
    assert qa.answer(doc, "What is the total?")[0].answer == "12503.54"


def test_cash_rounding_does_not_make_the_unrounded_total_win():
    doc = doc_of(page_of([("Total (MYR): 17.93", 300, 600), ("Net Total (MYR): 19.01", 300, 640),
                          ("Rounding Adj: -0.01", 300, 680),
                          ("Net Total Rounded (MYR): 19.00", 300, 720)]))
    fields = {"total": Field(value="19.00", text="19.00", confidence=0.6, page=1,
                             bbox=[700, 514, 760, 531]),
              "tax_total": Field(value="1.08", text="1.08", confidence=0.72, page=1)}
    qa = qa_on_fields(fields)
    assert qa.answer(doc, "What is the total?")[0].answer == "19.00"


class ReceiptClassifier:
    name = "fake"

    def classify(self, doc):
        return "receipt", 0.9


def test_vendor_spelled_by_the_documents_own_mail_domain():
    page = page_of([("Facture", 60, 40), ("Facturé à", 60, 100), ("Chevallier SARL", 60, 130),
                    ("Plomberie Foucher SARL", 60, 200), ("20, rue Philippe", 60, 230),
                    ("Email : accounts@plomberiefoucher.fr", 60, 300)])
    wrong = Field(value="Chevallier SARL", text="Chevallier SARL", confidence=0.81, page=1,
                  bbox=list(box_of(page, "Chevallier")[:2]) + list(box_of(page, "SARL")[2:]))
    qa = RulesQA(None, classifier=FakeClassifier(), use_semantic=False,
                 extractor=FakeExtractor(Extraction(fields={"vendor_name": wrong})))
    a = qa.answer(doc_of(page), "Who is the vendor?", top_k=2)
    assert [x.answer for x in a] == ["Plomberie Foucher SARL", "Chevallier SARL"]
    assert a[0].words == ["Plomberie", "Foucher", "SARL"]
    # the extractor's name agrees with the domain (registration number left out): raised
    page = page_of([("ELKEN SERVICE SDN BHD (310184-X)", 60, 40), ("www.elken.com", 60, 100)])
    right = Field(value="ELKEN SERVICE SDN BHD", text="ELKEN SERVICE SDN BHD", confidence=0.5,
                  page=1, bbox=[1, 2, 3, 4])
    qa = RulesQA(None, classifier=FakeClassifier(), use_semantic=False,
                 extractor=FakeExtractor(Extraction(fields={"vendor_name": right})))
    a = qa.answer(doc_of(page), "What is the company name?")[0]
    assert a.answer == "ELKEN SERVICE SDN BHD" and a.confidence > 0.9


def test_receipts_do_not_take_the_vendor_from_a_brand_domain():
    page = page_of([("PAGOH REST AND SERVICE AREA", 60, 40), ("myNEWScareline :", 60, 100),
                    ("www.mynews.com.my", 60, 140)])
    name = Field(value="PAGOH REST AND SERVICE AREA", text="PAGOH REST AND SERVICE AREA",
                 confidence=0.7, page=1, bbox=[1, 2, 3, 4])
    qa = RulesQA(None, classifier=ReceiptClassifier(), use_semantic=False,
                 extractor=FakeExtractor(Extraction(fields={"merchant_name": name})))
    assert qa.answer(doc_of(page), "What is the company name?")[0].answer \
        == "PAGOH REST AND SERVICE AREA"


def test_agreeing_labels_of_one_kind_do_not_outvote_the_extractor():
    doc = doc_of(page_of([("Total supplies: 18.54", 300, 500), ("Total excl: 18.54", 300, 540),
                          ("Total Payable: 33.80", 300, 700)]))
    total = Field(value="33.80", text="33.80", confidence=0.47, page=1, bbox=[1, 2, 3, 4])
    qa = qa_on_fields({"total": total})
    assert qa.answer(doc, "What is the total?")[0].answer == "33.80"


# -- forms: the asked label, check marks, values running into the next key -----------------
def test_the_asked_label_beats_a_shorter_synonym_of_a_field(layout_qa):
    # "Date" (a date field's synonym) is printed in every label; the asked one is "Date Ordered"
    doc = doc_of(page_of([("Date Submitted 09/26/1995", 60, 100), ("Date Notified 9/6/95", 60, 140),
                          ("Date Ordered Unknown", 60, 180)]))
    assert layout_qa.answer(doc, "What is the Date Ordered?")[0].answer == "Unknown"
    assert layout_qa.answer(doc, "What is the Date Notified?")[0].answer == "9/6/95"


def test_find_labels_prefers_the_longer_label_at_equal_score():
    doc = doc_of(page_of([("Date Ordered Unknown", 60, 100)]))
    hit = find_labels(doc, ["date", "date ordered"])[0]
    assert hit.text == "Date Ordered"


def test_a_check_mark_answers_without_the_next_option(layout_qa):
    doc = doc_of(page_of([("Approved: x No", 60, 100), ("Full: xX", 60, 140),
                          ("Xerox: Xavier Roe", 60, 180)]))
    assert layout_qa.answer(doc, "What is the Approved?")[0].answer == "x"
    assert layout_qa.answer(doc, "What is the Full?")[0].answer == "x"
    assert layout_qa.answer(doc, "What is the Xerox?")[0].answer == "Xavier Roe"


@pytest.mark.parametrize(("text", "expected"), [
    ("x No", "x"), ("X_POOR", "X"), ("xX", "x"), ("XX", "XX"), ("X", "X"),
    ("Xavier Roe", "Xavier Roe"), ("700 Dates:", "700"), ("Jane Roe Phone:", "Jane Roe"),
    ("Total:", "Total:"), ("12 Main St, Springfield", "12 Main St, Springfield"),
])
def test_form_value_text_only(text, expected):
    assert form_value(text) == expected


def test_form_value_cuts_the_next_key_at_the_widest_gap():
    # "W. T. Carpenter   Research Request Attached:": the key starts after the wide gap
    page = page_of([("W. T. Carpenter", 60, 100), ("Research Request Attached:", 300, 100),
                    ("Jane Roe", 60, 200), ("Phone:", 200, 200)])
    words = page.words
    assert form_value("W. T. Carpenter Research Request Attached:", words[:6]) == "W. T. Carpenter"
    assert form_value("Jane Roe Phone:", words[6:]) == "Jane Roe"


def test_key_value_running_into_the_next_key_loses_it(form_doc):
    kv = KeyValue(key="Estimated Attendance", value="700 Dates:", confidence=0.9, page=1,
                  key_bbox=[1, 1, 2, 2], value_bbox=[3, 3, 4, 4])
    qa = RulesQA(None, classifier=False, extractor=FakeExtractor(Extraction(key_values=[kv])),
                 use_semantic=False)
    assert qa.answer(form_doc, "What is the Estimated Attendance?")[0].answer == "700"


def test_a_mark_before_an_option_label_answers_it(layout_qa):
    doc = doc_of(page_of([("x Productivity Improvement", 60, 100), ("Cost Reduction", 60, 140),
                          ("Remarks: none", 60, 300)]))
    assert layout_qa.answer(doc, "What is the Productivity Improvement?")[0].answer == "x"
    assert layout_qa.answer(doc, "What is the Cost Reduction?")[0].answer != "x"


# -- the learned ranker (forms) ----------------------------------------------------------------
class FormClassifier:
    name = "fake-form"

    def classify(self, doc):
        return "form", 0.9


def ranker_preferring(feature: str, threshold: float) -> dict:
    """A one-tree ranker: candidates whose ``feature`` is above ``threshold`` rank first."""
    from extractors.fields import kv
    from extractors.qa import RANK_FEATURES

    raw = {"features": list(RANK_FEATURES), "n_out": 1, "depth": 1, "baseline": [0.0],
           "feature": [RANK_FEATURES.index(feature), -1, -1], "threshold": [threshold, 0, 0],
           "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, -3.0, 3.0], "roots": [0],
           "tree_class": [0]}
    return kv.trees_from_json(raw)


@pytest.fixture
def header_row_doc() -> Document:
    # "Code" with a column header printed right of it and the value below it
    return doc_of(page_of([("Code", 60, 100), ("Amount", 400, 100), ("12345", 60, 130),
                           ("Signed: Jane Roe", 60, 400)]))


def test_ranker_reorders_form_candidates_and_keeps_scores(monkeypatch, header_row_doc):
    from extractors import qa as Q

    qa = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    monkeypatch.setattr(Q, "load_ranker", lambda path=None: None)
    hand = qa.answer(header_row_doc, "What is the Code?", top_k=2)
    assert [a.answer for a in hand] == ["12345", "Amount"]
    # a ranker that prefers text with capitals puts the column header first
    monkeypatch.setattr(Q, "load_ranker", lambda path=None: ranker_preferring("upper", 0.1))
    ranked = qa.answer(header_row_doc, "What is the Code?", top_k=2)
    assert [a.answer for a in ranked] == ["Amount", "12345"]
    # the confidences are still the hand-tuned scores
    assert {a.answer: a.confidence for a in ranked} == {a.answer: a.confidence for a in hand}
    # not a form (no classifier: "other"): the hand order stays
    other = RulesQA(None, classifier=False, extractor=False, use_semantic=False)
    assert other.answer(header_row_doc, "What is the Code?")[0].answer == "12345"


def _code_features(doc):  # type: ignore[no-untyped-def]
    """The ranker's candidates and feature rows for "What is the Code?" on ``doc``."""
    from extractors import qa as Q

    qa = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    query = Q.parse_question("What is the Code?")
    cands = qa._from_layout(doc, query)
    ranked = Q._merge(cands)
    return ranked, Q.rank_features(qa, doc, query, cands, ranked)


def test_rank_features_one_row_per_candidate(header_row_doc):
    from extractors import qa as Q

    ranked, x = _code_features(header_row_doc)
    assert x.shape == (len(ranked), len(Q.RANK_FEATURES)) and len(ranked) >= 2
    row = dict(zip(Q.RANK_FEATURES, x[[c.text for c in ranked].index("12345")], strict=True))
    assert row["digits"] == 1.0 and row["src_layout:below"] == 1.0 and row["dy_label"] > 0
    assert row["label_score"] == 1.0


def test_missing_ranker_keeps_the_hand_order(monkeypatch, tmp_path, header_row_doc, caplog):
    from extractors import qa as Q

    monkeypatch.setattr(Q, "RANK_MODEL_PATH", tmp_path / "absent.json")
    monkeypatch.setattr(Q, "_RANKER_READ", False)
    assert Q.load_ranker() is None and "unusable" in caplog.text
    qa = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    assert qa.answer(header_row_doc, "What is the Code?")[0].answer == "12345"


def test_ranker_for_other_features_keeps_the_hand_order_and_warns_once(monkeypatch, header_row_doc,
                                                                         caplog):
    from extractors import qa as Q
    from extractors.fields import kv

    stale = kv.trees_from_json({"features": ["a", "b"], "n_out": 1, "depth": 0, "baseline": [0.0],
                                "feature": [-1], "threshold": [0], "left": [-1], "right": [-1],
                                "value": [0.0], "roots": [0], "tree_class": [0]})
    monkeypatch.setattr(Q, "load_ranker", lambda path=None: stale)
    monkeypatch.setattr(Q, "_RANKER_WARNED", False)
    qa = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    for _ in range(2):
        assert qa.answer(header_row_doc, "What is the Code?")[0].answer == "12345"
    assert caplog.text.count("ranker unusable") == 1


def test_key_geometry_features_place_the_candidate_relative_to_the_label(header_row_doc):
    from extractors import qa as Q

    ranked, x = _code_features(header_row_doc)
    rows = {c.text: dict(zip(Q.RANK_FEATURES, x[i], strict=True)) for i, c in enumerate(ranked)}
    below, right = rows["12345"], rows["Amount"]
    assert below["dy_key"] >= 0 and below["hov_key"] > 0.5 and below["vov_key"] == 0
    assert right["dx_key"] > 5 and right["vov_key"] > 0.5 and right["hov_key"] == 0
    assert below["between_key"] == 0 and below["ends_unit"] == 0


def test_forms_answer_a_value_of_another_kind_when_none_of_the_asked_kind_is_there():
    # "Telephone#" asks for a phone number; the form holds an extension
    doc = doc_of(page_of([("Telephone#: 6926", 60, 100), ("Signed: Jane Roe", 60, 400)]))
    form = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    assert form.answer(doc, "What is the Telephone#?")[0].answer == "6926"
    # not a form: no phone number printed, "I don't know"
    other = RulesQA(None, classifier=False, extractor=False, use_semantic=False)
    assert other.answer(doc, "What is the Telephone#?")[0].answer is None


def test_forms_propose_a_number_with_the_unit_printed_after_it(monkeypatch):
    from extractors import qa as Q

    doc = doc_of(page_of([("Rod Length", 60, 100), ("72", 300, 100), ("mm", 400, 100),
                          ("Width", 60, 200), ("40", 300, 200), ("Roe", 400, 200),
                          ("Signed: Jane Roe", 60, 400)]))
    monkeypatch.setattr(Q, "load_ranker", lambda path=None: None)
    form = RulesQA(None, classifier=FormClassifier(), extractor=False, use_semantic=False)
    answers = [a.answer for a in form.answer(doc, "What is the Rod Length?", top_k=5)]
    assert answers[:2] == ["72", "72 mm"]
    monkeypatch.setattr(Q, "load_ranker", lambda path=None: ranker_preferring("ends_unit", 0.5))
    assert form.answer(doc, "What is the Rod Length?")[0].answer == "72 mm"
    # a word that is no unit is not taken
    assert "40 Roe" not in [a.answer for a in form.answer(doc, "What is the Width?", top_k=5)]


def test_a_flat_word_below_the_label_does_not_break_the_search() -> None:
    """OCR can return a word box with no height (a rule or a speck); the value search below a
    label must step over it, not fail on it."""
    words = [Word.from_pixels(t, b, page_width=1000, page_height=1400, confidence=0.9) for t, b in [
        ("SIGNED", (60, 100, 132, 124)),
        ("_____", (60, 140, 150, 140)),  # no height: top of the column below the label
        ("HOPE", (60, 150, 108, 174)), ("MARTINEZ", (120, 150, 216, 174)),
    ]]
    page = build_layout(Page(number=1, width=1000, height=1400, words=words, text_source="ocr",
                             engine="test"))
    assert page.words[1].bbox[1] == page.words[1].bbox[3]
    best = RulesQA().answer(doc_of(page), "What is the SIGNED?")[0]
    assert best.answer is None or "SIGNED" not in best.answer
    # and a flat word opening the line after a value (the value's continuation search)
    words = [Word.from_pixels(t, b, page_width=1000, page_height=1400, confidence=0.9) for t, b in [
        ("Remarks:", (60, 100, 156, 124)), ("handle", (180, 100, 252, 124)), ("with", (264, 100, 312, 124)),
        ("care", (324, 100, 372, 124)), ("_____", (180, 136, 260, 136)), ("and", (272, 130, 308, 154)),
    ]]
    page = build_layout(Page(number=1, width=1000, height=1400, words=words, text_source="ocr",
                             engine="test"))
    assert RulesQA().answer(doc_of(page), "What are the remarks?")[0].answer.startswith("handle with care")


def test_degenerate_word_boxes_never_break_extraction_or_answers() -> None:
    """Boxes OCR can return — flat, thin, a point, the whole page — spread at random over a form:
    every extractor view and every kind of question still gives a result, never an exception."""
    import random

    from extractors.fields.rules import RulesExtractor

    rng = random.Random(7)
    base = page_of(FORM + [("Invoice Date 03/04/2024", 60, 560), ("Bill To: Acme GmbH", 60, 600),
                           ("1 Widget 2 10.00 20.00", 60, 640), ("Subtotal 20.00", 560, 660)])
    extractor = RulesExtractor(None)
    engine = RulesQA(None, use_semantic=False)
    questions = ["What is the date?", "What is the total?", "Who is the sender?", "What is the quantity?",
                 "What is the quantity of item 1?", "What are the remarks?", "What is the invoice date?"]
    for _ in range(6):
        words = []
        for w in base.words:
            x0, y0, x1, y1 = w.bbox
            r = rng.random()
            box = ((x0, y0, x1, y0) if r < 0.25 else (x0, y0, x0, y1) if r < 0.4 else
                   (x0, y0, x0, y0) if r < 0.45 else (0, 0, base.width, base.height) if r < 0.48 else
                   (x0, y0, x1, y1))
            words.append(Word.from_pixels(w.text, box, page_width=base.width, page_height=base.height,
                                          confidence=0.9))
        page = build_layout(Page(number=1, width=base.width, height=base.height, words=words,
                                 text_source="ocr", engine="test"))
        doc = doc_of(page, sha=f"{rng.getrandbits(256):064x}")
        for doc_type in ("form", "invoice", "receipt"):
            extractor.extract(doc, doc_type)
        for q in questions:
            assert isinstance(engine.answer(doc, q), list)
