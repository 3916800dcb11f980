"""Invoice header fields of the rules extractor on hand-made pages: amounts that must add up,
amount due vs total, credit notes, party blocks by position, payment terms and tax ids."""

from __future__ import annotations

from extractors.fields.rules import RulesExtractor
from schemas.document import Document, Page
from tests.unit.test_tables import make_page


def fields(*pages: Page) -> dict[str, str | None]:
    doc = Document(source="t.pdf", sha256="0" * 64, media_type="application/pdf", pages=list(pages))
    ex = RulesExtractor(None).extract(doc, "invoice")
    return {k: f.value for k, f in ex.fields.items()}


TABLE = [
    (400, [(80, "Description"), (-760, "Qty"), (-930, "Price"), (-1120, "Total")]),
    (440, [(80, "Consulting"), (-760, "4"), (-930, "150.00"), (-1120, "600.00")]),
    (470, [(80, "Travel"), (-760, "1"), (-930, "400.00"), (-1120, "400.00")]),
]


def test_deposit_total_and_amount_due_and_column_title_is_no_total() -> None:
    f = fields(make_page([
        (80, [(80, "Northwind Traders Inc")]),
        *TABLE,
        (540, [(700, "Subtotal"), (-1120, "1,000.00")]),
        (570, [(700, "Tax"), (-1120, "80.00")]),
        (600, [(700, "Total"), (-1120, "1,080.00")]),
        (630, [(700, "Less Deposit"), (-1120, "-280.00")]),
        (660, [(700, "Balance Due"), (-1120, "800.00")]),
    ]))
    assert (f["subtotal"], f["tax_total"], f["total"], f["amount_due"]) == ("1000.00", "80.00", "1080.00", "800.00")


def test_total_printed_only_as_amount_due() -> None:
    f = fields(make_page([
        (80, [(80, "Northwind Traders Inc")]),
        *TABLE,
        (540, [(700, "Subtotal"), (-1120, "1,000.00")]),
        (570, [(700, "Sales Tax"), (-1120, "80.00")]),
        (600, [(700, "Amount Due"), (-1120, "1,080.00")]),
    ]))
    assert f["total"] == "1080.00" and f["amount_due"] == "1080.00"


def test_credit_note_keeps_negative_total() -> None:
    f = fields(make_page([
        (80, [(80, "Muster GmbH"), (900, "GUTSCHRIFT")]),
        (540, [(700, "Nettobetrag"), (-1120, "-100,00 €")]),
        (570, [(700, "USt. 19 %"), (-1120, "-19,00 €")]),
        (600, [(700, "Gesamtbetrag"), (-1120, "-119,00 €")]),
    ]))
    assert (f["subtotal"], f["tax_total"], f["total"]) == ("-100.00", "-19.00", "-119.00")


def test_arithmetic_picks_the_total_that_adds_up() -> None:
    # two totals (the lower one, a misprint, would win on position); only one adds up
    f = fields(make_page([
        (80, [(80, "Northwind Traders Inc")]),
        (540, [(700, "Subtotal"), (-1120, "1,000.00")]),
        (570, [(700, "Discount"), (-1120, "-50.00")]),
        (600, [(700, "VAT 20%"), (-1120, "190.00")]),
        (630, [(700, "Total"), (-1120, "1,140.00")]),
        (1400, [(700, "Grand Total"), (-1120, "1,410.00")]),
    ]))
    assert (f["discount"], f["total"]) == ("50.00", "1140.00")


def test_vendor_name_without_title_and_address_block_and_window_customer() -> None:
    f = fields(make_page([
        (80, [(-1120, "Muster Logistik GmbH")]),
        (110, [(-1120, "Hauptstraße 5")]),
        (140, [(-1120, "10115 Berlin")]),
        (170, [(-1120, "Tel. 030 1234567")]),
        (260, [(80, "Muster Logistik GmbH · Hauptstraße 5 · 10115 Berlin")]),
        (300, [(80, "Frau Erika Mustermann")]),
        (330, [(80, "Lindenweg 12")]),
        (360, [(80, "20095 Hamburg")]),
        (300, [(800, "Rechnungsnr. RE-2024-17")]),
        (330, [(800, "Datum 05.03.2024")]),
        (450, [(80, "RECHNUNG")]),
    ]))
    assert f["vendor_name"] == "Muster Logistik GmbH"
    assert f["vendor_address"] == "Hauptstraße 5, 10115 Berlin"
    assert f["customer_name"] == "Frau Erika Mustermann"
    assert f["customer_address"] == "Lindenweg 12, 20095 Hamburg"
    assert f["invoice_id"] == "RE-2024-17"


def test_customer_number_and_ship_to_are_not_the_customer() -> None:
    f = fields(make_page([
        (80, [(80, "Northwind Traders Inc"), (900, "INVOICE")]),
        (200, [(80, "Bill To:"), (500, "Ship To:"), (800, "Customer No.: C-0042")]),
        (230, [(80, "Globex Corporation"), (500, "Globex Warehouse")]),
        (260, [(80, "500 Oak Avenue"), (500, "12 Dock Road")]),
        (290, [(80, "Springfield, IL 62701"), (500, "Shelbyville, IL 62565")]),
    ]))
    assert f["customer_name"] == "Globex Corporation"
    assert f["customer_address"] == "500 Oak Avenue, Springfield, IL 62701"


