"""The flow under Prefect: transient retries, Dask on a LocalCluster, the gpu limit, CLI exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractors.settings import Settings
from tests.flows.conftest import make_inbox


def test_transient_errors_are_retried_rejected_inputs_are_not(
        prefect_harness, fake_engines, fake_dir: Path, tmp_path: Path) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.process import process_folder

    inbox = make_inbox(tmp_path / "in", 2)
    out = tmp_path / "out"
    flow = process_folder.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))
    counts = flow([str(inbox)], str(out),
                  Settings(workers=2, classify_engine="fake-flaky").model_dump_json())
    assert counts["ok"] == 2 and counts["rejected"] == 1
    # each good document failed once with a TransientError and was retried by Prefect
    assert len(list(fake_dir.glob("flaky-*"))) == 4
    rows = [json.loads(x) for x in (out / "ledger.jsonl").read_text().splitlines()]
    assert len(rows) == 3  # the failed first attempts never reached the ledger
    assert {r["status"] for r in rows} == {"ok", "rejected"}


def test_dask_task_runner_on_a_local_cluster(prefect_harness, tmp_path: Path) -> None:
    pytest.importorskip("prefect_dask")
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from flows.process import make_task_runner, process_folder

    assert isinstance(make_task_runner("dask", 2), DaskTaskRunner)
    inbox = make_inbox(tmp_path / "in", 3)
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        runner = make_task_runner("dask", 2, dask_address=cluster.scheduler_address)
        counts = process_folder.with_options(task_runner=runner)(
            [str(inbox)], str(out), Settings(workers=2).model_dump_json())
    assert counts["ok"] == 3 and counts["rejected"] == 1
    rows = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()]
    assert sorted(r["source"] for r in rows) == ["bad.pdf", "inv_000.pdf", "inv_001.pdf",
                                                 "inv_002.pdf"]


def test_gpu_guard_holds_a_slot_of_the_global_limit(prefect_harness) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from extractors import hooks
    from flows.gpu import install, uninstall

    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="gpu-test", limit=1))
        install("gpu-test")
        try:
            with hooks.model_call():
                inside = client.read_global_concurrency_limit_by_name("gpu-test").active_slots
        finally:
            uninstall()
        after = client.read_global_concurrency_limit_by_name("gpu-test").active_slots
    assert (inside, after) == (1, 0)


def test_cli_exit_codes(tmp_path: Path) -> None:
    from flows.cli import app

    inbox = make_inbox(tmp_path / "in", 1, bad=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["process", str(inbox), "--out", str(tmp_path / "o1"), "--no-prefect",
                             "-q", "-j", "1"])
    assert ok.exit_code == 0, ok.output
    (inbox / "bad.pdf").write_bytes(b"not a document")
    bad = runner.invoke(app, ["process", str(inbox), "--out", str(tmp_path / "o2"),
                              "--no-prefect", "-q", "-j", "1", "--isolation", "none"])
    assert bad.exit_code == 3
    usage = runner.invoke(app, ["process", str(inbox), "--out", str(tmp_path / "o3"),
                                "--dask-address", "tcp://x:1"])
    assert usage.exit_code == 2
    watch = runner.invoke(app, ["watch", str(inbox), "--out", str(tmp_path / "o4"), "--once",
                                "--poll", "0.05", "--no-prefect", "--isolation", "none"])
    assert watch.exit_code == 3, watch.output
    assert len((tmp_path / "o4" / "ledger.jsonl").read_text().splitlines()) == 2
