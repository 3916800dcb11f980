"""Unit tests for exports: formula-injection guard, exact decimals, column order, presets, review."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from extractors.errors import UsageError
from extractors.export import (
    DOCUMENT_FIELDS,
    TABLES,
    build_tables,
    csv_text,
    export_records,
    money_value,
    neutralize_cell,
    tables,
    to_csv_text,
    write_tables,
)
from extractors.presets import SOURCES, get_preset, known_presets, load_preset_file, parse_preset
from schemas.fields import (
    INVOICE_FIELDS,
    LINE_ITEM_FIELDS,
    RECEIPT_FIELDS,
    Field,
    KeyValue,
    LineItem,
)
from schemas.record import FieldError, Record, Status


def F(value: str | None, confidence: float = 0.9) -> Field:  # noqa: N802 - reads like a literal
    return Field(value=value, confidence=confidence)


def invoice(source: str = "inv.pdf", sha: str = "a", status: Status = Status.OK,
            items: list[LineItem] | None = None, **fields: str) -> Record:
    base = {"vendor_name": "ACME", "invoice_id": "INV-1", "invoice_date": "2024-03-01",
            "currency": "USD", "total": "10.00"}
    base.update(fields)
    return Record(source=source, sha256=sha * 64, status=status, doc_type="invoice",
                  fields={k: F(v) for k, v in base.items() if v is not None},
                  line_items=items or [])


def receipt(source: str = "r.jpg", sha: str = "b", status: Status = Status.OK, **fields: str) -> Record:
    base = {"merchant_name": "Cafe", "transaction_date": "2024-01-02", "currency": "EUR",
            "total": "3.50"}
    base.update(fields)
    return Record(source=source, sha256=sha * 64, status=status, doc_type="receipt",
                  fields={k: F(v) for k, v in base.items() if v is not None})


def item(description: str | None = None, quantity: str | None = None,
         unit_price: str | None = None, amount: str | None = None) -> LineItem:
    cells = {"description": description, "quantity": quantity, "unit_price": unit_price,
             "amount": amount}
    return LineItem(**{k: F(v) for k, v in cells.items() if v is not None})


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- formula injection

DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@SUM(1)", "\tcmd", "\rcmd", "\0cmd",
             "=HYPERLINK(\"http://x\";\"y\")", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralize_prefixes_formula_cells(value: str) -> None:
    out = neutralize_cell(value)
    assert out.startswith("'")
    assert out[1:] == value.replace("\0", "\ufffd")


@pytest.mark.parametrize("value", ["-12.50", "+3", "-1,5", "12", "0.001", "plain text", "",
                                   "a=b", "50%"])
def test_neutralize_leaves_numbers_and_text(value: str) -> None:
    assert neutralize_cell(value) == value


@pytest.mark.parametrize("value", [None, 3, -1.5, Decimal("-12.50"), True])
def test_neutralize_ignores_non_strings(value: object) -> None:
    assert neutralize_cell(value) is value


def test_injection_csv_read_back_with_csv_module_and_pandas(tmp_path: Path) -> None:
    import pandas as pd

    rec = invoice(vendor_name="=1+2", invoice_id="-12.50", po_number="@SUM(1)",
                  payment_terms="\tNet", vendor_address="\r=2+2", customer_name="\0=3",
                  discount="-1.00")
    rec.key_values.append(KeyValue(
        key="+cmd", value="-5", confidence=0.5))
    export_records([rec], "csv", dest=tmp_path)
    rows = read_csv_rows(tmp_path / "documents.csv")
    (row,) = rows
    assert row["vendor_name"] == "'=1+2"
    assert row["invoice_id"] == "-12.50"  # a number stays a number
    assert row["po_number"] == "'@SUM(1)"
    assert row["payment_terms"] == "'\tNet"
    assert row["vendor_address"] == "'\r=2+2"
    assert row["customer_name"] == "'\ufffd=3"
    assert row["discount"] == "-1.00"
    for name in ("documents", "key_values"):
        df = pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        for value in df.to_numpy().ravel():
            if value and value[0] in "=+-@\t\r\0":
                assert value.lstrip("-+").replace(".", "", 1).isdigit(), value
    kv = read_csv_rows(tmp_path / "key_values.csv")[0]
    assert kv["key"] == "'+cmd" and kv["value"] == "-5"
    # every row survived the round trip (a bare CR must not split a row)
    assert len(pd.read_csv(tmp_path / "documents.csv", dtype=str)) == 1


def test_injection_json_keeps_raw_values(tmp_path: Path) -> None:
    export_records([invoice(vendor_name="=1+2")], "json", dest=tmp_path)
    data = json.loads((tmp_path / "tables.json").read_text())
    assert data["documents"][0]["vendor_name"] == "=1+2"


def test_injection_xlsx_cells_are_strings_not_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    export_records([invoice(vendor_name="=1+2", po_number="bad\x01char")], "xlsx", dest=tmp_path)
    ws = load_workbook(tmp_path / "tables.xlsx")["documents"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("vendor_name") + 1)
    assert cell.value == "=1+2" and cell.data_type == "s"
    assert ws.cell(row=2, column=header.index("po_number") + 1).value == "bad\ufffdchar"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_preset_csv_is_neutralized(tmp_path: Path) -> None:
    rec = invoice(vendor_name="=EVIL()", items=[item("+cmd", "1", "2.00", "2.00")])
    export_records([rec], "csv", dest=tmp_path, preset="xero-bills")
    (row,) = read_csv_rows(tmp_path / "xero-bills.csv")
    assert row["*ContactName"] == "'=EVIL()" and row["*Description"] == "'+cmd"


def test_to_csv_text_keeps_working_for_dataframes() -> None:
    import pandas as pd

    text = to_csv_text(pd.DataFrame({"a": ["=1", "-1.5", None]}))
    assert list(csv.reader(io.StringIO(text))) == [["a"], ["'=1"], ["-1.5"], [""]]


# --------------------------------------------------------------------------- exact decimals


def test_money_value_pads_to_currency_digits() -> None:
    assert str(money_value("1.5", "KWD")) == "1.500"
    assert str(money_value("12.345", "KWD")) == "12.345"
    assert str(money_value("1500", "JPY")) == "1500"
    assert str(money_value("0.1", "EUR")) == "0.10"
    assert str(money_value("0.125", "USD")) == "0.125"  # never rounded away
    assert money_value("not money", "USD") is None
    assert money_value("NaN") is None and money_value("Infinity") is None


def _tenth_records() -> list[Record]:
    items = [item(f"part {i}", "1", "0.1", "0.1") for i in range(3)]
    return [invoice(items=items, subtotal="0.3", total="0.3"),
            receipt("r1.jpg", "c", total="0.1"), receipt("r2.jpg", "d", total="0.2")]


def test_decimal_sums_are_exact_in_csv(tmp_path: Path) -> None:
    import pandas as pd

    export_records(_tenth_records(), "csv", dest=tmp_path)
    lines = read_csv_rows(tmp_path / "line_items.csv")
    assert sum((Decimal(r["amount"]) for r in lines), Decimal(0)) == Decimal("0.3")
    assert sum(float(r["amount"]) for r in lines) != 0.3  # what floats would have given
    df = pd.read_csv(tmp_path / "documents.csv", dtype=str)
    receipts = df[df.doc_type == "receipt"]["total"].map(Decimal)
    assert receipts.sum() == Decimal("0.3")
    assert set(df["total"]) == {"0.30", "0.10", "0.20"}


def test_decimal_sums_are_exact_in_json_and_jsonl(tmp_path: Path) -> None:
    export_records(_tenth_records(), "json", dest=tmp_path)
    data = json.loads((tmp_path / "tables.json").read_text())
    amounts = [r["amount"] for r in data["line_items"]]
    assert all(isinstance(a, str) for a in amounts)  # never a JSON number (a float to most readers)
    money = ("subtotal", "discount", "tax_total", "tip", "total", "amount_due")
    assert all(isinstance(r[m], str | None) for r in data["documents"] for m in money)
    assert sum(map(Decimal, amounts)) == Decimal("0.3")
    export_records(_tenth_records(), "jsonl", dest=tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "documents.jsonl").read_text().splitlines()]
    assert {r["total"] for r in rows} == {"0.30", "0.10", "0.20"}


def test_parquet_money_is_decimal128(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = invoice("big.pdf", "e", currency="KWD", total="12345678901234567.891",
                  items=[item("x", "0.123456", None, "1.5")])
    export_records([*_tenth_records(), big], "parquet", dest=tmp_path)
    docs = pq.read_table(tmp_path / "documents.parquet")
    assert docs.schema.field("total").type == pa.decimal128(38, 4)
    assert docs.schema.field("invoice_date").type == pa.date32()
    assert docs.schema.field("needs_review").type == pa.bool_()
    totals = dict(zip(docs.column("source").to_pylist(), docs.column("total").to_pylist(),
                      strict=True))
    assert totals["big.pdf"] == Decimal("12345678901234567.891")
    items = pq.read_table(tmp_path / "line_items.parquet")
    assert items.schema.field("quantity").type == pa.decimal128(38, 6)  # widened, not rounded
    assert Decimal("0.123456") in items.column("quantity").to_pylist()
    amounts = [a for s, a in zip(items.column("source").to_pylist(),
                                 items.column("amount").to_pylist(), strict=True) if s == "inv.pdf"]
    assert sum(amounts, Decimal(0)) == Decimal("0.3")


def test_xlsx_money_is_numeric_with_currency_places(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    export_records([invoice(currency="KWD", total="1.5")], "xlsx", dest=tmp_path)
    ws = load_workbook(tmp_path / "tables.xlsx")["documents"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("total") + 1)
    assert cell.data_type == "n" and Decimal(repr(cell.value)) == Decimal("1.5")
    assert cell.number_format == "#,##0.000"
    date = ws.cell(row=2, column=header.index("invoice_date") + 1)
    assert date.value.date().isoformat() == "2024-03-01"


def test_three_decimal_currency_in_presets(tmp_path: Path) -> None:
    rec = invoice(currency="KWD", subtotal="10", tax_total="0.5", total="10.5")
    export_records([rec], "csv", dest=tmp_path, preset="quickbooks-bills")
    (row,) = read_csv_rows(tmp_path / "quickbooks-bills.csv")
    assert row["Line Amount"] == "10.000" and row["Line Tax Amount"] == "0.500"
    assert row["Currency"] == "KWD"


# --------------------------------------------------------------------------- tables


def test_document_columns_are_stable_and_cover_the_vocabulary() -> None:
    assert sorted(DOCUMENT_FIELDS) == sorted(set(INVOICE_FIELDS) | set(RECEIPT_FIELDS))
    t = build_tables([invoice(), receipt()])
    assert list(t) == list(TABLES)
    names = t["documents"].names
    assert names[:8] == ["source", "sha256", "doc_type", "doc_type_confidence", "status",
                         "reason", "needs_review", "pages"]
    assert names[8:30] == list(DOCUMENT_FIELDS)
    assert names[30:52] == [f"{n}_confidence" for n in DOCUMENT_FIELDS]
    assert names[-1] == "errors"
    assert t["line_items"].names[:3] == ["source", "sha256", "line"]
    assert "currency" in t["line_items"].names  # one currency column per set of amounts
    assert [c for c in t["line_items"].names if c in LINE_ITEM_FIELDS] == list(LINE_ITEM_FIELDS)
    # same columns whatever the records hold
    assert build_tables([])["documents"].names == names


def test_rows_sorted_by_source_and_typed() -> None:
    t = build_tables([receipt("z.jpg", "c"), invoice("a.pdf", "d")])["documents"]
    assert [r[0] for r in t.rows] == ["a.pdf", "z.jpg"]
    row = t.dicts()[0]
    assert row["total"] == Decimal("10.00") and row["invoice_date"].isoformat() == "2024-03-01"
    assert row["needs_review"] is False


def test_invalid_values_become_empty_and_errors_say_why() -> None:
    rec = invoice(total="12,3O", invoice_date="2024-02-31")
    rec.errors.append(FieldError(field="total", code="invalid_amount", message="not an amount"))
    row = build_tables([rec])["documents"].dicts()[0]
    assert row["total"] is None and row["invoice_date"] is None
    assert row["errors"] == "total:invalid_amount"


def test_write_tables_keeps_the_ledger_outputs(tmp_path: Path) -> None:
    paths = write_tables([invoice(), receipt()], tmp_path)
    assert [p.name for p in paths] == ["documents.csv", "invoices.csv", "receipts.csv",
                                       "line_items.csv", "key_values.csv"]
    inv = read_csv_rows(tmp_path / "invoices.csv")
    assert [r["source"] for r in inv] == ["inv.pdf"]
    assert list(inv[0])[:4] == ["source", "sha256", "status", "needs_review"]
    assert list(inv[0])[4:4 + len(INVOICE_FIELDS)] == list(INVOICE_FIELDS)
    assert set(tables([invoice()])) == {"documents", "invoices", "receipts", "line_items",
                                        "key_values"}


def test_bom_for_excel(tmp_path: Path) -> None:
    export_records([receipt(merchant_name="Café")], "csv", dest=tmp_path, bom=True,
                   table="documents")
    raw = (tmp_path / "documents.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfsource,")
    assert read_csv_rows(tmp_path / "documents.csv")[0]["merchant_name"] == "Café"
    plain = csv_text(build_tables([receipt()])["documents"]).encode()
    assert not plain.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UsageError, match="CSV only"):
        export_records([receipt()], "json", dest=tmp_path, bom=True)


def test_to_file_and_folder(tmp_path: Path) -> None:
    recs = [invoice()]
    r = export_records(recs, "csv", dest=tmp_path, table="line_items", to=tmp_path / "x.csv")
    assert r.paths == [tmp_path / "x.csv"]
    with pytest.raises(UsageError, match="--table"):
        export_records(recs, "csv", dest=tmp_path, to=tmp_path / "all.csv")
    r = export_records(recs, "parquet", dest=tmp_path, to=tmp_path / "pq")
    assert sorted(p.name for p in r.paths) == ["documents.parquet", "key_values.parquet",
                                               "line_items.parquet"]
    r = export_records(recs, "xlsx", dest=tmp_path, to=tmp_path / "book.xlsx")
    assert r.paths == [tmp_path / "book.xlsx"]


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="known formats: csv, jsonl, json, parquet, xlsx"):
        export_records([], "xml", dest=tmp_path)
    with pytest.raises(UsageError, match="known tables"):
        export_records([], "csv", dest=tmp_path, table="nope")
    with pytest.raises(UsageError, match="presets only"):
        export_records([], "csv", dest=tmp_path, overrides={"a": "b"})


# --------------------------------------------------------------------------- only-valid / review


def test_only_valid_lists_every_left_out_document(tmp_path: Path) -> None:
    recs = [invoice("ok.pdf", "1"), invoice("rev.pdf", "2", Status.NEEDS_REVIEW),
            invoice("part.pdf", "3", Status.PARTIAL),
            Record(source="bad.pdf", sha256="4" * 64, status=Status.REJECTED, reason="empty_file",
                   message="the file is empty")]
    recs[1].errors.append(FieldError(field="total", code="arithmetic_mismatch",
                                     message="subtotal - discount + tax != total"))
    r = export_records(recs, "csv", dest=tmp_path, only_valid=True)
    assert [row["source"] for row in read_csv_rows(tmp_path / "documents.csv")] == ["ok.pdf"]
    review = {row["source"]: row for row in read_csv_rows(tmp_path / "review.csv")}
    assert set(review) == {"rev.pdf", "part.pdf", "bad.pdf"}
    assert review["rev.pdf"]["errors"] == "total:arithmetic_mismatch"
    assert "subtotal - discount + tax != total" in review["rev.pdf"]["details"]
    assert review["bad.pdf"]["details"] == "empty_file: the file is empty"
    assert review["part.pdf"]["details"] == "status partial"
    assert r.review == tmp_path / "review.csv" and len(r.excluded) == 3


def test_without_only_valid_tables_keep_everything(tmp_path: Path) -> None:
    recs = [invoice("ok.pdf", "1"), invoice("rev.pdf", "2", Status.NEEDS_REVIEW)]
    r = export_records(recs, "csv", dest=tmp_path)
    assert r.review is None and not (tmp_path / "review.csv").exists()
    rows = read_csv_rows(tmp_path / "documents.csv")
    assert [(x["source"], x["needs_review"]) for x in rows] == [("ok.pdf", "false"),
                                                                ("rev.pdf", "true")]


def test_review_csv_beside_the_to_file(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "bills.csv"
    recs = [invoice("ok.pdf", "1"), invoice("rev.pdf", "2", Status.NEEDS_REVIEW)]
    export_records(recs, "csv", dest=tmp_path, preset="xero-bills", only_valid=True, to=out)
    assert (tmp_path / "sub" / "review.csv").exists()
    assert [r["*InvoiceNumber"] for r in read_csv_rows(out)] == ["INV-1"]


# --------------------------------------------------------------------------- presets


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as err:
        get_preset("sage")
    for name in ("xero-bills", "quickbooks-bills", "expenses"):
        assert name in err.value.message
    assert known_presets() == ["expenses", "quickbooks-bills", "xero-bills"]


def test_xero_columns_follow_the_template() -> None:
    cols = [c.name for c in get_preset("xero-bills").columns]
    assert cols == [
        "*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3",
        "POAddressLine4", "POCity", "PORegion", "POPostalCode", "POCountry", "*InvoiceNumber",
        "*InvoiceDate", "*DueDate", "Total", "InventoryItemCode", "*Description", "*Quantity",
        "*UnitAmount", "Discount", "*AccountCode", "*TaxType", "TaxAmount", "TrackingName1",
        "TrackingOption1", "TrackingName2", "TrackingOption2", "Currency"]
    qb = [c.name for c in get_preset("quickbooks-bills").columns]
    assert qb == ["Bill No", "Supplier", "Bill Date", "Due Date", "Terms", "Location", "Memo",
                  "Account", "Line Description", "Line Amount", "Line Tax Code",
                  "Line Tax Amount", "Currency"]
    for name in known_presets():
        assert all(c.help for c in get_preset(name).columns), name  # every column documented


def test_xero_one_row_per_line_header_repeated(tmp_path: Path) -> None:
    rec = invoice(items=[item("A", "2", "1.25", "2.50"), item("B", None, None, "7.50")],
                  due_date=None, tax_total="2.00", subtotal="10.00", total="12.00")
    export_records([rec], "csv", dest=tmp_path, preset="xero-bills",
                   overrides={"AccountCode": "429", "*TaxType": "Tax on Purchases"})
    rows = read_csv_rows(tmp_path / "xero-bills.csv")
    assert [r["*Description"] for r in rows] == ["A", "B"]
    assert {r["*InvoiceNumber"] for r in rows} == {"INV-1"}
    assert [(r["*Quantity"], r["*UnitAmount"]) for r in rows] == [("2", "1.25"), ("1", "7.50")]
    assert {r["*InvoiceDate"] for r in rows} == {"01/03/2024"}
    assert {r["*DueDate"] for r in rows} == {"01/03/2024"}  # due on receipt when none printed
    assert {r["*AccountCode"] for r in rows} == {"429"}
    assert {r["*TaxType"] for r in rows} == {"Tax on Purchases"}
    assert {r["TaxAmount"] for r in rows} == {""}  # not split across several lines


def test_bill_without_line_items_gets_one_net_line(tmp_path: Path) -> None:
    cases = [({"subtotal": "8.00", "tax_total": "2.00", "total": "10.00"}, "8.00", "2.00"),
             ({"tax_total": "2.00", "total": "10.00"}, "8.00", "2.00"),
             ({"total": "10.00"}, "10.00", "")]
    for fields, unit, tax in cases:
        export_records([invoice(**fields)], "csv", dest=tmp_path, preset="xero-bills")
        (row,) = read_csv_rows(tmp_path / "xero-bills.csv")
        assert (row["*Quantity"], row["*UnitAmount"], row["TaxAmount"]) == ("1", unit, tax)
        assert row["*Description"] == "ACME"


def test_unit_price_derived_only_when_exact(tmp_path: Path) -> None:
    recs = [invoice("a.pdf", "1", items=[item("x", "4", None, "10.00")]),
            invoice("b.pdf", "2", items=[item("y", "3", None, "10.00")]),
            invoice("c.pdf", "3", items=[item("z", "2", "2.50", None)])]
    export_records(recs, "csv", dest=tmp_path, preset="xero-bills")
    rows = read_csv_rows(tmp_path / "xero-bills.csv")
    assert [(r["*Quantity"], r["*UnitAmount"]) for r in rows] == [
        ("4", "2.50"), ("1", "10.00"), ("2", "2.50")]
    export_records(recs, "csv", dest=tmp_path, preset="quickbooks-bills")
    assert [r["Line Amount"] for r in read_csv_rows(tmp_path / "quickbooks-bills.csv")] == [
        "10.00", "10.00", "5.00"]


def test_presets_pick_their_document_types(tmp_path: Path) -> None:
    recs = [invoice(), receipt()]
    export_records(recs, "csv", dest=tmp_path, preset="expenses")
    rows = read_csv_rows(tmp_path / "expenses.csv")
    assert [r["merchant"] for r in rows] == ["Cafe"]
    assert rows[0]["date"] == "2024-01-02" and rows[0]["source_file"] == "r.jpg"
    assert rows[0]["category"] == ""
    export_records(recs, "csv", dest=tmp_path, preset="quickbooks-bills")
    assert [r["Supplier"] for r in read_csv_rows(tmp_path / "quickbooks-bills.csv")] == ["ACME"]


def test_date_format_override(tmp_path: Path) -> None:
    export_records([invoice()], "csv", dest=tmp_path, preset="xero-bills",
                   date_format="%m/%d/%Y")
    assert read_csv_rows(tmp_path / "xero-bills.csv")[0]["*InvoiceDate"] == "03/01/2024"
    export_records([invoice()], "csv", dest=tmp_path, preset="xero-bills", date_format="iso")
    assert read_csv_rows(tmp_path / "xero-bills.csv")[0]["*InvoiceDate"] == "2024-03-01"
    with pytest.raises(UsageError, match="strftime"):
        export_records([invoice()], "csv", dest=tmp_path, preset="xero-bills",
                       date_format="dd/mm/yyyy")


def test_override_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no column 'Nope'.*\*ContactName"):
        export_records([invoice()], "csv", dest=tmp_path, preset="xero-bills",
                       overrides={"Nope": "1"})


CUSTOM_TOML = """
name = "my-erp"
rows = "line_items"
doc_types = ["invoice"]
date_format = "%d.%m.%Y"
decimal_separator = ","
csv_delimiter = ";"

