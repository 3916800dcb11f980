"""Rules extractor on hand-made invoices and receipts with known answers."""

from __future__ import annotations

from extractors.fields.rules import RulesExtractor, find_labels
from extractors.layout import build_layout
from schemas.document import Document, Page, Word
from schemas.validate import validate_fields

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

EX = RulesExtractor(None)


def _values(doc, doc_type="invoice"):  # type: ignore[no-untyped-def]
    ex = EX.extract(doc, doc_type)
    return {k: f.value for k, f in ex.fields.items()}, ex


def test_english_invoice_label_left_total_bottom() -> None:
    page = make_page([
        (80, [(80, "ACME Widgets Ltd"), (800, "INVOICE")]),
        (110, [(80, "12 Market Street")]),
        (140, [(80, "Springfield, IL 62701")]),
        (240, [(700, "Invoice No: INV-001")]),
        (270, [(700, "Invoice Date: March 14, 2024")]),
        (300, [(700, "Due Date: April 13, 2024")]),
        (330, [(700, "PO Number: PO-7781")]),
        (400, [(80, "Bill To:")]),
        (430, [(80, "Globex Corporation")]),
        (460, [(80, "500 Oak Avenue")]),
        (600, [(80, "Description"), (600, "Qty"), (750, "Unit Price"), (1000, "Amount")]),
        (640, [(80, "Blue widget"), (600, "2"), (750, "$500.00"), (1000, "$1,000.00")]),
        (670, [(80, "Red widget"), (600, "1"), (750, "$134.56"), (1000, "$134.56")]),
        (800, [(750, "Subtotal"), (1000, "$1,134.56")]),
        (830, [(750, "Tax"), (1000, "$100.00")]),
        (860, [(750, "Total"), (1000, "$1,234.56")]),
        (950, [(80, "Payment Terms: Net 30")]),
    ])
    vals, ex = _values(make_doc(page))
    assert vals["invoice_id"] == "INV-001"
    assert vals["invoice_date"] == "2024-03-14"
    assert vals["due_date"] == "2024-04-13"
    assert vals["po_number"] == "PO-7781"
    assert vals["total"] == "1234.56"
    assert vals["subtotal"] == "1134.56"
    assert vals["tax_total"] == "100.00"
    assert vals["currency"] == "USD"
    assert vals["customer_name"] == "Globex Corporation"
    assert vals["payment_terms"] == "Net 30"
    assert vals["vendor_name"] == "ACME Widgets Ltd"
    total = ex.fields["total"]
    assert total.text == "$1,234.56" and total.page == 1 and total.engine == "rules"
    assert total.bbox is not None and total.bbox[0] > 750 and 0 < total.confidence <= 1
    amounts = [li.amount.value for li in ex.line_items if li.amount]
    assert amounts == ["1000.00", "134.56"]
    assert ex.line_items[0].description is not None
    assert ex.line_items[0].description.value == "Blue widget"
    assert ex.line_items[0].quantity is not None and ex.line_items[0].quantity.value == "2"
    assert validate_fields("invoice", ex.fields, ex.line_items) == []


def test_german_invoice_decimal_comma() -> None:
    page = make_page([
        (80, [(80, "Müller Bürobedarf GmbH")]),
        (110, [(80, "Hauptstraße 5, 10115 Berlin")]),
        (200, [(700, "Rechnungsnummer: RE-2024-0042")]),
        (230, [(700, "Rechnungsdatum 14.03.2024")]),
        (260, [(700, "USt-IdNr.: DE123456789")]),
        (700, [(600, "Nettobetrag"), (1000, "1.037,45 €")]),
        (730, [(600, "MwSt. 19%"), (1000, "197,11 €")]),
        (760, [(600, "Gesamtbetrag"), (1000, "1.234,56 €")]),
    ])
    vals, _ = _values(make_doc(page))
    assert vals["invoice_id"] == "RE-2024-0042"
    assert vals["invoice_date"] == "2024-03-14"
    assert vals["total"] == "1234.56"
    assert vals["subtotal"] == "1037.45"
    assert vals["tax_total"] == "197.11"
    assert vals["currency"] == "EUR"
    assert vals["vendor_tax_id"] == "DE123456789"


def test_french_invoice_montant_ttc() -> None:
    page = make_page([
        (80, [(80, "Dupont et Fils SARL")]),
        (200, [(700, "Facture N° F-2024-17")]),
        (230, [(700, "Date : 05/02/2024")]),
        (700, [(600, "Total HT"), (1000, "1 028,80 €")]),
        (730, [(600, "TVA 20 %"), (1000, "205,76 €")]),
        (760, [(600, "Montant TTC"), (1000, "1 234,56 €")]),
    ])
    vals, _ = _values(make_doc(page))
    assert vals["total"] == "1234.56"
    assert vals["subtotal"] == "1028.80"
    assert vals["tax_total"] == "205.76"
    assert vals["invoice_date"] == "2024-02-05"  # day first
    assert vals["invoice_id"] == "F-2024-17"


def test_label_above_value_layout() -> None:
    page = make_page([
        (80, [(80, "Northwind Traders Inc")]),
        (200, [(80, "Invoice Number"), (500, "Invoice Date"), (900, "Amount Due")]),
        (230, [(80, "A-99812"), (500, "2024-06-30"), (900, "$87.10")]),
    ])
    vals, _ = _values(make_doc(page))
    assert vals["invoice_id"] == "A-99812"
    assert vals["invoice_date"] == "2024-06-30"
    assert vals["total"] == "87.10"


def test_us_dates_are_month_first() -> None:
    page = make_page([
        (80, [(80, "Contoso LLC")]),
        (200, [(700, "Invoice # 5512")]),
        (230, [(700, "Date: 03/04/2024")]),
        (260, [(700, "Due: 12/25/2024")]),
        (700, [(600, "Total"), (1000, "$10.00")]),
    ])
    vals, _ = _values(make_doc(page))
    assert vals["invoice_date"] == "2024-03-04"  # March 4: the document prints 12/25 (month first)


