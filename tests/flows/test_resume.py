"""kill -9 in the middle of a batch, then the same command again: one record per input and
exports byte-identical to an uninterrupted run; a plain re-run skips everything."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from extractors.settings import Settings
from schemas.record import Record
from tests.conftest import REPO
from tests.flows.conftest import make_inbox

EXPORTS = ("documents.jsonl", "invoices.csv", "receipts.csv", "line_items.csv", "key_values.csv")


def _complete_lines(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    return ledger.read_bytes().count(b"\n")


def _exports(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in EXPORTS}


def _flow(inbox: Path, out: Path, settings: Settings) -> dict[str, int]:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.process import process_folder

    flow = process_folder.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))
    return flow([str(inbox)], str(out), settings.model_dump_json())


def test_kill_9_mid_batch_then_rerun_matches_an_uninterrupted_run(
        prefect_harness, fake_engines, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    inbox = make_inbox(tmp_path / "in", 8, duplicate=True)  # 8 invoices + bad.pdf + a copy
    out = tmp_path / "out"
    settings = Settings(workers=1, classify_engine="fake-slow")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "DOCAI_FAKE_SLEEP": "0.4", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tests.flows.fakes", "process", str(inbox), "--out", str(out),
           "-j", "1", "--classify-engine", "fake-slow", "-q"]
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _complete_lines(out / "ledger.jsonl") < 2:
            assert child.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)  # kill -9 the docai process (not its workers)
        child.wait(30)
        done_before = _complete_lines(out / "ledger.jsonl")
        assert 2 <= done_before < 9
        assert not (out / "documents.jsonl").exists()  # the batch never got to its exports

        counts = _flow(inbox, out, settings)  # the same command again
        assert counts["skipped"] >= done_before
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # orphaned workers, if any are left
    clean = tmp_path / "clean"
    _flow(inbox, clean, settings)
    assert _exports(out) == _exports(clean)
    rows = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()]
    assert len(rows) == 10  # one row per input file, the copy included
    keys = []
    for line in (out / "ledger.jsonl").read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line torn by the kill is ignored by the ledger
            keys.append(Record.model_validate_json(line).sha256)
    assert len(keys) == len(set(keys)) == 9  # exactly one record per content, no duplicates

    again = _flow(inbox, out, settings)  # a plain re-run: nothing to do, said so
    assert again["skipped"] == 10 and again["processed"] == 0
    assert _exports(out) == _exports(clean)
