"""Rules extractor: layout-aware header fields, line items and key-values, no model weights.

Labels from a multilingual lexicon (en/de/fr) are found in the page's lines (exactly or fuzzily,
tolerating OCR noise and trailing colons); a value is read to the right of its label on the same
visual row, else directly below it, parsed with the type's normaliser and scored. Totals are
checked against the arithmetic of the document (subtotal + tax − discount, cash − change, the sum
of line amounts); receipt merchant name and address come from the top lines.

>>> from schemas.document import Document, Page, Word
>>> from extractors.layout import build_layout
>>> ws = [Word.from_pixels(t, b, page_width=1000, page_height=1000, confidence=0.95) for t, b in
...       [("TOTAL", (50, 800, 130, 820)), ("12.50", (800, 801, 870, 821))]]
>>> doc = Document(source="x", sha256="0", media_type="image/png",
...                pages=[build_layout(Page(number=1, width=1000, height=1000, words=ws))])
>>> RulesExtractor(None).extract(doc, "receipt").fields["total"].value
'12.50'
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from extractors import lexicon
from extractors.fields.kv import extract_key_values
from extractors.fields.tables import header_columns, table_items
from extractors.layout import estimate_skew, segment_words
from extractors.registry import Extraction
from schemas.document import Document, Page, Word, union_box
from schemas.fields import Field, LineItem
from schemas.normalize import (
    NormalizationError,
    detect_currency,
    format_money,
    parse_date,
    parse_money,
    parse_time,
)

__all__ = ["LABELS", "RulesExtractor", "find_labels"]

ENGINE = "rules"

# --------------------------------------------------------------------------------------------
# Lexicon: field → [(label, weight)]. Labels are lower-case words; separators between the words
# of a label may be spaces, dots, dashes, slashes or nothing. Fields starting with "_" are helpers
# (cash tendered, change, rounding, quantity counters) used for arithmetic and to block false hits.
# --------------------------------------------------------------------------------------------
LABELS: dict[str, list[tuple[str, float]]] = {
    "invoice_id": [
        ("invoice no", 1.0), ("invoice number", 1.0), ("invoice #", 1.0), ("invoice num", 1.0),
        ("invoice id", 1.0), ("inv no", 0.9), ("inv #", 0.9), ("invoice", 0.55), ("bill no", 0.8),
        ("receipt no", 0.8), ("document no", 0.6), ("doc no", 0.6), ("reference no", 0.5),
        ("rechnungsnummer", 1.0), ("rechnung nr", 1.0), ("rechnungs nr", 1.0), ("rechnung", 0.55),
        ("re nr", 0.8), ("belegnummer", 0.7), ("beleg nr", 0.7),
        ("facture n°", 1.0), ("facture no", 1.0), ("n° de facture", 1.0), ("no de facture", 1.0),
        ("numéro de facture", 1.0), ("numero de facture", 1.0), ("facture", 0.55),
        ("credit note no", 1.0), ("gutschrift nr", 1.0), ("avoir n°", 1.0),
        ("credit note number", 1.0), ("credit note #", 1.0), ("credit memo #", 1.0),
        ("credit memo no", 1.0), ("gutschriftsnummer", 1.0), ("rechnungsnr", 1.0), ("re nr", 0.8),
        ("n° d'avoir", 1.0), ("no d'avoir", 1.0), ("avoir no", 1.0),
    ],
    "invoice_date": [
        ("invoice date", 1.0), ("date of invoice", 1.0), ("date issued", 0.9), ("issue date", 0.9),
        ("billing date", 0.9), ("date", 0.6), ("dated", 0.6),
        ("rechnungsdatum", 1.0), ("belegdatum", 0.8), ("datum", 0.6), ("ausstellungsdatum", 0.9),
        ("date de facture", 1.0), ("date de facturation", 1.0), ("date d'émission", 0.9),
        ("date facture", 1.0), ("date of issue", 0.9), ("date d'emission", 0.9),
    ],
    "due_date": [
        ("due date", 1.0), ("payment due", 0.9), ("date due", 1.0), ("due by", 0.9), ("due on", 0.8),
        ("pay by", 0.8), ("fälligkeitsdatum", 1.0), ("fällig am", 1.0), ("fällig bis", 1.0),
        ("zahlbar bis", 1.0), ("date d'échéance", 1.0), ("date d'echeance", 1.0), ("échéance", 0.9),
        ("echeance", 0.9), ("à payer avant le", 1.0), ("à régler avant le", 1.0),
        ("a regler avant le", 1.0), ("date limite de paiement", 1.0), ("fallig am", 0.9),
        ("fallig bis", 0.9), ("falligkeitsdatum", 0.9), ("due", 0.6), ("payable by", 0.9),
    ],
    "po_number": [
        ("po number", 1.0), ("po no", 1.0), ("po #", 1.0), ("p o no", 1.0), ("purchase order", 0.9),
        ("order no", 0.7), ("order number", 0.7), ("your order", 0.6), ("bestellnummer", 0.9),
        ("bestell nr", 0.9), ("auftragsnummer", 0.8), ("ihre bestellung", 0.7),
        ("bon de commande", 0.9), ("n° de commande", 0.9), ("commande n°", 0.9), ("réf commande", 0.8),
        ("ref commande", 0.8), ("votre commande", 0.8), ("your order no", 0.9), ("order #", 0.7),
        ("ihre bestellnr", 0.9), ("ihre bestellnummer", 0.9), ("bestellnr", 0.9), ("p o #", 1.0),
    ],
    "payment_terms": [
        ("payment terms", 1.0), ("terms", 0.7), ("terms of payment", 1.0), ("zahlungsbedingungen", 1.0),
        ("zahlungsziel", 1.0), ("conditions de paiement", 1.0), ("conditions de règlement", 1.0),
        ("modalités de paiement", 1.0), ("zahlungsbedingung", 1.0), ("règlement", 0.6),
        ("conditions de reglement", 1.0),
    ],
    "vendor_tax_id": [
        ("vat id", 1.0), ("vat no", 1.0), ("vat number", 1.0), ("vat reg no", 1.0), ("vat reg", 0.9),
        ("tax id", 1.0), ("tax no", 0.9), ("tin", 0.7), ("ein", 0.6), ("abn", 0.8),
        ("gst id", 1.0), ("gst reg no", 1.0), ("gst reg", 1.0), ("gst no", 1.0), ("gst id no", 1.0),
        ("gst registration no", 1.0), ("gst number", 1.0), ("co reg no", 0.8), ("co reg", 0.8),
        ("company reg no", 0.8), ("ust-idnr", 1.0), ("ust idnr", 1.0), ("ust-id", 1.0), ("ust id", 1.0),
        ("umsatzsteuer-id", 1.0), ("steuernummer", 0.9), ("steuer-nr", 0.9), ("st-nr", 0.8),
        ("tva intracommunautaire", 1.0), ("n° tva", 1.0), ("numéro de tva", 1.0), ("siret", 0.45),
        ("siren", 0.45), ("uid", 0.7), ("tva intracom", 1.0), ("n° tva intracom", 1.0),
        ("federal tax id", 1.0), ("vat registration no", 1.0), ("vat reg no", 1.0), ("ust-id", 1.0),
        ("ust idnr", 1.0), ("umsatzsteuer id", 1.0), ("ust-id-nr", 1.0),
    ],
    "customer_name": [
        ("bill to", 1.0), ("billed to", 1.0), ("sold to", 1.0), ("invoice to", 1.0), ("customer", 0.7),
        ("client", 0.7), ("rechnungsadresse", 1.0), ("rechnungsempfänger", 1.0), ("rechnung an", 1.0),
        ("kunde", 0.7), ("facturé à", 1.0), ("facture à", 1.0), ("facture a", 0.9),
        ("adresse de facturation", 1.0), ("destinataire", 0.7), ("rechnungsempfanger", 0.9),
    ],
    # labels that look like the customer's but name something else: they block those readings
    "_ship": [
        ("ship to", 1.0), ("deliver to", 1.0), ("delivery address", 1.0), ("shipping address", 1.0),
        ("lieferadresse", 1.0), ("lieferanschrift", 1.0), ("livré à", 1.0), ("livre a", 0.9),
        ("livré a", 0.9), ("livre à", 0.9),
        ("adresse de livraison", 1.0),
    ],
    "_customer_no": [
        ("customer no", 1.0), ("customer id", 1.0), ("customer number", 1.0), ("customer #", 1.0),
        ("account no", 1.0), ("account number", 1.0), ("kundennummer", 1.0), ("kunden nr", 1.0),
        ("kd nr", 1.0), ("n° client", 1.0), ("no client", 1.0), ("code client", 1.0),
        ("réf client", 1.0), ("ref client", 1.0), ("client no", 1.0), ("numéro client", 1.0),
    ],
    "merchant_phone": [
        ("tel", 1.0), ("telephone", 1.0), ("phone", 1.0), ("tel no", 1.0), ("ph", 0.7),
        ("telefon", 1.0), ("tél", 1.0), ("téléphone", 1.0), ("hotline", 0.7),
    ],
    "transaction_time": [("time", 1.0), ("zeit", 1.0), ("uhrzeit", 1.0), ("heure", 1.0)],
    "total": [
        ("grand total", 1.0), ("total amount", 0.95), ("total payable", 0.95), ("net total", 0.85),
        ("nett total", 0.85), ("total incl", 0.95), ("total inclusive", 0.95), ("total including", 0.95),
        ("rounded total", 1.0), ("total rounded", 1.0), ("total after rounding", 1.0),
        ("total after adj", 1.0), ("total (rounded)", 1.0), ("total sales", 0.8),
        ("total amt", 0.9), ("invoice total", 0.95), ("total", 0.8), ("amount", 0.45), ("nett", 0.6),
        ("gesamtbetrag", 1.0), ("rechnungsbetrag", 1.0), ("endbetrag", 1.0),
        ("bruttobetrag", 0.9), ("gesamtsumme", 1.0), ("gesamt", 0.8), ("summe", 0.75),
        ("summe brutto", 1.0), ("total ttc", 1.0), ("montant ttc", 1.0), ("montant total", 0.95),
    ],
    # what is left to pay (after deposits); on a receipt or without a total line it is the total
    "amount_due": [
        ("amount due", 1.0), ("total due", 1.0), ("balance due", 1.0), ("balance", 0.8), ("due", 0.6),
        ("amount payable", 0.95), ("to pay", 0.7), ("amount to pay", 0.9), ("total to pay", 0.95),
        ("zahlbetrag", 1.0), ("zu zahlen", 0.9), ("offener betrag", 1.0), ("noch zu zahlen", 1.0),
        ("restbetrag", 1.0), ("net à payer", 1.0), ("net a payer", 1.0), ("total à payer", 1.0),
        ("montant dû", 0.9), ("montant du", 0.8), ("à payer", 0.8), ("reste à payer", 1.0),
        ("reste a payer", 1.0), ("solde dû", 1.0), ("solde du", 0.9), ("montant restant dû", 1.0),
        ("montant à payer", 1.0), ("montant a payer", 1.0),
    ],
    "_paid": [
        ("less deposit", 1.0), ("deposit", 0.8), ("deposit received", 1.0), ("payments/credits", 1.0),
        ("payments credits", 1.0), ("anzahlung", 1.0), ("abzgl anzahlung", 1.0), ("bereits bezahlt", 1.0),
        ("acompte", 1.0), ("acompte versé", 1.0), ("déjà réglé", 1.0), ("deja regle", 1.0),
    ],
    "subtotal": [
        ("subtotal", 1.0), ("sub total", 1.0), ("total excl", 0.9), ("total excluding", 0.9),
        ("total before tax", 0.9), ("amount excl", 0.8), ("net amount", 0.7), ("gross amount", 0.6),
        ("total sales excl", 0.9), ("zwischensumme", 1.0), ("nettobetrag", 1.0), ("netto", 0.7),
        ("summe netto", 1.0), ("gesamt netto", 1.0), ("warenwert", 0.8), ("sous-total", 1.0),
        ("sub-total", 1.0),
        ("sous total", 1.0), ("total ht", 1.0), ("montant ht", 1.0), ("total hors taxes", 1.0),
    ],
    "tax_total": [
        ("tax", 0.8), ("vat", 0.8), ("gst", 0.7), ("sales tax", 0.95), ("total tax", 0.95),
        ("tax amount", 0.95), ("gst amount", 0.95), ("total gst", 0.95), ("gst amt", 0.9),
        ("total gst amt", 0.95), ("vat amount", 0.95), ("total vat", 0.95), ("sst", 0.7),
        ("ust", 0.8), ("mwst", 0.85), ("mehrwertsteuer", 0.9), ("umsatzsteuer", 0.9),
        ("tva", 0.85), ("montant tva", 0.95), ("total tva", 0.95),
    ],
    "discount": [
        ("discount", 1.0), ("total discount", 1.0), ("less discount", 1.0), ("disc", 0.7),
        ("rabatt", 1.0), ("skonto", 0.8), ("remise", 1.0), ("réduction", 0.9), ("nachlass", 1.0),
        ("escompte", 1.0),
    ],
    "tip": [("tip", 1.0), ("tips", 1.0), ("gratuity", 1.0), ("trinkgeld", 1.0), ("pourboire", 1.0)],
    "_cash": [
        ("cash", 1.0), ("tendered", 1.0), ("cash tendered", 1.0), ("amount paid", 0.9), ("paid", 0.7), ("pay", 0.6),
        ("payment", 0.6), ("gegeben", 1.0), ("bar", 0.8), ("espèces", 1.0), ("especes", 1.0),
        ("visa", 0.6), ("mastercard", 0.6), ("credit card", 0.6), ("card", 0.5),
    ],
    "_change": [
        ("change", 1.0), ("change due", 1.0), ("amount change", 1.0), ("change amt", 1.0),
        ("rückgeld", 1.0), ("zurück", 1.0), ("rendu", 1.0), ("monnaie rendue", 1.0),
    ],
    "_rounding": [
        ("rounding", 1.0), ("rounding adj", 1.0), ("rounding adjustment", 1.0), ("round off", 1.0),
        ("rundung", 1.0), ("arrondi", 1.0),
    ],
    "_count": [
        ("total qty", 1.0), ("total quantity", 1.0), ("total items", 1.0), ("total item", 1.0),
        ("item count", 1.0), ("items", 0.8), ("item(s)", 1.0), ("qty(s)", 1.0), ("no of items", 1.0),
        ("total no of items", 1.0), ("quantity count", 1.0), ("total saving", 1.0), ("you saved", 1.0),
        ("total savings", 1.0), ("anzahl", 0.8), ("nombre d'articles", 1.0),
    ],
}
MONEY_LABEL_FIELDS = ("total", "subtotal", "tax_total", "discount", "tip", "_cash", "_change",
                      "_rounding", "amount_due", "_paid")

_FOLD = str.maketrans({"’": "'", "`": "'", "º": "°"})


def _fold(s: str) -> str:
    """Lower-case, NFKC, ascii quotes; keeps length (so character offsets stay valid)."""
    out = unicodedata.normalize("NFKC", s).translate(_FOLD).lower()
    return out if len(out) == len(s) else s.lower()


def _label_regex(label: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in re.split(r"[\s.\-/]+", label) if p]
    sep = r"[\s.:\-/_]*"
    body = sep.join(parts)
    # a short label glued to digits is the start of a value ("PO722988"), not a label
    tail = (r"(?![a-zà-ÿ0-9])" if len(label) <= 3 else r"(?![a-zà-ÿ])") if label[-1].isalnum() else ""
    return re.compile(r"(?<![a-zà-ÿ0-9])" + body + tail)


def _trigrams(s: str) -> frozenset[str]:
    return frozenset(s[i:i + 3] for i in range(len(s) - 2))


@dataclass(frozen=True)
class _Label:
    field: str
    label: str
    weight: float
    regex: re.Pattern[str]
    fuzzy: bool
    grams: frozenset[str]


_ALL_LABELS: list[_Label] = [
    _Label(f, lab, w, _label_regex(lab), len(lab.replace(" ", "")) >= 6, _trigrams(lab))
    for f, labs in LABELS.items() for lab, w in labs
]


def _label_index(labels: Sequence[_Label]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Where to look a line's labels up: the fuzzy labels by trigram, the others by the first
    two letters of their first word (what :func:`find_labels` would test each label for)."""
    by_gram: dict[str, list[int]] = {}
    by_prefix: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        if lab.fuzzy:
            for g in lab.grams:
                by_gram.setdefault(g, []).append(i)
        else:
            by_prefix.setdefault(lab.label.split()[0][:2], []).append(i)
    return by_gram, by_prefix


_BY_GRAM, _BY_PREFIX = _label_index(_ALL_LABELS)


def _label_candidates(low: str, grams: frozenset[str]) -> list[_Label]:
    """The labels of :data:`_ALL_LABELS` that can occur in ``low`` (a fuzzy one shares a trigram
    with it, another's first two letters are in it), in the list's order."""
    ids: set[int] = set()
    for g in grams:
        ids.update(_BY_GRAM.get(g, ()))
    for prefix, labs in _BY_PREFIX.items():
        if prefix in low:
            ids.update(labs)
    return [_ALL_LABELS[i] for i in sorted(ids)]


@dataclass
class LabelHit:
    """A label occurrence in a line: character span ``[start, end)`` of the line text."""

    field: str
    label: str
    weight: float
    score: float
    line: int
    start: int
    end: int


# Glyphs OCR confuses in print: a substitution inside one group costs half an edit.
_CONFUSABLE = ("o0qu", "oa", "ec", "tlfij1!|y7", "sa5$", "b8", "g9", "z2", "rn", "hb")
_CONFUSE_COST = {(a, b): 0.5 for g in _CONFUSABLE for a in g for b in g if a != b}
_TOKEN = re.compile(r"[a-z0-9!|$]+")
_SLIP_LABELS: list[_Label] = [lab for lab in _ALL_LABELS if lab.field in (
    "total", "subtotal", "tax_total", "_cash", "_change", "_rounding", "amount_due")
    and lab.label.isalpha() and 4 <= len(lab.label) <= 8 and lab.weight >= 0.8]


