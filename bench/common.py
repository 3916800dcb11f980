"""Shared helpers of the benchmarks: timed runs, CPU accounting, machine facts, sample sets, results.

Everything that touches a number lives here so the parts stay short and the arithmetic can be
unit-tested (``tests/unit/test_bench.py``) without running a benchmark.

CPU accounting: the benchmark process makes itself a *child subreaper* (Linux ``prctl``), so
processes orphaned by a run (a Prefect server, a multiprocessing fork server and its workers,
Tesseract children) are re-parented to it and reaped after the run; their CPU time then shows up
in ``RUSAGE_CHILDREN``. CPU seconds per page are much steadier than wall time on a machine shared
with other workloads, so every timed run records both.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "REPO",
    "Goal",
    "Meter",
    "Run",
    "TreeSampler",
    "cache_dir",
    "count_pages",
    "cpu_model",
    "docai_exe",
    "enable_subreaper",
    "fmt",
    "format_table",
    "generate_set",
    "loadavg",
    "machine_info",
    "prefect_api_server",
    "median",
    "process_kind",
    "ratio",
    "reap_orphans",
    "read_records",
    "run_timed",
    "safe_div",
    "slope",
    "write_results",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


# -- arithmetic ---------------------------------------------------------------------------------

def safe_div(a: float | None, b: float | None) -> float | None:
    """``a / b``, or ``None`` when either is missing or ``b`` is not positive."""
    if a is None or b is None or b <= 0 or math.isnan(b) or math.isnan(a):
        return None
    return a / b


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference`` rounded to 3 digits (``None`` when undefined)."""
    r = safe_div(value, reference)
    return None if r is None else round(r, 3)


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not ``None`` (``None`` when there are none)."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` over ``xs`` (``None`` for fewer than 2 distinct xs)."""
    if len(xs) != len(ys) or len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: numbers rounded, ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class Goal:
    """One target from the issue: ``value`` compared with ``target`` (higher is better)."""

    name: str
    value: float | None
    target: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the value reaches the target (``None`` when nothing was measured)."""
        return None if self.value is None else self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        """JSON form (with ``met``)."""
        return {**asdict(self), "met": self.met}


def format_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table (no dependencies: it must print the same in a log file)."""
    cells = [[str(h) for h in header]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- machine --------------------------------------------------------------------------------------

def loadavg() -> float | None:
    """The 1-minute load average (``None`` where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """Facts that make a number comparable: cores, CPU, memory, versions, commit, load."""
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    tess = None
    exe = shutil.which("tesseract")
    if exe:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
            lines = (p.stdout or p.stderr).splitlines()
            tess = lines[0].strip() if lines else None
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "mem_gib": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tesseract": tess,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# -- processes ------------------------------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def enable_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux only).

    Returns:
        Whether it worked (elsewhere, CPU time of orphaned grandchildren is simply not counted).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(wait_s: float = 2.0) -> int:
    """Reap exited orphans re-parented to us (their CPU time joins ``RUSAGE_CHILDREN``).

    Waits up to ``wait_s`` for orphans still shutting down. Only call this while no child of
    ours is supposed to be running (it reaps any exited child).
    """
    n = 0
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n  # no children at all
        if pid:
            n += 1
            continue
        if time.monotonic() >= deadline:
            return n
        time.sleep(0.05)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Run:
    """One timed command: wall seconds, CPU seconds of it and its descendants, load around it."""

    label: str
    wall_s: float
    cpu_s: float
    rc: int
    load_before: float | None
    load_after: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (rounded)."""
        return {"label": self.label, "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3),
                "rc": self.rc, "load_before": self.load_before, "load_after": self.load_after,
                **self.extra}


class Meter:
    """Times a block: wall seconds, CPU of this process and of its (reaped) descendants, load.

    >>> with Meter("x") as m:                      # doctest: +SKIP
    ...     subprocess.run(["true"])
    >>> m.run.cpu_s                                 # doctest: +SKIP
    """

    def __init__(self, label: str, *, own_cpu: bool = False) -> None:
        self.label = label
        self.own_cpu = own_cpu
        self.run = Run(label, 0.0, 0.0, 0, None, None)

    def __enter__(self) -> Meter:
        reap_orphans(0.0)
        self._cpu0 = _children_cpu() + (time.process_time() if self.own_cpu else 0.0)
        self.run.load_before = loadavg()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.run.wall_s = time.perf_counter() - self._t0
        reap_orphans()
        cpu1 = _children_cpu() + (time.process_time() if self.own_cpu else 0.0)
        self.run.cpu_s = cpu1 - self._cpu0
        self.run.load_after = loadavg()


def process_kind(cmdline: str, is_root: bool) -> str:
    """What a process of a ``docai process`` tree is, from its command line."""
    if is_root:
        return "main"
    if "uvicorn" in cmdline or "prefect.server" in cmdline:
        return "prefect_server"
    if "multiprocessing" in cmdline or "forkserver" in cmdline:
        return "workers"
    if "tesseract" in cmdline.split(" ", 1)[0]:
        return "tesseract"
    return "other"


class TreeSampler:
    """Samples a process tree's CPU time per process kind (:func:`process_kind`) in a thread.

    CPU of a process is its last sampled ``cpu_times`` (user + system), so short-lived processes
    (one Tesseract call) are undercounted: compare with the rusage total, whose remainder is
    mostly those.
    """

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        import threading

        self.pid = pid
        self.interval = interval
        self.cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> TreeSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def _sample(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    kind = self.cpu.get(p.pid, (None, 0.0))[0] or process_kind(
                        " ".join(p.cmdline()), p.pid == self.pid)
                    self.cpu[p.pid] = (kind, t.user + t.system)
            except psutil.Error:
                continue

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, float]:
        """Stop; CPU seconds by process kind."""
        self._stop.set()
        self._thread.join(timeout=5)
        out: dict[str, float] = {}
        for kind, cpu in self.cpu.values():
            out[kind] = round(out.get(kind, 0.0) + cpu, 2)
        return out


def run_timed(label: str, cmd: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: str | Path | None = None, timeout: float | None = None,
              quiet: bool = True, sample_cpu: bool = False) -> Run:
    """Run ``cmd`` as a user would (a subprocess, start-up included) and time it.

    With ``sample_cpu``, ``extra["cpu_by_process"]`` splits its CPU by process kind.

    Raises:
        subprocess.TimeoutExpired: past ``timeout``.
    """
    out = subprocess.DEVNULL if quiet else None
    sampler = None
    with Meter(label) as m:
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.PIPE if quiet else None)
        if sample_cpu:
            sampler = TreeSampler(proc.pid).start()
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        finally:
            by_kind = sampler.stop() if sampler is not None else None
    run = m.run
    run.rc = proc.returncode
    if by_kind is not None:
        known = sum(v for k, v in by_kind.items() if k != "tesseract")
        by_kind["tesseract_and_short_lived"] = round(max(0.0, run.cpu_s - known), 2)
        by_kind.pop("tesseract", None)
        run.extra["cpu_by_process"] = by_kind
    if proc.returncode not in (0, 3) and quiet and err:
        run.extra["stderr_tail"] = err.decode("utf-8", "replace")[-800:]
    return run


