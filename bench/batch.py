"""Batch benchmark (not a test): ``docai process`` on ≥ 1,000 generated documents.

    python -m bench.batch                      # 1,000 documents (98 % native PDFs), 2 workers
    python -m bench.batch --docs 3000 --scanned-ratio 0 --workers 4 --runner thread

It generates a synthetic inbox with ``samples.generate`` (mostly native-text PDFs, so the run
measures the orchestration — Prefect tasks, worker processes, ledger, exports — more than OCR),
runs the real CLI (``docai process IN --out OUT``: the Prefect flow, one task per document,
documents in worker processes) in a subprocess, and samples every ``--sample-s`` seconds:

- documents done (complete lines in ``OUT/ledger.jsonl``),
- RSS of the ``docai`` process, of its worker processes (the fork server and the document
  workers) and of the whole process tree (which includes the temporary Prefect server).

It then runs the same command again (everything is skipped: the ledger) and prints a Markdown
summary (and writes ``bench/results/batch.json``): documents/s, pages/s, peak RSS, and RSS over
time against documents done — flat lines mean no leak over a long batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _docai() -> list[str]:
    exe = Path(sys.executable).with_name("docai")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "flows.cli"]


def _generate(folder: Path, docs: int, scanned_ratio: float, seed: int) -> float:
    t0 = time.monotonic()
    try:
        from samples.generate import generate
    except ImportError:  # pragma: no cover - fallback when the sample generator is missing
        generate = None
    if generate is not None:
        invoices = int(round(docs * 0.7))
        generate(folder, invoices, docs - invoices, seed, scanned_ratio=scanned_ratio)
    else:  # pragma: no cover
        from reportlab.pdfgen.canvas import Canvas

        folder.mkdir(parents=True, exist_ok=True)
        for i in range(docs):
            c = Canvas(str(folder / f"doc_{i:05d}.pdf"))
            for j, line in enumerate(["ACME Ltd", "INVOICE", f"Invoice No: B-{i:05d}",
                                      "Invoice Date: 14/03/2024", f"Total {100 + i}.00"]):
                c.drawString(72, 760 - 18 * j, line)
            c.save()
    return time.monotonic() - t0


def _tree(pid: int) -> tuple[int, int, int]:
    """RSS in bytes: (the process, its docai worker processes, the whole tree)."""
    import psutil

    try:
        root = psutil.Process(pid)
        main = root.memory_info().rss
        workers = total = 0
        for child in root.children(recursive=True):
            try:
                rss = child.memory_info().rss
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            total += rss
            if "multiprocessing" in cmd or "forkserver" in cmd:
                workers += rss
        return main, workers, main + total
    except psutil.Error:
        return 0, 0, 0


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def _run(cmd: list[str], out: Path, sample_s: float, env: dict[str, str]) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        main, workers, total = _tree(proc.pid)
        samples.append({"t": round(time.monotonic() - t0, 2), "done": _lines(out / "ledger.jsonl"),
                        "rss_main_mb": round(main / 2**20, 1),
                        "rss_workers_mb": round(workers / 2**20, 1),
                        "rss_tree_mb": round(total / 2**20, 1)})
        time.sleep(sample_s)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    return {"rc": proc.returncode, "wall_s": round(wall, 2), "samples": samples,
            "stderr_tail": err[-2000:]}


def _first_done(samples: list[dict[str, Any]]) -> float | None:
    """Seconds until the first document was in the ledger (start-up cost: Prefect, workers)."""
    for s in samples:
        if s["done"] > 0:
            return float(s["t"])
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--scanned-ratio", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runner", default="thread", choices=["thread", "dask"])
    ap.add_argument("--isolation", default="process", choices=["process", "none"])
    ap.add_argument("--no-prefect", action="store_true")
    ap.add_argument("--sample-s", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    ap.add_argument("--tag", default="", help="results go to bench/results/batch[-TAG].json")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="docai-bench-batch-"))
    inbox, out = work / "inbox", work / "out"
    if out.exists():
        shutil.rmtree(out)
    gen_s = _generate(inbox, args.docs, args.scanned_ratio, args.seed) if not inbox.exists() \
        else 0.0
    n_inputs = sum(1 for p in inbox.iterdir() if p.suffix.lower() in
                   (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_THREAD_LIMIT": "1"}
    cmd = [*_docai(), "process", str(inbox), "--out", str(out), "-j", str(args.workers), "-q",
           "--task-runner", args.runner, "--isolation", args.isolation]
    if args.no_prefect:
        cmd.append("--no-prefect")
    first = _run(cmd, out, args.sample_s, env)
    rows = [json.loads(x) for x in (out / "documents.jsonl").read_text().splitlines()] \
        if (out / "documents.jsonl").exists() else []
    pages = sum(int(r.get("pages") or 0) for r in rows)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    again = _run(cmd, out, args.sample_s, env)
    ledger_lines = _lines(out / "ledger.jsonl")

    s = first["samples"]
    startup = _first_done(s) or 0.0
    steady = first["wall_s"] - startup
    result = {
        "docs": n_inputs, "records": len(rows), "ledger_lines_after_rerun": ledger_lines,
        "by_status": by_status, "pages": pages, "generate_s": round(gen_s, 1),
        "wall_s": first["wall_s"], "rc": first["rc"], "startup_s": startup,
        "docs_per_s": round(n_inputs / first["wall_s"], 2),
        "docs_per_s_after_startup": round(n_inputs / steady, 2) if steady > 0 else None,
        "pages_per_s": round(pages / first["wall_s"], 2),
        "peak_rss_main_mb": max((x["rss_main_mb"] for x in s), default=0),
        "peak_rss_workers_mb": max((x["rss_workers_mb"] for x in s), default=0),
        "peak_rss_tree_mb": max((x["rss_tree_mb"] for x in s), default=0),
        "rerun_wall_s": again["wall_s"], "rerun_rc": again["rc"],
        "args": vars(args) | {"keep": str(args.keep) if args.keep else None},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_avg_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "samples": s,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"batch-{args.tag}.json" if args.tag else "batch.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1) + "\n")
    print(_markdown(result))
    if first["rc"] not in (0, 3):
        print(first["stderr_tail"], file=sys.stderr)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if first["rc"] in (0, 3) else 1


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        f"docs: {r['docs']} ({r['by_status']}), pages: {r['pages']}, workers: "
        f"{r['args']['workers']}, runner: {r['args']['runner']}, isolation: "
        f"{r['args']['isolation']}, prefect: {not r['args']['no_prefect']}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| wall time | {r['wall_s']:.1f} s (start-up until the first record: {r['startup_s']:.1f} s) |",
        f"| documents/s | {r['docs_per_s']:.2f} ({r['docs_per_s_after_startup']} after start-up) |",
        f"| pages/s | {r['pages_per_s']:.2f} |",
        f"| peak RSS, docai process | {r['peak_rss_main_mb']:.0f} MB |",
        f"| peak RSS, worker processes (all) | {r['peak_rss_workers_mb']:.0f} MB |",
        f"| peak RSS, whole process tree (incl. Prefect server) | {r['peak_rss_tree_mb']:.0f} MB |",
        f"| re-run (all skipped) | {r['rerun_wall_s']:.1f} s, ledger lines after: {r['ledger_lines_after_rerun']} |",
        "",
        "RSS over the batch (MB):",
        "",
        "| t (s) | documents done | docai process | workers | tree |",
        "|---|---|---|---|---|",
    ]
    s = r["samples"]
    if s:
        picks = sorted({int(i * (len(s) - 1) / 9) for i in range(10)})
        for i in picks:
            x = s[i]
            lines.append(f"| {x['t']:.0f} | {x['done']} | {x['rss_main_mb']:.0f} | "
                         f"{x['rss_workers_mb']:.0f} | {x['rss_tree_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
