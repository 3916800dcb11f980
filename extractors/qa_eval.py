"""QA evaluation: mean ANLS of a QA engine on labelled document sets (SROIE, FUNSD, generated).

ANLS is the DocVQA metric, computed by the one implementation :func:`extractors.evaluate.anls`
(``docai eval`` uses it too): for each question, ``1 - NL`` where NL is the normalised Levenshtein
distance between the predicted and a gold answer, both normalised by
:func:`extractors.evaluate.norm_text` (Unicode NFKC, case-folded, whitespace collapsed, no space
before punctuation), set to 0 when NL ≥ 0.5, maximised over the gold answers, then averaged over
questions. "I don't know" (``None``) scores 0.

Supported layouts (detected from the folder):

- **SROIE** (``key/NNN.json`` + ``img/NNN.jpg``): "What is the total / date / company name /
  address?" against the key values.
- **FUNSD** (``training_data/annotations/*.json``, with or without ``labels.jsonl``): for every
  question entity linked to answer entities, "What is the <question text>?" against the linked
  answers' texts (several linked answers are all accepted, as DocVQA does).
- **generated samples** (``labels.jsonl`` rows with ``file`` and ``fields``, as written by
  ``python -m samples.generate``): invoice number, dates, totals, PO number, vendor; the
  canonical value (``1039.83``, ``2024-08-06``) and the printed text (``1.039,83 €``,
  ``06.08.2024``) are both accepted.
- **DocVQA-style** (``labels.jsonl`` rows with ``question`` and ``answers``, e.g. ``funsd_vqa``).

OCR is the slow part, so loaded :class:`~schemas.document.Document` objects are cached per file
sha256 (:class:`DocumentCache`, in the cache folder ``docai eval`` uses, sharing its page cache);
the layout is rebuilt on every load, so layout changes take effect without re-OCR.

>>> round(anls("9.00", ["9.00"]), 2), round(anls("RM9.00", ["9.00"]), 2), anls(None, ["x"])
(1.0, 0.67, 0.0)
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractors.errors import UsageError
from extractors.evaluate import anls
from extractors.settings import Settings
from schemas.document import Document

__all__ = [
    "QAExample",
    "QAReport",
    "DocumentCache",
    "anls",
    "funsd_pairs",
    "funsd_question",
    "default_cache_dir",
    "evaluate_qa",
    "load_examples",
    "repeated_questions",
]

log = logging.getLogger("docai.qa_eval")

SROIE_QUESTIONS: dict[str, str] = {
    "total": "What is the total?",
    "date": "What is the date?",
    "company": "What is the company name?",
    "address": "What is the address?",
}
"""SROIE key → question asked."""

SAMPLE_QUESTIONS: dict[str, str] = {
    "invoice_id": "What is the invoice number?",
    "invoice_date": "What is the invoice date?",
    "due_date": "What is the due date?",
    "transaction_date": "What is the date?",
    "subtotal": "What is the subtotal?",
    "tax_total": "What is the tax amount?",
    "total": "What is the total?",
    "amount_due": "What is the amount due?",
    "po_number": "What is the PO number?",
    "vendor_name": "Who is the vendor?",
    "merchant_name": "What is the merchant name?",
}
"""Canonical field → question asked on generated samples (fields absent from a label are skipped)."""


# -- datasets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QAExample:
    """One question about one file with its accepted answers; ``tag`` groups the report."""

    path: Path
    question: str
    answers: tuple[str, ...]
    tag: str
    doc_id: str = ""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _sroie_examples(root: Path) -> Iterator[QAExample]:
    for key in sorted((root / "key").glob("*.json")):
        image = root / "img" / f"{key.stem}.jpg"
        if not image.exists():
            continue
        values = json.loads(key.read_text(encoding="utf-8"))
        for name, question in SROIE_QUESTIONS.items():
            gold = values.get(name)
            if gold:
                yield QAExample(image, question, (str(gold),), name, key.stem)


def funsd_pairs(annotation: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """``(question text, [linked answer texts])`` per FUNSD question entity.

    The links are read by :func:`extractors.evaluate.funsd_pairs` (``question``↔``answer``, either
    order, duplicates removed); a question linked to several answers asks once and accepts each.
    """
    from extractors.evaluate import funsd_pairs as links

    by_question: dict[Any, tuple[str, list[str]]] = {}
    for pair in links(annotation.get("form", [])):
        qtext, texts = by_question.setdefault(pair["question_id"], (pair["question"].strip(), []))
        answer = pair["answer"]
        if answer.strip() and answer not in texts:
            texts.append(answer)
    return [(q, texts) for _, (q, texts) in sorted(by_question.items(), key=lambda kv: kv[0])
            if q and texts]


def funsd_question(key_text: str) -> str:
    """``"What is the <key text>?"`` with the key's trailing colon dropped."""
    key = " ".join(key_text.split()).rstrip(":;.").strip()
    return f"What is the {key}?"


