"""Quarantine layout: OUT/quarantine/<reason>/<sha256>.<ext> + sidecar; copy by default, --move."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from extractors.settings import Settings
from flows.process import run_batch
from tests.flows.conftest import make_inbox

SENTINEL = "PII-SENTINEL-7731"


def _inbox(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    inbox = make_inbox(tmp_path / "in", 1, bad=False)
    files = {
        "inv\u202efdp.exe.pdf": f"<html>{SENTINEL}</html>".encode(),  # RTL override, wrong type
        "empty.pdf": b"",
        "sub/trunc.pdf": b"%PDF-1.7\n%%EOF\n",
    }
    for name, data in files.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)
    return inbox, files


def test_rejected_inputs_are_copied_with_a_sidecar(tmp_path: Path, caplog) -> None:
    inbox, files = _inbox(tmp_path)
    out = tmp_path / "out"
    caplog.set_level("DEBUG")
    result = run_batch([inbox], out, Settings(workers=1))
    reasons = {r.source: r.reason for r in result.records if r.status.value == "rejected"}
    assert set(reasons.values()) >= {"unsupported_type", "empty_file"}
    q = out / "quarantine"
    for name, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        hits = list(q.glob(f"*/{sha}.*"))
        ext = ".pdf" if data.startswith(b"%PDF") else ".bin"  # from the bytes, not the name
        assert {p.suffix for p in hits} == {".json", ext}, hits
        kept = next(p for p in hits if p.suffix != ".json")
        assert kept.read_bytes() == data
        assert (inbox / name).read_bytes() == data  # the original is untouched (no --move)
        side = json.loads(kept.with_suffix(".json").read_text(encoding="utf-8"))
        assert side["sha256"] == sha and side["reason"] == kept.parent.name
        assert side["stage"] and side["pipeline_version"] and side["quarantined_at"]
        assert side["moved"] is False
        assert "\u202e" not in side["original_name"] and "/" not in side["original_name"]
        assert SENTINEL not in json.dumps(side)
    # every file under quarantine is named by sha256, never by the (hostile) input name
    for p in q.rglob("*"):
        if p.is_file():
            assert len(p.stem) == 64 and all(c in "0123456789abcdef" for c in p.stem)
    assert SENTINEL not in caplog.text
    good = [r for r in result.records if r.source == "inv_000.pdf"]
    assert good[0].status.value == "ok"
    assert not list((q).glob(f"*/{good[0].sha256}.*"))


def test_move_takes_rejected_inputs_out_of_the_inbox(tmp_path: Path) -> None:
    inbox, files = _inbox(tmp_path)
    out = tmp_path / "out"
    run_batch([inbox], out, Settings(workers=1), move=True)
    for name, data in files.items():
        assert not (inbox / name).exists()
        sha = hashlib.sha256(data).hexdigest()
        (side,) = (out / "quarantine").glob(f"*/{sha}.json")
        assert json.loads(side.read_text())["moved"] is True
        assert [p for p in side.parent.glob(f"{sha}.*") if p.suffix != ".json"][0].read_bytes() == data
    assert (inbox / "inv_000.pdf").exists()  # good documents stay where they are
    # the ledger still lists them, so the exports keep their rows
    rows = [json.loads(x) for x in (out / "ledger.jsonl").read_text().splitlines()]
    assert len(rows) == 4