_SLIP_WORDS = frozenset(lab.label for lab in _SLIP_LABELS)
_SLIP_BY_LEN: dict[int, list[str]] = {}
for _w in sorted(_SLIP_WORDS):
    _SLIP_BY_LEN.setdefault(len(_w), []).append(_w)
_SPLIT_WORD = re.compile(r"(?<![a-z])(?=([a-z]+) ([a-z]+)(?![a-z]))")
_SHORT_WORD = re.compile(r"(?<![a-z])[a-z]{1,2} [a-z]|[a-z] [a-z]{1,2}(?![a-z])")


def _slip_cost(token: str, label: str) -> float:
    """Edit cost of reading ``label`` as ``token`` by same-length glyph substitutions only
    ("totsl", "lotal", "yatal" for "total"): half an edit within a confusable group, one outside."""
    return sum(0.0 if a == b else _CONFUSE_COST.get((a, b), 1.0) for a, b in zip(token, label, strict=True))


def _unslip(low: str) -> str:
    """``low`` with single-word money labels read with OCR slips put right ("lotal qty" →
    "total qty", "totsl" → "total"): a whole token of the label's length, at most one edit away
    (half an edit for a word of four letters), on a line with a number. Same length, so offsets
    stay valid."""
    out = low
    if not any(ch.isdigit() for ch in low):
        return out
    for m in _TOKEN.finditer(low):
        tok = m.group(0)
        words = _SLIP_BY_LEN.get(len(tok))
        if not words or tok in _SLIP_WORDS or sum(ch.isalpha() for ch in tok) < len(tok) - 1:
            continue
        best: tuple[float, str] | None = None
        for word in words:
            cost = _slip_cost(tok, word)
            if cost <= (0.5 if len(tok) <= 4 else 1.0) and (best is None or cost < best[0]):
                best = (cost, word)
        if best is not None:
            out = out[:m.start()] + best[1] + out[m.end():]
    # a stray space inside a label word ("C HANGE", "TOT AL"): the space moves behind the word
    for m in _SPLIT_WORD.finditer(out) if _SHORT_WORD.search(out) else ():
        a, b = m.group(1), m.group(2)
        if min(len(a), len(b)) <= 2 and a + b in _SLIP_WORDS:
            out = out[:m.start()] + a + b + " " + out[m.start() + len(a) + len(b) + 1:]
    return out


def find_labels(text: str, line: int = 0, labels: Sequence[_Label] | None = None) -> list[LabelHit]:
    """Label occurrences in ``text``, overlaps resolved (longer, then stronger labels win)."""
    low = _fold(text)
    printed = low
    if labels is None:
        low = _unslip(low)
    grams = _trigrams(low)
    hits: list[LabelHit] = []
    for lab in labels or _label_candidates(low, grams):
        if lab.fuzzy:
            if lab.grams.isdisjoint(grams):
                continue  # a fuzzy match within the threshold shares at least one trigram
        elif lab.label.split()[0][:2] not in low:  # "p o #" also matches "P.O. #"
            continue
        found = False
        for m in lab.regex.finditer(low):
            hits.append(LabelHit(lab.field, lab.label, lab.weight, 1.0, line, m.start(), m.end()))
            found = True
        if found or not lab.fuzzy or len(low) < len(lab.label) - 1:
            continue
        al = fuzz.partial_ratio_alignment(lab.label, low, score_cutoff=84)
        if al is None:
            continue
        a, b = al.dest_start, al.dest_end
        if a > 0 and low[a - 1].isalnum():
            continue
        while b < len(low) and low[b].isalpha():
            b += 1
        if b < len(low) and low[b].isdigit():
            continue  # the match runs into a value ("TAX INVOICE INV549761")
        if b - a > len(lab.label) + 2 or low[a] != lab.label[0]:
            continue
        whole = fuzz.ratio(lab.label.replace(" ", ""), re.sub(r"[\s.:\-/_]", "", low[a:b]))
        if whole < 84 or len(low[a:b].split()) != len(lab.label.split()) and whole < 100:
            continue  # a word more is only a stray space inside a word ("C HANGE")
        hits.append(LabelHit(lab.field, lab.label, lab.weight, min(al.score, whole) / 100.0, line, a, b))
    for h in hits:
        if low[h.start:h.end] != printed[h.start:h.end]:
            h.score *= 0.9  # read through an OCR slip
    hits.sort(key=lambda h: (-(h.end - h.start) * h.score, -h.weight))
    kept: list[LabelHit] = []
    for h in hits:
        if any(h.start < k.end and k.start < h.end for k in kept):
            continue
        kept.append(h)
    kept.sort(key=lambda h: h.start)
    return kept


def _drop_modifiers(text: str, hits: list[LabelHit]) -> list[LabelHit]:
    """Drop hits that only qualify the label before them ("Total Sales (Excluding GST) 51.42":
    GST is part of the total's label, not a label of its own): no digit between the two."""
    out: list[LabelHit] = []
    for h in hits:
        if out and not re.search(r"\d", text[out[-1].end:h.start]) and h.start - out[-1].end < 25 \
                and h.field != out[-1].field and not text[out[-1].end:h.start].strip().endswith(":") \
                and h.field in MONEY_LABEL_FIELDS and out[-1].field in MONEY_LABEL_FIELDS:
            continue
        out.append(h)
    return out


# --------------------------------------------------------------------------------------------
# Document view: flat list of lines with character offsets per word
# --------------------------------------------------------------------------------------------
@dataclass
class _L:
    """One layout line with what the rules need."""

    page: Page
    pno: int
    idx: int  # index in the flat list
    words: list[Word]
    text: str
    starts: list[int]
    box: tuple[int, int, int, int]
    pbox: tuple[float, float, float, float]
    h: float
    hits: list[LabelHit] = field(default_factory=list)

    def span_words(self, a: int, b: int) -> list[int]:
        """Positions of words overlapping the character span ``[a, b)``."""
        out = []
        for k, s in enumerate(self.starts):
            e = s + len(self.words[k].text)
            if s < b and a < e:
                out.append(k)
        return out


def _make_line(page: Page, pno: int, idx: int, words: list[Word]) -> _L:
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w.text) + 1
    text = " ".join(w.text for w in words)
    b = union_box([w.box for w in words])
    pb = union_box([w.bbox for w in words])
    h = float(median([max(1.0, w.bbox[3] - w.bbox[1]) for w in words]))
    return _L(page, pno, idx, words, text,
              starts, (int(b[0]), int(b[1]), int(b[2]), int(b[3])),
              (float(pb[0]), float(pb[1]), float(pb[2]), float(pb[3])), h)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    return max(0.0, inter) / max(1.0, min(a1 - a0, b1 - b0))


@dataclass
class _Cand:
    """A candidate value for a field."""

    field: str
    value: str
    text: str
    score: float
    line: _L
    wpos: list[int]
    label: LabelHit | None = None
    amount: Decimal | None = None

    def to_field(self, extra_conf: float = 0.0) -> Field:
        ws = [self.line.words[k] for k in self.wpos]
        ocr = sum(w.confidence for w in ws) / len(ws) if ws else 0.5
        ev = max(0.0, min(1.0, self.score / 2.0 + extra_conf))
        conf = max(0.01, min(0.99, ocr * (0.35 + 0.6 * ev)))
        b = union_box([w.box for w in ws]) if ws else self.line.box
        return Field(value=self.value, text=self.text, confidence=round(conf, 4), page=self.line.pno,
                     bbox=[int(v) for v in b], engine=ENGINE)


# value patterns -----------------------------------------------------------------------------
_CUR = r"(?:RM|USD|EUR|GBP|CHF|MYR|SGD|S\$|US\$|\$|€|£|¥|Fr\.|CAD|AUD)"
_NUM = (r"(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+,\d{2}"  # 1 234,56
        r"|\d{1,3}(?:[.,'’]\d{3})+(?:[.,]\d{1,2})?"  # 1,234.56 / 1.234,56 / 1,234
        r"|\d+[.,] ?\d{1,2}"  # 12.50 / 33, 92 (OCR)
        r"|\d+)")
_AMOUNT = re.compile(
    r"(?<![\w.,/:\-])(?P<neg>-\s?)?(?P<c1>" + _CUR + r"\s?)?(?P<neg2>-\s?)?(?P<num>\(?" + _NUM + r"\)?)"
    r"(?P<c2>\s?(?:€|EUR|CHF|\$|£|RM))?(?![\w%/:]|[.,]\d)",
    re.IGNORECASE,
)
_MONTH_NAMES = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
    "januar|jänner|februar|märz|maerz|mai|juni|juli|oktober|dezember|mär|okt|dez|"
    "janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|"
    "décembre|decembre|janv|févr|fevr|avr|juil|déc"
)
_MON = r"(?:" + _MONTH_NAMES + r")"
_DATE = re.compile(
    # not the tail of a longer run of numbers ("Tel. 05.22.95.66.66", "1.2.3.4")
    r"(?<![\d])(?<!\d[./\-])(?:"
    # numeric dates use one separator throughout ("11/3-21" is an item code, not a date)
    r"(?:19|20)\d{2}(?P<s1>[./\-])\d{1,2}(?P=s1)\d{1,2}"
    r"|\d{1,2}(?P<s2>[./\-])\d{1,2}(?P=s2)(?:\d{4}|\d{2})(?![./\-]\d)"
    r"|\d{1,2}(?:er|st|nd|rd|th)?(?:\.\s?|[\s/\-])?" + _MON + r"\.?[\s,./\-]{0,2}(?:\d{4}|\d{2})"
    r"|" + _MON + r"\.?\s?\d{1,2}(?:st|nd|rd|th)?[,.]?\s?\d{4}"
    # a time printed straight after the year without a space ("25/12/20188:13:39") still ends it
    r")(?:(?![\d])|(?=\d{1,2}:\d{2}))",
    re.IGNORECASE,
)
_OCR_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FUZZY_MON_DATE = re.compile(
    r"(?<![\w])(?:(?P<d1>\d{1,2})[\s\-/.]{1,2}(?P<m1>[A-Za-z0-9]{3})\.?[\s\-/.,]{1,2}(?P<y1>(?:19|20)\d{2})"
    r"|(?P<m2>[A-Za-z0-9]{3})\.?\s?(?P<d2>\d{1,2})[,.]?\s(?P<y2>(?:19|20)\d{2}))(?:(?!\d)|(?=\d{1,2}:\d{2}))"
)
_OCR_LETTERS = str.maketrans("0158", "olsb")


def _ocr_month(token: str) -> str | None:
    """A three-letter English month abbreviation read with one OCR slip ("N0Y", "0ct"): the only
    month within one edit of the token once digits that look like letters are read as letters."""
    t = token.lower().translate(_OCR_LETTERS)
    if not t.isalpha() or sum(ch.isalpha() for ch in token) < 2:
        return None
    close = [m for m in _OCR_MONTHS if sum(a != b for a, b in zip(t, m, strict=True)) <= 1]
    return close[0] if len(close) == 1 else None


_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
_TIME = re.compile(r"(?<![\d:.])(\d{1,2}[:.]\s?\d{2}(?:[:.]\s?\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?)(?![\d:])")
_PHONE = re.compile(r"\+?\(?\d[\d\s()./\-]{5,}\d")
_ID_TOKEN = re.compile(r"^[#:]*([A-Za-z0-9][A-Za-z0-9\-/._]*\d[A-Za-z0-9\-/._]*|\d+)$")
_FILLER = {"no", "no.", "nr", "nr.", "#", ":", "number", "num", "n°", "n", "no:", "nr:", "-", ".", "id"}


def _parse_amount(text: str, decimal_comma: bool) -> Decimal | None:
    try:
        v, _ = parse_money(text.replace("(", "").replace(")", ""), decimal_comma=decimal_comma)
    except NormalizationError:
        return None
    return v


def _amounts_in(ln: _L, a: int, b: int, decimal_comma: bool) -> list[tuple[Decimal, str, list[int], bool]]:
    """Money values in ``ln.text[a:b]``: (value, printed text, word positions, has decimals)."""
    out = []
    for m in _AMOUNT.finditer(ln.text, a, b):
        num = m.group("num")
        v = _parse_amount(num.replace(" ", "") if not re.search(r"\d \d{3},", num) else num,
                          decimal_comma)
        if v is None:
            continue
        if m.group("neg") or m.group("neg2") or num.startswith("("):
            v = -v
        dec = bool(re.search(r"[.,] ?\d{1,2}\)?$", num))
        s, e = m.span()
        out.append((v, ln.text[s:e].strip(), ln.span_words(s, e), dec))
    return out


# --------------------------------------------------------------------------------------------
class RulesExtractor:
    """Layout-aware heuristic field extractor (default engine; no weights)."""

    name = "rules"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    # public ----------------------------------------------------------------------------------
    def extract(self, doc: Document, doc_type: str) -> Extraction:
        """Fields, line items and key-values of ``doc`` read as ``doc_type``."""
        lines = self._lines(doc)
        if not lines:
            return Extraction()
        ctx = _Ctx(doc, lines)
        fields: dict[str, Field] = {}
        kvs = extract_key_values(doc)
        if doc_type in ("invoice", "receipt", "other"):
            items = _line_items(ctx, doc_type)
            amounts = [Decimal(li.amount.value) for li in items if li.amount and li.amount.value]
            fields.update(_money_fields(ctx, doc_type, sum(amounts, Decimal(0)) if amounts else None))
            fields.update(_date_fields(ctx, doc_type))
            fields.update(_id_fields(ctx, doc_type))
            fields.update(_party_fields(ctx, doc_type))
            cur = _currency(ctx, fields)
            if cur is not None:
                fields["currency"] = cur
            if doc_type == "other":
                fields = {k: v for k, v in fields.items() if k in ("total", "currency", "invoice_date")}
                items = []
        else:
            items = []
        return Extraction(fields=fields, line_items=items, key_values=kvs)

    @staticmethod
    def _lines(doc: Document) -> list[_L]:
        out: list[_L] = []
        for page in doc.pages:
            for ln in page.lines:
                ws = page.line_words(ln)
                if ws:
                    out.append(_make_line(page, page.number, len(out), ws))
        return out


class _Ctx:
    """Per-document state: lines, label hits, number conventions."""

    def __init__(self, doc: Document, lines: list[_L]) -> None:
        self.doc = doc
        self.lines = lines
        self.text = "\n".join(ln.text for ln in lines)
        for ln in lines:
            ln.hits = _drop_modifiers(ln.text, find_labels(ln.text, ln.idx))
        self.decimal_comma = _decimal_comma(self.text)
        self.dayfirst = _dayfirst(self.text)
        self.by_page: dict[int, list[_L]] = {}
        for ln in lines:
            self.by_page.setdefault(ln.pno, []).append(ln)
        self.skew: dict[int, float] = {}
        self._header: dict[int, bool] = {}
        # page-relative vertical position 0 (top) .. 1 (bottom)
        self.rel_y = {ln.idx: ln.pbox[1] / max(1.0, ln.page.height) for ln in lines}

    def row(self, ln: _L) -> list[_L]:
        """Lines of the same page sharing ``ln``'s visual row (itself included), left to right;
        the page's skew is taken out (a scan tilted by 1° moves a far-right value by a line)."""
        skew = self.skew.get(ln.pno)
        if skew is None:
            skew = self.skew[ln.pno] = estimate_skew(ln.page.words)
        cx = (ln.pbox[0] + ln.pbox[2]) / 2
        out = []
        for o in self.by_page[ln.pno]:
            dy = skew * ((o.pbox[0] + o.pbox[2]) / 2 - cx)
            if _overlap(ln.pbox[1], ln.pbox[3], o.pbox[1] - dy, o.pbox[3] - dy) >= 0.5:
                out.append(o)
        return sorted(out, key=lambda o: o.pbox[0])

    def is_table_header(self, ln: _L) -> bool:
        """Whether ``ln`` is (part of) a line-item table's header row ("Qty  Unit Price  Total")."""
        if ln.idx not in self._header:
            words = sorted((w for o in self.row(ln) for w in o.words), key=lambda w: w.bbox[0])
            self._header[ln.idx] = header_columns(words) is not None
        return self._header[ln.idx]

    def below(self, ln: _L, x0: float, x1: float, max_lines: int = 1) -> list[tuple[_L, list[int]]]:
        """Words of the next lines below ``ln`` that lie under the x-range ``[x0, x1]``."""
        out: list[tuple[_L, list[int]]] = []
        bottom = ln.pbox[3]
        for o in sorted(self.by_page[ln.pno], key=lambda o: o.pbox[1]):
            if o.pbox[1] < bottom - 0.3 * ln.h or o is ln:
                continue
            if o.pbox[1] - bottom > 2.5 * max(ln.h, o.h):
                break
            pos = [k for k, w in enumerate(o.words) if w.bbox[2] > x0 and w.bbox[0] < x1]
            if not pos:
                continue
            # extend to the contiguous run of words (a value can stick out of the label's column)
            segs = segment_words(o.words, factor=1.5)
            keep = sorted({k for seg in segs if set(seg) & set(pos) for k in seg})
            out.append((o, keep))
            bottom = o.pbox[3]
            if len(out) >= max_lines:
                break
        return out


def _decimal_comma(text: str) -> bool:
    comma = len(re.findall(r"\d,\d{2}(?![\d])", text)) + 2 * len(re.findall(r"\d\.\d{3},\d{2}", text))
    dot = len(re.findall(r"\d\.\d{2}(?![\d.])", text)) + 2 * len(re.findall(r"\d,\d{3}\.\d{2}", text))
    return comma > dot