[columns]
"Lieferant" = "vendor_name"
"Konto" = { value = "4000" }
"Fällig" = { field = ["due_date", "invoice_date"], format = "%Y%m%d" }
"Betrag" = "line.import_amount"
"Menge" = { field = "line.quantity", default = "1" }
"Datei" = "file_name"
"""


def test_custom_toml_preset(tmp_path: Path) -> None:
    path = tmp_path / "erp.toml"
    path.write_text(CUSTOM_TOML, encoding="utf-8")
    rec = invoice("sub/dir/x.pdf", items=[item("a", None, None, "1234.5")])
    r = export_records([rec, receipt()], "csv", dest=tmp_path, preset=str(path))
    assert r.paths == [tmp_path / "my-erp.csv"]
    text = r.paths[0].read_text(encoding="utf-8")
    assert text.splitlines()[0] == "Lieferant;Konto;Fällig;Betrag;Menge;Datei"
    assert text.splitlines()[1] == "ACME;4000;20240301;1234,50;1;x.pdf"


def test_custom_json_preset_list_form(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"columns": [
        {"name": "Date", "field": "transaction_date"},
        {"name": "Shop", "field": ["merchant_name", "vendor_name"]},
        {"name": "Amount", "field": "total"},
        {"name": "Review", "field": "needs_review"}]}), encoding="utf-8")
    p = load_preset_file(path)
    assert p.name == "p" and p.rows == "documents"
    export_records([invoice(), receipt()], "jsonl", dest=tmp_path, preset=p)
    rows = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows == [{"Date": None, "Shop": "ACME", "Amount": "10.00", "Review": False},
                    {"Date": "2024-01-02", "Shop": "Cafe", "Amount": "3.50", "Review": False}]


@pytest.mark.parametrize("data,match", [
    ({"columns": {"A": "no_such_field"}}, "unknown field 'no_such_field'"),
    ({"columns": {"A": "line.amount"}}, "rows is not 'line_items'"),
    ({"columns": {}}, "empty"),
    ({}, "'columns' is missing"),
    ({"rows": "pages", "columns": {"A": "total"}}, "rows must be one of"),
    ({"colums": {"A": "total"}}, "unknown keys colums"),
    ({"columns": {"A": {"fld": "total"}}}, "unknown keys: fld"),
    ({"columns": {"A": {"default": "1"}}}, "needs a 'field' or a 'value'"),
    ({"decimal_separator": ",", "csv_delimiter": ",", "columns": {"A": "total"}}, "separator"),
])
def test_invalid_custom_presets_say_what_is_wrong(data: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        parse_preset(data, "x")


def test_unreadable_preset_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("columns = [", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid TOML"):
        get_preset(str(bad))
    with pytest.raises(UsageError, match="cannot read"):
        get_preset(str(tmp_path / "missing.json"))


def test_every_builtin_source_resolves() -> None:
    """Each source name reads without error on a record with and without line items."""
    cols = {f"c{i}": name for i, name in enumerate(SOURCES)}
    p = parse_preset({"rows": "line_items", "columns": cols}, "all")
    t = p.table([invoice(items=[item("a", "1", "1.00", "1.00")]), invoice("b.pdf", "z")])
    assert len(t.rows) == 2 and len(t.rows[0]) == len(SOURCES)


# --------------------------------------------------------------------------- documentation


def _export_docs() -> str:
    root = Path(__file__).resolve().parents[2]
    for path in (root / "flows" / "EXPORT.md", root / "README.md"):
        if path.exists() and "Exporting to your accounting system" in path.read_text("utf-8"):
            return path.read_text("utf-8")
    pytest.skip("the export documentation section is not there")


def test_docs_describe_every_preset_column_and_table_column() -> None:
    docs = _export_docs()
    for name in known_presets():
        assert f"`{name}`" in docs
        for col in get_preset(name).columns:
            assert f"`{col.name}`" in docs, (name, col.name)
    for t in build_tables([]).values():
        for col in t.names:
            if not col.endswith("_confidence"):
                assert f"`{col}`" in docs, col


def test_docs_custom_preset_example_is_valid() -> None:
    import re
    import tomllib

    docs = _export_docs()
    block = re.search(r"```toml\n(# my-erp.toml.*?)```", docs, re.S)
    assert block is not None
    p = parse_preset(tomllib.loads(block.group(1)), "my-erp")
    t = p.table([invoice(items=[item("a", "2", "1.00", "2.00")])])
    assert t.rows and t.names[0] == "Lieferant"
