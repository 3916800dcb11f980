"""Evaluation: labelled-folder readers, value normalisation, matchers and metrics.

Everything here is a pure function of its arguments (dataset readers only read files), so the
metrics can be tested on hand-made cases and reused outside the CLI. Running the pipeline (with
its OCR cache) lives in :mod:`extractors.eval_run`; the HTML report in :mod:`extractors.report`.

Definitions (the README's "docai eval" section repeats them):

* **Exact match** of a field: dates are compared as calendar dates (the expected value is read
  with :func:`schemas.normalize.parse_date`, so ``25/12/2018`` equals a predicted ``2018-12-25``),
  money as :class:`~decimal.Decimal` (:func:`schemas.normalize.parse_money`: ``9.00`` equals
  ``9.0``), times as ``HH:MM[:SS]``; everything else as text after :func:`norm_text` (Unicode NFKC,
  case-folded, whitespace collapsed, no space before punctuation or after an opening bracket).
* **ANLS** (DocVQA, :func:`anls`): ``1 - NL`` when the normalised Levenshtein distance ``NL`` is
  below 0.5, else 0, on :func:`norm_text` of both sides, best over the accepted gold answers
  (typed field values are compared in canonical form). ``docai ask-eval`` uses the same function.
* **Key-value pairs** (FUNSD): a predicted pair matches a labelled pair when the ANLS similarity
  (no threshold) is ≥ 0.8 on the key side and on the value side; matching is one-to-one
  (maximum bipartite matching), micro-averaged over documents.
* **Line items**: a predicted item matches a labelled item when both amounts are equal as
  ``Decimal`` and the descriptions' similarity is ≥ 0.8 (when the label has no amount, the
  description alone decides); one-to-one, micro-averaged.

>>> exact_match("transaction_date", "2018-12-25", "25/12/2018")
True
>>> exact_match("total", "9.0", "RM9.00")
True
>>> round(anls("Tan Woon Yann", "TAN WOON YAN"), 3)
0.923
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from extractors.errors import UsageError
from schemas.fields import DATE_FIELDS, MONEY_FIELDS, TIME_FIELDS
from schemas.normalize import NormalizationError, parse_date, parse_money, parse_time

__all__ = [
    "FIELD_ALIASES",
    "DocResult",
    "Example",
    "FieldResult",
    "GoldBox",
    "anls",
    "calibration",
    "canonical",
    "doc_score",
    "evaluate_record",
    "exact_match",
    "expected_boxes",
    "funsd_pairs",
    "load_dataset",
    "match_line_items",
    "match_pairs",
    "max_matching",
    "norm_text",
    "prf",
    "read_box_csv",
    "similarity",
    "summarize",
]

ANLS_THRESHOLD = 0.5
PAIR_THRESHOLD = 0.8
HIGH_CONFIDENCE = 0.9
LOW_CONFIDENCE = 0.5

FIELD_ALIASES: dict[str, dict[str, str]] = {
    "receipt": {"company": "merchant_name", "date": "transaction_date",
                "address": "merchant_address", "time": "transaction_time"},
    "invoice": {"company": "vendor_name", "date": "invoice_date", "address": "vendor_address"},
}
"""Label names of third-party sets (SROIE's ``company``/``date``/``address``) → canonical names."""


# ---------------------------------------------------------------------------------------------
# normalisation and similarity
# ---------------------------------------------------------------------------------------------
_WS = re.compile(r"\s+")
_OPENERS = "([{"


def norm_text(text: str | None) -> str:
    """Text as compared by exact match and ANLS.

    NFKC, case-folded, whitespace collapsed and stripped, no whitespace before a punctuation
    character (Unicode category ``P*``) and none after an opening bracket.

    >>> norm_text("  BOOK TA .K (TAMAN  DAYA) , Ｓdn ")
    'book ta.k(taman daya), sdn'
    """
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    s = _WS.sub(" ", s).strip()
    out: list[str] = []
    for ch in s:
        if out and out[-1] == " " and unicodedata.category(ch).startswith("P"):
            out.pop()
        if ch == " " and out and out[-1] in _OPENERS:
            continue
        out.append(ch)
    return "".join(out)


def _levenshtein(a: str, b: str) -> int:
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError:  # pragma: no cover - rapidfuzz is a core dependency
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]
    return int(Levenshtein.distance(a, b))