def _funsd_examples(root: Path) -> Iterator[QAExample]:
    base = root / "training_data" if (root / "training_data").is_dir() else root
    for ann_path in sorted((base / "annotations").glob("*.json")):
        image = base / "images" / f"{ann_path.stem}.png"
        if not image.exists():
            continue
        ann = json.loads(ann_path.read_text(encoding="utf-8"))
        for qtext, texts in funsd_pairs(ann):
            yield QAExample(image, funsd_question(qtext), tuple(texts), "funsd", ann_path.stem)


def _samples_examples(root: Path, rows: list[dict[str, Any]]) -> Iterator[QAExample]:
    for row in rows:
        path = root / row["file"]
        fields = row.get("fields") or {}
        printed = row.get("printed") or {}
        doc_id = str(row.get("id") or Path(row["file"]).stem)
        for name, question in SAMPLE_QUESTIONS.items():
            gold = fields.get(name)
            # a label may be {"value": ..., "text": ...} or the value itself
            candidates = ([gold.get("value"), gold.get("text")] if isinstance(gold, dict)
                          else [gold])
            candidates.append(printed.get(name))  # the value as printed is right too
            golds = tuple(dict.fromkeys(str(v) for v in candidates if v not in (None, "")))
            if golds:
                yield QAExample(path, question, golds, name, doc_id)


def _vqa_examples(root: Path, rows: list[dict[str, Any]]) -> Iterator[QAExample]:
    for row in rows:
        answers = tuple(str(a) for a in row.get("answers") or [])
        if row.get("question") and answers:
            yield QAExample(root / row["file"], str(row["question"]), answers,
                            str(row.get("qa_type") or "vqa"), str(row.get("doc_id") or ""))


def load_examples(dataset_dir: str | Path) -> list[QAExample]:
    """The QA examples of a dataset folder (layout detected; see the module docstring).

    Raises:
        UsageError: the folder is missing or its layout is not recognised.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise UsageError(f"no such dataset folder: {root}")
    if (root / "key").is_dir() and (root / "img").is_dir():
        return list(_sroie_examples(root))
    labels = root / "labels.jsonl"
    rows = _read_jsonl(labels) if labels.exists() else []
    if rows and "question" in rows[0]:
        return list(_vqa_examples(root, rows))
    if (root / "training_data" / "annotations").is_dir() or (root / "annotations").is_dir():
        return list(_funsd_examples(root))
    if rows and "fields" in rows[0] and "file" in rows[0]:
        return list(_samples_examples(root, rows))
    raise UsageError(f"unrecognised dataset layout in {root} (expected SROIE, FUNSD, "
                     "generated samples or DocVQA-style labels.jsonl)")


# -- document cache ---------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$DOCAI_CACHE_DIR``, else the cache ``docai eval`` uses (``~/.cache/docai/eval``)."""
    env = os.environ.get("DOCAI_CACHE_DIR")
    if env:
        return Path(env)
    from extractors.eval_run import default_cache_dir as eval_cache_dir

    return eval_cache_dir()


