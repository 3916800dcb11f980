"""Line items from a printed table: header row → columns → rows, by position.

A table is found by its header row: a visual row whose words are mostly column titles from a
multilingual lexicon (en/de/fr: ``Description``/``Bezeichnung``/``Désignation``, ``Qty``/``Menge``/
``Qté``, ``Unit Price``/``Einzelpreis``/``P.U. HT``, ``Amount``/``Betrag``/``Montant`` …) and at
least one numeric column. Each title's x-extent becomes a column. Body rows (visual rows below the
header, up to the first totals row) are cut into cells at wide gaps; each cell goes to the column
it is aligned with (left edge, right edge or centre, so left-aligned text and right-aligned
numbers both land right), and a cell that spans two columns is split where that aligns better.
A row with an amount is an item; a row with only description text continues the nearest item
(multi-line descriptions). ``quantity × unit price = amount`` fills a missing cell and breaks ties.
On later pages the table resumes under a repeated header, or, without one, with the rows whose
amount is aligned with the amount column.

>>> from schemas.document import Page, Word
>>> ws = [Word.from_pixels(t, b, page_width=1000, page_height=1000, confidence=0.9) for t, b in [
...     ("Description", (50, 100, 160, 115)), ("Qty", (600, 100, 630, 115)),
...     ("Amount", (850, 100, 920, 115)),
...     ("USB", (50, 130, 85, 145)), ("hub", (92, 130, 125, 145)), ("2", (620, 130, 630, 145)),
...     ("19.90", (870, 130, 920, 145))]]
>>> items = table_items([Page(number=1, width=1000, height=1000, words=ws)], lambda t: False, False)
>>> [(i.description.value, i.quantity.value, i.amount.value) for i in items]
[('USB hub', '2', '19.90')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from rapidfuzz import fuzz

from extractors.layout import group_lines, segment_words
from schemas.document import Page, Word, union_box
from schemas.fields import Field, LineItem
from schemas.normalize import NormalizationError, format_money, parse_money

__all__ = ["HEADER_WORDS", "header_columns", "table_items"]

ENGINE = "rules"

NUMERIC = frozenset({"quantity", "unit_price", "amount", "tax_rate"})
TEXT = frozenset({"description", "code", "pos", "uom"})

# Column titles, written as folded tokens (see _norm): lower case, accents kept, punctuation
# other than # % ° dropped ("Art.-Nr." → "artnr", "P.U. HT" → "pu ht").
HEADER_WORDS: dict[str, tuple[str, ...]] = {
    "pos": ("pos", "#", "no", "nr", "n°", "ligne", "line", "lfd nr", "position", "item"),
    "code": ("sku", "code", "product code", "item #", "item no", "item code", "part no", "part #",
             "part number", "artnr", "art nr", "artikelnr", "artikel nr", "artikelnummer", "réf",
             "ref", "référence", "reference", "code article", "article no", "model", "ean"),
    "description": ("description", "item description", "service", "services", "details",
                    "particulars", "beschreibung", "bezeichnung", "artikel", "leistung",
                    "artikelbezeichnung", "leistungsbeschreibung", "désignation", "designation",
                    "libellé", "libelle", "produit", "product", "article", "items", "descr",
                    "description des prestations", "prestation"),
    "quantity": ("qty", "quantity", "units", "menge", "anzahl", "stk", "stück", "qté", "qte",
                 "quantité", "quantite", "hours", "hrs", "pcs", "oty", "aty", "qtv"),
    "unit_price": ("unit price", "rate", "price", "unit cost", "einzelpreis", "epreis",
                   "preiseinheit", "preis", "stückpreis", "prix unitaire", "pu ht", "prix unit ht",
                   "pu", "prix", "prix ht", "prix unit", "price each", "uprice", "cost"),
    "amount": ("amount", "total", "line total", "betrag", "gesamtpreis", "gesamt", "montant",
               "montant ht", "total ht", "net amount", "ext price", "extended", "amt", "summe",
               "gesamtbetrag", "total price", "nettobetrag", "montant ttc", "total ttc", "sum"),
    "tax_rate": ("vat", "vat %", "tax", "tax %", "mwst", "mwst %", "ust", "ust %", "tva", "% tva",
                 "tva %", "taux tva", "gst", "gst %"),
    "uom": ("unit", "einheit", "unité", "unite", "uom", "me"),
}
_PHRASES: dict[tuple[str, ...], str] = {
    tuple(p.split()): kind for kind, ps in HEADER_WORDS.items() for p in ps
}
_MAX_PHRASE = max(len(k) for k in _PHRASES)
_LONG_WORDS = {k[0]: v for k, v in _PHRASES.items() if len(k) == 1 and len(k[0]) >= 6}


def _norm(token: str) -> str:
    s = unicodedata.normalize("NFKC", token).lower().replace("’", "'")
    return re.sub(r"[^\w#%°]", "", s)


def _word_kind(key: tuple[str, ...]) -> str | None:
    kind = _PHRASES.get(key)
    if kind is None and len(key) == 1 and len(key[0]) >= 6:
        # OCR slips in long titles ("Einzelpries", "Descripton")
        best, best_score = None, 0.0
        for word, k in _LONG_WORDS.items():
            s = fuzz.ratio(word, key[0])
            if s > best_score:
                best, best_score = k, s
        if best_score >= 86:
            kind = best
    return kind


@dataclass
class Column:
    """One column: its kind and the x-extent (pixels) of its title."""

    kind: str
    x0: float
    x1: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


def header_columns(words: Sequence[Word]) -> list[Column] | None:
    """Columns of a header row (``words`` left to right), or ``None`` if it is not one.

    A header row is made mostly of column titles (at least 60 % of its words), names at least two
    kinds of column, one of them numeric (quantity, unit price or amount), and a description
    column or three kinds in all.
    """
    if not words:
        return None
    h = median(max(1.0, w.bbox[3] - w.bbox[1]) for w in words)
    keys = [_norm(w.text) for w in words]
    cols: list[Column] = []
    used = 0
    k = 0
    while k < len(words):
        if not keys[k]:
            k += 1
            used += 1  # lone punctuation ("|", "-") between titles
            continue
        for n in range(min(_MAX_PHRASE, len(words) - k), 0, -1):
            span = words[k:k + n]
            if any(b.bbox[0] - a.bbox[2] > 1.2 * h for a, b in zip(span, span[1:], strict=False)):
                continue
            key = tuple(x for x in keys[k:k + n] if x)
            kind = _word_kind(key) if key else None
            if kind is not None:
                cols.append(Column(kind, span[0].bbox[0], span[-1].bbox[2]))
                used += n
                k += n
                break
        else:
            k += 1
    kinds = {c.kind for c in cols}
    if used < 0.6 * len(words) or len(kinds) < 2 or not kinds & {"quantity", "unit_price", "amount"}:
        return None
    if "description" not in kinds and len(kinds) < 3:
        return None
    # several columns of one kind: the rightmost amount is the line amount ("Net | VAT | Gross"),
    # otherwise the first one counts and the others are ignored
    out: list[Column] = []
    for c in cols:
        same = [o for o in out if o.kind == c.kind]
        if same and c.kind == "amount":
            same[0].kind = "_other"
        elif same:
            c.kind = "_other"
        out.append(c)
    if "description" not in kinds:
        # "Item | Qty | Price | Amount": the item title names the description column
        for c in out:
            if c.kind in ("code", "pos") and words[0].bbox[0] <= c.x0 + 1:
                c.kind = "description"
                break
    return out



# ------------------------------------------------------------------------------------------
# rows and cells
# ------------------------------------------------------------------------------------------
_SEPARATOR = re.compile(r"^[|¦!_~—–\-=\[\]{}:;.,'\"‘’“”•·]+$")


@dataclass
class _Row:
    page: Page
    words: list[Word]
    y0: float
    y1: float
    h: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _rows(page: Page) -> list[_Row]:
    """Visual rows of a page (skew-corrected grouping), top to bottom; ruling characters dropped."""
    words = [w for w in page.words if not _SEPARATOR.match(w.text)]
    out = []
    for ids in group_lines(words):
        ws = sorted((words[i] for i in ids), key=lambda w: w.bbox[0])
        h = float(median(max(1.0, w.bbox[3] - w.bbox[1]) for w in ws))
        out.append(_Row(page, ws, min(w.bbox[1] for w in ws), max(w.bbox[3] for w in ws), h))
    out.sort(key=lambda r: (r.y0 + r.y1) / 2)
    return out


def _segments(words: Sequence[Word], h: float) -> list[list[Word]]:
    """Cells of a row: runs of words split at gaps wider than the text height."""
    return [[words[k] for k in seg] for seg in segment_words(words, gap=h)]


_MONEYISH = re.compile(
    r"^[-−–(+]?\s?(?:[$€£¥]|[A-Z]{2,3}\$?)?\s?[-(]?\d[\d.,'’ ]*\)?\s?(?:[€$£]|[A-Z]{3})?-?$")


def _numeric_text(ws: Sequence[Word]) -> bool:
    return bool(_MONEYISH.match(" ".join(w.text for w in ws)))


def _dist(x0: float, x1: float, cols: list[Column], i: int, h: float) -> float:
    """How badly a cell spanning ``[x0, x1]`` aligns with column ``i`` (0 = aligned).

    Left edges, right edges or centres may align (text is left-aligned, numbers right-aligned,
    titles sometimes centred); a cell reaching into the next or previous column's title is
    penalised by how far it reaches.
    """
    col = cols[i]
    d = min(abs(x0 - col.x0), abs(x1 - col.x1), abs((x0 + x1) / 2 - col.cx))
    if x0 <= col.x0 + 0.5 * h and x1 >= col.x1 - 0.5 * h:
        d = min(d, 0.25 * h)  # the cell covers the title
    if i + 1 < len(cols):
        d += max(0.0, x1 - cols[i + 1].x0 - 0.3 * h)
    if i > 0:
        d += max(0.0, cols[i - 1].x1 - x0 - 0.3 * h)
    return d


def _best_col(ws: list[Word], cols: list[Column], h: float) -> tuple[float, int]:
    x0, x1 = ws[0].bbox[0], ws[-1].bbox[2]
    numeric = _numeric_text(ws)
    digits = any(ch.isdigit() for w in ws for ch in w.text)
    scored = []
    for i, c in enumerate(cols):
        d = _dist(x0, x1, cols, i, h)
        if c.kind in NUMERIC and not numeric:
            d += 3 * h if digits else 1e6  # words are not a quantity or an amount
        scored.append((d, i))
    return min(scored)


def _assign(seg: list[Word], cols: list[Column], h: float) -> list[tuple[float, int, list[Word]]]:
    """(cost, column index, words) of a cell, or of its two parts when a split aligns better."""
    cost, ci = _best_col(seg, cols, h)
    out = [(cost, ci, seg)]
    best_total = cost
    for k in range(1, len(seg)):
        (dl, il), (dr, ir) = _best_col(seg[:k], cols, h), _best_col(seg[k:], cols, h)
        if il < ir and dl + dr + 0.5 * h < best_total:
            best_total, out = dl + dr + 0.5 * h, [(dl, il, seg[:k]), (dr, ir, seg[k:])]
    return out


@dataclass
class _Cells:
    """One body row cut into columns: the best-aligned cell per column, and the rest."""

    cells: dict[str, list[Word]] = field(default_factory=dict)
    loose: list[list[Word]] = field(default_factory=list)  # numbers no column claimed
    lead: list[list[Word]] = field(default_factory=list)  # text left of the first column


def _cut(row: _Row, cols: list[Column]) -> _Cells:
    out = _Cells()
    best: dict[str, tuple[float, list[Word]]] = {}
    for seg in _segments(row.words, row.h):
        for cost, ci, ws in _assign(seg, cols, row.h):
            kind = cols[ci].kind
            if kind == "description":
                out.cells.setdefault(kind, []).extend(ws)
                continue
            if kind in best and best[kind][0] <= cost:
                if _numeric_text(ws):
                    out.loose.append(ws)
                continue
            if kind in best and _numeric_text(best[kind][1]):
                out.loose.append(best[kind][1])
            best[kind] = (cost, ws)
    for kind, (_, ws) in best.items():
        out.cells[kind] = ws
    out.loose.sort(key=lambda ws: ws[0].bbox[0])
    return out


def _text(ws: Sequence[Word]) -> str:
    return " ".join(w.text for w in ws)


def _money(text: str, decimal_comma: bool) -> Decimal | None:
    t = text.replace("(", "-").replace(")", "").replace("−", "-").replace("–", "-").strip()
    if re.search(r"\d \d{3}(?:[.,]\d{1,2})?\b", t):
        t = re.sub(r"(?<=\d) (?=\d{3}\b)", "", t)  # "1 226,28"
    try:
        v, _ = parse_money(t, decimal_comma=decimal_comma)
    except NormalizationError:
        try:
            v, _ = parse_money(re.sub(r"\s", "", t), decimal_comma=decimal_comma)
        except NormalizationError:
            return None
    return v


def _decimals(text: str) -> bool:
    return bool(re.search(r"\d[.,]\d{2}(?!\d)", text))


def _quantity(text: str, decimal_comma: bool) -> Decimal | None:
    m = re.match(r"^\s*(\d+(?:[.,]\d{1,3})?)\s*[A-Za-zÀ-ÿ.]{0,6}\s*[xX×]?$", text)
    if not m:
        return None
    s = m.group(1)
    if "," in s:
        s = s.replace(",", ".") if (decimal_comma or len(s.split(",")[1]) != 3) else s.replace(",", "")
    try:
        return Decimal(s)
    except ArithmeticError:
        return None


def _matches(q: Decimal, u: Decimal, a: Decimal) -> bool:
    return abs(q * u - a) <= Decimal("0.0051") * max(Decimal(1), abs(q))


def _tokens(groups: list[list[Word]]) -> list[tuple[str, list[Word]]]:
    """Number tokens of loose cells: each word, and neighbours joined ("1 016,00", "2 165,40")."""
    out: list[tuple[str, list[Word]]] = []
    for ws in groups:
        for i in range(len(ws)):
            for j in range(i + 1, min(len(ws), i + 3) + 1):
                part = ws[i:j]
                if any(ch.isdigit() for ch in _text(part)):
                    out.append((_text(part), part))
    return out


@dataclass
class _Vals:
    amount: tuple[Decimal, list[Word]] | None = None
    unit: tuple[Decimal, list[Word]] | None = None
    qty: tuple[Decimal, list[Word]] | None = None


def _resolve(c: _Cells, decimal_comma: bool) -> _Vals:
    """Amount, unit price and quantity of a row; ``quantity × unit price = amount`` decides
    between readings of loose numbers (a thousands space or two cells read as one)."""
    v = _Vals()
    if "amount" in c.cells and _numeric_text(c.cells["amount"]):
        a = _money(_text(c.cells["amount"]), decimal_comma)
        if a is not None:
            v.amount = (a, c.cells["amount"])
    if v.amount is None:
        for ws in reversed(c.loose):
            a = _money(_text(ws), decimal_comma)
            if a is not None and _decimals(_text(ws)):
                v.amount = (a, ws)
                c.loose.remove(ws)
                break
    if "unit_price" in c.cells:
        u = _money(_text(c.cells["unit_price"]), decimal_comma)
        if u is not None:
            v.unit = (u, c.cells["unit_price"])
    if "quantity" in c.cells:
        q = _quantity(_text(c.cells["quantity"]), decimal_comma)
        if q is not None:
            v.qty = (q, c.cells["quantity"])
    a = v.amount[0] if v.amount else None
    if a is None or (v.unit and v.qty and _matches(v.qty[0], v.unit[0], a)):
        return v
    toks = _tokens(c.loose + [ws for ws in (v.unit[1] if v.unit else None, v.qty[1] if v.qty else None) if ws])
    found = None
    for qt, qws in toks:
        q = _quantity(qt, decimal_comma)
        if q is None or q == 0:
            continue
        for ut, uws in toks:
            if set(map(id, uws)) & set(map(id, qws)) or uws[0].bbox[0] < qws[0].bbox[0]:
                continue
            u = _money(ut, decimal_comma)
            if u is not None and _matches(q, u, a):
                cand = (q, qws, u, uws)
                # prefer the reading that uses the most words (no digit left over)
                if found is None or len(qws) + len(uws) > len(found[1]) + len(found[3]):
                    found = cand
    if found is not None:
        v.qty, v.unit = (found[0], found[1]), (found[2], found[3])
    elif v.unit and not v.qty and v.unit[0] != 0:
        q = a / v.unit[0]
        if q == q.to_integral() and 0 < q < 10000:
            v.qty = (q, [])
    return v


def _field(ws: Sequence[Word], value: str, conf: float, pno: int) -> Field:
    ocr = sum(w.confidence for w in ws) / len(ws) if ws else 0.5
    b = union_box([w.box for w in ws]) if ws else None
    return Field(value=value, text=_text(ws), confidence=round(max(0.01, min(0.99, ocr * conf)), 4),
                 page=pno, bbox=[int(x) for x in b] if b else None, engine=ENGINE)


def _qty_str(q: Decimal) -> str:
    return format(q.normalize(), "f")


_CODE = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9\-_/.#]{2,}$")


def _clean_desc(ws: list[Word]) -> list[Word]:
    """Description words without OCR debris (ruling and shading read as short junk words)."""
    out = [w for w in ws if sum(ch.isalnum() for ch in w.text) >= 1
           and not (w.confidence < 0.35 and sum(ch.isalnum() for ch in w.text) <= 4)]
    while out and out[-1].confidence < 0.6 and sum(ch.isalnum() for ch in out[-1].text) <= 2:
        out.pop()
    return out


@dataclass
class _Item:
    cut: _Cells
    row: _Row
    cols: list[Column]
    extra: list[list[Word]] = field(default_factory=list)  # continuation description lines
    before: list[list[Word]] = field(default_factory=list)  # description lines printed above


def _to_item(it: _Item, decimal_comma: bool) -> LineItem | None:
    c, cols = it.cut, it.cols
    pno = it.row.page.number
    v = _resolve(c, decimal_comma)
    if v.amount is None:
        return None
    li = LineItem(amount=_field(v.amount[1], format_money(v.amount[0]), 0.8, pno))
    if v.unit is not None:
        li.unit_price = _field(v.unit[1], format_money(v.unit[0]), 0.75, pno)
    if v.qty is not None:
        li.quantity = _field(v.qty[1], _qty_str(v.qty[0]), 0.75 if v.qty[1] else 0.4, pno)
    desc = list(c.cells.get("description", []))
    code = list(c.cells.get("code", []))
    if "description" not in {col.kind for col in cols}:
        # no description title: the text left of the numbers, after a leading code
        lead = [w for ws in c.lead for w in ws]
        desc = lead
    segs = _segments(desc, it.row.h) if desc else []
    if not code and len(segs) >= 2 and len(segs[0]) == 1 and _CODE.match(segs[0][0].text):
        code, desc = segs[0], [w for s in segs[1:] for w in s]
    elif not code and len(desc) >= 2 and _CODE.match(desc[0].text) and (
            re.search(r"[A-Za-z]", desc[0].text) or sum(ch.isdigit() for ch in desc[0].text) >= 5):
        code, desc = desc[:1], desc[1:]
    while desc and re.fullmatch(r"[A-Z]{3}|[$€£]", desc[-1].text):
        desc = desc[:-1]  # a currency printed with the prices
    lines = [ln for ln in (*it.before, _clean_desc(desc), *it.extra) if ln]
    text = " ".join(_text(ln) for ln in lines).strip()
    if text and sum(ch.isalpha() for ch in text) >= 2:
        li.description = _field([w for ln in lines for w in ln], text, 0.75, pno)
    if code:
        t = _text(code).strip(" |")
        if t:
            li.product_code = _field(code, t, 0.7, pno)
    if "tax_rate" in c.cells:
        m = re.search(r"\d+(?:[.,]\d+)?", _text(c.cells["tax_rate"]))
        if m:
            li.tax_rate = _field(c.cells["tax_rate"], m.group(0).replace(",", "."), 0.6, pno)
    return li


def _pos_like(items: list[LineItem]) -> bool:
    codes = [li.product_code.value for li in items if li.product_code is not None]
    return bool(codes) and all(c is not None and c.rstrip(".").isdigit() and len(c) <= 4 for c in codes)


def _header_at(rows: list[_Row], i: int) -> tuple[list[Column], int] | None:
    """Columns of a header starting at row ``i`` (titles may sit on two close rows)."""
    cols = header_columns(rows[i].words)
    if cols is not None:
        return cols, i
    if i + 1 < len(rows) and rows[i + 1].page is rows[i].page:
        a, b = rows[i], rows[i + 1]
        if b.y0 - a.y1 < 0.8 * max(a.h, b.h) and any(_word_kind((_norm(w.text),)) for w in a.words):
            cols = header_columns(sorted(a.words + b.words, key=lambda w: w.bbox[0]))
            if cols is not None:
                return cols, i + 1
    return None


def _row_item(row: _Row, cols: list[Column], decimal_comma: bool) -> tuple[_Cells, _Vals]:
    cut = _cut(row, cols)
    first_num = min((c.x0 for c in cols if c.kind in NUMERIC), default=float("inf"))
    for seg in _segments(row.words, row.h):
        if seg[-1].bbox[2] < first_num - 0.3 * row.h and not _numeric_text(seg):
            cut.lead.append(seg)
    return cut, _resolve(_Cells(dict(cut.cells), list(cut.loose)), decimal_comma)


def _virtual_columns(rows: list[_Row], decimal_comma: bool) -> list[Column] | None:
    """Without a readable header: an amount column where several rows end in an aligned amount."""
    ends = []
    for r in rows:
        segs = _segments(r.words, r.h)
        if len(segs) >= 2 and _numeric_text(segs[-1]) and _decimals(_text(segs[-1])) \
                and sum(ch.isalpha() for seg in segs[:-1] for ch in _text(seg)) >= 3:
            ends.append((segs[-1][-1].bbox[2], segs[-1][0].bbox[0], r.h))
    if len(ends) < 2:
        return None
    ends.sort()
    best: list[tuple[float, float, float]] = []
    for k in range(len(ends)):
        group = [e for e in ends if abs(e[0] - ends[k][0]) < 1.5 * e[2]]
        if len(group) > len(best):
            best = group
    if len(best) < 2:
        return None
    x1 = float(median(e[0] for e in best))
    x0 = float(median(e[1] for e in best))
    return [Column("amount", x0, x1)]


def table_items(pages: Sequence[Page], is_stop: Callable[[str], bool], decimal_comma: bool,
                *, headerless: bool = False) -> list[LineItem] | None:
    """Line items of the tables with a header row in ``pages``; ``None`` when there is none.

    ``is_stop(row_text)`` tells a totals row (subtotal, tax, total …) that ends a table. With
    ``headerless``, a page without a readable header row is read with an amount column inferred
    from rows that end in aligned amounts.
    """
    found = False
    items: list[_Item] = []
    cols: list[Column] | None = None
    open_table = False  # the table ran to the end of the previous page
    hdr_page: Page | None = None
    for page in pages:
        rows = _rows(page)
        pending: list[_Row] = []
        page_items = len(items)
        continued = open_table
        if not open_table:
            cols = None
        seen_header = False
        i = 0
        while i < len(rows):
            row = rows[i]
            hdr = _header_at(rows, i)
            if hdr is not None:
                cols, found, open_table, hdr_page, seen_header = hdr[0], True, True, page, True
                pending = []
                i = hdr[1] + 1
                continue
            i += 1
            if cols is None or not open_table:
                continue
            last = items[-1] if len(items) > page_items else None
            if last is not None and row.y0 - last.row.y1 > 5 * row.h:
                break  # far below the last item: the page's footer; the table may go on overleaf
            cut, vals = _row_item(row, cols, decimal_comma)
            full = vals.amount and vals.unit and vals.qty and _matches(vals.qty[0], vals.unit[0], vals.amount[0])
            if is_stop(row.text) and not full:
                open_table = False
                continue
            amount_col = next((c for c in cols if c.kind == "amount"), None)
            ok = vals.amount is not None
            if ok and hdr_page is not page and amount_col is not None and vals.amount is not None:
                # a continued table without a repeated header: only rows aligned with it
                ok = abs(vals.amount[1][-1].bbox[2] - amount_col.x1) < 2 * row.h
            if ok:
                it = _Item(cut, row, cols)
                prev = last
                for p in pending:
                    d_next = row.y0 - p.y1
                    d_prev = p.y0 - prev.row.y1 if prev is not None else float("inf")
                    if d_next < d_prev and d_next < 1.0 * row.h:
                        it.before.append(_desc_words(p, cols))
                    elif prev is not None and d_prev < 1.2 * row.h * (1 + len(prev.extra)):
                        prev.extra.append(_desc_words(p, cols))
                items.append(it)
                pending = []
                continue
            texty = all(not _numeric_text(ws) for ws in _segments(row.words, row.h))
            if texty and sum(ch.isalpha() for ch in row.text) >= 2:
                pending = [*pending, row][-3:]
            else:
                pending = []
        # text lines left over after the last item of the page continue it when close enough
        for p in pending:
            last = items[-1] if len(items) > page_items else None
            if last is not None and p.y0 - last.row.y1 < 1.2 * p.h * (1 + len(last.extra)):
                last.extra.append(_desc_words(p, last.cols))
            else:
                break
        if headerless and not seen_header and not continued:
            got = _headerless(rows, is_stop, decimal_comma)
            if got:
                items.extend(got)
                found = True
                open_table = False
    if not found:
        return None
    out = [li for li in (_to_item(it, decimal_comma) for it in items) if li is not None]
    if _pos_like(out):
        for li in out:
            li.product_code = None
    return out


def _desc_words(row: _Row, cols: list[Column]) -> list[Word]:
    if not cols or "description" not in {c.kind for c in cols}:
        return _clean_desc(row.words)
    cut = _cut(row, cols)
    return _clean_desc(cut.cells.get("description", row.words))


def _headerless(rows: list[_Row], is_stop: Callable[[str], bool], decimal_comma: bool) -> list[_Item]:
    """Items of a table whose header could not be read: the rows ending in an amount aligned
    with the others, up to the first totals row."""
    body = [r for r in rows if not is_stop(r.text)]
    cols = _virtual_columns(body, decimal_comma)
    if cols is None:
        return []
    out: list[_Item] = []
    for r in rows:
        if is_stop(r.text):
            if out:
                break  # the totals after the items
            continue
        cut, vals = _row_item(r, cols, decimal_comma)
        if vals.amount is None or not cut.lead or not _decimals(_text(vals.amount[1])):
            continue
        if abs(vals.amount[1][-1].bbox[2] - cols[0].x1) > 1.5 * r.h:
            continue
        out.append(_Item(cut, r, cols))
    return out
