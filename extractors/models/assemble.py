"""Model outputs → our records: per-word tags → fields, line items and key-values; text → boxes.

Values are canonicalised the same way the rules engine does it (``schemas.normalize``): money →
plain decimal string, dates → ISO, times → ``HH:MM[:SS]``. A value that does not normalise is kept
as printed so validation flags it (never a crash, never a silent guess).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from extractors.models.labels import Entity, bio_entities, entity_target
from extractors.models.windows import PageWords
from schemas.document import Document, Word, union_box
from schemas.fields import (
    DATE_FIELDS,
    MONEY_FIELDS,
    TIME_FIELDS,
    Field,
    KeyValue,
    LineItem,
    fields_for,
)
from schemas.normalize import (
    NormalizationError,
    detect_currency,
    format_money,
    normalize_text,
    parse_date,
    parse_money,
    parse_time,
)

__all__ = [
    "PageTags",
    "assemble",
    "locate_text",
    "normalize_value",
    "squash",
]

_MONEY_RE = re.compile(r"[-(]?\d[\d.,'’ ]*\d(?:\)|-)?|\d")
_DATE_RE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}|\d{1,2}\s+[A-Za-zÀ-ÿ]{3,9}\.?\s+\d{2,4}"
                      r"|[A-Za-zÀ-ÿ]{3,9}\.?\s+\d{1,2},?\s+\d{2,4}")
_TIME_RE = re.compile(r"\d{1,2}[:.h]\d{2}(?:[:.]\d{2})?(?:\s*[AaPp]\.?[Mm]\.?)?")


def squash(text: str) -> str:
    """Lower-case letters and digits only (for matching printed text against labels)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in s if c.isalnum())


def normalize_value(name: str, text: str, *, dayfirst: bool = True) -> tuple[str | None, str | None]:
    """``(canonical value, currency or None)`` of a printed ``text`` for field ``name``.

    >>> normalize_value("total", "RM 33.90")
    ('33.90', 'MYR')
    >>> normalize_value("transaction_date", "DATE: 25/12/2018")
    ('2018-12-25', None)
    """
    t = normalize_text(text)
    if not t:
        return None, None
    if name in MONEY_FIELDS:
        try:
            value, cur = parse_money(t)
            return format_money(value, cur), cur
        except NormalizationError:
            pass
        cur = detect_currency(t)
        for m in reversed(list(_MONEY_RE.finditer(t))):
            try:
                value, _ = parse_money(m.group(0))
            except NormalizationError:
                continue
            return format_money(value, cur), cur
        return t, None
    if name in DATE_FIELDS:
        with warnings.catch_warnings():  # dateutil warns on words it takes for time zones
            warnings.simplefilter("ignore")
            for cand in [t, *(m.group(0) for m in _DATE_RE.finditer(t))]:
                try:
                    return parse_date(cand, dayfirst=dayfirst).isoformat(), None
                except NormalizationError:
                    continue
        return t, None
    if name in TIME_FIELDS:
        for cand in [t, *(m.group(0) for m in _TIME_RE.finditer(t))]:
            try:
                return parse_time(cand), None
            except NormalizationError:
                continue
        return t, None
    if name == "currency":
        return (detect_currency(t) or t.upper()), None
    return t, None


@dataclass
class PageTags:
    """Per-word predictions of one page, in reading order."""

    page: PageWords
    tags: list[str]
    scores: list[float]
    """Probability of the predicted entity type (B/I summed) for each word."""


def _field(name: str, words: Sequence[Word], page_no: int, confidence: float, engine: str,
           dayfirst: bool) -> tuple[Field, str | None]:
    text = " ".join(w.text for w in words)
    value, cur = normalize_value(name, text, dayfirst=dayfirst)
    bbox = [int(v) for v in union_box([w.box for w in words])] if words else None
    return Field(value=value, text=text, confidence=round(float(confidence), 4), page=page_no,
                 bbox=bbox, engine=engine), cur


def _merge_adjacent(entities: list[Entity]) -> list[Entity]:
    out: list[Entity] = []
    for e in entities:
        if out and out[-1].name == e.name and out[-1].words[-1] + 1 == e.words[0]:
            out[-1].words.extend(e.words)
            out[-1].scores.extend(e.scores)
        else:
            out.append(Entity(e.name, list(e.words), list(e.scores)))
    return out


