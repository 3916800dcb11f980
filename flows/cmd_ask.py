"""``docai ask``: answer questions about documents; ``docai ask-eval``: measure QA on a dataset.

Examples::

    docai ask invoice.pdf "What is the invoice number?"
    docai ask invoice.pdf "What is the total?" --json --top-k 3
    docai ask scans/ -q "What is the total?" -q "What is the date?" --out answers.csv
    docai ask receipt.jpg "What is the total?" --show answer.png
    docai ask-eval ../shared/datasets/sroie --json

Each document is read (and OCR'd) once, however many questions are asked about it. Exit codes:
0 every document was read, 2 usage error, 3 some documents could not be read (rejected/failed),
4 missing dependency (tesseract, model weights), 5 output not writable.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from extractors.errors import DocaiError, ExitCode, UsageError
from flows.cli import (
    DeviceOpt,
    DpiOpt,
    LangOpt,
    ModelOpt,
    OcrOpt,
    _configure_logging,
    app,
    console,
    out_console,
    settings_from_options,
)

__all__ = ["ask", "ask_eval", "read_questions", "render_answers", "split_inputs"]

log = logging.getLogger("docai.ask")

ANSWER_KEYS = ("answer", "confidence", "page", "bbox", "engine")
"""The keys of one answer in ``--json`` output (more may follow)."""

CSV_COLUMNS = ("file", "question", "answer", "confidence", "page", "bbox", "engine", "error")


def read_questions(path: Path) -> list[str]:
    """Questions from a text file: one per line; blank lines and ``#`` comments are skipped.

    Raises:
        UsageError: the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the questions file {path.name}: "
                         f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def split_inputs(args: list[str], questions: list[str]) -> tuple[list[Path], list[str]]:
    """Positional arguments → input paths and questions.

    Without ``-q`` / ``--questions`` the last positional argument is the question.

    Raises:
        UsageError: no input, no question, or the would-be question is an existing path.
    """
    args = list(args)
    if not questions:
        if len(args) < 2:
            raise UsageError('give a file and a question: docai ask FILE "What is the total?" '
                             "(or -q QUESTION / --questions FILE)")
        last = args.pop()
        if Path(last).exists() and not any(c in last for c in "? "):
            raise UsageError(f"no question given ({last!r} is a file); add a question or -q")
        questions = [last]
    if not args:
        raise UsageError("no input file or folder given")
    questions = [q for q in (" ".join(q.split()) for q in questions) if q]
    if not questions:
        raise UsageError("the question is empty")
    return [Path(a) for a in args], questions


