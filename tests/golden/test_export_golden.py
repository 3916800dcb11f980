"""Golden tests for exports: every format and every preset on a fixed set of records.

CSV outputs are compared byte for byte with ``tests/golden/export/*.csv``; JSON with
``tables.json`` / ``presets.json``; JSON Lines, Parquet (pyarrow and pandas) and XLSX (openpyxl and
pandas) are read back and compared value by value with the JSON golden files, so all five formats
are held to the same expected content. Regenerate with ``DOCAI_UPDATE_GOLDEN=1`` and read the diff.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from extractors.export import FORMATS, TABLES, build_tables, export_records
from extractors.presets import get_preset, known_presets

from .export_records import golden_records

GOLDEN = Path(__file__).parent / "export"
UPDATE = os.environ.get("DOCAI_UPDATE_GOLDEN") == "1"
PRESETS = ("xero-bills", "quickbooks-bills", "expenses")


def _golden(name: str, produced: bytes) -> bytes:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(produced)
    if not path.exists():
        pytest.fail(f"missing golden file {path}: run with DOCAI_UPDATE_GOLDEN=1")
    return path.read_bytes()


def _kinds_of_tables() -> dict[str, dict[str, str]]:
    return {name: {c.name: c.kind for c in t.columns}
            for name, t in build_tables(golden_records()).items()}


def _kinds_of_preset(name: str) -> dict[str, str]:
    p = get_preset(name)
    return {c.name: c.kind for c in p.table([]).columns}


def _canon(value: Any, kind: str) -> Any:
    """One comparable form of a cell, whichever format it was read from."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    if kind in ("money", "decimal"):
        if isinstance(value, float):  # XLSX stores doubles: exact for the shortest repr
            value = repr(value)
        return Decimal(str(value)).normalize()
    if kind == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "float":
        return round(float(value), 4)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return str(value)


def _canon_rows(rows: list[dict[str, Any]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    return [{k: _canon(v, kinds[k]) for k, v in row.items()} for row in rows]


def _read_back(path: Path, fmt: str, sheet: str | None = None) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data[sheet] if isinstance(data, dict) and sheet else data
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if fmt == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path)
        ws = wb[sheet] if sheet else wb.worksheets[0]
        rows = list(ws.iter_rows())
        header = [c.value for c in rows[0]]
        for row in rows[1:]:
            for c in row:
                assert c.data_type != "f", "a cell was written as a formula"
        return [dict(zip(header, [c.value for c in row], strict=True)) for row in rows[1:]]
    raise AssertionError(fmt)


# ---------------------------------------------------------------------------------------------


def test_golden_csv_tables(tmp_path: Path) -> None:
    result = export_records(golden_records(), "csv", dest=tmp_path)
    assert [p.name for p in result.paths] == [f"{t}.csv" for t in TABLES]
    for p in result.paths:
        assert p.read_bytes() == _golden(p.name, p.read_bytes()), p.name
    assert result.review is None and result.excluded == []


def test_golden_json_tables(tmp_path: Path) -> None:
    result = export_records(golden_records(), "json", dest=tmp_path)
    (path,) = result.paths
    assert json.loads(path.read_bytes()) == json.loads(_golden("tables.json", path.read_bytes()))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "xlsx"])
def test_golden_tables_read_back(tmp_path: Path, fmt: str) -> None:
    expected = json.loads((GOLDEN / "tables.json").read_text(encoding="utf-8"))
    kinds = _kinds_of_tables()
    result = export_records(golden_records(), fmt, dest=tmp_path)
    for name in TABLES:
        if fmt == "xlsx":
            (path,) = result.paths
            got = _read_back(path, fmt, sheet=name)
        else:
            path = tmp_path / f"{name}.{fmt}"
            got = _read_back(path, fmt)
        want = expected[name]
        assert [list(r) for r in got] == [list(r) for r in want]  # column order
        assert _canon_rows(got, kinds[name]) == _canon_rows(want, kinds[name]), (fmt, name)


