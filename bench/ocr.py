"""OCR floor vs pipeline: the same scanned pages through raw Tesseract and through ``docai process``.

- **floor**: ``OMP_THREAD_LIMIT=1 tesseract IMG stdout tsv``, one process per core at a time (a
  thread pool of ``cores`` subprocesses), over the very image files docai gets.
- **pipeline**: ``docai process DIR --out OUT --workers <cores> -q`` as a user runs it (a fresh
  output folder each time, so nothing is skipped), start-up included.
- **start-up**: ``docai process`` on an empty folder, on one native-text page (adds the
  dependency check and a worker process), and the same page with ``--no-prefect``.

Measurements are interleaved: each round runs every variant once, and the order within each pair
alternates between rounds (ABBA), so a load spike from another workload hits both sides.

Apples to apples: both sides read the same files. Scanned PDFs from the generator are turned into
300 DPI PNGs first (Tesseract cannot read PDF); JPEG/PNG/TIFF are used as they are. What docai
does *in addition* is reported, not hidden: it upscales scans it believes are below
``upscale_below_dpi`` (``prepare_for_ocr``), and re-runs OCR after an orientation check when a page
reads poorly (``pages._ocr_upright``). The optional *prepared floor* runs Tesseract on the images
exactly as docai hands them over (after greyscale/upscaling, same ``--psm``/``--dpi``), which
separates the cost of that choice from pipeline overhead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    Goal,
    Meter,
    Run,
    cache_dir,
    count_pages,
    docai_exe,
    generate_set,
    median,
    prefect_api_server,
    ratio,
    read_records,
    run_timed,
    safe_div,
)

__all__ = ["api_docai_run", "docai_run", "floor_run", "prepared_pages", "run", "scanned_pages",
           "sroie_pages", "tree_cpu"]

SROIE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sroie" / "img"
"""``/work/shared/datasets/sroie/img`` next to the repository (``../shared`` from the repo)."""


# -- page sets -----------------------------------------------------------------------------------

def _write_manifest(folder: Path, pages: dict[str, int]) -> None:
    (folder / "manifest.json").write_text(json.dumps(pages, indent=1), encoding="utf-8")


def _read_manifest(folder: Path) -> dict[str, int] | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    return {str(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def _pdf_to_pngs(pdf_path: Path, out: Path, dpi: int) -> list[Path]:
    import pypdfium2 as pdfium

    made = []
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                img = page.render(scale=dpi / 72.0, grayscale=True).to_pil()
                dest = out / f"{pdf_path.stem}_p{i + 1}.png"
                img.save(dest, dpi=(dpi, dpi))
                made.append(dest)
            finally:
                page.close()
    finally:
        pdf.close()
    return made


def scanned_pages(n_pages: int, *, seed: int = 9, dpi: int = 300) -> tuple[Path, dict[str, int]]:
    """A folder of exactly ``n_pages`` scanned pages (generated invoices and receipts at ``dpi``).

    Returns:
        The folder and ``{file name: pages}`` (a multi-frame TIFF counts all its frames).
    """
    n_inv = max(1, math.ceil(n_pages * 0.7))
    n_rcp = max(1, math.ceil(n_pages * 0.45))
    src = generate_set("scan", invoices=n_inv, receipts=n_rcp, seed=seed,
                       extra=["--only-scanned", "--dpi", f"{dpi}-{dpi}"])
    folder = cache_dir() / f"ocrpages-{src.name}-n{n_pages}"
    manifest = _read_manifest(folder)
    if manifest is not None:
        return folder, manifest
    tmp = Path(tempfile.mkdtemp(prefix=".ocrpages.", dir=cache_dir()))
    pages: dict[str, int] = {}
    total = 0
    for f in sorted(src.iterdir()):
        if total >= n_pages:
            break
        suffix = f.suffix.lower()
        if suffix == ".pdf":
            conv = tempfile.mkdtemp(dir=tmp)
            made = _pdf_to_pngs(f, Path(conv), dpi)
            if total + len(made) > n_pages:
                shutil.rmtree(conv)
                continue
            for m in made:
                os.replace(m, tmp / m.name)
                pages[m.name] = 1
            shutil.rmtree(conv)
            total += len(made)
        elif suffix in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
            n = count_pages(f)
            if total + n > n_pages:
                continue
            shutil.copy2(f, tmp / f.name)
            pages[f.name] = n
            total += n
    if total != n_pages:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"generated set has {total} pages, fewer than {n_pages}")
    _write_manifest(tmp, pages)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder, pages


def sroie_pages(n: int, src: Path = SROIE) -> tuple[Path, dict[str, int]] | None:
    """A folder with the first ``n`` SROIE receipt scans (copied), or ``None`` without the data."""
    if n <= 0 or not src.is_dir():
        return None
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    if not files:
        return None
    folder = cache_dir() / f"sroie-{len(files)}"
    manifest = _read_manifest(folder)
    if manifest is not None and len(manifest) == len(files):
        return folder, manifest
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, folder / f.name)
    pages = {f.name: 1 for f in files}
    _write_manifest(folder, pages)
    return folder, pages


def prepared_pages(folder: Path, pages: dict[str, int]) -> tuple[Path, list[list[str]], dict[str, Any]]:
    """Tesseract command lines for the pages as docai hands them to Tesseract.

    Each page goes through ``extractors.pages.prepare_for_ocr`` (greyscale, upscaling of small
    scans) and is saved as PGM; the command uses the ``--psm`` and ``--dpi`` docai would pass.

    Returns:
        The folder of prepared images, the commands, and what preparing changed
        (``upscaled`` pages and the pixel ratio prepared / original).
    """
    from PIL import Image, ImageSequence

    from extractors.ocr.tesseract import TesseractEngine
    from extractors.pages import prepare_for_ocr
    from extractors.settings import Settings

    settings = Settings()
    engine = TesseractEngine(settings)
    out = folder.parent / f"{folder.name}-prepared"
    info_path = out / "prepared.json"
    if info_path.exists():
        saved = json.loads(info_path.read_text(encoding="utf-8"))
        return out, saved["cmds"], saved["info"]
    tmp = Path(tempfile.mkdtemp(prefix=".prepared.", dir=folder.parent))
    cmds: list[list[str]] = []
    upscaled = 0
    px_in = px_out = 0
    for name in sorted(pages):
        with Image.open(folder / name) as im:
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                frame.load()
                image = frame.copy()
                if "dpi" in im.info:
                    image.info["dpi"] = im.info["dpi"]
                img, base = prepare_for_ocr(image, settings)
                px_in += base[0] * base[1]
                px_out += img.size[0] * img.size[1]
                if img.size != base:
                    upscaled += 1
                dest = tmp / f"{Path(name).stem}_f{i + 1}.pgm"
                img.convert("L").save(dest)
                cmd = ["tesseract", str(out / dest.name), "stdout", "-l", engine.lang,
                       "--psm", str(engine._psm(img))]
                dpi = img.info.get("dpi")
                if dpi:
                    d = dpi[0] if isinstance(dpi, tuple) else dpi
                    cmd += ["--dpi", str(int(round(float(d))))]
                cmds.append([*cmd, "tsv"])
    info = {"pages": len(cmds), "upscaled": upscaled,
            "pixel_ratio": round(px_out / px_in, 3) if px_in else None}
    (tmp / "prepared.json").write_text(json.dumps({"cmds": cmds, "info": info}), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out, cmds, info


# -- runs ------------------------------------------------------------------------------------------

def floor_run(label: str, cmds: Sequence[Sequence[str]], workers: int) -> Run:
    """Run the Tesseract commands ``workers`` at a time (``OMP_THREAD_LIMIT=1``) and time them."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(cmd: Sequence[str]) -> int:
        return subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env).returncode

    with Meter(label) as m, ThreadPoolExecutor(max_workers=workers) as pool:
        codes = list(pool.map(one, cmds))
    m.run.rc = max(codes, default=0)
    m.run.extra["failed"] = sum(1 for c in codes if c)
    return m.run


