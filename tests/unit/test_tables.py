"""Line items from printed tables (extractors.fields.tables) on hand-made pages."""

from __future__ import annotations

from extractors.fields.rules import RulesExtractor, _is_totals_text
from extractors.fields.tables import header_columns, table_items
from extractors.layout import build_layout
from schemas.document import Document, Page, Word

CHAR_W = 11.0
LINE_H = 22.0


def make_page(rows: list[tuple[float, list[tuple[float, str]]]], *, number: int = 1,
              align_right: bool = True) -> Page:
    """``rows`` = [(y, [(x, text), …])]; a run whose x is negative is right-aligned at -x."""
    words: list[Word] = []
    for y, runs in rows:
        for x, run in runs:
            toks = run.split()
            width = sum(CHAR_W * len(t) for t in toks) + CHAR_W * (len(toks) - 1)
            cx = -x - width if x < 0 else x
            for tok in toks:
                w = CHAR_W * len(tok)
                words.append(Word.from_pixels(tok, (cx, y, cx + w, y + LINE_H), page_width=1240,
                                              page_height=1754, confidence=0.95))
                cx += w + CHAR_W
    return build_layout(Page(number=number, width=1240, height=1754, words=words, text_source="ocr"))


def items_of(*pages: Page, decimal_comma: bool = False, headerless: bool = False):  # type: ignore[no-untyped-def]
    got = table_items(list(pages), _is_totals_text, decimal_comma, headerless=headerless)
    assert got is not None
    return [(li.product_code.value if li.product_code else None,
             li.description.value if li.description else None,
             li.quantity.value if li.quantity else None,
             li.unit_price.value if li.unit_price else None,
             li.amount.value if li.amount else None) for li in got]


HEADER_DE = (300, [(80, "Art.-Nr."), (220, "Bezeichnung"), (-760, "Menge"), (-930, "Einzelpreis"),
                   (-1120, "Betrag")])


def test_header_columns_and_codes_numbers_inside_descriptions() -> None:
    page = make_page([
        HEADER_DE,
        (340, [(80, "A-1001"), (220, "Monitor 27 Zoll"), (-760, "2"), (-930, "199,00"),
               (-1120, "398,00")]),
        (370, [(80, "A-1002"), (220, "Netzwerkkabel Cat6, 5 m"), (-760, "10"), (-930, "4,50"),
               (-1120, "45,00")]),
        (440, [(700, "Zwischensumme"), (-1120, "443,00")]),
        (470, [(700, "MwSt. 19 %"), (-1120, "84,17")]),
    ])
    assert items_of(page, decimal_comma=True) == [
        ("A-1001", "Monitor 27 Zoll", "2", "199.00", "398.00"),
        ("A-1002", "Netzwerkkabel Cat6, 5 m", "10", "4.50", "45.00"),
    ]


def test_header_kinds() -> None:
    row = make_page([(100, [(80, "Pos."), (200, "Description"), (700, "Qty"), (850, "Unit Price"),
                            (1050, "Amount")])])
    cols = header_columns(row.words)
    assert cols is not None
    assert [c.kind for c in cols] == ["pos", "description", "quantity", "unit_price", "amount"]
    prose = make_page([(100, [(80, "Please describe the total amount of items you need")])])
    assert header_columns(prose.words) is None
    totals = make_page([(100, [(700, "Total"), (1000, "12.00")])])
    assert header_columns(totals.words) is None


def test_partial_header_quantity_and_price_from_arithmetic() -> None:
    # only two titles were read; "1 226,28" is one amount with a thousands space
    page = make_page([
        (300, [(80, "Description"), (-1120, "Montant HT")]),
        (340, [(80, "Formation (demi-journée)"), (-760, "3"), (-930, "408,76"), (-1120, "1 226,28")]),
        (370, [(80, "Gestion de projet"), (-760, "14,5"), (-930, "82,00"), (-1120, "1 189,00")]),
        (430, [(700, "Total HT"), (-1120, "2 415,28")]),
    ])
    assert items_of(page, decimal_comma=True) == [
        (None, "Formation (demi-journée)", "3", "408.76", "1226.28"),
        (None, "Gestion de projet", "14.5", "82.00", "1189.00"),
    ]


def test_two_cells_read_as_one_are_split_by_arithmetic() -> None:
    # quantity and unit price in one run: "2 165,40" is 2 × 165,40 (= 330,80), not 2165,40
    page = make_page([
        (300, [(80, "Description"), (-1120, "Montant")]),
        (340, [(80, "Fauteuil de bureau"), (-930, "2 165,40 €"), (-1120, "330,80 €")]),
        (400, [(700, "Total TTC"), (-1120, "330,80 €")]),
    ])
    assert items_of(page, decimal_comma=True) == [(None, "Fauteuil de bureau", "2", "165.40", "330.80")]


