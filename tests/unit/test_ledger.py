from __future__ import annotations

import json
from pathlib import Path

from flows.ledger import Ledger
from schemas.fields import Field
from schemas.record import Record, Status


def rec(sha: str, status: Status = Status.OK, source: str = "a.pdf", h: str = "s1") -> Record:
    return Record(source=source, sha256=sha, status=status, settings_hash=h, doc_type="receipt",
                  fields={"total": Field(value="9.00", text="9.00", confidence=0.9)})


def test_last_record_wins_and_torn_lines_are_ignored(tmp_path: Path) -> None:
    led = Ledger(tmp_path)
    led.append(rec("aa", Status.FAILED))
    led.append(rec("aa", Status.OK))
    with open(led.path, "a", encoding="utf-8") as f:
        f.write('{"source": "b.pdf", "sha2')  # a kill -9 in the middle of a write
    led.append(rec("bb", source="b.pdf"))
    got = led.load()
    assert set(got) == {"aa", "bb"}
    assert got["aa"].status == Status.OK
    # the record written after the torn line is intact on its own line
    assert led.path.read_text().splitlines()[-1].startswith('{"source":"b.pdf"')


def test_is_done_depends_on_settings_and_status(tmp_path: Path) -> None:
    led = Ledger(tmp_path)
    led.append(rec("aa", Status.OK, h="s1"))
    led.append(rec("ff", Status.FAILED, h="s1"))
    got = led.load()
    assert led.is_done(got, "aa", "s1")
    assert not led.is_done(got, "aa", "s2")  # settings changed → reprocess
    assert not led.is_done(got, "ff", "s1")  # failed is retried
    assert not led.is_done(got, "zz", "s1")


def test_outputs_are_rebuilt_atomically_and_sorted(tmp_path: Path) -> None:
    led = Ledger(tmp_path)
    (tmp_path / ".documents.jsonl.x.docai.tmp").write_text("stale")
    led = Ledger(tmp_path)  # opening the ledger cleans stale temp files
    paths = led.write_outputs([rec("bb", source="z.pdf"), rec("aa", source="a.pdf")])
    assert not list(tmp_path.glob("*.tmp"))
    rows = [json.loads(x) for x in (tmp_path / "documents.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["a.pdf", "z.pdf"]
    assert rows[0]["fields"]["total"]["value"] == "9.00"
    assert {p.name for p in paths} >= {"documents.jsonl", "receipts.csv", "invoices.csv",
                                       "line_items.csv", "key_values.csv"}