class DocumentCache:
    """Loaded documents, cached as gzip'd JSON per file sha256 (``cache_dir/qa-docs``).

    The key holds the settings that change reading, the OCR engine's version and the reading
    code (:func:`extractors.eval_run.document_salt`, as ``docai eval``'s document cache), so a
    code change is a miss, never a stale hit. On a miss the file is
    loaded through ``Pipeline.load`` with the OCR engine wrapped in the page cache that
    ``docai eval`` shares (:class:`extractors.eval_run.CachingOcr`), so a miss after a change to
    page reading rarely runs Tesseract again. The layout (lines, blocks) is rebuilt on every load.

    Args:
        settings: the run's settings.
        cache_dir: cache root; ``None`` disables caching (every ``get`` loads the file).
        pipeline: the pipeline to load with (built on the first miss when not given).
    """

    def __init__(self, settings: Settings, cache_dir: str | Path | None, *,
                 pipeline: Any = None) -> None:
        self.settings = settings
        self.dir = Path(cache_dir) if cache_dir is not None else None
        self._pipeline = pipeline
        self._salt: str | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def pipeline(self) -> Any:
        """The pipeline that reads files (built lazily)."""
        with self._lock:
            if self._pipeline is None:
                from extractors.pipeline import Pipeline

                self._pipeline = Pipeline(self.settings)
            return self._pipeline

    def _key(self, sha: str) -> str:
        if self._salt is None:
            from extractors.eval_run import document_salt

            self._salt = document_salt(self.pipeline.ocr, self.settings)
        return hashlib.sha256(f"qa|{self._salt}|{sha}".encode()).hexdigest()

    def get(self, path: str | Path) -> Document:
        """The document of ``path`` (from the cache when present), layout freshly built.

        Raises:
            InputRejected: the file is bad (as :meth:`Pipeline.load`).
        """
        from extractors.layout import build_layout
        from extractors.preflight import sha256_file

        path = Path(path)
        if self.dir is None:
            self.misses += 1
            return self.pipeline.load(path)[1]
        from extractors.eval_run import CachingOcr, EvalCache

        store = EvalCache(self.dir)
        key = self._key(sha256_file(path))
        stored = store.get("qa-docs", key)
        if stored is not None:
            try:
                doc = Document.model_validate(stored)
            except ValueError:
                doc = None
            if doc is not None:
                self.hits += 1
                pages = [build_layout(p) if p.status == "ok" else p for p in doc.pages]
                return doc.model_copy(update={"pages": pages, "source": path.name})
        self.misses += 1
        pipe = copy.copy(self.pipeline)  # shares the engines; only the OCR wrapper differs
        pipe.ocr = CachingOcr(self.pipeline.ocr, store, self.settings)
        _, doc = pipe.load(path)
        if all(p.status == "ok" for p in doc.pages):
            store.put("qa-docs", key, doc.model_dump(mode="json"))
        return doc


# -- evaluation -------------------------------------------------------------------------------
@dataclass
class QAReport:
    """Mean ANLS overall and per tag, with per-question rows for error analysis."""

    dataset: str
    n: int = 0
    mean_anls: float = 0.0
    by_tag: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = ""
    repeated: dict[str, float] | None = None
    """When some questions repeat another's text on the same document (a form with two "Date:"
    keys, each with its own answer): how many, and the mean ANLS with each distinct question asked once and
    any of its answers accepted (:func:`repeated_questions`); ``None`` when no question repeats."""

    def to_dict(self, *, with_rows: bool = False) -> dict[str, Any]:
        """JSON-ready summary (``rows`` only when asked: they contain document text)."""
        out: dict[str, Any] = {"dataset": self.dataset, "engine": self.engine, "n": self.n,
                               "mean_anls": round(self.mean_anls, 4),
                               "by_tag": {k: {"n": int(v["n"]), "anls": round(v["anls"], 4)}
                                          for k, v in sorted(self.by_tag.items())},
                               "seconds": round(self.seconds, 1)}
        if self.repeated is not None:
            out["repeated"] = self.repeated
        if with_rows:
            out["rows"] = self.rows
        return out