def floor_cmds(folder: Path, pages: dict[str, int]) -> list[list[str]]:
    """The plain floor: ``tesseract IMG stdout tsv`` per file (all frames of a TIFF)."""
    return [["tesseract", str(folder / name), "stdout", "tsv"] for name in sorted(pages)]


def docai_run(label: str, inputs: Sequence[str | Path], workers: int | None,
              extra: Sequence[str] = (), timeout: float | None = None,
              sample_cpu: bool = True) -> Run:
    """``docai process INPUTS --out <fresh temp> [--workers N] -q``, timed; records summarised."""
    out = Path(tempfile.mkdtemp(prefix="docai-bench-out-"))
    try:
        cmd = [*docai_exe().split(), "process", *map(str, inputs), "--out", str(out), "-q", *extra]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        run = run_timed(label, cmd, timeout=timeout, sample_cpu=sample_cpu)
        recs = read_records(out)
        statuses: dict[str, int] = {}
        for r in recs:
            statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
        run.extra.update(documents=len(recs), pages=sum(int(r.get("pages") or 0) for r in recs),
                         statuses=statuses)
        return run
    finally:
        shutil.rmtree(out, ignore_errors=True)


def native_page(n: int = 1) -> Path:
    """One generated native-text invoice PDF (cached)."""
    src = generate_set("native", invoices=max(1, n), receipts=0, seed=5, extra=["--only-native"])
    return sorted(src.glob("*.pdf"))[0]