def test_multi_line_description_and_header_over_two_rows() -> None:
    page = make_page([
        (300, [(80, "Item"), (-760, "Qty"), (-930, "Unit"), (-1120, "Line")]),
        (316, [(80, "Description"), (-930, "Price"), (-1120, "Total")]),
        (360, [(80, "Annual support contract"), (-760, "1"), (-930, "$1,200.00"), (-1120, "$1,200.00")]),
        (384, [(80, "incl. remote assistance")]),
        (420, [(80, "USB-C cable"), (-760, "3"), (-930, "$9.50"), (-1120, "$28.50")]),
        (480, [(700, "Subtotal"), (-1120, "$1,228.50")]),
    ])
    assert items_of(page) == [
        (None, "Annual support contract incl. remote assistance", "1", "1200.00", "1200.00"),
        (None, "USB-C cable", "3", "9.50", "28.50"),
    ]


def test_item_named_like_a_total_does_not_end_the_table() -> None:
    page = make_page([
        (300, [(80, "Description"), (-760, "Qty"), (-930, "Price"), (-1120, "Amount")]),
        (340, [(80, "Discount voucher booklet"), (-760, "2"), (-930, "5.00"), (-1120, "10.00")]),
        (370, [(80, "Tax advice (hourly)"), (-760, "3"), (-930, "100.00"), (-1120, "300.00")]),
        (430, [(700, "Total"), (-1120, "310.00")]),
        (600, [(80, "Thank you for your business! Page 1 of 1")]),
    ])
    assert [t[1] for t in items_of(page)] == ["Discount voucher booklet", "Tax advice (hourly)"]


def test_table_continues_under_repeated_header_and_skips_footer() -> None:
    p1 = make_page([
        HEADER_DE,
        (340, [(220, "Beratung"), (-760, "2"), (-930, "100,00"), (-1120, "200,00")]),
        (370, [(220, "Schulung"), (-760, "1"), (-930, "400,00"), (-1120, "400,00")]),
        (1600, [(80, "Muster GmbH IBAN DE12 3456 7890 Seite 1 von 2"), (-1120, "2,00")]),
    ])
    p2 = make_page([
        (100, [(80, "Muster GmbH"), (700, "Rechnung RE-2024-1")]),
        HEADER_DE,
        (340, [(220, "Versand"), (-760, "1"), (-930, "9,90"), (-1120, "9,90")]),
        (420, [(700, "Gesamtbetrag"), (-1120, "609,90")]),
    ], number=2)
    assert [t[1:] for t in items_of(p1, p2, decimal_comma=True)] == [
        ("Beratung", "2", "100.00", "200.00"), ("Schulung", "1", "400.00", "400.00"),
        ("Versand", "1", "9.90", "9.90"),
    ]


def test_headerless_rows_with_aligned_amounts() -> None:
    page = make_page([
        (100, [(80, "Invoice No. 123"), (700, "Date 01.02.2024")]),
        (340, [(80, "SKU-20396 Office chair"), (-930, "2 165.40"), (-1120, "330.80")]),
        (370, [(80, "SKU-44060 Cleaning"), (-930, "1 569.00"), (-1120, "569.00")]),
        (430, [(700, "Total"), (-1120, "899.80")]),
    ])
    assert table_items([page], _is_totals_text, False) is None
    assert items_of(page, headerless=True) == [
        ("SKU-20396", "Office chair", "2", "165.40", "330.80"),
        ("SKU-44060", "Cleaning", "1", "569.00", "569.00"),
    ]


def test_rules_extractor_uses_table_for_invoices() -> None:
    page = make_page([
        (80, [(80, "ACME Ltd")]),
        HEADER_DE,
        (340, [(80, "A-1001"), (220, "Monitor 27 Zoll"), (-760, "2"), (-930, "199,00"),
               (-1120, "398,00")]),
        (440, [(700, "Gesamtbetrag"), (-1120, "398,00 €")]),
    ])
    doc = Document(source="t.pdf", sha256="0" * 64, media_type="application/pdf", pages=[page])
    ex = RulesExtractor(None).extract(doc, "invoice")
    assert len(ex.line_items) == 1
    li = ex.line_items[0]
    assert li.description is not None and li.description.value == "Monitor 27 Zoll"
    assert li.product_code is not None and li.product_code.value == "A-1001"
    assert li.amount is not None and li.amount.bbox is not None and li.amount.page == 1


def test_headerless_ignores_labels_above_and_ids_that_look_like_negative_numbers() -> None:
    page = make_page([
        (100, [(80, "Facture N°"), (-1120, "FAC-142325")]),
        (130, [(80, "N° TVA : FR 06 913566865")]),
        (340, [(80, "A14717"), (260, "Développement logiciel"), (-760, "25,5"), (-930, "127,00"),
               (-1120, "3 238,50")]),
        (370, [(80, "A69051"), (260, "Cartouche de toner noir"), (-760, "2"), (-930, "89,59"),
               (-1120, "179,18")]),
        (430, [(700, "Montant HT :"), (-1120, "3 417,68 EUR")]),
    ])
    assert items_of(page, decimal_comma=True, headerless=True) == [
        ("A14717", "Développement logiciel", "25.5", "127.00", "3238.50"),
        ("A69051", "Cartouche de toner noir", "2", "89.59", "179.18"),
    ]
