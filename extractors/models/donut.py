"""Donut engines: OCR-free VisionEncoderDecoder models driven by task prompts.

* :class:`DonutExtractor` — a parsing model (``naver-clova-ix/donut-base-finetuned-cord-v2`` or
  your own fine-tune): the generated tag sequence is parsed to JSON and mapped to receipt/invoice
  fields and line items (CORD ``menu.*`` → line items, ``total.total_price`` → ``total``, …).
* :class:`DonutQA` — DocVQA (``<s_docvqa><s_question>…</s_question><s_answer>``); an empty or
  unsure answer (``Settings.qa_min_confidence``) is "I don't know".
* :class:`DonutClassifier` — RVL-CDIP (``<s_rvlcdip>`` → ``<s_class><invoice/></s_class>``).

Generated sequences are parsed by :func:`parse_sequence`, which never raises: unclosed tags are
skipped and unparseable output becomes "no answer" / no fields. Pages are processed one at a
time (batched across pages and concurrent documents) and merged per document. Confidence is the
sequence's geometric-mean token probability. Donut prints no boxes, so values are located among
the document's OCR words (:func:`~extractors.models.assemble.locate_text`) for evidence.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extractors.errors import UsageError
from extractors.models import runtime
from extractors.models.assemble import locate_text, normalize_value
from extractors.models.labels import doc_type_for, entity_target
from extractors.models.windows import TOKENIZER_LOCK
from extractors.registry import Extraction
from schemas.fields import Field, LineItem, fields_for
from schemas.record import Answer

if TYPE_CHECKING:
    from extractors.settings import Settings
    from schemas.document import Document, Page

__all__ = [
    "DonutBundle",
    "DonutClassifier",
    "DonutExtractor",
    "DonutQA",
    "load_donut",
    "parse_sequence",
    "sequence_to_extraction",
    "task_prompts",
]

log = logging.getLogger("docai.models")

_START = re.compile(r"<s_([^<>\s]+?)>")
_CATEGORY = re.compile(r"^<([^<>/\s]+)/>$")
_ANY_TAG = re.compile(r"</?s_[^<>\s]*>|<sep/>")
_MAX_CHARS = 100_000


def _leaf(content: str) -> str | list[str] | None:
    parts = [_ANY_TAG.sub("", p).strip() for p in content.split("<sep/>")]
    values: list[str] = []
    for p in parts:
        if not p:
            continue
        m = _CATEGORY.match(p)
        values.append(m.group(1) if m else p)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _parse(s: str, depth: int, max_depth: int) -> dict[str, Any] | list[Any]:
    records: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    pos = 0
    while True:
        m = _START.search(s, pos)
        if not m:
            break
        key = m.group(1)
        close = f"</s_{key}>"
        j = s.find(close, m.end())
        if j < 0:  # unclosed tag (task prompt, truncated output): skip the tag itself
            pos = m.end()
            continue
        content = s[m.end():j]
        value: Any
        value = None
        if _START.search(content) and "</s_" in content and depth < max_depth:
            value = _parse(content, depth + 1, max_depth)
        if not value:
            value = _leaf(content)
        if value not in (None, "", [], {}) and key not in out:
            out[key] = value
        pos = j + len(close)
        rest = s[pos:].lstrip()
        if rest.startswith("<sep/>"):
            pos = len(s) - len(rest) + len("<sep/>")
            if out:
                records.append(out)
            out = {}
    if records:
        if out:
            records.append(out)
        return records
    return out


def parse_sequence(text: str, *, max_depth: int = 8) -> dict[str, Any] | list[Any]:
    """A generated Donut sequence → JSON-like data; ``{}`` when nothing parses. Never raises.

    >>> parse_sequence("<s_cord-v2><s_total><s_total_price>9.00</s_total_price></s_total></s>")
    {'total': {'total_price': '9.00'}}
    >>> parse_sequence("<s_menu><s_nm>Tea</s_nm><sep/><s_nm>Cake</s_nm></s_menu>")
    {'menu': [{'nm': 'Tea'}, {'nm': 'Cake'}]}
    >>> parse_sequence("<s_total><s_total_price>9.00</s_tot")
    {}
    """
    try:
        s = str(text)[:_MAX_CHARS]
        for tok in ("</s>", "<pad>", "<s>"):
            s = s.replace(tok, "")
        return _parse(s, 0, max_depth)
    except (RecursionError, ValueError, TypeError):  # pragma: no cover - defensive
        return {}


def task_prompts(tokenizer: Any) -> list[str]:
    """Task-start tokens of a Donut tokenizer: ``<s_x>`` tokens that have no ``</s_x>`` partner."""
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # pragma: no cover - defensive
        return []
    return sorted(t for t in vocab if t.startswith("<s_") and t.endswith(">")
                  and f"</{t[1:]}" not in vocab)


_NOT_PARSING = ("docvqa", "rvlcdip", "synthdog", "iitcdip", "question", "answer", "class", "vqa")


@dataclass
class DonutBundle:
    """A loaded Donut model, its tokenizer and image processor; shared per process."""

    name: str
    model: Any
    tokenizer: Any
    image_processor: Any
    device: Any
    dtype: Any
    prompts: list[str]
    max_positions: int
    runner: runtime.BatchRunner[tuple[Any, tuple[int, ...], int], tuple[str, float]] | None = None

    def generate(self, items: list[tuple[Any, tuple[int, ...], int]]) -> list[tuple[str, float]]:
        """``(pixel_values, prompt ids, max new tokens)`` → ``(decoded text, confidence)``."""
        if self.runner is None:  # pragma: no cover - set by load_donut
            return _generate(self, items)
        return self.runner.run(items)


def load_donut(name: str, settings: Settings) -> DonutBundle:
    """Load (once per process) a Donut ``VisionEncoderDecoderModel`` with its processor.

    Raises:
        DependencyMissing: torch/transformers or the weights are not available.
        UsageError: not a vision-encoder-decoder model, or a bad device.
    """
    device = runtime.resolve_device(settings.device)
    dtype = runtime.resolve_dtype(device, settings.precision)
    key = (name, "donut", str(device), str(dtype))

    def build() -> DonutBundle:
        import transformers as tf

        config = runtime.load_pretrained(tf.AutoConfig.from_pretrained, name, what="config")
        if config.model_type != "vision-encoder-decoder":
            raise UsageError(f"model {name!r} is a {config.model_type!r} model, not a Donut "
                             "(vision-encoder-decoder) one")
        model = runtime.load_pretrained(tf.VisionEncoderDecoderModel.from_pretrained, name)
        tokenizer = runtime.load_pretrained(tf.AutoTokenizer.from_pretrained, name, what="tokenizer")
        image_processor = runtime.load_pretrained(tf.AutoImageProcessor.from_pretrained, name,
                                                  what="image processor")
        model.to(device=device, dtype=dtype)  # type: ignore[call-arg]
        model.eval()
        max_pos = int(getattr(model.config.decoder, "max_position_embeddings", 768) or 768)
        bundle = DonutBundle(name, model, tokenizer, image_processor, device, dtype,
                             task_prompts(tokenizer), max_pos)
        bundle.runner = runtime.BatchRunner(lambda it: _generate(bundle, it), settings.batch_size)
        return bundle

    return runtime.cached(key, build)


def _generate(bundle: DonutBundle, items: list[tuple[Any, tuple[int, ...], int]]
              ) -> list[tuple[str, float]]:
    import torch

    results: dict[int, tuple[str, float]] = {}
    groups: dict[tuple[tuple[int, ...], int], list[int]] = {}
    for i, (_, prompt, budget) in enumerate(items):
        groups.setdefault((prompt, budget), []).append(i)
    tok = bundle.tokenizer
    eos = tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    for (prompt, budget), idx in groups.items():
        pixels = torch.stack([items[i][0] for i in idx]).to(bundle.device, bundle.dtype)
        dec = torch.tensor([list(prompt)] * len(idx), dtype=torch.long, device=bundle.device)
        new = max(1, min(budget, bundle.max_positions - len(prompt)))
        with torch.inference_mode(), runtime.model_call(bundle.device):
            out = bundle.model.generate(
                pixels, decoder_input_ids=dec, max_new_tokens=new, num_beams=1, do_sample=False,
                pad_token_id=pad, eos_token_id=eos, use_cache=True, return_dict_in_generate=True,
                output_scores=True)
        seqs = out.sequences.cpu()
        steps = len(out.scores)
        start = seqs.shape[1] - steps
        logps = [torch.log_softmax(s.float(), dim=-1).cpu() for s in out.scores]
        for row, i in enumerate(idx):
            total, n = 0.0, 0
            ids = seqs[row].tolist()
            end = len(ids)
            for t in range(steps):
                tid = ids[start + t]
                total += float(logps[t][row, tid])
                n += 1
                if tid == eos:
                    end = start + t + 1
                    break
            conf = math.exp(total / n) if n else 0.0
            with TOKENIZER_LOCK:
                text = tok.decode(ids[:end], skip_special_tokens=False)
            results[i] = (text, conf)
    return [results[i] for i in range(len(items))]


def _first_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for v in value:
            t = _first_text(v)
            if t:
                return t
    return None


def _flatten(data: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        out: list[tuple[str, Any]] = []
        for k, v in data.items():
            out.extend(_flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    return [(path, data)]


def sequence_to_extraction(parsed: Any, doc_type: str | None
                           ) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Parsed Donut JSON → ``({field: printed text}, [ {column: printed text} ])`` (no evidence yet).

    >>> sequence_to_extraction({"menu": [{"nm": "Tea", "price": "3.00"}],
    ...                         "total": {"total_price": "3.00"}}, "receipt")
    ({'total': '3.00'}, [{'description': 'Tea', 'amount': '3.00'}])
    """
    fields: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    records = parsed if isinstance(parsed, list) else [parsed]
    for rec in records:
        if not isinstance(rec, dict):
            continue
        for key, value in rec.items():
            probe = entity_target(f"{key}.nm", doc_type)
            if probe is not None and probe[0] == "item":
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, dict):
                        continue
                    row: dict[str, str] = {}
                    for sub, v in item.items():
                        target = entity_target(f"{key}.{sub}", doc_type)
                        text = _first_text(v)
                        if target and target[0] == "item" and text and target[1] not in row:
                            row[target[1]] = text
                    if row:
                        rows.append(row)
                continue
            for path, leaf in _flatten(value, str(key)):
                target = entity_target(path, doc_type)
                if target is None and "." in path:
                    target = entity_target(path.rsplit(".", 1)[-1], doc_type)
                text = _first_text(leaf)
                if target and target[0] == "field" and text and target[1] not in fields:
                    fields[target[1]] = text
    return fields, rows