def similarity(pred: str | None, gold: str | None) -> float:
    """``1 - normalised Levenshtein distance`` of :func:`norm_text` of both (1.0 when both empty)."""
    a, b = norm_text(pred), norm_text(gold)
    if not a and not b:
        return 1.0
    return 1.0 - _levenshtein(a, b) / max(len(a), len(b))


def anls(pred: str | None, gold: str | Sequence[str] | None, threshold: float = ANLS_THRESHOLD) -> float:
    """DocVQA's ANLS score of one answer: the best over its accepted gold answers.

    For each gold answer ``g`` the normalised Levenshtein distance is
    ``NL = lev(p, g) / max(len(p), len(g))`` on :func:`norm_text` of both sides; the score is
    ``1 - NL`` when ``NL < threshold`` (DocVQA: 0.5) and 0 otherwise, and the answer's score is
    the maximum over the gold answers. The mean of these scores over questions is the ANLS of a
    set (Biten et al., ICCV 2019; the DocVQA leaderboard's definition). "I don't know"
    (``pred=None``) scores 0 against any non-empty gold answer. This one function serves field
    values (:func:`field_anls`) and question answering (:mod:`extractors.qa_eval`).

    >>> anls("hello", "hello"), anls("abc", "xyz"), anls(None, "abc")
    (1.0, 0.0, 0.0)
    >>> anls("RM9.00", ["9.00"]), anls("ab", "ac"), anls("b", ["a", "B"])
    (0.6666666666666667, 0.0, 1.0)
    """
    golds = [gold] if gold is None or isinstance(gold, str) else list(gold)
    p = norm_text(pred)
    best = 0.0
    for g in golds:
        gn = norm_text(g)
        if pred is None and gn:
            continue
        if not p and not gn:
            return 1.0
        nl = _levenshtein(p, gn) / max(len(p), len(gn))
        if nl < threshold:
            best = max(best, 1.0 - nl)
    return best


# ---------------------------------------------------------------------------------------------
# typed comparison
# ---------------------------------------------------------------------------------------------
def field_kind(name: str) -> str:
    """``money``, ``date``, ``time`` or ``text`` (from the canonical vocabulary)."""
    if name in MONEY_FIELDS:
        return "money"
    if name in DATE_FIELDS:
        return "date"
    if name in TIME_FIELDS:
        return "time"
    return "text"


def canonical(name: str, value: str | None) -> str | None:
    """Canonical string of a value for comparison: ISO date, plain Decimal, ``HH:MM``, or text.

    Returns ``None`` for an empty value; a value that does not parse as its type is returned as
    :func:`norm_text` so it can still be compared as text.

    >>> canonical("total", "RM 1,234.50"), canonical("invoice_date", "03.04.2024")
    ('1234.50', '2024-04-03')
    """
    if value is None or not str(value).strip():
        return None
    kind = field_kind(name)
    try:
        if kind == "money":
            return str(_parse_amount(str(value)))
        if kind == "date":
            return _parse_label_date(str(value)).isoformat()
        if kind == "time":
            return parse_time(str(value))
    except (NormalizationError, ValueError, ArithmeticError):
        pass
    return norm_text(str(value))


def exact_match(name: str, pred: str | None, gold: str | None) -> bool:
    """Normalised exact match of a predicted field value against a labelled one.

    Money is compared as ``Decimal`` (so ``9.0`` == ``9.00``), dates as dates, text after
    :func:`norm_text`. A missing prediction never matches a non-empty label.

    >>> exact_match("merchant_name", "Book Ta.K (Taman Daya)", "BOOK TA .K (TAMAN DAYA)")
    True
    >>> exact_match("total", "9.01", "9.00")
    False
    """
    g = canonical(name, gold)
    p = canonical(name, pred)
    if g is None:
        return p is None
    if p is None:
        return False
    if field_kind(name) == "money":
        try:
            return Decimal(p) == Decimal(g)
        except ArithmeticError:
            return p == g
    return p == g