@contextlib.contextmanager
def prefect_api_server(timeout: float = 180.0) -> Iterator[tuple[str | None, int]]:
    """A Prefect API server of our own (``prefect server start``, temporary ``PREFECT_HOME``).

    Yields its API URL (``None`` when it did not come up in ``timeout`` seconds) and pid; stopped and
    removed on exit. Runs that set ``PREFECT_API_URL`` to it skip the temporary server a plain
    ``docai process`` starts — what a deployment with a running Prefect server gets.
    """
    import signal
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix="docai-bench-prefect-"))
    exe = Path(sys.executable).parent / "prefect"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([str(exe) if exe.exists() else "prefect", "server", "start",
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    up = resp.status == 200
            except OSError:
                up = False
            if up:
                break
            time.sleep(0.5)
        yield (url if up else None), proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reap_orphans(1.0)
        shutil.rmtree(home, ignore_errors=True)


def docai_exe() -> str:
    """The ``docai`` console script next to this interpreter (the venv's), else the one on PATH."""
    cand = Path(sys.executable).parent / "docai"
    if cand.exists():
        return str(cand)
    found = shutil.which("docai")
    if found:
        return found
    return f"{sys.executable} -m flows.cli"


def read_records(out: str | Path) -> list[dict[str, Any]]:
    """The records of a ``docai process`` output folder (``documents.jsonl``)."""
    path = Path(out) / "documents.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


# -- sample sets ----------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where generated sample sets are kept between runs (``out/bench-cache``, git-ignored)."""
    path = Path(os.environ.get("DOCAI_BENCH_CACHE") or REPO / "out" / "bench-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def generate_set(name: str, *, invoices: int, receipts: int, seed: int,
                 extra: Sequence[str] = ()) -> Path:
    """A generated sample set (``python -m samples.generate``), built once and cached.

    Args:
        name: kind of set, part of the cache folder's name.
        invoices, receipts, seed: the generator's options.
        extra: further generator options (``--only-scanned``, ``--dpi``, ``300-300`` …).

    Raises:
        RuntimeError: the generator failed.
    """
    sig = "-".join([name, f"i{invoices}", f"r{receipts}", f"s{seed}",
                    *(e.strip("-").replace("/", "_") for e in extra)])
    target = cache_dir() / sig
    if (target / "labels.jsonl").exists():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{sig}.", dir=cache_dir()))
    cmd = [sys.executable, "-m", "samples.generate", "--out", str(tmp / "set"),
           "--invoices", str(invoices), "--receipts", str(receipts), "--seed", str(seed), *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"samples.generate failed: {proc.stderr[-500:]}")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp / "set", target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def count_pages(path: str | Path) -> int:
    """Pages of a PDF or frames of an image."""
    path = Path(path)
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()
    from PIL import Image

    with Image.open(path) as im:
        return int(getattr(im, "n_frames", 1))


# -- results --------------------------------------------------------------------------------------

def write_results(results: dict[str, Any], folder: str | Path | None = None,
                  when: _dt.datetime | None = None) -> Path:
    """Write ``results`` to ``bench/results/<date>.json`` atomically; returns the path.

    A second run on the same day gets ``<date>-2.json``, ``-3`` …, so no result is overwritten.
    """
    folder = Path(folder) if folder is not None else BENCH_DIR / "results"
    folder.mkdir(parents=True, exist_ok=True)
    day = (when or _dt.datetime.now()).strftime("%Y-%m-%d")
    path = folder / f"{day}.json"
    n = 2
    while path.exists():
        path = folder / f"{day}-{n}.json"
        n += 1
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path