def _discover(inputs: list[Path]) -> list[tuple[Path, Path | None]]:
    missing = [str(p) for p in inputs if not p.exists() and not p.is_symlink()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    if not any(p.is_dir() for p in inputs):  # plain files: no need to import the flow (Prefect)
        return [(p.absolute(), p.absolute().parent) for p in inputs]
    from flows.process import discover

    return [(f.path, f.root) for f in discover(inputs)]


def _answer_dict(ans: Any) -> dict[str, Any]:
    return {"answer": ans.answer, "confidence": round(float(ans.confidence), 4), "page": ans.page,
            "bbox": ans.bbox, "engine": ans.engine}


def _render_page(path: Path, page: Any, settings: Any) -> Any:
    """The page as a PIL image, upright like the words' frame (PDF pages via pypdfium2)."""
    from PIL import Image, ImageOps, ImageSequence

    from extractors.preflight import preflight

    pre = preflight(path, settings)
    if pre.media_type == "application/pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            p = pdf[page.number - 1]
            w_pt, h_pt = p.get_size()
            scale = min(150 / 72.0, 2000 / max(w_pt, h_pt, 1.0))
            img = p.render(scale=scale).to_pil().convert("RGB")
            p.close()
        finally:
            pdf.close()
    else:
        with Image.open(path) as im:
            frame = next(f for i, f in enumerate(ImageSequence.Iterator(im)) if i == page.number - 1)
            img = ImageOps.exif_transpose(frame.copy()).convert("RGB")
    if getattr(page, "rotation", 0):
        img = img.rotate(page.rotation, expand=True)
    if max(img.size) > 2400:
        img.thumbnail((2400, 2400))
    return img


def render_answers(path: Path, doc: Any, answers: list[tuple[str, Any]], out: Path,
                   settings: Any) -> Path:
    """Draw the answers' boxes on the page of the first answer and save it as ``out`` (PNG).

    Args:
        path: the input file.
        doc: its :class:`~schemas.document.Document`.
        answers: ``(question, Answer)`` pairs; those on other pages are not drawn.
        out: the picture to write.
        settings: the run's settings (render limits).

    Raises:
        OutputError: the picture cannot be written.
    """
    from PIL import ImageDraw

    from extractors.errors import OutputError

    found = [(q, a) for q, a in answers if a.answer is not None and a.bbox and a.page]
    number = found[0][1].page if found else 1
    page = next((p for p in doc.pages if p.number == number), doc.pages[0] if doc.pages else None)
    if page is None:
        raise UsageError("the document has no page to draw")
    img = _render_page(path, page, settings)
    draw = ImageDraw.Draw(img)
    w, h = img.size
    colors = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080"]
    for k, (_, a) in enumerate(x for x in found if x[1].page == page.number):
        x0, y0, x1, y1 = a.bbox
        box = (x0 * w / 1000 - 3, y0 * h / 1000 - 3, x1 * w / 1000 + 3, y1 * h / 1000 + 3)
        color = colors[k % len(colors)]
        draw.rectangle(box, outline=color, width=max(2, w // 400))
        draw.text((box[0], max(0, box[1] - 14)), f"{k + 1}", fill=color)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, "PNG")
    except OSError as exc:
        raise OutputError(f"cannot write {out.name}: {exc.strerror}") from exc
    return out


def _write_csv(out: Path, rows: list[dict[str, Any]]) -> None:
    import csv
    import io

    from extractors.export import neutralize_cell
    from extractors.fsutil import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        cells = []
        for col in CSV_COLUMNS:
            v = r.get(col)
            if col == "bbox" and v:
                v = " ".join(str(x) for x in v)
            cells.append("" if v is None else neutralize_cell(str(v)))
        w.writerow(cells)
    atomic_write_text(out, buf.getvalue())


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def ask(
    args: Annotated[list[str], typer.Argument(
        help='Files or folders, then the question (unless -q/--questions): FILE... "QUESTION".',
        metavar="FILE... [QUESTION]")],
    question: Annotated[list[str] | None, typer.Option(
        "--question", "-q", help="A question (repeat for several; the document is read once).")] = None,
    questions_file: Annotated[Path | None, typer.Option(
        "--questions", help="A text file with one question per line.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (one object, or JSON lines for several).")] = False,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=20, help="Alternatives per question.")] = 1,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write one CSV row per document and question.")] = None,
    show: Annotated[Path | None, typer.Option("--show", help="Save the page with the answer box drawn (PNG).")] = None,
    qa_engine: Annotated[str, typer.Option("--qa-engine", help="QA engine: rules (default, no weights), layoutlmv3, layoutlm, lilt, donut.")] = "rules",
    model: ModelOpt = None,
    lang: LangOpt = None,
    dpi: DpiOpt = None,
    ocr_engine: OcrOpt = None,
    device: DeviceOpt = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Keep read documents in this folder (re-asking skips OCR).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (hash prefixes only).")] = False,
) -> None:
    """Answer questions about documents, with the answer's page and box.

    "I don't know" is an answer: `answer` is null with a low confidence when nothing fits.
    """
    _configure_logging(verbose)
    settings = settings_from_options(qa_engine=qa_engine, qa_model=model, lang=lang, dpi=dpi,
                                     ocr_engine=ocr_engine, device=device)
    asked = list(question or [])
    if questions_file is not None:
        asked += read_questions(questions_file)
    inputs, questions = split_inputs(args, asked)
    files = _discover(inputs)
    if not files:
        raise UsageError("no documents found in the given folders")
    if show is not None and len(files) > 1:
        raise UsageError("--show draws one document's page: give a single file")

    from extractors import registry
    from extractors.pipeline import Pipeline, safe_source
    from extractors.qa_eval import DocumentCache

    pipeline = Pipeline(settings)
    pipeline.check()
    engine = registry.create("qa", settings.qa_engine, settings)
    share = getattr(engine, "share_engines", None)
    if share is not None:  # the rules engine reuses the pipeline's classifier and extractor
        share(pipeline.classifier, pipeline.extractor)
    docs = DocumentCache(settings, cache, pipeline=pipeline)
    single = len(files) == 1 and len(questions) == 1 and out is None

    rows: list[dict[str, Any]] = []
    bad = 0
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("[bold]asking"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        disable=len(files) < 2 or not console.is_terminal)
    with progress:
        bar = progress.add_task("docs", total=len(files))
        for path, root in files:
            source = safe_source(path, root)
            try:
                doc = docs.get(path)
            except DocaiError as exc:
                if single:
                    raise
                bad += 1
                log.info("ask: %s could not be read (%s)", source, exc.reason)
                rows += [{"file": source, "question": q, "answer": None, "confidence": 0.0,
                          "page": None, "bbox": None, "engine": engine.name, "error": exc.reason}
                         for q in questions]
                progress.update(bar, advance=1)
                continue
            many = getattr(engine, "answer_many", None)
            results = (many(doc, questions, top_k=top_k) if many is not None
                       else [engine.answer(doc, q, top_k=top_k) for q in questions])
            for q, answers in zip(questions, results, strict=True):
                row = {"file": source, "question": q, **_answer_dict(answers[0]), "error": None,
                       "_answers": answers}
                rows.append(row)
            if show is not None:
                render_answers(path, doc, [(r["question"], r["_answers"][0]) for r in rows],
                               show, settings)
                console.print(f"page with the answer box drawn: {show}")
            progress.update(bar, advance=1)

    if out is not None:
        _write_csv(out, rows)
        console.print(f"{len(rows)} answers written to {out}")
    _print(rows, as_json=as_json, single=single, top_k=top_k, quiet=out is not None and not as_json)
    raise typer.Exit(ExitCode.INPUT_ISSUES if bad else ExitCode.OK)