def field_anls(name: str, pred: str | None, gold: str | None) -> float:
    """ANLS of one field on canonical values (so a date's format does not cost similarity)."""
    g = canonical(name, gold)
    p = canonical(name, pred)
    if exact_match(name, pred, gold):
        return 1.0
    return anls(p, g)


_GLUED_CURRENCY = re.compile(r"^([A-Za-z]{1,3}\$?|[$€£¥])(?=[\d(+-])")


def _parse_amount(text: str) -> Decimal:
    """``parse_money`` that also reads a currency glued to the digits (``RM9.00``)."""
    try:
        return parse_money(text)[0]
    except NormalizationError:
        spaced = _GLUED_CURRENCY.sub(r"\1 ", text.strip())
        if spaced == text.strip():
            raise
        return parse_money(spaced)[0]


_COMPACT_DATE = re.compile(r"^\s*((?:19|20)\d{2})(\d{2})(\d{2})\s*$")


def _parse_label_date(text: str) -> dt.date:
    """``parse_date`` that also reads compact ``yyyymmdd`` (a few SROIE labels use it)."""
    m = _COMPACT_DATE.match(text)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return parse_date(text)


def _money(value: str | None) -> Decimal | None:
    if value is None or not str(value).strip():
        return None
    try:
        return _parse_amount(str(value))
    except (NormalizationError, ValueError, ArithmeticError):
        return None