def _dayfirst(text: str) -> bool:
    dayfirst = monthfirst = 0
    for m in re.finditer(r"(?<!\d)(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{2,4})(?!\d)", text):
        a, b = int(m.group(1)), int(m.group(2))
        if a > 12 >= b:
            dayfirst += 1
        elif b > 12 >= a:
            monthfirst += 1
    if monthfirst > dayfirst:
        return False
    if dayfirst:
        return True
    us = bool(re.search(r"\$|\bUSD\b", text)) and bool(
        re.search(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}", text)
        or re.search(r"\b[A-Z]{2} \d{5}(?:-\d{4})?\b", text)
    )
    return not us


# --------------------------------------------------------------------------------------------
# value search next to a label
# --------------------------------------------------------------------------------------------
def _right_region(ctx: _Ctx, ln: _L, hit: LabelHit) -> list[tuple[_L, int, int]]:
    """Character regions right of a label: the rest of its line up to the next label, then the
    other lines of the same visual row that start right of it."""
    nxt = [h.start for h in ln.hits if h.start >= hit.end and h.field != hit.field]
    end = min(nxt) if nxt else len(ln.text)
    regions = [(ln, hit.end, end)]
    if not nxt:
        x_end = ln.pbox[2]
        for o in ctx.row(ln):
            if o is ln or o.pbox[0] < x_end - 2:
                continue
            onxt = [h.start for h in o.hits]
            regions.append((o, 0, min(onxt) if onxt else len(o.text)))
            if onxt:
                break
    return regions


def _label_box(ln: _L, hit: LabelHit) -> tuple[float, float]:
    pos = ln.span_words(hit.start, hit.end)
    if not pos:
        return ln.pbox[0], ln.pbox[2]
    return ln.words[pos[0]].bbox[0], ln.words[pos[-1]].bbox[2]


def _below_regions(ctx: _Ctx, ln: _L, hit: LabelHit, n: int = 1) -> list[tuple[_L, int, int]]:
    x0, x1 = _label_box(ln, hit)
    w = x1 - x0
    out = []
    for o, pos in ctx.below(ln, x0 - 0.3 * w, x1 + 0.6 * w, n):
        if not pos or o.hits and any(h.weight >= 0.8 and h.start == 0 for h in o.hits):
            break
        a = o.starts[pos[0]]
        b = o.starts[pos[-1]] + len(o.words[pos[-1]].text)
        out.append((o, a, b))
    return out


def _money_candidates(ctx: _Ctx, fieldname: str) -> list[_Cand]:
    out: list[_Cand] = []
    for ln in ctx.lines:
        for hit in ln.hits:
            if hit.field != fieldname:
                continue
            if ln.hits and ctx.is_table_header(ln):
                continue  # a column title ("Total", "Betrag"), not a totals label
            found = False
            below = _below_regions(ctx, ln, hit) if hit.weight >= 0.8 else []
            for regions, dist_pen in ((_right_region(ctx, ln, hit), 0.0), (below, 0.4)):
                amts: list[tuple[Decimal, str, list[int], bool, _L]] = []
                for o, a, b in regions:
                    amts += [(*t, o) for t in _amounts_in(o, a, b, ctx.decimal_comma)]
                if not amts:
                    continue
                dec = [t for t in amts if t[3]] or amts
                pick = max(dec, key=lambda t: t[0]) if fieldname in ("total", "subtotal") else dec[-1]
                v, txt, pos, has_dec, o = pick
                score = 1.5 * hit.weight * hit.score + (0.3 if has_dec else -0.3) - dist_pen
                if len([t for t in amts if t[3]]) >= 2 and fieldname in ("total", "subtotal"):
                    score -= 0.35  # a summary-table row ("Total 9.94 0.59 10.40"), not the total line
                between = _fold(ln.text[hit.end: ln.starts[pos[0]] if o is ln and pos else len(ln.text)])
                out.append(_Cand(fieldname, format_money(v), txt, score, o, pos, hit, v))
                out[-1].text = txt
                out[-1].__dict__["between"] = between
                found = True
                break
            if not found:
                continue
    return out


def _reassign(c: _Cand) -> str:
    """Re-read what a 'total' label means from the words around it ("total excl. GST" …)."""
    low = _fold(c.line.text)
    tail = low[c.label.start:] if c.label else low
    if c.field == "total":
        net = c.label is not None and c.label.label.startswith("net")  # "Net Total" is what is paid
        if re.search(r"\b(?:ex\s?cl|exclu|before|w/o|ohne|hors|ht\b|net\b|netto)",
                     tail[len(c.label.label) if net else 0:40]):
            return "subtotal"
        head = low[:c.label.start] if c.label else ""
        if re.search(r"\b(?:gst|tax|vat|mwst|tva|ust)\b", low) and re.search(
                r"\bin(?:cluded|cl\.?)?\s+in\s*(?:the\s*)?$", head) or low.lstrip().startswith("(") \
                and re.search(r"\b(?:gst|tax|vat|mwst|tva|ust|includ\w*|inkl\w*|incl\w*)\b", low):
            # "GST @6% included in total RM 0.60", "(Total included GST 6% : 0.42)": a note of the tax
            return "tax_total"
        if re.search(r"\b(?:gst|tax|vat|mwst|tva|ust)\b", tail[:30]) and not re.search(
            r"in\s?c|clusive|inkl|ttc|after|with|payable", tail[:40]
        ):
            return "tax_total"
    if c.field == "_rounding" and c.amount is not None and abs(c.amount) >= 1:
        # "Rounding RM 42.35": the line prints the rounded total, not the adjustment
        return "total"
    return c.field


def _money_fields(ctx: _Ctx, doc_type: str, item_sum: Decimal | None = None) -> dict[str, Field]:
    cands: dict[str, list[_Cand]] = {f: [] for f in MONEY_LABEL_FIELDS}
    for f in MONEY_LABEL_FIELDS:
        for c in _money_candidates(ctx, f):
            nf = _reassign(c)
            c.field = nf
            cands.setdefault(nf, []).append(c)
    credit = _is_credit_note(ctx)

    def usable(a: Decimal | None) -> bool:  # a credit note's totals are negative
        return a is not None and (a != 0 if credit else a > 0)

    # labelled amounts in summary tables (e.g. "GST Summary … Total 9.94 0.59 10.40") are weaker
    for cs in cands.values():
        for c in cs:
            y = ctx.rel_y[c.line.idx]
            if c.field in ("total", "subtotal", "amount_due"):
                c.score += 0.3 * y  # totals are low on the page
            if c.amount is not None and not usable(c.amount) and c.field in ("total", "subtotal", "amount_due"):
                c.score -= 1.0
    out: dict[str, Field] = {}
    # helper values
    cash = _best(cands["_cash"])
    change = _best(cands["_change"])
    rounding = _best(cands["_rounding"])
    totals = [c for c in cands.get("total", []) if usable(c.amount)]
    dues = [c for c in cands.get("amount_due", []) if usable(c.amount)]
    if doc_type != "invoice":
        # on a receipt "Balance" is mostly a loyalty-points or card balance, not what is paid
        totals, dues = totals + [c for c in dues if c.label is None or c.label.label != "balance"], []
    elif not totals:
        totals = list(dues)  # the total is printed only as what is due
    if doc_type == "invoice":
        got = _arithmetic(cands, totals + [c for c in dues if c not in totals], item_sum)
        if got is not None and got not in totals:
            totals.append(got)  # "Amount Due" is the only line that adds up
    sub = _best(cands.get("subtotal", []))
    tax = _best(cands.get("tax_total", []))
    disc = _best(cands.get("discount", []))
    if totals:
        max_amt = max((c.amount for c in totals if c.amount is not None), default=None)
        for c in totals:
            a = c.amount
            if a is None:
                continue
            if doc_type == "receipt" and a == max_amt:
                c.score += 0.1
            if c.label is not None and "round" in c.label.label:
                c.score += 0.3
            if cash and change and cash.amount is not None and change.amount is not None \
                    and abs(cash.amount - abs(change.amount) - a) < Decimal("0.011") and a > 0:
                c.score += 0.8
            elif cash and cash.amount is not None and not change and abs(cash.amount - a) < Decimal("0.011"):
                c.score += 0.2
            if sub and sub.amount is not None and (tax or disc):
                exp = sub.amount + (tax.amount if tax and tax.amount else 0) - abs(
                    disc.amount if disc and disc.amount else 0)
                if abs(exp - a) <= Decimal("0.011") * 3:
                    c.score += 0.5
            # the same amount printed again (totals are often repeated) is supporting evidence
            rep = sum(1 for o in totals if o is not c and o.amount == a)
            c.score += 0.1 * min(rep, 3)
    if rounding is not None and rounding.amount is not None and 0 < abs(rounding.amount) < 1:
        # cash rounding: two totals that differ by the printed adjustment; the one printed after
        # the rounding line is what is paid ("Total incl. GST 31.02 / Rounding -0.02 / TOTAL 31.00")
        r_at = (rounding.line.pno, rounding.line.pbox[1])
        for c in totals:
            if c.amount is None or (c.line.pno, c.line.pbox[1]) <= r_at:
                continue
            if any(o.amount is not None and (o.line.pno, o.line.pbox[1]) < r_at
                   and abs(abs(c.amount - o.amount) - abs(rounding.amount)) < Decimal("0.006")
                   for o in totals):
                c.score += 0.6
    if cash and change and cash.amount is not None and change.amount is not None:
        # what was handed over less the change is what was paid: when that amount is printed
        # elsewhere too, a total label's value that disagrees was misread (or is not the total)
        target = cash.amount - abs(change.amount)
        printed = target > 0 and any(c.amount == target for c in totals)
        if target > 0 and not printed:
            for ln in ctx.lines:
                if any(h.field in ("_cash", "_change", "_count") for h in ln.hits):
                    continue
                for v, txt, pos, dec in _amounts_in(ln, 0, len(ln.text), ctx.decimal_comma):
                    if dec and v == target:
                        totals.append(_Cand("total", format_money(v), txt, 1.7 + 0.3 * ctx.rel_y[ln.idx],
                                            ln, pos, None, v))
                        printed = True
        if printed:
            for c in totals:
                if c.amount is not None and c.amount != target and c.label is not None:
                    c.score -= 0.5
    best_total = _best(totals)
    if best_total is None:
        best_total = _fallback_total(ctx, cash, change)
    if best_total is not None:
        out["total"] = best_total.to_field()
    for name, c in (("subtotal", sub), ("tax_total", tax), ("discount", disc),
                    ("tip", _best(cands.get("tip", [])))):
        if c is not None and c.amount is not None and (best_total is None or c is not best_total):
            if name == "tax_total" and best_total is not None and best_total.amount is not None \
                    and abs(c.amount) >= abs(best_total.amount):
                continue
            if name == "discount":
                c.value = format_money(abs(c.amount))
            out[name] = c.to_field()
    if doc_type == "invoice" and dues:
        paid = _best(cands.get("_paid", []) + cands.get("_cash", []))
        if best_total is not None and best_total.amount is not None:
            for c in dues:
                a = c.amount or Decimal(0)
                if a == best_total.amount or (paid is not None and paid.amount is not None
                                              and abs(best_total.amount - abs(paid.amount) - a) < Decimal("0.011")):
                    c.score += 0.5
        due = _best(dues)
        if due is not None:
            out["amount_due"] = due.to_field()
    return out


_CREDIT = re.compile(r"\b(?:credit\s*note|credit\s*memo|gutschrift|rechnungskorrektur|avoir|facture\s+d'avoir)\b",
                     re.IGNORECASE)


def _is_credit_note(ctx: _Ctx) -> bool:
    """A credit note: its title says so (near the top of the first page)."""
    for ln in ctx.lines:
        if ln.pno == min(ctx.by_page) and ctx.rel_y[ln.idx] < 0.4 and _CREDIT.search(ln.text) \
                and len(ln.text) < 60:
            return True
    return False


_TOL = Decimal("0.011")


def _arithmetic(cands: dict[str, list[_Cand]], totals: list[_Cand], item_sum: Decimal | None
                ) -> _Cand | None:
    """Raise the candidates that make ``subtotal − discount + tax = total`` hold (and the
    subtotal that equals the sum of the line items)."""
    def top(cs: list[_Cand], n: int = 4) -> list[_Cand]:
        return sorted((c for c in cs if c.amount is not None), key=lambda c: -c.score)[:n]

    subs, taxes, discs, tots = (top(cands.get("subtotal", [])), top(cands.get("tax_total", [])),
                                top(cands.get("discount", [])), top(totals, 6))
    if item_sum is not None:
        for c in subs:
            if c.amount is not None and abs(c.amount - item_sum) < _TOL:
                c.score += 0.4
    best: tuple[float, tuple[_Cand | None, ...]] | None = None
    for s_ in subs:
        for t in [None, *taxes]:
            for d in [None, *discs]:
                if t is None and d is None:
                    continue
                exp = s_.amount + (t.amount if t else 0) - abs(d.amount if d else 0)  # type: ignore[operator]
                for tot in tots:
                    if tot.amount is not None and abs(exp - tot.amount) <= 3 * _TOL:
                        sc = sum(c.score for c in (s_, t, d, tot) if c is not None)
                        if best is None or sc > best[0]:
                            best = (sc, (s_, t, d, tot))
    if best is None:
        return None
    for c in best[1]:
        if c is not None:
            c.score += 1.0
    return best[1][3]


def _best(cands: Iterable[_Cand]) -> _Cand | None:
    best: _Cand | None = None
    for c in cands:
        if best is None or c.score > best.score + 1e-9 or (
            abs(c.score - best.score) <= 1e-9 and c.line.pbox[1] > best.line.pbox[1]
        ):
            best = c
    return best


def _fallback_total(ctx: _Ctx, cash: _Cand | None, change: _Cand | None) -> _Cand | None:
    """Without a usable total label: cash − change, else the largest decimal amount low on the page."""
    blocked = {"_cash", "_change", "_count", "tax_total", "_rounding", "discount"}
    best: _Cand | None = None
    target = None
    if cash and change and cash.amount is not None and change.amount is not None:
        target = cash.amount - abs(change.amount)
    for ln in ctx.lines:
        if ctx.rel_y[ln.idx] < 0.25 and len(ctx.lines) > 8:
            continue
        if any(h.field in blocked for h in ln.hits):
            continue
        for v, txt, pos, dec, in _amounts_in(ln, 0, len(ln.text), ctx.decimal_comma):
            if not dec or v <= 0 or v > Decimal("1e7"):
                continue
            score = 0.2 + (0.5 if target is not None and abs(v - target) < Decimal("0.011") else 0.0)
            c = _Cand("total", format_money(v), txt, score, ln, pos, None, v)
            if best is None or (c.score, v) > (best.score, best.amount or 0):
                best = c
    return best


# --------------------------------------------------------------------------------------------
# dates and times
# --------------------------------------------------------------------------------------------
_MAX_YEAR = dt.date.today().year + 1


def _dates_in(ctx: _Ctx, ln: _L, a: int, b: int, compact: bool = False) -> list[tuple[dt.date, str, list[int]]]:
    out = []
    for m in _DATE.finditer(ln.text, a, b):
        s = m.group(0)
        try:
            s2 = re.sub(r"(?<=\d)er\b", "", s)  # "1er mars 2024"
            d = parse_date(re.sub(r"(?<=[A-Za-zé.])[/\-]|[/\-](?=[A-Za-zé])", " ", s2),
                           dayfirst=ctx.dayfirst)
        except NormalizationError:
            continue
        if not (1980 <= d.year <= _MAX_YEAR):
            continue
        out.append((d, s, ln.span_words(*m.span())))
    if not out:
        for m in _FUZZY_MON_DATE.finditer(ln.text, a, b):
            day, mon, year = ((m.group("d1"), m.group("m1"), m.group("y1")) if m.group("m1")
                              else (m.group("d2"), m.group("m2"), m.group("y2")))
            name = _ocr_month(mon)
            if name is None:
                continue
            try:
                d = parse_date(f"{day} {name} {year}", dayfirst=ctx.dayfirst)
            except NormalizationError:
                continue
            if 1980 <= d.year <= _MAX_YEAR:
                out.append((d, m.group(0), ln.span_words(*m.span())))
    if not out:
        for m in re.finditer(r"(?<![\d.,])(\d{1,2})([./\-]) ?(\d{1,2})\2 ?(\d{2,4})(?![\d.,])", ln.text[a:b]):
            try:
                d = parse_date(f"{m.group(1)}/{m.group(3)}/{m.group(4)}", dayfirst=ctx.dayfirst)
            except NormalizationError:
                continue
            if 1980 <= d.year <= _MAX_YEAR:
                out.append((d, m.group(0), ln.span_words(a + m.start(), a + m.end())))
    if not out and compact:
        # after a date label: "19 03-2018", "20180304"
        for m in re.finditer(r"(?<![\d.,])(\d{1,2})[ ./\-]{1,2}(\d{1,2})[ ./\-]{1,2}((?:19|20)?\d{2})(?![\d.,:])",
                             ln.text[a:b]):
            try:
                d = parse_date(f"{m.group(1)}/{m.group(2)}/{m.group(3)}", dayfirst=ctx.dayfirst)
            except NormalizationError:
                continue
            if 1980 <= d.year <= _MAX_YEAR:
                out.append((d, m.group(0), ln.span_words(a + m.start(), a + m.end())))
                break
    if not out and compact:
        for m in _COMPACT_DATE.finditer(ln.text, a, b):
            try:
                d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
            if 1980 <= d.year <= _MAX_YEAR:
                out.append((d, m.group(0), ln.span_words(*m.span())))
    return out