def test_receipt_merchant_items_totals() -> None:
    rows = [
        (40, [(60, "SUNRISE BAKERY SDN BHD")]),
        (70, [(60, "(123456-K)")]),
        (100, [(60, "NO 12, JALAN MAWAR 3,")]),
        (130, [(60, "47400 PETALING JAYA")]),
        (160, [(60, "TEL: 03-7788 9900")]),
        (190, [(60, "TAX INVOICE")]),
        (220, [(60, "Date: 25/12/2018 Time: 14:05")]),
        (280, [(60, "CROISSANT"), (420, "2"), (560, "7.00")]),
        (310, [(60, "LATTE"), (420, "1"), (560, "9.50")]),
        (370, [(60, "TOTAL"), (540, "RM 16.50")]),
        (400, [(60, "CASH"), (540, "RM 20.00")]),
        (430, [(60, "CHANGE"), (550, "RM 3.50")]),
        (490, [(60, "THANK YOU, PLEASE COME AGAIN")]),
    ]
    page = make_page(rows, width=700, height=1600)
    vals, ex = _values(make_doc(page), "receipt")
    assert vals["merchant_name"] == "SUNRISE BAKERY SDN BHD"
    assert vals["merchant_address"] == "NO 12, JALAN MAWAR 3, 47400 PETALING JAYA"
    assert vals["transaction_date"] == "2018-12-25"
    assert vals["transaction_time"] == "14:05"
    assert vals["total"] == "16.50"
    assert vals["currency"] == "MYR"
    assert vals["merchant_phone"] == "03-7788 9900"
    assert [li.amount.value for li in ex.line_items if li.amount] == ["7.00", "9.50"]
    assert ex.line_items[0].description is not None and ex.line_items[0].description.value == "CROISSANT"
    assert "invoice_id" not in vals


def test_tax_invoice_heading_and_summary_table_do_not_win_over_the_total() -> None:
    rows = [
        (40, [(60, "KEDAI RUNCIT MAJU")]),
        (70, [(60, "LOT 5, JALAN BESAR, 45600 KLANG")]),
        (100, [(60, "SIMPLIFIED TAX INVOICE")]),
        (130, [(60, "Date: 01/02/2018")]),
        (200, [(60, "Total Sales (Excluding GST)"), (560, "51.42")]),
        (230, [(60, "Total GST"), (560, "3.08")]),
        (260, [(60, "Total Sales (Inclusive of GST)"), (560, "54.50")]),
        (290, [(60, "CASH"), (560, "60.00")]),
        (320, [(60, "CHANGE"), (560, "5.50")]),
        (380, [(60, "GST SUMMARY")]),
        (410, [(60, "Total"), (300, "51.42"), (430, "3.08"), (560, "54.50")]),
    ]
    vals, ex = _values(make_doc(make_page(rows, width=700, height=1400)), "receipt")
    assert vals["total"] == "54.50"
    assert vals["subtotal"] == "51.42"
    assert vals["tax_total"] == "3.08"
    assert validate_fields("receipt", ex.fields, []) == []


def test_missing_fields_are_absent_and_empty_doc() -> None:
    vals, ex = _values(make_doc(make_page([(100, [(80, "Hello world")])])))
    assert "total" not in vals and "invoice_id" not in vals
    assert all(f.value is not None for f in ex.fields.values())
    empty = EX.extract(make_doc(make_page([])), "invoice")
    assert empty.fields == {} and empty.line_items == [] and empty.key_values == []


def test_key_values_colon_and_below() -> None:
    page = make_page([
        (100, [(80, "TO:"), (300, "Dr. Jane Smith")]),
        (130, [(80, "FROM: R. Jones")]),
        (200, [(80, "DATE:")]),
        (230, [(80, "June 3, 1998")]),
        (300, [(80, "SUBJECT: Budget review")]),
    ])
    ex = EX.extract(make_doc(page), "form")
    kv = {k.key.rstrip(":"): k.value for k in ex.key_values}  # keys keep their printed colon
    assert kv["TO"] == "Dr. Jane Smith"
    assert kv["FROM"] == "R. Jones"
    assert kv["DATE"] == "June 3, 1998"
    assert kv["SUBJECT"] == "Budget review"
    assert ex.fields == {}


def test_find_labels_tolerates_ocr_noise_and_prefers_longer_labels() -> None:
    hits = find_labels("Rechnungsnumrner: 4711")
    assert hits and hits[0].field == "invoice_id" and hits[0].score < 1.0
    hits = find_labels("Total GST 3.08")
    assert [h.field for h in hits] == ["tax_total"]
    hits = find_labels("TOTAL: 12.00")
    assert [h.field for h in hits] == ["total"]


def test_find_labels_reads_money_labels_through_ocr_slips() -> None:
    for printed, label in (("Totsl 12.37", "total"), ("NET TUTAL 67.85", "net total"),
                           ("lotal Qty 1.00", "total qty"), ("Chenge: 2.60", "change"),
                           ("YAtal Sales (Inclusive of GST) : 32.70", "total sales")):
        hits = find_labels(printed)
        assert hits and hits[0].label == label, printed
    assert find_labels("lotal Qty 1.00")[0].field == "_count"  # the slip does not make it a total
    assert [h.label for h in find_labels("C HANGE RM46.40")] == ["change"]  # a stray space
    assert find_labels("T otal lncl. of GST 104.00")[0].field == "total"
    assert find_labels("a change 5.00")[0].start == 2  # two words that are words stay apart
    assert find_labels("Totsl 12.37")[0].score < find_labels("Total 12.37")[0].score
    # words that are not labels stay words: no number on the line, or too far from any label
    assert find_labels("Dr. Renee Anderson") == []
    assert find_labels("Tonic water 2 4.00") == []
    assert find_labels("Cosh 5.00")[0].field == "_cash"  # four letters: one glyph slip (o/a) …
    assert find_labels("Cost 5.00") == []  # … but not a slip and another letter


def test_a_tax_note_is_not_the_total() -> None:
    vals = _receipt([
        (40, [(60, "KEDAI MAKAN SEDAP")]),
        (300, [(60, "Total :"), (540, "25.15")]),
        (330, [(60, "Cash"), (540, "50.00")]),
        (360, [(60, "Change"), (540, "24.85")]),
        (420, [(60, "(Total Included GST 6% : 1.42)")]),
        (450, [(60, "GST @6% included in total RM 1.42")]),
    ])
    assert vals["total"] == "25.15"
    assert vals["tax_total"] == "1.42"


def test_total_label_read_through_an_ocr_slip() -> None:
    vals = _receipt([
        (40, [(60, "KEDAI MAKAN SEDAP")]),
        (260, [(60, "Total Qty: 25"), (540, "32.69")]),
        (300, [(60, "YAtal Sales (Inclusive of GST) :"), (540, "32.70")]),
        (330, [(60, "CASH :"), (540, "40.00")]),
        (360, [(60, "Chenge :"), (540, "7.30")]),
    ])
    assert vals["total"] == "32.70"