# ---------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------
def max_matching(n_left: int, n_right: int, edge: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """Maximum one-to-one matching of a bipartite graph (Kuhn's augmenting paths).

    Returns ``(left, right)`` index pairs; each index appears at most once.

    >>> max_matching(2, 2, lambda i, j: j == 0 or i == 1)
    [(0, 0), (1, 1)]
    """
    adj = [[j for j in range(n_right) if edge(i, j)] for i in range(n_left)]
    match_r: list[int] = [-1] * n_right

    def augment(i: int, seen: list[bool]) -> bool:
        for j in adj[i]:
            if seen[j]:
                continue
            seen[j] = True
            if match_r[j] < 0 or augment(match_r[j], seen):
                match_r[j] = i
                return True
        return False

    for i in range(n_left):
        if adj[i]:
            augment(i, [False] * n_right)
    return sorted((i, j) for j, i in enumerate(match_r) if i >= 0)


def match_pairs(
    pred: Sequence[tuple[str, str]], gold: Sequence[tuple[str, str]], threshold: float = PAIR_THRESHOLD
) -> list[tuple[int, int]]:
    """One-to-one matches of predicted ``(key, value)`` pairs to labelled ones.

    A pair matches when the similarity is ≥ ``threshold`` on both the key and the value side.
    """
    def edge(i: int, j: int) -> bool:
        return (similarity(pred[i][0], gold[j][0]) >= threshold
                and similarity(pred[i][1], gold[j][1]) >= threshold)

    return max_matching(len(pred), len(gold), edge)


def match_line_items(
    pred: Sequence[dict[str, str | None]], gold: Sequence[dict[str, str | None]],
    threshold: float = PAIR_THRESHOLD,
) -> list[tuple[int, int]]:
    """One-to-one matches of predicted line items to labelled ones.

    An item matches when its ``amount`` equals the label's as ``Decimal`` and the descriptions'
    similarity is ≥ ``threshold``; a label without an amount is matched on description alone.
    """
    def edge(i: int, j: int) -> bool:
        g_amount = _money(gold[j].get("amount"))
        if g_amount is not None and _money(pred[i].get("amount")) != g_amount:
            return False
        return similarity(pred[i].get("description"), gold[j].get("description")) >= threshold

    return max_matching(len(pred), len(gold), edge)


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (1.0 when there was nothing to find and nothing found).

    >>> prf(1, 2, 4)
    {'precision': 0.5, 'recall': 0.25, 'f1': 0.3333}
    """
    p = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    r = tp / n_gold if n_gold else (1.0 if n_pred == 0 else 0.0)
    f1 = 2 * tp / (n_pred + n_gold) if (n_pred + n_gold) else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
@dataclass
class Example:
    """One labelled document.

    ``fields`` maps canonical names to labelled values (unlabelled fields are absent);
    ``line_items``/``kv_pairs`` are ``None`` when the document is not labelled for them.
    ``ocr_lines`` (SROIE ``box/NNN.csv``), ``annotation`` (FUNSD JSON) and ``field_boxes``
    (``{field: [x0, y0, x1, y1]}`` on the 0–1000 page scale) locate expected values on the page.
    """

    id: str
    path: Path
    file: str
    doc_type: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    line_items: list[dict[str, str | None]] | None = None
    kv_pairs: list[tuple[str, str]] | None = None
    ocr_lines: Path | None = None
    annotation: Path | None = None
    field_boxes: dict[str, Any] = field(default_factory=dict)


def funsd_pairs(form: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Question→answer pairs of a FUNSD annotation's ``form`` list, derived from ``linking``.

    Every link whose two ends are a ``question`` and an ``answer`` entity, in either order,
    duplicates removed (the rule the shared datasets' ``labels.jsonl`` ``kv_pairs`` follow).
    """
    by_id = {e.get("id"): e for e in form}
    seen: set[tuple[Any, Any]] = set()
    out: list[dict[str, Any]] = []
    for ent in form:
        for link in ent.get("linking") or []:
            if len(link) != 2:
                continue
            a, b = by_id.get(link[0]), by_id.get(link[1])
            if a is None or b is None:
                continue
            if a.get("label") == "question" and b.get("label") == "answer":
                q, ans = a, b
            elif a.get("label") == "answer" and b.get("label") == "question":
                q, ans = b, a
            else:
                continue
            key = (q.get("id"), ans.get("id"))
            if key in seen:
                continue
            seen.add(key)
            out.append({"question": q.get("text", ""), "answer": ans.get("text", ""),
                        "question_id": q.get("id"), "answer_id": ans.get("id")})
    return out


def _canonical_fields(raw: dict[str, Any], doc_type: str | None) -> dict[str, str]:
    aliases = FIELD_ALIASES.get(doc_type or "", {})
    out: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, dict):  # {"value": ...} style labels
            value = value.get("value")
            if value is None:
                continue
        text = str(value)
        if not text.strip():
            continue
        out[aliases.get(key, key)] = text
    return out


def _line_items(raw: Any) -> list[dict[str, str | None]]:
    items: list[dict[str, str | None]] = []
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        row: dict[str, str | None] = {}
        for k, v in item.items():
            if isinstance(v, dict):
                v = v.get("value")
            row[k] = None if v is None else str(v)
        items.append(row)
    return items


def _example_from_row(row: dict[str, Any], root: Path, lineno: int) -> Example:
    if not isinstance(row, dict) or not row.get("file"):
        raise UsageError(f"labels.jsonl line {lineno}: a row needs a 'file'")
    file = str(row["file"])
    path = (root / file).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"labels.jsonl line {lineno}: 'file' must stay inside the dataset folder")
    doc_type = row.get("doc_type")
    ex = Example(id=str(row.get("id") or Path(file).stem), path=path, file=file, doc_type=doc_type,
                 fields=_canonical_fields(row.get("fields") or {}, doc_type))
    if "line_items" in row:
        ex.line_items = _line_items(row.get("line_items"))
    if row.get("annotation"):
        ex.annotation = root / str(row["annotation"])
    if "kv_pairs" in row:
        ex.kv_pairs = [(str(p.get("question", "")), str(p.get("answer", "")))
                       for p in row.get("kv_pairs") or []]
    elif ex.annotation is not None and ex.annotation.is_file():
        form = json.loads(ex.annotation.read_text(encoding="utf-8")).get("form", [])
        ex.kv_pairs = [(p["question"], p["answer"]) for p in funsd_pairs(form)]
    if row.get("ocr_lines"):
        ex.ocr_lines = root / str(row["ocr_lines"])
    if isinstance(row.get("field_boxes"), dict):
        ex.field_boxes = dict(row["field_boxes"])
    return ex


