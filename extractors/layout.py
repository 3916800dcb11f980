"""Layout: words → visual lines → blocks, in reading order.

``build_layout`` is called right after OCR / text-layer reading. It groups words into visual lines
by the vertical overlap of their boxes (robust to slight skew: a word is matched against the
horizontally nearest word already in a line, not against the whole line's band), keeps a line
whole across the page (so a receipt label at the left and its amount at the far right share a
line) unless a wide gap separates two *text columns*, then groups consecutive lines into blocks
and orders everything column-aware, top to bottom.

>>> from schemas.document import Page, Word
>>> ws = [Word.from_pixels(t, b, page_width=1000, page_height=1000) for t, b in
...       [("12.50", (800, 100, 860, 120)), ("TOTAL", (50, 102, 120, 121)), ("Thanks", (50, 300, 130, 320))]]
>>> [ln.text for ln in build_layout(Page(number=1, width=1000, height=1000, words=ws)).lines]
['TOTAL 12.50', 'Thanks']
"""

from __future__ import annotations

import re
from bisect import insort
from collections.abc import Sequence
from statistics import median

from schemas.document import Block, Line, Page, Word, union_box

__all__ = [
    "build_layout",
    "estimate_skew",
    "group_lines",
    "line_height",
    "line_segments",
    "row_of",
    "segment_words",
]

_NUMERIC = re.compile(r"^[^A-Za-zÀ-ÿ]*$|^(?:RM|USD|EUR|MYR|SGD|GBP|CHF|S\$|\$|€|£)[\d.,\s]*$", re.I)
_ALPHA_WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")


def _h(w: Word) -> float:
    return max(1.0, w.bbox[3] - w.bbox[1])


def _cy(w: Word) -> float:
    return (w.bbox[1] + w.bbox[3]) / 2.0