def _date_fields(ctx: _Ctx, doc_type: str) -> dict[str, Field]:
    labelled: dict[str, list[_Cand]] = {"invoice_date": [], "due_date": []}
    for ln in ctx.lines:
        for hit in ln.hits:
            if hit.field not in labelled:
                continue
            for regions, pen in ((_right_region(ctx, ln, hit), 0.0), (_below_regions(ctx, ln, hit), 0.2)):
                ds = [(d, s, pos, o) for o, a, b in regions for d, s, pos in _dates_in(ctx, o, a, b, compact=True)]
                if ds:
                    d, s, pos, o = ds[0]
                    labelled[hit.field].append(
                        _Cand(hit.field, d.isoformat(), s, hit.weight * hit.score + 0.5 - pen, o, pos, hit))
                    break
    out: dict[str, Field] = {}
    due = _best(labelled["due_date"])
    inv = _best([c for c in labelled["invoice_date"] if not due or c.value != due.value or
                 c.line is not due.line])
    # without a label: the first date in reading order, preferring one printed with a time of
    # day (a receipt's transaction stamp) over dates in item codes or validity notes
    first: _Cand | None = None
    for ln in ctx.lines:
        ds = _dates_in(ctx, ln, 0, len(ln.text))
        if ds:
            d, s, pos = ds[0]
            if due is not None and due.line is ln:
                continue
            timed = _TIME.search(ln.text, ln.text.find(s) + len(s)) is not None
            if first is None or timed:
                first = _Cand("invoice_date", d.isoformat(), s, 0.6, ln, pos)
            if timed:
                break
    date = inv or first
    name = "transaction_date" if doc_type == "receipt" else "invoice_date"
    if date is not None:
        out[name] = date.to_field()
    if due is not None and doc_type != "receipt":
        out["due_date"] = due.to_field()
    if doc_type == "receipt":
        t = _time_field(ctx, date)
        if t is not None:
            out["transaction_time"] = t
    return out


def _time_field(ctx: _Ctx, date: _Cand | None) -> Field | None:
    cands: list[_Cand] = []
    for ln in ctx.lines:
        labelled = [h for h in ln.hits if h.field == "transaction_time"]
        for m in _TIME.finditer(ln.text):
            s = m.group(1)
            try:
                v = parse_time(re.sub(r"\s", "", s.replace(".", ":", 2)) if ":" not in s else re.sub(r"\s", "", s))
            except NormalizationError:
                continue
            score = 0.5
            if labelled and any(h.end <= m.start() for h in labelled):
                score += 0.6
            if date is not None and date.line is ln:
                score += 0.4
            if "." in s and ":" not in s:
                score -= 0.4
            cands.append(_Cand("transaction_time", v, s, score, ln, ln.span_words(*m.span(1))))
    best = _best(sorted(cands, key=lambda c: -c.line.idx))
    return best.to_field() if best is not None and best.score >= 0.5 else None


# --------------------------------------------------------------------------------------------
# ids, terms, tax ids, phone
# --------------------------------------------------------------------------------------------
def _token_after(ctx: _Ctx, ln: _L, hit: LabelHit, kind: str) -> _Cand | None:
    for regions, pen in ((_right_region(ctx, ln, hit), 0.0), (_below_regions(ctx, ln, hit), 0.2)):
        for o, a, b in regions:
            if kind == "text":
                b = len(o.text)  # a value may hold words that are labels too ("Payment due within …")
            pos = o.span_words(a, b)
            if not pos:
                continue
            # the label may end inside a word ("No:INV-1")
            tokens: list[tuple[str, int]] = []
            for k in pos:
                s = o.starts[k]
                t = o.text[max(s, a): s + len(o.words[k].text)]
                if t.strip(" :"):
                    tokens.append((t.strip(" :"), k))
            if kind == "id":
                for t, k in tokens[:4]:
                    if t.lower() in _FILLER or not any(ch.isalnum() for ch in t):
                        continue
                    m = _ID_TOKEN.match(t)
                    if m and not _DATE.fullmatch(m.group(1)):
                        return _Cand("", m.group(1).strip("._-/"), t, hit.weight * hit.score - pen, o, [k], hit)
                    break
            elif kind == "taxid":
                toks = [(t, k) for t, k in tokens if t.lower() not in _FILLER]
                got: list[tuple[str, int]] = []
                for t, k in toks:
                    if re.fullmatch(r"[(\[]?[A-Za-z]{0,3}[\d][\d\s\-./A-Za-z]*[)\]]?", t) and sum(ch.isdigit() for ch in t) >= 1:
                        got.append((t.strip("()[]"), k))
                    elif not got and re.fullmatch(r"[A-Z]{2}", t):
                        got.append((t, k))  # a country prefix printed apart: "FR 87 662174964"
                    else:
                        break
                val = _vat_value([t for t, _ in got])
                got = got[: len(val.split())] if val else got
                if sum(ch.isdigit() for ch in val) >= 5:
                    return _Cand("", val, val, hit.weight * hit.score - pen, o, [k for _, k in got], hit)
            elif kind == "phone":
                m = _PHONE.search(o.text, a, b)
                if m and sum(ch.isdigit() for ch in m.group(0)) >= 6:
                    return _Cand("", m.group(0).strip(), m.group(0), hit.weight * hit.score - pen, o,
                                 o.span_words(*m.span()), hit)
            elif kind == "text":
                pos = [k for k in pos if o.text[max(o.starts[k], a): o.starts[k] + len(o.words[k].text)].strip(" :|")]
                if not pos:
                    continue
                segs = segment_words([o.words[k] for k in pos], factor=1.5)
                if not segs:
                    continue
                seg = [pos[i] for i in segs[0]]
                txt = " ".join(o.words[k].text for k in seg).strip(" :")
                if a > o.starts[seg[0]]:
                    txt = o.text[a: o.starts[seg[-1]] + len(o.words[seg[-1]].text)].strip(" :")
                txt = txt.strip(" |:;")
                if txt and re.search(r"[A-Za-z0-9]", txt):
                    return _Cand("", txt, txt, hit.weight * hit.score - pen, o, seg, hit)
    return None


_VAT = re.compile(r"^(?:DE\d{9}|FR[0-9A-Z]{2}\d{9}|GB(?:\d{9}|\d{12})|ATU\d{8}|NL\d{9}B\d{2}|BE[01]\d{9}|"
                  r"IT\d{11}|ES[0-9A-Z]\d{7}[0-9A-Z]|CHE\d{9}|LU\d{8}|\d{2}-\d{7})$")
"""VAT / tax numbers whose shape is known (EU VAT ids, US EIN)."""


def _vat_value(tokens: list[str]) -> str:
    """The tax number among the tokens after its label: the shortest run that forms a known
    VAT/EIN shape (printed grouping kept when it starts with the country code alone, OCR splits
    inside the number joined), else the run as printed."""
    for n in range(1, len(tokens) + 1):
        joined = "".join(tokens[:n]).replace(".", "").upper()
        fixed = _vat_digits(joined)
        if fixed != joined and _VAT.match(fixed):
            return fixed
        if _VAT.match(joined):
            return " ".join(tokens[:n]) if re.fullmatch(r"[A-Z]{2}", tokens[0]) else "".join(tokens[:n])
    return " ".join(tokens)


def _vat_digits(vat: str) -> str:
    """OCR's letter-for-digit slips after the country code of a VAT id: O -> 0, I -> 1 (the
    French two-character key, which may hold letters, never uses O or I).

    >>> _vat_digits("FRO2830873126"), _vat_digits("DE1O8145I96")
    ('FR02830873126', 'DE108145196')
    """
    if len(vat) < 4 or not vat[:2].isalpha():
        return vat
    return vat[:2] + vat[2:].translate(str.maketrans("OI", "01"))


def _fix_french_a(text: str) -> str:
    """French payment terms: the preposition "à" that OCR reads as "a" or "ä" before a number of
    days or "réception" ("Paiement a 30 jours" -> "Paiement à 30 jours")."""
    if not re.search(r"(?i)\b(?:paiement|r[èeé]glement|jours|r[ée]ception|payable)\b", text):
        return text
    return re.sub(r"(?<=\w) [aä>] (?=\d|r[ée]ception)", " à ", text)


_TERMS_WORDS = re.compile(
    r"(?i)\d|\b(?:net|days?|due|receipt|immediate(?:ly)?|upon|advance|cod|eom|zahlbar|sofort|tage[n]?|"
    r"netto|ohne abzug|skonto|vorkasse|jours?|réception|reception|paiement|règlement|comptant|"
    r"payable|fin de mois)\b")
_TERMS_LINE = re.compile(
    r"(?i)^(?:zahlbar\b|sofort zahlbar|payable\b|paiement\b|règlement\b|net \d+\b|due on receipt|"
    r"due upon receipt|payment due (?:within|on|upon)\b|\d+ (?:tage|days|jours) (?:netto|net)\b)")


def _id_fields(ctx: _Ctx, doc_type: str) -> dict[str, Field]:
    wanted = {"receipt": {"merchant_phone": "phone"},
              "invoice": {"invoice_id": "id", "po_number": "id", "payment_terms": "text",
                          "vendor_tax_id": "taxid"},
              "other": {}}[doc_type]
    if doc_type == "receipt":
        wanted = {**wanted, "vendor_tax_id": "taxid"}
    out: dict[str, Field] = {}
    for name, kind in wanted.items():
        cands = []
        for ln in ctx.lines:
            for hit in ln.hits:
                if hit.field == name:
                    c = _token_after(ctx, ln, hit, kind)
                    if c is not None:
                        c.field = name
                        c.score -= 0.02 * ctx.rel_y[ln.idx]
                        cands.append(c)
        if name == "payment_terms":
            cands = [c for c in cands if _TERMS_WORDS.search(c.value) and len(c.value.split()) <= 10]
            for c in cands:
                c.value = _fix_french_a(c.value)
        best = _best(cands)
        if best is None and name == "payment_terms":
            # unlabelled terms: a sentence that is one ("Zahlbar innerhalb 14 Tagen ohne Abzug.")
            for ln in ctx.lines:
                t = ln.text.strip()
                if _TERMS_LINE.match(t) and len(t.split()) <= 10 and not _DATE.search(t):
                    best = _Cand(name, _fix_french_a(t.rstrip(".")), t, 0.3, ln, list(range(len(ln.words))))
                    break
        if best is not None and name != "vendor_tax_id" or (best is not None and doc_type == "invoice"):
            out[name] = best.to_field()  # type: ignore[union-attr]
    return out


# --------------------------------------------------------------------------------------------
# merchant / vendor / customer
# --------------------------------------------------------------------------------------------
_COMPANY = re.compile(
    r"\b(?:sdn\.?\s*bhd|bhd|berhad|enterprise|trading|restaurant|restoran|cafe|café|bakery|store|"
    r"mart|market|supermarket|hardware|pharmacy|station|hotel|shop|gmbh|ag|kg|ug|ohg|e\.?\s?k|ltd|"
    r"limited|llc|inc|corp|corporation|company|co\.|plc|sarl|sas|sa|eurl|s\.a\.|s\.a\.r\.l|"
    r"gallery|book|kitchen|food|foods|industries|services|sdn|plt|s/b)\b",
    re.IGNORECASE,
)
_MY_FORMS = r"sdn\.?\s*bhd|bhd|berhad|s/b"
"""The Malaysian legal forms (Sendirian Berhad, Berhad) as a regex alternation."""
_SB_END = r"sb(?=\s*\(|\s*$)"
""""SB" (Sdn Bhd) as a legal form: only before a registration number's bracket or at the end."""
_LEGAL = re.compile(
    r"(?:\b(?:" + _MY_FORMS + "|" + _SB_END + r"|gmbh|ag|kg|ug|ohg|ltd|limited|llc|inc|corp|plc|sarl|sas|"
    r"eurl|pte|pty|enterprise|trading|company)\b\.?|\bs\.a\.?(?:r\.l\.?)?$)",
    re.IGNORECASE,
)
_BOILER = re.compile(
    r"\b(?:receipt|tax\s*invoice|invoice|cash\s*bill|bill|welcome|thank|official|copy|duplicate|"
    r"simplified|rechnung|facture|quittung|kassenbon|ticket|order|table|cashier|date|time|tel|fax|"
    r"phone|email|e-mail|www|http|gst|vat|reg|no\.?\s*:|member|change|total|amount|qty|"
    r"item|sales|payment|customer|copy|voucher|points|feedback|please|goods|sold|call|tq|terima\s+kasih|"
    r"(?:for|happy)\s+shopping|tq\s*for\s*shopping|"
    r"(?:company|co|roc|business)\.?\s*(?:no|reg|registration)\b\.?)\b",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"\b(?:(?:lot|no)\b\.?\s*:?\s*\d|jalan|jln|lorong|taman|tmn|block|blk|level|floor|lantai|street|st\.|road|rd\.?|"
    r"avenue|ave|lane|drive|suite|unit|building|bldg|plaza|mall|centre|center|park|kawasan|bandar|"
    r"seksyen|section|persiaran|kampung|kg|batu|km|flr|straße|strasse|str\.|weg|platz|allee|rue|avenue|"
    r"boulevard|bd|chemin|place|cedex|selangor|johor|kuala|lumpur|penang|pulau|pinang|melaka|perak|"
    r"kedah|pahang|sabah|sarawak|malaysia|singapore|germany|deutschland|france|usa)\b"
    r"|\b\d{5}\b|\d+[,/-]\d+",
    re.IGNORECASE,
)
_STOP_ADDR = re.compile(
    r"\b(?:tel|telephone|phone|fax|h/p|hp|mobile|email|e-mail|www|http|gst|vat|reg|regn|"
    r"registration|company|br\s*no|roc|ssm|licensee|formerly|dimiliki|owned|owner|"
    r"co\.?\s*no|company\s*no|receipt|invoice|tax|date|cashier|bill|order|table|member|"
    r"tarikh|ust|steuer|siret|tva|tél)\b|[\w.]@\w|@\s*\w+\.\w",
    re.IGNORECASE,
)
_REGNO = re.compile(r"^\(?[\s\w.:#-]*\d{4,}[\w-]*\)?$")
_CORP = re.compile(r"\b(?:" + _MY_FORMS + "|" + _SB_END + r"|ltd|limited|plt)\b", re.IGNORECASE)
"""The legal forms that end a company's name (not "ENTERPRISE", "TRADING": a name goes on after them)."""


def _alpha(s: str) -> int:
    return sum(ch.isalpha() for ch in s)


def _name_score(ln: _L, rank: int, med_h: float) -> float:
    # a name with the address's first line printed after it is scored on the name
    text = ln.text[:_address_tail(ln.text) or len(ln.text)]
    t = _strip_regno(_fix_legal(text.strip()))
    if _alpha(re.sub(r"(?i)\b(?:cash|bill|receipt|invoice|tax|simplified|official)\b", "", t)) < 3:
        return -9.0
    letters = _alpha(t)
    if letters < 3:
        return -9.0
    score = 1.0 - 0.12 * rank
    upper = sum(ch.isupper() for ch in t) / max(1, letters)
    score += 0.6 * upper
    if _LEGAL.search(t):
        score += 1.2
    elif _COMPANY.search(t):
        score += 0.6
    if _BOILER.search(t):
        score -= 1.2
    # the address words are looked for before a leading number is cut off as a registration
    # number ("NO.31G&33G,JALAN …"); a bracketed one ("(82256-V)") is no postcode
    raw = _BRACKETED_NUMBER.sub("", text).strip()
    fixed = _fix_address_words(raw)
    if _address_words(fixed):
        score -= 0.6
        # a street line (an address word and a number: "LOT276JALAN BANTING", "NO.31G&33G,JALAN …")
        # or one ending in a comma ("Laman Rimbunan Kepong,"): not a name that holds an address word
        if not _LEGAL.search(t) and (re.search(r"\d", raw) or raw.endswith(",")):
            score -= 0.6
    digits = sum(ch.isdigit() for ch in t)
    score -= 0.08 * digits
    if letters / max(1, len(t.replace(" ", ""))) < 0.6:
        score -= 0.6
    score += 0.4 * min(1.5, ln.h / max(1.0, med_h)) - 0.4
    mean_conf = sum(w.confidence for w in ln.words) / len(ln.words)
    score += 0.6 * (mean_conf - 0.7)
    if len(t) < 4:
        score -= 0.8
    if re.fullmatch(r"\([^()\d]+\)", t):
        score -= 1.0  # a branch in brackets ("(SERI KEMBANGAN)") goes with the name above it
    words = t.lower().split()
    if len(words) >= 4 and sum(w in _FUNCTION_WORDS for w in words) >= 2 and not _COMPANY.search(t) \
            and not _LEGAL.search(t):
        score -= 0.8  # a slogan ("THE BEST COFFEE IN TOWN")
    return score


_FUNCTION_WORDS = frozenset({"the", "in", "of", "for", "and", "with", "your", "our", "is", "to", "a", "at", "by",
                             "we", "you", "are", "since", "every", "day", "best"})


def _street_line(text: str) -> bool:
    """An address line with a number ("NO.54, BATU 5,JALAN IPOH,", "LOT276JALAN BANTING", a
    slipped "Jaian"), not a name that holds an address word and its registration number."""
    raw = _BRACKETED_NUMBER.sub("", text)
    if not re.search(r"\d", raw) or _alpha(raw) < 4 or _LEGAL.search(_fix_legal(raw)):
        return False
    fixed = _fix_address_words(raw)
    return _address_words(fixed)


_GREETING = re.compile(r"(?i)\b(?:welcome|thank|tq|selamat|receipt|invoice|bill|terima\s+kasih)|^\W*$")
"""A greeting or a receipt's title over the name: not part of it."""


def _generic_only(text: str) -> bool:
    """Whether ``text`` is only trade words and legal forms ("BAKERY", "Sdn. Bhd.", "CO. (M) SDN BHD"):
    part of a name, not one."""
    t = _fix_legal(text)
    return (not re.search(r"\d", t) and bool(_COMPANY.search(t) or _LEGAL.search(t))
            and _alpha(_COMPANY.sub("", _LEGAL.sub("", t))) < 2)


_OWNER = re.compile(r"(?i)\b(?:owned|operated|managed|run)\s*by\b|\ba\s+(?:division|subsidiary|member)\s+of\b|"
                    r"\b(?:inhaber(?:in)?|betreiber|exploité\s+par)\b")


