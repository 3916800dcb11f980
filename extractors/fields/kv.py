"""Generic key→value pairs of a document (forms, and labels the canonical fields miss).

A page is read in four small learned steps, all on the OCR words and their boxes (no image),
each a gradient-boosted tree ensemble walked with numpy, stored in ``kv_model.json``; a model may
also carry a small token lexicon (how often a word is part of a labelled key, value or header on
the training forms, as log-odds; :func:`lex_scores`), read by join and role when present
(``train_kv --lexicon``; the committed model has one):

1. **join** — two neighbouring words of a visual line belong to the same text entity or not
   (gap, colon, case and digit changes, font-height change, OCR confidence, and the page around
   the gap: other lines starting a run of words at the right word's edge — a value column — or
   ending one at the left word's, and whether the lines right above and below run through the
   gap or leave a river of white, :func:`join_context_features`); dot and dash leaders run into a
   word (``Tape--``) are cut out first, so their width reads as a gap;
2. **role** — each run of joined words (a *fragment*) is a key, a value, a header or other
   (text shape, colon, casing, position, OCR confidence — handwriting and typed-in values read with
   lower confidence — and what lies left, right, above and below it);
3. **merge** — a fragment continues the one right above it (multi-line values and keys; a line
   ending in "of", "per", "&" … reads as open);
4. **link** — a key entity and a candidate value entity form a pair (relative position, same row
   or below, distance ranks, both roles).

Pairs are chosen greedily by link score (each entity plays one role, a key may head a column of
values, a value has one key — or, when the model's thresholds set ``second_key``, two from
different directions: a table cell's row label and column header) and kept above thresholds chosen
on cross-validated training forms.
Keys are returned as printed, colon included ("Date:"); values without the underline and bracket
residue OCR leaves around fill-in fields, and without a tick box's mark read in front of them. A pair's ``confidence`` is the
probability, calibrated on cross-validated training forms, that the pair is right (key and value
text both within ANLS 0.8 of the labelled pair).

The parameters are produced by ``extractors/fields/train_kv.py`` from the 99 FUNSD training forms
in ``../shared/datasets/funsd_train``. FUNSD is licensed for non-commercial research and
educational use only (EPFL-LTS5 terms of use); the parameters are derived from it.

>>> from schemas.document import Document, Page, Word
>>> from extractors.layout import build_layout
>>> ws = [Word.from_pixels(t, b, page_width=1000, page_height=1000, confidence=0.9) for t, b in
...       [("Date:", (50, 100, 110, 118)), ("9/3/92", (300, 100, 380, 118))]]
>>> doc = Document(source="x", sha256="0", media_type="image/png",
...                pages=[build_layout(Page(number=1, width=1000, height=1000, words=ws))])
>>> [(kv.key, kv.value) for kv in extract_key_values(doc)]
[('Date:', '9/3/92')]
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from schemas.document import Document, Page, Word, union_box
from schemas.fields import KeyValue

__all__ = ["MODEL_PATH", "Entity", "Fragment", "PageParse", "extract_key_values", "load_model", "predict",
           "parse_page"]

log = logging.getLogger("docai.kv")

MODEL_PATH = Path(__file__).with_name("kv_model.json")
ROLES = ("key", "value", "header", "other")
_K, _V, _H, _O = range(4)

# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
_LOCK = threading.Lock()
_MODEL: dict[str, Any] | None = None
_WARNED = False


def load_model(path: str | Path | None = None) -> dict[str, Any] | None:
    """The key-value model (``kv_model.json``), loaded once; ``None`` when missing or broken."""
    global _MODEL, _WARNED
    if path is not None:
        return _read_model(Path(path))
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                try:
                    _MODEL = _read_model(MODEL_PATH)
                except (OSError, ValueError, KeyError) as exc:
                    if not _WARNED:
                        _WARNED = True
                        log.warning("key-values: model %s unusable (%s); no key-values",
                                    MODEL_PATH.name, type(exc).__name__)
                    return None
    return _MODEL


def _read_model(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"thresholds": raw["thresholds"], "calibration": raw.get("calibration"),
                           "lexicon": lexicon_from_json(raw.get("lexicon"))}
    for name in ("join", "role", "merge", "link"):
        out[name] = trees_from_json(raw[name])
    return out


def lexicon_from_json(raw: dict[str, Any] | None) -> dict[str, tuple[float, ...]] | None:
    """``{token: (key, value, header) log-odds}`` of a serialised lexicon (see :func:`lex_scores`)."""
    if not raw:
        return None
    return {t: tuple(float(v) for v in s) for t, s in raw["tokens"].items()}


def trees_from_json(raw: dict[str, Any]) -> dict[str, Any]:
    """Arrays of a serialised tree ensemble (see :func:`predict`)."""
    out: dict[str, Any] = {"n_out": int(raw["n_out"]), "depth": int(raw["depth"]),
                           "n_features": len(raw["features"])}
    for k, dtype in (("baseline", np.float64), ("feature", np.int64), ("threshold", np.float64),
                     ("left", np.int64), ("right", np.int64), ("value", np.float64),
                     ("roots", np.int64), ("tree_class", np.int64)):
        out[k] = np.asarray(raw[k], dtype=dtype)
    idx = np.arange(len(out["feature"]))
    for k in ("left", "right"):  # leaves (stored as -1) point to themselves
        out[k] = np.where(out[k] < 0, idx, out[k])
    # and test feature 0 against +inf, so the walk needs no leaf mask (a NaN goes right: itself)
    leaf = out["feature"] < 0
    out["walk_feature"] = np.where(leaf, 0, out["feature"])
    out["walk_threshold"] = np.where(leaf, np.inf, out["threshold"])
    out["class_masks"] = [out["tree_class"] == c for c in range(out["n_out"])]
    out["children"] = np.stack([out["left"], out["right"]], axis=1).ravel()  # 2·node (+1: right)
    return out


def predict(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Probabilities of a gradient-boosted tree ensemble, shape ``(n, n_out)``.

    All trees are walked at once: ``node[i, t]`` is sample ``i``'s node in tree ``t``; a node goes
    left when ``x[feature] <= threshold``; leaves have ``feature == -1`` (and point to themselves).
    ``n_out == 1`` is a sigmoid (binary), otherwise a softmax over ``n_out`` classes.
    """
    n_out = params["n_out"]
    if x.shape[0] == 0:
        return np.zeros((0, n_out))
    if x.shape[1] != params["n_features"]:
        raise ValueError(f"model expects {params['n_features']} features, got {x.shape[1]}")
    feat, thr, children = params["walk_feature"], params["walk_threshold"], params["children"]
    node = np.broadcast_to(params["roots"], (x.shape[0], len(params["roots"]))).copy()
    flat = x.ravel()  # one gather per level from the flat array and the flat child table
    base = (np.arange(x.shape[0]) * x.shape[1])[:, None]
    for _ in range(params["depth"]):
        node = children[2 * node + ~(flat[base + feat[node]] <= thr[node])]
    vals = params["value"][node]
    raw = np.tile(params["baseline"], (x.shape[0], 1))
    for c, in_class in enumerate(params["class_masks"]):
        raw[:, c] += vals[:, in_class].sum(axis=1)
    if n_out == 1:
        return 1.0 / (1.0 + np.exp(-np.clip(raw, -40, 40)))
    raw = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(raw)
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# text helpers
# ---------------------------------------------------------------------------------------------
_JUNK_WORD = re.compile(r"[_|~=—–\-\[\]{}'`\"‘’“”.,]+")
_GLUED_KEY = re.compile(r"^([A-Za-zÀ-ÿ][^:\d]{1,40}:)(\S.*)$")
_EDGE_L = re.compile(r"^[\s_|~=—–\[\]{}:;,'`]+")
_EDGE_R = re.compile(r"[\s_|~=—–\[\]{};,'`]+$")
_DATE = re.compile(r"\d{1,4}\s?[/.\-]\s?\d{1,2}\s?[/.\-]\s?\d{2,4}|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d", re.I)
_MONEY = re.compile(r"[$€£]|\d[.,]\d\d\b")
_PHONE = re.compile(r"\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}")