def test_payment_terms_holding_label_words_and_unlabelled() -> None:
    f = fields(make_page([
        (80, [(80, "Northwind Traders Inc")]),
        (200, [(80, "Payment Terms: Payment due within 30 days")]),
    ]))
    assert f["payment_terms"] == "Payment due within 30 days"
    g = fields(make_page([
        (80, [(80, "Muster GmbH")]),
        (600, [(80, "Zahlbar innerhalb 14 Tagen ohne Abzug.")]),
        (630, [(80, "Vielen Dank für Ihren Auftrag!")]),
    ]))
    assert g["payment_terms"] == "Zahlbar innerhalb 14 Tagen ohne Abzug"
    h = fields(make_page([
        (80, [(80, "Dupont SARL")]),
        (600, [(80, "Conditions de paiement : Paiement a 30 jours")]),
    ]))
    assert h["payment_terms"] == "Paiement à 30 jours"  # OCR read the preposition as "a"


def test_tax_ids_printed_in_groups_or_split_by_ocr() -> None:
    f = fields(make_page([
        (80, [(80, "Dupont SARL")]),
        (1500, [(80, "N° TVA intracom. : FR 12 345678901")]),
        (1530, [(80, "SIRET 12345678900012")]),
    ]))
    assert f["vendor_tax_id"] == "FR 12 345678901"
    g = fields(make_page([
        (80, [(80, "Muster GmbH")]),
        (1500, [(80, "USt-IdNr.: DE1 23456789"), (700, "4711")]),
    ]))
    assert g["vendor_tax_id"] == "DE123456789"
    h = fields(make_page([
        (80, [(80, "Dupont SARL")]),
        (1500, [(80, "N° TVA : FRO2830873126")]),  # OCR read the key's 0 as O
    ]))
    assert h["vendor_tax_id"] == "FR02830873126"


def test_ids_glued_to_their_prefix_and_long_dates_and_uk_postcode() -> None:
    f = fields(make_page([
        (80, [(80, "Whitehead & Co Ltd"), (800, "TAX INVOICE INV549761")]),
        (110, [(80, "Studio 64, Roy Parkways")]),
        (140, [(80, "Leicester HX30 ORW")]),
        (200, [(800, "PO No.")]), (200, [(1000, "PO722988")]),
        (230, [(800, "Invoice # › A-5824")]),
        (260, [(800, "Datum")]), (260, [(1000, "2. Juni 2024")]),
    ]))
    assert f["po_number"] == "PO722988"
    assert f["invoice_date"] == "2024-06-02"
    assert f["vendor_address"] == "Studio 64, Roy Parkways, Leicester HX30 0RW"
    g = fields(make_page([
        (80, [(80, "Conseil Imbert SAS")]),
        (200, [(700, "Date de facturation :"), (1000, "1er mars 2024")]),
        (230, [(700, "TAX INVOICE INV549761")]),
    ]))
    assert g["invoice_date"] == "2024-03-01"
    assert g["invoice_id"] == "INV549761"


def test_receipt_points_balance_is_not_the_total() -> None:
    doc = Document(source="r.jpg", sha256="0" * 64, media_type="image/jpeg", pages=[make_page([
        (80, [(80, "KEDAI RUNCIT MAJU SDN BHD")]),
        (300, [(80, "Standard 6%"), (600, "39.58"), (-1120, "2.37")]),
        (330, [(80, "EDC MASTER"), (-1120, "RM 41.95")]),
        (420, [(80, "AWARD Balance"), (-1120, "412")]),
        (450, [(80, "New Balance"), (-1120, "453")]),
    ])])
    assert RulesExtractor(None).extract(doc, "receipt").fields["total"].value == "41.95"


def test_dotted_label_with_its_value_far_right_on_the_row() -> None:
    f = fields(make_page([
        (80, [(80, "Norton, Diaz and Rhodes")]),
        (118, [(1140, "Invoice No: 2022-0810")]),
        (151, [(1140, "P.O. #:"), (1710, "PO-85091")]),
        (168, [(1140, "Due Date: 03/23/2022")]),
    ]))
    assert f["po_number"] == "PO-85091"


def test_us_address_with_a_house_number_line_and_a_state_read_in_lower_case() -> None:
    # "2479 Marilyn Tunnel" looks like a continental postcode-and-city line; the ZIP line after it
    # is still the address's, also when OCR reads the state "RI" as "Ri"
    for state in ("RI", "Ri"):
        f = fields(make_page([
            (80, [(80, "Myers and Sons"), (900, "Invoice")]),
            (110, [(80, "2479 Marilyn Tunnel")]),
            (140, [(80, f"Ericafurt, {state} 88976")]),
            (170, [(80, "Tel.: (781) 754-9322")]),
            (200, [(800, "Inv. No.: A-0568")]),
        ]))
        assert f["vendor_address"] == f"2479 Marilyn Tunnel, Ericafurt, {state} 88976", state


def test_a_title_read_with_an_ocr_slip_is_no_part_of_the_vendor_name() -> None:
    # the big "FACTURE" title read as "FAC | URE" over the vendor block is still the title
    for title in ("FAC | URE", "FACTURE", "INV0ICE"):
        f = fields(make_page([
            (60, [(80, title)]),
            (60, [(-1120, "Normand SAS")]),
            (90, [(-1120, "56, boulevard Besnard")]),
            (120, [(-1120, "11412 Toulouse")]),
            (250, [(80, "Numéro de facture 43268")]),
        ]))
        assert f["vendor_name"] == "Normand SAS", title