def _v_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Vertical overlap of two intervals as a share of the shorter one."""
    inter = min(a1, b1) - max(a0, b0)
    if inter <= 0:
        return 0.0
    return inter / max(1.0, min(a1 - a0, b1 - b0))


_Box = tuple[float, float, float, float]


class _Row:
    """A line being built: its boxes (kept sorted by x0) and its vertical extent."""

    __slots__ = ("items", "y0", "y1")

    def __init__(self, idx: int, b: _Box) -> None:
        self.items: list[tuple[float, int, _Box]] = [(b[0], idx, b)]
        self.y0 = b[1]
        self.y1 = b[3]

    def nearest(self, b: _Box) -> _Box:
        """The box in this row horizontally nearest to ``b``."""
        best, best_d = self.items[0][2], float("inf")
        x0, x1 = b[0], b[2]
        for _, _, o in self.items:
            d = max(0.0, o[0] - x1, x0 - o[2])
            if d < best_d:
                best, best_d = o, d
                if d == 0.0:
                    break
        return best

    def add(self, idx: int, b: _Box) -> None:
        insort(self.items, (b[0], idx, b), key=lambda t: (t[0], t[1]))
        self.y0 = min(self.y0, b[1])
        self.y1 = max(self.y1, b[3])


def _group(boxes: Sequence[_Box], min_overlap: float) -> list[list[int]]:
    order = sorted(range(len(boxes)), key=lambda i: ((boxes[i][1] + boxes[i][3]) / 2, boxes[i][0]))
    rows: list[_Row] = []
    active: list[_Row] = []
    for i in order:
        b = boxes[i]
        h = max(1.0, b[3] - b[1])
        cy = (b[1] + b[3]) / 2
        # rows far above this box can no longer take words (boxes arrive sorted by centre y)
        if len(active) > 8:
            active = [r for r in active if r.y1 > cy - 3 * h]
        best: _Row | None = None
        best_score = 0.0
        for r in active:
            if r.y1 < b[1] or r.y0 > b[3]:
                continue
            o = r.nearest(b)
            ov = _v_overlap(b[1], b[3], o[1], o[3])
            if ov < min_overlap:
                continue
            # a box overlapping the nearest box horizontally belongs to another text line
            x_inter = min(o[2], b[2]) - max(o[0], b[0])
            if x_inter > 0.5 * min(o[2] - o[0], b[2] - b[0]) and ov < 0.9:
                continue
            score = ov - 0.01 * abs((o[1] + o[3]) / 2 - cy) / h
            if score > best_score:
                best, best_score = r, score
        if best is None:
            r = _Row(i, b)
            rows.append(r)
            active.append(r)
        else:
            best.add(i, b)
    return [[idx for _, idx, _ in r.items] for r in rows]


def estimate_skew(words: Sequence[Word], rows: list[list[int]] | None = None) -> float:
    """Median slope ``dy/dx`` of the text lines (0.0 when unknown); positive: lines fall to the right."""
    if rows is None:
        rows = _group([w.bbox for w in words], 0.5)
    slopes: list[float] = []
    for r in rows:
        for a, b in zip(r, r[1:], strict=False):
            wa, wb = words[a].bbox, words[b].bbox
            dx = (wb[0] + wb[2]) / 2 - (wa[0] + wa[2]) / 2
            if dx <= 0:
                continue
            h = max(1.0, min(wa[3] - wa[1], wb[3] - wb[1]))
            if dx < 2 * h:
                continue
            slopes.append(((wb[1] + wb[3]) / 2 - (wa[1] + wa[3]) / 2) / dx)
    if len(slopes) < 3:
        return 0.0
    s = float(median(slopes))
    return s if abs(s) < 0.2 else 0.0


def group_lines(words: Sequence[Word], min_overlap: float = 0.5) -> list[list[int]]:
    """Indices of ``words`` grouped into visual lines (each sorted left to right).

    The page skew is estimated from a first pass and removed (boxes sheared back) before the
    final grouping. A word joins the line whose horizontally nearest word overlaps it vertically
    by at least ``min_overlap`` of the shorter height (best overlap wins; ties by centre
    distance). Words that sit on top of a word of the line start a new line.
    """
    boxes = [w.bbox for w in words]
    rows = _group(boxes, min_overlap)
    skew = estimate_skew(words, rows)
    if abs(skew) > 0.002:
        sheared = [(b[0], b[1] - skew * (b[0] + b[2]) / 2, b[2], b[3] - skew * (b[0] + b[2]) / 2)
                   for b in boxes]
        rows = _group(sheared, min_overlap)
    return rows


def line_height(words: Sequence[Word]) -> float:
    """Median pixel height of ``words`` (1.0 for none)."""
    return float(median(_h(w) for w in words)) if words else 1.0


def segment_words(words: Sequence[Word], gap: float | None = None, factor: float = 1.2) -> list[list[int]]:
    """Split a left-to-right run of words at gaps wider than ``gap`` pixels.

    ``gap`` defaults to ``factor`` × the run's median word height (word spacing is ~0.3–0.5 h).
    Returns positions into ``words``.
    """
    if not words:
        return []
    g = gap if gap is not None else factor * line_height(words)
    segs: list[list[int]] = [[0]]
    for k in range(1, len(words)):
        if words[k].bbox[0] - words[k - 1].bbox[2] > g:
            segs.append([k])
        else:
            segs[-1].append(k)
    return segs


def line_segments(page: Page, line: Line, gap: float | None = None, factor: float = 1.2) -> list[list[int]]:
    """Split ``line`` into runs of words separated by big gaps; returns lists of page word ids."""
    ws = page.line_words(line)
    return [[line.word_ids[k] for k in seg] for seg in segment_words(ws, gap, factor)]


def row_of(page: Page, line_id: int, min_overlap: float = 0.5) -> list[int]:
    """Ids of the lines sharing the visual row of ``line_id`` (itself included), left to right."""
    ref = page.lines[line_id]
    out = []
    for j, ln in enumerate(page.lines):
        if _v_overlap(ref.box[1], ref.box[3], ln.box[1], ln.box[3]) >= min_overlap:
            out.append(j)
    return sorted(out, key=lambda j: page.lines[j].box[0])


def _is_text(words: Sequence[Word]) -> bool:
    """Whether a segment reads as text (not a number / amount column)."""
    joined = " ".join(w.text for w in words)
    return bool(_ALPHA_WORD.search(joined)) and not _NUMERIC.match(joined)


def _column_splits(words: Sequence[Word], rows: list[list[int]], page_width: float) -> list[list[list[int]]]:
    """Split rows at wide gaps that form a gutter between text columns over several rows."""
    ordered = sorted(rows, key=lambda r: min(words[i].bbox[1] for i in r))
    heights = [line_height([words[i] for i in r]) for r in ordered]
    # candidate gaps per row
    cands: list[list[tuple[float, float, int]]] = []
    for r, h in zip(ordered, heights, strict=True):
        min_gap = max(3.0 * h, 0.06 * page_width)
        gaps = []
        for k in range(1, len(r)):
            a, b = words[r[k - 1]], words[r[k]]
            if b.bbox[0] - a.bbox[2] > min_gap:
                gaps.append((a.bbox[2], b.bbox[0], k))
        cands.append(gaps)
    out: list[list[list[int]]] = []
    for n, r in enumerate(ordered):
        cut_at: list[int] = []
        for g0, g1, k in cands[n]:
            left = [words[i] for i in r[:k]]
            right = [words[i] for i in r[k:]]
            if not (_is_text(left) and _is_text(right)):
                continue
            # the gutter must stay empty in neighbouring rows that have words on both sides
            m0, m1 = g0 + 0.25 * (g1 - g0), g1 - 0.25 * (g1 - g0)
            support = 0
            for nn in range(max(0, n - 4), min(len(ordered), n + 5)):
                if nn == n:
                    continue
                xs = [(words[i].bbox[0], words[i].bbox[2]) for i in ordered[nn]]
                crosses = any(x0 < m1 and x1 > m0 for x0, x1 in xs)
                if crosses:
                    continue
                if any(x1 <= m0 for _, x1 in xs) or any(x0 >= m1 for x0, _ in xs):
                    support += 1
            if support >= 2:
                cut_at.append(k)
        if cut_at:
            parts, prev = [], 0
            for k in cut_at + [len(r)]:
                parts.append(r[prev:k])
                prev = k
            out.append(parts)
        else:
            out.append([r])
    return out


def _box(words: Sequence[Word], ids: Sequence[int]) -> tuple[int, int, int, int]:
    b = union_box([words[i].box for i in ids])
    return (int(b[0]), int(b[1]), int(b[2]), int(b[3]))


def _pbox(words: Sequence[Word], ids: Sequence[int]) -> tuple[float, float, float, float]:
    b = union_box([words[i].bbox for i in ids])
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _group_blocks(
    lines: list[list[int]], words: Sequence[Word]
) -> list[list[int]]:
    """Group lines (given top to bottom) into blocks: close below and horizontally overlapping."""
    pboxes = [_pbox(words, ln) for ln in lines]
    hs = [line_height([words[i] for i in ln]) for ln in lines]
    blocks: list[list[int]] = []
    open_blocks: list[int] = []  # indices into blocks still accepting lines
    for n in range(len(lines)):
        x0, y0, x1, y1 = pboxes[n]
        best, best_gap = -1, float("inf")
        for b in open_blocks:
            last = blocks[b][-1]
            lx0, ly0, lx1, ly1 = pboxes[last]
            gap = y0 - ly1
            lim = 1.0 * max(hs[n], hs[last])
            if gap > lim or gap < -0.5 * max(hs[n], hs[last]):
                continue
            inter = min(x1, lx1) - max(x0, lx0)
            if inter <= 0:
                continue
            if gap < best_gap:
                best, best_gap = b, gap
        if best < 0:
            blocks.append([n])
            open_blocks.append(len(blocks) - 1)
        else:
            blocks[best].append(n)
        # close blocks whose last line is far above
        open_blocks = [
            b for b in open_blocks
            if y0 - pboxes[blocks[b][-1]][3] <= 3 * hs[blocks[b][-1]]
        ]
    return blocks


def _order_blocks(bboxes: list[tuple[float, float, float, float]]) -> list[int]:
    """Reading order of blocks: top to bottom, a left column before the column to its right."""
    n = len(bboxes)
    remaining = set(range(n))
    order: list[int] = []

    def before(a: int, b: int) -> bool:
        ax0, ay0, ax1, ay1 = bboxes[a]
        bx0, by0, bx1, by1 = bboxes[b]
        h_ov = min(ax1, bx1) - max(ax0, bx0) > 0
        v_ov = min(ay1, by1) - max(ay0, by0) > 0
        if h_ov and ay1 <= by0 + 0.5 * (by1 - by0):
            return True
        return v_ov and not h_ov and ax1 <= bx0

    by_top = sorted(range(n), key=lambda i: (bboxes[i][1], bboxes[i][0]))
    while remaining:
        picked = -1
        cands = [i for i in by_top if i in remaining]
        for i in cands[:50]:
            if not any(before(j, i) for j in cands if j != i):
                picked = i
                break
        if picked < 0:
            picked = cands[0]
        order.append(picked)
        remaining.discard(picked)
    return order


def build_layout(page: Page, min_overlap: float = 0.5) -> Page:
    """A copy of ``page`` with words in reading order and ``lines`` / ``blocks`` filled in."""
    words = list(page.words)
    if not words:
        return page.model_copy(update={"words": [], "lines": [], "blocks": []})
    rows = group_lines(words, min_overlap)
    split = _column_splits(words, rows, page.width)
    # all line segments, top to bottom (by the segment's top)
    segs = [seg for parts in split for seg in parts]
    segs.sort(key=lambda s: (min(words[i].bbox[1] for i in s) + max(words[i].bbox[3] for i in s),
                             words[s[0]].bbox[0]))
    blocks = _group_blocks(segs, words)
    block_boxes = [union_box([_pbox(words, segs[n]) for n in b]) for b in blocks]
    order = _order_blocks(block_boxes)  # type: ignore[arg-type]

    new_words: list[Word] = []
    new_lines: list[Line] = []
    new_blocks: list[Block] = []
    for b in order:
        line_ids: list[int] = []
        for n in blocks[b]:
            ids = []
            for i in segs[n]:
                ids.append(len(new_words))
                new_words.append(words[i])
            line_ids.append(len(new_lines))
            new_lines.append(Line(word_ids=ids, box=_box(new_words, ids),
                                  text=" ".join(new_words[i].text for i in ids)))
        lb = union_box([new_lines[i].box for i in line_ids])
        new_blocks.append(Block(line_ids=line_ids, box=(int(lb[0]), int(lb[1]), int(lb[2]), int(lb[3]))))
    return page.model_copy(update={"words": new_words, "lines": new_lines, "blocks": new_blocks})