def _top_name(ctx: _Ctx, lines: list[_L]) -> tuple[_L | None, float]:
    scored = _name_candidates(ctx, lines)
    if not scored:
        return None, 0.0
    best = max(scored, key=lambda t: t[0])
    return (best[1], best[0]) if best[0] > 0 else (None, best[0])


def _name_candidates(ctx: _Ctx, lines: list[_L]) -> list[tuple[float, _L]]:
    """The first eight lines with words, each with its score as the merchant's name."""
    if not lines:
        return []
    med_h = median([ln.h for ln in ctx.lines])
    # the first eight lines with words: numbers and specks over a logo do not push the name down
    top = [ln for ln in lines if _alpha(ln.text) >= 3][:8]
    if not top:
        return []
    scored = [(_name_score(ln, r, med_h), ln) for r, ln in enumerate(top)]
    # the legal owner printed under the shop ("Owned by: X SDN BHD") is not the merchant's name
    scored = [(sc - 1.5 if _OWNER.search(ln.text) or (r > 0 and _OWNER.search(top[r - 1].text)) else sc, ln)
              for r, (sc, ln) in enumerate(scored)]
    # the name is printed above its address: lines under the first street line (address words and
    # a number, "NO.54, BATU 5,JALAN IPOH,") are its continuation ("KG.BATU,")
    street = next((r for r, ln in enumerate(top) if _street_line(ln.text)), None)
    if street is not None:
        # (not a company's legal name with its registration number, printed under its shop's address)
        scored = [(sc - 1.0 if r > street and not _LEGAL_REGNO.search(_fix_legal(ln.text)) else sc, ln)
                  for r, (sc, ln) in enumerate(scored)]
    # a building or branch line repeated inside the address line under it ("PUSAT DAGANGAN PHILEO
    # DAMANSARA" / "UNIT 105, BLOCK A, PUSAT DAGANGAN PHILEO DAMANSARA,") is the address's (a line
    # that starts with it is the name in small print: "EIGHT OUNCE" / "EIGHT OUNCE COFFEE CO.")
    keys = [_letters(ln.text) for ln in top]
    return [(sc - 1.0 if len(keys[r]) >= 8 and any(keys[r] in k[1:] for k in keys[r + 1:r + 3])
             else sc, ln) for r, (sc, ln) in enumerate(scored)]


_LEGAL_REGNO = re.compile(r"(?i)\b(?:" + _MY_FORMS + r"|sb)\.?\s*\(\s*[a-z]{0,3}\d{4,}\s*-?\s*[a-z]\s*\)")
"""A legal form followed by the company's registration number ("MYNEWS RETAIL SB(306295-X)")."""


def _letters(text: str) -> str:
    """``text`` folded to its letters and digits ("Eight Ounce Coffee Co." -> "eightouncecoffeeco")."""
    return re.sub(r"[\W_]+", "", text).casefold()


def _line_field(lns: list[_L], text: str, score: float) -> _Cand:
    first = lns[0]
    c = _Cand("", text, text, score, first, list(range(len(first.words))))
    return c


def _merge_fields(lns: list[_L], text: str, score: float) -> Field:
    ws = [w for ln in lns for w in ln.words]
    ocr = sum(w.confidence for w in ws) / max(1, len(ws))
    conf = max(0.01, min(0.99, ocr * (0.35 + 0.6 * max(0.0, min(1.0, score / 2.5)))))
    b = union_box([w.box for w in ws])
    return Field(value=text, text=text, confidence=round(conf, 4), page=lns[0].pno,
                 bbox=[int(v) for v in b], engine=ENGINE)


_PHONE_LINE = re.compile(r"^[\W_]*(?:\+?\d[\d\s()./-]{6,}\d)[\W_]*$")
_POSTCODE = re.compile(r"(?<![\d-])\d{5}(?![\d-])|\b[A-Z]{1,2}\d{1,2}[A-Z]? \d[A-Z]{2}\b")


_ADDR_MORE = re.compile(
    r"\b(?:lot|bangunan|wisma|menara|kompleks|lebuh|lebuhraya|mukim|daerah|darul|tingkat|ehsan|takzim|"
    r"makmur|ridzuan)\b|\blot\W?\d|"
    r"\bno\b\.?\s*:?\s*[a-z]?\d{1,4}(?!\d)|"
    r"(?<=\d)(?:jalan|jln|lot|taman|tmn)\b|(?<![\d-])\d{5}(?![\d-])",
    re.IGNORECASE,
)
"""Address words the name scorer does not weigh (building, area and floor words of Malaysian
addresses, the states' titles: "SELANGORDARUL EHSAN" read without its space; a lot or house number
glued to its word) and a postcode glued to the town ("53000KUALA LUMPUR")."""
_BRACKETED_NUMBER = re.compile(r"\([^()]*\d{4,}[^()]*\)")
"""A bracketed registration number ("(82256-V)", "(SA0264195-T)"): no postcode, no house number."""


def _address_words(fixed: str) -> bool:
    """Whether a line (its slips already undone) holds address evidence: a street or area word,
    a lot or house number, a postcode."""
    return bool(_ADDRESS.search(fixed) or _ADDR_MORE.search(fixed))
_CLOCK = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?!\d)")
_LABELLED_PHONE = re.compile(r":\s*\+?(?:\(?\d[\s()-]*){8,}|(?<![\d-])\+?(?:60)?0\d{1,2}\s?-\s?\d{3,4}[\s-]?\d{3,5}(?!\d)"
                             r"|\d{10,}")
"""A contact number after a label ("Outlet:03-80626265", "Careline : 1800 88 1231"), a Malaysian
phone number without one ("TEI 03-7803 0974") or a tax/company number's long digit run: no address
line holds one."""
_ADDR_LABEL = re.compile(r"^(?:hq\s*)?(?:add(?:ress)?|alamat)\s*[:.]\s*(?=\S)", re.IGNORECASE)
"""An address label printed before the address ("HQ ADD: LOT 11995, …", "Address: …")."""


def _address_after(ctx: _Ctx, start: _L, max_lines: int = 6) -> list[_L]:
    """Address lines printed under the merchant/vendor name, up to the phone / tax-id / date lines.

    Lines before the first line with address evidence (a registration number, "Licensee of …",
    a branch name) are skipped, except one ending in a comma right above it (the first line of
    the address: "A-G-06, DATARAN GLOMAC,"); an address label before it ("HQ ADD:") is cut
    off. After a postcode line only lines with address evidence follow, or one last line right
    above a contact / tax-id line (a branch code "1245-DESA SRI HARTAMAS", not a labelled store
    or site number "Site : 2188"). Digit/letter slips
    are undone before the words are looked at ("Leve1 6", "Te1 :").
    """
    page_lines = _top_down(ctx, start.pno)
    return _address_from(page_lines, page_lines.index(start) + 1, start, max_lines)


_BRANCH = re.compile(r"(?i)\b(?:branch|outlet|cawangan|kiosk)\b")
"""A branch line ("BANDAR SUNWAY BRANCH", "Damansara Utama Outlet"): it names the shop, it is no address
line (a branch code with a number after the postcode line is, "1245-DESA SRI HARTAMAS")."""


def _legal_line(text: str, evidence: bool) -> bool:
    """A company's name line (a legal form), not an address line that holds such a word
    ("LOT 12, JALAN KG. JAWA,", "No.1, Jalan Enterprise 2,")."""
    return bool(_CORP.search(text) or (not evidence and _LEGAL.search(text)))


_REGNO_END = re.compile(r"^.*?\(?\b[A-Z]{0,3}\d{5,}\s?-\s?[A-Z]\b\)?[\s.,:;]*(?=\S)|"
                        r"^.*?\b(?:" + _MY_FORMS + r")\b\.?[\s.,:;]*(?=\S)|"
                        r"^(?P<name>.*?[a-z)]\s+)(?=(?:no|lot)\b\.?\s*:?\s*\d|\d+[a-z]?,\s*(?:jalan|jln|lorong)\b)",
                        re.IGNORECASE)


def _address_tail(text: str) -> int:
    """Where an address starts on a line that begins with a company's name or registration number
    ("KEDAI ABC SDN BHD (SA0264195-T) NO 5, JALAN SS2/3,", "KEDAI MAJU NO 3, JALAN MERANTI 1A,"):
    after the number or the legal form, or where a house or lot number starts, when
    what follows is an address line (an address word and a number) and what goes before is not; 0
    when there is none."""
    m = _REGNO_END.match(text)
    if m is None:
        return 0
    head, tail = text[:m.end()], text[m.end():]
    if (_street_line(tail) and not tail.startswith("(") and not _street_line(head)
            and (m.group("name") is None or _alpha(head) >= 5)  # a name before a house number
            and not re.search(r"(?i)\b(?:no|lot|unit|pt|p\.\s?t)\W*$", head)
            and not _POSTCODE.search(_fix_address_words(head))):
        return m.end()
    return 0


def _top_down(ctx: _Ctx, pno: int) -> list[_L]:
    """The lines of page ``pno`` top to bottom by the middle of each line (the layout's reading
    order can put a line of a dense header before the one above it)."""
    return sorted(ctx.by_page[pno], key=lambda o: (o.pbox[1] + o.pbox[3]) / 2)


def _address_from(page_lines: list[_L], i: int, start: _L, max_lines: int = 6) -> list[_L]:
    """:func:`_address_after` from ``page_lines[i]`` on, ``start`` the line above it."""
    out: list[_L] = []
    skipped = 0
    seen_postcode = False
    prev_bottom = start.pbox[3]
    held: _L | None = None  # a skipped line that may be the address's first line

    def looks(t: str) -> tuple[bool, bool, bool]:
        fixed = _fix_address_words(t)
        evidence = _address_words(fixed)
        stop = bool(_STOP_ADDR.search(t) or _PHONE_LINE.match(t) or _CLOCK.search(t)
                    or _LABELLED_PHONE.search(t) or (_DATE.search(t) and not evidence))
        noise = (_alpha(t) < 2 or bool(_REGNO.match(t)) and not evidence or _legal_line(t, evidence)
                 or bool(_BRANCH.search(t)) and not re.search(r"\d", t))
        return evidence, stop, noise

    while i < len(page_lines) and len(out) < max_lines:
        ln = page_lines[i]
        raw = ln.text.strip()
        t = _fix_glyphs(raw)
        i += 1
        if ln.pbox[1] - prev_bottom > 4 * max(ln.h, start.h):
            break
        prev_bottom = ln.pbox[3]
        evidence, stop, noise = looks(t)
        if not out:
            t2 = re.sub(r"^\(?(?:co\.?\s*)?(?:reg\.?\s*)?(?:no\.?\s*)?:?\s*[\w-]*\d{4,}[\w-]*\)\s*", "", raw,
                        flags=re.I)
            cut = _address_tail(t2)
            t2 = _ADDR_LABEL.sub("", t2[cut:] if cut else t2)
            if t2 != raw and _address_words(_fix_glyphs(t2)):
                ln = _sub_line(ln, len(raw) - len(t2))
                t, evidence, stop, noise = _fix_glyphs(t2), True, False, False
            if stop or noise or not evidence:
                held = ln if not (stop or noise) and t.endswith(",") else None
                skipped += 1
                if skipped > 4:
                    break
                continue
            if held is not None:
                out.append(held)
        else:
            if stop or _legal_line(t, evidence):
                break
            if seen_postcode and not evidence and not (t.startswith("(") and t.endswith(")")):
                nxt = page_lines[i].text.strip() if i < len(page_lines) else ""
                if ((not noise or _alpha(t) >= 4) and nxt and looks(_fix_glyphs(nxt))[1] and len(t.split()) <= 4
                        and re.search(r"\d", t) and not re.match(r"[A-Za-z][A-Za-z .]{0,14}:", t)):
                    out.append(ln)
                break
            if noise:
                break
        out.append(ln)
        if _POSTCODE.search(t):
            seen_postcode = True
        if _ENDS_COUNTRY.search(t):
            break  # the country is an address's last line: a branch name may follow ("IOI MALL")
    # a branch line over the address that the address repeats ("Bandar Baru Rawang" / "No 15 Jalan
    # Bandar Rawang 10" / "Bandar Baru Rawang") names the outlet
    if len(out) >= 3 and not re.search(r"\d", out[0].text):
        key = _letters(out[0].text)
        if len(key) >= 8 and fuzz.partial_ratio(key, "".join(_letters(o.text) for o in out[1:])) >= 90:
            out = out[1:]
    return out


_TOWN_POSTCODE = re.compile(r"(?<![\d-])\d{5}(?![\d-])[\s,.]*[A-Za-z]{2,}|\b[A-Za-z]{3,}[\s,.]+\d{5}\W*$")
"""A postcode and its town ("40300 Shah Alam", "PETALING JAYA SELANGOR 47301"): the line of an address
that no other header line looks like."""


def _address_above(ctx: _Ctx, name: _L) -> list[_L]:
    """An address block printed above the line taken for the name (a postcode-and-town line and the
    street lines right above it, "Lot 3, Jalan Pelabur 23/1," / "40300 Shah Alam,Selangor."): the
    merchant's own, when the name found lower down is a customer's or a slogan's."""
    page_lines = _top_down(ctx, name.pno)
    k = page_lines.index(name)
    for j in range(k):
        t = _fix_glyphs(page_lines[j].text.strip())
        if _alpha(t) < 4 or _STOP_ADDR.search(t) or _LABELLED_PHONE.search(t) or _CLOCK.search(t):
            continue
        if _TOWN_POSTCODE.search(_fix_address_words(_BRACKETED_NUMBER.sub("", t))):
            break
    else:
        return []
    s = j  # up through the street lines above the postcode line
    while s > 0:
        t = _fix_glyphs(page_lines[s - 1].text.strip())
        fixed = _fix_address_words(t)
        if (_STOP_ADDR.search(t) or _LEGAL.search(t) or _LABELLED_PHONE.search(t) or _CLOCK.search(t)
                or not (_address_words(fixed) or t.endswith(","))):
            break
        s -= 1
    out = _address_from(page_lines, s, page_lines[s - 1] if s > 0 else page_lines[s])
    above = {o.idx for o in page_lines[:k]}
    return [ln for ln in out if ln.idx in above]


_ENDS_COUNTRY = re.compile(r"(?i)\b(?:malaysi?a?|singapore|indonesia|thailand|brunei(?: darussalam)?|"
                           r"germany|deutschland|france|united kingdom|usa|united states)\W*$")
"""A line ending with a country's name ("56000 Kuala Lumpur, Malaysia", "MALAYSI." read short)."""


_COUNTRY = re.compile(r"^(?:deutschland|germany|france|österreich|austria|schweiz|suisse|switzerland|"
                      r"belgique|belgium|luxembourg|nederland|netherlands|united kingdom|uk|usa|"
                      r"united states|ireland|italia|italy|españa|spain)\.?$", re.IGNORECASE)


def _block_after(start: _L, page_lines: list[_L], max_lines: int = 5) -> list[_L]:
    """Invoice address lines: the lines right under ``start`` in its block (close below, aligned
    with it on the left or the right), up to a contact / tax-id line, ending after the postcode
    line (a country may follow)."""
    out: list[_L] = []
    prev = start
    seen_postcode = False
    cands = sorted((o for o in page_lines if o.pbox[1] >= start.pbox[3] - 0.3 * start.h),
                   key=lambda o: o.pbox[1])
    for ln in cands:
        if len(out) >= max_lines:
            break
        gap = ln.pbox[1] - prev.pbox[3]
        if gap > 1.2 * max(ln.h, prev.h):
            if ln.pbox[1] - prev.pbox[3] > 0 and not any(_overlap(ln.pbox[0], ln.pbox[2], o.pbox[0], o.pbox[2]) > 0
                                                       for o in [prev]):
                continue
            break
        tol = 1.5 * start.h
        if not (abs(ln.pbox[0] - start.pbox[0]) < tol or abs(ln.pbox[2] - start.pbox[2]) < tol
                or abs(ln.pbox[0] + ln.pbox[2] - start.pbox[0] - start.pbox[2]) < 2 * tol):
            continue  # another column on the same rows
        t = ln.text.strip()
        if sum(w.confidence for w in ln.words) / len(ln.words) < 0.45:
            break  # unreadable (light text on a dark band)
        if _STOP_ADDR.search(t) or _PHONE_LINE.match(t) or "@" in t or re.search(r"(?i)\bwww\.", t) \
                or _alpha(t) < 2 or any(h.weight >= 0.8 and h.field not in ("_ship",) for h in ln.hits):
            break
        final = bool(_END_POSTCODE.search(t))
        if seen_postcode and not _COUNTRY.match(t) and not final:
            break
        out.append(ln)
        prev = ln
        if final or _CITY_LINE.match(t):
            seen_postcode = True
    return out


_END_POSTCODE = re.compile(r"\b[A-Z][A-Za-z],? \d{5}(?:-\d{4})?$|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$")
"""A line ending in a US state and ZIP code (the state's second letter may come out of OCR in
lower case: "Ericafurt, Ri 88976") or a UK postcode: the last line of an address."""
_CITY_LINE = re.compile(r"^\d{4,5} [^\d]+$")
"""A continental postcode and city line ("10115 Berlin"); a US house number looks alike, so a
following line that ends in a ZIP code is still taken."""


_TITLE = re.compile(r"^(?:tax\s+|sales\s+)?(?:invoice|rechnung|facture|credit\s+note|credit\s+memo|gutschrift|"
                    r"avoir|rechnungskorrektur|facture\s+d'avoir|quittung|receipt)\s*:?$", re.IGNORECASE)
_TITLE_WORDS = ("invoice", "rechnung", "facture", "gutschrift", "quittung", "receipt")


def _is_title(text: str) -> bool:
    """A document title ("INVOICE", "Rechnung:"), also with one OCR slip in a one-word title: a
    letter dropped, added or changed, or split off by a stray mark ("FAC | URE", "INV0ICE")."""
    if _TITLE.match(text):
        return True
    letters = re.sub(r"[\W\d_]+", "", text.replace("0", "o")).lower()
    return (len(text.split()) <= 3 and not re.search(r"[1-9]", text) and len(letters) >= 5
            and any(Levenshtein.distance(letters, w) <= 1 for w in _TITLE_WORDS))