def test_golden_csv_matches_json_values(tmp_path: Path) -> None:
    """The CSV golden files say the same as the JSON golden, once the formula guard is undone."""
    expected = json.loads((GOLDEN / "tables.json").read_text(encoding="utf-8"))
    kinds = _kinds_of_tables()
    for name in TABLES:
        with open(GOLDEN / f"{name}.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        for row, want in zip(rows, expected[name], strict=True):
            for col, value in row.items():
                raw = want[col]
                if isinstance(raw, str) and value != raw:
                    assert value == "'" + raw and raw[0] in "=+-@\t\r", (name, col, value)
                else:
                    assert _canon(value, kinds[name][col]) == _canon(raw, kinds[name][col])


@pytest.mark.parametrize("preset", PRESETS)
def test_golden_presets_csv(tmp_path: Path, preset: str) -> None:
    result = export_records(golden_records(), "csv", dest=tmp_path, preset=preset)
    (path,) = result.paths
    assert path.name == f"{preset}.csv"
    assert path.read_bytes() == _golden(path.name, path.read_bytes())
    # rejected and failed documents have no data: always listed, never silently dropped
    assert {r.source for r in result.excluded} == {"broken.pdf", "crashed.tif"}
    review = (tmp_path / "review.csv").read_bytes()
    assert review == _golden("review_presets.csv", review)


def test_golden_presets_json(tmp_path: Path) -> None:
    produced = {}
    for preset in PRESETS:
        result = export_records(golden_records(), "json", dest=tmp_path, preset=preset)
        produced[preset] = json.loads(result.paths[0].read_text(encoding="utf-8"))
    text = (json.dumps(produced, ensure_ascii=False, indent=1) + "\n").encode()
    assert produced == json.loads(_golden("presets.json", text))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "xlsx"])
@pytest.mark.parametrize("preset", PRESETS)
def test_golden_presets_read_back(tmp_path: Path, preset: str, fmt: str) -> None:
    expected = json.loads((GOLDEN / "presets.json").read_text(encoding="utf-8"))[preset]
    kinds = _kinds_of_preset(preset)
    result = export_records(golden_records(), fmt, dest=tmp_path, preset=preset)
    got = _read_back(result.paths[0], fmt)
    assert [list(r) for r in got] == [list(r) for r in expected]
    assert _canon_rows(got, kinds) == _canon_rows(expected, kinds)


def test_golden_only_valid_review(tmp_path: Path) -> None:
    result = export_records(golden_records(), "csv", dest=tmp_path, only_valid=True)
    review = result.review
    assert review is not None and review.name == "review.csv"
    assert review.read_bytes() == _golden("review_only_valid.csv", review.read_bytes())
    with open(tmp_path / "documents.csv", encoding="utf-8", newline="") as f:
        kept = {r["source"] for r in csv.DictReader(f)}
    with open(review, encoding="utf-8", newline="") as f:
        left = {r["source"] for r in csv.DictReader(f)}
    assert kept.isdisjoint(left)
    assert kept | left == {r.source for r in golden_records()}  # nothing silently disappears
    assert left == {"invoices/review_me.pdf", "receipts/blurry.jpg", "broken.pdf", "crashed.tif"}


def test_pandas_reads_tables_with_exact_money(tmp_path: Path) -> None:
    import pandas as pd

    export_records(golden_records(), "parquet", dest=tmp_path)
    df = pd.read_parquet(tmp_path / "documents.parquet")
    totals = {s: t for s, t in zip(df["source"], df["total"], strict=True)}
    assert totals["invoices/kuwait.pdf"] == Decimal("13.125")
    assert isinstance(totals["receipts/cafe.jpg"], Decimal)
    export_records(golden_records(), "xlsx", dest=tmp_path)
    sheet = pd.read_excel(tmp_path / "tables.xlsx", sheet_name="line_items", dtype=object)
    assert list(sheet.columns) == list(build_tables(golden_records())["line_items"].names)
    assert str(sheet.loc[0, "description"]) == "Widget, blue"


def test_presets_are_all_covered() -> None:
    assert set(PRESETS) == set(known_presets())
    assert set(FORMATS) == {"csv", "jsonl", "json", "parquet", "xlsx"}
