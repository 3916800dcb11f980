"""``docai export``, ``docai presets``, ``docai schema`` and ``docai process --format/--preset``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.ledger import Ledger
from schemas.record import Record, Status
from tests.conftest import make_text_pdf
from tests.golden.export_records import golden_records

runner = CliRunner()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder whose ledger holds the golden records, an outdated line and a torn one."""
    out = tmp_path / "out"
    ledger = Ledger(out)
    records = golden_records()
    stale = records[0].model_copy(update={"status": Status.FAILED, "reason": "crashed"})
    ledger.append(stale)  # superseded by the line below for the same sha256
    for r in records:
        ledger.append(r)
    with open(out / "ledger.jsonl", "a", encoding="utf-8") as f:
        f.write('{"source": "torn.pdf", "sha2')  # a write cut short by kill -9
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_export_default_csv_tables(out: Path) -> None:
    res = runner.invoke(app, ["export", str(out)])
    assert res.exit_code == 0, res.output
    docs = rows(out / "exports" / "documents.csv")
    assert len(docs) == len(golden_records())  # last line per key wins, torn line ignored
    by = {d["source"]: d for d in docs}
    assert by["invoices/acme_2024-001.pdf"]["status"] == "ok"
    assert by["invoices/kuwait.pdf"]["total"] == "13.125"
    assert (out / "exports" / "line_items.csv").exists()
    assert (out / "exports" / "key_values.csv").exists()
    assert "documents.csv (9 rows)" in res.output


@pytest.mark.parametrize("fmt,files", [
    ("jsonl", ["documents.jsonl", "key_values.jsonl", "line_items.jsonl"]),
    ("json", ["tables.json"]),
    ("parquet", ["documents.parquet", "key_values.parquet", "line_items.parquet"]),
    ("xlsx", ["tables.xlsx"]),
])
def test_export_formats(out: Path, fmt: str, files: list[str]) -> None:
    res = runner.invoke(app, ["export", str(out), "--format", fmt])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "exports").iterdir()) == files
    # the contract file in OUT is never overwritten by an export
    assert not (out / "documents.jsonl").exists()


def test_export_preset_with_options(out: Path, tmp_path: Path) -> None:
    target = tmp_path / "xero" / "bills.csv"
    res = runner.invoke(app, ["export", str(out), "--preset", "xero-bills", "--only-valid",
                              "--bom", "--to", str(target), "--set", "*AccountCode=429",
                              "--set", "TaxType=Tax on Purchases"])
    assert res.exit_code == 0, res.output
    assert target.read_bytes().startswith(b"\xef\xbb\xbf*ContactName,")
    bills = rows(target)
    assert {b["*InvoiceNumber"] for b in bills} == {"INV-2024-001", "KW-9"}
    assert {b["*AccountCode"] for b in bills} == {"429"}
    assert {b["*TaxType"] for b in bills} == {"Tax on Purchases"}
    review = {r["source"]: r for r in rows(target.parent / "review.csv")}
    assert set(review) == {"invoices/review_me.pdf", "broken.pdf", "crashed.tif"}
    assert "left out" in res.output and "note:" in res.output


@pytest.mark.parametrize("preset", ["quickbooks-bills", "expenses"])
def test_export_other_presets(out: Path, preset: str) -> None:
    res = runner.invoke(app, ["export", str(out), "-p", preset, "-f", "xlsx"])
    assert res.exit_code == 0, res.output
    assert (out / "exports" / f"{preset}.xlsx").stat().st_size > 0


def test_export_custom_preset_file(out: Path, tmp_path: Path) -> None:
    preset = tmp_path / "mine.toml"
    preset.write_text('doc_types = ["receipt"]\n[columns]\n"Shop" = "merchant_name"\n'
                      '"Paid" = "total"\n', encoding="utf-8")
    res = runner.invoke(app, ["export", str(out), "--preset", str(preset)])
    assert res.exit_code == 0, res.output
    got = rows(out / "exports" / "mine.csv")
    assert {"Shop": "Café Zürich", "Paid": "0.25"} in got


