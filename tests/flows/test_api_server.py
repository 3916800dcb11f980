"""The early-started temporary Prefect API server of ``docai process``."""

from __future__ import annotations

import os
import subprocess

import pytest

from flows import api_server
from flows.api_server import early_api_server, profile_api_url


def test_profile_api_url_reads_env_then_the_active_profile(tmp_path) -> None:
    prof = tmp_path / "profiles.toml"
    prof.write_text('active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://h:4200/api"\n'
                    '[profiles.ephemeral]\n')
    env = {"PREFECT_HOME": str(tmp_path)}
    assert profile_api_url(env) == "http://h:4200/api"
    assert profile_api_url({**env, "PREFECT_PROFILE": "ephemeral"}) is None
    assert profile_api_url({**env, "PREFECT_API_URL": "http://x/api"}) == "http://x/api"
    assert profile_api_url({"PREFECT_HOME": str(tmp_path / "none")}) is None
    prof.write_text("not toml [")
    assert profile_api_url(env) is None


def test_nothing_is_started_when_disabled_or_an_api_is_configured(monkeypatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(api_server.subprocess, "Popen", lambda *a, **k: started.append(a))
    with early_api_server(enabled=False) as ready:
        ready()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with early_api_server() as ready:
        ready()
    assert started == []


def test_server_comes_up_is_used_and_is_stopped(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # its own database, no profile
    procs: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def spy(*a, **k):  # noqa: ANN002, ANN003
        p = real(*a, **k)
        procs.append(p)
        return p

    monkeypatch.setattr(api_server.subprocess, "Popen", spy)
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        pytest.skip("a Prefect API is configured in this test session")
    with early_api_server() as ready:
        ready()
        url = os.environ.get("PREFECT_API_URL")
        assert url and url.startswith("http://127.0.0.1:")
        assert get_current_settings().api.url == url
        assert api_server._healthy(url)
    assert "PREFECT_API_URL" not in os.environ
    assert len(procs) == 1 and procs[0].poll() is not None  # stopped