class _DonutEngine:
    name = "donut"
    dpi = 200.0
    max_new_tokens = 768

    def __init__(self, settings: Settings, *, model: str | None = None) -> None:
        self.settings = settings
        name = model or self._model_name(settings)
        if not name:
            raise UsageError("the donut engine needs a model: --model HUB_ID_OR_DIR")
        self.model_name = name
        self.bundle = load_donut(name, settings)
        self.prompt = self._choose_prompt(self.bundle.prompts)

    def _model_name(self, settings: Settings) -> str | None:
        return settings.model

    def _choose_prompt(self, prompts: list[str]) -> str:
        for preferred in ("<s_cord-v2>", "<s_cord>"):
            if preferred in prompts:
                return preferred
        parsing = [p for p in prompts if not any(x in p for x in _NOT_PARSING)]
        if not parsing:
            raise UsageError(f"model {self.model_name!r} has no parsing task prompt "
                             f"(found: {', '.join(prompts) or 'none'})")
        return parsing[0]

    def check(self) -> None:
        """Nothing to do: the model loaded when the engine was built."""

    def _prompt_ids(self, prompt: str) -> tuple[int, ...]:
        with TOKENIZER_LOCK:
            ids = self.bundle.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return tuple(int(i) for i in ids)

    def _pixels(self, doc: Document, page: Page) -> Any:
        from extractors.models.images import page_image

        img = page_image(doc, page, dpi=self.dpi)
        return self.bundle.image_processor(images=[img], return_tensors="pt")["pixel_values"][0]

    def _run_pages(self, doc: Document, prompt: str, *, max_pages: int | None = None,
                   max_new_tokens: int | None = None) -> list[tuple[Page, str, float]]:
        pages = [p for p in doc.pages if p.status == "ok"][:max_pages]
        ids = self._prompt_ids(prompt)
        budget = max_new_tokens or self.max_new_tokens
        out: list[tuple[Page, str, float]] = []
        chunk = max(1, self.settings.batch_size)
        for start in range(0, len(pages), chunk):
            part = pages[start:start + chunk]
            items = [(self._pixels(doc, p), ids, budget) for p in part]
            for p, (text, conf) in zip(part, self.bundle.generate(items), strict=True):
                out.append((p, text, conf))
        return out