def _name_segments(ctx: _Ctx, lines: list[_L]) -> list[_L]:
    """Lines cut at wide gaps into runs of words, without document titles ("INVOICE",
    letter-spaced "R E C H N U N G") and runs that are only labels ("Bill To:")."""
    out: list[_L] = []
    for ln in lines:
        for seg in segment_words(ln.words, factor=1.5):
            sub = _make_line(ln.page, ln.pno, ln.idx, [ln.words[k] for k in seg])
            t = sub.text.strip()
            toks = t.split()
            if _is_title(t) or (len(toks) >= 3 and sum(len(x) <= 2 for x in toks) >= 0.6 * len(toks)):
                continue
            sub.hits = _drop_modifiers(t, find_labels(t, ln.idx))
            covered = sum(h.end - h.start for h in sub.hits if h.weight >= 0.7)
            if covered >= 0.6 * len(t.rstrip(" :")):
                continue
            out.append(sub)
    return out


def _not_customer(segs: list[_L], lines: list[_L]) -> list[_L]:
    """Runs that are not the customer's name: nothing right under or right of a customer label
    ("Bill To", "Rechnung an", "Destinataire") or a ship-to label."""
    labels = []
    for o in lines:
        for h in o.hits:
            if h.field in ("customer_name", "_ship"):
                pos = o.span_words(h.start, h.end)
                labels.append(_make_line(o.page, o.pno, o.idx, [o.words[k] for k in pos]) if pos else o)
    out = []
    for ln in segs:
        below = any(0 <= ln.pbox[1] - o.pbox[3] < 1.5 * max(ln.h, o.h)
                    and _overlap(ln.pbox[0], ln.pbox[2], o.pbox[0], o.pbox[2]) > 0 for o in labels)
        right = any(_overlap(ln.pbox[1], ln.pbox[3], o.pbox[1], o.pbox[3]) > 0.5 and 0 <= ln.pbox[0] - o.pbox[2]
                    < 4 * o.h for o in labels)
        if not (below or right):
            out.append(ln)
    return out


def _sub_line(ln: _L, skip_chars: int) -> _L:
    """``ln`` without its words that start before character ``skip_chars``."""
    keep = [w for w, s in zip(ln.words, ln.starts, strict=True) if s >= skip_chars]
    return _make_line(ln.page, ln.pno, ln.idx, keep) if keep else ln


_UK_POSTCODE = re.compile(r"\b([A-Z]{1,2})([0-9OI]{1,2})([A-Z]?) ([0-9OI])([A-Z]{2})\b")


def _clean_address(text: str) -> str:
    """Strip stray OCR punctuation at the ends of an address; a letter O or I read where a UK
    postcode has a digit becomes 0 or 1 ("LE55 OBE" -> "LE55 0BE", "TWIP 3RP" -> "TW1P 3RP").

    >>> _clean_address("Cambridge, TWIP 3RP"), _clean_address("York OXIM 7DL")
    ('Cambridge, TW1P 3RP', 'York OX1M 7DL')
    """
    text = re.sub(r"[\s|~_'\"“”‘’]+$", "", re.sub(r"^[\s|~_'\"“”‘’.,;:]+", "", text))

    def digits(t: str) -> str:
        return t.replace("O", "0").replace("I", "1")

    return _UK_POSTCODE.sub(lambda m: m.group(1) + digits(m.group(2)) + m.group(3) + " "
                            + digits(m.group(4)) + m.group(5), text)


_ADDRESS_WORDS = frozenset({
    "jalan", "lorong", "lebuh", "lebuhraya", "persiaran", "taman", "laman", "kawasan", "perindustrian",
    "perniagaan", "bandar", "seksyen", "kampung", "bangunan", "wisma", "menara", "kompleks", "pusat",
    "dataran", "medan", "simpang", "sungai", "bukit", "tingkat", "mukim", "daerah", "darul", "ehsan", "takzim",
    "makmur", "ridzuan", "khusus", "selangor", "johor", "kedah", "kelantan", "melaka", "pahang", "perak",
    "perlis", "penang", "pinang", "sabah", "sarawak", "terengganu", "negeri", "sembilan", "kuala", "lumpur",
    "putrajaya", "labuan", "malaysia", "singapore", "floor", "ground", "level", "block", "industrial",
    "boulevard", "avenue", "square", "centre", "center", "plaza", "street", "office", "building",
})
"""Words of Malaysian and English addresses (street, area and building words, the states) that a
recogniser's one-letter slip is undone against; place names other than the states are not in
it."""
_NOT_SLIPS = frozenset({"kedai", "jalur"})
"""Real words one letter away from an address word."""
_LOOKALIKE = [set(g) for g in ("mnhrwx", "oudceaqg", "un", "iljt", "tf", "pf", "s5", "bh", "gq")]
"""Letters a recogniser reads one for another."""


def _lookalike(a: str, b: str) -> bool:
    """Whether same-length ``a`` and ``b`` differ in one letter that looks like the other."""
    diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return len(diff) == 1 and any(diff[0][0] in g and diff[0][1] in g for g in _LOOKALIKE)


def _join_split_words(text: str, vocab: frozenset[str]) -> str:
    """Two letter runs the recogniser split apart ("BAK ERIES", "Lum pur") joined when together,
    and neither alone, they are a word of ``vocab``.

    >>> _join_split_words("GARDENLA BAK ERIES (KL), Kuala Lum pur", _TRADE_WORDS | _ADDRESS_WORDS)
    'GARDENLA BAKERIES (KL), Kuala Lumpur'
    """
    return _join_pieces(text, lambda a, b: (a + b).lower() in vocab and a.lower() not in vocab
                        and b.lower() not in vocab)


def _join_pieces(text: str, joins: Callable[[str, str], bool], *, whole: bool = False) -> str:
    """Two letter runs on either side of a space joined when ``joins(left, right)``; with
    ``whole``, only runs that are whole tokens (not the end of "Nando's" or the start of "x2")."""
    left = re.compile(r"(?<![\w'])[A-Za-z]+$" if whole else r"[A-Za-z]+$")
    right = re.compile(r"[A-Za-z]+(?![\w'])" if whole else r"[A-Za-z]+")
    parts = re.split(r"(?<=[A-Za-z]) (?=[A-Za-z])", text)  # pieces split at spaces between letters
    out = parts[:1]
    for p in parts[1:]:
        a = left.search(out[-1])
        b = right.match(p)
        if a and b and joins(a.group(0), b.group(0)):
            out[-1] += p
        else:
            out.append(p)
    return " ".join(out)


_VOWEL_ABBREVIATIONS = frozenset({"ave", "ste", "apt", "ind", "sek", "sec", "est", "ext"})
"""Address abbreviations with a vowel whose period is a period ("Ave.", "Sek. U3")."""


def _fix_address_words(text: str) -> str:
    """Undo one-letter OCR slips in the address words of :data:`_ADDRESS_WORDS` ("TANAN" -> "TAMAN",
    "Selanoor" -> "Selangor", "KUALA LUXPUR" -> "KUALA LUMPUR"), in the case the word was printed
    in (:func:`_word_slip`: "JAPAN" stays, it is not a slip of JALAN). A letter read inside a
    number becomes a digit (``l``/``I`` -> 1: "28I1", "7/1l8B"; ``S`` -> 5: "411S0"), a five
    between upper-case letters ("ANG5A") an S, "J1n" the street abbreviation "Jln", and a comma
    read as a period after a word or number inside the address ("PUCHONG. SELANGOR", "290.JALAN")
    a comma; abbreviations ("JLN.", "Ave.") keep their period.

    >>> _fix_address_words("LOT P.T. 28I1, JALAN ANG5A, TANAN BERKELEY 41150 KLANG. Selanoor")
    'LOT P.T. 2811, JALAN ANGSA, TAMAN BERKELEY 41150 KLANG, Selangor'
    >>> _fix_address_words("NO 290.JALAN AIR PANAS, KEDAI AMAN, JLN. Kuala Luxpur. DAISO JAPAN")
    'NO 290,JALAN AIR PANAS, KEDAI AMAN, JLN. Kuala Lumpur, DAISO JAPAN'
    >>> _fix_address_words("J1n SS2, 411S0 KLANG, 1SS8-FAMAN PUSAT"), _fix_address_words("5th Ave. Sek. U3")
    ('Jln SS2, 41150 KLANG, 1558-TAMAN PUSAT', '5th Ave. Sek. U3')
    """
    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        low = w.lower()
        if len(w) < 5 or low in _ADDRESS_WORDS or low in _NOT_SLIPS:
            return w
        v = _word_slip(w, _ADDRESS_WORDS)
        if v is None:
            return w
        return v.upper() if w.isupper() else v.capitalize() if w[0].isupper() else v

    text = re.sub(r"[A-Za-z]+", word, _join_split_words(text, _ADDRESS_WORDS))
    text = re.sub(r"(?<=\d)[lI](?=\d)", "1", text)
    text = re.sub(r"(?<=\d)[Ss]{1,2}(?=\d)", lambda m: "5" * len(m.group(0)), text)
    text = re.sub(r"(?<=[A-Z]{2})5(?=[A-Z])", "S", text)
    text = re.sub(r"\b(J)[1I|]([Nn])\b", lambda m: "JL" + m.group(2) if m.group(2).isupper() else "Jln", text)

    def comma(m: re.Match[str]) -> str:
        w = m.group(1)
        if not re.search(r"[AEIOUaeiou\d]", w) or w.lower() in _VOWEL_ABBREVIATIONS:
            return m.group(0)
        return w + ","

    return re.sub(r"(\b[A-Za-z]{3,}|(?<!\d)\d+)\.(?=\s?[A-Za-z]|\s\d)", comma, text)


_STREET_WORDS = r"(?:jalan|jln|lorong|taman|tmn|kawasan|bandar|persiaran|lebuh)"


def _address_spacing(text: str) -> str:
    """Spaces a receipt recogniser drops in an address: after a comma before a letter
    ("JALAN BESAR,BATANG" -> "JALAN BESAR, BATANG"; the print has one, narrow, in most), between a
    postcode and its town ("43800DENGKIL"), between a state and its title ("SELANGORDARUL EHSAN"),
    after LOT or NO and between a number and a street word
    ("LOT276JALAN" -> "LOT 276 JALAN", "NO290" -> "NO 290"); and "LOT" put together when read in
    pieces or with a slip before a number ("L ot 3", "10T 1851", "LDT 1851").

    >>> _address_spacing("LOT276JALAN BANTING 43800DENGKIL,SELANGOR")
    'LOT 276 JALAN BANTING 43800 DENGKIL, SELANGOR'
    >>> _address_spacing("L ot3, Jalan X, 1,234 INDAH X ,U13/X")
    'Lot 3, Jalan X, 1,234 INDAH X ,U13/X'
    """
    text = re.sub(r"\b([Ll1])[ .]?([Oo0D])[ .]?([Ttl])(?=\s?\d)",
                  lambda m: "LOT" if m.group(3) == "T" and m.group(2) != "o" else "Lot", text)
    text = re.sub(r"(?<! ),(?=[A-Za-z])", ", ", text)  # not ",U13/X" printed after a space
    text = re.sub(r"(?<![\d-])(\d{5})(?=[A-Za-z]{3})", r"\1 ", text)
    text = re.sub(r"(?i)\b(lot|no)(?=\d)", r"\1 ", text)
    text = re.sub(r"(?i)\b(selangor|johor|kedah|pahang|perak|terengganu|kelantan)(?=darul\b)", r"\1 ", text)
    return re.sub(r"(?i)(?<=\d)(?=" + _STREET_WORDS + r"\b)", " ", text)


def _party_fields(ctx: _Ctx, doc_type: str) -> dict[str, Field]:
    out: dict[str, Field] = {}
    used: set[int] = set()
    page1 = ctx.by_page[min(ctx.by_page)]
    if doc_type == "invoice":
        page1 = _name_segments(ctx, page1)
    else:  # top to bottom, as in _address_after
        page1 = sorted(page1, key=lambda o: (o.pbox[1] + o.pbox[3]) / 2)
    name_ln, score = _top_name(ctx, _not_customer(page1, ctx.by_page[min(ctx.by_page)])
                               if doc_type == "invoice" else page1)
    if name_ln is not None:
        name_lines = [name_ln]
        k = page1.index(name_ln)
        # a name printed over two lines: "POPULAR BOOK" / "CO. (M) SDN BHD"
        if k + 1 < len(page1) and not _LEGAL.search(_fix_legal(name_ln.text)):
            nxt = page1[k + 1]
            nt = nxt.text.strip()
            if ((_LEGAL.search(_fix_legal(nt)) or _generic_only(nt)) and not _STOP_ADDR.search(nt) and _alpha(nt) >= 2
                    and len(nt) < 40
                    and not _ADDRESS.search(nt) and not _BOILER.search(nt)
                    and nxt.pbox[1] - name_ln.pbox[3] < 1.5 * name_ln.h):
                name_lines.append(nxt)
        # … or "LIAN CHI PU TIAN VEGETARIAN" / "RESTAURANT SDN BHD"
        # (not when the line ends with its registration number: the legal name is complete)
        fixed = _fix_legal(name_ln.text)
        m = _LEGAL.search(fixed)
        before = fixed[: m.start()].split() if m else []
        generic = _generic_only(_strip_regno(fixed))
        if k > 0 and (generic or m and len(before) <= 2
                      and not re.search(r"\(?[\w-]*\d{4,}[\w-]*\)?\s*$", fixed)):
            prv = page1[k - 1]
            pt = prv.text.strip()
            letters = _alpha(pt)
            gap = name_ln.pbox[1] - prv.pbox[3]
            # a line that is only the legal form or a trade word ("Sdn Bhd", "BAKERY") takes the line
            # above it in any case ("99 SPEED MART", "ABC"), unless that is no name at all
            if ((letters >= 4 and (not before or sum(ch.isupper() for ch in pt) >= 0.8 * letters)
                    and not any(ch.isdigit() for ch in pt) and not _BOILER.search(pt) and not _STOP_ADDR.search(pt)
                    and not _ADDRESS.search(pt) and gap < 1.5 * name_ln.h)
                    or (generic and letters >= 2 and gap < 3 * name_ln.h and not _STOP_ADDR.search(pt)
                        and not _GREETING.search(pt) and not _street_line(pt) and not _DATE.search(pt))):
                name_lines.insert(0, prv)
                # … from three: "AIK HUAT HARDWARE" / "ENTERPRISE (SETIA" / "ALAM) SDN BHD", read up
                # from the legal line, when the line taken starts with a form a name goes on after
                pfix = _fix_trade_words(_fix_legal(pt))
                if k > 1 and _LEGAL.match(pfix) and not _CORP.match(pfix):
                    top = page1[k - 2]
                    tt = top.text.strip()
                    if (_alpha(tt) >= 4 and sum(ch.isupper() for ch in tt) >= 0.8 * _alpha(tt)
                            and not any(ch.isdigit() for ch in tt) and not _BOILER.search(tt)
                            and not _ADDRESS.search(tt) and not _LEGAL.search(_fix_legal(tt))
                            and prv.pbox[1] - top.pbox[3] < 1.5 * name_ln.h):
                        name_lines.insert(0, top)
        # a name over three lines: "AIK HUAT HARDWARE" / "ENTERPRISE (SETIA" / "ALAM) SDN BHD" (the
        # two lines taken end in a form a name goes on after)
        j = page1.index(name_lines[-1]) + 1
        if len(name_lines) == 2 and j < len(page1) and not _CORP.search(_fix_legal(name_lines[-1].text)):
            nx2 = page1[j]
            t2 = nx2.text.strip()
            if (_LEGAL.search(_fix_legal(name_lines[-1].text)) and _CORP.search(_fix_legal(t2))
                    and not _STOP_ADDR.search(t2) and len(t2) < 40 and not re.search(r"\d", _strip_regno(t2))
                    and not _ADDRESS.search(t2) and not _BOILER.search(t2)
                    and nx2.pbox[1] - name_lines[-1].pbox[3] < 1.5 * name_ln.h):
                name_lines.append(nx2)
                j += 1
        # a branch in brackets printed under the name is part of it: "… SDN BHD" / "(JALAN KLANG LAMA)"
        if j < len(page1):
            br = page1[j]
            bt = br.text.strip()
            if (re.fullmatch(r"\([^()\d]{3,40}\)", bt) and not _STOP_ADDR.search(bt)
                    and br.pbox[1] - name_lines[-1].pbox[3] < 1.5 * name_ln.h):
                name_lines.append(br)
        # the address's first line printed on the name's line, after its legal form or number
        tail = _address_tail(name_lines[-1].text) if doc_type == "receipt" else 0
        texts = [ln.text.strip() for ln in name_lines]
        if tail:
            texts[-1] = name_lines[-1].text[:tail].strip()
        text = " ".join(texts)
        # the name in large print repeated under it in small print with its legal form and a branch
        # ("EIGHT OUNCE" / "COFFEE" / "EIGHT OUNCE COFFEE CO. THE GARDENS MALL"): the name up to the form
        key = _letters(text)
        j = page1.index(name_lines[-1]) + 1
        for o in page1[j:j + 3] if len(key) >= 4 and not _LEGAL.search(_fix_legal(text)) else []:
            ot = _fix_legal(o.text.strip())
            lm = _LEGAL.search(ot) or re.search(r"(?i)\bco\.(?!\w)", ot)
            if lm and _letters(ot[:lm.start()]).startswith(key):
                name_lines, text, tail = [o], ot[:lm.end()], 0
                break
        text = _fix_trade_words(_fix_name(_fix_glyphs(_strip_regno(_fix_legal(text)))))
        text = _fix_rare_words_of(text, name_lines)
        key = "merchant_name" if doc_type == "receipt" else "vendor_name"
        out[key] = _merge_fields(name_lines, text, score)
        if doc_type == "invoice":
            addr = _block_after(name_lines[-1], page1)
        else:
            addr = _address_above(ctx, name_lines[0])
            if not addr:
                addr = _address_after(ctx, name_lines[-1])
                if tail:
                    addr = [_sub_line(name_lines[-1], tail), *addr]
        used = {id(x) for x in name_lines + addr}
        if addr:
            akey = "merchant_address" if doc_type == "receipt" else "vendor_address"
            sep = " " if doc_type == "receipt" else ", "
            atext = _clean_address(_fix_glyphs(sep.join(ln.text.strip() for ln in addr)))
            if doc_type == "receipt":
                atext = _address_spacing(_fix_address_words(atext))
                atext = _fix_rare_words_of(atext, addr)
            out[akey] = _merge_fields(addr, atext, score)
    if doc_type == "invoice":
        cands = []
        for ln in ctx.lines:
            for hit in ln.hits:
                if hit.field == "customer_name":
                    regs = _right_region(ctx, ln, hit)
                    right_txt = " ".join(o.text[a:b] for o, a, b in regs).strip(" :")
                    if _alpha(right_txt) >= 3:
                        c = _token_after(ctx, ln, hit, "text")
                        if c is not None:
                            c.field = "customer_name"
                            cands.append((c, ln, hit))
                            continue
                    below = _below_regions(ctx, ln, hit, n=1)
                    if below:
                        o, a, b = below[0]
                        txt = o.text[a:b].strip()
                        if _alpha(txt) >= 2:
                            c = _Cand("customer_name", txt, txt, hit.weight * hit.score, o,
                                      o.span_words(a, b), hit)
                            cands.append((c, ln, hit))
        cands = [t for t in cands if _plausible_name(t[0].value)]
        name_seg: _L | None = None
        if cands:
            c, ln, hit = max(cands, key=lambda t: t[0].score)
            out["customer_name"] = c.to_field()
            name_seg = _make_line(c.line.page, c.line.pno, c.line.idx, [c.line.words[k] for k in c.wpos])
        else:
            blk = _customer_block(ctx, page1, used, out.get("vendor_name"))
            if blk is not None:
                name_seg = blk
                out["customer_name"] = _merge_fields([blk], blk.text.strip(), 1.0)
        if name_seg is not None:
            addr_lines = _block_after(name_seg, page1)
            if addr_lines:
                text = _clean_address(", ".join(o.text.strip() for o in addr_lines))
                out["customer_address"] = _merge_fields(addr_lines, text, 1.0)
    return out


