"""``docai eval``: run the pipeline over a labelled folder and measure it.

Exit codes: 0 the evaluation ran (whatever the accuracy), 2 usage (no such folder, no labels,
unknown ``--diff`` id), 4 missing dependency (tesseract), 5 output folder not writable.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from extractors.errors import DocaiError, UsageError
from flows.cli import app, console, out_console, settings_from_options

__all__ = ["eval_command"]

log = logging.getLogger("docai.eval")


def _pick(examples: list[Any], wanted: str) -> Any:
    for ex in examples:
        if wanted in (ex.id, ex.file, Path(ex.file).name, Path(ex.file).stem):
            return ex
    close = [ex.id for ex in examples if wanted.lower() in ex.id.lower()][:5]
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise UsageError(f"no document {wanted!r} in the dataset{hint}")


def _short(v: Any, n: int = 60) -> str:
    s = "—" if v is None else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    fields = summary["fields"]
    if fields:
        t = Table(title=f"fields ({summary['n_docs']} documents)")
        for col in ("field", "n", "exact", "ANLS", "predicted"):
            t.add_column(col, justify="left" if col == "field" else "right")
        for name, d in fields.items():
            t.add_row(name, str(d["n"]), f"{100 * d['exact']:.1f}%", f"{d['anls']:.4f}",
                      f"{100 * d['predicted']:.1f}%")
        ov = summary["overall"]
        t.add_row("[bold]all fields[/]", str(ov["n"]), f"[bold]{100 * ov['exact']:.1f}%[/]",
                  f"[bold]{ov['anls']:.4f}[/]", "")
        out_console.print(t)
    dt = summary["doc_type"]
    lines = [f"documents: {summary['n_docs']}  status: "
             + ", ".join(f"{k} {v}" for k, v in summary["status"].items())]
    if dt["n"]:
        err = f"  errors: {dt['errors']}" if dt["errors"] else ""
        lines.append(f"doc type accuracy: {100 * dt['accuracy']:.1f}% of {dt['n']}{err}")
    for key, label in (("key_values", "key-value pairs"), ("line_items", "line items")):
        m = summary.get(key)
        if m:
            lines.append(f"{label}: precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
                         f"F1 {m['f1']:.4f}  (matched {m['tp']}, predicted {m['n_pred']}, "
                         f"labelled {m['n_gold']}; macro F1 {m['macro_f1']:.4f})")
    def acc(g: dict[str, Any]) -> str:
        return "—" if g["accuracy"] is None else f"{100 * g['accuracy']:.1f}%"

    kvc = summary.get("kv_calibration")
    if kvc and kvc["n"]:
        lines.append(f"key-value confidence: ≥ 0.9 → {acc(kvc['high'])} matched (n={kvc['high']['n']}); "
                     f"< 0.5 → {acc(kvc['low'])} matched (n={kvc['low']['n']})")
    cal = summary["calibration"]
    if cal["n"]:

        lines.append(f"calibration: confidence ≥ 0.9 → {acc(cal['high'])} right (n={cal['high']['n']}); "
                     f"< 0.5 → {acc(cal['low'])} right (n={cal['low']['n']}); ECE {cal['ece']}")
        thr = cal["threshold_for_target"]
        lines.append(f"  lowest confidence with ≥ {cal['target']:.0%} right above it: {thr}"
                     + (f" (covers {100 * cal['coverage_at_threshold']:.1f}% of fields)"
                        if thr is not None else ""))
        rel = Table(title="reliability", show_header=True)
        for col in ("confidence", "fields", "mean conf.", "accuracy"):
            rel.add_column(col, justify="right")
        for b in cal["bins"]:
            if b["n"]:
                rel.add_row(f"{b['lo']:.1f}–{b['hi']:.1f}", str(b["n"]), f"{b['mean_confidence']:.3f}",
                            f"{100 * b['accuracy']:.1f}%")
        out_console.print(rel)
    lines.append(f"time: {summary['seconds']:.1f} s in documents, {summary.get('wall_seconds', 0):.1f} s "
                 f"wall; cache: " + ", ".join(f"{k} {v}" for k, v in summary["cache"].items()))
    for line in lines:
        out_console.print(escape(line), soft_wrap=True)
    if summary["worst"]:
        t = Table(title="worst documents (predicted ≠ expected)")
        t.add_column("document")
        t.add_column("score", justify="right")
        t.add_column("problems", overflow="fold")
        for w in summary["worst"]:
            probs = [f"{f['name']}: {_short(f['predicted'], 40)!s} ≠ {_short(f['expected'], 40)}"
                     for f in w["fields"] if not f["exact"]]
            if w["expected_doc_type"] and w["predicted_doc_type"] != w["expected_doc_type"]:
                probs.insert(0, f"doc type: {w['predicted_doc_type']} ≠ {w['expected_doc_type']}")
            for key, label in (("kv", "pairs"), ("line_items", "items")):
                m = w.get(key)
                if m and m["tp"] < max(m["n_gold"], m["n_pred"]):
                    probs.append(f"{label}: {m['tp']} matched of {m['n_gold']} labelled, "
                                 f"{m['n_pred']} predicted")
            if w["status"] in ("failed", "rejected"):
                probs.insert(0, f"status {w['status']}")
            t.add_row(w["id"], f"{w['score']:.2f}", escape("; ".join(probs)))
        out_console.print(t)


def _print_diff(result: Any, example: Any, record: Any) -> None:
    from rich.markup import escape

    from extractors.evaluate import match_line_items

    out_console.print(f"[bold]{escape(result.id)}[/] ({escape(result.file)})  status {result.status}"
                      + (f" ({result.reason})" if result.reason else "")
                      + f"  score {result.score:.2f}")
    ok = result.expected_doc_type in (None, result.predicted_doc_type)
    out_console.print(f"doc type: expected {result.expected_doc_type}, predicted "
                      f"[{'green' if ok else 'red'}]{result.predicted_doc_type}[/] "
                      f"(confidence {result.doc_type_confidence})")
    t = Table(title="fields")
    for col in ("field", "expected", "predicted", "confidence", "ANLS", ""):
        t.add_column(col, overflow="fold")
    for f in result.fields:
        t.add_row(f.name, escape(f.expected), escape(str(f.predicted)) if f.predicted is not None
                  else "[dim]—[/]", "" if f.confidence is None else f"{f.confidence:.2f}",
                  f"{f.anls:.2f}", "[green]✓[/]" if f.exact else "[red]✗[/]")
    extra = sorted(set(record.fields) - {f.name for f in result.fields})
    for name in extra:
        f = record.fields[name]
        t.add_row(f"[dim]{name}[/]", "[dim](not labelled)[/]", escape(str(f.value)),
                  f"{f.confidence:.2f}", "", "")
    out_console.print(t)
    if result.kv is not None:
        kv = result.kv
        out_console.print(f"key-value pairs: matched {kv['tp']}, predicted {kv['n_pred']}, "
                          f"labelled {kv['n_gold']}")
        for title, rows in (("labelled, not found", result.kv_unmatched_gold),
                            ("predicted, not labelled", result.kv_unmatched_pred)):
            if rows:
                tt = Table(title=title)
                tt.add_column("key", overflow="fold")
                tt.add_column("value", overflow="fold")
                for k, v in rows:
                    tt.add_row(escape(k), escape(v))
                out_console.print(tt)
    if example.line_items is not None:
        from extractors.evaluate import _record_line_items

        pred = _record_line_items(record)
        pairs = dict(match_line_items(pred, example.line_items))
        by_gold = {j: i for i, j in pairs.items()}
        tt = Table(title=f"line items: matched {len(pairs)}, predicted {len(pred)}, "
                         f"labelled {len(example.line_items)}")
        for col in ("expected description", "expected amount", "predicted description",
                    "predicted amount", ""):
            tt.add_column(col, overflow="fold")
        for j, g in enumerate(example.line_items):
            i = by_gold.get(j)
            p = pred[i] if i is not None else {}
            tt.add_row(escape(str(g.get("description"))), escape(str(g.get("amount"))),
                       escape(str(p.get("description", "—"))), escape(str(p.get("amount", "—"))),
                       "[green]✓[/]" if i is not None else "[red]✗[/]")
        for i, p in enumerate(pred):
            if i not in pairs:
                tt.add_row("", "", escape(str(p.get("description"))), escape(str(p.get("amount"))),
                           "[red]extra[/]")
        out_console.print(tt)
    if record.errors:
        out_console.print("validation: " + ", ".join(f"{e.field}:{e.code}" for e in record.errors))


@app.command("eval")
def eval_command(
    dataset_dir: Annotated[Path, typer.Argument(help="Labelled folder: labels.jsonl (or FUNSD annotations/ + images/).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write summary.json, results.jsonl and records.jsonl here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON summary to stdout.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report (index.html) here.")] = None,
    diff: Annotated[str | None, typer.Option("--diff", help="Show one document's predicted vs expected values (id, file or stem).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Evaluate only the first N documents.")] = None,
    worst: Annotated[int, typer.Option("--worst", min=0, help="How many worst documents to list.")] = 10,
    cache: Annotated[Path | None, typer.Option("--cache", help="OCR cache folder (default ~/.cache/docai/eval).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the OCR cache.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Documents processed at once (default: CPU cores).")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Tesseract language(s), e.g. eng or eng+deu+fra.")] = None,
    dpi: Annotated[int | None, typer.Option("--dpi", help="Render resolution for scanned PDF pages.")] = None,
    ocr_engine: Annotated[str | None, typer.Option("--ocr-engine", help="OCR engine name.")] = None,
    classify_engine: Annotated[str | None, typer.Option("--classify-engine", help="Document-type engine name.")] = None,
    extract_engine: Annotated[str | None, typer.Option("--extract-engine", help="Field extraction engine name.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Hub id or local dir for a model engine.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N (model engines).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (hash prefixes only).")] = False,
) -> None:
    """Measure the pipeline on a labelled folder: per-field exact match and ANLS, doc type,
    key-value and line-item F1, confidence calibration, and the worst documents."""
    from flows.cli import _configure_logging

    _configure_logging(verbose)
    settings = settings_from_options(workers=workers, lang=lang, dpi=dpi, ocr_engine=ocr_engine,
                                     classify_engine=classify_engine, extract_engine=extract_engine,
                                     model=model, device=device)
    try:
        _run(dataset_dir, settings, out=out, as_json=as_json, report=report, diff=diff,
             limit=limit, worst=worst, cache=cache, no_cache=no_cache, quiet=quiet)
    except DocaiError as exc:
        console.print(f"[red]error ({exc.reason}):[/red] {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None


def _run(dataset_dir: Path, settings: Any, *, out: Path | None, as_json: bool, report: Path | None,
         diff: str | None, limit: int | None, worst: int, cache: Path | None, no_cache: bool,
         quiet: bool) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from extractors.eval_run import EvalRunner, default_cache_dir
    from extractors.evaluate import load_dataset, summarize
    from extractors.fsutil import atomic_write_text
    from extractors.settings import PIPELINE_VERSION

    examples = load_dataset(dataset_dir)
    if diff is not None:
        examples = [_pick(examples, diff)]
    elif limit is not None:
        examples = examples[:limit]
    if not examples:
        raise UsageError(f"no labelled documents in {dataset_dir}")
    cache_dir = None if no_cache else (cache or default_cache_dir())
    runner = EvalRunner(settings, cache_dir=cache_dir)
    runner.check()
    progress = Progress(TextColumn("[bold]evaluating"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[cached]} cached"), TimeRemainingColumn(),
                        console=console, transient=True,
                        disable=quiet or as_json or not console.is_terminal)
    t0 = time.perf_counter()
    cached = 0
    with progress:
        bar = progress.add_task("docs", total=len(examples), cached=0)

        def tick(result: Any, record: Any) -> None:
            nonlocal cached
            cached += result.cache != "none"
            progress.update(bar, advance=1, cached=cached)

        pairs = runner.run(examples, workers=settings.workers, on_result=tick)
    wall = time.perf_counter() - t0
    results = [r for r, _ in pairs]
    records = {r.id: rec for r, rec in pairs}
    summary = summarize(results, worst=worst)
    summary = {"dataset": str(dataset_dir), "pipeline_version": PIPELINE_VERSION,
               "engine": runner.pipeline.engine_info(), "settings_hash": settings.output_hash(),
               "wall_seconds": round(wall, 2), **summary}
    if diff is not None:
        result = results[0]
        if as_json:
            typer.echo(json.dumps({**result.to_dict(),
                                   "record": records[result.id].model_dump(mode="json")},
                                  ensure_ascii=False))
        else:
            _print_diff(result, examples[0], records[result.id])
        return
    if out is not None:
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "results.jsonl", "".join(
            json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results))
        atomic_write_text(out / "records.jsonl", "".join(
            json.dumps({"id": r.id, **records[r.id].model_dump(mode="json")}, ensure_ascii=False)
            + "\n" for r in results))
    if report is not None:
        from extractors.report import write_report

        path = write_report(report, summary, results, examples={ex.id: ex for ex in examples},
                            records=records, title=f"docai eval: {dataset_dir}", worst=worst)
        console.print(f"report: {path}")
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
        if out is not None:
            console.print(f"outputs in {out}/: summary.json, results.jsonl, records.jsonl")