def _funsd_native(root: Path) -> list[Example]:
    """FUNSD's own layout: ``*/annotations/*.json`` next to ``*/images/*.png``."""
    examples: list[Example] = []
    for ann_dir in sorted(root.glob("*/annotations")) + sorted(root.glob("annotations")):
        img_dir = ann_dir.parent / "images"
        for ann in sorted(ann_dir.glob("*.json")):
            image = next((p for p in (img_dir / f"{ann.stem}{ext}" for ext in
                                      (".png", ".jpg", ".jpeg", ".tif", ".tiff")) if p.is_file()),
                         None)
            if image is None:
                continue
            form = json.loads(ann.read_text(encoding="utf-8")).get("form", [])
            examples.append(Example(
                id=f"funsd_{ann.stem}", path=image.resolve(), file=image.relative_to(root).as_posix(),
                doc_type="form", kv_pairs=[(p["question"], p["answer"]) for p in funsd_pairs(form)],
                annotation=ann))
    return examples


def load_dataset(root: str | Path) -> list[Example]:
    """The labelled documents of a folder: its ``labels.jsonl``, or FUNSD's native layout.

    Raises:
        UsageError: the folder is missing, holds neither format, or a row is malformed.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"dataset folder not found: {root}")
    labels = root / "labels.jsonl"
    if labels.is_file():
        examples: list[Example] = []
        seen: set[str] = set()
        for n, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"labels.jsonl line {n}: not JSON ({exc.msg})") from None
            ex = _example_from_row(row, root, n)
            if ex.id in seen:  # e.g. several QA rows about one file: evaluate the file once
                continue
            seen.add(ex.id)
            examples.append(ex)
        return examples
    examples = _funsd_native(root)
    if examples:
        return examples
    raise UsageError(f"{root} has no labels.jsonl (and no FUNSD annotations/ + images/ folders)")


def read_box_csv(path: str | Path) -> list[tuple[tuple[float, float, float, float], str]]:
    """SROIE ``box/NNN.csv`` lines: axis-aligned pixel box of each quadrilateral and its text.

    Rows are ``x1,y1,...,x4,y4,transcript``; only the first 8 commas split (texts hold commas).
    """
    out: list[tuple[tuple[float, float, float, float], str]] = []
    for row in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        parts = row.split(",", 8)
        if len(parts) < 9:
            continue
        try:
            xy = [float(v) for v in parts[:8]]
        except ValueError:
            continue
        xs, ys = xy[0::2], xy[1::2]
        out.append(((min(xs), min(ys), max(xs), max(ys)), parts[8].strip()))
    return out


def _line_shows(name: str, value: str, line: str) -> bool:
    """Whether a printed line shows (part of) a labelled value."""
    lt, v = norm_text(line), norm_text(value)
    if not lt or not v:
        return False
    if lt == v or similarity(lt, v) >= PAIR_THRESHOLD:
        return True
    kind = field_kind(name)
    if kind in ("money", "date"):
        target = canonical(name, value)
        tokens = line.split()
        grams = tokens + [" ".join(tokens[i:i + 2]) for i in range(len(tokens) - 1)]
        return any(canonical(name, t) == target for t in grams if any(c.isdigit() for c in t))
    return len(lt) >= 4 and len(lt) >= 0.15 * len(v) and lt in v


@dataclass
class GoldBox:
    """Where a labelled value is printed: ``unit`` ``px`` (page pixels) or ``norm`` (0–1000)."""

    label: str
    page: int
    box: tuple[float, float, float, float]
    unit: str = "px"


def expected_boxes(example: Example) -> list[GoldBox]:
    """Locations of the labelled values, where the labels allow it.

    SROIE: the ``box/NNN.csv`` lines whose transcript shows the value (or part of a multi-line
    value such as an address); FUNSD: the question and answer entity boxes of every labelled
    pair; any set: ``field_boxes`` given in ``labels.jsonl`` (0–1000 page scale, page 1 unless
    ``{"page": n, "bbox": [...]}``). Unreadable label files yield no boxes.
    """
    boxes: list[GoldBox] = []
    if example.ocr_lines is not None and example.ocr_lines.is_file():
        lines = read_box_csv(example.ocr_lines)
        for name, value in example.fields.items():
            for box, text in lines:
                if _line_shows(name, value, text):
                    boxes.append(GoldBox(name, 1, box))
    if example.annotation is not None and example.annotation.is_file():
        try:
            form = json.loads(example.annotation.read_text(encoding="utf-8")).get("form", [])
        except (OSError, ValueError):
            form = []
        by_id = {e.get("id"): e for e in form}
        for pair in funsd_pairs(form):
            for role, ent_id in (("key", pair["question_id"]), ("value", pair["answer_id"])):
                ent = by_id.get(ent_id) or {}
                b = ent.get("box")
                if isinstance(b, list) and len(b) == 4:
                    gb = GoldBox(role, 1, (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                    if gb not in boxes:
                        boxes.append(gb)
    for name, spec in example.field_boxes.items():
        page, bbox = 1, spec
        if isinstance(spec, dict):
            page, bbox = int(spec.get("page") or 1), spec.get("bbox")
        if isinstance(bbox, list | tuple) and len(bbox) == 4:
            boxes.append(GoldBox(str(name), page, tuple(float(v) for v in bbox), "norm"))  # type: ignore[arg-type]
    return boxes


# ---------------------------------------------------------------------------------------------
# per-document results
# ---------------------------------------------------------------------------------------------
@dataclass
class FieldResult:
    """One labelled field of one document: expected vs predicted."""

    name: str
    expected: str
    predicted: str | None
    confidence: float | None
    exact: bool
    anls: float
    page: int | None = None
    bbox: list[int] | None = None


@dataclass
class DocResult:
    """Everything measured on one document (JSON-serialisable with :func:`dataclasses.asdict`)."""

    id: str
    file: str
    status: str
    reason: str | None
    expected_doc_type: str | None
    predicted_doc_type: str | None
    doc_type_confidence: float | None
    fields: list[FieldResult] = field(default_factory=list)
    kv: dict[str, int] | None = None
    kv_unmatched_gold: list[tuple[str, str]] = field(default_factory=list)
    kv_unmatched_pred: list[tuple[str, str]] = field(default_factory=list)
    kv_confidence: list[tuple[float, bool]] = field(default_factory=list)
    """Each predicted pair's confidence and whether it matched a labelled pair."""
    line_items: dict[str, int] | None = None
    score: float = 1.0
    seconds: float = 0.0
    cache: str = "none"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def _record_line_items(record: Any) -> list[dict[str, str | None]]:
    out: list[dict[str, str | None]] = []
    for item in getattr(record, "line_items", []) or []:
        row: dict[str, str | None] = {}
        for name in ("description", "quantity", "unit_price", "amount"):
            cell = getattr(item, name, None)
            row[name] = None if cell is None else cell.value
        out.append(row)
    return out


