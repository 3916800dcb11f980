"""Words → tokens → windows → words: the alignment every LayoutLM-family engine (and training) shares.

A page's words (in reading order) are tokenised once; the token sequence is cut into windows of at
most ``max_tokens`` (special tokens included) on word boundaries, consecutive windows overlapping
by about ``stride`` tokens. Each word is then read from the one window where it sits farthest from
a cut edge, so a page of any length gets every word labelled exactly once.

Pure Python apart from calling the tokenizer; no torch.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.document import Document, Page, Word

__all__ = [
    "TOKENIZER_LOCK",
    "PageWords",
    "Template",
    "Window",
    "best_window",
    "clamp_box",
    "make_windows",
    "page_words",
    "plan_windows",
    "word_token_ids",
]


TOKENIZER_LOCK = threading.Lock()
"""Fast tokenizers keep mutable truncation/padding state; concurrent documents take turns."""


def clamp_box(box: Sequence[float]) -> list[int]:
    """A 0–1000 box, clamped, with ``x0 <= x1`` and ``y0 <= y1`` (what the 2-D embeddings need)."""
    x0, y0, x1, y1 = (int(min(1000, max(0, round(float(v))))) for v in box)
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


@dataclass
class PageWords:
    """One page's words in reading order (``order[i]`` is the index in ``page.words``)."""

    page: Page
    order: list[int]

    @property
    def words(self) -> list[Word]:
        """Words in reading order."""
        return [self.page.words[i] for i in self.order]

    def line_of(self) -> list[int]:
        """Visual line index of each word in reading order (``-1`` when the page has no lines)."""
        line_by_word = {wid: li for li, line in enumerate(self.page.lines) for wid in line.word_ids}
        return [line_by_word.get(i, -1) for i in self.order]


def page_words(page: Page) -> PageWords:
    """Reading order from the page's lines (words not in any line follow in their own order)."""
    seen: set[int] = set()
    order: list[int] = []
    n = len(page.words)
    for line in page.lines:
        for wid in line.word_ids:
            if 0 <= wid < n and wid not in seen:
                seen.add(wid)
                order.append(wid)
    order.extend(i for i in range(n) if i not in seen)
    return PageWords(page, order)


def document_pages(doc: Document) -> list[PageWords]:
    """Pages that have words (failed and empty pages are skipped)."""
    return [page_words(p) for p in doc.pages if p.status == "ok" and p.words]


def _takes_boxes(tokenizer: Any) -> bool:
    try:
        return "boxes" in inspect.signature(tokenizer.__call__).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def word_token_ids(tokenizer: Any, words: Sequence[str], *, max_per_word: int = 32) -> list[list[int]]:
    """Token ids of each word (no special tokens); a word that yields none gets ``[unk]``.

    Works with word-level tokenizers that take ``boxes`` (LayoutLMv3, LayoutXLM) and with plain
    fast tokenizers (BERT WordPiece for LayoutLM, RoBERTa BPE for LiLT) via
    ``is_split_into_words``.
    """
    per: list[list[int]] = [[] for _ in words]
    if words:
        texts = [w if w.strip() else "_" for w in words]
        with TOKENIZER_LOCK:
            if _takes_boxes(tokenizer):
                enc = tokenizer(texts, boxes=[[0, 0, 0, 0]] * len(texts), add_special_tokens=False,
                                truncation=False)
            else:
                enc = tokenizer(texts, is_split_into_words=True, add_special_tokens=False,
                                truncation=False)
            word_ids = enc.word_ids()
        for tid, wid in zip(enc["input_ids"], word_ids, strict=True):
            if wid is not None and len(per[wid]) < max_per_word:
                per[wid].append(int(tid))
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    return [ids or [int(unk)] for ids in per]