def repeated_questions(rows: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """Questions that repeat another's text on the same document, from :class:`QAReport` rows.

    FUNSD asks "What is the <key text>?" for every key, and a form may print the same key twice
    ("Date:" by two signatures), each with its own answer: one engine answer cannot match both.
    Returned: ``questions`` (rows whose text another row of the same document repeats),
    ``distinct`` (distinct questions over the set) and ``distinct_anls`` (the mean ANLS with each
    distinct question counted once, its first answer scored against every answer of its repeats).
    The headline ``mean_anls`` stays per question; this is the ceiling's measure beside it.

    >>> rows = [{"doc": "a", "question": "What is the Date?", "pred": "1/2/90", "gold": ["1/2/90"]},
    ...         {"doc": "a", "question": "What is the date?", "pred": "1/2/90", "gold": ["3/4/91"]},
    ...         {"doc": "a", "question": "What is the Name?", "pred": "Bo", "gold": ["Al"]}]
    >>> repeated_questions(rows)
    {'questions': 2, 'distinct': 2, 'distinct_anls': 0.5}
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(str(r["doc"]), " ".join(str(r["question"]).casefold().split()))].append(r)
    repeats = sum(len(g) for g in groups.values() if len(g) > 1)
    if not repeats:
        return None
    scores = [anls(g[0]["pred"], [a for r in g for a in r["gold"]]) for g in groups.values()]
    return {"questions": repeats, "distinct": len(groups),
            "distinct_anls": round(sum(scores) / len(scores), 4)}


def evaluate_qa(
    dataset_dir: str | Path,
    *,
    settings: Settings | None = None,
    engine: Any = None,
    cache_dir: str | Path | None = "default",
    limit: int | None = None,
    tags: Iterable[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> QAReport:
    """Mean ANLS of a QA engine on a dataset folder.

    Args:
        dataset_dir: SROIE, FUNSD, generated-samples or DocVQA-style folder.
        settings: run settings (engines, OCR); defaults to ``Settings()``.
        engine: a QA engine; defaults to ``registry.create("qa", settings.qa_engine, settings)``.
        cache_dir: Document cache folder; ``"default"`` → :func:`default_cache_dir`, ``None`` → off.
        limit: only the first ``limit`` documents.
        tags: only questions with these tags (e.g. ``["total", "date"]``).
        on_progress: called with ``(documents done, documents total)``.

    Returns:
        The :class:`QAReport`.
    """
    from extractors import registry

    settings = settings or Settings()
    examples = load_examples(dataset_dir)
    if tags is not None:
        wanted = set(tags)
        examples = [e for e in examples if e.tag in wanted]
    by_doc: dict[Path, list[QAExample]] = defaultdict(list)
    for ex in examples:
        by_doc[ex.path].append(ex)
    docs = list(by_doc)[:limit] if limit else list(by_doc)
    if engine is None:
        engine = registry.create("qa", settings.qa_engine, settings)
    cache = DocumentCache(settings, default_cache_dir() if cache_dir == "default" else cache_dir)
    report = QAReport(dataset=str(dataset_dir), engine=getattr(engine, "name", "?"))
    sums: dict[str, list[float]] = defaultdict(list)
    t0 = time.perf_counter()
    for i, path in enumerate(docs):
        doc = cache.get(path)
        questions = by_doc[path]
        ask_many = getattr(engine, "answer_many", None)
        if ask_many is not None:
            answers = ask_many(doc, [q.question for q in questions])
        else:
            answers = [engine.answer(doc, q.question, top_k=1) for q in questions]
        for ex, ans in zip(questions, answers, strict=True):
            best = ans[0] if ans else None
            pred = best.answer if best is not None else None
            score = anls(pred, ex.answers)
            sums[ex.tag].append(score)
            report.rows.append({"doc": ex.doc_id or path.name, "tag": ex.tag,
                                "question": ex.question, "pred": pred, "gold": list(ex.answers),
                                "anls": round(score, 4),
                                "confidence": round(best.confidence, 4) if best else 0.0})
        if on_progress is not None:
            on_progress(i + 1, len(docs))
    report.seconds = time.perf_counter() - t0
    scores = [s for v in sums.values() for s in v]
    report.n = len(scores)
    report.mean_anls = sum(scores) / len(scores) if scores else 0.0
    report.by_tag = {k: {"n": float(len(v)), "anls": sum(v) / len(v)} for k, v in sums.items()}
    report.repeated = repeated_questions(report.rows)
    log.info("qa eval: %d questions, %d docs, cache %d hits / %d misses", report.n, len(docs),
             cache.hits, cache.misses)
    return report
