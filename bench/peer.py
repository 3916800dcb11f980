"""Peer: invoice2data on the same native-text invoices, time per document side by side.

invoice2data (``pip install invoice2data``, optional: ``pip install 'docai[bench]'``) reads a PDF's
text with ``pdftotext`` (poppler-utils) and matches regex templates. It ships ~230 vendor templates
and none fits our generated vendors, so the benchmark adds one generic English invoice template
(``GENERIC_TEMPLATE``) to make it run a template's regexes as a user with a template would.
Accuracy is compared by ``docai eval``, not here.

Two views, interleaved document by document (order alternating):

- **in-process**: ``invoice2data.extract_data(path, templates, "pdftotext")`` vs
  ``Pipeline().process(path)`` — wall ms per document (median and mean) and CPU.
- **CLI**: ``invoice2data --input-reader pdftotext FILES…`` (one process, sequential, as it runs)
  vs ``docai process DIR`` (default workers) — wall seconds per document, start-up included.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import generate_set, loadavg, ratio, run_timed

__all__ = ["GENERIC_TEMPLATE", "available", "run"]

GENERIC_TEMPLATE = r"""# docai bench: one generic template for generated English invoices
issuer: docai-bench generic invoice
keywords:
  - Invoice
fields:
  amount: (?i)(?:invoice total|total due|amount due|balance due|grand total|total)\b[^\n\d]*?([\d,]+\.\d{2})
  date: (\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})
  invoice_number: (?i)invoice\s*(?:no\.?|number|#)\s*:?\s*\n?\s*([A-Z0-9][\w/-]+)
options:
  currency: USD
  date_formats:
    - '%d/%m/%Y'
    - '%Y-%m-%d'
  decimal_separator: '.'
"""


def available() -> tuple[bool, str]:
    """Whether invoice2data and pdftotext are installed (and a reason when not)."""
    try:
        import invoice2data  # noqa: F401
    except ImportError:
        return False, "invoice2data is not installed (pip install 'docai[bench]')"
    if shutil.which("pdftotext") is None:
        return False, "pdftotext (poppler-utils) is not installed"
    return True, ""


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("invoice2data")
    except Exception:
        return None


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _stats(ms: list[float]) -> dict[str, Any]:
    return {"median_ms": round(statistics.median(ms), 2), "mean_ms": round(statistics.fmean(ms), 2),
            "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)} if ms else {}


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The peer part. ``args``: ``peer_docs``, ``seed``, ``workers``."""
    from bench.ocr import docai_run

    log = args.log
    ok, why = available()
    if not ok:
        log(f"peer: skipped: {why}")
        return {"skipped": why, "rows": [["peer: invoice2data", None, "", f"skipped: {why}"]],
                "goals": []}
    import logging

    from invoice2data import extract_data
    from invoice2data.extract.loader import read_templates

    from extractors.pipeline import Pipeline

    logging.getLogger("invoice2data").setLevel(logging.CRITICAL)
    folder = generate_set("native-en-invoices", invoices=args.peer_docs, receipts=0,
                          seed=args.seed, extra=["--only-native", "--langs", "en"])
    files = sorted(folder.glob("*.pdf"))
    tdir = Path(tempfile.mkdtemp(prefix="docai-bench-i2d-"))
    try:
        (tdir / "generic.yml").write_text(GENERIC_TEMPLATE, encoding="utf-8")
        templates = read_templates(str(tdir)) + read_templates()
        pipe = Pipeline()
        pipe.process(files[0])  # warm both
        extract_data(str(files[0]), templates, "pdftotext")
        i2d_ms: list[float] = []
        docai_ms: list[float] = []
        matched = 0
        cpu = {"invoice2data": 0.0, "docai": 0.0}
        load0 = loadavg()
        for i, f in enumerate(files):
            order = ("i2d", "docai") if i % 2 == 0 else ("docai", "i2d")
            for who in order:
                c0 = time.process_time() + _children_cpu()
                t0 = time.perf_counter()
                if who == "i2d":
                    res = extract_data(str(f), templates, "pdftotext")
                    i2d_ms.append(1000 * (time.perf_counter() - t0))
                    matched += bool(res)
                    cpu["invoice2data"] += time.process_time() + _children_cpu() - c0
                else:
                    pipe.process(f, root=folder)
                    docai_ms.append(1000 * (time.perf_counter() - t0))
                    cpu["docai"] += time.process_time() + _children_cpu() - c0
        load1 = loadavg()
        log(f"peer: in-process {len(files)} invoices: invoice2data median "
            f"{statistics.median(i2d_ms):.1f} ms, docai {statistics.median(docai_ms):.1f} ms")
        exe = Path(sys.executable).parent / "invoice2data"
        i2d_cmd = [str(exe) if exe.exists() else "invoice2data", "--input-reader", "pdftotext",
                   "--template-folder", str(tdir), "--output-format", "none", "--no-color",
                   *map(str, files)]
        runs = [run_timed("invoice2data-cli", i2d_cmd, env={**os.environ, "NO_COLOR": "1"}),
                docai_run("docai-cli", [folder], args.workers)]
        for r in runs:
            log(f"peer: {r.label}: {r.wall_s:.1f}s for {len(files)} documents (rc {r.rc})")
    finally:
        shutil.rmtree(tdir, ignore_errors=True)
    n = len(files)
    i2d_cli, docai_cli = runs
    result: dict[str, Any] = {
        "invoice2data_version": _version(), "documents": n,
        "invoice2data_matched": matched,
        "inprocess": {"invoice2data": {**_stats(i2d_ms), "cpu_s": round(cpu["invoice2data"], 3)},
                      "docai": {**_stats(docai_ms), "cpu_s": round(cpu["docai"], 3)},
                      "load": [load0, load1]},
        "cli": {"invoice2data": {**i2d_cli.as_dict(), "s_per_doc": round(i2d_cli.wall_s / n, 3)},
                "docai": {**docai_cli.as_dict(), "s_per_doc": round(docai_cli.wall_s / n, 3)}},
    }
    result["inprocess"]["docai_over_invoice2data"] = ratio(
        result["inprocess"]["docai"].get("median_ms"),
        result["inprocess"]["invoice2data"].get("median_ms"))
    rows = [
        ["peer: invoice2data in-process", result["inprocess"]["invoice2data"].get("median_ms"),
         "ms/doc", f"median of {n}; {matched} of {n} matched a template (pdftotext)"],
        ["peer: docai in-process", result["inprocess"]["docai"].get("median_ms"), "ms/doc",
         f"median of {n}; ratio docai/invoice2data "
         f"{result['inprocess']['docai_over_invoice2data']}"],
        ["peer: invoice2data CLI", result["cli"]["invoice2data"]["s_per_doc"], "s/doc",
         f"{i2d_cli.wall_s:.1f}s for {n}, sequential, start-up included"],
        [f"peer: docai process -j{args.workers}", result["cli"]["docai"]["s_per_doc"], "s/doc",
         f"{docai_cli.wall_s:.1f}s for {n}, start-up included"],
    ]
    result["rows"] = rows
    result["goals"] = []
    return result
