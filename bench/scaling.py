"""Scaling: ``docai process --workers 1`` vs ``--workers 2`` on the same scanned pages.

Rounds alternate the order (1, 2 then 2, 1). The ratio is reported start-up included (what a user
sees) and excluding the fixed start-up (the OCR part's one-page run when it ran in the same
invocation, else measured here), which is what more cores can speed up.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Goal, Run, median, ratio, safe_div

__all__ = ["run"]


def _subset(folder: Path, pages: dict[str, int], n: int) -> tuple[Path, int]:
    """A temp folder with the first files of ``folder`` holding up to ``n`` pages (hard links)."""
    sub = Path(tempfile.mkdtemp(prefix="docai-bench-scaling-"))
    total = 0
    for name in sorted(pages):
        if total + pages[name] > n:
            continue
        try:
            (sub / name).hardlink_to(folder / name)
        except OSError:
            shutil.copy2(folder / name, sub / name)
        total += pages[name]
    return sub, total


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The scaling part. ``args``: ``scaling_pages``, ``scaling_rounds``, ``ocr_pages``, ``seed``."""
    from bench.ocr import docai_run, floor_cmds, floor_run, native_page, scanned_pages

    log = args.log
    folder, pages = scanned_pages(args.ocr_pages, seed=args.seed)
    sub, n = _subset(folder, pages, args.scaling_pages)
    sub_pages = {p.name: pages[p.name] for p in sub.iterdir()}
    runs: list[Run] = []
    try:
        for rnd in range(args.scaling_rounds):
            order = (1, 2) if rnd % 2 == 0 else (2, 1)
            for w in order:
                r = docai_run(f"workers{w}#{rnd}", [sub], w)
                runs.append(r)
                log(f"scaling: round {rnd + 1} --workers {w}: {r.wall_s:.1f}s (cpu {r.cpu_s:.1f}s, "
                    f"load {r.load_before})")
            for w in order:  # the control: what this machine gives Tesseract alone right now
                r = floor_run(f"floor{w}#{rnd}", floor_cmds(folder, sub_pages), w)
                runs.append(r)
                log(f"scaling: round {rnd + 1} tesseract x{w}: {r.wall_s:.1f}s "
                    f"(load {r.load_before})")
            if ctx.get("startup_s") is None:
                r = docai_run(f"startup-1page#{rnd}", [native_page()], None)
                runs.append(r)
                log(f"scaling: start-up {r.wall_s:.1f}s")
    finally:
        shutil.rmtree(sub, ignore_errors=True)
    startup = ctx.get("startup_s")
    if startup is None:
        startup = median(r.wall_s for r in runs if r.label.startswith("startup-1page#"))
    w1 = median(r.wall_s for r in runs if r.label.startswith("workers1#"))
    w2 = median(r.wall_s for r in runs if r.label.startswith("workers2#"))
    c1 = median(r.cpu_s for r in runs if r.label.startswith("workers1#"))
    c2 = median(r.cpu_s for r in runs if r.label.startswith("workers2#"))
    speedup = ratio(w1, w2)
    speedup_excl = None
    if startup is not None and w1 is not None and w2 is not None and w2 - startup > 0:
        speedup_excl = ratio(w1 - startup, w2 - startup)
    f1 = median(r.wall_s for r in runs if r.label.startswith("floor1#"))
    f2 = median(r.wall_s for r in runs if r.label.startswith("floor2#"))
    floor_speedup = ratio(f1, f2)
    goal = Goal(f"scaling --workers 2 / --workers 1 ({n} pages, start-up included)", speedup, 1.8)
    rows = [
        ["scaling: --workers 1", safe_div(n, w1), "pages/s", f"{n} pages, {w1 and round(w1, 1)}s"],
        ["scaling: --workers 2", safe_div(n, w2), "pages/s", f"{w2 and round(w2, 1)}s"],
        ["scaling: speed-up 2 vs 1", speedup, "", "start-up included"],
        ["scaling: speed-up excl. start-up", speedup_excl, "", f"start-up {startup and round(startup, 1)}s"],
        ["scaling: control, tesseract x1 -> x2", floor_speedup, "",
         f"the machine's own 2-core speed-up now ({f1 and round(f1, 1)}s -> "
         f"{f2 and round(f2, 1)}s)"],
        ["scaling: cpu-s per page w1 / w2", None, "",
         f"{c1 and round(c1 / n, 2)} / {c2 and round(c2 / n, 2)}"],
    ]
    return {"pages": n, "startup_s": startup, "wall_s": {"workers1": w1, "workers2": w2},
            "cpu_s": {"workers1": c1, "workers2": c2}, "speedup": speedup,
            "speedup_excluding_startup": speedup_excl,
            "floor_wall_s": {"x1": f1, "x2": f2}, "floor_speedup": floor_speedup, "runs": [r.as_dict() for r in runs],
            "goals": [goal.as_dict()], "rows": rows}