def test_cash_less_change_printed_elsewhere_outweighs_a_misread_total() -> None:
    rows = [
        (40, [(60, "KEDAI MAKAN SEDAP")]),
        (200, [(60, "9063785 2 X 5.30"), (540, "10.60")]),
        (300, [(60, "Total Incl. GST@6% RM"), (540, "10.00")]),  # OCR read 10.60 as 10.00
        (330, [(60, "CASH RM"), (540, "20.00")]),
        (360, [(60, "CHANGE RM"), (540, "9.40")]),
    ]
    assert _receipt(rows)["total"] == "10.60"
    # without the change line nothing checks the label's value: it stays the total
    assert _receipt(rows[:-1])["total"] == "10.00"


def test_net_total_is_the_total_and_due_pay_labels_on_receipts() -> None:
    vals = _receipt([
        (40, [(60, "MEI LET RESTAURANT")]),
        (300, [(60, "SUB TOTAL"), (540, "64.00")]),
        (330, [(60, "GST 6%"), (540, "3.84")]),
        (360, [(60, "NET TOTAL"), (540, "67.85")]),
        (400, [(60, "Thank you")]),
    ])
    assert vals["total"] == "67.85" and vals["subtotal"] == "64.00"
    vals = _receipt([
        (40, [(60, "KEDAI ROTI")]),
        (300, [(60, "Qty 8"), (540, "19.20")]),
        (330, [(60, "Due"), (540, "19.20")]),
        (360, [(60, "Pay"), (540, "20.00")]),
        (390, [(60, "Change"), (540, "0.80")]),
        (420, [(60, "(Total Included GST @ 6% : 1.09)")]),
    ])
    assert vals["total"] == "19.20"


def _receipt(rows):  # type: ignore[no-untyped-def]
    vals, _ = _values(make_doc(make_page(rows)), "receipt")
    return vals


def _header_receipt(*lines: str):  # type: ignore[no-untyped-def]
    """A receipt whose header is ``lines`` (one a row, 30 px apart from the top) and whose total
    line ("TOTAL 8.70") stands far below; its extracted values."""
    return _receipt([(40 + 30 * i, [(60, line)]) for i, line in enumerate(lines)]
                    + [(500, [(60, "TOTAL"), (540, "8.70")])])


def test_cash_rounding_the_amount_after_the_rounding_line_is_the_total() -> None:
    vals = _receipt([
        (40, [(60, "KEDAI MAKAN SEDAP")]),
        (300, [(60, "Total (Inclusive of GST):"), (540, "31.02")]),
        (330, [(60, "Rounding Adj :"), (540, "-0.02")]),
        (360, [(60, "TOTAL :"), (540, "31.00")]),
        (400, [(60, "Thank you")]),
    ])
    assert vals["total"] == "31.00"
    # a difference that is not the printed adjustment gives no such preference
    vals = _receipt([
        (40, [(60, "KEDAI MAKAN SEDAP")]),
        (300, [(60, "Total (Inclusive of GST):"), (540, "31.02")]),
        (330, [(60, "Rounding Adj :"), (540, "-0.05")]),
        (360, [(60, "TOTAL :"), (540, "31.00")]),
    ])
    assert vals["total"] == "31.02"


def test_unlabelled_dates_glued_time_ocr_month_and_number_runs() -> None:
    # the time printed straight after the year (no space in the OCR text)
    assert _receipt([(40, [(60, "SHOP")]), (100, [(60, "25/12/20188:13:39 PM")])])[
        "transaction_date"] == "2018-12-25"
    # a month name with an OCR slip ("N0Y" for NOV) in a day-month-year shape
    assert _receipt([(40, [(60, "SHOP")]), (100, [(60, "01-N0Y-2017 11:20:04AM")])])[
        "transaction_date"] == "2017-11-01"
    assert _receipt([(40, [(60, "SHOP")]), (100, [(60, "0ct 3. 2016 12:16:25 PM")])])[
        "transaction_date"] == "2016-10-03"
    # an ambiguous slip ("Mat": MAR or MAY) is not guessed
    assert "transaction_date" not in _receipt([(40, [(60, "SHOP")]), (100, [(60, "27 Mat 2018 18:46")])])
    # a phone number's digit run and an item code with mixed separators are not dates
    vals = _receipt([
        (40, [(60, "SHOP")]),
        (70, [(60, "Tel. : 05.22.95.66.66")]),
        (100, [(60, "MI11/3-21 - 12/480")]),
        (130, [(60, "Le 30/03/2018 a 12:36")]),
    ])
    assert vals["transaction_date"] == "2018-03-30"


def test_unlabelled_date_prefers_the_one_printed_with_a_time() -> None:
    vals = _receipt([
        (40, [(60, "SHOP")]),
        (70, [(60, "Valid till 31/12/2019")]),
        (400, [(60, "16-03-18 13:49 SH01 B026")]),
    ])
    assert vals["transaction_date"] == "2018-03-16"


def test_merchant_name_keeps_legal_form_when_regno_is_glued_to_it() -> None:
    vals = _receipt([
        (40, [(60, "GARDENIA BAKERIES(KL)SDN BHD(I393S6X)")]),
        (70, [(60, "Lot 3, Jalan Pelabur 23/1,")]),
        (100, [(60, "40300 Shah Alam,Selangor.")]),
        (300, [(60, "TOTAL"), (540, "94.19")]),
    ])
    assert vals["merchant_name"] == "GARDENIA BAKERIES (KL) SDN BHD"


def test_digit_letter_slips_are_undone_in_names_and_addresses_only() -> None:
    vals = _receipt([
        (40, [(60, "KMF F00DICI0US SDN BHD")]),
        (70, [(60, "L0T 3, Jalan Peta1ing 23/1, U13/X")]),
        (100, [(60, "4030O Shah Alam,Selangor.")]),
        (300, [(60, "TOTAL"), (540, "10.10")]),
    ])
    assert vals["merchant_name"] == "KMF FOODICIOUS SDN BHD"
    assert vals["merchant_address"] == "LOT 3, Jalan Petaling 23/1, U13/X 40300 Shah Alam, Selangor."
    assert vals["total"] == "10.10"


def test_a_company_number_line_is_neither_the_name_nor_part_of_it() -> None:
    vals = _receipt([
        (40, [(60, "PROSPER NIAGA")]),
        (70, [(60, "Company No : SA0099552-P")]),
        (100, [(60, "LOT PT 1138 PT 33122")]),
        (130, [(60, "43200 CHERAS, SELANGOR")]),
        (300, [(60, "TOTAL"), (540, "10.00")]),
    ])
    assert vals["merchant_name"] == "PROSPER NIAGA"


def test_a_name_line_ending_with_its_number_does_not_take_the_branch_above() -> None:
    vals = _receipt([
        (40, [(60, "SUSHI MENTAI - PANDAN INDAH")]),
        (70, [(60, "KMF FOODICIOUS SDN BHD (1132106-H)")]),
        (100, [(60, "NO. 9-G, JALAN PERUBATAN 2,")]),
        (300, [(60, "TOTAL"), (540, "31.00")]),
    ])
    assert vals["merchant_name"] == "KMF FOODICIOUS SDN BHD"