def plan_windows(counts: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` whose token counts fit ``budget``, overlapping by ≤ ``stride`` tokens.

    >>> plan_windows([1] * 10, budget=4, stride=2)
    [(0, 4), (2, 6), (4, 8), (6, 10)]
    >>> plan_windows([3, 3], budget=4, stride=0)
    [(0, 1), (1, 2)]
    """
    n = len(counts)
    if n == 0:
        return []
    budget = max(1, budget)
    stride = max(0, min(stride, budget - 1))
    out: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end, total = start, 0
        while end < n and (total + min(counts[end], budget) <= budget or end == start):
            total += min(counts[end], budget)
            end += 1
        out.append((start, end))
        if end >= n:
            break
        new, acc = end, 0
        while new - 1 > start and acc + counts[new - 1] <= stride:
            acc += counts[new - 1]
            new -= 1
        start = max(new, start + 1)
    return out


def best_window(spans: Sequence[tuple[int, int]], n_words: int) -> list[int]:
    """For each word, the window where it is farthest from a cut (document edges are not cuts)."""
    best = [-1] * n_words
    score = [-1.0] * n_words
    for wi, (s, e) in enumerate(spans):
        for i in range(s, e):
            left = float("inf") if s == 0 else i - s
            right = float("inf") if e == n_words else e - 1 - i
            m = min(left, right)
            if m > score[i]:
                best[i], score[i] = wi, m
    return best


@dataclass
class Template:
    """How a model wants its special tokens: ids, their boxes, and the QA pair layout."""

    cls_id: int
    sep_id: int
    pad_id: int
    cls_box: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    sep_box: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    double_sep: bool = False
    """RoBERTa-style pairs: ``<s> q </s></s> c </s>``."""
    token_types: bool = False
    """BERT-style ``token_type_ids`` (0 question, 1 context)."""

    @classmethod
    def for_model(cls, tokenizer: Any, model_type: str, type_vocab_size: int = 1) -> Template:
        """Template for a tokenizer / model-type pair (LayoutLM v1 puts SEP at ``[1000]*4``)."""
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        double = str(tokenizer.sep_token) == "</s>"
        sep_box = [1000, 1000, 1000, 1000] if model_type == "layoutlm" else [0, 0, 0, 0]
        return cls(int(cls_id), int(sep_id), int(pad_id), sep_box=sep_box, double_sep=double,
                   token_types=type_vocab_size > 1 and not double)


@dataclass
class Window:
    """Model input for one window of one page, with the token → word map to read outputs back."""

    input_ids: list[int]
    bbox: list[list[int]]
    token_word: list[int]
    """Word index (reading order on the page) of each token; ``-1`` for special/question tokens."""
    first_token: list[bool]
    """True on the first sub-token of a word (the one whose prediction labels the word)."""
    span: tuple[int, int]
    page_index: int = 0
    token_type_ids: list[int] | None = None
    image: Any = None
    """Pixel values (a tensor) shared by every window of the page, or ``None``."""

    def __len__(self) -> int:
        return len(self.input_ids)


def make_windows(
    token_ids: Sequence[Sequence[int]],
    boxes: Sequence[Sequence[int]],
    template: Template,
    *,
    max_tokens: int = 512,
    stride: int = 128,
    question_ids: Sequence[int] | None = None,
    page_index: int = 0,
) -> list[Window]:
    """Cut one page (words' token ids and 0–1000 boxes) into model windows.

    With ``question_ids`` the windows are QA pairs (question first, then the page's words).
    """
    q = list(question_ids or [])
    overhead = 3 + (1 if template.double_sep else 0) + len(q) if q else 2
    budget = max_tokens - overhead
    if budget < 1:
        raise ValueError("question too long for the model's window")
    counts = [min(len(t), budget) for t in token_ids]
    spans = plan_windows(counts, budget, stride)
    out: list[Window] = []
    for s, e in spans:
        ids: list[int] = [template.cls_id]
        bbox: list[list[int]] = [list(template.cls_box)]
        tw: list[int] = [-1]
        first: list[bool] = [False]
        if q:
            seps = [template.sep_id] * (2 if template.double_sep else 1)
            ids += q + seps
            bbox += [[0, 0, 0, 0]] * len(q) + [list(template.sep_box)] * len(seps)
            tw += [-1] * (len(q) + len(seps))
            first += [False] * (len(q) + len(seps))
        n_prefix = len(ids)
        for i in range(s, e):
            toks = list(token_ids[i])[:budget]
            b = clamp_box(boxes[i])
            ids += toks
            bbox += [b] * len(toks)
            tw += [i] * len(toks)
            first += [True] + [False] * (len(toks) - 1)
        ids.append(template.sep_id)
        bbox.append(list(template.sep_box))
        tw.append(-1)
        first.append(False)
        types = None
        if template.token_types:
            types = [0] * n_prefix + [1] * (len(ids) - n_prefix) if q else [0] * len(ids)
        out.append(Window(ids, bbox, tw, first, (s, e), page_index, types))
    return out