_TOKEN = re.compile(r"[^\W\d_]{2,}")
_NO_LEX = (0.0, 0.0, 0.0)


def lex_tokens(text: str) -> list[str]:
    """The lexicon's tokens of a text: case-folded runs of two or more letters."""
    return [t.casefold() for t in _TOKEN.findall(text)]


def lex_scores(text: str, lex: dict[str, tuple[float, ...]] | None) -> list[float]:
    """How much the words of ``text`` read like a key, a value or a header.

    ``lex`` maps a token to its smoothed log-odds of occurring in a labelled key / value / header
    (against its share of all labelled text), counted on training forms (at most once per form).
    Returns the mean log-odds of the known tokens for the three roles, the last token's key
    log-odds (labels end in a noun: "Date of Request") and the share of tokens the lexicon knows.
    """
    toks = lex_tokens(text)
    if not lex or not toks:
        return [0.0, 0.0, 0.0, 0.0, 0.0]
    known = [lex[t] for t in toks if t in lex]
    if not known:
        return [0.0, 0.0, 0.0, 0.0, 0.0]
    mean = np.mean(np.asarray(known), axis=0)
    return [float(mean[0]), float(mean[1]), float(mean[2]), float(lex.get(toks[-1], _NO_LEX)[0]),
            len(known) / len(toks)]


LEX_FEATURES = ("lex_k", "lex_v", "lex_h", "lex_k_last", "lex_known")


def _is_junk(text: str) -> bool:
    """Rules, underlines and stray marks OCR reads on form lines (``____``, ``|``, ``—``)."""
    return bool(_JUNK_WORD.fullmatch(text)) and not re.fullmatch(r"[.,]", text)


# a tick box read as a mark in front of its option: ``© OTHER``, ``() MEASURED``, ``☐ Yes``
_BOX_MARK = re.compile(r"^(?:[©®•*□■☐☑☒✓✔✗✘°¢¥]|\(\s*\)|\[\s*\])\s+(?=\w)")


def clean_value(text: str) -> str:
    """A value without the underline/bracket residue OCR leaves around filled-in fields, and
    without a tick box's mark in front of it."""
    return _EDGE_R.sub("", _BOX_MARK.sub("", _EDGE_L.sub("", text))).strip()


def clean_key(text: str) -> str:
    """A key as printed (its colon kept) without leading/trailing rules."""
    t = re.sub(r"^[\s_|~=—–\[\]{}]+", "", text)
    return re.sub(r"[\s_|~=—–\[\]{}]+$", "", t).strip()


def _ratio(text: str, pred: Any) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(1 for c in chars if pred(c)) / max(1, len(chars))


def _upper_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / max(1, len(letters))


_CHAR_W = 0.62  # a character's width, as a share of the word box height (typical print)


# fill-in rules and dot/dash leaders run into a word: ``AGENCY____``, ``Tape--``, ``Circumference--~``
_LEADER = re.compile(r"(?:_|[-~—–=·…+*.]{2,})+")


def _split_rules(w: Word, page: Page) -> list[Word]:
    """``AGENCY____`` / ``No.__533__`` / ``Tape--`` (text run into a fill-in rule or a leader) → the
    text parts alone, each with a box estimated from its position in the word (text runs anchored
    at the word's ends)."""
    if "_" not in w.text and not _LEADER.search(w.text):
        return [w]
    parts, at = [], 0
    for m in _LEADER.finditer(w.text):
        if m.start() > at:
            parts.append((at, m.start(), w.text[at:m.start()]))
        at = m.end()
    if at < len(w.text):
        parts.append((at, len(w.text), w.text[at:]))
    parts = [(a, b, t) for a, b, t in parts if t.strip()]
    if not parts:
        return []
    if len(parts) == 1 and parts[0][2] == w.text:
        return [w]
    x0, y0, x1, y1 = w.bbox
    n = len(w.text)
    char_w = _CHAR_W * max(1.0, y1 - y0)
    out = []
    for a, b, t in parts:
        width = min(x1 - x0, len(t) * char_w)
        if a == 0:
            bx0 = x0
        elif b == n:
            bx0 = x1 - width
        else:
            bx0 = x0 + (x1 - x0) * (a + b) / (2 * n) - width / 2
        bx0 = max(x0, min(bx0, x1 - width))
        out.append(Word.from_pixels(t, (bx0, y0, bx0 + width, y1), page_width=page.width,
                                    page_height=page.height, confidence=w.confidence))
    return out


def _split_glued(words: list[Word], page: Page) -> list[Word]:
    """``Date:9/3/92`` (no space after the colon) → ``Date:`` ``9/3/92`` (box split by length)."""
    out: list[Word] = []
    for w in (part for word in words for part in _split_rules(word, page)):
        m = _GLUED_KEY.match(w.text)
        if not m or not re.search(r"[A-Za-z0-9]", m.group(2)):
            out.append(w)
            continue
        a, b = m.group(1), m.group(2)
        x0, y0, x1, y1 = w.bbox
        cut = x0 + (x1 - x0) * len(a) / len(w.text)
        for t, bb in ((a, (x0, y0, cut, y1)), (b, (cut, y0, x1, y1))):
            out.append(Word.from_pixels(t, bb, page_width=page.width, page_height=page.height,
                                        confidence=w.confidence))
    return out