def _evidence_field(doc: Document, page: Page, name: str, text: str, conf: float, engine: str) -> Field:
    value, _ = normalize_value(name, text)
    where = locate_text(doc, text, page_number=page.number)
    return Field(value=value, text=text, confidence=round(conf, 4), page=page.number,
                 bbox=where[1] if where else None, engine=engine)


class DonutExtractor(_DonutEngine):
    """Receipt/invoice parsing with a Donut model (``--extract-engine donut``)."""

    name = "donut"

    def extract(self, doc: Document, doc_type: str) -> Extraction:
        """Parse each page; merge fields (most confident page wins) and line items (page order)."""
        fields: dict[str, Field] = {}
        items: list[LineItem] = []
        for page, text, conf in self._run_pages(doc, self.prompt):
            parsed = parse_sequence(text)
            found, rows = sequence_to_extraction(parsed, doc_type)
            if not found and not rows:
                log.info("document %s p%d: donut output had no fields", doc.sha256[:12], page.number)
            for name, printed in found.items():
                f = _evidence_field(doc, page, name, printed, conf, self.name)
                if name not in fields or f.confidence > fields[name].confidence:
                    fields[name] = f
            for row in rows:
                items.append(LineItem(**{col: _evidence_field(doc, page, col, printed, conf, self.name)
                                         for col, printed in row.items()}))
        allowed = set(fields_for(doc_type or ""))
        if allowed:
            fields = {k: v for k, v in fields.items() if k in allowed}
        if "currency" not in fields:
            for name in ("total", "subtotal"):
                if name in fields:
                    _, cur = normalize_value(name, fields[name].text)
                    if cur:
                        fields["currency"] = fields[name].model_copy(update={"value": cur})
                        break
        return Extraction(fields=fields, line_items=items)


