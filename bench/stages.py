"""Where the time goes: per-stage timings of the pipeline, measured from outside, and profiles.

The pipeline runs in this process (``extractors.pipeline.Pipeline``, one document at a time) with
its stage functions wrapped by timers — nothing in ``extractors`` knows it is measured:

=============  ===================================================================================
preflight      ``extractors.pipeline.preflight`` (size, magic bytes, sha256, page count)
text_layer     ``pages.pdf_text_words`` + ``pages._hidden_text_share`` (native PDF pages)
render         ``pages.render_pdf_page`` (scanned PDF pages) and image decoding (``ImageFile.load``)
prepare        ``pages.prepare_for_ocr`` (EXIF, greyscale, upscaling of small scans)
ocr            ``pages.call_ocr`` (image to PGM, the tesseract process, TSV parsing)
osd            ``TesseractEngine.orientation`` (the orientation check of poorly read pages)
layout         ``pipeline.build_layout`` (lines, blocks, reading order)
classify       ``Pipeline.classifier.classify``
extract        ``Pipeline.extractor.extract``
validate       ``pipeline.validate_fields``
write          ``flows.ledger.Ledger.append`` (one durable line per record)
other          the rest of ``Pipeline.process`` (Document/Record models, bookkeeping)
=============  ===================================================================================

Timers are exclusive (a stage called inside another is subtracted from it), so the stages add
up to the document's wall time. ``--profile`` adds cProfile listings of the same in-process run
and of ``docai process`` on an empty folder (its start-up).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.common import docai_exe, generate_set, loadavg, run_timed

__all__ = ["STAGES", "StageClock", "instrument", "profile_startup", "run", "top_functions"]

STAGES = ("preflight", "text_layer", "render", "prepare", "ocr", "osd", "layout", "classify",
          "extract", "validate", "write", "other")


class StageClock:
    """Exclusive wall time per stage, plus call counts (single-threaded use: one document at
    a time; a stage running in a helper thread counts while the caller waits for it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(STAGES, 0)
        self.counters: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [stage, start, time spent in nested stages]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a block as ``name`` (nested stages are subtracted from the enclosing one)."""
        frame: list[Any] = [name, time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            total = time.perf_counter() - frame[1]
            self.seconds[name] = self.seconds.get(name, 0.0) + total - frame[2]
            self.calls[name] = self.calls.get(name, 0) + 1
            if self._stack:
                self._stack[-1][2] += total

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed as ``name``."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)
        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def add_other(self, total: float) -> None:
        """Book the part of ``total`` no stage accounts for as ``other``."""
        known = sum(v for k, v in self.seconds.items() if k != "other")
        self.seconds["other"] = max(0.0, total - known)


@contextlib.contextmanager
def instrument(clock: StageClock, pipeline: Any) -> Iterator[None]:
    """Wrap the stage functions of ``extractors`` (and ``pipeline``'s engines) with timers."""
    from PIL import ImageFile

    import extractors.pages as pages
    import extractors.pipeline as pl
    from flows.ledger import Ledger

    patches: list[tuple[Any, str, Any]] = [
        (pl, "preflight", "preflight"),
        (pages, "pdf_text_words", "text_layer"),
        (pages, "_hidden_text_share", "text_layer"),
        (pages, "render_pdf_page", "render"),
        (pages, "prepare_for_ocr", "prepare"),  # timed around counting_prepare (below)
        (pages, "call_ocr", "ocr"),
        (pl, "build_layout", "layout"),
        (pl, "validate_fields", "validate"),
        (Ledger, "append", "write"),
        (ImageFile.ImageFile, "load", "render"),
        (pipeline.classifier, "classify", "classify"),
        (pipeline.extractor, "extract", "extract"),
    ]
    if hasattr(pipeline.ocr, "orientation"):
        patches.append((pipeline.ocr, "orientation", "osd"))
    original_prepare = pages.prepare_for_ocr

    def counting_prepare(image: Any, settings: Any) -> Any:
        img, base = original_prepare(image, settings)
        if img.size != tuple(base):
            clock.counters["upscaled_pages"] = clock.counters.get("upscaled_pages", 0) + 1
            clock.counters["upscaled_pixels"] = (clock.counters.get("upscaled_pixels", 0)
                                                 + img.size[0] * img.size[1])
            clock.counters["original_pixels"] = (clock.counters.get("original_pixels", 0)
                                                 + base[0] * base[1])
        return img, base
    saved: list[tuple[Any, str, Any, bool]] = []
    for owner, attr, stage in patches:
        had_own = attr in vars(owner) if not isinstance(owner, type) else True
        original = getattr(owner, attr)
        saved.append((owner, attr, vars(owner).get(attr, original) if isinstance(owner, type)
                      else original, had_own))
        target = counting_prepare if (owner, attr) == (pages, "prepare_for_ocr") else original
        setattr(owner, attr, clock.wrap(stage, target))
    try:
        yield
    finally:
        for owner, attr, original, had_own in reversed(saved):
            if had_own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


def _profile_rows(stats: pstats.Stats, limit: int, root: str) -> list[dict[str, Any]]:
    """The ``limit`` functions with the highest cumulative time (paths shortened)."""
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    items = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in items[:limit]:
        short = filename
        for prefix in (root + "/", str(Path(sys.prefix)) + "/lib/"):
            if short.startswith(prefix):
                short = short[len(prefix):]
        rows.append({"function": f"{short}:{line}({func})", "calls": ncalls,
                     "tottime_s": round(tottime, 3), "cumtime_s": round(cumtime, 3)})
    return rows


def top_functions(prof_path: str | Path, limit: int = 25) -> list[dict[str, Any]]:
    """Top functions by cumulative time of a saved cProfile file."""
    root = str(Path(__file__).resolve().parents[1])
    return _profile_rows(pstats.Stats(str(prof_path)), limit, root)


STARTUP_PHASES = {
    "import flows.process (prefect, pydantic, extractors)": ("flows/process.py", "<module>"),
    "import prefect.server.api.server in the CLI process": ("prefect/server/api/server.py",
                                                            "<module>"),
    "wait for the temporary Prefect API server subprocess": ("prefect/server/api/server.py",
                                                             "start"),
    "Prefect flow run (engine, API calls, the batch)": ("prefect/flow_engine.py", "run_flow"),
    "docai batch inside the flow (run_batch)": ("flows/process.py", "run_batch"),
    "time.sleep (polling)": ("~", "<built-in method time.sleep>"),
}
"""Named start-up phases: (file suffix, function) looked up in the profile (cumulative s)."""


def startup_phases(prof_path: str | Path) -> dict[str, float]:
    """Cumulative seconds of :data:`STARTUP_PHASES` in a cProfile file of ``docai process``."""
    raw: dict[Any, Any] = pstats.Stats(str(prof_path)).stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for name, (suffix, func) in STARTUP_PHASES.items():
        best = 0.0
        for (filename, _line, fn), stat in raw.items():
            if fn == func and filename.endswith(suffix):
                best = max(best, stat[3])
        out[name] = round(best, 2)
    return out


def profile_startup(limit: int = 30) -> dict[str, Any]:
    """cProfile of ``docai process`` on an empty folder (nothing but start-up and shut-down)."""
    empty = Path(tempfile.mkdtemp(prefix="docai-bench-empty-"))
    out = Path(tempfile.mkdtemp(prefix="docai-bench-out-"))
    prof = out.parent / f"{out.name}.prof"
    try:
        exe = docai_exe()
        cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), exe, "process", str(empty),
               "--out", str(out / "o"), "-q"]
        run = run_timed("profile-startup", cmd)
        rows = top_functions(prof, limit) if prof.exists() else []
        phases = startup_phases(prof) if prof.exists() else {}
        return {"wall_s": round(run.wall_s, 2), "cpu_s": round(run.cpu_s, 2), "rc": run.rc,
                "phases_s": phases, "top_cumulative": rows}
    finally:
        shutil.rmtree(empty, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        prof.unlink(missing_ok=True)


def measure(files: Sequence[Path], *, kind: str, profile: bool = False,
            limit: int = 25) -> dict[str, Any]:
    """Run ``files`` through an instrumented in-process pipeline; per-page stage times.

    The first file is run once untimed (engines warm, imports done).
    """
    from extractors.pipeline import Pipeline
    from flows.ledger import Ledger

    pipeline = Pipeline()
    out = Path(tempfile.mkdtemp(prefix="docai-bench-stages-"))
    try:
        ledger = Ledger(out)
        if files:
            pipeline.process(files[0])
        clock = StageClock()
        pages = 0
        load0 = loadavg()
        prof = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        c0 = time.process_time()
        with instrument(clock, pipeline):
            if prof is not None:
                prof.enable()
            for f in files:
                rec = pipeline.process(f, root=f.parent)
                ledger.append(rec)
                pages += rec.pages or 0
            if prof is not None:
                prof.disable()
        wall = time.perf_counter() - t0
        cpu_own = time.process_time() - c0
        clock.add_other(wall)
        per_page = {k: round(1000 * v / max(pages, 1), 2) for k, v in clock.seconds.items()}
        share = {k: round(100 * v / wall, 1) if wall else None for k, v in clock.seconds.items()}
        result: dict[str, Any] = {
            "kind": kind, "documents": len(files), "pages": pages, "wall_s": round(wall, 3),
            "python_cpu_s": round(cpu_own, 3), "pages_per_s": round(pages / wall, 2) if wall else None,
            "ms_per_page": per_page, "percent": share, "calls": clock.calls,
            "counters": clock.counters,
            "load": [load0, loadavg()],
        }
        if prof is not None:
            root = str(Path(__file__).resolve().parents[1])
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            result["profile_top_cumulative"] = _profile_rows(stats, limit, root)
            stats.sort_stats("tottime")
            raw = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
            result["profile_top_self"] = [
                {"function": f"{Path(fn).name}:{ln}({func})", "tottime_s": round(v[2], 3),
                 "calls": v[1]} for (fn, ln, func), v in raw[:limit]]
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The stages part. ``args``: ``stage_scanned``, ``stage_native``, ``sroie``, ``profile``."""
    from bench.ocr import scanned_pages, sroie_pages

    log = args.log
    result: dict[str, Any] = {"kinds": {}}
    sets: list[tuple[str, list[Path]]] = []
    folder, pages = scanned_pages(args.ocr_pages, seed=args.seed)
    scanned = [folder / n for n in sorted(pages)]
    picked: list[Path] = []
    total = 0
    for f in scanned:  # a mix of invoices and receipts up to the page budget
        if total >= args.stage_scanned:
            break
        picked.append(f)
        total += pages[f.name]
    sets.append(("scanned (generated, 300 dpi)", picked))
    sroie = sroie_pages(min(args.sroie, args.stage_scanned) if args.sroie else 0)
    if sroie is not None:
        sets.append(("scanned (sroie)", [sroie[0] / n for n in sorted(sroie[1])]))
    native = generate_set("native-mix", invoices=max(1, args.stage_native * 3 // 5),
                          receipts=max(1, args.stage_native * 2 // 5), seed=args.seed,
                          extra=["--only-native"])
    sets.append(("native pdf", sorted(native.glob("*.pdf"))[: args.stage_native]))
    rows: list[list[Any]] = []
    for kind, files in sets:
        if not files:
            continue
        res = measure(files, kind=kind, profile=args.profile)
        result["kinds"][kind] = res
        log(f"stages: {kind}: {res['pages']} pages in {res['wall_s']}s")
        top = sorted(((v, k) for k, v in res["ms_per_page"].items() if v), reverse=True)
        rows.append([f"stages/{kind}: total", round(1000 * res["wall_s"] / max(res["pages"], 1), 1),
                     "ms/page", ", ".join(f"{k} {v:g}" for v, k in top[:6])])
        extras = []
        up = res["counters"].get("upscaled_pages")
        if up:
            extras.append(f"{up} pages upscaled (x{res['counters']['upscaled_pixels'] / res['counters']['original_pixels']:.2f} pixels)")
        if res["calls"].get("osd"):
            extras.append(f"{res['calls']['osd']} orientation checks")
        if res["calls"].get("ocr", 0) > res["pages"]:
            extras.append(f"{res['calls']['ocr']} OCR calls for {res['pages']} pages")
        if extras:
            rows.append([f"stages/{kind}: extra OCR work", None, "", "; ".join(extras)])
    if args.profile:
        log("stages: profiling docai process start-up (empty folder)")
        result["startup_profile"] = profile_startup()
        sp = result["startup_profile"]
        rows.append(["stages: start-up profile, empty folder", sp["wall_s"], "s",
                     f"cpu {sp['cpu_s']}s (cProfile on)"])
        for phase, secs in sp["phases_s"].items():
            rows.append([f"  start-up: {phase}", secs, "s", ""])
    result["rows"] = rows
    result["goals"] = []
    return result
