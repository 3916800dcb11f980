"""Generic key→value pairs of a document (forms, and labels the canonical fields miss).

A key is a printed label ("Date:", "Name / Phone Ext.", "TO"); its value is the nearest text
segment to its right on the same visual row, else the text directly below it in the same column
(multi-line values followed). "Key: value" inside one segment is split at the colon.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from schemas.document import Document, Page, Word, union_box
from schemas.fields import KeyValue

__all__ = ["extract_key_values"]

_KEY_COLON = re.compile(r"([A-Za-zÀ-ÿ][^:]{0,50}?)\s*:(?!\d{2})")


def _alpha(s: str) -> int:
    return sum(ch.isalpha() for ch in s)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    return max(0.0, inter) / max(1.0, min(a1 - a0, b1 - b0))


def _segments(words: Sequence[Word], factor: float = 1.5) -> list[list[int]]:
    if not words:
        return []
    h = median([max(1.0, w.bbox[3] - w.bbox[1]) for w in words])
    segs: list[list[int]] = [[0]]
    for k in range(1, len(words)):
        if words[k].bbox[0] - words[k - 1].bbox[2] > factor * h:
            segs.append([k])
        else:
            segs[-1].append(k)
    return segs


@dataclass
class _Ln:
    page: Page
    words: list[Word]
    text: str
    starts: list[int]

    def span_words(self, a: int, b: int) -> list[int]:
        out = []
        for k, s in enumerate(self.starts):
            if s < b and a < s + len(self.words[k].text):
                out.append(k)
        return out


@dataclass
class _Seg:
    ln: _Ln
    pos: list[int]
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


def _line(page: Page, words: list[Word]) -> _Ln:
    starts, p = [], 0
    for w in words:
        starts.append(p)
        p += len(w.text) + 1
    return _Ln(page, words, " ".join(w.text for w in words), starts)


def _page_segments(lines: list[_Ln]) -> list[_Seg]:
    out = []
    for ln in lines:
        for seg in _segments(ln.words, 1.5):
            ws = [ln.words[k] for k in seg]
            out.append(_Seg(ln, seg, " ".join(w.text for w in ws), min(w.bbox[0] for w in ws),
                            min(w.bbox[1] for w in ws), max(w.bbox[2] for w in ws),
                            max(w.bbox[3] for w in ws)))
    return out


def _keyness(seg: _Seg) -> float:
    t = seg.text.strip()
    if _alpha(t) < 2 or len(t) > 60:
        return 0.0
    if t.endswith(":"):
        return 1.0
    words = t.split()
    digits = sum(ch.isdigit() for ch in t)
    if len(words) <= 5 and digits == 0 and not t.endswith((".", ",")):
        upper = sum(ch.isupper() for ch in t) / max(1, _alpha(t))
        return 0.5 if upper > 0.6 or t.endswith("?") or t[0].isupper() else 0.3
    return 0.0


def _kv(key: str, key_ws: list[Word], val: str, val_ws: list[Word], pno: int, strength: float
        ) -> KeyValue | None:
    if not re.search(r"\w", val) or not re.search(r"[^\W\d_]", key):
        return None
    ws = key_ws + val_ws
    conf = sum(w.confidence for w in ws) / len(ws) * (0.4 + 0.5 * strength)
    kb = union_box([w.box for w in key_ws])
    vb = union_box([w.box for w in val_ws]) if val_ws else None
    return KeyValue(key=key.strip().rstrip(":").strip(), value=val.strip(), confidence=round(conf, 4), page=pno,
                    key_bbox=[int(v) for v in kb], value_bbox=[int(v) for v in vb] if vb else None)


def extract_key_values(doc: Document) -> list[KeyValue]:
    """Generic key→value pairs of every page of ``doc``."""
    out: list[KeyValue | None] = []
    for page in doc.pages:
        lines = [_line(page, page.line_words(ln)) for ln in page.lines if ln.word_ids]
        out.extend(_page_kvs(page, lines))
    return [kv for kv in out if kv is not None]


def _page_kvs(page: Page, lines: list[_Ln]) -> list[KeyValue | None]:
    out: list[KeyValue | None] = []
    pno = page.number
    segs = _page_segments(lines)
    used: set[int] = set()
    for i, sg in enumerate(segs):
        ln = sg.ln
        s_a = ln.starts[sg.pos[0]]
        s_b = ln.starts[sg.pos[-1]] + len(ln.words[sg.pos[-1]].text)
        text = ln.text[s_a:s_b]
        keys = [m for m in _KEY_COLON.finditer(text) if _alpha(m.group(1)) >= 2]
        if keys and keys[0].start() == 0 and text[keys[0].end():].strip():
            for n, m in enumerate(keys):
                end = keys[n + 1].start() if n + 1 < len(keys) else len(text)
                val = text[m.end():end].strip()
                if not val:
                    continue
                kpos = ln.span_words(s_a + m.start(1), s_a + m.end(1))
                vpos = ln.span_words(s_a + m.end(), s_a + end)
                out.append(_kv(m.group(1), [ln.words[k] for k in kpos], val,
                               [ln.words[k] for k in vpos], pno, 1.0))
            used.add(i)
            continue
        kn = _keyness(sg)
        if kn < 0.5 or i in used:
            continue
        h = max(1.0, sg.y1 - sg.y0)
        right = [o for j, o in enumerate(segs) if j != i and o.x0 >= sg.x1 - 2
                 and _overlap(sg.y0, sg.y1, o.y0, o.y1) >= 0.5 and o.x0 - sg.x1 < 0.45 * page.width]
        right.sort(key=lambda o: o.x0)
        if right and _keyness(right[0]) < 1.0 and (kn >= 0.8 or _keyness(right[0]) < 0.5):
            o = right[0]
            out.append(_kv(text, [ln.words[k] for k in sg.pos], o.text,
                           [o.ln.words[k] for k in o.pos], pno, kn))
            used.add(segs.index(o))
            continue
        if right:
            continue
        below = [o for o in segs if o.y0 >= sg.y1 - 0.3 * h and o.y0 - sg.y1 < 1.6 * h
                 and o.x1 > sg.x0 - 0.2 * (sg.x1 - sg.x0) and o.x0 < sg.x1 + 0.3 * (sg.x1 - sg.x0)
                 and o.ln is not ln]
        below.sort(key=lambda o: (o.y0, o.x0))
        if not below or _keyness(below[0]) >= (0.8 if kn < 1.0 else 0.5):
            continue
        first = below[0]
        parts = [first]
        cur = first
        while True:
            nxt = [o for o in segs if o.y0 >= cur.y1 - 0.3 * h and o.y0 > cur.y0 + 0.5 * h
                   and o.y0 - cur.y1 < 0.8 * h and o not in parts
                   and _overlap(o.x0, o.x1, cur.x0, cur.x1) > 0.5 and o.ln is not cur.ln]
            if not nxt or _keyness(nxt[0]) >= 0.8 or len(parts) >= 6:
                break
            cur = min(nxt, key=lambda o: o.y0)
            parts.append(cur)
        val = " ".join(p.text for p in parts)
        out.append(_kv(text, [ln.words[k] for k in sg.pos], val,
                       [p.ln.words[k] for p in parts for k in p.pos], pno, kn * 0.9))
        used.update(segs.index(p) for p in parts)
    return out
