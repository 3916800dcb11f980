"""docai watch: a file written slowly is processed once, when complete; restarts are safe."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from extractors.settings import Settings
from flows.watch import Watcher, looks_complete
from tests.conftest import make_text_pdf
from tests.flows.conftest import invoice_lines


def _ledger_rows(out: Path) -> list[dict]:
    path = out / "ledger.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_end_markers(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", invoice_lines(1))
    data = pdf.read_bytes()
    assert looks_complete(pdf)
    half = tmp_path / "half.pdf"
    half.write_bytes(data[: len(data) // 2])
    assert not looks_complete(half)
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert not looks_complete(tmp_path / "empty.pdf")


def test_slowly_written_file_is_processed_once_complete(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    data = make_text_pdf(tmp_path / "src.pdf", invoice_lines(7)).read_bytes()
    target = inbox / "arriving.pdf"

    def writer() -> None:  # half, a pause longer than several polls, then the rest
        with open(target, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(1.2)
            f.write(data[len(data) // 2:])

    s = Settings(workers=1)
    batches: list[dict[str, int]] = []
    w = Watcher([inbox], out, s, poll_s=0.1, use_prefect=False, isolate=False,
                on_batch=batches.append)
    t = threading.Thread(target=writer)
    t.start()
    stop = threading.Event()
    runner = threading.Thread(target=w.run, kwargs={"stop": stop})
    runner.start()
    deadline = time.monotonic() + 30
    while not _ledger_rows(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few more polls: nothing may be processed twice
    stop.set()
    runner.join(10)
    t.join()
    rows = _ledger_rows(out)
    assert len(rows) == 1, rows
    assert rows[0]["status"] == "ok" and rows[0]["fields"]["invoice_id"]["value"] == "INV-0007"
    assert batches == [batches[0]] and batches[0]["ok"] == 1
    assert not (out / "quarantine").exists()  # never seen as a corrupt half file

    # a second file arrives, then the watcher is restarted: one record each, nothing redone
    make_text_pdf(inbox / "second.pdf", invoice_lines(8))
    again = Watcher([inbox], out, s, poll_s=0.05, use_prefect=False, isolate=False)
    again.run(until_idle=True, max_cycles=100)
    rows = _ledger_rows(out)
    assert sorted(r["source"] for r in rows) == ["arriving.pdf", "second.pdf"]
    docs = (out / "documents.jsonl").read_text().splitlines()
    assert len(docs) == 2  # the exports list everything the watcher has processed
