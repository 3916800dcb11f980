"""Process isolation: crashes and hangs fail one document, never the batch."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from extractors.settings import Settings
from flows import worker
from flows.process import run_batch
from tests.flows import fakes
from tests.flows.conftest import make_inbox


@pytest.fixture(autouse=True)
def _stop_workers():
    yield
    worker.shutdown_workers(kill=True)


def test_crashing_worker_is_retried_once_then_poison_and_the_batch_goes_on(
        fake_engines, fake_dir: Path, white_png: Path, tmp_path: Path) -> None:
    inbox = make_inbox(tmp_path / "in", 2, bad=False)
    shutil.copy(white_png, inbox / "crash.png")
    out = tmp_path / "out"
    s = Settings(workers=2, ocr_engine="fake-killer")  # two documents at a time
    result = run_batch([inbox], out, s, isolate=True)
    by = {r.source: r for r in result.records}
    assert set(by) == {"crash.png", "inv_000.pdf", "inv_001.pdf"}
    assert by["inv_000.pdf"].status.value == "ok" and by["inv_001.pdf"].status.value == "ok"
    crash = by["crash.png"]
    assert (crash.status.value, crash.reason) == ("failed", "poison")
    assert len(list(fake_dir.glob("kill.*"))) == 2  # first try + one retry in a fresh process
    kept = out / "quarantine" / "poison" / f"{crash.sha256}.png"
    assert kept.read_bytes() == (inbox / "crash.png").read_bytes()  # copied, original kept
    side = json.loads(kept.with_suffix(".json").read_text())
    assert side["reason"] == "poison" and side["stage"] == "worker"
    # poison is final for these settings: a re-run does not crash the worker again
    again = run_batch([inbox], out, s, isolate=True)
    assert sorted(again.skipped) == ["crash.png", "inv_000.pdf", "inv_001.pdf"]
    assert len(list(fake_dir.glob("kill.*"))) == 2
    lines = (out / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_a_single_crash_is_retried_in_a_fresh_process(fake_engines, fake_dir: Path,
                                                      white_png: Path, tmp_path: Path) -> None:
    s = Settings(workers=1, ocr_engine="fake-crash-once")
    result = run_batch([white_png], tmp_path / "out", s, isolate=True)
    (rec,) = result.records
    assert rec.status.value == "needs_review" and rec.reason is None  # blank page, no crash
    assert len(list(fake_dir.glob("attempt.*"))) == 2


def test_hung_worker_is_killed_and_the_slot_recovers() -> None:
    with worker.worker_slot(Settings(workers=1)) as slot:
        first = slot.call(fakes.pid)["pid"]
        t0 = time.monotonic()
        with pytest.raises(worker.WorkerHung):
            slot.call(time.sleep, 60, idle_timeout_s=1.0)
        assert time.monotonic() - t0 < 10
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # the hung process is gone (killed and reaped)
        assert slot.call(fakes.pid)["pid"] != first


def test_worker_recycling_and_pillow_limit_set_only_in_workers() -> None:
    from PIL import Image

    parent_limit = Image.MAX_IMAGE_PIXELS
    s = Settings(workers=1, max_page_pixels=1234567)
    slot = worker.WorkerSlot(s, max_tasks=2)
    try:
        seen = [slot.call(fakes.pil_limit) for _ in range(4)]
    finally:
        slot.close()
    assert {x["limit"] for x in seen} == {1234567}
    assert parent_limit == Image.MAX_IMAGE_PIXELS  # the parent is left alone
    pids = [x["pid"] for x in seen]
    assert pids[0] == pids[1] != pids[2] == pids[3]  # a fresh process after max_tasks documents
