"""LayoutLM-family engines: LayoutLMv3, LayoutLM (v1) and LiLT through one code path.

* :class:`LayoutLMv3Extractor` (and :class:`LayoutLMExtractor`, :class:`LiltExtractor`): token
  classification over our OCR words and 0–1000 boxes; BIO labels from the model's ``id2label``
  mapped to canonical fields, line-item columns and key/values (:mod:`extractors.models.labels`);
  pages longer than the model window are read in overlapping windows
  (:mod:`extractors.models.windows`); field confidence = mean per-word softmax probability of
  the field's entity type.
* :class:`LayoutLMv3Classifier`: sequence classification of the first window of the first pages.
* :class:`LayoutLMv3QA` / :class:`LayoutLMQA`: extractive QA (span → words → page and box), or
  "I don't know" when the model's no-answer (CLS) score beats every span (SQuAD 2.0 rule).

The model is whatever ``from_pretrained`` finds in the directory / hub id (``AutoModelFor...``), so
each engine loads any of the three architectures; the engine name only labels the output.
Weights load when the engine is built (fail fast), once per process (:func:`runtime.cached`).
LayoutLMv3 models get page pixels when their config uses the visual branch
(``visual_embed``) and an image processor is saved with them (``apply_ocr=False``: our words are
used, never the processor's own OCR).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extractors.errors import DependencyMissing, UsageError
from extractors.models import runtime
from extractors.models.assemble import PageTags, assemble
from extractors.models.labels import doc_type_for, split_tag
from extractors.models.windows import (
    PageWords,
    Template,
    Window,
    best_window,
    document_pages,
    make_windows,
    word_token_ids,
)
from extractors.registry import Extraction
from schemas.document import union_box
from schemas.record import Answer

if TYPE_CHECKING:
    from extractors.settings import Settings
    from schemas.document import Document

__all__ = [
    "LayoutBundle",
    "LayoutLMExtractor",
    "LayoutLMQA",
    "LayoutLMv3Classifier",
    "LayoutLMv3Extractor",
    "LayoutLMv3QA",
    "LiltExtractor",
    "LiltQA",
    "collate",
    "load_layout_model",
    "make_bundle",
]

log = logging.getLogger("docai.models")

_TASK_SUFFIX = {"token": "ForTokenClassification", "sequence": "ForSequenceClassification",
                "qa": "ForQuestionAnswering"}
_LAYOUT_TYPES = ("layoutlmv3", "layoutlm", "lilt", "layoutlmv2", "layoutxlm")


@dataclass
class LayoutBundle:
    """A loaded model with everything needed to feed it; shared per process."""

    name: str
    task: str
    model: Any
    tokenizer: Any
    image_processor: Any
    device: Any
    dtype: Any
    template: Template
    max_tokens: int
    id2label: dict[int, str]
    model_type: str
    runner: runtime.BatchRunner[Window, Any] | None = None
    """Batches windows (across concurrent documents too); set right after loading."""

    def run(self, windows: list[Window]) -> list[Any]:
        """Model outputs for ``windows`` (batched; concurrent callers share batches)."""
        if self.runner is None:  # pragma: no cover - set by load_layout_model
            return _forward(self, windows) if windows else []
        return self.runner.run(windows)

    @property
    def uses_images(self) -> bool:
        """True when the model reads page pixels (LayoutLMv3 with its visual branch)."""
        return self.image_processor is not None


def _check_head(config: Any, task: str, name: str) -> None:
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not any(a.endswith(_TASK_SUFFIX[task]) for a in archs):
        raise UsageError(
            f"model {name!r} has no {_TASK_SUFFIX[task][3:]} head (architectures: {', '.join(archs)}); "
            f"fine-tune it first, e.g. `docai train DATASET --init {name} --out DIR`")
    if task in ("token", "sequence"):
        labels = [str(v) for v in (getattr(config, "id2label", None) or {}).values()]
        if not labels or all(lbl.upper().startswith("LABEL_") for lbl in labels):
            raise UsageError(f"model {name!r} has no named labels (id2label); cannot map its "
                             "outputs to fields or document types")


def _model_class(tf: Any, config: Any, task: str) -> Any:
    """The head class named in the config (LayoutLM's QA head is not in the Auto QA mapping)."""
    for arch in getattr(config, "architectures", None) or []:
        if arch.endswith(_TASK_SUFFIX[task]) and hasattr(tf, arch):
            return getattr(tf, arch)
    if task == "qa":
        if config.model_type == "layoutlm":
            return tf.LayoutLMForQuestionAnswering
        return tf.AutoModelForQuestionAnswering
    return {"token": tf.AutoModelForTokenClassification,
            "sequence": tf.AutoModelForSequenceClassification}[task]


def load_layout_model(name: str, task: str, settings: Settings) -> LayoutBundle:
    """Load (once per process) a LayoutLM-family model for ``task`` (token / sequence / qa).

    Raises:
        DependencyMissing: torch/transformers or the weights are not available.
        UsageError: the model has the wrong head or unnamed labels, or a bad device.
    """
    device = runtime.resolve_device(settings.device)
    dtype = runtime.resolve_dtype(device, settings.precision)
    key = (name, "layout", task, str(device), str(dtype))
    batch_size = settings.batch_size

    def build() -> LayoutBundle:
        import transformers as tf

        config = runtime.load_pretrained(tf.AutoConfig.from_pretrained, name, what="config")
        if config.model_type not in _LAYOUT_TYPES:
            raise UsageError(f"model {name!r} is a {config.model_type!r} model, not a LayoutLM-family "
                             "one (layoutlmv3, layoutlm, lilt)")
        _check_head(config, task, name)
        model = runtime.load_pretrained(_model_class(tf, config, task).from_pretrained, name,
                                        what="weights")
        tokenizer = runtime.load_pretrained(tf.AutoTokenizer.from_pretrained, name, what="tokenizer")
        image_processor = None
        if config.model_type == "layoutlmv3" and getattr(config, "visual_embed", True):
            try:
                image_processor = runtime.load_pretrained(
                    tf.AutoImageProcessor.from_pretrained, name, what="image processor",
                    apply_ocr=False)
            except DependencyMissing:
                log.warning("no image processor saved with the model; reading text and layout only")
        model.to(device=device, dtype=dtype)
        return make_bundle(name, task, model, tokenizer, image_processor, batch_size=batch_size)

    return runtime.cached(key, build)


def make_bundle(name: str, task: str, model: Any, tokenizer: Any, image_processor: Any = None, *,
                batch_size: int = 8) -> LayoutBundle:
    """Wrap a model already in memory (and on its device) — what loading and training share."""
    config = model.config
    if image_processor is not None and not (config.model_type == "layoutlmv3"
                                            and getattr(config, "visual_embed", True)):
        image_processor = None
    param = next(model.parameters())
    model.eval()
    max_pos = int(getattr(config, "max_position_embeddings", 512))
    offset = 2 if config.model_type in ("layoutlmv3", "lilt") else 0
    max_tokens = max(16, min(512, max_pos - offset))
    template = Template.for_model(tokenizer, config.model_type,
                                  int(getattr(config, "type_vocab_size", 1) or 1))
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    bundle = LayoutBundle(name, task, model, tokenizer, image_processor, param.device, param.dtype,
                          template, max_tokens, id2label, config.model_type)
    bundle.runner = runtime.BatchRunner(lambda ws: _forward(bundle, ws), batch_size, size=len)
    return bundle


def collate(windows: list[Window], template: Template, *, device: Any, dtype: Any = None,
            images: bool = False, labels: list[list[int]] | None = None) -> dict[str, Any]:
    """Pad windows into model inputs (``labels`` padded with -100 when given)."""
    import torch

    n = max(len(w) for w in windows)
    ids = torch.full((len(windows), n), template.pad_id, dtype=torch.long)
    bbox = torch.zeros((len(windows), n, 4), dtype=torch.long)
    mask = torch.zeros((len(windows), n), dtype=torch.long)
    types = torch.zeros((len(windows), n), dtype=torch.long)
    for i, w in enumerate(windows):
        k = len(w)
        ids[i, :k] = torch.tensor(w.input_ids)
        bbox[i, :k] = torch.tensor(w.bbox)
        mask[i, :k] = 1
        if w.token_type_ids is not None:
            types[i, :k] = torch.tensor(w.token_type_ids)
    out: dict[str, Any] = {"input_ids": ids.to(device), "bbox": bbox.to(device),
                           "attention_mask": mask.to(device)}
    if template.token_types:
        out["token_type_ids"] = types.to(device)
    if images and all(w.image is not None for w in windows):
        out["pixel_values"] = torch.stack([w.image for w in windows]).to(device, dtype)
    if labels is not None:
        lab = torch.full((len(windows), n), -100, dtype=torch.long)
        for i, row in enumerate(labels):
            lab[i, :len(row)] = torch.tensor(row)
        out["labels"] = lab.to(device)
    return out


def _forward(bundle: LayoutBundle, windows: list[Window]) -> list[Any]:
    """One padded batch through the model; per-window float32 numpy outputs."""
    import torch

    dev = bundle.device
    kwargs = collate(windows, bundle.template, device=dev, dtype=bundle.dtype,
                     images=bundle.uses_images)
    with torch.inference_mode(), runtime.model_call(dev):
        out = bundle.model(**kwargs)
    if bundle.task == "qa":
        start = out.start_logits.float().cpu().numpy()
        end = out.end_logits.float().cpu().numpy()
        return [(start[i, :len(w)], end[i, :len(w)]) for i, w in enumerate(windows)]
    logits = out.logits.float().cpu().numpy()
    if bundle.task == "sequence":
        return [logits[i] for i in range(len(windows))]
    return [logits[i, :len(w)] for i, w in enumerate(windows)]


def _log_softmax(x: Any) -> Any:
    import numpy as np

    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _softmax(x: Any) -> Any:
    import numpy as np

    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class _LayoutEngine:
    """Shared plumbing: model name from settings, loading, page windows, page pixels."""

    name = "layoutlmv3"
    task = "token"
    stride = 128
    max_pages_in_flight = 32

    def __init__(self, settings: Settings, *, model: str | None = None) -> None:
        self.settings = settings
        name = model or self._model_name(settings)
        if not name:
            raise UsageError(f"the {self.name} engine needs a model: --model HUB_ID_OR_DIR")
        self.model_name = name
        self.bundle = load_layout_model(name, self.task, settings)

    @classmethod
    def from_bundle(cls, bundle: LayoutBundle, settings: Settings | None = None) -> Any:
        """An engine around a model already in memory (training evaluates through this)."""
        from extractors.settings import Settings

        engine = cls.__new__(cls)
        engine.settings = settings or Settings()
        engine.model_name = bundle.name
        engine.bundle = bundle
        return engine

    def _model_name(self, settings: Settings) -> str | None:
        return settings.model

    def check(self) -> None:
        """Nothing to do: the model loaded when the engine was built."""

    def version(self) -> str:
        """Engine and model, for records."""
        return f"{self.name} {self.model_name}"

    def _pixels(self, doc: Document, pw: PageWords) -> Any:
        if not self.bundle.uses_images:
            return None
        from extractors.models.images import page_image

        img = page_image(doc, pw.page, dpi=100.0, max_side=1200)
        out = self.bundle.image_processor(images=[img], return_tensors="pt")
        return out["pixel_values"][0]

    def _windows(self, doc: Document, pages: list[PageWords], question: list[int] | None = None,
                 first_only: bool = False) -> list[list[Window]]:
        b = self.bundle
        out: list[list[Window]] = []
        for pi, pw in enumerate(pages):
            words = pw.words
            ids = word_token_ids(b.tokenizer, [w.text for w in words])
            wins = make_windows(ids, [w.box for w in words], b.template, max_tokens=b.max_tokens,
                                stride=self.stride, question_ids=question, page_index=pi)
            if first_only:
                wins = wins[:1]
            pixels = self._pixels(doc, pw)
            for w in wins:
                w.image = pixels
            out.append(wins)
        return out


class LayoutLMv3Extractor(_LayoutEngine):
    """Fields, line items and key-values by token classification (``--extract-engine layoutlmv3``)."""

    name = "layoutlmv3"
    task = "token"

    def tag_pages(self, doc: Document) -> list[PageTags]:
        """Every word of every page with its predicted tag and entity probability."""
        pages = document_pages(doc)
        b = self.bundle
        labels = [b.id2label.get(i, "O") for i in range(len(b.id2label))]
        entity_of = [split_tag(lbl)[1] for lbl in labels]
        result: list[PageTags] = []
        for start in range(0, len(pages), self.max_pages_in_flight):
            chunk = pages[start:start + self.max_pages_in_flight]
            per_page = self._windows(doc, chunk)
            flat = [w for wins in per_page for w in wins]
            outs = b.run(flat)
            k = 0
            for pw, wins in zip(chunk, per_page, strict=True):
                logits = outs[k:k + len(wins)]
                k += len(wins)
                result.append(self._page_tags(pw, wins, logits, labels, entity_of))
        return result

    @staticmethod
    def _page_tags(pw: PageWords, wins: list[Window], logits: list[Any], labels: list[str],
                   entity_of: list[str]) -> PageTags:
        n = len(pw.order)
        choice = best_window([w.span for w in wins], n)
        pos: list[dict[int, int]] = []
        for w in wins:
            m: dict[int, int] = {}
            for t, (wi, first) in enumerate(zip(w.token_word, w.first_token, strict=True)):
                if first and wi not in m:
                    m[wi] = t
            pos.append(m)
        tags: list[str] = []
        scores: list[float] = []
        for i in range(n):
            wi = choice[i]
            probs = _softmax(logits[wi][pos[wi][i]])
            j = int(probs.argmax())
            ent = entity_of[j]
            tags.append(labels[j])
            scores.append(float(sum(p for p, e in zip(probs, entity_of, strict=True) if e == ent)))
        return PageTags(pw, tags, scores)

    def extract(self, doc: Document, doc_type: str) -> Extraction:
        """Canonical fields (best entity per field), line items per visual line, key-values."""
        if doc.n_words == 0:
            return Extraction()
        fields, items, kvs = assemble(self.tag_pages(doc), doc_type, engine=self.name)
        log.info("document %s: %s extracted %d fields", doc.sha256[:12], self.name, len(fields))
        return Extraction(fields=fields, line_items=items, key_values=kvs)


class LayoutLMExtractor(LayoutLMv3Extractor):
    """LayoutLM (v1) token classification — commercially usable weights (MIT)."""

    name = "layoutlm"


class LiltExtractor(LayoutLMv3Extractor):
    """LiLT token classification — language-independent layout, commercially usable weights."""

    name = "lilt"


class LayoutLMv3Classifier(_LayoutEngine):
    """Document type by sequence classification (``--classify-engine layoutlmv3``).

    Reads ``classify_model`` (falls back to ``model`` when that one has a sequence-classification
    head). Label names go through :func:`~extractors.models.labels.doc_type_for` (RVL-CDIP classes
    or our own ``invoice/receipt/form/other``); probabilities of labels that map to the same type
    are summed, averaged over the first ``pages`` pages.
    """

    name = "layoutlmv3"
    task = "sequence"
    pages = 2

    def _model_name(self, settings: Settings) -> str | None:
        return settings.classify_model or settings.model

    def classify(self, doc: Document) -> tuple[str, float]:
        """``(doc_type, confidence)``; ``("other", 0.0)`` for a document without words."""
        pages = document_pages(doc)[: self.pages]
        if not pages:
            return "other", 0.0
        wins = [w for ws in self._windows(doc, pages, first_only=True) for w in ws]
        outs = self.bundle.run(wins)
        totals: dict[str, float] = {}
        for logits in outs:
            probs = _softmax(logits)
            for i, p in enumerate(probs):
                t = doc_type_for(self.bundle.id2label.get(i, "other"))
                totals[t] = totals.get(t, 0.0) + float(p) / len(outs)
        best = max(totals, key=lambda t: totals[t])
        return best, round(totals[best], 4)


class LayoutLMv3QA(_LayoutEngine):
    """Extractive question answering over the document's words (``--qa-engine layoutlmv3``)."""

    name = "layoutlmv3"
    task = "qa"
    max_answer_tokens = 32
    max_question_tokens = 64
    candidates = 20

    def _model_name(self, settings: Settings) -> str | None:
        return settings.qa_model or settings.model

    def answer(self, doc: Document, question: str, *, top_k: int = 1) -> list[Answer]:
        """Best spans (words, page, box), highest ``p(start)·p(end)`` first, or "I don't know".

        Scores follow SQuAD 2.0 / the Hugging Face QA pipelines: in each window the start and end
        logits are soft-maxed over the CLS token and the page's tokens; a span scores
        ``log p(start) + log p(end)`` and the window's *null* score is the same for CLS. The null
        score of the document is that of the window most sure an answer is in it (the smallest).
        When it beats the best span by more than ``settings.qa_null_threshold`` (0: whichever is
        more probable) the first answer is ``answer=None`` with the best span's probability as its
        (low) confidence; with ``top_k > 1`` the rejected spans follow it as alternatives.
        """
        import numpy as np

        pages = document_pages(doc)
        q_words = question.split()
        q_ids = [t for ids in word_token_ids(self.bundle.tokenizer, q_words) for t in ids]
        q_ids = q_ids[: self.max_question_tokens]
        if not pages or not q_ids:
            return [Answer(answer=None, engine=self.name)]
        per_page = self._windows(doc, pages, question=q_ids)
        flat = [w for ws in per_page for w in ws]
        outs = self.bundle.run(flat)
        found: dict[tuple[int, int, int], float] = {}  # (page, first word, last word) → log score
        null = math.inf
        for w, (start, end) in zip(flat, outs, strict=True):
            ctx = np.array([i for i, wi in enumerate(w.token_word) if wi >= 0])
            if ctx.size == 0:
                continue
            idx = np.concatenate([[0], ctx])  # CLS competes as "no answer in this window"
            ls = _log_softmax(start[idx])
            le = _log_softmax(end[idx])
            null = min(null, float(ls[0] + le[0]))
            ls, le = ls[1:], le[1:]
            top_s = np.argsort(-ls)[: self.candidates]
            top_e = np.argsort(-le)[: self.candidates]
            for a in top_s:
                for b in top_e:
                    if b < a or b - a >= self.max_answer_tokens:
                        continue
                    s_word, e_word = w.token_word[ctx[a]], w.token_word[ctx[b]]
                    key = (w.page_index, s_word, e_word)
                    score = float(ls[a] + le[b])
                    if score > found.get(key, -math.inf):
                        found[key] = score
        if not found:
            return [Answer(answer=None, engine=self.name)]
        ranked = sorted(found.items(), key=lambda kv: -kv[1])
        best = ranked[0][1]
        if not math.isfinite(best):  # pragma: no cover - defensive (non-finite logits)
            return [Answer(answer=None, engine=self.name)]
        answers: list[Answer] = []
        if null - best > self.settings.qa_null_threshold:
            answers.append(Answer(answer=None, confidence=round(math.exp(best), 4), engine=self.name))
            log.info("document %s: %s found no answer (null %.2f, best span %.2f)",
                     doc.sha256[:12], self.name, null, best)
        for (pi, s_word, e_word), score in ranked[: max(1, top_k) - len(answers)]:
            words = pages[pi].words[s_word:e_word + 1]
            answers.append(Answer(
                answer=" ".join(w.text for w in words), confidence=round(math.exp(score), 4),
                page=pages[pi].page.number,
                bbox=[int(v) for v in union_box([w.box for w in words])], engine=self.name,
                words=[w.text for w in words]))
        return answers


class LayoutLMQA(LayoutLMv3QA):
    """LayoutLM (v1) extractive QA, e.g. ``impira/layoutlm-document-qa`` (MIT)."""

    name = "layoutlm"


class LiltQA(LayoutLMv3QA):
    """LiLT extractive QA."""

    name = "lilt"