def _plausible_name(text: str | None) -> bool:
    """A party name, not a label, a title, a sentence or an address line."""
    if not text or text.rstrip().endswith(":"):
        return False  # a label ("RECHNUNGSEMPF ANGER :")
    t = text.strip(" :'\"‘’")
    if _alpha(t) < 3 or _is_title(t) or len(t.split()) > 7 or t.endswith((":", ".")) and len(t.split()) > 4:
        return False
    hits = find_labels(t)
    if sum(h.end - h.start for h in hits if h.weight >= 0.7) >= 0.6 * len(t):
        return False
    if re.match(r"^\d+[a-zA-Z]?\b,?\s", t) or re.search(r"(?i)(?:stra(?:ss|ß)e|str\.|weg|gasse|allee|ring|"
                                                       r"platz|damm)\s*\d", t):
        return False  # a street line: house number first, or a street name and number
    return not (sum(ch.isdigit() for ch in t) >= 3 and _ADDRESS.search(t))


def _customer_block(ctx: _Ctx, segs: list[_L], used: set[int], vendor: Field | None) -> _L | None:
    """Without a customer label: the first address block in the upper half of page one that is
    not the vendor's (a name line, then lines ending with a postcode line), e.g. the address
    window of a DIN 5008 letter."""
    vname = _fold(vendor.value or "") if vendor is not None else ""
    for ln in segs:
        if id(ln) in used or ctx.rel_y.get(ln.idx, 1.0) > 0.5:
            continue
        t = ln.text.strip()
        if not _plausible_name(t) or _STOP_ADDR.search(t) or _POSTCODE.search(t) or _DATE.search(t):
            continue
        if vname and (_fold(t).startswith(vname) or vname.startswith(_fold(t))):
            continue
        if any(h.weight >= 0.5 for h in ln.hits):
            continue
        addr = _block_after(ln, segs)
        if len(addr) >= 1 and (_END_POSTCODE.search(addr[-1].text.strip()) or _CITY_LINE.match(addr[-1].text.strip())
                               or (_COUNTRY.match(addr[-1].text.strip()) and len(addr) >= 2)):
            if vendor is not None and vendor.bbox is not None and ln.pno == vendor.page and \
                    abs(ln.box[1] - vendor.bbox[1]) < 5:
                continue
            return ln
    return None


_SDN = {"sdn", "son", "sin", "san", "sen", "sdm", "5dn", "s0n", "sbn", "spn"}
_BHD = {"bhd", "bho", "bid", "beld", "bied", "8hd", "6hd", "rhd", "bad", "bhn", "bhp", "ehd", "bud", "bld", "bhd."}


_SB = re.compile(r"(?<=\s)[S5$][/|][B8DRP](?=\.?(?:\s*\([^()]*\))?$)")


def _fix_legal(text: str) -> str:
    """Undo common OCR slips in the Malaysian legal forms "SDN BHD" ("SON BHD", "SDN BHO",
    "Sdn.Rhd"; a word of two to four letters up to two letters from BHD when it ends the name)
    and "S/B" ending a name ("S/8", "5/B").

    >>> _fix_legal("HERO SDN 6HD"), _fix_legal("Segi Sdn.Rhd"), _fix_legal("99 SPEED MART S/8 (519537-X)")
    ('HERO SDN BHD', 'Segi Sdn.Bhd', '99 SPEED MART S/B (519537-X)')
    >>> _fix_legal("ALAM) SDN EHI"), _fix_legal("Guardian Sdn Hhd (1234-X)"), _fix_legal("X SDN KLANG BRANCH")
    ('ALAM) SDN BHD', 'Guardian Sdn Bhd (1234-X)', 'X SDN KLANG BRANCH')
    >>> _fix_legal("GARDENIA BAKERIES(KL)SDN EHD(139386X)")
    'GARDENIA BAKERIES(KL)SDN BHD(139386X)'
    """
    toks = re.split(r"(\s+|(?<=\w)\.(?=\w)|(?<=\w)(?=\()|(?<=\))(?=\w))", text)  # words at even indices
    for k in range(0, len(toks) - 2, 2):
        a = re.sub(r"[^\w]", "", toks[k]).lower()
        b = re.sub(r"[^\w]", "", toks[k + 2]).lower()
        # after SDN, the name's last word (before its number) is BHD read badly ("SDN EHI", "SDN BIID")
        last = k + 4 >= len(toks) or bool(re.match(r"[(\d]", toks[k + 4]))
        slipped = last and 2 <= len(b) <= 4 and Levenshtein.distance(b, "bhd", score_cutoff=2) <= 2
        if a in _SDN and (b in _BHD or slipped) and (a != "sdn" or b != "bhd"):
            up = toks[k].isupper() or toks[k + 2].isupper()
            toks[k] = re.sub(r"\w+", "SDN" if up else "Sdn", toks[k], count=1)
            toks[k + 2] = re.sub(r"\w+", "BHD" if up else "Bhd", toks[k + 2], count=1)
    return _SB.sub("S/B", "".join(toks))


_NAME_LABEL = re.compile(r"^(?:dimiliki(?:\s+oleh)?|owned\s+by|operated\s+by)\s*:\s*(?=\w)", re.IGNORECASE)


_ABBREVIATION_END = re.compile(r"(?:^|[\s.(])(?:[^\W\d_]{1,3}|corp|bros|intl)\.$", re.IGNORECASE)
"""A name ending in an abbreviation's full stop: a word of up to three letters ("BHD.", "CO.",
"LTD."), initials ("S.H.H."), or one of a few longer abbreviations of company names. The names
of the 200 sroie_train receipts end in a full stop 7 times, always after "BHD" or "CO"."""


def _fix_name(text: str) -> str:
    """Undo slips that are only slips in a company name, where numbers are rare: initials read
    apart joined ("D. I.Y." -> "D.I.Y."), a one between the dots of initials ("D.1.Y.") -> I (not
    one starting a word: "1STOP", "1 UTAMA"), a zero ending an upper-case word ("AMAN0", "HAI-0")
    -> O, "(H)" before the legal form -> "(M)" (the Malaysian "(M) Sdn Bhd"), a hyphen glued before
    the legal form -> a space, an opening bracket read as a letter when a closing one has none
    ("TSETIA ALAM)"), a speck read as a middle dot between words ("INTERNATIONAL·SDN") -> a space;
    an owner label before the name ("Dimiliki:") is dropped, and so is a full stop after the
    name's last word unless that word is an abbreviation (:data:`_ABBREVIATION_END`): a name
    is no sentence, and the stop a recogniser reads there is a speck ("MEI LET RESTAURANT.").

    >>> _fix_name("AMAN0 SDN BHD"), _fix_name("MR D. 1.Y. (H) SDN BHD"), _fix_name("HAI-0 RAYA BHD")
    ('AMANO SDN BHD', 'MR D.I.Y. (M) SDN BHD', 'HAI-O RAYA BHD')
    >>> _fix_name("HARDWARE ENTERPRISE TSETIA ALAM) SDN BHD"), _fix_name("THE TEA SHOP (M)) SDN BHD")
    ('HARDWARE ENTERPRISE (SETIA ALAM) SDN BHD', 'THE TEA SHOP (M)) SDN BHD')
    >>> _fix_name("UNIHAKKA INTERNATIONAL-SDN BHD"), _fix_name("Dimiliki: banh mi cafe sdn bhd"), _fix_name("7-11 1STOP")
    ('UNIHAKKA INTERNATIONAL SDN BHD', 'banh mi cafe sdn bhd', '7-11 1STOP')
    >>> _fix_name("UNIHAKKA INTERNATIONAL·SDN BHD")
    'UNIHAKKA INTERNATIONAL SDN BHD'
    >>> _fix_name("SANYU STATIONERY SHOP."), _fix_name("AEON CO. (M) BHD."), _fix_name("S.H.H. MOTOR CORP.")
    ('SANYU STATIONERY SHOP', 'AEON CO. (M) BHD.', 'S.H.H. MOTOR CORP.')
    """
    text = _NAME_LABEL.sub("", text)
    if not _ABBREVIATION_END.search(text):
        text = re.sub(r"(?<=[^\W\d_]{2})\.$", "", text)
    text = re.sub(r"(?<=\w)\s*·\s*(?=\w)", " ", text)  # a speck read as a middle dot between words
    if text.count(")") > text.count("("):  # the opening bracket read as a letter: "TSETIA ALAM)"
        toks = text.split(" ")
        close = next(i for i, t in enumerate(toks) if ")" in t)
        for i in range(close, max(-1, close - 3), -1):
            if re.fullmatch(r"[CTIl1|][A-Z]{3,}\)?", toks[i]):
                toks[i] = "(" + toks[i][1:]
                text = " ".join(toks)
                break
    text = re.sub(r"\b([A-Z])\. (?=[A-Z1]\.)", r"\1.", text)  # initials read apart: "D. I.Y."
    text = re.sub(r"(?<=\b[A-Z]\.)1(?=\.)", "I", text)
    text = re.sub(r"(?<=[A-Z]{2})0\b|(?<=[A-Z]{2}-)0\b", "O", text)
    text = re.sub(r"\(H\)(?=\s*(?:sdn|bhd|berhad)\b)", "(M)", text, flags=re.IGNORECASE)
    return re.sub(r"(?<=\w)-(?=(?:sdn|bhd)\b)", " ", text, flags=re.IGNORECASE)


_TRADE_WORDS = frozenset({
    "stationery", "stationer", "hardware", "enterprise", "enterprises", "trading", "restaurant", "restoran",
    "pharmacy", "bakery", "bakeries", "supermarket", "hypermarket", "minimarket", "marketing", "international",
    "industries", "industry", "holdings", "services", "engineering", "electrical", "electronics", "furniture",
    "healthcare", "health", "beauty", "coffee", "noodle", "noodles", "seafood", "kitchen", "confectionery",
    "distributor", "distributors", "motor", "motors", "books", "bookstore", "store", "stores", "shop", "mart",
    "market", "gallery", "station", "petrol", "parking", "advertising", "printing", "retail", "food", "foods",
    "cafe", "bistro", "medical", "clinic", "optical", "florist", "textile", "jewellery", "computer",
    "automobile", "travel", "hotel", "company", "corporation", "manufacturing", "handicraft", "tailoring",
    "catering", "supplies", "supply", "salon", "laundry", "venture", "ventures", "resources", "solutions",
    "technology", "systems", "global", "kedai", "perniagaan", "perusahaan", "syarikat", "gerai", "farmasi",
    "runcit", "makanan", "minuman", "borong", "pasar", "kopitiam", "vegetarian", "grocery", "groceries",
    "beverage", "beverages",
})
"""English and Malay words of shop and company names (trades, goods, business forms) that a
one-letter slip is undone against and that glued words are split at."""


def _word_slip(w: str, vocab: frozenset[str]) -> str | None:
    """The word of ``vocab`` that ``w`` is one OCR slip away from, if exactly one: a letter read as
    one that looks like it ("TANAN", "HARDMARE"), or in a word of seven letters or more a letter
    dropped or added ("STATONERY"); "Serviced" is not "services"."""
    low = w.lower()
    def near(v: str) -> bool:
        if len(v) == len(low):
            return _lookalike(v, low)
        return len(low) >= 7 and abs(len(v) - len(low)) == 1 and Levenshtein.distance(v, low, score_cutoff=1) <= 1

    # a plural is not a slip ("SERVICE", "RESTAURANTS")
    best = [v for v in vocab if near(v) and v.rstrip("s") != low.rstrip("s")]
    return best[0] if len(best) == 1 else None


def _fix_trade_words(text: str) -> str:
    """Undo one-letter slips in the trade words of a shop name ("STATONERY", "HARDhARE",
    "Heauty") and split a long run of glued words at them ("SANYUSTATIONERYSHOP" -> "SANYU
    STATIONERY SHOP", "KEDAIPAPAN" -> "KEDAI PAPAN", "STATONERYSHOP" -> "STATIONERY SHOP"; the
    pieces left are trade words or five letters or more, so "Kitchenette" stays; a word of the
    lexicon, "BOOKSTORES", is not split), in the case the word was printed in.

    >>> _fix_trade_words("SANYUSTATIONERYSHOP"), _fix_trade_words("AIK HUAT HARDhARE"), _fix_trade_words("Health And Heauty")
    ('SANYU STATIONERY SHOP', 'AIK HUAT HARDWARE', 'Health And Beauty')
    >>> _fix_trade_words("SANYU STATONERYSHOP")
    'SANYU STATIONERY SHOP'
    >>> _fix_trade_words("SUPERMARKET WORKSHOP STORY RESTAURANTS SERVICE Kitchenette Serviced BOOKSTORES")
    'SUPERMARKET WORKSHOP STORY RESTAURANTS SERVICE Kitchenette Serviced BOOKSTORES'
    """
    def split(w: str) -> str:
        low = w.lower()
        if len(w) < 10 or low in _TRADE_WORDS:
            return w
        hits = sorted(((low.find(v), v) for v in _TRADE_WORDS if len(v) >= 5 and v in low), key=lambda t: -len(t[1]))
        if hits and lexicon.zipf(low):  # "BOOKSTORES" is a word (the lists load only when asked)
            return w
        for at, v in hits:
            head, tail = w[:at], w[at + len(v):]
            if all(not p or len(p) >= 5 or p.lower() in _TRADE_WORDS for p in (head, tail)):
                return " ".join(p for p in (split(head), w[at:at + len(v)], split(tail)) if p)
        # two trade words glued, the first read with a slip ("STATONERYSHOP"): fixed in word()
        for k in range(5, len(w) - 3):
            if w[k:].lower() in _TRADE_WORDS and _word_slip(w[:k], _TRADE_WORDS) is not None:
                return w if lexicon.zipf(low) else f"{w[:k]} {w[k:]}"
        return w

    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        if len(w) < 5 or w.lower() in _TRADE_WORDS:
            return split(w)
        v = _word_slip(w, _TRADE_WORDS)
        if v is None:
            parts = split(w)
            return parts if parts == w else re.sub(r"[A-Za-z]+", word, parts)
        upper = sum(ch.isupper() for ch in w) > len(w) / 2
        return v.upper() if upper else v.capitalize() if w[0].isupper() else v

    return re.sub(r"[A-Za-z]+", word, _join_split_words(text, _TRADE_WORDS))


# A word the recogniser was sure of is left as read, however rare: RapidOCR's word confidence is
# 0.987-0.995 on rare words read right in sroie_train names ("MENTAI", "OGN") and 0.93-0.97 on
# one-letter slips ("CNE", "1DEA", "Dwner").
_DOUBT = 0.98
# the engines whose word confidences tell slips from rare words: Tesseract's do not (surnames on
# the generated invoices, "Techer", "Binner", "Stey", read right at below 0.98)
_SLIP_ENGINES = frozenset({"rapidocr"})
_DIGIT_AS = {"0": "o", "1": "il", "5": "s", "8": "b", "6": "g", "2": "z"}
# capitals that look alike (the lower-case ones are _LOOKALIKE's: "e" and "o" do, "E" and "O" do not)
_LOOKALIKE_UPPER = [set(g) for g in ("HMNW", "OQDCG", "EF", "FP", "PR", "KR", "IJLT", "UV", "VY")]


