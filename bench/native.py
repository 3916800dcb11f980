"""Native-text PDFs: pages per second per core with OCR skipped.

- **in-process**: ``extractors.pipeline.Pipeline().process`` over generated native PDFs in this
  process (one core): wall pages/s and pages per CPU-second (what one *dedicated* core does; the
  two agree on an idle machine, and the CPU figure stays honest on a busy one).
- **CLI**: ``docai process DIR --workers <cores>`` on the same files, as a user runs it, start-up
  included and excluded; per core = pages/s divided by the worker count.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Goal, generate_set, loadavg, ratio, safe_div

__all__ = ["inprocess", "native_set", "run"]


def native_set(n_docs: int, seed: int) -> list[Any]:
    """``n_docs`` generated native-text PDFs (60 % invoices, 40 % receipts; cached)."""
    folder = generate_set("native-mix", invoices=max(1, n_docs * 3 // 5),
                          receipts=max(1, n_docs - n_docs * 3 // 5), seed=seed,
                          extra=["--only-native"])
    return sorted(folder.glob("*.pdf"))[:n_docs]


def inprocess(files: list[Any]) -> dict[str, Any]:
    """Time the in-process pipeline over ``files`` (after one untimed warm-up document)."""
    from extractors.pipeline import Pipeline

    pipe = Pipeline()
    pipe.process(files[0])
    pages = 0
    load0 = loadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    for f in files:
        pages += pipe.process(f, root=f.parent).pages or 0
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"documents": len(files), "pages": pages, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "pages_per_s": round(pages / wall, 2),
            "pages_per_cpu_s": round(pages / cpu, 2) if cpu else None,
            "ms_per_page": round(1000 * wall / max(pages, 1), 2), "load": [load0, loadavg()]}


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The native part. ``args``: ``native_docs``, ``workers``, ``seed``."""
    from bench.ocr import docai_run, native_page

    log = args.log
    files = native_set(args.native_docs, args.seed)
    folder = files[0].parent
    inp = inprocess(files)
    log(f"native: in-process {inp['pages']} pages in {inp['wall_s']}s")
    # the folder holds exactly these files (the generator made n_docs); else name them
    inputs = [folder] if len(list(folder.glob("*.pdf"))) == len(files) else files
    cli = docai_run("native-cli#0", inputs, args.workers)
    log(f"native: docai process -j{args.workers}: {cli.wall_s:.1f}s (cpu {cli.cpu_s:.1f}s)")
    pages = int(cli.extra.get("pages") or 0)
    if ctx.get("startup_s") is None:  # the ocr part did not run: measure the fixed cost here
        st = docai_run("startup-1page", [native_page()], None)
        ctx["startup_s"], ctx["startup_cpu_s"] = st.wall_s, st.cpu_s
        log(f"native: start-up (1 native page) {st.wall_s:.1f}s (cpu {st.cpu_s:.1f}s)")
    startup = ctx.get("startup_s")
    cli_pps = safe_div(pages, cli.wall_s)
    marginal = cli.wall_s - startup if startup is not None else None
    cli_pps_excl = safe_div(pages, marginal) if marginal and marginal > 0 else None
    cpu_marginal = (cli.cpu_s - ctx["startup_cpu_s"]) if ctx.get("startup_cpu_s") else None
    result: dict[str, Any] = {
        "inprocess": inp,
        "cli": {**cli.as_dict(), "pages_per_s": cli_pps and round(cli_pps, 2),
                "pages_per_s_per_core": cli_pps and round(cli_pps / args.workers, 2),
                "pages_per_s_excluding_startup": cli_pps_excl and round(cli_pps_excl, 2),
                "pages_per_cpu_s": ratio(pages, cli.cpu_s),
                "pages_per_cpu_s_excluding_startup": ratio(pages, cpu_marginal)},
    }
    goal = Goal("native pages/s per core (in-process, per CPU-second)", inp["pages_per_cpu_s"], 20,
                "pages/s", f"wall-clock on the shared machine: {inp['pages_per_s']}")
    rows = [
        ["native: in-process pipeline", inp["pages_per_s"], "pages/s",
         f"{inp['pages']} pages, 1 core, wall; load {inp['load'][0]}"],
        ["native: in-process per CPU-second", inp["pages_per_cpu_s"], "pages/cpu-s",
         f"{inp['ms_per_page']} ms/page wall"],
        [f"native: docai process -j{args.workers}", cli_pps, "pages/s",
         f"{pages} pages, start-up included; per core {result['cli']['pages_per_s_per_core']}"],
        ["native: docai process excl. start-up", cli_pps_excl, "pages/s",
         f"per CPU-s excl. start-up {result['cli']['pages_per_cpu_s_excluding_startup']}"],
    ]
    result["goals"] = [goal.as_dict()]
    result["rows"] = rows
    return result
