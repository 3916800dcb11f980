"""``docai train``: fine-tune a LayoutLM-family token classifier on a labelled folder.

The result is a normal ``save_pretrained`` directory that ``docai process|eval --extract-engine
layoutlmv3 --model OUT`` loads (``layoutlm``/``lilt`` engine names load it too). Exit codes: 0
trained and saved, 2 usage (no folder, no labels, bad options), 4 missing dependency (torch,
transformers, ``--init`` weights, the MiniLM vocabulary, tesseract).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from extractors.errors import ExitCode, UsageError
from flows.cli import app, console, out_console, settings_from_options

__all__ = ["train"]


@app.command()
def train(
    dataset: Annotated[Path, typer.Argument(help="Labelled folder: labels.jsonl (shared datasets, samples generator) or FUNSD annotations/ + images/.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (save_pretrained + tokenizer/processor + train_report.json).")],
    arch: Annotated[str, typer.Option("--arch", help="layoutlmv3 or layoutlm (ignored with --init: the init model's architecture is used).")] = "layoutlmv3",
    init: Annotated[str | None, typer.Option("--init", help="Hub id or local dir to fine-tune from (default: build from a config).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training split (early stopping may end sooner).")] = 3,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per optimisation step.")] = 8,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate (default 5e-5 with --init, 2e-4 from a config).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of documents held out for validation.")] = 0.15,
    patience: Annotated[int, typer.Option("--patience", help="Stop after this many epochs without a better validation score.")] = 2,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimisation steps.")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop training after this much wall time.")] = None,
    max_docs: Annotated[int | None, typer.Option("--max-docs", help="Use only the first N labelled documents.")] = None,
    words: Annotated[str, typer.Option("--words", help="Where words come from: ocr (our pipeline, like inference; cached), dataset (the set's own transcription: SROIE box csv, FUNSD words) or auto.")] = "ocr",
    model_config: Annotated[str | None, typer.Option("--model-config", help='JSON of config overrides, e.g. \'{"num_hidden_layers": 2}\'.')] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Cache of OCR'd documents (default ~/.cache/docai/train).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    lang: Annotated[str, typer.Option("--lang", help="Tesseract language(s) for --words ocr.")] = "eng",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Fine-tune a token classifier on DATASET and save it to OUT."""
    from extractors.models.train import TrainOptions
    from extractors.models.train import train as run_training

    settings = settings_from_options(lang=lang, device=device, batch_size=batch_size)
    if not dataset.is_dir():
        console.print(f"[red]no such dataset folder:[/red] {dataset}")
        raise typer.Exit(ExitCode.USAGE)
    overrides: dict[str, Any] = {}
    if model_config:
        try:
            overrides = json.loads(model_config)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--model-config is not JSON ({exc.msg})") from None
        if not isinstance(overrides, dict):
            raise UsageError("--model-config must be a JSON object")
    if cache_dir is None:
        import os

        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache_dir = Path(base) / "docai" / "train"
    options = TrainOptions(
        dataset=dataset, out=out, arch=arch, init=init, epochs=epochs, device=device,
        batch_size=batch_size, lr=lr, val_fraction=val_fraction, patience=patience,
        max_steps=max_steps, max_minutes=max_minutes, max_docs=max_docs, words=words,
        model_config=overrides, cache_dir=cache_dir, seed=seed)

    def say(msg: str) -> None:
        if not quiet:
            console.print(f"[dim]{msg}[/dim]")

    report = run_training(options, settings, progress=say)
    if report.evaluation:
        try:
            from flows.cmd_eval import _print_summary

            out_console.print(f"validation ({report.n_val} documents, best epoch {report.best_epoch}):")
            _print_summary(report.evaluation)
        except Exception:  # the printed table is a nicety; the report file is the record
            out_console.print_json(json.dumps(report.evaluation.get("overall", {})))
    if report.coverage:
        cov = ", ".join(f"{k} {100 * v:.0f}%" for k, v in report.coverage.items())
        out_console.print(f"labelled values found among the words: {cov}")
    out_console.print(
        f"trained {report.arch} ({report.n_train} train / {report.n_val} val docs, "
        f"{report.epochs_run} epoch(s), {report.steps} steps, stopped: {report.stopped}, "
        f"{report.seconds:.0f}s) → {out}  (report: {out / 'train_report.json'})")
    out_console.print(f"use it: docai process DOCS --out RESULTS --extract-engine layoutlmv3 --model {out}")