def tree_cpu(pid: int | None) -> float:
    """CPU seconds so far of a process and its live descendants (0 without psutil)."""
    if pid is None:
        return 0.0
    try:
        import psutil

        root = psutil.Process(pid)
        total = 0.0
        for p in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total
    except Exception:
        return 0.0


def api_docai_run(label: str, inputs: Sequence[str | Path], workers: int | None,
                  api: tuple[str, int] | None) -> Run | None:
    """:func:`docai_run` against a running Prefect API (``PREFECT_API_URL``); the server's CPU
    during the run is added to the run's CPU (``extra["api_server_cpu_s"]``)."""
    if api is None:
        return None
    url, pid = api
    before = tree_cpu(pid)
    with _env(PREFECT_API_URL=url):
        r = docai_run(label, inputs, workers)
    server = tree_cpu(pid) - before
    r.cpu_s += server
    r.extra["api_server_cpu_s"] = round(server, 2)
    return r


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the part --------------------------------------------------------------------------------------

def _summary(runs: list[Run], label: str, pages: int) -> dict[str, Any]:
    mine = [r for r in runs if r.label.startswith(label + "#")]
    wall = sum(r.wall_s for r in mine)
    cpu = sum(r.cpu_s for r in mine)
    n = pages * len(mine)
    return {"runs": len(mine), "pages": pages, "wall_s": [round(r.wall_s, 2) for r in mine],
            "pages_per_s": round(n / wall, 3) if wall else None,
            "cpu_s_per_page": round(cpu / n, 3) if n else None,
            "load": _round(median([r.load_before for r in mine] + [r.load_after for r in mine]))}


