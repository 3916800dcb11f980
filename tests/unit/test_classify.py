"""Rules classifier on hand-made pages."""

from __future__ import annotations

from extractors.classify import RulesClassifier
from extractors.layout import build_layout
from schemas.document import Document, Page, Word

CHAR_W = 11.0
LINE_H = 22.0


def make_page(rows: list[tuple[float, list[tuple[float, str]]]], *, width: float = 1240,
              height: float = 1754, number: int = 1, confidence: float = 0.95) -> Page:
    """``rows`` = [(y, [(x, "text of a run of words"), …]), …] in pixels; words laid out left to right."""
    words: list[Word] = []
    for y, runs in rows:
        for x, run in runs:
            cx = x
            for tok in run.split():
                w = CHAR_W * len(tok)
                words.append(Word.from_pixels(tok, (cx, y, cx + w, y + LINE_H), page_width=width,
                                              page_height=height, confidence=confidence))
                cx += w + CHAR_W
    words.reverse()  # arbitrary order in, reading order out
    return build_layout(Page(number=number, width=width, height=height, words=words, text_source="ocr"))


def make_doc(*pages: Page) -> Document:
    return Document(source="test.pdf", sha256="0" * 64, media_type="application/pdf", pages=list(pages))

CLF = RulesClassifier(None)


def test_blank_document_is_other_with_low_confidence() -> None:
    t, c = CLF.classify(Document(source="x", sha256="0", media_type="image/png"))
    assert t == "other" and c < 0.5
    t, c = CLF.classify(make_doc(make_page([])))
    assert t == "other" and c < 0.5


def test_invoice() -> None:
    page = make_page([
        (80, [(80, "ACME Ltd"), (900, "INVOICE")]),
        (200, [(700, "Invoice Number: 1001")]),
        (230, [(700, "Due Date: 2024-04-01")]),
        (300, [(80, "Bill To: Globex")]),
        (700, [(700, "Subtotal 100.00")]),
        (730, [(700, "Total 119.00")]),
    ])
    t, c = CLF.classify(make_doc(page))
    assert t == "invoice" and c > 0.5


def test_german_and_french_invoices() -> None:
    de = make_page([(80, [(80, "Rechnung")]), (120, [(80, "Rechnungsnummer 42")]),
                    (160, [(80, "Zahlbar bis 01.04.2024")]), (700, [(80, "Gesamtbetrag 1.234,56 €")])])
    fr = make_page([(80, [(80, "Facture")]), (120, [(80, "Date d'échéance 01/04/2024")]),
                    (700, [(80, "Montant TTC 1 234,56 €")])])
    assert CLF.classify(make_doc(de))[0] == "invoice"
    assert CLF.classify(make_doc(fr))[0] == "invoice"


def test_receipt_with_tax_invoice_heading_is_a_receipt() -> None:
    rows = [(40, [(60, "KEDAI MAJU SDN BHD")]), (70, [(60, "TAX INVOICE")]),
            (100, [(60, "Date: 01/02/2018 13:05")]), (160, [(60, "BREAD"), (500, "3.50")]),
            (190, [(60, "MILK"), (500, "6.50")]), (250, [(60, "TOTAL"), (500, "10.00")]),
            (280, [(60, "CASH"), (500, "20.00")]), (310, [(60, "CHANGE"), (500, "10.00")]),
            (370, [(60, "THANK YOU")])]
    t, c = CLF.classify(make_doc(make_page(rows, width=600, height=1500)))
    assert t == "receipt" and c > 0.5


def test_form() -> None:
    rows = [(80, [(80, "FAX TRANSMITTAL")]), (150, [(80, "TO:"), (300, "Dr. Smith")]),
            (180, [(80, "FROM:"), (300, "J. Doe")]), (210, [(80, "DATE:"), (300, "June 3, 1998")]),
            (240, [(80, "PAGES (including cover):"), (500, "3")]),
            (270, [(80, "SUBJECT:"), (300, "Study results")]),
            (600, [(80, "Signature:")])]
    t, _ = CLF.classify(make_doc(make_page(rows)))
    assert t == "form"
