"""Memory: RSS over a 1,000-document ``docai process`` run (native-text PDFs, so it takes minutes).

The sampling is :mod:`bench.batch`'s (``_run``: every ``--memory-sample-s`` seconds the RSS of the
``docai`` process, of its worker processes and of the whole tree, which includes the temporary
Prefect server, plus the documents done, read from ``OUT/ledger.jsonl``). This part adds the
verdict: RSS at the start of the work, at its peak and at the end, and the trend (MB per 100
documents, least squares over the samples after the first 10 % of documents) — flat is the goal.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import docai_exe, generate_set, loadavg, slope

__all__ = ["rss_summary", "run"]


def rss_summary(samples: list[dict[str, Any]], key: str, total_docs: int) -> dict[str, Any]:
    """Start/peak/end and trend of one RSS series (``samples`` from ``bench.batch._run``).

    ``start`` is the first sample with a document done (start-up excluded), ``end`` the sample at
    which all documents were done (before the shut-down); ``peak`` is over all samples. The trend
    is fitted over the working samples after 10 % of the documents (MB per 100 documents).
    """
    working = []
    for s in samples:  # from the first record to the last one (not the shut-down after it)
        if s.get("done", 0) > 0 and s.get(key):
            working.append(s)
            if s["done"] >= total_docs:
                break
    if not working:
        return {"start_mb": None, "peak_mb": None, "end_mb": None, "mb_per_100_docs": None}
    late = [s for s in working if s["done"] >= 0.1 * total_docs]
    trend = slope([s["done"] for s in late], [s[key] for s in late]) if len(late) >= 3 else None
    return {
        "start_mb": working[0][key],
        "peak_mb": max(s[key] for s in samples if s.get(key)),
        "end_mb": working[-1][key],
        "mb_per_100_docs": None if trend is None else round(100 * trend, 2),
    }


def _downsample(samples: list[dict[str, Any]], n: int = 300) -> list[dict[str, Any]]:
    if len(samples) <= n:
        return samples
    step = len(samples) / n
    return [samples[int(i * step)] for i in range(n)] + [samples[-1]]


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The memory part. ``args``: ``memory_docs``, ``memory_sample_s``, ``workers``, ``seed``."""
    from bench.batch import _run

    log = args.log
    n = args.memory_docs
    folder = generate_set("native-mix", invoices=max(1, n * 3 // 5), receipts=max(1, n - n * 3 // 5),
                          seed=args.seed, extra=["--only-native"])
    n_docs = len(list(folder.glob("*.pdf")))
    out = Path(tempfile.mkdtemp(prefix="docai-bench-memory-"))
    try:
        cmd = [*docai_exe().split(), "process", str(folder), "--out", str(out / "o"), "-q",
               "-j", str(args.workers)]
        load0 = loadavg()
        log(f"memory: docai process on {n_docs} native documents, sampling every "
            f"{args.memory_sample_s}s")
        res = _run(cmd, out / "o", args.memory_sample_s, dict(os.environ))
        done = (out / "o" / "ledger.jsonl")
        records = done.read_bytes().count(b"\n") if done.exists() else 0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    samples = res["samples"]
    first_done = next((s["t"] for s in samples if s["done"] > 0), None)
    summary = {k: rss_summary(samples, k, n_docs)
               for k in ("rss_main_mb", "rss_workers_mb", "rss_tree_mb")}
    work_s = res["wall_s"] - (first_done or 0.0)
    result = {
        "documents": n_docs, "records": records, "rc": res["rc"], "wall_s": res["wall_s"],
        "first_record_s": first_done, "docs_per_s": round(n_docs / res["wall_s"], 2),
        "docs_per_s_after_first": round(n_docs / work_s, 2) if work_s > 0 else None,
        "load": [load0, loadavg()], "rss": summary, "samples": _downsample(samples),
    }
    if res["rc"] not in (0, 3):
        result["stderr_tail"] = res.get("stderr_tail", "")[-800:]
    tree, main, workers = summary["rss_tree_mb"], summary["rss_main_mb"], summary["rss_workers_mb"]
    rows = [
        [f"memory: {n_docs} docs, tree RSS start/peak/end", tree["peak_mb"], "MB peak",
         f"{tree['start_mb']} -> {tree['end_mb']} MB, trend {tree['mb_per_100_docs']} MB/100 docs"],
        ["memory: docai process RSS", main["peak_mb"], "MB peak",
         f"{main['start_mb']} -> {main['end_mb']} MB, trend {main['mb_per_100_docs']} MB/100 docs"],
        ["memory: worker processes RSS", workers["peak_mb"], "MB peak",
         f"{workers['start_mb']} -> {workers['end_mb']} MB, trend "
         f"{workers['mb_per_100_docs']} MB/100 docs"],
        ["memory: throughput", result["docs_per_s"], "docs/s",
         f"{res['wall_s']}s wall, first record after {first_done}s, {records} records"],
    ]
    result["rows"] = rows
    result["goals"] = []
    return result