# ---------------------------------------------------------------------------------------------
# page structures
# ---------------------------------------------------------------------------------------------
@dataclass
class Fragment:
    """A run of joined words on one visual line."""

    words: list[Word]
    line: int
    ids: list[int] = field(default_factory=list)  # positions in PageParse.words
    probs: np.ndarray | None = None
    block: int = -1  # the layout block of its line

    def __post_init__(self) -> None:
        b = union_box([w.bbox for w in self.words])
        self.x0, self.y0, self.x1, self.y1 = (float(v) for v in b)
        self.text = " ".join(w.text for w in self.words)
        self.h = float(median([max(1.0, w.bbox[3] - w.bbox[1]) for w in self.words]))
        self.conf = float(np.mean([w.confidence for w in self.words]))


@dataclass
class Entity:
    """Fragments read as one key, value, header or other (one or more lines)."""

    frags: list[Fragment]
    probs: np.ndarray

    def __post_init__(self) -> None:
        self.frags.sort(key=lambda f: (f.y0, f.x0))
        b = union_box([(f.x0, f.y0, f.x1, f.y1) for f in self.frags])
        self.x0, self.y0, self.x1, self.y1 = (float(v) for v in b)
        self.words = [w for f in self.frags for w in f.words]
        self.ids = [i for f in self.frags for i in f.ids]
        self.text = " ".join(f.text for f in self.frags)
        self.h = float(median([f.h for f in self.frags]))
        self.conf = float(np.mean([w.confidence for w in self.words]))


@dataclass
class PageParse:
    """What :func:`parse_page` read: words, fragments, entities and scored candidate links."""

    words: list[Word]
    lines: list[list[int]]
    blocks: list[int] = field(default_factory=list)  # layout block of each line
    fragments: list[Fragment] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    links: list[tuple[int, int, float]] = field(default_factory=list)  # (key entity, value entity, p)
    med_h: float = 10.0