def _print(rows: list[dict[str, Any]], *, as_json: bool, single: bool, top_k: int,
           quiet: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if as_json:
        for r in rows:
            answers = r.get("_answers") or []
            obj = _answer_dict(answers[0]) if answers else {k: r[k] for k in ANSWER_KEYS}
            if not single:
                obj = {"file": r["file"], "question": r["question"], **obj}
                if r.get("error"):
                    obj["error"] = r["error"]
            if top_k > 1 and answers:
                obj["alternatives"] = [_answer_dict(a) for a in answers[1:]]
            print(json.dumps(obj, ensure_ascii=False))
        return
    if quiet:
        return
    if single:
        answers = rows[0].get("_answers") or []
        best = answers[0] if answers else None
        if best is None or best.answer is None:
            out_console.print(f"[yellow]I don't know[/yellow] (confidence "
                              f"{rows[0]['confidence']:.2f})")
        else:
            out_console.print(f"[bold]{escape(best.answer)}[/bold]")
            out_console.print(f"confidence {best.confidence:.2f} · page {best.page} · "
                              f"box {best.bbox} · engine {best.engine}")
            if best.words:
                out_console.print("words: " + escape(" | ".join(best.words)))
        for k, alt in enumerate(answers[1:], start=2):
            out_console.print(f"  {k}. {escape(str(alt.answer))} ({alt.confidence:.2f}, "
                              f"page {alt.page})")
        return
    table = Table(show_lines=False)
    for col in ("file", "question", "answer", "confidence", "page"):
        table.add_column(col, overflow="fold", justify="right" if col in ("confidence", "page")
                         else "left")
    for r in rows:
        answer = r["answer"]
        shown = (f"[red]({r['error']})[/red]" if r.get("error") else
                 "[yellow]—[/yellow]" if answer is None else escape(str(answer)))
        table.add_row(escape(r["file"]), escape(r["question"]), shown, f"{r['confidence']:.2f}",
                      str(r["page"] or "-"))
    out_console.print(table)


@app.command("ask-eval")
def ask_eval(
    dataset: Annotated[Path, typer.Argument(help="SROIE, FUNSD, generated samples (labels.jsonl) or DocVQA-style folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N documents.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only questions with this tag (e.g. total); repeatable.")] = None,
    rows_out: Annotated[Path | None, typer.Option("--rows", help="Write every question's prediction and gold answers (JSONL; contains document text).")] = None,
    qa_engine: Annotated[str, typer.Option("--qa-engine", help="QA engine to measure.")] = "rules",
    model: ModelOpt = None,
    lang: LangOpt = None,
    dpi: DpiOpt = None,
    device: DeviceOpt = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Document cache folder (default: docai eval's cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Read every document afresh.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Measure a QA engine: mean ANLS (DocVQA, threshold 0.5) per question kind on a dataset."""
    _configure_logging(verbose)
    settings = settings_from_options(qa_engine=qa_engine, qa_model=model, lang=lang, dpi=dpi,
                                     device=device)
    if not dataset.is_dir():
        raise UsageError(f"no such dataset folder: {dataset}")
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from extractors.qa_eval import evaluate_qa

    progress = Progress(TextColumn("[bold]ask-eval"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        disable=not console.is_terminal)
    with progress:
        bar = progress.add_task("docs", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        report = evaluate_qa(dataset, settings=settings, limit=limit, tags=tag,
                             cache_dir=None if no_cache else (cache or "default"),
                             on_progress=tick)
    if rows_out is not None:
        from extractors.fsutil import atomic_write_text

        atomic_write_text(rows_out, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                            for r in report.rows))
    summary = report.to_dict()
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"QA on {dataset.name}: {report.n} questions, engine {report.engine}")
    table.add_column("question kind")
    table.add_column("n", justify="right")
    table.add_column("mean ANLS", justify="right")
    for name, d in summary["by_tag"].items():
        table.add_row(name, str(d["n"]), f"{d['anls']:.4f}")
    table.add_row("[bold]all[/bold]", str(summary["n"]), f"[bold]{summary['mean_anls']:.4f}[/bold]")
    out_console.print(table)
    rep = summary.get("repeated")
    if rep:
        console.print(f"{rep['questions']} questions repeat another's text on the same document "
                      f"(a key printed twice); each distinct question once ({rep['distinct']}), "
                      f"any of its answers accepted: mean ANLS {rep['distinct_anls']:.4f}")
    console.print(f"{summary['seconds']:.0f} s")