class DonutClassifier(_DonutEngine):
    """Document type with a Donut RVL-CDIP model (``--classify-engine donut``)."""

    name = "donut"
    max_new_tokens = 16

    def _model_name(self, settings: Settings) -> str | None:
        return settings.classify_model or settings.model

    def _choose_prompt(self, prompts: list[str]) -> str:
        for p in prompts:
            if "rvlcdip" in p or "class" in p:
                return p
        raise UsageError(f"model {self.model_name!r} is not a Donut classifier (no <s_rvlcdip> prompt)")

    def classify(self, doc: Document) -> tuple[str, float]:
        """``(doc_type, confidence)`` from the first page; ``("other", 0.0)`` when unparseable."""
        runs = self._run_pages(doc, self.prompt, max_pages=1, max_new_tokens=self.max_new_tokens)
        if not runs:
            return "other", 0.0
        _, text, conf = runs[0]
        parsed = parse_sequence(text)
        label = _first_text(parsed.get("class")) if isinstance(parsed, dict) else None
        if not label:
            return "other", 0.0
        return doc_type_for(label), round(conf, 4)


class DonutQA(_DonutEngine):
    """Document visual question answering with a Donut DocVQA model (``--qa-engine donut``)."""

    name = "donut"
    max_new_tokens = 128
    unlocated_min_confidence = 0.5
    """Confidence an answer needs when it is not printed on a page that has OCR words."""

    def _model_name(self, settings: Settings) -> str | None:
        return settings.qa_model or settings.model

    def _choose_prompt(self, prompts: list[str]) -> str:
        for p in prompts:
            if "vqa" in p:
                return p
        raise UsageError(f"model {self.model_name!r} is not a Donut DocVQA model (no <s_docvqa> prompt)")

    def answer(self, doc: Document, question: str, *, top_k: int = 1) -> list[Answer]:
        """One answer per page, most confident first, or "I don't know".

        DocVQA models have no "no answer" output, so an answer is kept only when it is not empty,
        its sequence confidence reaches ``settings.qa_min_confidence`` and, when it cannot be found
        among the words of a page that has words, also :attr:`unlocated_min_confidence`. When no
        page keeps one, the first answer is ``answer=None`` with the best rejected confidence (0
        when nothing was generated); with ``top_k > 1`` the rejected answers follow it.
        """
        q = " ".join(question.split())
        prompt = f"{self.prompt}<s_question>{q}</s_question><s_answer>"
        kept: list[Answer] = []
        rejected: list[Answer] = []
        floor = self.settings.qa_min_confidence
        for page, text, conf in self._run_pages(doc, prompt, max_new_tokens=self.max_new_tokens):
            parsed = parse_sequence(text)
            value = _first_text(parsed.get("answer")) if isinstance(parsed, dict) else None
            if not value:
                continue
            where = locate_text(doc, value, page_number=page.number)
            a = Answer(answer=value, confidence=round(conf, 4), page=page.number,
                       bbox=where[1] if where else None, engine=self.name,
                       words=where[2].split() if where else [])
            bar = floor if where or not page.words else max(floor, self.unlocated_min_confidence)
            (kept if conf >= bar else rejected).append(a)
        answers = _unique(kept)
        if answers:
            return answers[: max(1, top_k)]
        rejected = _unique(rejected)
        best = rejected[0].confidence if rejected else 0.0
        log.info("document %s: donut kept no answer (best rejected confidence %.2f)",
                 doc.sha256[:12], best)
        return [Answer(answer=None, confidence=best, engine=self.name)] + rejected[: max(1, top_k) - 1]


def _unique(answers: list[Answer]) -> list[Answer]:
    """Most confident first, one per distinct answer text."""
    out: list[Answer] = []
    for a in sorted(answers, key=lambda a: -a.confidence):
        if all(a.answer != b.answer for b in out):
            out.append(a)
    return out
