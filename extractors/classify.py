"""Rules classifier: invoice / receipt / form / other from keyword, amount and shape evidence.

Evidence is weighed as a whole (a Malaysian till receipt printing "TAX INVOICE" at the top is
still a receipt: cash/change/cashier/thank-you lines and a narrow strip outweigh one word).

>>> from schemas.document import Document
>>> RulesClassifier(None).classify(Document(source="x", sha256="0", media_type="application/pdf"))
('other', 0.2)
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from schemas.document import Document

__all__ = ["RulesClassifier", "class_scores"]

# (pattern, weight): patterns are matched on lower-cased, accent-kept, whitespace-collapsed text.
_INVOICE: list[tuple[str, float]] = [
    (r"\binvoice\b", 1.0), (r"\binvoice\s*(?:no|number|num|#|n°|nr)\b", 2.0),
    (r"\binvoice\s*date\b", 2.0), (r"\bbill(?:ed)?\s*to\b", 2.5), (r"\bship(?:ped)?\s*to\b", 1.5),
    (r"\bsold\s*to\b", 1.5), (r"\bdue\s*date\b", 2.0), (r"\bpayment\s*(?:terms|due)\b", 2.0),
    (r"\bterms\b", 0.5), (r"\bnet\s*\d{1,2}\b", 1.0), (r"\bamount\s*due\b", 1.5),
    (r"\bbalance\s*due\b", 1.5), (r"\bremit\b", 1.0), (r"\bp\.?\s?o\.?\s*(?:no|number|#)\b", 1.0),
    (r"\bpurchase\s*order\b", 1.0), (r"\bcredit\s*note\b", 2.0), (r"\biban\b", 1.5),
    (r"\bbic\b|\bswift\b", 1.0), (r"\bbank\s*(?:details|account|transfer)\b", 1.0),
    (r"\bunit\s*price\b", 1.0), (r"\bvat\s*(?:no|number|reg|id)\b", 1.0),
    # German
    (r"\brechnung\b", 2.0), (r"\brechnungs(?:nummer|datum|betrag|adresse|-?nr)\b", 2.5),
    (r"\bgutschrift\b", 2.0), (r"\bzahlbar\b", 1.5), (r"\bzahlungs(?:ziel|bedingungen)\b", 2.0),
    (r"\bf[äa]llig", 1.5), (r"\bust-?id", 1.5), (r"\bsteuernummer\b", 1.0), (r"\bnetto\b", 0.7),
    (r"\bmwst\b|\bmehrwertsteuer\b", 0.7), (r"\bbankverbindung\b", 1.5), (r"\bkundennummer\b", 1.5),
    (r"\bleistungszeitraum\b|\blieferdatum\b", 1.0),
    # French
    (r"\bfacture\b", 2.0), (r"\bavoir\b", 1.0), (r"\bfactur[ée]e?\s*à\b", 2.0),
    (r"\bdate\s*d'?\s*[ée]ch[ée]ance\b|\b[ée]ch[ée]ance\b", 2.0), (r"\bconditions\s*de\s*paiement\b", 2.0),
    (r"\bmontant\s*(?:ttc|ht)\b|\btotal\s*(?:ttc|ht)\b", 1.5), (r"\bsiret\b|\bsiren\b", 1.5),
    (r"\btva\s*intracom", 1.5), (r"\brèglement\b|\breglement\b", 1.0),
]
_RECEIPT: list[tuple[str, float]] = [
    (r"\breceipt\b", 2.0), (r"\bcashier\b", 2.0), (r"\bcash\b", 1.0), (r"\bchange\b", 1.5),
    (r"\bchange\s*due\b", 1.5), (r"\bthank\s*(?:you|u)\b", 1.5), (r"\bplease\s*come\s*again\b", 2.0),
    (r"\bqty\b", 0.7), (r"\btel\b", 0.5), (r"\bgst\b", 1.0), (r"\btable\b", 1.0), (r"\bmember\b", 1.0),
    (r"\brounding\b", 2.0), (r"\bsubtotal\b|\bsub\s*total\b", 0.3), (r"\bterminal\b", 1.0),
    (r"\bvisa\b|\bmastercard\b|\bdebit\b|\bcredit\s*card\b", 0.7), (r"\bpos\b", 1.0),
    (r"\bitem\(?s?\)?\b", 0.5), (r"\bpax\b|\bguests?\b|\bserver\b|\bwaiter\b", 1.0),
    (r"\btips?\b|\bgratuity\b", 1.0), (r"\bcounter\b|\bstore\b|\boutlet\b", 0.7),
    (r"\bno\s*refund|\brefund", 1.0), (r"\bgoods\s*sold\b", 1.5), (r"\btender(?:ed)?\b", 1.5),
    (r"\bsdn\.?\s*bhd\b|\bbhd\b|\benterprise\b|\brestaurant\b|\bcaf[ée]\b", 0.7),
    (r"\brm\s?\d", 1.0), (r"\btax\s*invoice\b", 0.5), (r"\bsimplified\s*tax\b", 1.5),
    (r"\bcash\s*bill\b", 2.0), (r"\bbill\s*no\b|\breceipt\s*no\b|\btrans(?:action)?\b", 0.7),
    # German / French
    (r"\bkassenbon\b|\bquittung\b|\bbeleg\b|\bkasse\b|\bbar\b|\bzurück\b|\brückgeld\b", 1.5),
    (r"\bdanke\b|\bvielen\s*dank\b", 1.0), (r"\bticket\b|\bcaisse\b|\brendu\b|\bmerci\b", 1.5),
    (r"\besp[èe]ces\b", 1.0),
]
_FORM: list[tuple[str, float]] = [
    (r"\bsignature\b|\bsigned\b|\bunterschrift\b", 1.5), (r"\bname\s*:", 1.0), (r"\bdate\s*:", 0.5),
    (r"\bfax\b", 0.7), (r"\bto\s*:", 1.0), (r"\bfrom\s*:", 1.0), (r"\bsubject\s*:|\bre\s*:", 1.0),
    (r"\bphone\s*(?:no\.?)?\s*:", 0.5), (r"\bpages?\s*(?:including|incl)", 1.0),
    (r"\bapproved\b|\bapproval\b", 0.7), (r"\bcomments?\s*:|\bremarks?\s*:", 0.7),
    (r"\bplease\s*(?:check|complete|print|fill)\b", 1.0), (r"\bapplication\b|\bquestionnaire\b", 1.0),
    (r"\bdepartment\b|\bdivision\b", 0.5), (r"\bmemo(?:randum)?\b", 1.0), (r"\btitle\s*:", 0.5),
    (r"\baddress\s*:", 0.3), (r"☐|☑|☒|\[\s?[x ]?\s?\]", 1.0), (r"\byes\b.*\bno\b", 0.5),
    (r"\bbrand\b|\bproject\b|\bprogram\b", 0.5), (r"\bformulaire\b|\bformular\b", 1.5),
]

_COMPILED = {
    k: [(re.compile(p, re.IGNORECASE), w) for p, w in v]
    for k, v in (("invoice", _INVOICE), ("receipt", _RECEIPT), ("form", _FORM))
}
_MONEY = re.compile(r"(?<![\d.,])\d{1,3}(?:[.,\s]\d{3})*[.,]\d{2}(?![\d.,])")
_LABEL_COLON = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ .#/()'-]{1,40}:\s*")
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).lower()


def class_scores(doc: Document) -> dict[str, float]:
    """Raw evidence scores per type (higher is more likely)."""
    text = _norm(doc.text)
    scores = {"invoice": 0.0, "receipt": 0.0, "form": 0.0, "other": 0.6}
    for k, pats in _COMPILED.items():
        for pat, w in pats:
            n = len(pat.findall(text))
            if n:
                scores[k] += w * (1.0 + 0.3 * math.log(n))
    lines = [ln.text for p in doc.pages for ln in p.lines]
    n_lines = max(1, len(lines))
    n_money = len(_MONEY.findall(text))
    money_lines = sum(1 for ln in lines if _MONEY.search(ln))
    label_lines = sum(1 for ln in lines if _LABEL_COLON.search(ln))
    label_no_money = sum(1 for ln in lines if _LABEL_COLON.search(ln) and not _MONEY.search(ln))
    has_total = bool(re.search(r"\btotal\b|\bgesamt|\bsumme\b|\bmontant\b|\bttc\b", text))
    if has_total and n_money >= 2:
        scores["invoice"] += 1.0
        scores["receipt"] += 1.0
    elif n_money == 0:
        scores["form"] += 1.0
        scores["invoice"] -= 1.0
        scores["receipt"] -= 1.5
    # money-heavy pages are transactional; label-heavy pages without money are forms
    money_share = money_lines / n_lines
    scores["receipt"] += 2.0 * money_share
    scores["invoice"] += 1.0 * money_share
    scores["form"] += 4.0 * (label_no_money / n_lines) + 0.1 * min(label_lines, 20)
    scores["form"] -= 3.0 * money_share
    if _TIME.search(text):
        scores["receipt"] += 0.7
    # shape: receipts are long narrow strips; invoices/forms are A4/letter
    page = doc.pages[0]
    if page.width > 0 and page.height > 0:
        ratio = page.width / page.height
        if ratio < 0.55:
            scores["receipt"] += 2.0 + 2.0 * (0.55 - ratio)
            scores["form"] -= 1.5  # forms and invoices are (almost) never long narrow strips
            scores["invoice"] -= 0.5
        elif 0.68 <= ratio <= 0.80:
            scores["invoice"] += 0.5
            scores["form"] += 1.0
        elif ratio > 1.1:  # landscape photos / wide scans: weak receipt hint
            scores["receipt"] += 0.3
    # long documents are rarely receipts
    if len(doc.pages) > 2:
        scores["receipt"] -= 1.5
    # "invoice" in a receipt's heading ("TAX INVOICE") is weak on its own
    if re.search(r"\btax\s*invoice\b", text) and not re.search(
        r"\bbill(?:ed)?\s*to\b|\bdue\s*date\b|\bpayment\s*terms\b|\bship\s*to\b", text
    ):
        scores["invoice"] -= 0.8
    # an invoice needs invoice-specific words, not only amounts
    if not re.search(r"invoice|rechnung|facture|gutschrift|avoir|credit note|bill to", text):
        scores["invoice"] -= 1.5
    return scores


class RulesClassifier:
    """Keyword / amount / page-shape classifier; no model weights."""

    name = "rules"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def classify(self, doc: Document) -> tuple[str, float]:
        """``(doc_type, confidence)`` with doc_type in invoice / receipt / form / other."""
        if doc.n_words == 0 or not doc.text.strip():
            return "other", 0.2
        scores = class_scores(doc)
        if doc.n_words < 5:
            scores["other"] += 2.0
        best = max(scores, key=lambda k: scores[k])
        z = sum(math.exp(min(50.0, s - scores[best])) for s in scores.values())
        conf = 1.0 / z
        return best, round(float(conf), 4)
