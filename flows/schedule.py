"""Schedules: the folder flow as Prefect deployments (``docai serve``, ``prefect.yaml``).

``docai serve INPUT... --out OUT --cron "0 2 * * *"`` builds one deployment of
:func:`flows.process.process_folder` with that schedule and serves it (``prefect.serve``): the
process stays up, Prefect creates a run at each scheduled time and this process executes it.
Several jobs (different inboxes, outputs, times or settings) come from a config file::

    # docai-jobs.toml
    [[job]]
    name = "inbox-nightly"
    inputs = ["/data/inbox"]
    out = "/data/out"
    cron = "0 2 * * *"
    timezone = "Europe/Berlin"
    options = { lang = "eng+deu", workers = 4 }

    [[job]]
    name = "receipts-hourly"
    inputs = ["/data/receipts"]
    out = "/data/out-receipts"
    interval_s = 3600

(``.yaml``/``.yml`` files hold the same as ``jobs: [...]``). For a Prefect server with work
pools and workers, see ``prefect.yaml`` and the README ("Running docai in production").
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractors.errors import UsageError
from extractors.settings import Settings

__all__ = ["Job", "build_deployments", "load_jobs", "local_server", "serve_jobs"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass
class Job:
    """One scheduled batch: what to process, where to, when, and with which settings."""

    name: str
    inputs: list[str]
    out: str
    cron: str | None = None
    interval_s: float | None = None
    timezone: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    all_files: bool = False
    move: bool = False
    paused: bool = False

    def validate(self) -> Job:
        """Check names, paths, the schedule and the settings overrides.

        Raises:
            UsageError: with a readable message.
        """
        if not _NAME_RE.match(self.name):
            raise UsageError(f"job name {self.name!r}: letters, digits, '-', '_' and '.' only")
        if not self.inputs or not self.out:
            raise UsageError(f"job {self.name}: needs inputs and out")
        if (self.cron is None) == (self.interval_s is None):
            raise UsageError(f"job {self.name}: give exactly one of cron or interval_s")
        if self.cron is not None:
            from prefect.schedules import validate_cron_string

            try:
                validate_cron_string(self.cron)
            except ValueError as exc:
                raise UsageError(f"job {self.name}: invalid cron {self.cron!r}") from exc
        if self.interval_s is not None and self.interval_s <= 0:
            raise UsageError(f"job {self.name}: interval_s must be positive")
        try:
            Settings(**self.options)
        except Exception as exc:
            raise UsageError(f"job {self.name}: invalid options ({type(exc).__name__})") from exc
        return self

    def parameters(self) -> dict[str, Any]:
        """The flow run's parameters (absolute paths: runs may start in another directory)."""
        return {"inputs": [str(Path(p).expanduser().absolute()) for p in self.inputs],
                "out": str(Path(self.out).expanduser().absolute()),
                "options": dict(self.options) or None, "all_files": self.all_files,
                "move": self.move}


def load_jobs(path: str | Path) -> list[Job]:
    """Jobs from a TOML (``[[job]]`` tables) or YAML (``jobs:`` list) file.

    Raises:
        UsageError: unreadable file, unknown keys or invalid values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path.name}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
            items = data.get("jobs", data.get("job", [])) if isinstance(data, dict) else data
        else:
            items = tomllib.loads(text).get("job", [])
    except Exception as exc:
        raise UsageError(f"{path.name} is not valid {path.suffix.lstrip('.') or 'toml'}") from exc
    if not isinstance(items, list) or not items:
        raise UsageError(f"{path.name}: no jobs (expected [[job]] tables or a jobs: list)")
    jobs = []
    for item in items:
        if not isinstance(item, dict):
            raise UsageError(f"{path.name}: each job must be a table/mapping")
        try:
            job = Job(**item)
        except TypeError as exc:
            raise UsageError(f"{path.name}: {exc}") from exc
        if isinstance(job.inputs, str):
            job.inputs = [job.inputs]
        jobs.append(job.validate())
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise UsageError(f"{path.name}: job names must be unique")
    return jobs


def build_deployments(jobs: Sequence[Job]) -> list[Any]:
    """One :class:`prefect.deployments.runner.RunnerDeployment` per job (nothing is contacted).

    The entrypoint is the module path ``flows.process.process_folder``, so runs work from any
    working directory where docai is installed.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron, Interval

    from extractors.settings import PIPELINE_VERSION
    from flows.process import process_folder

    deployments = []
    for job in jobs:
        job.validate()
        schedule = (Cron(job.cron, timezone=job.timezone) if job.cron is not None
                    else Interval(float(job.interval_s or 0), timezone=job.timezone))
        deployments.append(process_folder.to_deployment(
            name=job.name, schedules=[schedule], parameters=job.parameters(),
            paused=job.paused, tags=["docai"], version=PIPELINE_VERSION,
            description=f"docai: {', '.join(job.inputs)} -> {job.out}",
            entrypoint_type=EntrypointType.MODULE_PATH,
        ))
    return deployments


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment or the Prefect profile (None: ephemeral mode)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


@contextlib.contextmanager
def local_server(*, startup_timeout_s: float = 180.0,
                 log_path: Path | None = None) -> Iterator[str]:
    """The configured Prefect API, or a ``prefect server start`` subprocess for the duration.

    Prefect's temporary (ephemeral) API runs no scheduler, so schedules would never fire without
    a real server: when ``PREFECT_API_URL`` is not set, one is started on a free local port
    (its database is Prefect's default, ``~/.prefect/prefect.db``, so the runs stay visible
    after a restart).

    Raises:
        DependencyMissing: the server did not come up.
    """
    url = configured_api_url()
    if url:
        yield url
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from extractors.errors import DependencyMissing
    from flows.api_server import free_port, wait_healthy

    port = free_port()
    exe = Path(sys.executable).with_name("prefect")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "prefect"]
    cmd += ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    sink = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(url, proc, startup_timeout_s, poll_s=0.5)
        logging.getLogger("docai.schedule").warning(
            "PREFECT_API_URL is not set: started a local Prefect server for this process "
            "(UI: http://127.0.0.1:%d)", port)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            os.environ["PREFECT_API_URL"] = url  # for flow-run subprocesses
            try:
                yield url
            finally:
                os.environ.pop("PREFECT_API_URL", None)
    except TimeoutError as exc:
        raise DependencyMissing("the local Prefect server did not start; run `prefect server "
                                "start` yourself and set PREFECT_API_URL",
                                reason="prefect_server", stage="startup") from exc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            sink.close()  # type: ignore[union-attr]


def serve_jobs(jobs: Sequence[Job], *, limit: int | None = None) -> None:
    """Serve the jobs' deployments until interrupted (blocks; runs start on schedule).

    Uses ``PREFECT_API_URL`` when set; otherwise starts a local Prefect server for as long as
    this runs (see :func:`local_server`).
    """
    from prefect import serve

    deployments = build_deployments(jobs)
    with local_server():
        serve(*deployments, limit=limit, print_starting_message=True)
