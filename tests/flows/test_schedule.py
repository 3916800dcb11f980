"""docai serve: deployments with schedules, built without blocking."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractors.errors import UsageError
from flows.schedule import Job, build_deployments, load_jobs


def test_cron_job_becomes_a_deployment_with_its_schedule(tmp_path: Path) -> None:
    job = Job(name="nightly", inputs=[str(tmp_path / "in")], out=str(tmp_path / "out"),
              cron="0 2 * * *", timezone="Europe/Berlin", options={"lang": "eng+deu"})
    (dep,) = build_deployments([job])
    (sched,) = dep.schedules
    assert sched.schedule.cron == "0 2 * * *" and sched.schedule.timezone == "Europe/Berlin"
    assert dep.name == "nightly" and dep.entrypoint == "flows.process.process_folder"
    assert dep.parameters["inputs"] == [str(tmp_path / "in")]
    assert dep.parameters["options"] == {"lang": "eng+deu"}


def test_config_file_with_several_jobs(tmp_path: Path) -> None:
    cfg = tmp_path / "jobs.toml"
    cfg.write_text('''
[[job]]
name = "inbox-nightly"
inputs = ["in"]
out = "out"
cron = "30 1 * * 1-5"

[[job]]
name = "receipts-hourly"
inputs = "receipts"
out = "out2"
interval_s = 3600
options = { workers = 2 }
''')
    deps = build_deployments(load_jobs(cfg))
    assert [d.name for d in deps] == ["inbox-nightly", "receipts-hourly"]
    assert deps[0].schedules[0].schedule.cron == "30 1 * * 1-5"
    assert deps[1].schedules[0].schedule.interval.total_seconds() == 3600
    assert Path(deps[1].parameters["inputs"][0]).is_absolute()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[job]]\nname = "x"\ninputs = ["in"]\nout = "o"\ncron = "every day"\n')
    with pytest.raises(UsageError):
        load_jobs(bad)
    both = tmp_path / "both.toml"
    both.write_text('[[job]]\nname = "x"\ninputs = ["in"]\nout = "o"\ncron = "0 2 * * *"\n'
                    'interval_s = 60\n')
    with pytest.raises(UsageError):
        load_jobs(both)


def test_serve_dry_run_prints_the_deployment_and_returns(tmp_path: Path) -> None:
    from flows.cli import app

    (tmp_path / "in").mkdir()
    res = CliRunner().invoke(app, ["serve", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                                   "--cron", "0 2 * * *", "--name", "nightly", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "nightly" in res.output and "0 2 * * *" in res.output
    res = CliRunner().invoke(app, ["serve", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                                   "--cron", "not a cron", "--dry-run"])
    assert res.exit_code == 2


def test_deployment_registers_with_the_prefect_api(prefect_harness, tmp_path: Path) -> None:
    from prefect import get_client

    job = Job(name="nightly-test", inputs=[str(tmp_path)], out=str(tmp_path / "o"),
              cron="0 2 * * *")
    (dep,) = build_deployments([job])
    dep_id = dep.apply()  # what `serve` does first, before it starts polling (which blocks)
    with get_client(sync_client=True) as client:
        got = client.read_deployment(dep_id)
    assert got.name == "nightly-test"
    assert [s.schedule.cron for s in got.schedules] == ["0 2 * * *"]
    assert got.parameters["out"] == str(tmp_path / "o")


def test_prefect_yaml_deployments_point_at_the_flow_with_valid_parameters() -> None:
    import yaml
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import validate_cron_string

    from tests.conftest import REPO

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert spec["deployments"]
    for dep in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(REPO / dep["entrypoint"]))
        assert flow.name == "docai-process"
        flow.validate_parameters(dep["parameters"])  # raises on unknown or mistyped parameters
        for sched in dep["schedules"]:
            if "cron" in sched:
                validate_cron_string(sched["cron"])
            else:
                assert sched["interval"] > 0
        assert dep["work_pool"]["name"] == "docai"