def doc_score(result: DocResult) -> float:
    """How right one document is, 0–1: the mean of its field exact-match rate, key-value F1,
    line-item F1 and doc-type correctness (each only where labelled). Lowest = worst."""
    parts: list[float] = []
    if result.fields:
        parts.append(sum(f.exact for f in result.fields) / len(result.fields))
    if result.kv is not None:
        parts.append(prf(result.kv["tp"], result.kv["n_pred"], result.kv["n_gold"])["f1"])
    if result.line_items is not None:
        li = result.line_items
        parts.append(prf(li["tp"], li["n_pred"], li["n_gold"])["f1"])
    if result.expected_doc_type:
        parts.append(float(result.predicted_doc_type == result.expected_doc_type))
    if result.status in ("failed", "rejected"):
        return 0.0
    return round(sum(parts) / len(parts), 4) if parts else 1.0


def evaluate_record(example: Example, record: Any) -> DocResult:
    """Compare one pipeline :class:`~schemas.record.Record` with its labels."""
    status = getattr(record.status, "value", record.status)
    res = DocResult(id=example.id, file=example.file, status=str(status), reason=record.reason,
                    expected_doc_type=example.doc_type, predicted_doc_type=record.doc_type,
                    doc_type_confidence=record.doc_type_confidence)
    for name, gold in example.fields.items():
        pred = record.fields.get(name)
        value = None if pred is None else pred.value
        res.fields.append(FieldResult(
            name=name, expected=gold, predicted=value,
            confidence=None if pred is None or value is None else round(float(pred.confidence), 4),
            exact=exact_match(name, value, gold), anls=round(field_anls(name, value, gold), 4),
            page=None if pred is None else pred.page, bbox=None if pred is None else pred.bbox))
    if example.kv_pairs is not None:
        predicted = [(kv.key, kv.value) for kv in record.key_values]
        matches = match_pairs(predicted, example.kv_pairs)
        res.kv = {"tp": len(matches), "n_pred": len(predicted), "n_gold": len(example.kv_pairs)}
        got_p = {i for i, _ in matches}
        got_g = {j for _, j in matches}
        res.kv_unmatched_gold = [p for j, p in enumerate(example.kv_pairs) if j not in got_g]
        res.kv_unmatched_pred = [p for i, p in enumerate(predicted) if i not in got_p]
        res.kv_confidence = [(round(float(kv.confidence), 4), i in got_p)
                             for i, kv in enumerate(record.key_values)]
    if example.line_items is not None:
        predicted_items = _record_line_items(record)
        matches = match_line_items(predicted_items, example.line_items)
        res.line_items = {"tp": len(matches), "n_pred": len(predicted_items),
                          "n_gold": len(example.line_items)}
    res.score = doc_score(res)
    return res


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------
def calibration(pairs: Iterable[tuple[float, bool]], bins: int = 10, target: float = 0.97) -> dict[str, Any]:
    """Reliability of confidences: ``(confidence, correct)`` pairs → bins, ECE, high/low accuracy.

    ``high`` is the accuracy of predictions with confidence ≥ 0.9, ``low`` of those below 0.5;
    ``threshold_for_target`` is the lowest confidence ``t`` at which the predictions with
    confidence ≥ ``t`` are right at least ``target`` of the time (``None`` if no such ``t``).

    >>> c = calibration([(0.95, True), (0.92, True), (0.3, False), (0.55, True)], bins=2)
    >>> c["high"], c["low"], [b["n"] for b in c["bins"]]
    ({'n': 2, 'accuracy': 1.0}, {'n': 1, 'accuracy': 0.0}, [1, 3])
    """
    data = [(min(1.0, max(0.0, float(c))), bool(ok)) for c, ok in pairs]
    table = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in data if min(int(c * bins), bins - 1) == b]
        n = len(inside)
        acc = sum(ok for _, ok in inside) / n if n else None
        conf = sum(c for c, _ in inside) / n if n else None
        if n and acc is not None and conf is not None:
            ece += n / len(data) * abs(acc - conf)
        table.append({"lo": round(lo, 3), "hi": round(hi, 3), "n": n,
                      "mean_confidence": None if conf is None else round(conf, 4),
                      "accuracy": None if acc is None else round(acc, 4)})

    def group(sel: list[tuple[float, bool]]) -> dict[str, Any]:
        return {"n": len(sel), "accuracy": round(sum(ok for _, ok in sel) / len(sel), 4) if sel else None}

    threshold = None
    ordered = sorted(data, key=lambda x: -x[0])
    right = 0
    for k, (c, ok) in enumerate(ordered, 1):
        right += ok
        nxt = ordered[k][0] if k < len(ordered) else None
        if nxt is not None and nxt == c:
            continue  # decide only at the last of equal confidences
        if right / k >= target:
            threshold = c
    covered = sum(1 for c, _ in data if threshold is not None and c >= threshold)
    return {
        "n": len(data), "bins": table, "ece": round(ece, 4) if data else None,
        "high": group([x for x in data if x[0] >= HIGH_CONFIDENCE]),
        "low": group([x for x in data if x[0] < LOW_CONFIDENCE]),
        "target": target, "threshold_for_target": None if threshold is None else round(threshold, 4),
        "coverage_at_threshold": round(covered / len(data), 4) if data else None,
    }


