"""Rules QA: answer a question about a document without model weights, with the evidence box.

Three steps, all offline:

1. **Understand the question** (:func:`parse_question`): strip the question words (en/de/fr) to
   the *label phrase* ("What is the invoice number?" → ``invoice number``), note the answer type
   the question word implies (*when* → date, *how much* → money, …), and match the phrase to a
   canonical field (``invoice_id``) through a synonym table — lexically, and semantically with the
   offline MiniLM (:mod:`extractors.semantic`) when the lexical match is unsure. "quantity of item
   2" becomes a line-item question.
2. **Answer from the extraction**: the registered classifier and extractor run once per document
   (cached); a canonical field or a line-item cell answers field questions, and the extractor's
   key-value pairs answer questions about printed labels.
3. **Layout search**: find the printed label that best matches the phrase on the page (word
   n-grams of each line, fuzzy match; MiniLM for synonyms), and read the value to its right on the
   same row, or below it in the same column; multi-line values (addresses, long form answers)
   continue while the following lines stay aligned with the value.

Candidates from all sources are scored; an answer below :attr:`RulesQA.min_confidence` becomes
"I don't know" (``answer=None``) — a random word is never returned. On forms a learned ranker
(``qa_rank.json``, :func:`rank_features`) then reorders the best candidates; the scores stay.

>>> parse_question("What is the invoice number?").field
'invoice_id'
>>> q = parse_question("What is the quantity of item 2?")
>>> (q.item, q.item_field)
(1, 'quantity')
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.document import Document, Page, Word, union_box
from schemas.record import Answer

if TYPE_CHECKING:
    from extractors.registry import Extraction
    from extractors.settings import Settings

__all__ = ["FIELD_LABELS", "Query", "RulesQA", "find_labels", "parse_question", "read_value"]

log = logging.getLogger("docai.qa")

# -- question understanding -------------------------------------------------------------------
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "invoice_id": ("invoice number", "invoice no", "invoice id", "inv no", "bill number",
                   "bill no", "document number", "receipt number", "receipt no", "reference number",
                   "credit note number", "credit note no", "rechnungsnummer", "rechnung nr",
                   "rechnungs no", "belegnummer", "gutschrift no", "gutschriftsnummer",
                   "numero de facture", "facture no", "no de facture", "avoir no", "no d avoir"),
    "invoice_date": ("invoice date", "date of invoice", "billing date", "issue date", "date issued",
                     "rechnungsdatum", "date de facture", "date de la facture"),
    "due_date": ("due date", "payment due", "due by", "due", "invoice due", "payment due by", "pay by", "payment due date",
                 "faelligkeitsdatum", "faellig am", "faellig bis", "zahlbar bis", "date d echeance",
                 "echeance",
                 "date limite de paiement", "date limite", "a payer avant le", "payable le"),
    "transaction_date": ("date", "transaction date", "purchase date", "receipt date", "datum",
                         "date of purchase"),
    "transaction_time": ("time", "transaction time", "uhrzeit", "heure"),
    "total": ("total", "total amount", "grand total", "amount total", "total price", "sum",
              "total paid", "gesamtbetrag", "gesamt", "summe", "endbetrag", "rechnungsbetrag",
              "bruttobetrag", "montant total", "total ttc", "montant ttc", "net total"),
    "amount_due": ("amount due", "balance due", "amount payable", "balance", "total due",
                   "zu zahlen", "zahlbetrag", "montant du", "net a payer", "reste a payer",
                   "montant a payer", "a payer", "restbetrag", "offener betrag", "offen",
                   "montant restant du", "restant du", "solde du", "remaining balance",
                   "outstanding balance", "amount outstanding", "balance remaining"),
    "subtotal": ("subtotal", "sub total", "net amount", "total before tax", "amount before tax",
                 "zwischensumme", "nettobetrag", "netto", "sous total", "total ht", "montant ht"),
    "tax_total": ("tax", "tax amount", "total tax", "vat", "vat amount", "gst", "sales tax",
                  "mwst", "ust", "mehrwertsteuer", "umsatzsteuer", "tva", "montant tva", "total tva"),
    "discount": ("discount", "rabatt", "remise", "skonto"),
    "tip": ("tip", "gratuity", "trinkgeld", "pourboire"),
    "currency": ("currency", "waehrung", "devise"),
    "po_number": ("po number", "po no", "po", "purchase order", "purchase order number",
                  "order number", "order no", "bestellnummer", "auftragsnummer",
                  "bon de commande", "numero de commande"),
    "payment_terms": ("payment terms", "terms", "terms of payment", "zahlungsbedingungen",
                      "zahlungsziel", "conditions de paiement"),
    "vendor_name": ("vendor", "vendor name", "seller", "supplier", "sender", "issuer",
                    "company", "company name", "business name", "billed by", "from company",
                    "lieferant", "verkaeufer", "absender", "fournisseur", "vendeur"),
    "vendor_address": ("vendor address", "seller address", "supplier address", "sender address",
                       "company address", "address", "adresse", "anschrift"),
    "vendor_tax_id": ("vat number", "vat id", "tax id", "tax number", "gst id", "gst number",
                      "gst reg no", "ust idnr", "ust id", "steuernummer", "siret",
                      "numero de tva", "tva intracommunautaire", "company registration number"),
    "customer_name": ("customer", "customer name", "client", "buyer", "recipient", "bill to",
                      "billed to", "sold to", "kunde", "empfaenger", "destinataire"),
    "customer_address": ("customer address", "billing address", "client address",
                         "ship to", "shipping address", "delivery address", "lieferadresse",
                         "rechnungsadresse", "adresse de livraison"),
    "merchant_name": ("merchant", "merchant name", "store", "store name", "shop", "shop name",
                      "restaurant", "company", "company name", "business name", "geschaeft",
                      "magasin"),
    "merchant_address": ("merchant address", "store address", "shop address", "address",
                         "company address", "adresse", "anschrift"),
    "merchant_phone": ("phone", "phone number", "telephone", "tel", "telephone number",
                       "contact number", "telefon", "telefonnummer"),
}
"""Canonical field → phrases a question may use for it (normalised: lower case, no accents)."""

ITEM_FIELDS: dict[str, str] = {
    "quantity": "quantity", "qty": "quantity", "number": "quantity", "count": "quantity",
    "menge": "quantity", "anzahl": "quantity", "quantite": "quantity",
    "price": "unit_price", "unit price": "unit_price", "rate": "unit_price",
    "unit cost": "unit_price", "einzelpreis": "unit_price", "prix unitaire": "unit_price",
    "prix": "unit_price", "preis": "unit_price",
    "amount": "amount", "total": "amount", "line total": "amount", "cost": "amount",
    "betrag": "amount", "montant": "amount",
    "description": "description", "name": "description", "product": "description",
    "item": "description", "article": "description", "artikel": "description",
    "bezeichnung": "description", "designation": "description",
    "code": "product_code", "product code": "product_code", "sku": "product_code",
    "article number": "product_code", "part number": "product_code",
    "tax rate": "tax_rate", "vat rate": "tax_rate",
}
"""Line-item cell words → canonical line-item field."""

ALIASES: dict[str, tuple[tuple[str, float], ...]] = {
    "vendor_name": (("vendor_name", 1.0), ("merchant_name", 1.0)),
    "merchant_name": (("merchant_name", 1.0), ("vendor_name", 1.0)),
    "vendor_address": (("vendor_address", 1.0), ("merchant_address", 1.0)),
    "merchant_address": (("merchant_address", 1.0), ("vendor_address", 1.0)),
    "invoice_date": (("invoice_date", 1.0), ("transaction_date", 1.0)),
    "transaction_date": (("transaction_date", 1.0), ("invoice_date", 1.0)),
    "total": (("total", 1.0), ("amount_due", 0.8)),
    "amount_due": (("amount_due", 1.0), ("total", 0.8)),
}
"""Fields that answer for each other: the same thing on another document type (a receipt has a
``merchant_name``, not a ``vendor_name``: weight 1), or a fallback that is often but not always
the same value (the amount due is the total unless something was prepaid: weight 0.8)."""

FIELD_KIND: dict[str, str] = {
    "invoice_date": "date", "due_date": "date", "transaction_date": "date",
    "transaction_time": "time", "total": "money", "amount_due": "money", "subtotal": "money",
    "tax_total": "money", "discount": "money", "tip": "money", "invoice_id": "id",
    "po_number": "id", "vendor_tax_id": "id", "merchant_phone": "phone",
    "vendor_name": "name", "merchant_name": "name", "customer_name": "name",
    "vendor_address": "address", "merchant_address": "address", "customer_address": "address",
    "quantity": "number", "unit_price": "money", "amount": "money", "currency": "text",
    "payment_terms": "text", "description": "text", "product_code": "id", "tax_rate": "number",
}
"""What kind of value each canonical field holds (drives the type check of layout answers)."""

_LEAD = re.compile(
    r"^(?:(?:please|pls|kindly|can you|could you)\s+)?"
    r"(?:(?P<wh>what|which|who|whom|whose|when|where|how much|how many|how old|how long|"
    r"quel|quelle|quels|quelles|qui|quand|combien|wer|wann|wo|was|welche[rsmn]?|wie hoch|"
    r"wie viel|wieviel|wie lautet|wie)\b"
    r"(?:'s|’s|\s+(?:is|are|was|were|does|do|did|will|ist|sind|war|lautet|est|sont|etait|"
    r"s'agit-il de)\b)?"
    r"|(?:give|tell|show|find|get|read|extract)(?:\s+me)?)\s*",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"^(?:the|a|an|this|that|these|der|die|das|den|dem|des|le|la|les|l'|l’|un|"
                      r"une|du|de la)\s+", re.IGNORECASE)
_TAIL = re.compile(
    r"\s*(?:(?:on|in|of|for|from|at)\s+(?:the|this|that|my)\s+(?:invoice|receipt|document|"
    r"form|page|bill|letter|file)|(?:auf|in)\s+(?:der|dem|diesem|dieser)\s+(?:rechnung|beleg|"
    r"dokument|quittung)|(?:sur|de|dans)\s+(?:la|le|cette|ce)\s+(?:facture|document|recu|"
    r"ticket))\s*$",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(
    r"^(?:(?:according to|based on|looking at|from|in|on)\s+(?:the|this|its)\s+"
    r"(?:document|invoice|receipt|form|page|content and format|content|text)\s*,?\s*)",
    re.IGNORECASE)
_LISTED = re.compile(
    r"\s+(?:is|are|was|were)?\s*(?:listed|shown|given|stated|mentioned|printed|written|"
    r"indicated|reported)(?:\s+(?:in|on|for)\b.*)?$", re.IGNORECASE)
_YES_NO = re.compile(r"^(?:is|are|was|were|does|do|did|has|have|can|could|will|should|ist|sind|"
                     r"hat|gibt es|est-ce)\b", re.IGNORECASE)
_ITEM = re.compile(
    r"^(?P<cell>.*?)\s*(?:of|for|on|in|von|de|du)\s+(?:the\s+)?(?:(?P<ord>first|second|third|"
    r"fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)\s+)?"
    r"(?:line\s*item|item|line|position|row|pos|article|product|posten|artikel|ligne|"
    r"l'article|article)"
    r"(?:\s*(?:no\.?|number|#|nr\.?)?\s*(?P<num>\d{1,3}))?\s*$",
    re.IGNORECASE,
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_WH_KIND = {"when": "date", "wann": "date", "quand": "date", "how much": "money",
            "wie viel": "money", "wieviel": "money", "wie hoch": "money", "combien": "money",
            "how many": "number", "how old": "number", "how long": "text", "who": "name",
            "whom": "name", "whose": "name", "wer": "name", "qui": "name", "where": "address",
            "wo": "address"}
_WH_LABEL = {"how old": "age", "how long": "duration"}
_TOKEN_CANON = {"number": "no", "num": "no", "nr": "no", "nº": "no", "n°": "no", "#": "no",
                "numero": "no", "nummer": "no", "no.": "no", "nos": "no", "p.o.": "po",
                "p.o": "po", "p/o": "po"}


def _strip_accents(text: str) -> str:
    text = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("Ä", "ae").replace("Ö", "oe").replace("Ü", "ue")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def norm_label(text: str) -> str:
    """Label text for matching: lower case, no accents, ``#``/``No.``/``Nr`` → ``no``, no punctuation.

    >>> norm_label("Invoice #:"), norm_label("P.O. Number"), norm_label("Rechnungs-Nr.")
    ('invoice no', 'po no', 'rechnungs no')
    """
    text = _strip_accents(text.lower())
    out = []
    for tok in re.split(r"\s+", text.replace("#", " # ")):
        if not tok:
            continue
        canon = _TOKEN_CANON.get(tok) or _TOKEN_CANON.get(tok.rstrip(".:"))
        if canon:
            out.append(canon)
            continue
        tok = re.sub(r"[^\w]+", " ", tok).replace("_", " ")
        out.extend(_TOKEN_CANON.get(t, t) for t in tok.split())
    return " ".join(out)


@dataclass(frozen=True)
class Query:
    """What a question asks for.

    Attributes:
        question: the question as asked.
        label: the label phrase (what to look for on the page), as asked.
        wh: the question word (``what``, ``who``, ``when``, …) or ``None``.
        kind: the expected kind of value (``money``, ``date``, ``name``, …) or ``None``.
        fields: canonical fields it asks about, best first, with their match scores.
        item: 0-based line-item index (``-1`` for the last) of a line-item question.
        item_field: the line-item cell asked for.
    """

    question: str
    label: str
    wh: str | None = None
    kind: str | None = None
    fields: tuple[tuple[str, float], ...] = ()
    item: int | None = None
    item_field: str | None = None

    @property
    def field(self) -> str | None:
        """The best-matching canonical field (``None`` when the question is about no field)."""
        return self.fields[0][0] if self.fields else None

    @property
    def field_score(self) -> float:
        """Match score of :attr:`field` (0–1)."""
        return self.fields[0][1] if self.fields else 0.0


def label_phrase(question: str) -> tuple[str, str | None]:
    """The label phrase and question word of a question.

    >>> label_phrase("What is the invoice number?")
    ('invoice number', 'what')
    >>> label_phrase("Who is the sender of this letter?")
    ('sender', 'who')
    >>> label_phrase("TOTAL:")
    ('TOTAL', None)
    >>> label_phrase("According to the document, what permit number is listed in this form?")
    ('permit number', 'what')
    """
    q = " ".join(question.strip().split())
    q = q.rstrip("?？!. ").strip()
    q = _PREAMBLE.sub("", q)
    wh = None
    m = _LEAD.match(q)
    if m and m.end() > 0:
        wh = (m.group("wh") or "").lower() or None
        rest = q[m.end():]
        if rest or wh is None:
            q = rest
    for _ in range(2):
        q = _ARTICLE.sub("", q).strip()
    q = re.sub(r"\s*(?:of|for|from|on|in)\s+(?:this|the)\s+(?:letter|memo|fax|message)$", "", q,
               flags=re.IGNORECASE)
    q = _TAIL.sub("", q).strip()
    q = _LISTED.sub("", q).strip()
    # "When is the invoice due" → "invoice due"; "How much is the total" → "total"
    if wh in _WH_LABEL:  # "How old is the sender?" asks for an age: look for "Age"
        q = _WH_LABEL[wh]
    return q.strip(" :"), wh  # the colon of a copied label ("Date:") is not part of the phrase


_NORM_LABELS: dict[str, tuple[str, ...]] = {}


def _lexical_field_scores(phrase: str) -> dict[str, float]:
    if not _NORM_LABELS:
        _NORM_LABELS.update({k: tuple(dict.fromkeys(norm_label(s) for s in v))
                             for k, v in FIELD_LABELS.items()})
    from rapidfuzz import fuzz

    norm = norm_label(phrase)
    scores: dict[str, float] = {}
    if not norm:
        return scores
    for name, synonyms in _NORM_LABELS.items():
        best = 0.0
        for syn in synonyms:
            s = fuzz.ratio(norm, syn) / 100.0
            # short synonyms ("po", "tel") must match exactly
            if min(len(norm), len(syn)) <= 3 and norm != syn:
                s = min(s, 0.5)
            best = max(best, s)
        scores[name] = best
    return scores


_SEM_FIELD_CACHE: dict[str, dict[str, float]] = {}


def _semantic_field_scores(phrase: str) -> dict[str, float]:
    from extractors import semantic

    key = phrase.lower()
    if key in _SEM_FIELD_CACHE:
        return _SEM_FIELD_CACHE[key]
    names: list[str] = []
    texts: list[str] = []
    for name, synonyms in FIELD_LABELS.items():
        for syn in synonyms:
            names.append(name)
            texts.append(syn)
    sims = semantic.similarity([key], texts)[0]
    out: dict[str, float] = {}
    for name, s in zip(names, sims, strict=True):
        out[name] = max(out.get(name, 0.0), float(s))
    _SEM_FIELD_CACHE[key] = out
    return out


def parse_question(question: str, *, use_semantic: bool | None = None) -> Query:
    """Understand a question: label phrase, expected kind, canonical field(s), line item.

    Args:
        question: the question, e.g. ``"What is the total?"``, or just a label (``"Total"``).
        use_semantic: MiniLM matching when the lexical match is unsure; ``None`` = when available.

    >>> parse_question("When is the invoice due?").field
    'due_date'
    >>> parse_question("What is the TAR?").field is None
    True
    """
    label, wh = label_phrase(question)
    kind = _WH_KIND.get(wh or "")
    item = m = None
    item_field = None
    m = _ITEM.match(label)
    if m:
        cell = norm_label(m.group("cell") or "")
        index: int | None = None
        if m.group("num"):
            index = int(m.group("num")) - 1
        elif m.group("ord"):
            n = _ORDINALS[m.group("ord").lower()]
            index = n - 1 if n > 0 else -1
        if index is not None:
            item = index
            item_field = ITEM_FIELDS.get(cell) or ("quantity" if wh == "how many" else
                                                   "amount" if wh == "how much" else None)
            if item_field is None and cell:
                from rapidfuzz import process

                best = process.extractOne(cell, list(ITEM_FIELDS), score_cutoff=80)
                item_field = ITEM_FIELDS[best[0]] if best else None
            if item_field is None:
                item_field = "description"
            return Query(question, label, wh, FIELD_KIND.get(item_field, kind), (), item,
                         item_field)
    lex = _lexical_field_scores(label)
    scores = dict(lex)
    best_lex = max(lex.values(), default=0.0)
    if best_lex < 0.9 and label and use_semantic is not False:
        from extractors import semantic
        from extractors.errors import DependencyMissing

        try:
            sem = _semantic_field_scores(label)
        except DependencyMissing:
            semantic.warn_unavailable("qa")
        else:
            for name, s in sem.items():
                # cosine ≥ 0.75 between a question phrase and a synonym is a reliable match
                scores[name] = max(scores.get(name, 0.0), min(1.0, (s - 0.75) / 0.25 * 0.15 + 0.85)
                                   if s >= 0.75 else 0.0)
    if kind is not None:  # the question word narrows the field: "when" → a date field
        for name in scores:
            fk = FIELD_KIND.get(name)
            if fk is not None and fk != kind and not (kind == "name" and fk == "name"):
                scores[name] *= 0.7
    ranked = sorted(((n, s) for n, s in scores.items() if s >= 0.85), key=lambda t: -t[1])
    if not ranked and wh in ("who", "wer", "qui") and norm_label(label) in (
            "sender", "seller", "vendor", "supplier", "merchant", "issuer"):
        ranked = [("vendor_name", 0.9)]
    fields = tuple((n, round(s, 4)) for n, s in ranked[:3])
    if kind is None and fields and lex.get(fields[0][0], 0.0) >= 0.85:
        # the value's kind follows a field the question names; a field found only by meaning
        # ("Contact" ~ phone) is too loose to restrict what may be read next to the label
        kind = FIELD_KIND.get(fields[0][0])
    return Query(question, label, wh, kind, fields)


# -- value kinds --------------------------------------------------------------------------------
_AMOUNT_RE = re.compile(r"\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}(?!\d)|\d+[.,]\d{2}(?!\d)")
_DATE_RE = re.compile(
    r"\b(?:\d{1,4}[-/.]\s?\d{1,2}[-/.]\s?\d{2,4}"
    r"|\d{1,2}(?:st|nd|rd|th)?\.?\s*[-/.]?\s*[^\W\d_]{3,9}\.?\s*[-/.,]?\s*\d{2,4}"
    r"|[^\W\d_]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}|\d{8})\b")
_TIME_RE = re.compile(r"\b\d{1,2}[:.h]\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?\b")
_PHONE_RE = re.compile(r"\+?\(?\d[\d\s()./-]{6,}\d")
_ID_RE = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9\-_/.#]*")
_LETTERS = re.compile(r"[A-Za-zÀ-ÿ]{2,}")


def kind_score(text: str, kind: str | None) -> float:
    """How well ``text`` looks like a value of ``kind`` (1 good, ~0.3 poor, 0 hopeless).

    >>> kind_score("12.50", "money"), kind_score("Total", "money")
    (1.0, 0.0)
    """
    t = text.strip()
    if not t:
        return 0.0
    if kind is None or kind == "text":
        return 1.0 if re.search(r"\w", t) else 0.2
    if kind == "money":
        if _AMOUNT_RE.search(t):
            return 1.0
        return 0.5 if re.fullmatch(r"[^\w]*\d[\d,. ]*[^\w]*", t) else 0.0
    if kind == "date":
        m = _DATE_RE.search(t)
        if not m:
            return 0.0
        from schemas.normalize import NormalizationError, parse_date

        try:
            parse_date(m.group(0))
        except (NormalizationError, ValueError, OverflowError):
            return 0.3  # looks like a date but is none ("3-32.12"): OCR noise
        return 1.0
    if kind == "time":
        return 1.0 if _TIME_RE.search(t) else 0.0
    if kind == "phone":
        return 1.0 if _PHONE_RE.search(t) else 0.0
    if kind == "number":
        return 1.0 if re.search(r"\d", t) else 0.2
    if kind == "id":
        if re.search(r"\d", t):
            return 1.0
        return 0.4 if re.fullmatch(r"[A-Z0-9\-/]{3,}", t) else 0.1
    if kind in ("name", "address"):
        return 1.0 if _LETTERS.search(t) else 0.1
    return 1.0


def _trim_to_kind(words: list[Word], kind: str | None) -> list[Word]:
    """For money/date/time/id values, drop words around the value that are not part of it."""
    if kind == "money":
        hits = [i for i, w in enumerate(words) if _AMOUNT_RE.search(w.text)]
        if hits:
            start = hits[0]
            h = _height(words)
            # "31 124,70" / "- 8 844,55": thousands groups and a sign printed as separate words
            while start > 0 and words[start].bbox[0] - words[start - 1].bbox[2] < 1.2 * h and (
                    re.fullmatch(r"[-−–(]?(?:[$€£]|RM)?\d{1,3}", words[start - 1].text)
                    or re.fullmatch(r"[-−–(]|[$€£]|RM", words[start - 1].text)):
                start -= 1
            return words[start:hits[0] + 1]
        hits = [i for i, w in enumerate(words) if re.search(r"\d", w.text)]
        return [words[hits[0]]] if hits else words
    if kind == "date":
        for i in range(len(words)):  # the shortest run of words holding a whole date
            for n in (1, 2, 3, 4):
                run = words[i:i + n]
                if len(run) < n:
                    break
                text = " ".join(w.text for w in run)
                m = _DATE_RE.search(text)
                if m and m.start() < len(run[0].text) and m.end() > len(text) - len(run[-1].text):
                    return run
        return words
    if kind == "time":
        hits = [w for w in words if _TIME_RE.search(w.text)]
        return hits[:1] or words
    if kind == "id":
        digits = [i for i, w in enumerate(words) if re.search(r"\d", w.text)]
        if not digits:
            return words[:1]
        start = digits[0]
        while start > 0 and re.search(r"[-/#.]$", words[start - 1].text):  # "INV- 2022-30890"
            start -= 1
        end = digits[0]
        while end + 1 < len(words) and (re.match(r"^[-/]", words[end + 1].text)
                                        or words[end].text.endswith(("-", "/"))):
            end += 1
        return words[start:end + 1]
    if kind == "number":
        hits = [i for i, w in enumerate(words) if re.search(r"\d", w.text)]
        return words[hits[0]:hits[-1] + 1] if hits else words
    return words


def money_value(text: str) -> str | None:
    """A printed amount as a plain decimal string (``"RM 1,234.50"`` → ``"1234.50"``).

    >>> money_value("RM 33,90"), money_value("$1,234.56"), money_value("1.234,56 €")
    ('33.90', '1234.56', '1234.56')
    >>> money_value("-8 844,55 EUR"), money_value("(12.00)")
    ('-8844.55', '-12.00')
    """
    m = _AMOUNT_RE.search(text)
    if not m:
        return None
    s = re.sub(r"[' ]", "", m.group(0))
    dec = s[-3]
    head = s[:-3].replace(",", "").replace(".", "")
    if dec not in ".,":
        return None
    before = text[:m.start()]
    negative = bool(re.search(r"[-−–]\s*(?:[A-Z]{3}|[$€£¥]|RM)?\s*$", before)) or (
        "(" in before and ")" in text[m.end():])
    try:
        return str(Decimal(f"{'-' if negative else ''}{head}.{s[-2:]}"))
    except InvalidOperation:
        return None


_GLUED_MONEY = re.compile(r"(?<![\w$€£¥])(?P<cur>[$€£¥]|RM|S\$|US\$|USD|EUR|GBP|CHF|MYR|SGD|AUD|"
                          r"CAD|NZD|INR|JPY|CNY|HKD)(?P<amount>" + _AMOUNT_RE.pattern + ")")


def money_answer(text: str, value: str | None = None) -> str | None:
    """An amount as answered: a plain decimal (``"RM 1,234.50"`` → ``"1234.50"``), or the
    printed token when a currency is glued to the digits (``"$8.20"``, ``"RM40.00"``), since
    that is how a person copies it from the page (DocVQA and SROIE gold answers do).

    ``value`` (when given) is the amount decided elsewhere (the extractor's); the printed form is
    used only when it reads as the same amount.

    >>> money_answer("RM 33,90"), money_answer("Total $1,234.56"), money_answer("RM40.00")
    ('33.90', '$1,234.56', 'RM40.00')
    >>> money_answer("$8.20", "8.70"), money_answer("no amount")
    ('8.70', None)
    """
    plain = money_value(text)
    if value is not None and plain is not None and plain != value:
        return value
    decided = value if value is not None else plain
    m = _GLUED_MONEY.search(text)
    if m is not None and decided is not None and money_value(m.group(0)) == decided.lstrip("-") \
            and not decided.startswith("-"):
        return m.group("cur") + m.group("amount")
    return decided


# -- layout search ------------------------------------------------------------------------------
@dataclass
class LabelHit:
    """A printed label found on a page: its words (indices into ``page.words``) and match score."""

    page: int  # index into doc.pages
    word_ids: list[int]
    text: str
    score: float


@dataclass
class _Candidate:
    text: str
    score: float
    page: Page | None = None
    words: list[Word] = field(default_factory=list)
    bbox: list[int] | None = None
    field: str | None = None
    source: str = ""
    confidence: float = 0.0  # the extractor's own confidence, for field candidates


def _is_label_word(text: str) -> bool:
    return len(text) > 1 and text.endswith(":") and bool(_LETTERS.search(text)) \
        and not _TIME_RE.fullmatch(text.rstrip(":"))


@dataclass
class _PageIndex:
    """Per page: label n-grams (normalised) for lexical search, and their texts for MiniLM."""

    spans: list[tuple[int, list[int], str]]  # (page index, word ids, normalised text)


_SPANS: OrderedDict[tuple[str, int, int], list[tuple[int, list[int], str]]] = OrderedDict()
_SPANS_LOCK = threading.Lock()


def _fingerprint(doc: Document) -> int:
    """Cheap identity of a document's words (the sha256 alone may be shared by hand-made ones)."""
    return hash(tuple((w.text, w.box) for p in doc.pages for w in p.words))


def _page_spans(doc: Document, max_len: int) -> list[tuple[int, list[int], str]]:
    """Word n-grams (up to ``max_len`` words, within a line) of every page, normalised; cached
    for the last few documents (several questions about one document reuse them)."""
    key = (doc.sha256, _fingerprint(doc), max_len)
    with _SPANS_LOCK:
        hit = _SPANS.get(key)
        if hit is not None:
            _SPANS.move_to_end(key)
            return hit
    spans = _compute_spans(doc, max_len)
    with _SPANS_LOCK:
        _SPANS[key] = spans
        while len(_SPANS) > 16:
            _SPANS.popitem(last=False)
    return spans


def _compute_spans(doc: Document, max_len: int) -> list[tuple[int, list[int], str]]:
    spans: list[tuple[int, list[int], str]] = []
    for pi, page in enumerate(doc.pages):
        for line in page.lines:
            ids = line.word_ids
            for i in range(len(ids)):
                parts: list[str] = []
                for j in range(i, min(len(ids), i + max_len)):
                    parts.append(page.words[ids[j]].text)
                    norm = norm_label(" ".join(parts))
                    if norm:
                        spans.append((pi, ids[i:j + 1], norm))
                    if parts[-1].endswith(":") and j > i:
                        break  # a label never runs past its colon
    return spans


def find_labels(
    doc: Document,
    phrases: Sequence[str],
    *,
    use_semantic: bool = False,
    limit: int = 5,
    min_score: float = 0.6,
) -> list[LabelHit]:
    """Printed labels on the pages that best match any of ``phrases``, best first.

    Lexical: rapidfuzz ratio between normalised word n-grams of each line and each phrase (a
    partial n-gram of a longer label is penalised). Semantic (optional): MiniLM cosine between the
    phrase and line-leading n-grams / colon-ended n-grams.

    >>> from schemas.document import Page, Word, Line
    >>> ws = [Word.from_pixels(t, b, page_width=1000, page_height=1000) for t, b in
    ...       [("Invoice", (10, 10, 80, 30)), ("No:", (85, 10, 120, 30)), ("A-17", (130, 10, 180, 30))]]
    >>> page = Page(number=1, width=1000, height=1000, words=ws,
    ...             lines=[Line(word_ids=[0, 1, 2], box=(10, 10, 180, 30), text="Invoice No: A-17")])
    >>> hit = find_labels(Document(source="x", sha256="0", media_type="image/png", pages=[page]),
    ...                   ["invoice number"])[0]
    >>> hit.word_ids, round(hit.score, 2)
    ([0, 1], 1.0)
    """
    from rapidfuzz import fuzz

    targets = [(p, norm_label(p)) for p in phrases]
    targets = [(p, n) for p, n in targets if n]
    if not targets:
        return []
    max_len = max(len(n.split()) for _, n in targets) + 2
    spans = _page_spans(doc, max_len)
    best: dict[tuple[int, tuple[int, ...]], LabelHit] = {}
    for pi, ids, norm in spans:
        score = 0.0
        for _, target in targets:
            if abs(len(norm) - len(target)) > max(4, len(target)):
                continue
            s = fuzz.ratio(norm, target) / 100.0
            if min(len(norm), len(target)) <= 3 and norm != target:
                s = min(s, 0.5)
            score = max(score, s)
        if score >= min_score:
            key = (pi, tuple(ids))
            text = " ".join(doc.pages[pi].words[i].text for i in ids)
            if key not in best or best[key].score < score:
                best[key] = LabelHit(pi, list(ids), text, score)
    if use_semantic:
        _semantic_hits(doc, [p for p, _ in targets], spans, best)
    hits = _dedupe(sorted(best.values(), key=_hit_order))
    return hits[:limit]


def _semantic_hits(doc: Document, phrases: list[str],
                   spans: list[tuple[int, list[int], str]],
                   best: dict[tuple[int, tuple[int, ...]], LabelHit]) -> None:
    from extractors import semantic
    from extractors.errors import DependencyMissing

    # only label-like spans: the first words of a line, or ending with a colon
    cands: list[tuple[int, list[int], str]] = []
    starts = {(pi, line.word_ids[0]) for pi, page in enumerate(doc.pages) for line in page.lines
              if line.word_ids}
    for pi, ids, norm in spans:
        last = doc.pages[pi].words[ids[-1]].text
        if ((pi, ids[0]) in starts or last.endswith(":")) and len(ids) <= 4 \
                and _LETTERS.search(norm):
            cands.append((pi, ids, norm))
    if not cands:
        return
    try:
        sims = semantic.similarity([p.lower() for p in phrases], [c[2] for c in cands])
    except DependencyMissing:
        semantic.warn_unavailable("qa")
        return
    col_best = sims.max(axis=0)
    for (pi, ids, _norm), s in zip(cands, col_best, strict=True):
        if s < 0.6:
            continue
        score = 0.6 + (float(s) - 0.6) * 0.75  # cosine 0.6 → 0.6, 1.0 → 0.9
        key = (pi, tuple(ids))
        if key not in best or best[key].score < score:
            text = " ".join(doc.pages[pi].words[i].text for i in ids)
            best[key] = LabelHit(pi, list(ids), text, score)


def _weighted_labels(doc: Document, label: str, synonyms: dict[str, float],
                     limit: int = 6) -> list[LabelHit]:
    """Labels printed for the question's own words (as matched) and for the synonyms of the
    fields it was matched to (scaled by how well the question matched that field), best first.

    The words of the question are the best evidence: "Date Ordered" asked and printed must not
    lose to the "Date" of "Date Submitted" found through the synonyms of a date field.
    """
    hits: dict[tuple[int, tuple[int, ...]], LabelHit] = {}
    groups: dict[float, list[str]] = {}
    for syn, match in synonyms.items():
        if not label or norm_label(syn) != norm_label(label):
            groups.setdefault(match, []).append(syn)
    searches = [([label], 1.0)] if label else []
    searches += [(syns, match) for match, syns in groups.items()]
    for phrases, weight in searches:
        for h in find_labels(doc, phrases, use_semantic=False, limit=limit):
            key = (h.page, tuple(h.word_ids))
            score = h.score * weight
            if key not in hits or hits[key].score < score:
                hits[key] = LabelHit(h.page, h.word_ids, h.text, score)
    ranked = sorted(hits.values(), key=_hit_order)
    return _dedupe(ranked)[:limit]


def _hit_order(h: LabelHit) -> tuple[float, int, int, int]:
    """Best first; at equal scores the longer label ("Date Ordered" before the "Date" in it;
    punctuation such as a sign after the colon does not count)."""
    return (-h.score, -len(norm_label(h.text)), h.page, h.word_ids[0])


def _dedupe(hits: list[LabelHit]) -> list[LabelHit]:
    """Drop hits overlapping a better one (n-grams of the same label)."""
    out: list[LabelHit] = []
    taken: set[tuple[int, int]] = set()
    for h in hits:
        if any((h.page, i) in taken for i in h.word_ids):
            continue
        out.append(h)
        taken.update((h.page, i) for i in h.word_ids)
    return out


def _height(words: Sequence[Word]) -> float:
    hs = sorted(w.bbox[3] - w.bbox[1] for w in words)
    return max(1.0, hs[len(hs) // 2]) if hs else 1.0


def _v_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Vertical overlap of two boxes as a share of the shorter one (so a box overlaps itself
    fully, however thin: OCR returns boxes with no height for rules and specks); a box with no
    height overlaps the boxes its line passes through."""
    inter = min(a[3], b[3]) - max(a[1], b[1])
    short = min(a[3] - a[1], b[3] - b[1])
    if short <= 0:
        return 1.0 if inter >= 0 else 0.0
    return max(0.0, inter) / short


_FILL = re.compile(r"^[_\-—–.|:=~*•·+]+$")
_CURRENCY_ONLY = re.compile(r"^(?:[$€£¥]|RM|USD|EUR|GBP|CHF|Fr\.?)$", re.IGNORECASE)


def _clean(words: Sequence[Word]) -> list[Word]:
    """Drop fill-in rules and stray punctuation (``____``, ``--``, ``|``) from a value's words."""
    return [w for w in words if not _FILL.match(w.text)]


def _text(words: Sequence[Word]) -> str:
    """A value's text: words joined, form underscores and stray edge punctuation stripped."""
    parts = [w.text.strip("_|") for w in words]
    text = " ".join(p for p in parts if p)
    text = re.sub(r"^(?:[_\-—–|~+*•·=:]\s*){2,}", "", text)  # a fill rule glued to the value
    return text.strip(" _|;,~").lstrip(":").strip()


def _cut_value(row: list[Word], h: float, kind: str | None) -> list[Word]:
    """The value at the start of ``row``: up to a wide gap or the next label.

    Label words right after the label (``BY:`` after a hit on ``INITIATED``) are skipped.
    """
    out: list[Word] = []
    for w in row:
        if not out and (_FILL.match(w.text) or _is_label_word(w.text)):
            continue
        if out:
            gap = w.bbox[0] - out[-1].bbox[2]
            if gap > 2.2 * h and not all(_CURRENCY_ONLY.match(o.text) for o in out):
                break
            if _is_label_word(w.text):
                break
        out.append(w)
    return _clean(out)


def read_value(page: Page, label_ids: list[int], kind: str | None = None,
               *, multiline: bool | None = None) -> list[tuple[list[Word], str, float]]:
    """Candidate values next to a label: ``(words, where, position score)``, best first.

    ``where`` is ``"right"`` (same row, to the right) or ``"below"`` (next lines, same column).
    """
    words = page.words
    label = [words[i] for i in label_ids]
    lb = union_box([w.bbox for w in label])
    h = _height(label)
    ids = set(label_ids)
    out: list[tuple[list[Word], str, float]] = []
    multi = multiline if multiline is not None else kind in (None, "text", "address", "name")

    # same row, to the right
    row = [w for i, w in enumerate(words)
           if i not in ids and w.bbox[0] >= lb[2] - 0.3 * h and _same_row(w.bbox, lb, h)]
    row.sort(key=lambda w: w.bbox[0])
    if row:
        if kind in ("money", "date", "time", "id", "number", "phone"):
            value = _best_typed(row, h, kind)
        else:
            value = _cut_value(row, h, kind)
        if value:
            gap = value[0].bbox[0] - lb[2]
            pos = 1.0 if gap < 6 * h else max(0.75, 1.0 - gap / (page.width or 1.0) * 0.3)
            if multi:
                value = value + _continuation(page, value, lb, h, ids)
            out.append((value, "right", pos))

    # below, in the label's column
    below = _below(page, lb, h, ids)
    if below and not _is_label_word(below[0][0].text):  # a row starting with a label is its own
        first = below[0]
        if kind in ("money", "date", "time", "id", "number", "phone"):
            value = _best_typed(first, h, kind)
        else:
            value = _cut_value(first, h, kind)
        if value:
            if multi:
                value = value + _continuation(page, value, lb, h, ids, below=True)
            out.append((value, "below", 0.85))
    return out


def _same_row(b: Sequence[float], lb: Sequence[float], h: float) -> bool:
    """Whether a word box sits on the label's row: overlapping it by half, or written slightly
    above it (a value typed or handwritten over a fill-in line)."""
    if _v_overlap(b, lb) >= 0.5:
        return True
    cy = (b[1] + b[3]) / 2
    return _v_overlap(b, lb) > 0 and lb[1] - 0.6 * h <= cy <= lb[3]


def _best_typed(row: list[Word], h: float, kind: str) -> list[Word]:
    """The first run of words in ``row`` that holds a value of ``kind`` (trimmed to it).

    Runs are split at gaps wider than 1.5 line heights, at label words (``Due:``) and at fill
    rules (``____``); label words themselves are never part of a value.
    """
    segments: list[list[Word]] = [[]]
    for w in row:
        sign = kind == "money" and w.text in ("-", "−", "–")  # "- 8 844,55": a sign, not a rule
        if (_FILL.match(w.text) and not sign) or _is_label_word(w.text):
            segments.append([])
            continue
        if segments[-1] and w.bbox[0] - segments[-1][-1].bbox[2] > 1.5 * h:
            segments.append([])
        segments[-1].append(w)
    for seg in [g for g in segments if g][:4]:
        text = " ".join(w.text for w in seg)
        if kind_score(text, kind) >= 1.0:
            return _trim_to_kind(seg, kind)
    return []


def _below(page: Page, lb: Sequence[float], h: float, ids: set[int]) -> list[list[Word]]:
    """Rows of words below the label whose horizontal extent overlaps the label's column."""
    words = page.words
    cands = [w for i, w in enumerate(words) if i not in ids and w.bbox[1] >= lb[3] - 0.3 * h
             and w.bbox[1] <= lb[3] + 3.0 * h]
    if not cands:
        return []
    cands.sort(key=lambda w: w.bbox[1])
    top = min(w.bbox[1] for w in cands if w.bbox[2] > lb[0] - h and w.bbox[0] < lb[2] + 4 * h) \
        if any(w.bbox[2] > lb[0] - h and w.bbox[0] < lb[2] + 4 * h for w in cands) else None
    if top is None:
        return []
    # the first row: words vertically overlapping the topmost candidate in the column
    seed = [w for w in cands if w.bbox[1] == top and w.bbox[2] > lb[0] - h
            and w.bbox[0] < lb[2] + 4 * h][0]
    row = [w for w in cands if _v_overlap(w.bbox, seed.bbox) >= 0.5]
    row.sort(key=lambda w: w.bbox[0])
    # keep the run of words that touches the label's column
    start = next((k for k, w in enumerate(row) if w.bbox[2] > lb[0] - h), 0)
    run = [row[start]]
    for w in row[start + 1:]:
        if w.bbox[0] - run[-1].bbox[2] > 2.2 * h:
            break
        run.append(w)
    return [run]


def _continuation(page: Page, value: list[Word], lb: Sequence[float], h: float, ids: set[int],
                  *, below: bool = False, max_lines: int = 8) -> list[Word]:
    """Following lines that continue ``value``: aligned with it, close below, no label before or
    at their start (a new row of the form), and in the same layout block."""
    words = page.words
    index = {id(w): i for i, w in enumerate(words)}
    used = {id(w) for w in value}
    vb = union_box([w.bbox for w in value])
    x0 = vb[0]
    right = max(vb[2], x0 + 3 * h)
    out: list[Word] = []
    last = vb
    block_of = _block_index(page)
    blocks = {block_of.get(index[id(w)]) for w in value}
    for _ in range(max_lines):
        band = [w for i, w in enumerate(words) if i not in ids and id(w) not in used
                and last[3] - 0.3 * h <= w.bbox[1] <= last[3] + 1.1 * h]
        nxt = [w for w in band if w.bbox[2] > x0 - 0.5 * h]
        if not nxt:
            break
        nxt.sort(key=lambda w: w.bbox[0])
        first = nxt[0]
        if abs(first.bbox[0] - x0) > 1.5 * h:
            break
        if not below and first.bbox[0] < lb[0] + h:
            break  # back at the label's margin: a new row of the form
        if _is_label_word(first.text) or first.bbox[0] > right:
            break
        if any(w.bbox[2] <= x0 - 0.5 * h and w.bbox[0] >= lb[0] - 2 * h
               and _v_overlap(w.bbox, first.bbox) >= 0.5 and not _FILL.match(w.text) for w in band):
            break  # something printed left of the value on that row: its own label
        if block_of and block_of.get(index[id(first)]) not in blocks:
            break
        row = [w for w in nxt if _v_overlap(w.bbox, first.bbox) >= 0.5]
        run = [row[0]]
        for w in row[1:]:
            if w.bbox[0] - run[-1].bbox[2] > 2.2 * h or _is_label_word(w.text):
                break
            run.append(w)
        out.extend(run)
        used.update(id(w) for w in run)
        last = union_box([w.bbox for w in run])
        right = max(right, last[2])
    return _clean(out)


def _block_index(page: Page) -> dict[int, int]:
    """Word index → block index (empty when the page has no blocks)."""
    out: dict[int, int] = {}
    for b, block in enumerate(page.blocks):
        for li in block.line_ids:
            for wi in page.lines[li].word_ids:
                out[wi] = b
    return out


# -- the engine ---------------------------------------------------------------------------------
@dataclass
class _Analysis:
    doc_type: str = "other"
    extraction: Extraction | None = None


class RulesQA:
    """The default QA engine: question understanding + extracted fields + layout search.

    Args:
        settings: the run's :class:`~extractors.settings.Settings` (engines for classify/extract).
        classifier: a classifier to use instead of the registered one.
        extractor: an extractor to use instead of the registered one.
        use_semantic: MiniLM matching (``None``: when installed; ``False``: lexical only).

    >>> from schemas.document import Document
    >>> qa = RulesQA(None, classifier=False, extractor=False)
    >>> qa.answer(Document(source="x", sha256="0", media_type="image/png"), "What is the total?")[0].answer is None
    True
    """

    name = "rules"
    min_confidence = 0.35
    """Answers scored below this become "I don't know"."""

    def __init__(self, settings: Settings | None = None, *, classifier: Any = None,
                 extractor: Any = None, use_semantic: bool | None = None) -> None:
        from extractors.settings import Settings

        self.settings = settings or Settings()
        self._classifier = classifier
        self._extractor = extractor
        self.use_semantic = use_semantic
        self._cache: OrderedDict[tuple[str, int], _Analysis] = OrderedDict()
        self._parses: OrderedDict[int, Any] = OrderedDict()
        self._links: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def share_engines(self, classifier: Any, extractor: Any) -> None:
        """Use these classifier and extractor (e.g. a pipeline's, already built) from now on."""
        self._classifier = classifier
        self._extractor = extractor
        with self._lock:
            self._cache.clear()

    # engines, built lazily (a missing extractor leaves layout search working)
    def _engine(self, kind: str) -> Any:
        from extractors import registry
        from extractors.errors import DocaiError

        attr = "_classifier" if kind == "classify" else "_extractor"
        current = getattr(self, attr)
        if current is None:
            name = self.settings.classify_engine if kind == "classify" else self.settings.extract_engine
            try:
                current = registry.create(kind, name, self.settings)  # type: ignore[arg-type]
            except (ImportError, AttributeError, DocaiError) as exc:
                log.warning("qa: %s engine %r unavailable (%s); answering from the layout only",
                            kind, name, type(exc).__name__)
                current = False
            setattr(self, attr, current)
        return current or None

    def analyse(self, doc: Document) -> _Analysis:
        """Classification and extraction of ``doc``, computed once per document (LRU of 8)."""
        key = (doc.sha256, _fingerprint(doc))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = _Analysis()
        classifier = self._engine("classify")
        if classifier is not None:
            result.doc_type, _ = classifier.classify(doc)
        extractor = self._engine("extract")
        if extractor is not None:
            try:
                result.extraction = extractor.extract(doc, result.doc_type)
            except Exception as exc:  # a broken extractor must not stop layout answers
                log.warning("qa: extractor failed on %s (%s)", doc.sha256[:12], type(exc).__name__)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return result

    def answer_many(self, doc: Document, questions: Sequence[str], *, top_k: int = 1
                    ) -> list[list[Answer]]:
        """Answers to several questions about one document (the analysis is shared)."""
        return [self.answer(doc, q, top_k=top_k) for q in questions]

    def answer(self, doc: Document, question: str, *, top_k: int = 1) -> list[Answer]:
        """Up to ``top_k`` answers, best first; ``[Answer(answer=None)]`` when nothing fits."""
        query = parse_question(question, use_semantic=self.use_semantic)
        cands: list[_Candidate] = []
        if _YES_NO.match(_PREAMBLE.sub("", " ".join(question.split()))):
            # yes/no questions need reasoning this engine does not do: say so, never guess
            return [Answer(answer=None, confidence=0.0, engine=self.name)]
        if doc.n_words:
            analysis = self.analyse(doc)
            cands += self._from_extraction(doc, query, analysis)
            # the learned form reader (trained on forms) helps with printed labels on forms and
            # with questions about no canonical field; invoice and receipt fields are the
            # extractor's (on receipts it made totals and dates worse)
            reader = not query.fields or analysis.doc_type not in ("invoice", "receipt")
            layout = self._from_layout(doc, query, reader=reader)
            if any(c.source == "field" and c.confidence >= 0.5 for c in cands):
                # the extractor reasons over the whole document (arithmetic, top lines); the
                # layout search only looks next to a label: its answers become alternatives
                for c in layout:
                    c.score *= 0.8
            cands += layout
            if reader:
                cands += self._from_form_reader(doc, query)
            if not any(c.score >= 0.6 for c in cands):  # nothing convincing next to a label
                cands += self._unlabelled(doc, query)
            if analysis.doc_type == "form" and query.kind not in (None, "text") and not any(
                    c.score >= self.min_confidence for c in cands):
                cands += self._untyped(doc, query, analysis)
            _check_arithmetic(doc, query, analysis, cands)
            _tidy_form_values(cands)
            if analysis.doc_type == "form":
                cands += _with_units(cands)
            if query.field in ("vendor_name", "merchant_name") and analysis.doc_type == "invoice":
                # invoices name two parties (vendor and customer); the domain tells them apart.
                # A receipt's domain is often a brand or a service line ("myNEWS careline"),
                # not the merchant's printed name
                _check_sender_domain(doc, cands)
        ranked = _merge(cands)
        if doc.n_words and analysis.doc_type == "form":
            ranked = self._rerank(doc, query, cands, ranked)
        good = [c for c in ranked if c.score >= self.min_confidence][:max(1, top_k)]
        if not good:
            best = ranked[0].score if ranked else 0.0
            return [Answer(answer=None, confidence=round(min(best, self.min_confidence) * 0.5, 4),
                           engine=self.name, field=query.field)]
        return [self._to_answer(c, query) for c in good]

    def _rerank(self, doc: Document, query: Query, cands: list[_Candidate],
                ranked: list[_Candidate]) -> list[_Candidate]:
        """Forms: the best candidates reordered by the learned ranker (:func:`rank_features`,
        ``qa_rank.json``: the probability that a candidate is the answer). Scores (the answer's
        confidence, and "I don't know" below :attr:`min_confidence`) stay the hand-tuned ones;
        unchanged when the ranker is missing or there is nothing to choose between."""
        model = load_ranker()
        if model is None or not query.label or query.item is not None or len(ranked) < 2:
            return ranked
        from extractors.fields import kv

        head = ranked[:RANK_TOP]
        try:
            probs = kv.predict(model, rank_features(self, doc, query, cands, head))[:, 0]
        except ValueError as exc:  # a ranker trained on other features: keep the hand order
            global _RANKER_WARNED
            if not _RANKER_WARNED:
                _RANKER_WARNED = True
                log.warning("qa: ranker unusable (%s); hand-tuned order", exc)
            return ranked
        order = sorted(range(len(head)), key=lambda i: (-probs[i], i))
        return [head[i] for i in order] + ranked[RANK_TOP:]

    def _untyped(self, doc: Document, query: Query, analysis: _Analysis) -> list[_Candidate]:
        """Forms: when no value of the expected kind stands by the asked label, the values that
        do, whatever their kind (``Telephone#`` filled in with an extension, ``6926``), trusted
        a little less. Forms are filled in by hand, often not in the shape the label suggests."""
        loose = replace(query, kind=None)
        out = [c for c in self._from_extraction(doc, loose, analysis) if c.source == "kv"]
        out += self._from_layout(doc, loose) + self._from_form_reader(doc, loose)
        for c in out:
            c.score *= 0.9
        return out

    def _unlabelled(self, doc: Document, query: Query) -> list[_Candidate]:
        """Last resort for "What is the date / time?": the first valid date (time) printed
        anywhere, in reading order, with a modest confidence. Receipts often print the date with
        no label. Not for specific dates (due date): the first date is not theirs."""
        generic = query.field in ("transaction_date", "invoice_date", "transaction_time") or (
            query.kind in ("date", "time") and not query.fields)
        kind = query.kind if query.kind in ("date", "time") else None
        if not generic or kind is None:
            return []
        out: list[_Candidate] = []
        for page in doc.pages:
            for line in page.lines:
                words = [page.words[i] for i in line.word_ids]
                for i in range(len(words)):
                    for n in (1, 2, 3):
                        run = words[i:i + n]
                        if len(run) < n:
                            break
                        text = " ".join(w.text for w in run)
                        if kind_score(text, kind) < 1.0:
                            continue
                        run = _trim_to_kind(run, kind)
                        value = _trim_text(_text(run), kind) if kind == "date" else _text(run)
                        out.append(_Candidate(text=value, score=0.5 * 0.9 ** len(out),
                                              page=page, words=run, field=query.field,
                                              source="unlabelled"))
                        break
                    if len(out) >= 3:
                        return out
        if not out and kind == "date":
            out = _noisy_dates(doc, query.field)
        return out

    # -- the learned form reader (extractors.fields.kv): entities, roles and link scores ----
    def _form_parse(self, page: Page) -> Any:
        """The key-value model's reading of ``page`` (cached), or ``None`` without the model."""
        try:
            from extractors.fields import kv
        except ImportError:  # pragma: no cover - the module ships with docai
            return None
        model = kv.load_model()
        if model is None or not page.words:
            return None
        key = _page_key(page)
        with self._lock:
            if key in self._parses:
                self._parses.move_to_end(key)
                return self._parses[key]
        try:
            parse = kv.parse_page(page, model)
        except Exception as exc:  # a failing reader must not stop the other answers
            log.warning("qa: form reader failed (%s)", type(exc).__name__)
            parse = None
        with self._lock:
            self._parses[key] = parse
            while len(self._parses) > 16:
                self._parses.popitem(last=False)
        return parse

    def _asked_links(self, page: Page, target: str) -> tuple[Any, dict[int, float], list[tuple[int, int, float]]]:
        """The form reader's parse of ``page``, the entities that read as the asked label
        ``target`` (index → similarity) and the reader's links from them ``(key, value, p)``;
        cached per page and label (the answer sources and the ranker both ask)."""
        pp = self._form_parse(page)
        if pp is None or not pp.entities:
            return pp, {}, []
        key = (_page_key(page), target)
        with self._lock:
            if key in self._links:
                return self._links[key]
        from rapidfuzz import fuzz

        from extractors.fields import kv

        matched: dict[int, float] = {}
        for i, e in enumerate(pp.entities):
            norm = norm_label(kv.clean_key(e.text))
            sim = fuzz.ratio(norm, target) / 100.0
            if min(len(norm), len(target)) <= 3 and norm != target:
                sim = min(sim, 0.5)
            if sim >= 0.7:
                matched[i] = sim
        scored: list[tuple[int, int, float]] = []
        links = kv.link_candidates(pp.entities, list(matched)) if matched else []
        model = kv.load_model()
        if links and model is not None:
            probs = kv.predict(model["link"], kv.link_features(pp.entities, links, page.width))
            scored = [(k, v, float(p)) for (k, v, _), p in zip(links, probs[:, 0], strict=True)]
        out = (pp, matched, scored)
        with self._lock:
            self._links[key] = out
            while len(self._links) > 64:
                self._links.popitem(last=False)
        return out

    def _roles_of(self, page: Page, words: Sequence[Word]) -> tuple[float, ...] | None:
        """Role probabilities (key, value, header, other) of the entity that holds ``words``."""
        pp = self._form_parse(page)
        if pp is None or not words:
            return None
        b = union_box([w.bbox for w in words])
        area = max(1.0, (b[2] - b[0]) * (b[3] - b[1]))
        best, best_o = None, 0.3
        for e in pp.entities:
            ix = min(b[2], e.x1) - max(b[0], e.x0)
            iy = min(b[3], e.y1) - max(b[1], e.y0)
            if ix > 0 and iy > 0 and ix * iy / area > best_o:
                best, best_o = e, ix * iy / area
        return tuple(float(v) for v in best.probs) if best is not None else None

    def _from_form_reader(self, doc: Document, query: Query) -> list[_Candidate]:
        """Values the form reader links to the printed label the question names.

        Unlike the extractor's key-values (one value per key, above a global threshold), every
        entity whose text matches the label is taken as the key and its best-linked value is a
        candidate. Weights chosen on funsd_train forms held out from the model's training.
        """
        if not query.label or query.item is not None:
            return []
        from extractors.fields import kv

        target = norm_label(query.label)
        if not target:
            return []
        out: list[_Candidate] = []
        for page in doc.pages:
            pp, matched, links = self._asked_links(page, target)
            best: dict[int, tuple[float, int]] = {}
            for k, v, p in links:
                if k not in best or p > best[k][0]:
                    best[k] = (p, v)
            for k, (p, v) in best.items():
                ve = pp.entities[v]
                text = kv.clean_value(ve.text)
                ks = kind_score(text, query.kind)
                if not text or ks <= 0.0 or (ks < 1.0 and query.kind not in (None, "text")):
                    continue
                score = (0.4 + 0.4 * matched[k] * p + 0.1 * float(ve.probs[1])) * (0.5 + 0.5 * ks)
                text = _typed_text(text, query.kind)
                out.append(_Candidate(text=text, score=score, page=page, words=list(ve.words),
                                      field=query.field, source="form"))
        return out

    def _to_answer(self, c: _Candidate, query: Query) -> Answer:
        bbox = c.bbox
        if bbox is None and c.words:
            b = union_box([w.box for w in c.words])
            bbox = [int(v) for v in b]
        return Answer(answer=c.text, confidence=round(min(1.0, c.score), 4),
                      page=c.page.number if c.page is not None else None, bbox=bbox,
                      engine=self.name, words=[w.text for w in c.words],
                      field=c.field or query.field)

    # -- sources --------------------------------------------------------------------------
    def _from_extraction(self, doc: Document, query: Query, analysis: _Analysis) -> list[_Candidate]:
        ex = analysis.extraction
        if ex is None:
            return []
        out: list[_Candidate] = []
        if query.item is not None and query.item_field:
            items = ex.line_items
            if items and -len(items) <= query.item < len(items):
                cell = getattr(items[query.item], query.item_field, None)
                if cell is not None and cell.value not in (None, ""):
                    out.append(self._field_candidate(doc, cell, query.item_field, 1.0))
            return out
        seen: set[str] = set()
        for name, match in query.fields:
            for alias, weight in ALIASES.get(name, ((name, 1.0),)):
                if alias in seen:
                    continue
                seen.add(alias)
                f = ex.fields.get(alias)
                if f is None or f.value in (None, ""):
                    continue
                cand = self._field_candidate(doc, f, alias, match * weight)
                if weight < 1.0:
                    cand.source = "field:fallback"
                out.append(cand)
        # generic printed key-values: "What is the <key>?"
        target = norm_label(query.label)
        if target and ex.key_values:
            from rapidfuzz import fuzz

            for kv in ex.key_values:
                s = fuzz.ratio(norm_label(kv.key), target) / 100.0
                if s >= 0.8 and kv.value.strip() and kind_score(kv.value, query.kind) >= 0.5:
                    page = _page_by_number(doc, kv.page)
                    # weights chosen on 39 funsd_train forms held out from a key-value model
                    # trained on the other 60 (layout-only 0.627 → 0.644 mean ANLS)
                    out.append(_Candidate(text=_typed_text(kv.value, query.kind), score=0.6 + 0.5 * s * max(
                        0.5, kv.confidence), page=page, bbox=kv.value_bbox, source="kv"))
        return out

    def _field_candidate(self, doc: Document, f: Any, name: str, match: float) -> _Candidate:
        kind = FIELD_KIND.get(name)
        if kind == "money":
            text = money_answer(f.text or "", str(f.value)) or str(f.value)
        elif kind == "date" and f.text:
            text = _trim_text(f.text, kind)
        elif f.text:
            text = " ".join(f.text.split())
        else:
            text = str(f.value)
        if kind == "name":
            text = clean_name(text) or text
        page = _page_by_number(doc, f.page)
        words = _words_in(page, f.bbox) if page is not None and f.bbox else []
        conf = float(f.confidence or 0.0)
        score = match * (0.7 + 0.3 * conf)
        if kind == "date" and words and _glued_inside(words[0].text, text):
            score *= 0.5  # "HCO3-7 - 15": digits of a product code read as a date
        return _Candidate(text=text, score=score, page=page, words=words, bbox=f.bbox,
                          field=name, source="field", confidence=conf)

    def _from_layout(self, doc: Document, query: Query, *, reader: bool = True
                     ) -> list[_Candidate]:
        phrases = [query.label] if query.label else []
        field_phrase: dict[str, float] = {}
        for name, match in query.fields[:2]:
            for syn in FIELD_LABELS.get(name, ()):
                field_phrase.setdefault(syn, match)
        phrases += [p for p in field_phrase if p not in phrases]
        if not phrases or query.item is not None:
            return []
        hits = _weighted_labels(doc, query.label, field_phrase)
        # MiniLM only when the words of the question are not printed (a synonym may be)
        if (not hits or hits[0].score < 0.7) and self.use_semantic is not False and query.label:
            hits = find_labels(doc, phrases, use_semantic=True, limit=6)
        # fields that answer for the asked one (the amount due for the total: "Montant à payer"
        # under "Total HT" and "TVA"), trusted by their alias weight
        asked = {name for name, _ in query.fields}
        alias_phrases: dict[str, float] = {}
        for name, match in query.fields[:1]:
            for alias, weight in ALIASES.get(name, ()):
                if alias not in asked:
                    for syn in FIELD_LABELS.get(alias, ()):
                        alias_phrases.setdefault(syn, match * weight)
        if alias_phrases:
            weight = max(alias_phrases.values())
            known = {(h.page, tuple(h.word_ids)) for h in hits}
            for h in find_labels(doc, list(alias_phrases), use_semantic=False, limit=3):
                if (h.page, tuple(h.word_ids)) not in known:
                    hits.append(LabelHit(h.page, h.word_ids, h.text, h.score * weight))
        related = asked | {a for n in asked for a, _ in ALIASES.get(n, ())}
        kind = query.kind
        out: list[_Candidate] = []
        for hit in hits:
            page = doc.pages[hit.page]
            iso = _isolation(page, hit.word_ids)
            if query.fields and _longer_label_of_other_field(page, hit.word_ids, related):
                iso *= 0.5  # "Total" of "Total HT" / "Sub total": another field's label
            values = read_value(page, hit.word_ids, kind)
            if not values and kind not in (None, "text"):
                # nothing of the expected kind next to the label: read it untyped, trusted less
                values = [(w, where, pos * 0.8) for w, where, pos in read_value(page, hit.word_ids)]
            has_below = any(where == "below" for _, where, _ in values)
            for words, where, pos in values:
                text = _text(words)
                if not text:
                    continue
                ks = kind_score(text, kind)
                if ks <= 0.0:
                    continue
                if ks < 1.0 and kind not in (None, "text"):
                    ks *= 0.5  # the wrong kind of value (a date that is no date) is weak evidence
                if where == "right" and has_below and _labelish(text, hit.text):
                    pos *= 0.85  # a header row: the value sits below the label
                score = hit.score * iso * pos * (0.55 + 0.45 * ks) * 0.9
                roles = self._roles_of(page, words) if reader else None
                if roles is not None:  # the form reader says it is a key or header, not a value
                    score *= 1.0 - 0.3 * roles[0] - 0.1 * roles[2]
                if kind == "money":
                    value = money_answer(text)
                    if value is None:
                        continue
                    text = value
                elif kind == "date":
                    text = _trim_text(text, kind)
                elif kind == "id":
                    text = re.sub(r"(?<=[-/])\s+|\s+(?=[-/])", "", text)
                out.append(_Candidate(text=text, score=score, page=page, words=words,
                                      field=query.field, source=f"layout:{where}"))
            mark = _mark_left(page, hit.word_ids) if kind in (None, "text") else None
            if mark is not None:  # "x Yes": a ticked option, the mark printed before it
                word, sign = mark
                out.append(_Candidate(text=sign, score=hit.score * iso * 0.85, page=page, words=[word],
                                      field=query.field, source="layout:left"))
        return out


_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "i": "1", "l": "1",
                             "L": "1", "|": "1", "!": "1", "S": "5", "s": "5", "B": "8", "Z": "2",
                             "z": "2", "G": "6", "g": "9"})
_NOISY_DATE = re.compile(r"(?<![\w/.-])(?P<d>[\dOoDQIilL|!SsBZzGg]{1,2})\s?(?P<sep>[-/.])\s?"
                         r"(?P<m>[\dOoDQIilL|!SsBZzGg]{1,2})\s?(?P=sep)\s?(?P<y>\d{2}|\d{4})(?![\w/.-])")


def _noisy_dates(doc: Document, field_name: str | None) -> list[_Candidate]:
    """Dates misread by OCR (``24- i1- 17``, ``O5/O3/2018``): letters that OCR confuses with
    digits are read as those digits and spaces around the separators dropped; kept only when the
    result is a real calendar date and most characters were digits already. Confidence stays
    just above "I don't know": the reading is a guess."""
    from schemas.normalize import NormalizationError, parse_date

    out: list[_Candidate] = []
    for page in doc.pages:
        for line in page.lines:
            words = [page.words[i] for i in line.word_ids]
            text = " ".join(w.text for w in words)
            for m in _NOISY_DATE.finditer(text):
                raw = m.group("d") + m.group("m")
                misread = sum(not c.isdigit() for c in raw)
                if misread > (2 if " " not in m.group(0) else 1):
                    continue  # one misread character, two when the date is one clean token
                value = f"{m.group('d').translate(_OCR_DIGITS)}{m.group('sep')}" \
                        f"{m.group('m').translate(_OCR_DIGITS)}{m.group('sep')}{m.group('y')}"
                try:
                    parse_date(value)
                except (NormalizationError, ValueError, OverflowError):
                    continue
                starts, pos = [], 0
                for w in words:
                    starts.append(pos)
                    pos += len(w.text) + 1
                run = [w for w, st in zip(words, starts, strict=True)
                       if st < m.end() and st + len(w.text) > m.start()]
                out.append(_Candidate(text=value, score=0.4 * 0.9 ** len(out), page=page,
                                      words=run, field=field_name, source="unlabelled:ocr"))
                if len(out) >= 2:
                    return out
    return out


_DOMAIN = re.compile(r"(?:[\w.+-]+\s?@\s?|www\.)(?:[\w-]+\.)*?([A-Za-z][\w-]{3,})\.[A-Za-z]{2,6}\b")
_LEGAL = frozenset({"gmbh", "ag", "kg", "co", "ug", "ohg", "ev", "sarl", "sas", "sa", "eurl",
                    "sasu", "snc", "ltd", "limited", "llc", "llp", "plc", "inc", "corp", "bv",
                    "nv", "srl", "spa", "sdn", "bhd", "pty", "the", "and", "et", "und"})


def _letters(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", _strip_accents(text.lower()))
    return "".join(w for w in words if w not in _LEGAL)


def _sender_name(doc: Document) -> tuple[str, Page, list[Word], str] | None:
    """The party name that the document's own e-mail or web domain spells (``Plomberie Foucher
    SARL`` for ``accounts@plomberiefoucher.fr``): a short line in the top 40 % of the first page
    whose letters, without legal forms, start the domain or that the domain starts. Returns the
    name (without trailing registration numbers), its page and words, and the domain."""
    if not doc.pages:
        return None
    page = doc.pages[0]
    text = " ".join(ln.text for p in doc.pages for ln in p.lines)
    domains = {_letters(m.group(1)) for m in _DOMAIN.finditer(text)}
    domains = {d for d in domains if len(d) >= 4}
    if not domains:
        return None
    for line in page.lines:
        words = [page.words[i] for i in line.word_ids]
        if not words or words[0].bbox[1] > 0.4 * page.height or len(words) > 8 \
                or "@" in line.text or not _LETTERS.search(line.text):
            continue
        parts = clean_name(line.text).split()
        while parts and re.search(r"\d|[(){}\[\]]", parts[-1]):
            parts.pop()  # "ELKEN SERVICE SDN BHD (310184-X)": the registration number
        name = " ".join(parts)
        letters = _letters(name)
        if len(letters) < 4:
            continue
        for d in domains:
            if d.startswith(letters) or letters.startswith(d):
                keep = set(parts)
                run = [w for w in words if w.text in keep]
                return name, page, run or words, d
    return None


def _check_sender_domain(doc: Document, cands: list[_Candidate]) -> None:
    """Vendor questions: the name that the document's own e-mail/web domain spells is added (or
    raised), and names that do not match the domain are trusted less (the customer's block is
    often read as the vendor)."""
    found = _sender_name(doc)
    if found is None:
        return
    name, page, words, domain = found
    target = _letters(name)
    matched = False
    for c in cands:
        letters = _letters(c.text)
        if letters == target:
            c.score += 0.1
            matched = True
        elif not (len(letters) >= 4 and (letters.startswith(domain) or domain.startswith(letters))):
            c.score *= 0.85
    if not matched:
        cands.append(_Candidate(text=name, score=0.85, page=page, words=words,
                                field="vendor_name", source="domain"))


def _printed_amounts(doc: Document) -> set[Decimal]:
    """Every amount printed on the document (thousands groups joined: ``3 823,46``)."""
    out: set[Decimal] = set()
    for page in doc.pages:
        for line in page.lines:
            for m in _AMOUNT_RE.finditer(line.text):
                v = money_value(m.group(0))
                if v is not None:
                    out.add(abs(Decimal(v)))
    return out


def _check_arithmetic(doc: Document, query: Query, analysis: _Analysis,
                      cands: list[_Candidate]) -> None:
    """Raise the total (subtotal) candidates that add up: a total equal to an amount printed on
    the page plus the extracted tax, a subtotal that plus the tax is an amount printed on the
    page. The extractor's own total may be a subtotal read under a "Total HT" label; the sum
    tells them apart."""
    if query.field not in ("total", "subtotal") or analysis.extraction is None:
        return
    tax_field = analysis.extraction.fields.get("tax_total")
    if tax_field is None or (tax_field.confidence or 0.0) < 0.5:
        return
    try:
        tax = abs(Decimal(str(tax_field.value)))
    except (InvalidOperation, ValueError):
        return
    if tax == 0:
        return
    amounts = sorted(_printed_amounts(doc))
    for c in cands:
        v = money_value(c.text)
        if v is None:
            continue
        value = abs(Decimal(v))
        other = value - tax if query.field == "total" else value + tax
        # up to 5 cents of cash rounding ("Rounding Adj"): 17.93 + 1.08 = 19.01 paid as 19.00
        if other > 0 and any(abs(a - other) <= Decimal("0.05") and a != value for a in amounts):
            c.score += 0.2


def _longer_label_of_other_field(page: Page, ids: list[int], fields: set[str]) -> bool:
    """Whether the matched label words, with up to two neighbouring words of their line, spell
    the label of a field not in ``fields`` ("Total" inside "Total HT" → subtotal, inside
    "Sub total" → subtotal, inside "Total tax" → tax_total)."""
    if not _NORM_LABELS:
        _lexical_field_scores("x")
    line = next((ln for ln in page.lines if ids[0] in ln.word_ids), None)
    if line is None:
        return False
    order = list(line.word_ids)
    try:
        a, b = order.index(ids[0]), order.index(ids[-1])
    except ValueError:
        return False
    own = norm_label(" ".join(page.words[i].text for i in ids))
    for before in (0, 1, 2):
        for after in (0, 1, 2):
            if before == after == 0 or a - before < 0 or b + after >= len(order):
                continue
            text = norm_label(" ".join(page.words[i].text
                                       for i in order[a - before:b + after + 1]))
            if text == own:
                continue
            for name, synonyms in _NORM_LABELS.items():
                if name not in fields and text in synonyms:
                    return True
    return False


_MARK_CHARS = "xX✓√✔☑☒"  # what a ticked box reads as
_MARK_WORD = re.compile(r"[\[(‘’'`\"]?(?P<m>[" + _MARK_CHARS + r"])[\])’'\"]?")


def _mark_left(page: Page, ids: list[int]) -> tuple[Word, str] | None:
    """A check mark (``x``, ``[X]``, ``✓``) printed just before the label on its row — the option
    that label names is ticked: the mark's word and the mark itself."""
    label = [page.words[i] for i in ids]
    lb = union_box([w.bbox for w in label])
    h = _height(label)
    taken = set(ids)
    left = [w for i, w in enumerate(page.words) if i not in taken and _v_overlap(w.bbox, lb) >= 0.5
            and w.bbox[2] <= lb[0] + 0.3 * h and lb[0] - w.bbox[2] < 2.5 * h]
    if not left:
        return None
    near = max(left, key=lambda w: w.bbox[2])
    m = _MARK_WORD.fullmatch(near.text)
    return (near, m.group("m")) if m else None


def _isolation(page: Page, ids: list[int]) -> float:
    """1.0 for a label standing on its own; 0.85 when the matched words continue running text
    (a word close on their left on the same row) and do not end with a colon."""
    label = [page.words[i] for i in ids]
    if label[-1].text.endswith(":"):
        return 1.0
    lb = union_box([w.bbox for w in label])
    h = _height(label)
    taken = set(ids)
    for i, w in enumerate(page.words):
        if i not in taken and _v_overlap(w.bbox, lb) >= 0.5 and w.bbox[2] <= lb[0] + 0.3 * h \
                and lb[0] - w.bbox[2] < 1.2 * h and not _FILL.match(w.text):
            return 0.85
    return 1.0


def _labelish(text: str, label: str) -> bool:
    """Whether a value read to the right of ``label`` looks like another label of a header row:
    it ends with a colon, or it is short capitals without digits next to a capitals label."""
    if text.rstrip().endswith(":"):
        return True
    letters = [c for c in text if c.isalpha()]
    label_letters = [c for c in label if c.isalpha()]
    return (len(letters) >= 3 and all(c.isupper() for c in letters)
            and not any(c.isdigit() for c in text) and len(text.split()) <= 4
            and bool(label_letters) and all(c.isupper() for c in label_letters))


_TITLE_WORDS = frozenset({
    "invoice", "tax invoice", "receipt", "credit note", "bill", "statement", "quote",
    "rechnung", "quittung", "kassenbon", "beleg", "gutschrift", "facture", "avoir", "recu",
    "ticket", "customer", "kunde", "client", "bill to", "sold to", "ship to", "from", "to",
})


def clean_name(text: str) -> str:
    """A party name without a document title or a neighbouring label read into it.

    >>> clean_name("R EC H N U N G Hethur AG"), clean_name("Conseil Olivier SA FACTURE")
    ('Hethur AG', 'Conseil Olivier SA')
    >>> clean_name("Radisch Medien GmbH & Co. KG Kunde"), clean_name("INVOICE")
    ('Radisch Medien GmbH & Co. KG', '')
    """
    words = text.split()
    # a letter-spaced title ("R E C H N U N G", "I N V O I C E") at either end
    def spaced(ws: list[str]) -> int:
        n = 0
        while n < len(ws) and len(ws[n]) <= 2 and ws[n].isalpha() and ws[n].isupper():
            n += 1
        return n if n >= 3 else 0

    words = words[spaced(words):]
    tail = spaced(words[::-1])
    words = words[:len(words) - tail] if tail else words
    changed = True
    while words and changed:
        changed = False
        for n in (2, 1):
            if len(words) >= n and _strip_accents(" ".join(words[-n:]).lower()).strip(":.") \
                    in _TITLE_WORDS:
                words, changed = words[:-n], True
                break
            if len(words) >= n and _strip_accents(" ".join(words[:n]).lower()).strip(":.") \
                    in _TITLE_WORDS:
                words, changed = words[n:], True
                break
    return " ".join(words)


def _glued_inside(word: str, value: str) -> bool:
    """Whether ``value`` starts inside ``word`` right after a letter or digit (``HCO3-7`` for a
    value ``3-7 - 15``), i.e. is a piece of a longer token, not a value of its own.

    >>> _glued_inside("HCO3-7", "3-7 - 15"), _glued_inside("Date:12/01/19", "12/01/19")
    (True, False)
    """
    head = value.split()[0] if value.split() else ""
    at = word.find(head) if head else -1
    return at > 0 and word[at - 1].isalnum()


def _typed_text(text: str, kind: str | None) -> str:
    """A value read as text (a key-value pair's value) answered like a value of ``kind``: an
    amount as :func:`money_answer`, a date or time without what follows it ("9-04-2018
    13:43:54" → "9-04-2018")."""
    text = " ".join(text.split())
    if kind == "money":
        return money_answer(text) or text
    if kind == "date":
        return _trim_text(text, kind)
    if kind == "time":
        m = _TIME_RE.search(text)
        return m.group(0) if m else text
    return text


def _trim_text(text: str, kind: str) -> str:
    if kind == "date":
        m = _DATE_RE.search(text)
        if m:
            return m.group(0)
    return " ".join(text.split())


def _merge(cands: list[_Candidate]) -> list[_Candidate]:
    """Best first; the same answer text from several sources is counted once (its best score,
    plus a small bonus for each other kind of source that agrees: the extractor, the layout
    search, key-value pairs, …; several labels of one kind agreeing add nothing). Scores are
    not capped here, so ties at 1.0 do not hide the order; answers cap them."""
    by_text: dict[str, _Candidate] = {}
    families: dict[str, set[str]] = {}
    for c in sorted(cands, key=lambda c: -c.score):
        key = " ".join(c.text.lower().split())
        family = c.source.split(":")[0]
        if key in by_text:
            kept = by_text[key]
            if family not in families[key]:
                families[key].add(family)
                kept.score += 0.05 * c.score
            if kept.bbox is None and not kept.words:
                kept.words, kept.page, kept.bbox = c.words, c.page, c.bbox
            continue
        by_text[key] = c
        families[key] = {family}
    return sorted(by_text.values(), key=lambda c: -c.score)


_MARK = re.compile(r"^[‘’'`\"(\[]?(?:(?P<mark>[" + _MARK_CHARS + r"])[_\s]+\S.*|(?P<ocr>xX|Xx))$")
_TRAILING_KEY = re.compile(r"^[A-Z][A-Za-z.'/&-]*:?$")


def form_value(text: str, words: Sequence[Word] = ()) -> str:
    """A form value read with its neighbours, tidied: a check mark followed by the option label
    printed after it (``x No``, ``X_POOR``) or read twice (``xX``) is the mark alone; a value that
    ends with the next key (``700 Dates:``) loses the key. With the value's ``words`` the key may
    be up to three capitalised words, and starts after the widest gap (a new line counts as the
    widest); without them it is the last word only.

    >>> form_value("x No"), form_value("X_POOR"), form_value("700 Dates:")
    ('x', 'X', '700')
    >>> form_value("Jane Roe Phone:"), form_value("Xavier Roe"), form_value("Total:")
    ('Jane Roe', 'Xavier Roe', 'Total:')
    """
    m = _MARK.match(text)
    if m is not None:
        return m.group("mark") or m.group("ocr")[0]
    parts = text.split()
    if len(parts) < 2 or not parts[-1].endswith(":") or not _LETTERS.search(parts[-1]):
        return text
    if len(words) != len(parts) or any(w.text.strip() != p for w, p in zip(words, parts, strict=True)):
        return " ".join(parts[:-1])
    h = _height(words)
    best_k, best_gap = len(parts) - 1, -1.0
    for k in range(len(parts) - 1, max(0, len(parts) - 4), -1):
        if k < len(parts) - 1 and (not _TRAILING_KEY.match(parts[k])
                                   or parts[k].endswith((",", ";", "."))):
            break
        prev, cur = words[k - 1].bbox, words[k].bbox
        gap = float("inf") if _v_overlap(prev, cur) < 0.5 else (cur[0] - prev[2]) / h
        if gap > best_gap:
            best_k, best_gap = k, gap
    return " ".join(parts[:best_k])


def _tidy_form_values(cands: list[_Candidate]) -> None:
    """Values read next to a label or by the form reader, tidied (:func:`form_value`)."""
    for c in cands:
        if c.source.startswith(("layout", "kv", "form")) and c.source != "layout:below":
            words = c.words
            if not words and c.page is not None and c.bbox:
                words = _words_in(c.page, c.bbox)
            c.text = form_value(c.text, words)


_UNIT = re.compile(r"^(?:%|mm|cm|m|km|in\.?|ft\.?|mg|g|kg|lbs?\.?|oz\.?|ml|l|cc|mg/cc|mg/cig\.?|gms?|"
                   r"(?:yrs?|hrs?|mins?|days?|weeks?|months?|years?)\.?)$", re.IGNORECASE)


def _with_units(cands: list[_Candidate]) -> list[_Candidate]:
    """Forms: a number read without the unit printed right after it (``72`` of ``72 mm``,
    ``749`` of ``749 mg``) is also proposed with the unit, trusted a little less (the ranker
    chooses)."""
    out: list[_Candidate] = []
    for c in cands:
        if not c.source.startswith(("layout", "kv", "form")) or c.page is None \
                or not c.text[-1:].isdigit():
            continue
        words = c.words or (_words_in(c.page, c.bbox) if c.bbox else [])
        if not words:
            continue
        last = max(words, key=lambda w: w.bbox[2])
        h = _height(words)
        nxt = [w for w in c.page.words if w.bbox[0] >= last.bbox[2] - 0.1 * h
               and w.bbox[0] - last.bbox[2] < 6 * h and _v_overlap(w.bbox, last.bbox) >= 0.5]
        if not nxt:
            continue
        unit = min(nxt, key=lambda w: w.bbox[0])
        if unit is last or not _UNIT.match(unit.text) or any(unit is w for w in words):
            continue
        out.append(_Candidate(text=f"{c.text} {unit.text}", score=c.score * 0.95, page=c.page,
                              words=[*words, unit], field=c.field, source=c.source))
    return out


def _page_by_number(doc: Document, number: int | None) -> Page | None:
    if number is None:
        return doc.pages[0] if len(doc.pages) == 1 else None
    for p in doc.pages:
        if p.number == number:
            return p
    return None


def _words_in(page: Page, box: Sequence[int]) -> list[Word]:
    x0, y0, x1, y1 = box
    return [w for w in page.words
            if w.box[0] >= x0 - 2 and w.box[2] <= x1 + 2 and w.box[1] >= y0 - 2 and w.box[3] <= y1 + 2]


# -- the learned ranker (forms) ---------------------------------------------------------------
RANK_MODEL_PATH = Path(__file__).with_name("qa_rank.json")
RANK_TOP = 12
"""How many of the best candidates the ranker reorders."""
_RANK_SOURCES = ("field", "field:fallback", "kv", "layout:right", "layout:below", "layout:left", "form",
                 "unlabelled")
_RANK_FAMILIES = ("kv", "layout", "form", "field")
RANK_FEATURES = (
    ("score", "rank", "score_gap", "n_cands")
    + tuple(f"src_{s}" for s in _RANK_SOURCES)
    + tuple(f"fam_{f}" for f in _RANK_FAMILIES)
    + ("role_key", "role_value", "role_header", "role_other",
       "log_chars", "n_words", "digits", "upper", "ends_colon", "has_colon",
       "label_ratio", "label_partial",
       "in_entity", "entity_covered", "link_p", "label_entity_sim",
       "dx_label", "dy_label", "label_score", "mark", "field_question", "ocr_conf",
       "lex_k", "lex_v", "lex_h", "lex_k_last", "lex_known",
       "dx_key", "dy_key", "vov_key", "hov_key", "between_key", "ends_unit")
)
"""What :func:`rank_features` computes per candidate, in order (the ranker checks the count)."""
_RANKER: dict[str, Any] | None = None
_RANKER_READ = False
_RANKER_WARNED = False
_RANKER_LOCK = threading.Lock()


def load_ranker(path: str | Path | None = None) -> dict[str, Any] | None:
    """The candidate ranker (``qa_rank.json``, trained by ``python -m
    extractors.fields.train_qa_rank``), loaded once; ``None`` when missing or unreadable (the
    hand-tuned order is kept)."""
    global _RANKER, _RANKER_READ
    from extractors.fields import kv

    if path is not None:
        return kv.trees_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    if not _RANKER_READ:
        with _RANKER_LOCK:
            if not _RANKER_READ:
                try:
                    _RANKER = kv.trees_from_json(json.loads(RANK_MODEL_PATH.read_text(encoding="utf-8")))
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("qa: ranker %s unusable (%s); hand-tuned order",
                                RANK_MODEL_PATH.name, type(exc).__name__)
                    _RANKER = None
                _RANKER_READ = True
    return _RANKER


def _page_key(page: Page) -> int:
    """A page's cache key in the form reader's caches: its words and their boxes."""
    return hash(tuple((w.text, w.box) for w in page.words))


def _label_links(engine: RulesQA, page: Page, target: str) -> tuple[Any, dict[int, float], float]:
    """The form reader's parse of ``page``, the best link probability from an entity that reads
    as the asked label to each other entity, and how well the best such entity matches."""
    pp, matched, links = engine._asked_links(page, target)
    probs: dict[int, float] = {}
    for _, v, p in links:
        probs[v] = max(probs.get(v, 0.0), p)
    return pp, probs, max(matched.values(), default=0.0)


def _entity_of(pp: Any, words: Sequence[Word]) -> tuple[int | None, float, float]:
    """The form reader's entity holding most of ``words``: its index, the share of ``words`` in
    it and the share of its words they cover."""
    if pp is None or not words:
        return None, 0.0, 0.0
    ids = {id(w) for w in words}
    best, bn = -1, 0
    for i, e in enumerate(pp.entities):
        n = sum(1 for w in e.words if id(w) in ids)
        if n > bn:
            best, bn = i, n
    if best < 0:  # the reader's own copies of the words (leaders cut out): by their boxes
        b = union_box([w.bbox for w in words])
        for i, e in enumerate(pp.entities):
            n = sum(1 for w in e.words if w.bbox[0] >= b[0] - 1 and w.bbox[2] <= b[2] + 1
                    and w.bbox[1] >= b[1] - 1 and w.bbox[3] <= b[3] + 1)
            if n > bn:
                best, bn = i, n
    if best < 0:
        return None, 0.0, 0.0
    return best, bn / len(words), bn / max(1, len(pp.entities[best].words))


def _key_geometry(engine: RulesQA, page: Page | None, target: str, ei: int | None) -> list[float]:
    """Where the candidate's entity ``ei`` sits relative to the nearest entity that reads as the
    asked label, in text heights: dx and dy between their boxes, their vertical and horizontal
    overlap, and how many entities stand in between."""
    none = [-99.0, -99.0, -1.0, -1.0, -1.0]
    if page is None or ei is None or not target:
        return none
    pp, matched, _ = engine._asked_links(page, target)
    if pp is None:
        return none
    ents = pp.entities
    e = ents[ei]
    k = min((k for k in matched if k != ei), default=None,
            key=lambda k: abs(ents[k].x1 - e.x0) + abs(ents[k].y0 - e.y0))
    if k is None:
        return none
    h = max(1.0, pp.med_h)
    le = ents[k]
    hi = min(le.x1, e.x1) - max(le.x0, e.x0)
    bx0, by0 = min(le.x0, e.x0), min(le.y0, e.y0)
    bx1, by1 = max(le.x1, e.x1), max(le.y1, e.y1)
    between = sum(1 for j, o in enumerate(ents) if j not in (k, ei)
                  and bx0 <= (o.x0 + o.x1) / 2 <= bx1 and by0 <= (o.y0 + o.y1) / 2 <= by1)
    return [(e.x0 - le.x1) / h, (e.y0 - le.y1) / h, _v_overlap((0, le.y0, 0, le.y1), (0, e.y0, 0, e.y1)),
            max(0.0, hi) / max(1.0, min(le.x1 - le.x0, e.x1 - e.x0)), float(between)]


def rank_features(engine: RulesQA, doc: Document, query: Query, cands: Sequence[_Candidate],
                  ranked: Sequence[_Candidate]) -> Any:
    """Features of the merged candidates ``ranked`` (best first) for the learned ranker, one row
    per candidate (:data:`RANK_FEATURES`): the hand-tuned score and rank, which sources proposed
    the text, the form reader's roles of its words and the link probability from the asked
    label's entity, the text's shape and how much it reads like a key (lexicon), and where it
    sits relative to the printed label."""
    import numpy as np
    from rapidfuzz import fuzz

    from extractors.fields import kv

    target = norm_label(query.label) if query.label else ""
    fam: dict[str, dict[str, float]] = {}
    for c in cands:
        d = fam.setdefault(" ".join(c.text.lower().split()), {})
        f = c.source.split(":")[0]
        d[f] = max(d.get(f, 0.0), c.score)
    hits = _weighted_labels(doc, query.label, {}) if query.label else []
    hit = hits[0] if hits else None
    model = kv.load_model()
    lex = model.get("lexicon") if model is not None else None
    pages: dict[int, tuple[Any, dict[int, float], float]] = {}
    top = ranked[0].score
    rows = []
    for r, c in enumerate(ranked):
        x = [c.score, float(r), c.score - top, float(len(ranked))]
        x += [float(c.source == s) for s in _RANK_SOURCES]
        families = fam.get(" ".join(c.text.lower().split()), {})
        x += [families.get(f, 0.0) for f in _RANK_FAMILIES]
        page = c.page
        words = c.words or (_words_in(page, c.bbox) if page is not None and c.bbox else [])
        roles = engine._roles_of(page, words) if page is not None and words else None
        x += list(roles) if roles is not None else [-1.0] * 4
        t = c.text
        letters = [ch for ch in t if ch.isalpha()]
        x += [float(np.log1p(len(t))), float(len(t.split())),
              sum(ch.isdigit() for ch in t) / max(1, len(t)),
              sum(ch.isupper() for ch in letters) / max(1, len(letters)),
              float(t.endswith(":")), float(":" in t)]
        nt = norm_label(t)
        x += [fuzz.ratio(nt, target) / 100.0 if target else 0.0,
              fuzz.partial_ratio(target, nt) / 100.0 if target and nt else 0.0]
        if page is not None and target:
            if id(page) not in pages:
                pages[id(page)] = _label_links(engine, page, target)
            pp, probs, msim = pages[id(page)]
            ei, cov_c, cov_e = _entity_of(pp, words)
            x += [cov_c, cov_e, probs.get(ei, -1.0) if ei is not None else -1.0, msim]
        else:
            x += [0.0, 0.0, -1.0, 0.0]
        if hit is not None and words and page is not None and doc.pages[hit.page] is page:
            label = [page.words[i] for i in hit.word_ids]
            lb = union_box([w.bbox for w in label])
            h = _height(label)
            cb = union_box([w.bbox for w in words])
            x += [(cb[0] - lb[2]) / h, (cb[1] - lb[1]) / h, hit.score]
        else:
            x += [-99.0, -99.0, 0.0]
        x += [float(len(t.strip()) == 1 and t.strip() in _MARK_CHARS), float(bool(query.fields)),
              float(np.mean([w.confidence for w in words])) if words else -1.0]
        x += kv.lex_scores(t, lex)
        x += _key_geometry(engine, page, target, ei if page is not None and target else None)
        parts = t.split()
        x.append(float(len(parts) > 1 and parts[-2][-1:].isdigit() and bool(_UNIT.match(parts[-1]))))
        rows.append(x)
    return np.asarray(rows, dtype=float).reshape(len(rows), len(RANK_FEATURES))
