"""``python -m bench [PART ...]``: run the benchmarks, write ``bench/results/<date>.json``, print a table.

Parts (default: all, in this order): ``ocr`` (Tesseract floor vs ``docai process``, start-up),
``scaling`` (``--workers`` 1 vs 2), ``native`` (text-layer PDFs), ``peer`` (invoice2data),
``memory`` (RSS over 1,000 documents), ``stages`` (time per pipeline stage, profiles).

    python -m bench                       # everything, default sizes (~10-15 min on 2 busy cores)
    python -m bench ocr --ocr-pages 80 --rounds 3
    python -m bench native peer --native-docs 500
    python -m bench stages --no-profile
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from typing import Any

from bench.common import enable_subreaper, fmt, format_table, machine_info, write_results

PARTS = ("ocr", "scaling", "native", "peer", "memory", "stages")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", metavar="PART",
                    help=f"parts to run (default: all): {', '.join(PARTS)}")
    cores = os.cpu_count() or 1
    ap.add_argument("--workers", type=int, default=cores, help="docai --workers and floor "
                    f"processes (default: cores = {cores})")
    ap.add_argument("--seed", type=int, default=9, help="sample generator seed")
    g = ap.add_argument_group("ocr")
    g.add_argument("--ocr-pages", type=int, default=40, help="generated scanned pages (300 DPI)")
    g.add_argument("--sroie", type=int, default=8, help="SROIE receipts when present (0: none)")
    g.add_argument("--rounds", type=int, default=2, help="interleaved rounds (order alternates)")
    g.add_argument("--no-api-server", dest="api_server", action="store_false",
                   help="skip the variant against a running Prefect server (PREFECT_API_URL)")
    g.add_argument("--no-prepared-floor", dest="prepared_floor", action="store_false",
                   help="skip Tesseract on docai-prepared (upscaled) images")
    g = ap.add_argument_group("scaling")
    g.add_argument("--scaling-pages", type=int, default=16)
    g.add_argument("--scaling-rounds", type=int, default=1)
    g = ap.add_argument_group("native / peer")
    g.add_argument("--native-docs", type=int, default=200)
    g.add_argument("--peer-docs", type=int, default=30)
    g = ap.add_argument_group("memory")
    g.add_argument("--memory-docs", type=int, default=1000)
    g.add_argument("--memory-sample-s", type=float, default=0.5)
    g = ap.add_argument_group("stages")
    g.add_argument("--stage-scanned", type=int, default=8, help="scanned pages (and SROIE) timed")
    g.add_argument("--stage-native", type=int, default=100, help="native documents timed")
    g.add_argument("--no-profile", dest="profile", action="store_false",
                   help="skip the cProfile listings")
    ap.add_argument("--results", default=None, help="results folder (default: bench/results)")
    ap.add_argument("--no-write", action="store_true", help="print only, write no JSON")
    return ap


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summary_rows(parts: dict[str, Any]) -> list[list[Any]]:
    """The printed table: every part's rows, in order."""
    rows: list[list[Any]] = []
    for name in PARTS:
        part = parts.get(name)
        if part:
            rows.extend(part.get("rows", []))
    return rows


def goal_rows(parts: dict[str, Any]) -> list[list[Any]]:
    """One row per goal: name, value, target, met."""
    rows = []
    for name in PARTS:
        for g in (parts.get(name) or {}).get("goals", []):
            rows.append([g["name"], g["value"], f">= {fmt(g['target'])}",
                         {True: "MET", False: "not met", None: "-"}[g["met"]]])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts; returns 0 (benchmarks report, they do not fail on a goal)."""
    ap = _parser()
    args = ap.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    args.log = _log
    parts = list(dict.fromkeys(args.parts)) or list(PARTS)
    enable_subreaper()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    started = dt.datetime.now()
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "parts": {},
    }
    ctx: dict[str, Any] = {}
    import importlib

    for name in parts:
        _log(f"part {name}")
        t0 = time.monotonic()
        try:
            mod = importlib.import_module(f"bench.{name}")
            res = mod.run(args, ctx)
        except Exception as exc:  # one broken part must not lose the others' numbers
            _log(f"part {name} failed: {type(exc).__name__}: {exc}")
            res = {"error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()[-3000:],
                   "rows": [[f"{name}: failed", None, "", f"{type(exc).__name__}: {exc}"[:90]]],
                   "goals": []}
        res["seconds"] = round(time.monotonic() - t0, 1)
        results["parts"][name] = res
    results["seconds"] = round((dt.datetime.now() - started).total_seconds(), 1)
    results["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results["goals"] = [g for name in PARTS for g in (results["parts"].get(name) or {})
                        .get("goals", [])]
    m = results["machine"]
    print(f"\ndocai bench {results['date']}  {m['cpu_count']} cores {m['cpu_model']}  "
          f"commit {m['git_commit']}{'+dirty' if m['git_dirty'] else ''}  "
          f"load at start {m['loadavg_start'] and round(m['loadavg_start'][0], 2)}\n")
    print(format_table(summary_rows(results["parts"]), ["metric", "value", "unit", "note"]))
    goals = goal_rows(results["parts"])
    if goals:
        print()
        print(format_table(goals, ["goal", "value", "target", "verdict"]))
    if not args.no_write:
        path = write_results(results, args.results)
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