def _slips_of(tok: str) -> Iterable[tuple[str, bool]]:
    """What ``tok`` may have been before one OCR slip, in lower case: one letter (or digit) read
    as one that looks like it in its case (``True``), or, in a word of six letters or more, one
    letter dropped or added (``False``)."""
    low = tok.lower()
    for i, ch in enumerate(tok):
        subs = set(_DIGIT_AS.get(ch, ""))
        for g in _LOOKALIKE_UPPER if ch.isupper() else _LOOKALIKE:
            if ch in g:
                subs |= {c.lower() for c in g}
        subs.discard(low[i])
        for r in subs:
            yield low[:i] + r + low[i + 1:], True
    if len(low) >= 6 and low.isalpha():
        for i in range(len(low) + 1):
            for r in "abcdefghijklmnopqrstuvwxyz":
                yield low[:i] + r + low[i:], False
        for i in range(len(low)):
            yield low[:i] + low[i + 1:], False


def _unslip_word(tok: str) -> str | None:
    """The common word ``tok`` is one OCR slip away from (:func:`_slips_of`), when ``tok`` is no
    word at all and one common word stands out: at least 3.5 on the Zipf scale (4.0 for a letter
    dropped or added, 4.5 for four letters, 6 — "one", "the" — for three) and half a point above
    any other. In the case ``tok`` was printed in.

    >>> _unslip_word("TIHES"), _unslip_word("1DEA"), _unslip_word("Dwner"), _unslip_word("CNE")
    ('TIMES', 'IDEA', 'Owner', 'ONE')
    >>> _unslip_word("HUAT"), _unslip_word("OGN"), _unslip_word("TIMES"), _unslip_word("ADVANCO"), _unslip_word("Mentai")
    (None, None, None, None, 'Mental')
    """
    low = tok.lower()
    if (len(low) < 3 or not re.fullmatch(r"[a-z0-9]+", low) or sum(ch.isalpha() for ch in low) < len(low) - 1
            or lexicon.zipf(low)):
        return None
    best: dict[str, tuple[float, bool]] = {}
    for cand, sub in _slips_of(tok):
        z = lexicon.zipf(cand, lexicon.SLIP_LANGS)
        if z and z > best.get(cand, (0.0, True))[0]:
            best[cand] = (z, sub)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
    if not ranked:
        return None
    word, (z, sub) = ranked[0]
    need = 6.0 if len(low) == 3 else 4.5 if len(low) == 4 else 3.5 if sub else 4.0
    if z < need or len(ranked) > 1 and ranked[1][1][0] > z - 0.5:
        return None
    letters = [ch for ch in tok if ch.isalpha()]
    if sum(ch.isupper() for ch in letters) > len(letters) / 2:
        return word.upper()
    return word.capitalize() if tok[0].isupper() or not tok[0].isalpha() else word


def _fix_rare_words(text: str, words: Sequence[Word]) -> str:
    """Undo OCR slips in a printed name with the help of word frequencies (:mod:`lexicon`): two
    pieces joined when together they are a word and one of them alone is none ("Wor ld",
    "Guar dian"), and a word that is none put right when the recogniser doubted it (confidence
    below ``_DOUBT`` on the ``words`` it was read from) and it is one look-alike letter from a
    common word (:func:`_unslip_word`: "TIHES", "SFEED", "CNE ONE THREE"). Rare words read with
    confidence ("MENTAI") or read the same way twice, words not in ``words`` (the caller passes
    only those of engines in ``_SLIP_ENGINES``), codes and numbers stay as read.

    >>> ws = [Word(text=t, bbox=(0, 0, 1, 1), box=(0, 0, 1, 1), confidence=c) for t, c in [("CNE", 0.93), ("MENTAI", 0.99)]]
    >>> _fix_rare_words("CNE ONE Guar dian MENTAI", ws)
    'ONE ONE Guardian MENTAI'
    >>> ws = [Word(text=t, bbox=(0, 0, 1, 1), box=(0, 0, 1, 1), confidence=0.9) for t in ("KAPAR", "BAIANG", "KAPAR")]
    >>> _fix_rare_words("KAPAR BAIANG KAPAR", ws)
    'KAPAR BATANG KAPAR'
    """
    text = _join_pieces(text, lambda a, b: len(a + b) >= 5 and bool(lexicon.zipf(a + b))
                        and not (lexicon.zipf(a) and lexicon.zipf(b)), whole=True)
    conf: dict[str, float] = {}
    seen: dict[str, int] = {}
    for w in words:
        for t in re.findall(r"[A-Za-z0-9]+", w.text):
            conf[t.lower()] = min(conf.get(t.lower(), 1.0), w.confidence)
            seen[t.lower()] = seen.get(t.lower(), 0) + 1
    for t, n in seen.items():
        if n > 1:  # read the same way twice: printed so ("KAPAR", the town, not "KAPAK")
            conf[t] = 1.0

    def word(m: re.Match[str]) -> str:
        tok = m.group(0)
        if conf.get(tok.lower(), 1.0) >= _DOUBT:
            return tok
        return _unslip_word(tok) or tok

    return re.sub(r"(?<![\w'])\w+(?![\w'])", word, text)


def _fix_rare_words_of(text: str, lines: Sequence[_L]) -> str:
    """:func:`_fix_rare_words` for a field read from ``lines``: on OCR'd pages only, with the
    confidences of the words that engines of ``_SLIP_ENGINES`` read."""
    if not lines or lines[0].page.text_source != "ocr":
        return text
    return _fix_rare_words(text, [w for ln in lines if ln.page.engine in _SLIP_ENGINES for w in ln.words])


_ZERO_IN_WORD = re.compile(r"(?<=[A-Za-z])0+(?=[A-Za-z])|(?<=\b[A-Z])0(?=\.|\b)")
_ONE_IN_WORD = re.compile(r"(?<=[A-Za-z])1(?=[A-Za-z])|(?<=[A-Za-z][a-z])1(?![\w/-])")
_O_IN_NUMBER = re.compile(r"\b(?=[\dOo]*\d{2})[\dOo]*[Oo][\dOo]*\b")
_BRACKET_GLUE = re.compile(r"(?<=[\w.])(?=\([^()\d]{1,20}\))|(?<=\))(?=\w)")


def _one_in_word(m: re.Match[str]) -> str:
    """The letter for a one read between two letters: ``l`` after a lower-case letter, else
    ``I``; the one stays inside a short upper-case code (the UK postcode district ``E1U``)."""
    text, i = m.string, m.start()
    a, b = i, i + 1
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    if text[i - 1].islower():
        return "l"
    return "1" if _alpha(text[a:b]) < 3 else "I"


def _fix_glyphs(text: str) -> str:
    """Undo digit/letter slips the recogniser makes inside printed names and addresses, where a
    word is letters and a number is digits: zeros inside words ("F00DICI0US", "S0ON", "L0T",
    "C0.") -> O, a one between letters ("SET1A", "Peta1ing") -> I or l after the case of the
    letter before it, a one ending a lower-case word ("Leve1", "Te1") -> l, a letter O inside a number ("4600O", "403o0") -> 0; and spaces around a
    short bracketed word glued to its neighbours ("BAKERIES(KL)SDN" -> "BAKERIES (KL) SDN").
    Mixed codes (``U13/X``, ``G-13``, ``SS21/34``) are left alone: their digits are not flanked
    by letters.

    >>> _fix_glyphs("KMF F00DICI0US SDN BHD C0. L0T 3, 4600O SET1A Peta1ing U13/X G-13 BAKERIES(KL)SDN")
    'KMF FOODICIOUS SDN BHD CO. LOT 3, 46000 SETIA Petaling U13/X G-13 BAKERIES (KL) SDN'
    >>> _fix_glyphs("Brighton, E1U 1PU"), _fix_glyphs("Leve1 6, Te1 : 03-1, PJU1, U1/48")
    ('Brighton, E1U 1PU', 'Level 6, Tel : 03-1, PJU1, U1/48')
    """
    text = _ZERO_IN_WORD.sub(lambda m: "O" * len(m.group(0)), text)
    text = _ONE_IN_WORD.sub(_one_in_word, text)
    text = _O_IN_NUMBER.sub(lambda m: m.group(0).replace("O", "0").replace("o", "0"), text)
    return _BRACKET_GLUE.sub(" ", text.replace(")(", ") (")).replace("  ", " ")


def _strip_regno(text: str) -> str:
    """Clean a printed name: drop registration numbers ("(728515-M)", "273500-U (KSB)", "#000002")
    and stray punctuation at the ends."""
    # a bracketed number glued to the name ("SDN BHD(139386X)") is a token of its own
    toks = re.sub(r"(?<=[^\s(])\((?=[^)]*\d{3})", " (", text).split()
    # leading tokens that are numbers / codes
    while toks and (sum(ch.isdigit() for ch in toks[0]) >= 4 or not re.search(r"[\w&]", toks[0])):
        toks = toks[1:]
    out: list[str] = []
    for k, t in enumerate(toks):
        if k > 0 and sum(ch.isdigit() for ch in t) >= 4:
            break
        out.append(t)
    # an opening bracket left without its closing one (its number was cut off)
    while out and "(" in out[-1] and ")" not in out[-1]:
        out.pop()
    t = " ".join(out).strip(" ,;:|*>~-_'\"“”‘’")
    t = re.sub(r"^[^\w&(]+", "", t)
    return t or text.strip()


# --------------------------------------------------------------------------------------------
# currency
# --------------------------------------------------------------------------------------------
def _currency(ctx: _Ctx, fields: dict[str, Field]) -> Field | None:
    for name in ("total", "amount_due", "subtotal"):
        f = fields.get(name)
        if f is not None and f.text:
            cur = detect_currency(f.text)
            if cur:
                return Field(value=cur, text=f.text, confidence=f.confidence, page=f.page,
                             bbox=f.bbox, engine=ENGINE)
    f = fields.get("total")
    if f is not None:
        # the currency printed on the total's row ("TOTAL (RM) 12.00", "Total EUR 12,00")
        for ln in ctx.lines:
            if ln.pno == f.page and f.bbox and ln.box[1] <= f.bbox[3] and ln.box[3] >= f.bbox[1]:
                cur = detect_currency(re.sub(r"\b(?:[A-Z]{3})\b", lambda m: m.group(0) if m.group(0) in
                                             ("USD", "EUR", "GBP", "CHF", "MYR", "SGD", "CAD", "AUD")
                                             else "", ln.text))
                if cur:
                    return Field(value=cur, text=cur, confidence=0.7 * f.confidence, page=f.page,
                                 bbox=list(ln.box), engine=ENGINE)
    counts: dict[str, int] = {}
    for m in re.finditer(r"(?:€|\$|£|¥|\bEUR\b|\bUSD\b|\bGBP\b|\bCHF\b|\bRM\b|\bMYR\b|\bSGD\b)", ctx.text):
        cur = detect_currency(m.group(0))
        if cur:
            counts[cur] = counts.get(cur, 0) + 1
    if counts:
        cur = max(counts, key=lambda k: counts[k])
        return Field(value=cur, text=cur, confidence=0.5, page=None, bbox=None, engine=ENGINE)
    return None


# --------------------------------------------------------------------------------------------
# line items
# --------------------------------------------------------------------------------------------
_HEADER = {
    "description": ("description", "item", "items", "article", "product", "details", "particulars",
                    "beschreibung", "bezeichnung", "artikel", "leistung", "désignation", "designation",
                    "libellé", "produit", "descr"),
    "quantity": ("qty", "quantity", "menge", "anzahl", "qté", "qte", "quantité", "quantite", "units",
                 "stk", "pcs", "oty", "aty"),
    "unit_price": ("price", "unit price", "rate", "u/price", "unit", "preis", "einzelpreis", "e-preis",
                   "prix", "prix unitaire", "pu", "p.u.", "uprice"),
    "amount": ("amount", "total", "amt", "betrag", "gesamt", "gesamtpreis", "montant", "total ht",
               "line total", "ext", "value", "sum"),
}


_HEADER_WORDS = {k: col for col, keys in _HEADER.items() for k in keys}


def _header_kind(text: str) -> str | None:
    t = _fold(text).strip(":.()")
    col = _HEADER_WORDS.get(t)
    if col is None and len(t) >= 5:
        for k, c in _HEADER_WORDS.items():
            if len(k) >= 5 and t.startswith(k):
                return c
    return col


def _header_cols(words: Sequence[Word]) -> dict[str, tuple[float, float]] | None:
    cols: dict[str, tuple[float, float]] = {}
    for w in words:
        col = _header_kind(w.text)
        if col is not None and col not in cols:
            cols[col] = (w.bbox[0], w.bbox[2])
    kinds = set(cols)
    if len(kinds) >= 2 and ({"quantity", "unit_price", "amount"} & kinds) and (
        "description" in kinds or len(kinds) >= 3
    ):
        return cols
    return None


def _totals_line(ctx: _Ctx, ln: _L, stop: set[str]) -> bool:
    """A subtotal/total/tax/payment line: such a label in its first half, and an amount."""
    if not any(h.field in stop and h.start < 0.5 * len(ln.text) for h in ln.hits):
        return False
    return any(t[3] for t in _amounts_in(ln, 0, len(ln.text), ctx.decimal_comma)) or ln.text.rstrip().endswith(":")


_STOP_FIELDS = frozenset({"total", "subtotal", "tax_total", "_cash", "_change", "_rounding", "_count",
                          "discount", "amount_due", "_paid"})


def _is_totals_text(text: str) -> bool:
    """A totals row of a table ("Subtotal 1,234.00", "MwSt. 19 % 45,60 €"): such a label in the
    first half of the row, followed by an amount."""
    hits = _drop_modifiers(text, find_labels(text))
    for h in hits:
        if h.field in _STOP_FIELDS and h.start < 0.5 * len(text) and re.search(r"\d", text[h.end:]):
            return True
    return False


def _line_items(ctx: _Ctx, doc_type: str = "receipt") -> list[LineItem]:
    table = table_items(ctx.doc.pages, _is_totals_text, ctx.decimal_comma,
                        headerless=doc_type == "invoice")
    if table is not None:
        return table
    lines = ctx.lines
    stop = set(_STOP_FIELDS)
    header_i = None
    cols: dict[str, tuple[float, float]] | None = None
    for i, ln in enumerate(lines):
        c = _header_cols(ln.words)
        if c is None and i + 1 < len(lines) and any(_header_kind(w.text) for w in ln.words):
            # header words printed over two physical lines
            nxt = lines[i + 1]  # not a totals line under a count ("Items: 12" / "Sub Total 37.22")
            if nxt.pno == ln.pno and nxt.pbox[1] - ln.pbox[3] < 0.8 * ln.h and not _totals_line(ctx, nxt, stop):
                c = _header_cols(ln.words + nxt.words)
                if c is not None:
                    header_i = i + 1
                    cols = c
                    break
        if c is not None:
            header_i, cols = i, c
            break
    # the end: first line after the header (or after the top third) carrying a totals label
    start = header_i + 1 if header_i is not None else None
    if start is None:
        # receipts without a header: after the last top line with a date/time/cashier/receipt no
        start = 0
        for i, ln in enumerate(lines):
            if _totals_line(ctx, ln, stop):
                break
            if _DATE.search(ln.text) or re.search(r"\d:\d\d", ln.text) or re.search(
                    r"(?i)\b(?:cashier|receipt|invoice|table|bill|trans|slip|doc|counter|server)\b", ln.text):
                start = i + 1
    items: list[LineItem] = []
    pending: list[tuple[_L, list[int]]] = []
    for ln in lines[start:]:
        if _totals_line(ctx, ln, stop):
            break
        amts = _amounts_in(ln, 0, len(ln.text), ctx.decimal_comma)
        dec_amts = [t for t in amts if t[3]]
        if not dec_amts:
            if _alpha(ln.text) >= 3:
                pending.append((ln, list(range(len(ln.words)))))
                pending = pending[-2:]
            continue
        amount = dec_amts[-1]
        used = set(amount[2])
        unit = None
        if len(dec_amts) >= 2:
            unit = dec_amts[-2]
            used |= set(unit[2])
        qty = None
        for v, txt, pos, dec in amts:
            if set(pos) & used or dec and not txt.replace(".", "").replace(",", "").isdigit():
                continue
            if cols and "quantity" in cols:
                qx0, qx1 = cols["quantity"]
                w = ln.words[pos[0]]
                if not (w.bbox[2] > qx0 - 40 and w.bbox[0] < qx1 + 40):
                    continue
            if 0 < v < 1000 and len(txt) <= 5:
                qty = (v, txt, pos, dec)
                used |= set(pos)
                break
        if qty is None:
            m = re.search(r"(?<![\w.])(\d{1,3})\s?[xX×]\b|\b[xX×]\s?(\d{1,3})\b", ln.text)
            if m:
                pos = ln.span_words(*m.span())
                qty = (Decimal(m.group(1) or m.group(2)), m.group(0), pos, False)
                used |= set(pos)
        desc_pos = [k for k in range(len(ln.words)) if k not in used and _alpha(ln.words[k].text) >= 1]
        desc_words = [ln.words[k].text for k in desc_pos]
        desc_txt = " ".join(desc_words).strip()
        if _alpha(desc_txt) < 2 and pending:
            p_ln, p_pos = pending[-1]
            desc_txt = " ".join(p_ln.words[k].text for k in p_pos)
            d_line, d_pos = p_ln, p_pos
        else:
            d_line, d_pos = ln, desc_pos
        pending = []
        li = LineItem(amount=_Cand("amount", format_money(amount[0]), amount[1], 0.8, ln,
                                   amount[2]).to_field())
        if unit is not None:
            li.unit_price = _Cand("unit_price", format_money(unit[0]), unit[1], 0.6, ln, unit[2]).to_field()
        if qty is not None:
            li.quantity = _Cand("quantity", str(qty[0].normalize()) if qty[0] == qty[0].to_integral()
                                else str(qty[0]), qty[1], 0.6, ln, qty[2]).to_field()
            if unit is None and qty[0] != 0:
                pass
        if desc_txt and _alpha(desc_txt) >= 2:
            li.description = _Cand("description", desc_txt, desc_txt, 0.6, d_line, d_pos).to_field()
        items.append(li)
    return items