def _worst_entry(r: DocResult) -> dict[str, Any]:
    return {"id": r.id, "file": r.file, "score": r.score, "status": r.status,
            "expected_doc_type": r.expected_doc_type, "predicted_doc_type": r.predicted_doc_type,
            "fields": [{"name": f.name, "expected": f.expected, "predicted": f.predicted,
                        "confidence": f.confidence, "exact": f.exact} for f in r.fields],
            "kv": r.kv, "line_items": r.line_items}


def summarize(results: Sequence[DocResult], *, worst: int = 10) -> dict[str, Any]:
    """The run's numbers: per field and overall exact/ANLS, doc type, key-values, line items,
    calibration and the ``worst`` documents (lowest :func:`doc_score` first)."""
    per: dict[str, dict[str, Any]] = {}
    all_fields: list[FieldResult] = []
    for r in results:
        for f in r.fields:
            all_fields.append(f)
            d = per.setdefault(f.name, {"n": 0, "exact": 0, "anls": 0.0, "predicted": 0})
            d["n"] += 1
            d["exact"] += f.exact
            d["anls"] += f.anls
            d["predicted"] += f.predicted is not None
    fields = {name: {"n": d["n"], "exact": round(d["exact"] / d["n"], 4),
                     "anls": round(d["anls"] / d["n"], 4),
                     "predicted": round(d["predicted"] / d["n"], 4)}
              for name, d in sorted(per.items())}
    n_f = len(all_fields)
    overall = {"n": n_f, "exact": round(sum(f.exact for f in all_fields) / n_f, 4) if n_f else None,
               "anls": round(sum(f.anls for f in all_fields) / n_f, 4) if n_f else None}
    typed = [r for r in results if r.expected_doc_type]
    confusion = Counter(f"{r.expected_doc_type}->{r.predicted_doc_type}" for r in typed
                        if r.predicted_doc_type != r.expected_doc_type)
    doc_type = {"n": len(typed),
                "accuracy": round(sum(r.predicted_doc_type == r.expected_doc_type for r in typed)
                                  / len(typed), 4) if typed else None,
                "errors": dict(sorted(confusion.items()))}

    def micro(key: str) -> dict[str, Any] | None:
        rows = [getattr(r, key) for r in results if getattr(r, key) is not None]
        if not rows:
            return None
        tp, n_pred, n_gold = (sum(x[k] for x in rows) for k in ("tp", "n_pred", "n_gold"))
        macro = sum(prf(x["tp"], x["n_pred"], x["n_gold"])["f1"] for x in rows) / len(rows)
        return {"docs": len(rows), "tp": tp, "n_pred": n_pred, "n_gold": n_gold,
                **prf(tp, n_pred, n_gold), "macro_f1": round(macro, 4)}

    statuses = Counter(r.status for r in results)
    cache = Counter(r.cache for r in results)
    ranked = sorted(results, key=lambda r: (r.score, r.id))
    return {
        "n_docs": len(results),
        "status": dict(sorted(statuses.items())),
        "fields": fields,
        "overall": overall,
        "doc_type": doc_type,
        "key_values": micro("kv"),
        "line_items": micro("line_items"),
        "calibration": calibration((f.confidence, f.exact) for f in all_fields
                                   if f.confidence is not None),
        "kv_calibration": (calibration(c for r in results for c in r.kv_confidence)
                           if any(r.kv is not None for r in results) else None),
        "seconds": round(sum(r.seconds for r in results), 2),
        "cache": dict(sorted(cache.items())),
        "worst": [_worst_entry(r) for r in ranked[:worst] if r.score < 1.0],
    }