def assemble(
    pages: Sequence[PageTags], doc_type: str | None, *, engine: str, dayfirst: bool = True
) -> tuple[dict[str, Field], list[LineItem], list[KeyValue]]:
    """Tagged words of every page → header fields (best entity per field), line items, key-values.

    Header fields are spelled for ``doc_type`` (``merchant_name`` ↔ ``vendor_name``) and limited
    to that type's canonical fields (``form``/``other`` keep every mapped field).
    """
    best: dict[str, tuple[float, Field, str | None]] = {}
    items: list[LineItem] = []
    kvs: list[KeyValue] = []
    for pt in pages:
        words = pt.page.words
        page_no = pt.page.page.number
        lines = pt.page.line_of()
        entities = bio_entities(pt.tags, pt.scores)
        header = [e for e in entities if (entity_target(e.name, doc_type) or ("", ""))[0] == "field"]
        for e in _merge_adjacent(header):
            name = (entity_target(e.name, doc_type) or ("", e.name))[1]
            f, cur = _field(name, [words[i] for i in e.words], page_no, e.confidence, engine, dayfirst)
            if name not in best or f.confidence > best[name][0]:
                best[name] = (f.confidence, f, cur)
        # line items: one row per visual line holding item entities
        rows: dict[tuple[int, int], dict[str, Field]] = {}
        row_order: list[tuple[int, int]] = []
        for e in entities:
            target = entity_target(e.name, doc_type)
            if target is None or target[0] != "item":
                continue
            line = lines[e.words[0]]
            key = (line, e.words[0]) if line < 0 else (line, -1)
            if key not in rows:
                rows[key] = {}
                row_order.append(key)
            col = target[1]
            if col not in rows[key]:
                rows[key][col], _ = _field(col, [words[i] for i in e.words], page_no, e.confidence,
                                           engine, dayfirst)
        items.extend(LineItem(**rows[k]) for k in row_order)
        kvs.extend(_pair_key_values(entities, words, page_no, doc_type))
    allowed = set(fields_for(doc_type or ""))
    fields = {name: f for name, (_, f, _) in best.items() if not allowed or name in allowed}
    if "currency" not in fields:
        for name in ("total", "amount_due", "subtotal", "tax_total"):
            if name in fields and best[name][2]:
                f = best[name][1]
                fields["currency"] = Field(value=best[name][2], text=f.text, confidence=f.confidence,
                                           page=f.page, bbox=f.bbox, engine=engine)
                break
    return fields, items, kvs


def _pair_key_values(entities: list[Entity], words: list[Word], page_no: int,
                     doc_type: str | None) -> list[KeyValue]:
    """FUNSD-style ``question``/``answer`` entities → key-values (nearest answer right or below)."""
    keys: list[tuple[Entity, tuple[float, float, float, float]]] = []
    values: list[tuple[Entity, tuple[float, float, float, float]]] = []
    for e in entities:
        target = entity_target(e.name, doc_type)
        if target and target[0] == "kv" and target[1] in ("key", "value"):
            box = union_box([words[i].box for i in e.words])
            (keys if target[1] == "key" else values).append((e, box))
    out: list[KeyValue] = []
    used: set[int] = set()
    for ke, kb in keys:
        best_j, best_d = -1, float("inf")
        kh = max(kb[3] - kb[1], 1)
        for j, (_ve, vb) in enumerate(values):
            if j in used:
                continue
            same_line = vb[1] < kb[3] and vb[3] > kb[1] and vb[0] >= kb[0]
            below = vb[1] >= kb[1] and vb[1] - kb[3] < 6 * kh
            if same_line:
                d = max(vb[0] - kb[2], 0)
            elif below:
                d = 3 * (vb[1] - kb[3]) + abs(vb[0] - kb[0]) + 50
            else:
                continue
            if d < best_d:
                best_j, best_d = j, d
        if best_j >= 0:
            used.add(best_j)
            ve, vb = values[best_j]
            out.append(KeyValue(
                key=normalize_text(" ".join(words[i].text for i in ke.words)),
                value=normalize_text(" ".join(words[i].text for i in ve.words)),
                confidence=round(min(ke.confidence, ve.confidence), 4), page=page_no,
                key_bbox=[int(v) for v in kb], value_bbox=[int(v) for v in vb]))
    return out


def _overlaps_start(word: str, target: str) -> bool:
    """Some suffix of ``word`` is a prefix of ``target`` (``"totalrm"`` / ``"rm3390"``)."""
    return any(target.startswith(word[k:]) for k in range(len(word)))


def locate_text(doc: Document, text: str, *, page_number: int | None = None
                ) -> tuple[int, list[int], str] | None:
    """Find printed ``text`` among the document's words: ``(page, bbox 0–1000, words' text)``.

    Used for engines that generate text (Donut) so their fields still carry evidence boxes.
    Matching ignores case, spaces and punctuation; the shortest exact run of words wins.
    """
    target = squash(text)
    if not target:
        return None
    from extractors.models.windows import page_words

    for page in doc.pages:
        if page_number is not None and page.number != page_number:
            continue
        pw = page_words(page)
        ws = pw.words
        sq = [squash(w.text) for w in ws]
        for i in range(len(ws)):
            if not sq[i] or not (target in sq[i] or _overlaps_start(sq[i], target)):
                continue
            acc = ""
            for j in range(i, min(len(ws), i + 64)):
                acc += sq[j]
                if target in acc:
                    start = i
                    while start < j and target in "".join(sq[start + 1:j + 1]):
                        start += 1  # shortest run that still holds the text
                    chosen = ws[start:j + 1]
                    box = union_box([w.box for w in chosen])
                    return page.number, [int(v) for v in box], " ".join(w.text for w in chosen)
                if len(acc) > len(target) + 32:
                    break
    return None
