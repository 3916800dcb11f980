"""Prefect's temporary API server for one ``docai process``, started before the rest of start-up.

Without a configured Prefect API (``PREFECT_API_URL`` or a profile), Prefect starts a temporary
API server when the first flow run asks for a client: it imports the whole Prefect server in the
calling process (~3 CPU-s), then launches a subprocess that imports it again and waits for it
(~4 s). Measured with ``python -m bench stages``, that was 6.8 of the 11.8 s a one-page
``docai process`` took on an idle 2-core machine.

:func:`early_api_server` launches the same server subprocess (Prefect's own command: uvicorn with
``prefect.server.api.server:create_app``, UI off, ephemeral mode, Prefect's default database) as
the very first thing, without importing Prefect, so that it boots on another core while this
process imports docai and Prefect, and the in-process import of the server never happens. The
batch then runs against it exactly as against any Prefect API; the server is stopped at the end.

Nothing changes when an API is configured (environment or the active profile): that one is used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["early_api_server", "free_port", "profile_api_url", "wait_healthy"]

log = logging.getLogger("docai.prefect")

STARTUP_TIMEOUT_S = 120.0


def profile_api_url(env: dict[str, str] | None = None) -> str | None:
    """``PREFECT_API_URL`` from the environment or the active Prefect profile, without importing Prefect.

    >>> profile_api_url({"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    'http://127.0.0.1:4200/api'
    """
    env = dict(os.environ) if env is None else env
    if env.get("PREFECT_API_URL"):
        return env["PREFECT_API_URL"]
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    active = env.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(active) or {}
    url = profile.get("PREFECT_API_URL")
    return str(url) if url else None


def _server_command(port: int) -> list[str] | None:
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.origin:
        return None
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
            "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on"]


def free_port() -> int:
    """A free local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float,
                 poll_s: float = 0.05) -> None:
    """Wait until the API at ``url`` answers its health check.

    Raises:
        TimeoutError: the server exited or did not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while not _healthy(url):
        if proc.poll() is not None:
            raise TimeoutError("the server exited")
        if time.monotonic() > deadline:
            raise TimeoutError("no answer from the server")
        time.sleep(poll_s)


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 (localhost)
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def early_api_server(enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Start Prefect's temporary API server now; yields ``ready()`` to call before the flow runs.

    ``ready()`` waits until the server answers and points this process (and the worker processes
    it starts, through the environment) at it. When disabled, when an API is configured, or when
    the server does not come up, ``ready()`` does nothing and Prefect falls back to its own
    temporary server.
    """
    cmd = None
    if enabled and profile_api_url() is None:
        port = free_port()
        cmd = _server_command(port)
    if cmd is None:
        yield lambda: None
        return
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    stack = contextlib.ExitStack()

    def ready() -> None:
        from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

        if get_current_settings().api.url:  # configured in a way the pre-check did not see
            return
        try:
            wait_healthy(url, proc, STARTUP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the early Prefect API server did not start; Prefect starts its own")
            return
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: url}))
        os.environ["PREFECT_API_URL"] = url  # worker processes and subprocesses
        stack.callback(os.environ.pop, "PREFECT_API_URL", None)

    try:
        yield ready
    finally:
        stack.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