def test_a_line_that_is_only_the_legal_form_takes_the_name_above() -> None:
    vals = _receipt([
        (40, [(60, "Timeless Kitchenette")]),
        (70, [(60, "San Bad")]),
        (100, [(60, "Lot 50, Floor 12, Jalan Genting")]),
        (300, [(60, "TOTAL"), (540, "59.10")]),
    ])
    assert vals["merchant_name"] == "Timeless Kitchenette Sdn Bhd"


def test_a_line_under_the_street_line_is_address_not_name() -> None:
    vals = _receipt([
        (40, [(60, "SIMPLIFIED TAX INVOICE")]),
        (70, [(60, "Sin Thye & Comfany")]),
        (100, [(60, "NO.54, BATU 5,JALAN IPOH,")]),
        (130, [(60, "KG.BATU,")]),
        (300, [(60, "TOTAL"), (540, "110.00")]),
    ])
    assert vals["merchant_name"] == "Sin Thye & Company"  # the f/p slip undone


def test_the_legal_owner_under_the_shop_is_not_the_merchant_name() -> None:
    vals = _receipt([
        (40, [(60, "SUNNY STATIONERY")]),
        (70, [(60, "NO.31G, JALAN SETIA INDAH X,U13/X")]),
        (100, [(60, "40170 SETIA ALAM")]),
        (130, [(60, "Tel:+603-3362 4137")]),
        (160, [(60, "Owned By:")]),
        (190, [(60, "SUNNY SUPPLY SDN BHD(1135772-K)")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ])
    assert vals["merchant_name"] == "SUNNY STATIONERY"


def test_receipt_address_after_owner_and_licensee_lines_with_digit_slips() -> None:
    vals = _header_receipt(
        "Gerbang Alaf Restaurants Sdn Bhd",
        "(65351-M)",
        "formerly known as",
        "Golden Arches Restaurants Sdn Bhd",
        "Licensee of McDonald's",
        "Leve1 6,Bangunan TH, Damansara Uptown3",
        "No.3, Jalan SS21/39,47400 Peta1ing Jaya",
        "Selangor",
        "(GST ID No: 000504664064)",
        "Te1 No: 03-4162-2318",
    )
    assert vals["merchant_name"] == "Gerbang Alaf Restaurants Sdn Bhd"
    assert vals["merchant_address"] == ("Level 6, Bangunan TH, Damansara Uptown3 No.3, Jalan SS21/39,47400 "
                                        "Petaling Jaya Selangor")


def test_receipt_address_label_first_comma_line_branch_code_and_labelled_phone() -> None:
    # an address label is cut off; the lines above it are contact lines, not address
    vals = _header_receipt(
        "HAI-O RAYA BHD (169199-V)",
        "KEPONG OUTLET",
        "TEL / FAX : 03-62636977",
        "HQ ADD: L0T 11995, BATU 2, JALAN KAPAR",
        "41400 KLANG, SELANGOR",
        "DATE: 15/12/2016 10:24:42",
    )
    assert vals["merchant_address"] == "LOT 11995, BATU 2, JALAN KAPAR 41400 KLANG, SELANGOR"
    # a first line without address words that ends in a comma; a time line ends the address
    vals = _header_receipt(
        "URBAN IDEA SDN BHD (417940-M),",
        "A-G-06, DATARAN GLOMAC,",
        "JALAN SS6/5A, PUSAT BANDAR KELANA JAYA,",
        "47301 PETALING JAYA, SELANGOR, MALAYSIA",
        "Served by: ROJAN 27/02/2018 15:32:47",
    )
    assert vals["merchant_address"] == ("A-G-06, DATARAN GLOMAC, JALAN SS6/5A, PUSAT BANDAR KELANA JAYA, "
                                        "47301 PETALING JAYA, SELANGOR, MALAYSIA")
    # after the postcode line: a branch code line right above the tax-id line is address, a
    # branch name without a number is not; a labelled phone number ends the address
    lines = ["99 SPEED MART S/B (519537-X)", "LOT P.T. 2811, JALAN ANGSA,", "41150 KLANG, SELANGOR",
             "1245-DESA SRI HARTAMAS", "GST ID. NO : 000181747712"]
    assert _header_receipt(*lines)["merchant_address"] == ("LOT P.T. 2811, JALAN ANGSA, 41150 KLANG, "
                                                           "SELANGOR 1245-DESA SRI HARTAMAS")
    lines[3] = "SUNWAY VELOCITY"
    assert _header_receipt(*lines)["merchant_address"] == "LOT P.T. 2811, JALAN ANGSA, 41150 KLANG, SELANGOR"
    lines[3] = "Outlet:03-80626265 Careline:03-56381988"
    assert _header_receipt(*lines)["merchant_address"] == "LOT P.T. 2811, JALAN ANGSA, 41150 KLANG, SELANGOR"


def test_receipt_address_word_slips_periods_for_commas_and_dropped_spaces() -> None:
    vals = _header_receipt(
        "99 SPEED MART S/B (519537-X)",
        "LOT P.T. 28I1, JALAN ANG5A,",
        "TANAN BERKELEY",
        "41150 KLANG. Selanoor",
        "GST ID. NO : 000181747712",
    )
    assert vals["merchant_address"] == "LOT P.T. 2811, JALAN ANGSA, TAMAN BERKELEY 41150 KLANG, Selangor"
    vals = _header_receipt(
        "KEDAI PAPAN YEW CHUAN",
        "(0005583085-K)",
        "LOT276JALAN BANTING",
        "43800DENGKIL,SELANGOR",
        "TEL :03-87686092",
    )
    assert vals["merchant_address"] == "LOT 276 JALAN BANTING 43800 DENGKIL, SELANGOR"
    # a real word one letter from an address word stays, and so does an abbreviation's period
    vals = _header_receipt(
        "DAISO MALAYSIA SDN BHD",
        "LOT 2, DAISO JAPAN, JLN. KEDAI 4,",
        "50450 KUALA LUMPUR.",
        "TEL: 03-2345 6789",
    )
    assert vals["merchant_address"] == "LOT 2, DAISO JAPAN, JLN. KEDAI 4, 50450 KUALA LUMPUR."


def test_receipt_address_first_line_with_a_slipped_street_word_and_glued_numbers() -> None:
    vals = _header_receipt(
        "BHPetrol Subang Airport",
        "Jaian Lapangan Terbang Subang",
        "47200 Subang",
        "Selangor",
        "CO. REG. NO: 000948487-V",
    )
    assert vals["merchant_address"] == "Jalan Lapangan Terbang Subang 47200 Subang Selangor"
    vals = _header_receipt(
        "99 SPEED MART S/B (519537-X)",
        "NO290.JALAN ANGSA, 10T 1851",
        "41150 KLANG, SELANGOR",
        "1225-DENGKIL",
        "GST ID. NO : 000181747712",
    )
    assert vals["merchant_address"] == "NO 290, JALAN ANGSA, LOT 1851 41150 KLANG, SELANGOR 1225-DENGKIL"


def test_receipt_name_slips_in_legal_form_initials_and_trade_words() -> None:
    def name(line: str) -> str:
        return _receipt([
            (40, [(60, line)]),
            (70, [(60, "LOT 3, JALAN PELABUR 23/1,")]),
            (100, [(60, "40300 SHAH ALAM, SELANGOR.")]),
            (400, [(60, "TOTAL"), (540, "8.70")]),
        ])["merchant_name"]

    assert name("GARDENIA BAKERIES(KL)SDN EHD(139386X)") == "GARDENIA BAKERIES (KL) SDN BHD"
    assert name("MR. D.1.Y. (H) SDN BHD") == "MR. D.I.Y. (M) SDN BHD"
    assert name("UNIHAKKA INTERNATIONAL-SDN BHD") == "UNIHAKKA INTERNATIONAL SDN BHD"
    assert name("Dimiliki: banh mi cafe sdn bhd 1110644-W") == "banh mi cafe sdn bhd"
    assert name("SANYUSTATIONERYSHOP") == "SANYU STATIONERY SHOP"
    assert name("AIK HUAT HARDMARE ENTERPRISE") == "AIK HUAT HARDWARE ENTERPRISE"
    # plurals, words that are not trade words and a number starting a name stay as printed
    assert name("GOLDEN ARCHES RESTAURANTS SDN BHD") == "GOLDEN ARCHES RESTAURANTS SDN BHD"
    assert name("1STOP WORKSHOP SERVICE") == "1STOP WORKSHOP SERVICE"


def test_words_split_by_the_recogniser_are_joined_when_they_make_a_known_word() -> None:
    vals = _receipt([
        (40, [(60, "GARDENIA BAK ERIES (KL) SDN BHD")]),
        (70, [(60, "LOT 3, JALAN PELABUR 23/1,")]),
        (100, [(60, "50450 Kuala Lum pur")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ])
    assert vals["merchant_name"] == "GARDENIA BAKERIES (KL) SDN BHD"
    assert vals["merchant_address"] == "LOT 3, JALAN PELABUR 23/1, 50450 Kuala Lumpur"
    # "TAMAN SEA" stays two words (both pieces are words already / the join is no word)
    assert _receipt([
        (40, [(60, "SHOP SDN BHD")]),
        (70, [(60, "54, JALAN SS23/11 TAMAN SEA,")]),
        (100, [(60, "47400 PETALING JAYA")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ])["merchant_address"] == "54, JALAN SS23/11 TAMAN SEA, 47400 PETALING JAYA"


def test_receipt_name_over_three_lines_and_a_bracketed_branch_under_it() -> None:
    rows = [
        (40, [(60, "AIK HUAT HARDWARE")]),
        (70, [(60, "ENTERPRISE TSETIA")]),
        (100, [(60, "ALAM) SDN BHD")]),
        (130, [(60, "822737-X")]),
        (160, [(60, "NO. 17-G, JALAN SETIA INDAH")]),
        (190, [(60, "SEKSYEN U13, 40170 SHAH ALAM,")]),
        (220, [(60, "TEL: 012 - 6651783")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ]
    vals = _receipt(rows)
    assert vals["merchant_name"] == "AIK HUAT HARDWARE ENTERPRISE (SETIA ALAM) SDN BHD"
    assert vals["merchant_address"] == "NO. 17-G, JALAN SETIA INDAH SEKSYEN U13, 40170 SHAH ALAM,"
    # a name that is complete on two lines does not take the line under it
    rows[1:3] = [(70, [(60, "ENTERPRISE SDN BHD")]), (100, [(60, "KEPONG BRANCH")])]
    assert _receipt(rows)["merchant_name"] == "AIK HUAT HARDWARE ENTERPRISE SDN BHD"
    vals = _receipt([
        (40, [(60, "CHECKERS HYPERMARKET SDN BHD")]),
        (70, [(60, "(JALAN KLANG LAMA)")]),
        (100, [(60, "LOT 2942 & 2945, JLN SERI SENTOSA 8,")]),
        (130, [(60, "58000 KUALA LUMPUR.")]),
        (160, [(60, "COMPANY NO: 564429-W")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ])
    assert vals["merchant_name"] == "CHECKERS HYPERMARKET SDN BHD (JALAN KLANG LAMA)"
    assert vals["merchant_address"] == "LOT 2942 & 2945, JLN SERI SENTOSA 8, 58000 KUALA LUMPUR."


def test_name_and_address_cleaning_docstring_examples() -> None:
    import doctest

    import extractors.fields.rules as rules

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    names = ["_fix_address_words", "_address_spacing", "_join_split_words", "_fix_name", "_fix_trade_words",
             "_fix_legal", "_fix_glyphs", "_clean_address"]
    for name in names:
        for test in finder.find(getattr(rules, name), name, globs=vars(rules)):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 12
    assert result.failed == 0


def test_receipt_address_ends_at_an_unlabelled_phone_or_tax_number() -> None:
    rows = [
        (40, [(60, "KING'S CONFECTIONERY S/B")]),
        (70, [(60, "LOT PT244, JLN PERBANDARAN SS6/4")]),
        (100, [(60, "PUSAT BANDAR KELANA JAYA, PETALING")]),
        (130, [(60, "TEI N0 03 - 7803 0974")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ]
    want = "LOT PT244, JLN PERBANDARAN SS6/4 PUSAT BANDAR KELANA JAYA, PETALING"
    assert _receipt(rows)["merchant_address"] == want
    rows[3] = (130, [(60, "GS1 1D 000294060032")])
    assert _receipt(rows)["merchant_address"] == want


def test_receipt_address_read_top_to_bottom_when_the_layout_order_is_not() -> None:
    page = make_page([
        (40, [(60, "TRI SHAAS SDN BHD (728515-M)")]),
        (62, [(60, "MYDIN MART SRI MUDA")]),
        (84, [(60, "4-20, Jalan Ria 25/62 Taman Sri Muda")]),
        (106, [(60, "Seksyen 25, 40400 Shah Alam Selangor")]),
        (128, [(60, "Tel : 03-51217970")]),
        (400, [(60, "TOTAL"), (540, "5.00")]),
    ])
    assert [ln.text for ln in page.lines][3].startswith("Seksyen")
    page.lines = [page.lines[3]] + page.lines[:3] + page.lines[4:]  # a dense header read out of order
    vals, _ = _values(make_doc(page), "receipt")
    assert vals["merchant_name"] == "TRI SHAAS SDN BHD"
    assert vals["merchant_address"] == "4-20, Jalan Ria 25/62 Taman Sri Muda Seksyen 25, 40400 Shah Alam Selangor"


def test_receipt_name_read_up_over_three_lines_from_the_legal_line() -> None:
    rows = [
        (40, [(60, "AIK HUAT HARDNARE")]),
        (70, [(60, "ENTERFRISE TSETIA")]),
        (100, [(60, "ALAH SDN BHD")]),
        (130, [(60, "822737-X")]),
        (160, [(60, "NO. 17-G, JALAN SETIA INDAH")]),
        (190, [(60, "40170 SHAH ALAM,")]),
        (400, [(60, "TOTAL"), (540, "8.70")]),
    ]
    assert _receipt(rows)["merchant_name"] == "AIK HUAT HARDWARE ENTERPRISE TSETIA ALAH SDN BHD"
    # a shop line above a two-line legal name that does not start with such a form stays out
    rows[1] = (70, [(60, "SUBANG HEALTHCARE")])
    assert _receipt(rows)["merchant_name"] == "SUBANG HEALTHCARE ALAH SDN BHD"
    rows[0:3] = [(40, [(60, "TISSUE HOLDER")]), (70, [(60, "MR. D. I.Y. (KUCHAI)")]), (100, [(60, "SDN BHD")])]
    assert _receipt(rows)["merchant_name"] == "MR. D.I.Y. (KUCHAI) SDN BHD"


def test_receipt_name_under_many_number_and_speck_lines() -> None:
    rows = [(20 + 22 * i, [(60, t)]) for i, t in enumerate(
        ["31803 01", "3180404", "*", "1950", "nn", "00 1", "#", "'", "3"])]
    rows += [(240, [(60, "CHECKERS HYPERMARKET SDN BHD")]), (262, [(60, "LOT 2942 & 2945, JLN SERI SENTOSA 8,")]),
             (284, [(60, "58000 KUALA LUMPUR.")]), (500, [(60, "TOTAL"), (540, "8.70")])]
    vals = _receipt(rows)
    assert vals["merchant_name"] == "CHECKERS HYPERMARKET SDN BHD"
    assert vals["merchant_address"] == "LOT 2942 & 2945, JLN SERI SENTOSA 8, 58000 KUALA LUMPUR."


def test_receipt_address_ends_at_the_country_and_the_name_is_no_street_line() -> None:
    # a branch name printed under the country line is not address
    vals = _header_receipt("POPULAR BOOK CO. (M) SDN BHD", "No 8, Jalan 7/118B, Desa Tun Razak",
                           "56000 Kuala Lumpur, Malaysia", "IOI MALL", "Tel : 03-80709188")
    assert vals["merchant_address"] == "No 8, Jalan 7/118B, Desa Tun Razak 56000 Kuala Lumpur, Malaysia"
    # a street line in capitals (its number glued to the street word) is not the name above it
    vals = _header_receipt("Kedai Papan Yew Chuan", "LOT276JALAN BANTING", "43800DENGKIL,SELANGOR",
                           "TEL: 03-8768 6888")
    assert vals["merchant_name"] == "Kedai Papan Yew Chuan"
    assert vals["merchant_address"] == "LOT 276 JALAN BANTING 43800 DENGKIL, SELANGOR"


def test_receipt_name_trade_word_line_and_glued_slogan() -> None:
    # a line that is only a trade word ends the name printed above it
    lines = ["SEMPURNA", "BAKERY", "NO 3, JALAN MERANTI 1A,", "47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678"]
    assert _header_receipt(*lines)["merchant_name"] == "SEMPURNA BAKERY"
    # a thank-you line read without its spaces is no name
    lines[0:2] = ["TQFORSHOPPING WITH MYNEWS.COM", "KEDAI RUNCIT MAJU"]
    assert _header_receipt(*lines)["merchant_name"] == "KEDAI RUNCIT MAJU"


def test_receipt_address_block_above_a_name_found_lower_down() -> None:
    # the header is the address (the name is a logo the recogniser did not read); the company
    # name lower down is the customer's, and so is the address under it
    vals = _header_receipt("Lot 3, Jalan Pelabur 23/1,", "40300 Shah Alam,Selangor.", "Tel:03-55423228 Fax:03-55423213",
                           "TAX INVOICE", "Date: 26/10/2017", "MAKASSAR FRESH MARKET SDN BHD",
                           "GROUND FLOOR, NO. 4 & 6,", "47500 SUBANG JAYA, SELANGOR")
    assert vals["merchant_address"] == "Lot 3, Jalan Pelabur 23/1, 40300 Shah Alam, Selangor."


def test_receipt_address_lines_with_legal_words_at_signs_and_on_the_name_line() -> None:
    # "KG." (kampung) and "Enterprise" in a street line are no legal forms; "@" without an e-mail
    # address is no contact line
    lines = ["RESTORAN MAJU JAYA", "(SA0264195-T)", "LOT 12, JALAN KG. JAWA,", "41000 KLANG, SELANGOR", "TEL: 03-1234 5678"]
    assert _header_receipt(*lines)["merchant_address"] == "LOT 12, JALAN KG. JAWA, 41000 KLANG, SELANGOR"
    lines[2] = "No.1, Jalan Enterprise 2,"
    assert _header_receipt(*lines)["merchant_address"] == "No.1, Jalan Enterprise 2, 41000 KLANG, SELANGOR"
    lines[2] = "NO 5, JALAN 1/2, SG BULOH @ KOTA DAMANSARA"
    assert _header_receipt(*lines)["merchant_address"] == ("NO 5, JALAN 1/2, SG BULOH @ KOTA DAMANSARA 41000 KLANG, "
                                                           "SELANGOR")
    lines[2] = "E-MAIL: MAJU@GMAIL.COM"
    assert _header_receipt(*lines)["merchant_address"] == "41000 KLANG, SELANGOR"
    # the first address line printed on the name's line after its registration number
    vals = _header_receipt("RESTORAN MAJU JAYA SDN BHD (SA0264195-T) NO 5, JALAN SS2/3,",
                           "47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678")
    assert vals["merchant_name"] == "RESTORAN MAJU JAYA SDN BHD"
    assert vals["merchant_address"] == "NO 5, JALAN SS2/3, 47301 PETALING JAYA SELANGOR D.E."
    # … or on the registration number's line, its bracket unclosed or without brackets
    for reg in ["(SA0264195-T NO 5, JALAN SS2/3,", "SA0264195-T NO 5, JALAN SS2/3,"]:
        vals = _header_receipt("KEDAI MAJU JAYA", reg, "47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678")
        assert vals["merchant_address"] == "NO 5, JALAN SS2/3, 47301 PETALING JAYA SELANGOR D.E."
    vals = _header_receipt("RESTORAN MAJU JAYA", "CO NO 001234567-A LOT 5, JALAN BESAR,", "43800 DENGKIL, SELANGOR",
                           "TEL: 03-1234 5678")
    assert vals["merchant_address"] == "LOT 5, JALAN BESAR, 43800 DENGKIL, SELANGOR"
    # a lot number with a block letter is no registration number
    vals = _header_receipt("MR. D.I.Y. (KUCHAI) SDN BHD", "LOT 1851-A & 1851-B, JALAN KPB 6,",
                           "43300 SERI KEMBANGAN, SELANGOR", "TEL: 03-1234 5678")
    assert vals["merchant_address"] == "LOT 1851-A & 1851-B, JALAN KPB 6, 43300 SERI KEMBANGAN, SELANGOR"


def test_receipt_outlet_line_repeated_in_the_address_and_the_name_in_small_print() -> None:
    # an outlet line over the address that the address repeats (with a slip) is not address
    vals = _header_receipt("Guardian Health And Beauty Sdn Bhd", "Bandar Baru Rawang", "No 15 Jalan Bandar Rawang 10",
                           "Bandar Baru Rawan9", "Tel:03-60952052")
    assert vals["merchant_address"] == "No 15 Jalan Bandar Rawang 10 Bandar Baru Rawan9"
    # the name in a logo repeated in small print with its legal form and the mall: the name is the
    # small print up to the form, the address starts under it
    vals = _header_receipt("EIGHT OUNCE", "COFFEE", "EIGHT OUNCE COFFEE CO. THE GARDENS MALL",
                           "F.K06, First Floor, The Gardens Mall,", "59200 Kuala Lumpur.", "GST No. 002063339520")
    assert vals["merchant_name"] == "EIGHT OUNCE COFFEE CO."
    assert vals["merchant_address"] == "F.K06, First Floor, The Gardens Mall, 59200 Kuala Lumpur."
    # a state glued to its title is still address after the postcode line
    vals = _header_receipt("TEO HENG STATIONERY & BOOKS", "NO.53,JALAN BESAR,45600 BATANG BERJUNTAI",
                           "SELANGORDARUL EHSAN", "TEL:03-32719872")
    assert vals["merchant_address"] == "NO.53, JALAN BESAR,45600 BATANG BERJUNTAI SELANGOR DARUL EHSAN"


def test_receipt_legal_form_line_takes_the_line_above_and_branch_lines_are_no_address() -> None:
    addr = ["NO 3, JALAN MERANTI 1A,", "47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678"]
    # a line that is only the legal form never is the name alone: the line above it is its start,
    # with a number, an address word or in lower case, or a registration number after the form
    for above, form, want in [("99 SPEED MART", "SDN BHD", "99 SPEED MART SDN BHD"),
                              ("PARK ROYAL CAFE", "SDN. BHD.", "PARK ROYAL CAFE SDN. BHD."),
                              ("Restoran Jaya Mewah", "Sdn. Bhd. (123456-X)", "Restoran Jaya Mewah Sdn. Bhd."),
                              ("ABC", "BAKERY", "ABC BAKERY")]:
        assert _header_receipt(above, form, *addr)["merchant_name"] == want
    # … but not a greeting
    assert _header_receipt("Welcome to", "SDN BHD", *addr)["merchant_name"] != "Welcome to SDN BHD"
    # a branch line between the name and the address is not address
    vals = _header_receipt("ABC MART SDN BHD", "BANDAR SUNWAY BRANCH", *addr)
    assert vals["merchant_address"] == "NO 3, JALAN MERANTI 1A, 47301 PETALING JAYA SELANGOR D.E."


def test_receipt_name_not_a_slogan_or_bracketed_branch_and_legal_name_under_the_address() -> None:
    addr = ["NO 3, JALAN MERANTI 1A,", "47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678"]
    assert _header_receipt("Kedai Ah Seng", "THE BEST COFFEE IN TOWN", *addr)["merchant_name"] == "Kedai Ah Seng"
    # a branch in brackets goes with the name line above it
    assert _header_receipt("Kedai Ah Seng", "(SERI KEMBANGAN)", *addr)["merchant_name"] == "Kedai Ah Seng (SERI KEMBANGAN)"
    # the legal name with its registration number printed under the shop's address ("SB" for Sdn Bhd)
    vals = _header_receipt("TQ FOR SHOPPING WITH MYNEWS.COM", "PUSAT DAGANGAN PHILEO DAMANSARA",
                           "UNIT 105,BLOCK A,PUSAT DAGANGAN PHILEO DAMANSARA,", "NO.9,JALAN 16/11,46350,PETALING JAYA,SELANGOR",
                           "MYNEWS CARELINE: 1800 88 1231", "MYNEWS RETAIL SB(306295-X) FKA BISON STORES SB",
                           "TAX REG ID: 000709361664")
    assert vals["merchant_name"] == "MYNEWS RETAIL SB"
    assert vals["merchant_address"] == ("UNIT 105, BLOCK A, PUSAT DAGANGAN PHILEO DAMANSARA, NO.9, JALAN 16/11,46350, "
                                        "PETALING JAYA, SELANGOR")
    # an e-mail line right above the legal name is not the name's first line
    vals = _header_receipt("NO.9,JALAN 16/11,46350,PETALING JAYA,SELANGOR", "MYNEWSCARELINE@MYNEWS.COM.MY",
                           "MYNEWS RETAIL SB(306295-X) FKA BISON STORES SB", "TAX REG ID: 000709361664")
    assert vals["merchant_name"] == "MYNEWS RETAIL SB"


def test_receipt_name_and_the_address_first_line_on_one_line() -> None:
    rest = ["47301 PETALING JAYA SELANGOR D.E.", "TEL: 03-1234 5678"]
    for line, name, first in [("KEDAI MAJU NO 3, JALAN MERANTI 1A,", "KEDAI MAJU", "NO 3, JALAN MERANTI 1A,"),
                              ("Kedai Maju Jaya 12, Jalan SS2/24,", "Kedai Maju Jaya", "12, Jalan SS2/24,")]:
        vals = _header_receipt(line, *rest)
        assert vals["merchant_name"] == name
        assert vals["merchant_address"] == first + " 47301 PETALING JAYA SELANGOR D.E."
    # a lot number read with a slip is the address's own start, not a name before it
    vals = _header_receipt("GARDENIA BAKERIES (KL) SDN BHD", "Lol 3, Jalan Pelabur 23/1,", "40300 Shah Alam, Selangor.",
                           "Tel: 03-55423228")
    assert vals["merchant_address"] == "Lot 3, Jalan Pelabur 23/1, 40300 Shah Alam, Selangor."


def test_receipt_labelled_site_number_after_the_postcode_is_no_address() -> None:
    lines = ["SHELL SERVICE STATION", "LOT 2685 JLN GENTING KLANG", "53300 KL", "Site : 2188", "GST ID: 000123456789"]
    assert _header_receipt(*lines)["merchant_address"] == "LOT 2685 JLN GENTING KLANG 53300 KL"
    lines[3] = "1245-DESA SRI HARTAMAS"  # an unlabelled branch code still is
    assert _header_receipt(*lines)["merchant_address"] == "LOT 2685 JLN GENTING KLANG 53300 KL 1245-DESA SRI HARTAMAS"


def _slip_receipt(name: str, *, engine: str | None, confidence: float) -> str | None:
    page = make_page([(40, [(60, name)]), (70, [(60, "NO 12, JALAN SULTAN, 50000 KUALA LUMPUR")]),
                      (500, [(60, "TOTAL"), (540, "8.70")])], confidence=confidence)
    page.engine = engine
    return _values(make_doc(page), "receipt")[0].get("merchant_name")


def test_receipt_name_one_letter_slips_put_right_by_word_frequency() -> None:
    # RapidOCR in doubt (confidence below 0.98), no word as read, one look-alike letter from a
    # common one: "TIHES" -> TIMES, "SFEED" -> SPEED, "CNE" -> ONE; a split word joined
    assert _slip_receipt("TIHES BOOKSTORES", engine="rapidocr", confidence=0.9) == "TIMES BOOKSTORES"
    assert _slip_receipt("99 SFEED MART S/B", engine="rapidocr", confidence=0.9) == "99 SPEED MART S/B"
    assert _slip_receipt("CNE ONE THREE SEAFOOD", engine="rapidocr", confidence=0.9) == "ONE ONE THREE SEAFOOD"
    assert _slip_receipt("Taste Of The Wor ld", engine="rapidocr", confidence=0.99) == "Taste Of The World"
    # capitals that do not look alike are no slip ("ADVANCO" is not ADVANCE), nor is a rare word
    # that is one letter from nothing common ("HUAT")
    assert _slip_receipt("ADVANCO COMPANY", engine="rapidocr", confidence=0.9) == "ADVANCO COMPANY"
    assert _slip_receipt("AIK HUAT TRADING", engine="rapidocr", confidence=0.9) == "AIK HUAT TRADING"


def test_receipt_name_rare_words_read_with_confidence_or_by_tesseract_stay() -> None:
    # read with confidence: a rare name, not a slip ("MENTAI" is not MENTAL)
    assert _slip_receipt("MIZU MENTAI SDN BHD", engine="rapidocr", confidence=0.99) == "MIZU MENTAI SDN BHD"
    assert _slip_receipt("MIZU MENTAI SDN BHD", engine="rapidocr", confidence=0.9) == "MIZU MENTAL SDN BHD"
    # Tesseract's confidences do not tell slips from surnames: its words stay as read
    assert _slip_receipt("TIHES BOOKSTORES", engine="tesseract", confidence=0.9) == "TIHES BOOKSTORES"


def test_receipt_address_one_letter_slips_put_right_by_word_frequency() -> None:
    page = make_page([(40, [(60, "KEDAI BUKU MAJU")]), (70, [(60, "NO 12, JALAN KEHBANGAN,")]),
                      (100, [(60, "43000 KAJANG, SELANGOR")]), (500, [(60, "TOTAL"), (540, "8.70")])],
                     confidence=0.9)
    page.engine = "rapidocr"
    assert "JALAN KEMBANGAN," in _values(make_doc(page), "receipt")[0]["merchant_address"]


def test_label_lookup_finds_every_label_the_full_scan_finds() -> None:
    """find_labels looks a line's labels up by trigram and first letters instead of trying all
    of them; on lines of receipts and invoices (slips, other languages, labels inside words) it
    finds exactly what trying every label finds."""
    from extractors.fields import rules

    lines = ["TOTAL AMOUNT DUE: 1.234,56 EUR", "Rechnungsnummer: RE-2024-001", "Montant TTC 120,00 €",
             "Facture n° F-17", "GST 6% 3.18  ROUNDING ADJ -0.01", "lotal qty 3  TOTSL 12.50",
             "Invoice Date 03/04/2024 Due Date 03/05/2024", "P.O. # 4471  Terms: Net 30",
             "SUBTOTAL(EXCL GST) 51.42", "Gesamtbetrag inkl. USt 119,00", "C HANGE 0.50", "", "x",
             "TAXINVOICE INV549761", "Bill To: Acme GmbH, Musterstr. 1", "CASH TENDERED 50.00"]
    for text in lines:
        full = rules.find_labels(text, labels=rules._ALL_LABELS)  # every label tried (no unslip)
        low = rules._fold(text)
        cands = rules._label_candidates(low, rules._trigrams(low))
        looked = rules.find_labels(text, labels=cands) if cands else []
        assert [(h.field, h.label, h.start, h.end, h.score) for h in looked] == \
            [(h.field, h.label, h.start, h.end, h.score) for h in full], text
    assert find_labels("TOTAL 12.00")[0].field == "total"


def test_an_item_count_above_the_subtotal_is_not_a_table_header() -> None:
    # "Items" names a description column and "Total" an amount column, but a count over a
    # totals line is no header printed on two lines: the items above it stay items
    page = make_page([
        (40, [(40, "QUICK MART SDN BHD")]),
        (70, [(40, "02/05/2024 08:33")]),
        (100, [(40, "Receipt #12453")]),
        (140, [(40, "MILK 2% GAL"), (300, "3.21")]),
        (170, [(40, "PENNE PASTA"), (300, "1.86")]),
        (200, [(40, "BANANAS"), (300, "1.59")]),
        (230, [(40, "Items: 3")]),
        (256, [(40, "Sub Total"), (300, "6.66")]),
        (286, [(40, "TOTAL"), (300, "6.66")]),
    ], width=420, height=600)
    _, ex = _values(make_doc(page), "receipt")
    assert [li.amount.value for li in ex.line_items if li.amount] == ["3.21", "1.86", "1.59"]