def _round(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


def run(args: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """The OCR part (see the module docstring). ``args``: ``ocr_pages``, ``sroie``, ``rounds``,
    ``workers``, ``prepared_floor``, ``log``."""
    log = args.log
    workers = args.workers
    sets: list[tuple[str, Path, dict[str, int]]] = []
    folder, pages = scanned_pages(args.ocr_pages, seed=args.seed)
    sets.append(("generated", folder, pages))
    sroie = sroie_pages(args.sroie)
    if sroie is not None:
        sets.append(("sroie", *sroie))
    else:
        log("ocr: no SROIE images found; generated pages only")
    prepared: dict[str, tuple[list[list[str]], dict[str, Any]]] = {}
    if args.prepared_floor:
        for name, f, p in sets:
            _, cmds, info = prepared_pages(f, p)
            if info["upscaled"]:
                prepared[name] = (cmds, info)
    one = native_page()
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        api: tuple[str, int] | None = None
        if args.api_server:
            log("ocr: starting a Prefect API server for the PREFECT_API_URL variant")
            server = stack.enter_context(prefect_api_server())
            if server[0] is None:
                log("ocr: the Prefect API server did not come up; variant skipped")
            else:
                api = (server[0], server[1])
        for rnd in range(args.rounds):
            for name, f, p in sets:
                variants: list[tuple[str, Any]] = [("floor", floor_cmds(f, p)), ("docai", f)]
                if name in prepared:
                    variants.insert(1, ("floor-prepared", prepared[name][0]))
                if api is not None and name == "generated":
                    variants.append(("docai-api", f))
                if rnd % 2:
                    variants.reverse()
                for what, arg in variants:
                    label = f"{name}-{what}#{rnd}"
                    if what == "docai":
                        r = docai_run(label, [arg], workers)
                    elif what == "docai-api":
                        r = api_docai_run(label, [arg], workers, api)  # type: ignore[assignment]
                    else:
                        r = floor_run(label, arg, workers)
                    runs.append(r)
                    log(f"ocr: round {rnd + 1} {name} {what}: {r.wall_s:.1f}s "
                        f"(cpu {r.cpu_s:.1f}s, load {r.load_before})")
            starts = [docai_run(f"startup-1page#{rnd}", [one], None),
                      docai_run(f"startup-1page-noprefect#{rnd}", [one], None,
                                extra=["--no-prefect"])]
            api_start = api_docai_run(f"startup-1page-api#{rnd}", [one], None, api)
            if api_start is not None:
                starts.append(api_start)
            for r in starts:
                runs.append(r)
                log(f"ocr: round {rnd + 1} {r.label}: {r.wall_s:.1f}s (cpu {r.cpu_s:.1f}s)")

    def med(prefix: str, attr: str = "wall_s") -> float | None:
        return median(getattr(r, attr) for r in runs if r.label.startswith(prefix + "#"))

    startup: dict[str, Any] = {
        "one_page_s": med("startup-1page"), "one_page_cpu_s": med("startup-1page", "cpu_s"),
        "one_page_no_prefect_s": med("startup-1page-noprefect"),
        "one_page_no_prefect_cpu_s": med("startup-1page-noprefect", "cpu_s"),
        "one_page_api_server_s": med("startup-1page-api"),
        "one_page_api_server_cpu_s": med("startup-1page-api", "cpu_s"),
        "cpu_by_process": [r.extra.get("cpu_by_process") for r in runs
                           if r.label.startswith("startup-1page#")],
    }
    ctx["startup_s"] = startup["one_page_s"]
    ctx["startup_cpu_s"] = startup["one_page_cpu_s"]
    result: dict[str, Any] = {"workers": workers, "rounds": args.rounds, "startup": startup,
                              "sets": {}, "runs": [r.as_dict() for r in runs]}
    goals: list[Goal] = []
    rows: list[list[Any]] = []
    for name, _f, p in sets:
        n = sum(p.values())
        floor = _summary(runs, f"{name}-floor", n)
        docai = _summary(runs, f"{name}-docai", n)
        prep = _summary(runs, f"{name}-floor-prepared", n) if name in prepared else None
        docai_wall = median(docai["wall_s"])
        marginal = (docai_wall - startup["one_page_s"]
                    if docai_wall is not None and startup["one_page_s"] is not None else None)
        pps_excl = safe_div(n, marginal) if marginal and marginal > 0 else None
        docai_cpu = median(r.cpu_s for r in runs if r.label.startswith(f"{name}-docai#"))
        cpu_marginal = (docai_cpu - startup["one_page_cpu_s"]
                        if docai_cpu is not None and startup["one_page_cpu_s"] is not None
                        else None)
        docai["cpu_s_per_page_excluding_startup"] = _round(safe_div(cpu_marginal, n), 3)
        entry: dict[str, Any] = {
            "pages": n, "floor": floor, "docai": docai,
            "ratio": ratio(docai["pages_per_s"], floor["pages_per_s"]),
            "ratio_excluding_startup": ratio(pps_excl, floor["pages_per_s"]),
            "cpu_ratio": ratio(floor["cpu_s_per_page"], docai["cpu_s_per_page"]),
            "cpu_ratio_excluding_startup": ratio(floor["cpu_s_per_page"],
                                                 docai["cpu_s_per_page_excluding_startup"]),
            "docai_statuses": [r.extra.get("statuses") for r in runs
                               if r.label.startswith(f"{name}-docai#")][:1],
        }
        entry["docai_cpu_by_process"] = [r.extra.get("cpu_by_process") for r in runs
                                         if r.label.startswith(f"{name}-docai#")]
        api_sum = _summary(runs, f"{name}-docai-api", n)
        if api_sum["runs"]:
            entry["docai_api_server"] = api_sum
            entry["ratio_api_server"] = ratio(api_sum["pages_per_s"], floor["pages_per_s"])
        if prep is not None:
            entry["floor_prepared"] = prep
            entry["prepared"] = prepared[name][1]
            entry["ratio_vs_prepared_floor"] = ratio(docai["pages_per_s"], prep["pages_per_s"])
        result["sets"][name] = entry
        rows += [
            [f"ocr/{name}: floor (tesseract x{workers})", floor["pages_per_s"], "pages/s",
             f"{n} pages, {floor['cpu_s_per_page']} cpu-s/page, load {floor['load']}"],
            [f"ocr/{name}: docai process -j{workers}", docai["pages_per_s"], "pages/s",
             f"{docai['cpu_s_per_page']} cpu-s/page, load {docai['load']}"],
        ]
        if api_sum["runs"]:
            rows.append([f"ocr/{name}: docai, running Prefect server", api_sum["pages_per_s"],
                         "pages/s", f"ratio {entry['ratio_api_server']}; {api_sum['cpu_s_per_page']}"
                                    " cpu-s/page incl. the server's"])
        if prep is not None:
            rows.append([f"ocr/{name}: floor on docai-prepared images", prep["pages_per_s"],
                         "pages/s", f"{prepared[name][1]['upscaled']} of {n} pages upscaled, "
                                    f"x{prepared[name][1]['pixel_ratio']} pixels"])
        rows += [
            [f"ocr/{name}: ratio docai/floor", entry["ratio"], "", "start-up included"],
            [f"ocr/{name}: ratio excl. start-up", entry["ratio_excluding_startup"], "",
             "docai wall minus the 1-page run"],
            [f"ocr/{name}: cpu ratio floor/docai", entry["cpu_ratio"], "",
             "cpu-s per page, all processes"],
            [f"ocr/{name}: cpu ratio excl. start-up", entry["cpu_ratio_excluding_startup"], "",
             f"docai {docai['cpu_s_per_page_excluding_startup']} cpu-s/page after start-up"],
        ]
        if name == "generated":
            goals.append(Goal(f"OCR ratio docai/floor ({n} pages, start-up included)",
                              entry["ratio"], 0.95, note="wall clock on the shared machine"))
            goals.append(Goal(f"OCR ratio on CPU time ({n} pages, start-up included)",
                              entry["cpu_ratio"], 0.95,
                              note="floor cpu-s / docai cpu-s: the load-independent view"))
    rows += [
        ["startup: docai process, 1 native page", startup["one_page_s"], "s",
         f"temporary Prefect API; cpu {_round(startup['one_page_cpu_s'])}s"],
        ["startup: same, running Prefect server", startup["one_page_api_server_s"], "s",
         f"PREFECT_API_URL set; cpu {_round(startup['one_page_api_server_cpu_s'])}s"],
        ["startup: same, --no-prefect", startup["one_page_no_prefect_s"], "s",
         f"cpu {_round(startup['one_page_no_prefect_cpu_s'])}s"],
    ]
    result["goals"] = [g.as_dict() for g in goals]
    result["rows"] = rows
    return result