def _vov(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    return max(0.0, inter) / max(1.0, min(a1 - a0, b1 - b0))


def _lines(page: Page) -> tuple[list[Word], list[list[int]], list[int]]:
    """Cleaned words, lines (positions into the words) and each line's layout block."""
    block_of = {li: b for b, blk in enumerate(page.blocks) for li in blk.line_ids}
    words: list[Word] = []
    lines: list[list[int]] = []
    blocks: list[int] = []
    for li, ln in enumerate(page.lines):
        ws = [w for w in _split_glued(page.line_words(ln), page) if not _is_junk(w.text)]
        if not ws:
            continue
        ws.sort(key=lambda w: w.bbox[0])
        lines.append(list(range(len(words), len(words) + len(ws))))
        blocks.append(block_of.get(li, -1 - li))
        words.extend(ws)
    return words, lines, blocks


# ---------------------------------------------------------------------------------------------
# 1. join
# ---------------------------------------------------------------------------------------------
JOIN_FEATURES = (
    "gap_h", "log_gap_h", "gap_rel", "l_colon", "l_punct", "l_q", "r_paren", "l_upper", "r_upper",
    "r_cap", "l_cap", "l_digit", "r_digit", "log_h_ratio", "dcy_h", "l_conf", "r_conf", "d_conf",
    "l_len", "r_len", "r_colon_only", "l_first", "r_last", "l_alpha", "r_alpha", "line_n",
)
JOIN_LEX_FEATURES = ("l_lex_k", "l_lex_v", "r_lex_k", "r_lex_v")  # appended when the model has a lexicon


def join_features(ws: Sequence[Word], lex: dict[str, tuple[float, ...]] | None = None) -> np.ndarray:
    """Features of each junction ``(k, k+1)`` of a left-to-right line, shape ``(len-1, F)``
    (``JOIN_FEATURES``, then ``JOIN_LEX_FEATURES`` when a lexicon is given)."""
    n = len(ws)
    width = len(JOIN_FEATURES) + (len(JOIN_LEX_FEATURES) if lex is not None else 0)
    if n < 2:
        return np.zeros((0, width))
    hs = [max(1.0, w.bbox[3] - w.bbox[1]) for w in ws]
    h = float(median(hs))
    gaps = [ws[k + 1].bbox[0] - ws[k].bbox[2] for k in range(n - 1)]
    pos = [g for g in gaps if g > 0]
    mg = float(median(pos)) if pos else h * 0.4
    lx = [lex.get(t, _NO_LEX) for t in (_last_token(w.text) for w in ws)] if lex is not None else []
    rows = []
    for k in range(n - 1):
        a, b = ws[k], ws[k + 1]
        ta, tb = a.text, b.text
        g = gaps[k]
        rows.append([
            max(-1.0, min(10.0, g / h)), math.log1p(max(0.0, g) / h), min(10.0, max(0.0, g) / (mg + 1.0)),
            float(ta.endswith(":")), float(ta[-1:] in ".,;"), float(ta.endswith("?")),
            float(tb.startswith("(")), float(ta.isupper()), float(tb.isupper()),
            float(tb[:1].isupper()), float(ta[:1].isupper()),
            _ratio(ta, str.isdigit), _ratio(tb, str.isdigit),
            math.log(hs[k + 1] / hs[k]), ((b.bbox[1] + b.bbox[3]) - (a.bbox[1] + a.bbox[3])) / (2 * h),
            a.confidence, b.confidence, abs(a.confidence - b.confidence),
            math.log1p(len(ta)), math.log1p(len(tb)), float(tb.strip() == ":"),
            float(k == 0), float(k + 1 == n - 1),
            _ratio(ta, str.isalpha), _ratio(tb, str.isalpha), math.log1p(n),
            *((lx[k][0], lx[k][1], lx[k + 1][0], lx[k + 1][1]) if lex is not None else ()),
        ])
    return np.asarray(rows, dtype=np.float64).reshape(n - 1, width)


JOIN_CTX_FEATURES = ("r_align", "l_align", "gap_cover", "gap_lines")  # the page around the gap
_ALIGN_DY = 25.0  # lines within this many line heights count for column alignment
_COVER_DY = 3.0  # ... and within this many for the whitespace river through a gap


def join_context_features(words: Sequence[Word], lines: Sequence[Sequence[int]]) -> np.ndarray:
    """Page context of each junction of every line with two or more words (lines in order, then
    left to right), shape ``(n, 4)``: how many other lines nearby start a run of words at the
    right word's left edge (a value column) and end one at the left word's right edge (a column of
    labels), how many words of the lines right above and below cover the middle of the gap, and
    how many of those lines reach across it (a gap inside a paragraph is covered; a gap between
    table columns is a river of white)."""
    n_junctions = sum(max(0, len(ids) - 1) for ids in lines)
    if n_junctions == 0:
        return np.zeros((0, len(JOIN_CTX_FEATURES)))
    n = len(words)
    box = np.asarray([w.bbox for w in words], dtype=np.float64).reshape(n, 4)
    x0, y0, x1, y1 = box.T
    yc = (y0 + y1) / 2
    h = float(np.median(np.maximum(1.0, y1 - y0)))
    line_of = np.full(n, -1)
    starts = np.zeros(n, dtype=bool)
    ends = np.zeros(n, dtype=bool)
    lo = np.full(len(lines), np.inf)
    hi = np.full(len(lines), -np.inf)
    for li, ids in enumerate(lines):
        for k, i in enumerate(ids):
            line_of[i] = li
            starts[i] = k == 0 or x0[i] - x1[ids[k - 1]] > h
            ends[i] = k == len(ids) - 1 or x0[ids[k + 1]] - x1[i] > h
        if ids:
            lo[li], hi[li] = x0[ids].min(), x1[ids].max()
    line_yc = np.asarray([float(np.mean(yc[ids])) if ids else 0.0 for ids in lines])
    rows = []
    for li, ids in enumerate(lines):
        if len(ids) < 2:
            continue
        other = line_of != li
        near = other & (np.abs(yc - line_yc[li]) <= _ALIGN_DY * h)
        close = other & (np.abs(yc - line_yc[li]) <= _COVER_DY * h)
        close_lines = np.abs(line_yc - line_yc[li]) <= _COVER_DY * h
        close_lines[li] = False
        for k in range(len(ids) - 1):
            a, b = ids[k], ids[k + 1]
            r_al = len(set(line_of[near & starts & (np.abs(x0 - x0[b]) <= 0.5 * h)].tolist()))
            l_al = len(set(line_of[near & ends & (np.abs(x1 - x1[a]) <= 0.5 * h)].tolist()))
            mid = (x1[a] + x0[b]) / 2
            cover = int((close & (x0 <= mid) & (x1 >= mid)).sum())
            across = int((close_lines & (lo < mid) & (mid < hi)).sum())
            rows.append([math.log1p(r_al), math.log1p(l_al), float(min(cover, 6)), float(min(across, 6))])
    return np.asarray(rows, dtype=np.float64).reshape(n_junctions, len(JOIN_CTX_FEATURES))


def page_join_features(words: Sequence[Word], lines: Sequence[Sequence[int]],
                       lex: dict[str, tuple[float, ...]] | None = None) -> np.ndarray:
    """What the join model reads for every junction of the page (lines with two or more words, in
    order): :func:`join_features` of each line, then :func:`join_context_features`."""
    feats = [join_features([words[i] for i in ids], lex) for ids in lines if len(ids) > 1]
    if not feats:
        width = len(JOIN_FEATURES) + len(JOIN_CTX_FEATURES) + (len(JOIN_LEX_FEATURES) if lex is not None else 0)
        return np.zeros((0, width))
    return np.hstack([np.concatenate(feats), join_context_features(words, lines)])


def _last_token(text: str) -> str:
    toks = lex_tokens(text)
    return toks[-1] if toks else ""


def _fragments(words: list[Word], lines: list[list[int]], model: dict[str, Any],
               blocks: Sequence[int] | None = None) -> list[Fragment]:
    thr = model["thresholds"]["join"]
    out: list[Fragment] = []
    # one model call for every gap of the page (per line it was most of the page's time)
    x = page_join_features(words, lines, model.get("lexicon"))
    probs = predict(model["join"], x)[:, 0] if len(x) else np.zeros(0)
    at = 0
    for li, ids in enumerate(lines):
        p = probs[at:at + len(ids) - 1] if len(ids) > 1 else np.zeros(0)
        at += max(0, len(ids) - 1)
        blk = blocks[li] if blocks is not None else -1
        cur = [ids[0]]
        for k in range(1, len(ids)):
            if p[k - 1] >= thr:
                cur.append(ids[k])
            else:
                out.append(Fragment([words[i] for i in cur], li, cur, block=blk))
                cur = [ids[k]]
        out.append(Fragment([words[i] for i in cur], li, cur, block=blk))
    return out


# ---------------------------------------------------------------------------------------------
# 2. role
# ---------------------------------------------------------------------------------------------
def _text_shape(t: str) -> list[float]:
    words = t.split()
    return [
        math.log1p(len(words)), math.log1p(len(t)), _ratio(t, str.isalpha), _ratio(t, str.isdigit),
        _upper_ratio(t), sum(w[:1].isupper() for w in words) / max(1, len(words)),
        _ratio(t, lambda c: not c.isalnum()), float(t.endswith(":")), float(":" in t[:-1]),
        float(t.endswith("?")), float(t.endswith(".")), float(t[:1].isdigit()), float(t[:1] in "(#*•-"),
        float(bool(_DATE.search(t))), float(bool(_MONEY.search(t))), float(bool(_PHONE.search(t))),
        float(t.isupper() and any(c.isalpha() for c in t)),
    ]


SHAPE_FEATURES = ("n_words", "n_chars", "alpha", "digit", "upper", "title", "punct", "colon_end",
                  "colon_in", "q_end", "dot_end", "digit_start", "bullet_start", "date", "money",
                  "phone", "all_caps")
ROLE_FEATURES = SHAPE_FEATURES + (
    "conf", "min_conf", "log_h_rel", "x0", "x1", "yc", "width",
    "has_left", "left_gap", "left_colon", "left_conf", "has_right", "right_gap", "right_colon",
    "right_digit", "right_conf", "has_above", "above_dy", "above_colon", "has_below", "below_dy",
    "below_colon", "row_n", "row_first", "row_last", "below_conf", "above_conf",
)
ROLE_LEX_FEATURES = LEX_FEATURES + ("left_lex_k", "right_lex_v")  # appended with a lexicon


def _neighbours(frags: list[Fragment]) -> tuple[list[int | None], list[int | None],
                                                   list[int | None], list[int | None], list[int]]:
    """Nearest fragment left/right on the same row, above/below overlapping in x; row sizes."""
    n = len(frags)
    left: list[int | None] = [None] * n
    right: list[int | None] = [None] * n
    above: list[int | None] = [None] * n
    below: list[int | None] = [None] * n
    row_n = [1] * n
    order = sorted(range(n), key=lambda i: frags[i].y0)
    if n:
        x0, y0, x1, y1 = (np.array([getattr(f, a) for f in frags], dtype=np.float64)
                          for a in ("x0", "y0", "x1", "y1"))
        same = _same_row(y0, y1)
        left_of = same & (x1[None, :] <= x0[:, None] + 2)  # (left and right at once only for
        d_left = x0[:, None] - x1[None, :]                  # two boxes under 4 px wide together)
        left = _nearest(left_of, d_left)
        right = _nearest(same & ~left_of & (x0[None, :] >= x1[:, None] - 2), x0[None, :] - x1[:, None])
        row_n = [1 + int(c) for c in same.sum(axis=1)]
    for a_pos, i in enumerate(order):
        f = frags[i]
        for j in order[a_pos + 1:]:
            o = frags[j]
            if o.y0 < f.y0 + 0.5 * f.h or _vov(f.y0, f.y1, o.y0, o.y1) >= 0.5:
                continue
            if min(f.x1, o.x1) - max(f.x0, o.x0) > 0:
                below[i] = j
                break
        for j in reversed(order[:a_pos]):
            o = frags[j]
            if o.y0 > f.y0 - 0.5 * f.h or _vov(f.y0, f.y1, o.y0, o.y1) >= 0.5:
                continue
            if min(f.x1, o.x1) - max(f.x0, o.x0) > 0:
                above[i] = j
                break
    return left, right, above, below, row_n


def role_features(frags: list[Fragment], page: Page, med_h: float,
                  nb: tuple[Any, ...] | None = None,
                  lex: dict[str, tuple[float, ...]] | None = None) -> np.ndarray:
    """Features of each fragment for the role classifier, shape ``(n, F)`` (``ROLE_FEATURES``, then
    ``ROLE_LEX_FEATURES`` when a lexicon is given)."""
    left, right, above, below, row_n = nb or _neighbours(frags)
    ls = [lex_scores(f.text, lex) for f in frags] if lex is not None else []
    width = len(ROLE_FEATURES) + (len(ROLE_LEX_FEATURES) if lex is not None else 0)
    W, H = max(1.0, page.width), max(1.0, page.height)
    rows = []
    for i, f in enumerate(frags):
        h = f.h
        lf = frags[left[i]] if left[i] is not None else None
        rf = frags[right[i]] if right[i] is not None else None
        af = frags[above[i]] if above[i] is not None else None
        bf = frags[below[i]] if below[i] is not None else None
        rows.append(_text_shape(f.text) + [
            f.conf, min(w.confidence for w in f.words), math.log(h / med_h),
            f.x0 / W, f.x1 / W, (f.y0 + f.y1) / (2 * H), (f.x1 - f.x0) / W,
            float(lf is not None), min(20.0, (f.x0 - lf.x1) / h) if lf else 20.0,
            float(lf.text.endswith(":")) if lf else 0.0, lf.conf if lf else 1.0,
            float(rf is not None), min(20.0, (rf.x0 - f.x1) / h) if rf else 20.0,
            float(rf.text.endswith(":")) if rf else 0.0, _ratio(rf.text, str.isdigit) if rf else 0.0,
            rf.conf if rf else 1.0,
            float(af is not None), min(20.0, (f.y0 - af.y1) / h) if af else 20.0,
            float(af.text.endswith(":")) if af else 0.0,
            float(bf is not None), min(20.0, (bf.y0 - f.y1) / h) if bf else 20.0,
            float(bf.text.endswith(":")) if bf else 0.0,
            math.log(row_n[i]), float(lf is None), float(rf is None),
            bf.conf if bf else 1.0, af.conf if af else 1.0,
            *((*ls[i], ls[left[i]][0] if left[i] is not None else 0.0,
               ls[right[i]][1] if right[i] is not None else 0.0) if lex is not None else ()),
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(frags), width)


def fragment_roles(frags: list[Fragment], page: Page, med_h: float, nb: tuple[Any, ...],
                   model: dict[str, Any]) -> np.ndarray:
    """Role probabilities of each fragment (shape ``(n, 4)``, ``ROLES`` order)."""
    return predict(model["role"], role_features(frags, page, med_h, nb, model.get("lexicon")))


# ---------------------------------------------------------------------------------------------
# 3. merge
# ---------------------------------------------------------------------------------------------
MERGE_FEATURES = (
    "dy_h", "dleft_h", "dright_h", "ov_min", "ov_max", "log_w_ratio", "log_h_ratio", "u_colon",
    "u_dot", "u_comma", "l_lower", "l_upper", "l_digit", "u_has_left", "l_has_left", "u_has_right",
    "l_has_right", "l_left_key", "d_conf", "u_n", "l_n",
    "u_pk", "u_pv", "u_ph", "u_po", "l_pk", "l_pv", "l_ph", "l_po",
    "same_block", "rank_down", "rank_up", "n_down", "n_up", "u_hyphen", "l_paren", "mutual",
    "l_colon", "dcx_h", "u_open",
)
# a line ending in one of these continues on the next (``NO. OF`` / ``STORES``)
_OPEN_END = frozenset({"of", "to", "and", "the", "for", "per", "in", "on", "by", "with", "or", "a", "an",
                       "at", "from", "&", "/", "-", "de", "der", "die", "das", "und", "von", "zu", "du",
                       "la", "le", "les", "et", "des", "pour"})


def _open_end(text: str) -> bool:
    t = text.rstrip()
    if t[-1:] in "-/&,":
        return bool(t)
    last = t.rsplit(None, 1)[-1].casefold() if t else ""
    return last in _OPEN_END
_MERGE_GAP = 3.0


def merge_candidates(frags: list[Fragment], nb: tuple[Any, ...]) -> list[tuple[int, int]]:
    """``(upper, lower)`` pairs: the two nearest fragments below each fragment that overlap it in
    x, and the two nearest above each fragment."""
    n = len(frags)
    if n < 2:
        return []
    x0, y0, x1, y1, h = (np.array([getattr(f, a) for f in frags], dtype=np.float64)
                         for a in ("x0", "y0", "x1", "y1", "h"))
    # [i, j]: fragment j lies below fragment i (not on its row), close, overlapping it in x
    inter = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    vov = np.maximum(0.0, inter) / np.maximum(1.0, np.minimum((y1 - y0)[:, None], (y1 - y0)[None, :]))
    gap = y0[None, :] - y1[:, None]
    ok = ((y0[None, :] >= y0[:, None] + 0.5 * h[:, None]) & (vov < 0.5)
          & (gap <= _MERGE_GAP * np.maximum(h[:, None], h[None, :]))
          & (np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :]) > 0))
    np.fill_diagonal(ok, False)
    pairs: set[tuple[int, int]] = set()
    for i in range(n):
        below = np.flatnonzero(ok[i])  # the two nearest below i (ties: the lower index)
        pairs.update((i, int(j)) for j in below[np.lexsort((below, gap[i, below]))][:2])
        above = np.flatnonzero(ok[:, i])  # the two nearest above i
        pairs.update((int(j), i) for j in above[np.lexsort((above, gap[above, i]))][:2])
    return sorted(pairs)