def test_export_usage_errors(out: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["export", str(out), "--preset", "sage"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "known presets: expenses, quickbooks-bills, xero-bills" in text
    res = runner.invoke(app, ["export", str(out), "--format", "xml"])
    assert res.exit_code == 2 and "known formats" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "empty")])
    assert res.exit_code == 2
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["export", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "docai process" in " ".join(res.output.split())
    res = runner.invoke(app, ["export", str(out), "--set", "AccountCode"])
    assert res.exit_code == 2


def test_export_reads_documents_jsonl_without_a_ledger(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    lines = [json.dumps(r.model_dump(mode="json")) for r in golden_records()]
    (out / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["export", str(out), "--preset", "expenses"])
    assert res.exit_code == 0, res.output
    assert len(rows(out / "exports" / "expenses.csv")) == 3


def test_console_script_exit_code(out: Path) -> None:
    """Through ``main()``: the documented exit code reaches the shell."""
    proc = subprocess.run([sys.executable, "-c", "from flows.cli import main; main()", "export",
                           str(out), "--preset", "nope"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "xero-bills" in proc.stderr


@pytest.mark.parametrize("model", ["invoice", "receipt", "record"])
def test_schema_command(model: str) -> None:
    import jsonschema

    res = runner.invoke(app, ["schema", model])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.output)
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    if model == "record":
        for r in golden_records():
            validator.validate(r.model_dump(mode="json"))
        assert not validator.is_valid({"source": "x", "status": "exploded"})
    else:
        from schemas.validate import to_model

        rec = golden_records()[0] if model == "invoice" else golden_records()[3]
        typed = to_model(rec.doc_type, rec.fields)
        assert typed is not None
        dumped = typed.model_dump(mode="json")
        assert isinstance(dumped["total"], str)  # money travels as a string
        validator.validate(dumped)
        assert schema["properties"]["total"]["anyOf"][0]["type"] == "string"


def test_schema_unknown_model() -> None:
    res = runner.invoke(app, ["schema", "bill"])
    assert res.exit_code == 2 and "invoice" in res.output


def test_presets_command() -> None:
    res = runner.invoke(app, ["presets"])
    assert res.exit_code == 0
    assert [line.split(":")[0] for line in res.output.splitlines()] == [
        "expenses", "quickbooks-bills", "xero-bills"]
    res = runner.invoke(app, ["presets", "xero-bills"])
    assert res.exit_code == 0 and "*AccountCode" in res.output and "--set" in res.output


def test_process_rejects_unknown_preset_before_the_batch(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_text_pdf(inbox / "a.pdf", [(72, 72, "Invoice")])
    res = runner.invoke(app, ["process", str(inbox), "--out", str(tmp_path / "o"),
                              "--no-prefect", "--preset", "sage"])
    assert res.exit_code != 0
    assert not (tmp_path / "o" / "ledger.jsonl").exists()  # nothing was processed


@pytest.mark.tesseract
def test_process_writes_the_export_at_the_end(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_text_pdf(inbox / "inv.pdf", [
        (72, 60, "ACME Supplies Ltd"), (350, 120, "INVOICE"),
        (350, 140, "Invoice No: INV-77"), (350, 156, "Invoice Date: 14/03/2024"),
        (400, 340, "Subtotal"), (490, 340, "50.00"), (400, 356, "VAT 20%"),
        (490, 356, "10.00"), (400, 372, "Total"), (490, 372, "60.00")])
    out = tmp_path / "o"
    res = runner.invoke(app, ["process", str(inbox), "--out", str(out), "--no-prefect", "-q",
                              "--workers", "1", "--format", "xlsx", "--preset", "xero-bills"])
    assert res.exit_code in (0, 3), res.output
    assert (out / "exports" / "xero-bills.xlsx").exists()
    from openpyxl import load_workbook

    ws = load_workbook(out / "exports" / "xero-bills.xlsx").worksheets[0]
    assert ws.cell(row=1, column=1).value == "*ContactName"
    recs = [Record.model_validate_json(x) for x in
            (out / "documents.jsonl").read_text().splitlines()]
    if recs[0].doc_type == "invoice":  # the extractor is another module's business
        assert ws.max_row >= 2