def merge_features(frags: list[Fragment], pairs: list[tuple[int, int]], nb: tuple[Any, ...]
                   ) -> np.ndarray:
    """Features of each candidate ``(upper, lower)`` pair, shape ``(n, F)``."""
    left, right, above, below, _ = nb
    downs: dict[int, list[tuple[float, int]]] = {}
    ups: dict[int, list[tuple[float, int]]] = {}
    for i, j in pairs:
        gap = frags[j].y0 - frags[i].y1
        downs.setdefault(i, []).append((gap, j))
        ups.setdefault(j, []).append((gap, i))
    rows = []
    for i, j in pairs:
        u, lo = frags[i], frags[j]
        h = max(u.h, lo.h)
        ov = max(0.0, min(u.x1, lo.x1) - max(u.x0, lo.x0))
        wu, wl = max(1.0, u.x1 - u.x0), max(1.0, lo.x1 - lo.x0)
        lk = frags[left[j]].probs[_K] if left[j] is not None else 0.0
        rows.append([
            min(10.0, (lo.y0 - u.y1) / h), max(-20.0, min(20.0, (lo.x0 - u.x0) / h)),
            max(-20.0, min(20.0, (lo.x1 - u.x1) / h)), ov / min(wu, wl), ov / max(wu, wl),
            math.log(wl / wu), math.log(lo.h / u.h), float(u.text.endswith(":")),
            float(u.text.endswith(".")), float(u.text.endswith(",")),
            float(lo.text[:1].islower()), float(lo.text[:1].isupper()), float(lo.text[:1].isdigit()),
            float(left[i] is not None), float(left[j] is not None), float(right[i] is not None),
            float(right[j] is not None), float(lk), abs(u.conf - lo.conf),
            math.log1p(len(u.words)), math.log1p(len(lo.words)),
            *u.probs, *lo.probs,
            float(u.block == lo.block), float(sorted(downs[i]).index((lo.y0 - u.y1, j))),
            float(sorted(ups[j]).index((lo.y0 - u.y1, i))), float(len(downs[i])), float(len(ups[j])),
            float(u.text.endswith("-")), float(lo.text.startswith("(")),
            float(below[i] == j and above[j] == i),
            float(lo.text.endswith(":")),
            max(-20.0, min(20.0, ((lo.x0 + lo.x1) - (u.x0 + u.x1)) / (2 * h))), float(_open_end(u.text)),
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(pairs), len(MERGE_FEATURES))


def _entities(frags: list[Fragment], pairs: list[tuple[int, int]], p: np.ndarray, thr: float
              ) -> list[Entity]:
    parent = list(range(len(frags)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    has_down: set[int] = set()
    has_up: set[int] = set()
    for n in np.argsort(-np.asarray(p, dtype=np.float64), kind="stable"):
        (i, j), pi = pairs[n], p[n]
        if pi < thr:
            break
        if i in has_down or j in has_up or find(i) == find(j):
            continue
        has_down.add(i)
        has_up.add(j)
        parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(frags)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for ids in groups.values():
        fs = [frags[i] for i in ids]
        wts = np.asarray([len(f.text) for f in fs], dtype=np.float64)
        probs = (np.stack([f.probs for f in fs]) * wts[:, None]).sum(0) / wts.sum()
        out.append(Entity(fs, probs))
    out.sort(key=lambda e: (e.y0, e.x0))
    return out


# ---------------------------------------------------------------------------------------------
# 4. link
# ---------------------------------------------------------------------------------------------
LINK_FEATURES = (
    "dx_gap", "dy_gap", "dcx", "dcy", "dleft", "dright", "vov", "hov", "same_row", "below", "right",
    "left", "dist", "log_dist", "rank_k", "rank_v", "n_between", "n_keys_between", "n_vals_between",
    "k_pk", "k_pv", "k_ph", "k_po", "v_pk", "v_pv", "v_ph", "v_po", "k_colon", "v_colon", "k_n",
    "v_n", "v_lines", "v_digit", "k_q", "n_cands", "k_lines", "v_conf", "k_conf", "k_x0",
    "v_closer_key", "k_left_of_v", "k_key_left_of_v", "k_key_above_v", "v_right_of_k",
    "v_below_k", "k_vals_below", "v_upper", "k_upper",
)
_MAX_CANDS = 10
_KEYISH = 0.4


def _box_dist(k: Entity, v: Entity, h: float) -> float:
    dx = max(0.0, v.x0 - k.x1, k.x0 - v.x1)
    dy = max(0.0, v.y0 - k.y1, k.y0 - v.y1)
    return math.hypot(dx, 2.0 * dy) / h


@dataclass
class _Rel:
    """Nearest-neighbour relations between the entities of a page."""

    left: list[int | None]
    right: list[int | None]
    below: list[int | None]
    key_left: list[int | None]  # nearest key-like entity left on the same row
    key_above: list[int | None]  # nearest key-like entity above, overlapping in x


def _same_row(y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """``[i, j]``: boxes ``i`` and ``j`` overlap vertically by at least half the shorter one
    (:func:`_vov` ``>= 0.5`` for every pair at once; the diagonal is False)."""
    inter = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    hh = y1 - y0
    same = np.maximum(0.0, inter) / np.maximum(1.0, np.minimum(hh[:, None], hh[None, :])) >= 0.5
    np.fill_diagonal(same, False)
    return same


def _nearest(mask: np.ndarray, dist: np.ndarray) -> list[int | None]:
    """Per row, the column with the smallest ``dist`` where ``mask`` holds (the first on ties)."""
    d = np.where(mask, dist, np.inf)
    best = np.argmin(d, axis=1) if d.size else np.zeros(0, dtype=int)
    return [int(j) if mask[i, j] else None for i, j in enumerate(best)]


def _relations(ents: list[Entity]) -> _Rel:
    """Nearest entity left / right on the same row and below overlapping in x, and the nearest
    key-like entity left and above (all pairs at once, as arrays)."""
    n = len(ents)
    if n == 0:
        return _Rel([], [], [], [], [])
    x0, y0, x1, y1 = (np.array([getattr(e, a) for e in ents], dtype=np.float64) for a in ("x0", "y0", "x1", "y1"))
    h = np.array([e.h for e in ents], dtype=np.float64)
    keyish = np.array([e.probs[_K] >= _KEYISH for e in ents], dtype=bool)
    same = _same_row(y0, y1)
    left_of = same & (x1[None, :] <= x0[:, None] + 2)
    right_of = same & ~left_of & (x0[None, :] >= x1[:, None] - 2)
    xover = ~same & (np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :]) > 0)
    np.fill_diagonal(xover, False)
    d_left = x0[:, None] - x1[None, :]
    return _Rel(
        _nearest(left_of, d_left),
        _nearest(right_of, x0[None, :] - x1[:, None]),
        _nearest(xover & (y0[None, :] >= y0[:, None] + 0.5 * h[:, None]), y0[None, :] - y1[:, None]),
        _nearest(left_of & keyish[None, :], d_left),
        _nearest(xover & keyish[None, :] & (y0[None, :] <= y0[:, None] - 0.5 * h[:, None]),
                 y0[:, None] - y1[None, :]),
    )


def link_candidates(ents: list[Entity], keys: list[int], rel: _Rel | None = None
                    ) -> list[tuple[int, int, float]]:
    """``(key, value, distance)``: for each key the nearest entities right of or below it, and for
    each entity its nearest key-like entity to the left and above."""
    rel = rel or _relations(ents)
    keyset = set(keys)
    seen: set[tuple[int, int]] = set()
    out = []
    for k in keys:
        ke = ents[k]
        h = ke.h
        cands = []
        for v, ve in enumerate(ents):
            if v == k:
                continue
            if ve.y1 < ke.y0 + 0.2 * h and _vov(ke.y0, ke.y1, ve.y0, ve.y1) < 0.3:
                continue  # above the key
            if ve.y0 - ke.y1 > 12 * h:
                continue
            if ve.x1 < ke.x0 - 3 * h and _vov(ke.y0, ke.y1, ve.y0, ve.y1) < 0.3:
                continue  # below-left, outside the key's column
            cands.append((_box_dist(ke, ve, h), v))
        cands.sort()
        for d, v in cands[:_MAX_CANDS]:
            seen.add((k, v))
            out.append((k, v, d))
    for v in range(len(ents)):
        for k in (rel.key_left[v], rel.key_above[v]):
            if k is not None and k in keyset and (k, v) not in seen:
                seen.add((k, v))
                out.append((k, v, _box_dist(ents[k], ents[v], ents[k].h)))
    return out


def _placement(ents: list[Entity], cands: list[tuple[int, int, float]]
               ) -> tuple[list[float], np.ndarray, np.ndarray]:
    """For each candidate ``(key, value)``: the two's vertical overlap, whether they share a row
    (overlap ≥ 0.5) and whether the value stands below the key (not on its row)."""
    vov = [_vov(ents[k].y0, ents[k].y1, ents[v].y0, ents[v].y1) for k, v, _ in cands]
    same_row = np.asarray([x >= 0.5 for x in vov], dtype=bool)
    below = np.asarray([ents[v].y0 >= ents[k].y1 - 0.3 * ents[k].h for k, v, _ in cands],
                       dtype=bool) & ~same_row
    return vov, same_row, below


def _between_counts(ents: list[Entity], cands: list[tuple[int, int, float]],
                    boxes: tuple[np.ndarray, ...], pk: np.ndarray, pv: np.ndarray,
                    same_row: np.ndarray, below: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """For each candidate ``(key, value)``: how many other entities stand between the two (on
    their row when they share one, in the value's column when the value is below: ``same_row``
    and ``below`` from :func:`_placement`), and how many of those read as keys / values. All
    candidates at once, as a candidates × entities mask."""
    if not cands:
        return [], [], []
    ex0, ey0, ex1, ey1 = boxes
    ks = np.asarray([k for k, _, _ in cands])
    vs = np.asarray([v for _, v, _ in cands])
    kx0, ky0, kx1, ky1 = (a[ks][:, None] for a in boxes)
    vx0, vy0, vx1, vy1 = (a[vs][:, None] for a in boxes)
    h = np.asarray([e.h for e in ents])[ks][:, None]
    inter = np.minimum(ky1, ey1[None, :]) - np.maximum(ky0, ey0[None, :])
    short = np.maximum(1.0, np.minimum(ky1 - ky0, (ey1 - ey0)[None, :]))
    on_row = (np.maximum(0.0, inter) / short >= 0.5) & (kx1 <= ex0[None, :] + 2) & (ex1[None, :] <= vx0 + 2)
    in_column = (ey0[None, :] >= ky1 - 0.3 * h) & (ey1[None, :] <= vy0 + 0.3 * h) & \
        (np.minimum(ex1[None, :], vx1) - np.maximum(ex0[None, :], vx0) > 0)
    mask = (same_row[:, None] & on_row) | (below[:, None] & in_column)
    rows = np.arange(len(cands))
    mask[rows, ks] = False
    mask[rows, vs] = False
    return (mask.sum(axis=1).tolist(), (mask & (pk >= 0.5)[None, :]).sum(axis=1).tolist(),
            (mask & (pv >= 0.5)[None, :]).sum(axis=1).tolist())


def link_features(ents: list[Entity], cands: list[tuple[int, int, float]], W: float,
                  rel: _Rel | None = None) -> np.ndarray:
    """Features of each candidate ``(key, value)``, shape ``(n, F)``."""
    rel = rel or _relations(ents)
    by_k: dict[int, list[float]] = {}
    by_v: dict[int, list[tuple[float, int]]] = {}
    for k, v, d in cands:
        by_k.setdefault(k, []).append(d)
        by_v.setdefault(v, []).append((d, k))
    ex0, ey0, ex1, ey1 = (np.asarray([getattr(e, a) for e in ents]) for a in ("x0", "y0", "x1", "y1"))
    pk = np.asarray([e.probs[_K] for e in ents])
    pv = np.asarray([e.probs[_V] for e in ents])
    vals_below: dict[int, int] = {}
    for k in by_k:
        ke = ents[k]
        vals_below[k] = int(((pv >= 0.5) & (ey0 >= ke.y1 - 0.3 * ke.h)
                             & (np.minimum(ex1, ke.x1) - np.maximum(ex0, ke.x0) > 0)).sum())
    sorted_k = {k: sorted(ds) for k, ds in by_k.items()}
    sorted_v = {v: sorted(x for x, _ in dk) for v, dk in by_v.items()}
    digits = [_ratio(e.text, str.isdigit) for e in ents]
    upper = [_upper_ratio(e.text) for e in ents]
    vovs, rows_shared, belows = _placement(ents, cands)
    between, keys_between, vals_between = _between_counts(ents, cands, (ex0, ey0, ex1, ey1), pk, pv,
                                                          rows_shared, belows)
    rows = []
    for i, (k, v, d) in enumerate(cands):
        ke, ve = ents[k], ents[v]
        h = ke.h
        vov, same_row, below = vovs[i], bool(rows_shared[i]), bool(belows[i])
        hov = max(0.0, min(ke.x1, ve.x1) - max(ke.x0, ve.x0)) / max(1.0, min(ke.x1 - ke.x0, ve.x1 - ve.x0))
        rk = sorted_k[k].index(d)
        rv = sorted_v[v].index(d)
        closer_key = sum(1 for x, kk in by_v[v] if x < d and ents[kk].probs[_K] > ke.probs[_K] * 0.5)
        rows.append([
            max(-30.0, min(30.0, (ve.x0 - ke.x1) / h)), max(-30.0, min(30.0, (ve.y0 - ke.y1) / h)),
            max(-30.0, min(30.0, ((ve.x0 + ve.x1) - (ke.x0 + ke.x1)) / (2 * h))),
            max(-30.0, min(30.0, ((ve.y0 + ve.y1) - (ke.y0 + ke.y1)) / (2 * h))),
            max(-30.0, min(30.0, (ve.x0 - ke.x0) / h)), max(-30.0, min(30.0, (ve.x1 - ke.x1) / h)),
            vov, hov, float(same_row), float(below),
            float(same_row and ve.x0 >= ke.x1 - h), float(same_row and ve.x1 <= ke.x0 + h),
            min(40.0, d), math.log1p(d), float(min(rk, 6)), float(min(rv, 6)), float(min(between[i], 5)),
            float(min(keys_between[i], 5)), float(min(vals_between[i], 8)),
            *ke.probs, *ve.probs, float(ke.text.endswith(":")), float(ve.text.endswith(":")),
            math.log1p(len(ke.words)), math.log1p(len(ve.words)), math.log(len(ve.frags)),
            digits[v], float(ke.text.endswith("?")), math.log(len(by_k[k])),
            math.log(len(ke.frags)), ve.conf, ke.conf, ke.x0 / max(1.0, W), float(min(closer_key, 3)),
            float(rel.left[v] == k), float(rel.key_left[v] == k), float(rel.key_above[v] == k),
            float(rel.right[k] == v), float(rel.below[k] == v), math.log1p(vals_below[k]),
            upper[v], upper[k],
        ])
    return np.asarray(rows, dtype=np.float64).reshape(len(cands), len(LINK_FEATURES))


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------
def parse_page(page: Page, model: dict[str, Any]) -> PageParse:
    """All four steps on one page (the training script reads the intermediate structures)."""
    words, lines, blocks = _lines(page)
    pp = PageParse(words, lines, blocks)
    if not words:
        return pp
    pp.med_h = float(median([max(1.0, w.bbox[3] - w.bbox[1]) for w in words]))
    frags = _fragments(words, lines, model, blocks)
    nb = _neighbours(frags)
    probs = fragment_roles(frags, page, pp.med_h, nb, model)
    for f, p in zip(frags, probs, strict=True):
        f.probs = p
    pp.fragments = frags
    pairs = merge_candidates(frags, nb)
    pm = predict(model["merge"], merge_features(frags, pairs, nb))[:, 0]
    ents = _entities(frags, pairs, pm, model["thresholds"]["merge"])
    pp.entities = ents
    if model.get("link") is None:
        return pp
    keys = [i for i, e in enumerate(ents) if e.probs[_K] >= model["thresholds"]["key"]]
    rel = _relations(ents)
    cands = link_candidates(ents, keys, rel)
    pl = predict(model["link"], link_features(ents, cands, page.width, rel))[:, 0]
    pp.links = [(k, v, float(p)) for (k, v, _), p in zip(cands, pl, strict=True)]
    return pp


def select_links(pp: PageParse, thr: float, second: float | None = None,
                 second_key: float | None = None) -> list[tuple[int, int, float]]:
    """Links scoring ≥ ``thr``, best first: an entity is never both a key and a value; a key may
    take several values (a column header and its cells). With ``second``, a key's values after the
    first need ≥ ``second``. A value has one key, or, with ``second_key``, a second one scoring
    ≥ ``second_key`` from the other direction (a table cell's row label on its row and its column
    header above)."""
    role: dict[int, str] = {}
    n_vals: dict[int, int] = {}
    key_of: dict[int, int] = {}
    n_keys: dict[int, int] = {}
    ents = pp.entities
    out = []
    for k, v, p in sorted(pp.links, key=lambda t: -t[2]):
        if p < thr:
            break
        if role.get(k) == "v" or role.get(v) == "k":
            continue
        if n_vals.get(k, 0) >= 1 and second is not None and p < second:
            continue
        if v in key_of:
            if second_key is None or p < second_key or n_keys[v] >= 2:
                continue
            ve = ents[v]

            def on_row(e: Entity, ve: Entity = ve) -> bool:
                return _vov(e.y0, e.y1, ve.y0, ve.y1) >= 0.5

            if on_row(ents[key_of[v]]) == on_row(ents[k]):
                continue
        role[k], role[v] = "k", "v"
        n_vals[k] = n_vals.get(k, 0) + 1
        n_keys[v] = n_keys.get(v, 0) + 1
        key_of.setdefault(v, k)
        out.append((k, v, p))
    return out


def calibrate(model: dict[str, Any], p: float, ke: Entity, ve: Entity) -> float:
    """P(pair right) from the link score and the OCR confidence of both sides."""
    cal = model.get("calibration")
    if not cal:
        return p
    x = np.asarray(calibration_inputs(p, ke, ve))
    z = float(np.dot(cal["w"], x) + cal["b"])
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


# Tesseract word confidences stay below ~0.97; text layers say 1.0. The calibration was fitted on
# OCR'd forms, so confidences are capped to the range it saw instead of extrapolating.
_CONF_CAP = 0.97


def calibration_inputs(p: float, ke: Entity, ve: Entity) -> list[float]:
    """What the confidence calibration reads: the link score and both sides' OCR confidence."""
    return [_logit(p), _logit(min(ke.conf, _CONF_CAP)), _logit(min(ve.conf, _CONF_CAP)),
            math.log1p(len(ve.text))]


def _logit(p: float) -> float:
    p = min(1 - 1e-4, max(1e-4, p))
    return math.log(p / (1 - p))


def page_key_values(page: Page, model: dict[str, Any]) -> list[KeyValue]:
    """Key-values of one page."""
    pp = parse_page(page, model)
    th = model["thresholds"]
    out = []
    for k, v, p in select_links(pp, th["link"], th.get("second"), th.get("second_key")):
        ke, ve = pp.entities[k], pp.entities[v]
        key, val = clean_key(ke.text), clean_value(ve.text)
        if not re.search(r"[^\W\d_]", key) or not re.search(r"\w", val):
            continue
        kb = union_box([w.box for w in ke.words])
        vb = union_box([w.box for w in ve.words])
        out.append(KeyValue(key=key, value=val, confidence=round(calibrate(model, p, ke, ve), 4),
                            page=page.number, key_bbox=[int(c) for c in kb],
                            value_bbox=[int(c) for c in vb]))
    out.sort(key=lambda kv: (kv.key_bbox[1] if kv.key_bbox else 0, kv.key_bbox[0] if kv.key_bbox else 0))
    return out


def extract_key_values(doc: Document, model: dict[str, Any] | None = None) -> list[KeyValue]:
    """Generic key→value pairs of every page of ``doc`` (empty when the model is unavailable)."""
    m = model if model is not None else load_model()
    if m is None:
        return []
    out: list[KeyValue] = []
    for page in doc.pages:
        if page.words:
            out.extend(page_key_values(page, m))
    return out
