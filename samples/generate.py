"""Deterministic synthetic invoices and receipts with ground truth.

Run ``python -m samples.generate --out DIR --invoices N --receipts M --seed S`` (see ``--help``) or
call :func:`generate`. Every document is drawn with reportlab (native text PDF) from values chosen
by a per-document random generator; a share of them is then rendered with pypdfium2 and degraded
(grayscale, slight rotation, noise, blur, JPEG) to look scanned, and saved as JPEG, PNG, a
multi-page TIFF or an image-only PDF. ``DIR/labels.jsonl`` holds one ground-truth row per document
with canonical values (see ``samples/README.md``).

The same seed gives byte-identical files: reportlab runs in invariant mode, Pillow's PDF dates are
fixed, and every random choice comes from generators seeded from ``(seed, kind, index)``, so
document ``inv_0003`` is the same whatever the number of documents asked for (as long as the
scanned ratio and languages are the same).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import re
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter

try:
    from faker import Faker
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "samples.generate needs reportlab and Faker: pip install 'docai[samples]'"
    ) from exc

rl_config.invariant = 1

__all__ = ["LAYOUTS", "RECEIPT_LAYOUTS", "generate", "main"]

CENT = Decimal("0.01")
MM = 72.0 / 25.4
FIXED_TIME = time.struct_time((2024, 1, 1, 0, 0, 0, 0, 1, 0))
Color = tuple[float, float, float]
BLACK: Color = (0.0, 0.0, 0.0)
WHITE: Color = (1.0, 1.0, 1.0)
GRAY: Color = (0.3, 0.3, 0.3)
LIGHT: Color = (0.90, 0.90, 0.90)
ACCENTS: list[Color] = [
    (0.10, 0.22, 0.45), (0.05, 0.40, 0.42), (0.50, 0.10, 0.12), (0.25, 0.25, 0.25),
    (0.0, 0.0, 0.0), (0.15, 0.35, 0.20), (0.35, 0.18, 0.45),
]

LAYOUTS: tuple[str, ...] = (
    "classic", "modern_band", "din_letter", "minimal_left", "meta_table", "mono_erp",
)
RECEIPT_LAYOUTS: tuple[str, ...] = (
    "receipt_mono", "receipt_sans", "receipt_restaurant", "receipt_market",
)


# --------------------------------------------------------------------------- formatting helpers


def q2(x: Decimal) -> Decimal:
    """Round to cents, half up (the arithmetic every document uses)."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def canon_money(x: Decimal) -> str:
    return f"{q2(x):.2f}"


def _group(digits: str, sep: str) -> str:
    if not sep:
        return digits
    parts: list[str] = []
    while len(digits) > 3:
        parts.insert(0, digits[-3:])
        digits = digits[:-3]
    parts.insert(0, digits)
    return sep.join(parts)


@dataclass(frozen=True)
class MoneyFmt:
    """How one document prints money: ``pattern`` has ``{s}`` (sign) and ``{n}`` (number)."""

    currency: str
    pattern: str
    dec: str
    thou: str

    def number(self, x: Decimal) -> str:
        q = q2(x)
        ip, fp = f"{abs(q):.2f}".split(".")
        return ("-" if q < 0 else "") + _group(ip, self.thou) + self.dec + fp

    def sym(self, x: Decimal) -> str:
        q = q2(x)
        return self.pattern.format(s="-" if q < 0 else "", n=self.number(abs(q)))

    @property
    def marker(self) -> str:
        """The currency symbol or code this document prints."""
        return self.pattern.replace("{s}", "").replace("{n}", "").strip()


def fmt_qty(q: Decimal, dec: str) -> str:
    return str(q).replace(".", dec)


def fmt_rate(rate: Decimal, dec: str, space: bool) -> str:
    s = format(rate.normalize(), "f").replace(".", dec)
    return s + (" %" if space else "%")


EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
DE_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]


def fmt_date(d: dt.date, style: str) -> str:
    m = d.month - 1
    return {
        "us": f"{d.month:02d}/{d.day:02d}/{d.year}",
        "us_long": f"{EN_MONTHS[m]} {d.day}, {d.year}",
        "us_short": f"{EN_MONTHS[m][:3]} {d.day}, {d.year}",
        "us2": f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
        "iso": d.isoformat(),
        "gb": f"{d.day:02d}/{d.month:02d}/{d.year}",
        "gb_long": f"{d.day} {EN_MONTHS[m]} {d.year}",
        "gb_short": f"{d.day:02d} {EN_MONTHS[m][:3]} {d.year}",
        "gb2": f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
        "dash": f"{d.day:02d}-{d.month:02d}-{d.year}",
        "de": f"{d.day:02d}.{d.month:02d}.{d.year}",
        "de_long": f"{d.day}. {DE_MONTHS[m]} {d.year}",
        "de2": f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
        "fr": f"{d.day:02d}/{d.month:02d}/{d.year}",
        "fr_long": f"{'1er' if d.day == 1 else d.day} {FR_MONTHS[m]} {d.year}",
    }[style]


def safe(s: str) -> str:
    """Keep text printable with the standard PDF fonts (WinAnsi / cp1252)."""
    out = []
    for ch in s.replace("\n", " "):
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base)
    return "".join(out)


def slug(s: str) -> str:
    a = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
    a = re.sub(r"\b(gmbh|ag|kg|sarl|sas|sa|ltd|llc|inc|plc|co|und|and|et|fils|sons)\b", "", a)
    a = re.sub(r"[^a-z0-9]+", "", a)
    return a[:18] or "company"


def pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[rng.randrange(len(seq))]


def money_between(rng: random.Random, lo: float, hi: float) -> Decimal:
    cents = rng.randint(int(lo * 100), int(hi * 100))
    r = rng.random()
    if r < 0.25:
        cents = cents // 100 * 100  # round amounts
    elif r < 0.4:
        cents = cents // 100 * 100 + 99 if cents >= 100 else cents
    elif r < 0.5:
        cents = cents // 50 * 50 if cents >= 50 else cents
    return Decimal(cents) / 100


# --------------------------------------------------------------------------- locale data


@dataclass(frozen=True)
class Region:
    code: str
    lang: str
    faker: str
    pagesize: tuple[float, float]
    monies: tuple[tuple[str, tuple[str, ...]], ...]
    dec: str
    thous: tuple[str, ...]
    dates: tuple[str, ...]
    receipt_dates: tuple[str, ...]


REGIONS: dict[str, Region] = {
    "US": Region("US", "en", "en_US", letter,
                 (("USD", ("{s}${n}", "{s}${n}", "{s}${n}", "{s}{n} USD", "USD {s}{n}")),),
                 ".", (",",), ("us", "us", "us_long", "us_short", "iso"),
                 ("us", "us", "us2", "us_short")),
    "GB": Region("GB", "en", "en_GB", A4,
                 (("GBP", ("{s}£{n}", "{s}£{n}", "{s}{n} GBP", "GBP {s}{n}")),
                  ("EUR", ("{s}€{n}", "EUR {s}{n}"))),
                 ".", (",",), ("gb", "gb", "gb_long", "gb_short", "iso"), ("gb", "gb2", "dash")),
    "DE": Region("DE", "de", "de_DE", A4,
                 (("EUR", ("{s}{n} €", "{s}{n} €", "{s}{n} EUR", "€ {s}{n}", "EUR {s}{n}")),),
                 ",", (".", ".", ".", ""), ("de", "de", "de", "de_long", "iso"), ("de", "de2")),
    "FR": Region("FR", "fr", "fr_FR", A4,
                 (("EUR", ("{s}{n} €", "{s}{n} €", "{s}{n} EUR")),),
                 ",", (" ",), ("fr", "fr", "fr", "fr_long"), ("fr", "gb2")),
    # receipts only: Australian and Malaysian style (GST), English
    "AU": Region("AU", "en", "en_AU", A4, (("AUD", ("{s}${n}", "AUD {s}{n}")),), ".", (",",),
                 ("gb",), ("gb", "gb2")),
    "MY": Region("MY", "en", "en_GB", A4, (("MYR", ("RM{s}{n}", "RM {s}{n}", "{s}{n} MYR")),),
                 ".", (",",), ("gb",), ("gb", "dash", "gb2")),
}

GB_CITIES = ["London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Liverpool",
             "Sheffield", "Edinburgh", "Cardiff", "Leicester", "Nottingham", "Coventry", "Brighton",
             "Reading", "Oxford", "Cambridge", "York", "Bath", "Norwich"]
FR_CITIES = ["Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Nantes", "Strasbourg",
             "Montpellier", "Bordeaux", "Lille", "Rennes", "Reims", "Le Havre", "Saint-Étienne",
             "Toulon", "Grenoble", "Dijon", "Angers", "Nîmes", "Villeurbanne", "Clermont-Ferrand",
             "Le Mans", "Aix-en-Provence", "Brest", "Tours", "Amiens", "Limoges", "Annecy", "Metz"]
MY_CITIES = [("KUALA LUMPUR", "WILAYAH PERSEKUTUAN"), ("JOHOR BAHRU", "JOHOR"),
             ("PETALING JAYA", "SELANGOR"), ("SHAH ALAM", "SELANGOR"), ("IPOH", "PERAK"),
             ("GEORGE TOWN", "PULAU PINANG"), ("SKUDAI", "JOHOR"), ("KLANG", "SELANGOR")]
MY_STREETS = ["JALAN MERDEKA", "JALAN BUKIT BINTANG", "JALAN TUN RAZAK", "JALAN AMPANG",
              "JALAN PERMAS 10", "JALAN SERI AUSTIN 1", "JALAN KENARI 5", "JALAN SS 2/24",
              "JALAN TEBRAU", "JALAN DATO ONN"]

LABELS: dict[str, dict[str, list[str]]] = {
    "en": {
        "title": ["INVOICE", "Invoice", "INVOICE", "TAX INVOICE", "Sales Invoice"],
        "credit_title": ["CREDIT NOTE", "Credit Note", "Credit Memo"],
        "invoice_id": ["Invoice No.", "Invoice #", "Invoice Number", "Invoice No", "Inv. No."],
        "credit_id": ["Credit Note No.", "Credit Memo #", "Credit Note Number"],
        "date": ["Invoice Date", "Date", "Date of Issue", "Issue Date", "Invoice Date"],
        "due": ["Due Date", "Payment Due", "Due Date", "Due"],
        "po": ["PO Number", "P.O. #", "PO #", "Purchase Order", "Your Order No.", "PO No."],
        "terms": ["Terms", "Payment Terms"],
        "customer_no": ["Customer No.", "Account No.", "Customer ID"],
        "ref": ["Original Invoice", "Ref. Invoice", "Relates to Invoice"],
        "bill_to": ["Bill To", "Billed To", "Invoice To", "Customer", "BILL TO"],
        "ship_to": ["Ship To", "Deliver To"],
        "pos": ["#", "No.", "Item"],
        "desc": ["Description", "Item Description", "Description", "Service", "Details"],
        "qty": ["Qty", "Quantity", "Qty", "Units"],
        "unit": ["Unit Price", "Rate", "Price", "Unit Cost"],
        "amount": ["Amount", "Total", "Line Total", "Amount"],
        "code": ["Item #", "SKU", "Code", "Product Code", "Part No."],
        "subtotal": ["Subtotal", "Sub-total", "Subtotal", "Net Amount", "Total before tax"],
        "discount": ["Discount", "Less Discount", "Discount ({p})"],
        "tax_us": ["Tax", "Sales Tax", "Sales Tax ({r})", "Tax ({r})", "Tax {r}"],
        "tax_gb": ["VAT {r}", "VAT ({r})", "VAT @ {r}", "VAT"],
        "total": ["Total", "Invoice Total", "Total Amount", "Grand Total", "TOTAL", "Total"],
        "total_due": ["Amount Due", "Total Due", "Balance Due"],
        "paid": ["Amount Paid", "Less Deposit", "Payments/Credits", "Deposit Received"],
        "amount_due": ["Amount Due", "Balance Due", "Total Due", "Balance"],
        "page": ["Page {p} of {n}", "Page {p}/{n}"],
        "tax_id_us": ["EIN", "Tax ID", "Federal Tax ID", "TIN"],
        "tax_id_gb": ["VAT Reg. No.", "VAT No.", "VAT Registration No.", "VAT Number"],
        "phone": ["Phone", "Tel", "Tel.", "Ph"],
        "email": ["Email", "E-mail"],
        "thanks": ["Thank you for your business!", "Thank you for your order.",
                   "We appreciate your business.", "Thank you!"],
        "salutation": ["Dear Sir or Madam,", "Dear Customer,"],
        "intro": ["Thank you for your order. We invoice you for the following items:",
                  "As agreed, we are charging you for the following services:"],
        "credit_intro": ["We credit you with the following items:"],
        "bank": ["Bank", "Bank details", "Payment details"],
        "pay_checks": ["Please make checks payable to {v}.", "Please include the invoice number "
                       "with your payment."],
    },
    "de": {
        "title": ["RECHNUNG", "Rechnung", "Rechnung", "RECHNUNG"],
        "credit_title": ["Gutschrift", "GUTSCHRIFT", "Rechnungskorrektur"],
        "invoice_id": ["Rechnungsnummer", "Rechnung Nr.", "Rechnungs-Nr.", "Re.-Nr.", "Rechnungsnr."],
        "credit_id": ["Gutschrift Nr.", "Gutschriftsnummer", "Beleg-Nr."],
        "date": ["Rechnungsdatum", "Datum", "Rechnungsdatum", "Belegdatum"],
        "due": ["Fällig am", "Zahlbar bis", "Fälligkeitsdatum", "Fällig bis"],
        "po": ["Bestellnummer", "Ihre Bestellung", "Bestell-Nr.", "Auftragsnummer", "Ihre Bestellnr."],
        "terms": ["Zahlungsbedingungen", "Zahlungsziel", "Zahlungsbedingung"],
        "customer_no": ["Kundennummer", "Kunden-Nr.", "Kd.-Nr."],
        "ref": ["Bezug: Rechnung", "zu Rechnung Nr.", "Ursprungsrechnung"],
        "bill_to": ["Rechnungsadresse", "Rechnungsempfänger", "Kunde", "Rechnung an"],
        "ship_to": ["Lieferadresse", "Lieferanschrift"],
        "pos": ["Pos.", "Pos", "Nr."],
        "desc": ["Beschreibung", "Bezeichnung", "Artikel", "Leistung", "Artikelbezeichnung"],
        "qty": ["Menge", "Anzahl", "Menge", "Stk."],
        "unit": ["Einzelpreis", "E-Preis", "Preis/Einheit", "Einzelpreis"],
        "amount": ["Betrag", "Gesamtpreis", "Gesamt", "Betrag"],
        "code": ["Art.-Nr.", "Artikelnr.", "Art.Nr."],
        "subtotal": ["Zwischensumme", "Nettobetrag", "Summe netto", "Gesamt netto",
                     "Zwischensumme"],
        "discount": ["Rabatt", "Rabatt {p}", "Nachlass"],
        "tax": ["USt. {r}", "MwSt. {r}", "zzgl. {r} USt.", "Umsatzsteuer {r}", "MwSt. ({r})",
                "zzgl. MwSt. {r}"],
        "total": ["Gesamtbetrag", "Rechnungsbetrag", "Gesamtsumme", "Summe brutto",
                  "Endbetrag", "Gesamtbetrag"],
        "total_due": ["Zahlbetrag", "Zu zahlen"],
        "paid": ["Anzahlung", "Bereits bezahlt", "abzgl. Anzahlung"],
        "amount_due": ["Zahlbetrag", "Offener Betrag", "Noch zu zahlen", "Restbetrag"],
        "page": ["Seite {p} von {n}", "Seite {p}/{n}"],
        "tax_id": ["USt-IdNr.", "USt-ID", "Umsatzsteuer-ID", "USt.-IdNr."],
        "phone": ["Tel.", "Telefon", "Tel"],
        "email": ["E-Mail", "Mail"],
        "thanks": ["Vielen Dank für Ihren Auftrag!", "Wir danken für Ihr Vertrauen.",
                   "Vielen Dank für die gute Zusammenarbeit."],
        "salutation": ["Sehr geehrte Damen und Herren,"],
        "intro": ["vielen Dank für Ihren Auftrag. Wir erlauben uns, Ihnen folgende Leistungen in "
                  "Rechnung zu stellen:",
                  "wir berechnen Ihnen folgende Lieferungen und Leistungen:"],
        "credit_intro": ["wir schreiben Ihnen folgende Positionen gut:"],
        "bank": ["Bankverbindung", "Bank"],
        "pay_checks": ["Bitte geben Sie bei der Zahlung die Rechnungsnummer an."],
    },
    "fr": {
        "title": ["FACTURE", "Facture", "FACTURE"],
        "credit_title": ["AVOIR", "Avoir", "Facture d'avoir"],
        "invoice_id": ["Facture n°", "N° de facture", "Numéro de facture", "Facture N°"],
        "credit_id": ["Avoir n°", "N° d'avoir"],
        "date": ["Date de facture", "Date", "Date d'émission", "Date de facturation"],
        "due": ["Échéance", "Date d'échéance", "À régler avant le", "Date limite de paiement"],
        "po": ["Bon de commande", "N° de commande", "Réf. commande", "Votre commande"],
        "terms": ["Conditions de paiement", "Conditions de règlement", "Règlement"],
        "customer_no": ["N° client", "Code client", "Réf. client"],
        "ref": ["Facture d'origine", "Réf. facture", "Avoir sur facture"],
        "bill_to": ["Facturé à", "Client", "Adresse de facturation", "Destinataire"],
        "ship_to": ["Livré à", "Adresse de livraison"],
        "pos": ["N°", "#", "Ligne"],
        "desc": ["Désignation", "Description", "Libellé", "Désignation"],
        "qty": ["Qté", "Quantité", "Qté"],
        "unit": ["Prix unitaire", "P.U. HT", "Prix unit. HT", "PU HT"],
        "amount": ["Montant", "Montant HT", "Total HT", "Montant HT"],
        "code": ["Réf.", "Référence", "Code"],
        "subtotal": ["Sous-total", "Total HT", "Montant HT", "Total HT"],
        "discount": ["Remise", "Remise {p}", "Escompte"],
        "tax": ["TVA {r}", "TVA ({r})", "Montant TVA {r}", "TVA à {r}", "TVA"],
        "total": ["Montant TTC", "Total TTC", "Total", "Total TTC"],
        "total_due": ["Net à payer", "Montant à payer"],
        "paid": ["Acompte versé", "Déjà réglé", "Acompte"],
        "amount_due": ["Net à payer", "Reste à payer", "Solde dû", "Montant restant dû"],
        "page": ["Page {p} sur {n}", "Page {p}/{n}"],
        "tax_id": ["N° TVA intracommunautaire", "TVA intracom.", "N° TVA", "N° TVA intracom."],
        "phone": ["Tél.", "Téléphone", "Tél"],
        "email": ["E-mail", "Courriel", "Email"],
        "thanks": ["Merci pour votre confiance.", "Nous vous remercions de votre commande.",
                   "Merci de votre confiance !"],
        "salutation": ["Madame, Monsieur,"],
        "intro": ["Nous vous remercions de votre commande et vous prions de trouver ci-dessous le "
                  "détail de notre facture :",
                  "Veuillez trouver ci-dessous le détail des prestations facturées :"],
        "credit_intro": ["Nous vous prions de trouver ci-dessous le détail de notre avoir :"],
        "bank": ["Coordonnées bancaires", "Banque", "RIB"],
        "pay_checks": ["En cas de retard de paiement, une indemnité forfaitaire de 40 € pour frais "
                       "de recouvrement sera exigée."],
    },
}

TERMS: dict[str, list[tuple[str, int]]] = {
    "en": [("Net 30", 30), ("Net 30", 30), ("Net 15", 15), ("Net 60", 60), ("Due on receipt", 0),
           ("Payment due within 30 days", 30), ("Net 45", 45), ("14 days", 14)],
    "de": [("Zahlbar innerhalb 14 Tagen", 14), ("Zahlbar innerhalb von 30 Tagen ohne Abzug", 30),
           ("Sofort zahlbar ohne Abzug", 0), ("14 Tage netto", 14), ("30 Tage netto", 30),
           ("Zahlbar innerhalb 14 Tagen", 14)],
    "fr": [("Paiement à 30 jours", 30), ("Paiement à réception", 0), ("Paiement à 45 jours", 45),
           ("Règlement à 30 jours date de facture", 30), ("Payable sous 15 jours", 15)],
}

BANKS = {
    "US": ["Chase Bank", "Bank of America", "Wells Fargo Bank", "Citibank", "PNC Bank"],
    "GB": ["Barclays Bank", "HSBC UK", "Lloyds Bank", "NatWest"],
    "DE": ["Sparkasse KölnBonn", "Deutsche Bank", "Commerzbank", "Volksbank Mittelhessen",
           "Postbank", "Berliner Sparkasse"],
    "FR": ["BNP Paribas", "Crédit Agricole", "Société Générale", "LCL", "Crédit Mutuel"],
}

# (description, low price, high price, quantity kind)
CATALOG: dict[str, list[tuple[str, float, float, str]]] = {
    "en": [
        ("Consulting services", 80, 180, "hours"), ("Software development", 60, 150, "hours"),
        ("Project management", 70, 140, "hours"), ("Website maintenance (monthly)", 150, 600, "n"),
        ("Cloud hosting - Standard plan", 20, 300, "n"), ("Annual software license", 200, 2500, "n"),
        ("Office chair, ergonomic", 120, 450, "n"), ("Laser printer toner cartridge", 40, 120, "n"),
        ("A4 copy paper, 5 reams", 18, 35, "n"), ("USB-C docking station", 90, 250, "n"),
        ("27\" LED monitor", 150, 400, "n"), ("Wireless keyboard and mouse", 25, 80, "n"),
        ("On-site installation", 90, 200, "hours"), ("Training workshop (half day)", 400, 1200, "n"),
        ("Logo design", 250, 1500, "n"), ("SEO audit", 300, 1200, "n"),
        ("Shipping and handling", 5, 60, "n"), ("Network cable Cat6, 5m", 4, 15, "n"),
        ("Technical support", 50, 120, "hours"), ("Translation (per page)", 20, 45, "n"),
        ("Catering for meeting", 150, 800, "n"), ("Copywriting (1,000 words)", 80, 300, "n"),
        ("Data backup service", 30, 150, "n"), ("Steel shelving unit", 60, 220, "n"),
    ],
    "de": [
        ("Beratungsleistung", 80, 160, "hours"), ("Softwareentwicklung", 60, 140, "hours"),
        ("Projektmanagement", 70, 130, "hours"), ("Wartung Webseite (monatlich)", 150, 600, "n"),
        ("Cloud-Hosting Paket M", 20, 300, "n"), ("Softwarelizenz (Jahreslizenz)", 200, 2500, "n"),
        ("Bürostuhl ergonomisch", 120, 450, "n"), ("Tonerkartusche schwarz", 40, 120, "n"),
        ("Kopierpapier A4, 500 Blatt", 4, 9, "n"), ("Dockingstation USB-C", 90, 250, "n"),
        ("Monitor 27 Zoll", 150, 400, "n"), ("Tastatur und Maus kabellos", 25, 80, "n"),
        ("Installation vor Ort", 80, 180, "hours"), ("Schulung (halbtags)", 400, 1200, "n"),
        ("Logo-Entwurf", 250, 1500, "n"), ("Versandkosten", 5, 30, "n"),
        ("Netzwerkkabel Cat6, 5 m", 4, 15, "n"), ("Technischer Support", 50, 110, "hours"),
        ("Übersetzung (pro Seite)", 20, 45, "n"), ("Reinigung Büroräume", 150, 600, "n"),
        ("Fahrtkosten Pauschale", 30, 90, "n"), ("Schwerlastregal Stahl", 60, 220, "n"),
    ],
    "fr": [
        ("Prestation de conseil", 80, 160, "hours"), ("Développement logiciel", 60, 140, "hours"),
        ("Gestion de projet", 70, 130, "hours"), ("Maintenance site web (mensuelle)", 150, 600, "n"),
        ("Hébergement cloud - offre Standard", 20, 300, "n"),
        ("Licence logicielle annuelle", 200, 2500, "n"),
        ("Fauteuil de bureau ergonomique", 120, 450, "n"), ("Cartouche de toner noir", 40, 120, "n"),
        ("Ramette papier A4, 500 feuilles", 4, 9, "n"), ("Station d'accueil USB-C", 90, 250, "n"),
        ("Écran 27 pouces", 150, 400, "n"), ("Clavier et souris sans fil", 25, 80, "n"),
        ("Installation sur site", 80, 180, "hours"), ("Formation (demi-journée)", 400, 1200, "n"),
        ("Création de logo", 250, 1500, "n"), ("Frais de port", 5, 30, "n"),
        ("Câble réseau Cat6, 5 m", 4, 15, "n"), ("Assistance technique", 50, 110, "hours"),
        ("Traduction (par page)", 20, 45, "n"), ("Nettoyage des locaux", 150, 600, "n"),
        ("Frais de déplacement", 30, 90, "n"), ("Étagère métallique", 60, 220, "n"),
    ],
}


# --------------------------------------------------------------------------- people and places


def _fake_city(fk: Faker, region: str, rng: random.Random) -> str:
    if region == "GB":
        return pick(rng, GB_CITIES)
    if region == "FR":
        return pick(rng, FR_CITIES)
    return safe(fk.city())


def address_lines(fk: Faker, region: str, rng: random.Random) -> list[str]:
    """A postal address as printed lines (no name)."""
    if region == "MY":
        city, state = pick(rng, MY_CITIES)
        return [f"NO. {rng.randint(1, 120)}, {pick(rng, MY_STREETS)}",
                f"{rng.randint(10000, 89999)} {city}, {state}"]
    street = [safe(s.strip()) for s in fk.street_address().split("\n") if s.strip()]
    if region == "US":
        tail = f"{safe(fk.city())}, {fk.state_abbr(False, False)} {fk.zipcode()}"
        return [*street, tail]
    if region == "AU":
        return [*street, f"{safe(fk.city())} {fk.state_abbr()} {fk.postcode()}"]
    city = _fake_city(fk, region, rng)
    if region == "GB":
        if rng.random() < 0.5:
            return [*street, city, fk.postcode()]
        return [*street, f"{city} {fk.postcode()}"]
    lines = [*street, f"{fk.postcode()} {city}"]
    if rng.random() < 0.15:
        lines.append("Deutschland" if region == "DE" else "France")
    return lines


def company_name(fk: Faker, region: str, rng: random.Random) -> str:
    last = safe(fk.last_name())
    if region == "DE":
        trade = pick(rng, ["Bautechnik", "Elektrotechnik", "IT-Service", "Bürobedarf", "Logistik",
                           "Medien", "Consulting", "Haustechnik", "Druckerei", "Software"])
        suffix = pick(rng, ["GmbH", "GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", "UG"])
        return pick(rng, [f"{last} {suffix}", f"{last} {trade} {suffix}",
                          f"{last} & {safe(fk.last_name())} {suffix}"])
    if region == "FR":
        trade = pick(rng, ["Transports", "Informatique", "Bureautique", "Conseil", "Électricité",
                           "Imprimerie", "Services", "Plomberie"])
        suffix = pick(rng, ["SARL", "SAS", "SA", "EURL", "SAS"])
        return pick(rng, [f"{last} {suffix}", f"{trade} {last} {suffix}", f"{last} et Fils",
                          f"{trade} {last}"])
    if region == "GB":
        trade = pick(rng, ["Consulting", "Supplies", "Engineering", "Digital", "Print", "Services"])
        return pick(rng, [safe(fk.company()), f"{last} {trade} Ltd", f"{last} & Co Ltd"])
    return pick(rng, [safe(fk.company()), safe(fk.company()), f"{last} {pick(rng, ['Supply', 'Solutions', 'Consulting', 'Systems', 'Design'])} LLC"])


def phone_number(region: str, rng: random.Random) -> str:
    d = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    a = str(rng.randint(2, 9)) + d(2)
    if region == "US":
        return pick(rng, [f"({a}) {d(3)}-{d(4)}", f"{a}-{d(3)}-{d(4)}", f"+1 {a} {d(3)} {d(4)}"])
    if region == "GB":
        return pick(rng, [f"020 {d(4)} {d(4)}", f"0161 {d(3)} {d(4)}", f"+44 20 {d(4)} {d(4)}",
                          f"01{d(3)} {d(6)}"])
    if region == "DE":
        return pick(rng, [f"0{a} {d(7)}", f"+49 {a} {d(7)}", f"0{d(3)} / {d(2)} {d(2)} {d(2)}",
                          f"030 {d(8)}"])
    if region == "FR":
        return pick(rng, [f"0{rng.randint(1, 5)} {d(2)} {d(2)} {d(2)} {d(2)}",
                          f"+33 {rng.randint(1, 5)} {d(2)} {d(2)} {d(2)} {d(2)}"])
    if region == "AU":
        return pick(rng, [f"(02) {d(4)} {d(4)}", f"(03) {d(4)} {d(4)}", f"04{d(2)} {d(3)} {d(3)}"])
    return pick(rng, [f"03-{d(4)} {d(4)}", f"07-{d(3)} {d(4)}", f"03-{d(8)}"])


def tax_id(region: str, rng: random.Random) -> str:
    d = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    if region == "US":
        return f"{rng.randint(10, 99)}-{d(7)}"
    if region == "GB":
        return pick(rng, [f"GB{d(9)}", f"GB{d(9)}", f"GB {d(3)} {d(4)} {d(2)}"])
    if region == "DE":
        return f"DE{rng.randint(1, 9)}{d(8)}"
    return pick(rng, [f"FR{d(2)}{rng.randint(1, 9)}{d(8)}", f"FR{d(2)}{rng.randint(1, 9)}{d(8)}",
                      f"FR {d(2)} {rng.randint(1, 9)}{d(8)}"])


def iban(fk: Faker, region: str) -> str:
    raw = fk.iban()
    if region == "DE" and not raw.startswith("DE"):
        raw = "DE" + raw[2:22]
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


# --------------------------------------------------------------------------- invoice model


@dataclass
class Item:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    code: str | None = None


@dataclass
class InvoiceDoc:
    layout: str
    lang: str
    region: str
    money: MoneyFmt
    date_style: str
    pagesize: tuple[float, float]
    credit: bool
    L: dict[str, str]
    title: str
    vendor_name: str
    vendor_lines: list[str]
    vendor_phone: str
    vendor_email: str
    vendor_web: str | None
    tax_id_label: str
    tax_id: str | None
    tax_id_where: str
    customer_name: str
    customer_lines: list[str]
    customer_no: str | None
    ship_lines: list[str] | None
    invoice_id: str
    invoice_date: dt.date
    due_date: dt.date | None
    po: str | None
    terms: str | None
    terms_where: str
    ref_invoice: str | None
    items: list[Item]
    show_code: bool
    show_pos: bool
    subtotal: Decimal
    discount: Decimal | None
    discount_label: str
    tax_rate: Decimal | None
    tax: Decimal | None
    tax_label: str
    total: Decimal
    total_label: str
    paid: Decimal | None
    paid_label: str
    amount_due: Decimal | None
    amount_due_label: str
    amount_due_mode: str
    accent: Color
    table_symbol: bool
    colon: bool
    bank_name: str
    bank_lines: list[str]
    notes: list[str]
    legal: list[str]
    row_h: float
    table_style: str
    totals_style: str
    page_label: str
    always_page_no: bool
    intro: list[str] = field(default_factory=list)

    def date(self, d: dt.date) -> str:
        return fmt_date(d, self.date_style)

    def lab(self, s: str) -> str:
        if not self.colon:
            return s
        return s + (" :" if self.lang == "fr" else ":")

    def cell_money(self, x: Decimal) -> str:
        return self.money.sym(x) if self.table_symbol else self.money.number(x)


def _make_id(rng: random.Random, forms: Sequence[str], d: dt.date) -> str:
    f = pick(rng, forms)
    return f.format(y=d.year, m=d.month, n3=rng.randint(1, 999), n4=rng.randint(1, 9999),
                    n5=rng.randint(1, 99999), n6=rng.randint(100000, 999999),
                    n8=rng.randint(10**7, 10**8 - 1))


ID_FORMS = {
    "en": ["INV-{y}-{n5:05d}", "INV{n6}", "{y}-{n4:04d}", "{n5:05d}", "A-{n4:04d}",
           "{y}{m:02d}-{n3:03d}"],
    "de": ["RE-{y}-{n5:05d}", "{y}-{n4:04d}", "R{n6}", "{n5:05d}", "RG{y}{n4:04d}"],
    "fr": ["F{y}-{n4:04d}", "FA-{y}-{n5:05d}", "{y}{m:02d}-{n3:03d}", "{n5:05d}", "FAC-{n6}"],
}
CREDIT_FORMS = {"en": ["CN-{y}-{n4:04d}", "CR{n6}"], "de": ["GS-{y}-{n4:04d}", "G{n6}"],
                "fr": ["AV-{y}-{n4:04d}", "AV{n6}"]}
PO_FORMS = {
    "en": ["PO-{n5:05d}", "45{n8}", "PO{n6}", "{n4:04d}/{y}", "PO-{y}-{n3:03d}"],
    "de": ["BST-{y}-{n3:03d}", "45{n8}", "{n6}", "B-{n5:05d}"],
    "fr": ["BC-{n5:05d}", "CMD-{y}-{n4:04d}", "{n6}", "BC{y}{n3:03d}"],
}
CUST_FORMS = {"en": ["C-{n5:05d}", "CUST{n4:04d}", "{n6}"], "de": ["K-{n5:05d}", "{n5:05d}", "KD{n4:04d}"],
              "fr": ["CL{n5:05d}", "C{n4:04d}", "{n6}"]}


def _labels(rng: random.Random, lang: str) -> dict[str, str]:
    return {k: pick(rng, v) for k, v in LABELS[lang].items()}


def build_invoice(rng: random.Random, fk: Faker, region: str, layout: str) -> InvoiceDoc:
    reg = REGIONS[region]
    lang = reg.lang
    L = _labels(rng, lang)
    credit = rng.random() < 0.05
    cur, patterns = reg.monies[1] if region == "GB" and rng.random() < 0.15 else reg.monies[0]
    money = MoneyFmt(cur, pick(rng, patterns), reg.dec, pick(rng, reg.thous))
    date_style = pick(rng, reg.dates)
    if layout == "mono_erp" and date_style.endswith("long"):
        date_style = reg.dates[0]

    vendor = company_name(fk, region, rng)
    vlines = address_lines(fk, region, rng)
    dom = slug(vendor) + {"US": ".com", "GB": ".co.uk", "DE": ".de", "FR": ".fr"}[region]
    vendor_email = pick(rng, ["info", "billing", "accounts", "contact", "rechnung" if lang == "de"
                              else "compta" if lang == "fr" else "invoices"]) + "@" + dom
    customer = company_name(fk, region, rng) if rng.random() < 0.5 else safe(fk.name())
    clines = address_lines(fk, region, rng)
    ship = address_lines(fk, region, rng) if rng.random() < 0.2 else None

    inv_date = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 3 + 200))
    invoice_id = _make_id(rng, CREDIT_FORMS[lang] if credit else ID_FORMS[lang], inv_date)
    terms_text, days = pick(rng, TERMS[lang])
    show_terms = rng.random() < 0.6 and not credit
    show_due = rng.random() < 0.7 and not credit
    due = inv_date + dt.timedelta(days=days if days else rng.choice([0, 14, 30])) if show_due else None
    if show_due and show_terms:
        due = inv_date + dt.timedelta(days=days)
    po = _make_id(rng, PO_FORMS[lang], inv_date) if rng.random() < 0.45 and not credit else None
    cust_no = _make_id(rng, CUST_FORMS[lang], inv_date) if rng.random() < 0.35 else None
    ref = _make_id(rng, ID_FORMS[lang], inv_date - dt.timedelta(days=rng.randint(5, 60))) if credit else None

    # line items
    if credit:
        n_items = rng.randint(1, 3)
    elif rng.random() < 0.15:
        n_items = rng.randint(30, 44)
    else:
        n_items = rng.choice([1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12])
    show_code = layout == "meta_table" or rng.random() < 0.3
    code_form = pick(rng, ["SKU-{n}", "ART-{n}", "A{n}", "{n}", "P-{n}"])
    items: list[Item] = []
    sign = Decimal(-1) if credit else Decimal(1)
    for _ in range(n_items):
        desc, lo, hi, kind = pick(rng, CATALOG[lang])
        unit = money_between(rng, lo, hi) * sign
        if kind == "hours":
            qty = Decimal(rng.randint(1, 80)) / Decimal(2)
        elif abs(unit) > 400:
            qty = Decimal(pick(rng, [1, 1, 1, 2, 3]))
        elif abs(unit) > 60:
            qty = Decimal(pick(rng, [1, 1, 2, 2, 3, 4, 5, 6]))
        else:
            qty = Decimal(pick(rng, [1, 1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 25]))
        code = code_form.format(n=rng.randint(1000, 99999)) if show_code else None
        items.append(Item(desc, qty, unit, q2(qty * unit), code))
    subtotal = sum((it.amount for it in items), Decimal("0"))

    discount = None
    discount_label = ""
    if not credit and rng.random() < 0.12:
        pct = Decimal(pick(rng, [2, 3, 5, 10]))
        discount = q2(subtotal * pct / 100)
        discount_label = L["discount"].replace("{p}", fmt_rate(pct, reg.dec, lang != "en"))
    base = subtotal - (discount or 0)

    if region == "US":
        rate: Decimal | None = (None if rng.random() < 0.15 else
                                Decimal(pick(rng, ["6", "6.25", "7", "7.25", "8", "8.25", "8.875", "9.5"])))
        tax_tpl = L["tax_us"]
    elif region == "GB":
        rate = Decimal(pick(rng, ["20", "20", "20", "5"]))
        tax_tpl = L["tax_gb"]
    elif region == "DE":
        rate = Decimal(pick(rng, ["19", "19", "19", "19", "7"]))
        tax_tpl = L["tax"]
    else:
        rate = Decimal(pick(rng, ["20", "20", "20", "10", "5.5"]))
        tax_tpl = L["tax"]
    tax = q2(base * rate / 100) if rate is not None else None
    tax_label = tax_tpl.replace("{r}", fmt_rate(rate, reg.dec, lang != "en" and rng.random() < 0.5)) if rate is not None else ""
    total = base + (tax or 0)

    mode = "total" if credit else pick(rng, ["total"] * 6 + ["total_is_due"] * 2 + ["both"] * 1 + ["deposit"] * 1)
    paid = None
    amount_due = None
    total_label = L["total"]
    if mode == "total_is_due":
        total_label = L["total_due"]
        amount_due = total
    elif mode == "both":
        amount_due = total
    elif mode == "deposit":
        paid = q2(total * Decimal(pick(rng, [20, 25, 30, 50])) / 100)
        amount_due = total - paid

    tax_id_label = L["tax_id_us"] if region == "US" else L["tax_id_gb"] if region == "GB" else L["tax_id"]
    has_tax_id = rng.random() < (0.55 if region == "US" else 0.92)
    tid = tax_id(region, rng) if has_tax_id else None

    bank_name = pick(rng, BANKS[region])
    if region == "US":
        bank_lines = [bank_name, f"Account: {rng.randint(10**8, 10**10 - 1)}",
                      f"Routing: {rng.randint(10**8, 10**9 - 1)}"]
    else:
        ib = iban(fk, region)
        bic = fk.swift8()
        bank_lines = [bank_name, f"IBAN: {ib}", f"BIC: {bic}"]
    if lang == "fr":
        bank_lines = [bank_name, f"IBAN : {iban(fk, region)}", f"BIC : {fk.swift8()}"]

    title = L["credit_title"] if credit else L["title"]
    if credit:
        L["invoice_id"] = L["credit_id"]
    notes = [L["thanks"]]
    if rng.random() < 0.4:
        notes.insert(0, L["pay_checks"].replace("{v}", vendor))
    legal: list[str] = []
    if region == "FR":
        capital = MoneyFmt("EUR", "{s}{n} €", ",", " ").sym(Decimal(pick(rng, [1000, 5000, 10000, 50000])))
        siren = f"{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
        legal = [f"{pick(rng, ['SARL', 'SAS', 'SA'])} au capital de {capital}",
                 f"RCS {pick(rng, FR_CITIES)} {siren}",
                 f"SIRET {siren.replace(' ', '')}{rng.randint(10000, 99999)}"]
    elif region == "DE":
        legal = [f"Geschäftsführer: {safe(fk.name())}",
                 f"Amtsgericht {safe(fk.city())} HRB {rng.randint(1000, 99999)}"]
    elif region == "GB":
        legal = [f"Registered in England and Wales No. {rng.randint(10**7, 10**8 - 1)}"]

    terms_where = pick(rng, ["meta", "notes"])
    if layout == "modern_band" or len(terms_text) > 26:  # no room in the meta block
        terms_where = "notes"
    intro_key = "credit_intro" if credit else "intro"
    doc = InvoiceDoc(
        layout=layout, lang=lang, region=region, money=money, date_style=date_style,
        pagesize=reg.pagesize, credit=credit, L=L, title=title,
        vendor_name=vendor, vendor_lines=vlines, vendor_phone=phone_number(region, rng),
        vendor_email=vendor_email, vendor_web=("www." + dom) if rng.random() < 0.4 else None,
        tax_id_label=tax_id_label, tax_id=tid,
        tax_id_where=pick(rng, ["header", "footer"]) if layout not in ("din_letter", "modern_band") else "footer",
        customer_name=customer, customer_lines=clines, customer_no=cust_no, ship_lines=ship,
        invoice_id=invoice_id, invoice_date=inv_date, due_date=due, po=po,
        terms=terms_text if show_terms else None, terms_where=terms_where, ref_invoice=ref,
        items=items, show_code=show_code, show_pos=layout == "din_letter" or rng.random() < 0.2,
        subtotal=subtotal, discount=discount, discount_label=discount_label, tax_rate=rate,
        tax=tax, tax_label=tax_label, total=total, total_label=total_label, paid=paid,
        paid_label=L["paid"], amount_due=amount_due, amount_due_label=L["amount_due"],
        amount_due_mode=mode, accent=pick(rng, ACCENTS), table_symbol=rng.random() < 0.4,
        colon=rng.random() < 0.6, bank_name=bank_name, bank_lines=bank_lines, notes=notes,
        legal=legal, row_h=pick(rng, [15.0, 16.0, 17.0, 18.0]),
        table_style={"classic": pick(rng, ["grid", "lines"]), "modern_band": "shaded",
                     "din_letter": "plain", "minimal_left": pick(rng, ["lines", "plain"]),
                     "meta_table": "grid", "mono_erp": "mono"}[layout],
        totals_style={"classic": "right", "modern_band": "band", "din_letter": "right",
                      "minimal_left": "left", "meta_table": "boxed", "mono_erp": "mono"}[layout],
        page_label=L["page"], always_page_no=rng.random() < 0.3,
        intro=[L["salutation"], L[intro_key]],
    )
    if doc.amount_due_mode == "both":
        doc.amount_due_label = L["amount_due"]
    return doc


def invoice_truth(doc: InvoiceDoc) -> tuple[dict[str, str], dict[str, str], list[dict[str, str]]]:
    """Canonical fields, printed texts and line items of an invoice."""
    f: dict[str, str] = {}
    p: dict[str, str] = {}

    def put(name: str, value: str, printed: str) -> None:
        f[name] = value
        p[name] = printed

    put("vendor_name", doc.vendor_name, doc.vendor_name)
    addr = ", ".join(doc.vendor_lines)
    put("vendor_address", addr, addr)
    if doc.tax_id:
        put("vendor_tax_id", doc.tax_id, doc.tax_id)
    put("customer_name", doc.customer_name, doc.customer_name)
    caddr = ", ".join(doc.customer_lines)
    put("customer_address", caddr, caddr)
    put("invoice_id", doc.invoice_id, doc.invoice_id)
    put("invoice_date", doc.invoice_date.isoformat(), doc.date(doc.invoice_date))
    if doc.due_date:
        put("due_date", doc.due_date.isoformat(), doc.date(doc.due_date))
    if doc.po:
        put("po_number", doc.po, doc.po)
    if doc.terms:
        put("payment_terms", doc.terms, doc.terms)
    put("currency", doc.money.currency, doc.money.marker)
    put("subtotal", canon_money(doc.subtotal), doc.money.sym(doc.subtotal))
    if doc.discount is not None:
        put("discount", canon_money(doc.discount), doc.money.sym(-doc.discount))
    if doc.tax is not None:
        put("tax_total", canon_money(doc.tax), doc.money.sym(doc.tax))
    put("total", canon_money(doc.total), doc.money.sym(doc.total))
    if doc.amount_due is not None:
        put("amount_due", canon_money(doc.amount_due), doc.money.sym(doc.amount_due))
    items = []
    for it in doc.items:
        row = {"description": it.description, "quantity": str(it.quantity),
               "unit_price": canon_money(it.unit_price), "amount": canon_money(it.amount)}
        if doc.show_code and it.code:
            row["product_code"] = it.code
        items.append(row)
    return f, p, items


# --------------------------------------------------------------------------- drawing helpers


class Pen:
    """Thin wrapper over a reportlab canvas with y measured from the bottom (PDF points)."""

    def __init__(self, c: Canvas, regular: str, bold: str, italic: str, W: float, H: float):
        self.c, self.regular, self.bold, self.italic, self.W, self.H = c, regular, bold, italic, W, H

    def font(self, bold: bool = False, italic: bool = False) -> str:
        return self.bold if bold else self.italic if italic else self.regular

    def width(self, s: str, size: float, bold: bool = False, italic: bool = False) -> float:
        return stringWidth(s, self.font(bold, italic), size)

    def fit(self, s: str, size: float, maxw: float, bold: bool = False, lo: float = 6.0) -> float:
        while size > lo and self.width(s, size, bold) > maxw:
            size -= 0.5
        return size

    def clip(self, s: str, size: float, maxw: float, bold: bool = False) -> str:
        if self.width(s, size, bold) <= maxw:
            return s
        words = s.split(" ")
        while len(words) > 1 and self.width(" ".join(words), size, bold) > maxw:
            words.pop()
        return " ".join(words)

    def text(self, x: float, y: float, s: str, size: float = 9, bold: bool = False,
             align: str = "l", color: Color = BLACK, italic: bool = False) -> None:
        c = self.c
        c.setFillColorRGB(*color)
        c.setFont(self.font(bold, italic), size)
        if align == "r":
            c.drawRightString(x, y, s)
        elif align == "c":
            c.drawCentredString(x, y, s)
        else:
            c.drawString(x, y, s)

    def hline(self, x0: float, x1: float, y: float, w: float = 0.5, color: Color = BLACK,
              dash: bool = False) -> None:
        c = self.c
        c.setStrokeColorRGB(*color)
        c.setLineWidth(w)
        c.setDash(2, 2) if dash else c.setDash()
        c.line(x0, y, x1, y)
        c.setDash()

    def vline(self, x: float, y0: float, y1: float, w: float = 0.5, color: Color = BLACK) -> None:
        c = self.c
        c.setStrokeColorRGB(*color)
        c.setLineWidth(w)
        c.line(x, y0, x, y1)

    def rect(self, x: float, y: float, w: float, h: float, fill: Color | None = None,
             stroke: Color | None = BLACK, lw: float = 0.5) -> None:
        c = self.c
        if fill is not None:
            c.setFillColorRGB(*fill)
        if stroke is not None:
            c.setStrokeColorRGB(*stroke)
        c.setLineWidth(lw)
        c.rect(x, y, w, h, stroke=1 if stroke is not None else 0, fill=1 if fill is not None else 0)


def tint(c: Color, k: float = 0.85) -> Color:
    return (c[0] + (1 - c[0]) * k, c[1] + (1 - c[1]) * k, c[2] + (1 - c[2]) * k)


@dataclass
class Col:
    key: str
    label: str
    x: float
    w: float
    align: str


def build_cols(doc: InvoiceDoc, pen: Pen, x0: float, x1: float, size: float) -> list[Col]:
    spec: list[tuple[str, str, float, str]] = []
    L = doc.L
    if doc.show_pos:
        spec.append(("pos", L["pos"], 28, "l"))
    if doc.show_code:
        spec.append(("code", L["code"], 62, "l"))
    spec.append(("desc", L["desc"], 0, "l"))
    spec.append(("qty", L["qty"], 46, "r"))
    money_w = 86 if doc.table_symbol else 74
    spec.append(("unit", L["unit"], money_w, "r"))
    spec.append(("amount", L["amount"], money_w + 6, "r"))
    fixed = sum(s[2] for s in spec)
    cols = []
    x = x0
    for key, label, w, align in spec:
        w = w or (x1 - x0 - fixed)
        cols.append(Col(key, label, x, w, align))
        x += w
    return cols


def item_cells(doc: InvoiceDoc, i: int, it: Item) -> dict[str, str]:
    return {"pos": str(i + 1), "code": it.code or "", "desc": it.description,
            "qty": fmt_qty(it.quantity, REGIONS[doc.region].dec),
            "unit": doc.cell_money(it.unit_price), "amount": doc.cell_money(it.amount)}


def draw_cell(pen: Pen, col: Col, y: float, s: str, size: float, bold: bool = False,
              color: Color = BLACK, pad: float = 4) -> None:
    if col.align == "r":
        pen.text(col.x + col.w - pad, y, s, size, bold, "r", color)
    else:
        pen.text(col.x + pad, y, s, size, bold, "l", color)


def draw_table_header(pen: Pen, doc: InvoiceDoc, cols: list[Col], y: float, size: float) -> float:
    st = doc.table_style
    h = doc.row_h + 2
    x0, x1 = cols[0].x, cols[-1].x + cols[-1].w
    base = y - h + (h - size) / 2 + 1.5
    labels = [c.label.upper() if st == "mono" else c.label for c in cols]
    color = BLACK
    if st == "grid":
        pen.rect(x0, y - h, x1 - x0, h, fill=LIGHT if doc.accent == BLACK else tint(doc.accent))
        for c in cols[1:]:
            pen.vline(c.x, y - h, y)
    elif st == "shaded":
        pen.rect(x0, y - h, x1 - x0, h, fill=doc.accent, stroke=None)
        color = WHITE
    elif st == "mono":
        pen.text(x0, y - 8, "-" * int((x1 - x0) / pen.width("-", size)), size)
        y -= 10
        base = y - h + (h - size) / 2 + 1.5
    for c, lab in zip(cols, labels, strict=True):
        draw_cell(pen, c, base, lab, pen.fit(lab, size, c.w - 6, True), True, color)
    y -= h
    if st in ("plain", "lines"):
        pen.hline(x0, x1, y + 2, 1.0 if st == "lines" else 0.7)
    elif st == "mono":
        pen.text(x0, y - 4, "-" * int((x1 - x0) / pen.width("-", size)), size)
        y -= 8
    return y


def draw_item_row(pen: Pen, doc: InvoiceDoc, cols: list[Col], y: float, cells: dict[str, str],
                  idx: int, size: float) -> float:
    st = doc.table_style
    h = doc.row_h
    x0, x1 = cols[0].x, cols[-1].x + cols[-1].w
    if st == "shaded" and idx % 2 == 1:
        pen.rect(x0, y - h, x1 - x0, h, fill=(0.95, 0.95, 0.95), stroke=None)
    base = y - h + (h - size) / 2 + 1.5
    for c in cols:
        s = cells[c.key]
        draw_cell(pen, c, base, s, size)
    if st == "grid":
        pen.rect(x0, y - h, x1 - x0, h)
        for c in cols[1:]:
            pen.vline(c.x, y - h, y)
    elif st == "lines":
        pen.hline(x0, x1, y - h, 0.3, GRAY)
    return y - h


def close_table(pen: Pen, doc: InvoiceDoc, cols: list[Col], y: float, size: float) -> float:
    x0, x1 = cols[0].x, cols[-1].x + cols[-1].w
    st = doc.table_style
    if st in ("plain", "shaded"):
        pen.hline(x0, x1, y - 2, 0.7)
    elif st == "mono":
        pen.text(x0, y - 8, "-" * int((x1 - x0) / pen.width("-", size)), size)
        y -= 8
    return y - 14


def totals_rows(doc: InvoiceDoc) -> list[tuple[str, str, bool]]:
    m = doc.money.sym
    rows = [(doc.L["subtotal"], m(doc.subtotal), False)]
    if doc.discount is not None:
        rows.append((doc.discount_label, m(-doc.discount), False))
    if doc.tax is not None:
        rows.append((doc.tax_label, m(doc.tax), False))
    rows.append((doc.total_label, m(doc.total), True))
    if doc.paid is not None:
        rows.append((doc.paid_label, m(-doc.paid), False))
    if doc.amount_due_mode in ("both", "deposit") and doc.amount_due is not None:
        rows.append((doc.amount_due_label, m(doc.amount_due), True))
    return rows


def totals_height(doc: InvoiceDoc) -> float:
    return len(totals_rows(doc)) * 17 + 24


def draw_totals(pen: Pen, doc: InvoiceDoc, y: float, x0: float, x1: float, size: float) -> float:
    rows = totals_rows(doc)
    st = doc.totals_style
    bw = 240.0
    if st == "left":
        bx0, bx1 = x0, x0 + bw
    else:
        bx0, bx1 = x1 - bw, x1
    rh = 16.0
    for label, value, strong in rows:
        lab = doc.lab(label) if doc.colon and st != "boxed" else label
        base = y - rh + 4.5
        color = BLACK
        if st == "boxed":
            pen.rect(bx0, y - rh, bw * 0.58, rh, fill=LIGHT)
            pen.rect(bx0 + bw * 0.58, y - rh, bw * 0.42, rh)
        elif st == "band" and strong:
            pen.rect(bx0 - 6, y - rh - 2, bw + 6 + (pen.W - bx1), rh + 2, fill=doc.accent, stroke=None)
            color = WHITE
            base -= 1
        elif strong and st in ("right", "left"):
            pen.hline(bx0, bx1, y, 1.0)
        elif strong and st == "mono":
            pen.text(bx1, y - 6, "=" * 14, size, align="r")
            y -= 8
            base = y - rh + 4.5
        sz = size + (1 if strong and st != "mono" else 0)
        lx = bx0 + (4 if st == "boxed" else 0)
        pen.text(lx, base, lab, pen.fit(lab, sz, bw * 0.58 - 6, strong), strong, "l", color)
        pen.text(bx1 - (4 if st == "boxed" else 0), base, value, sz, strong, "r", color)
        y -= rh + (2 if st == "band" and strong else 0)
    return y - 10


def notes_lines(doc: InvoiceDoc) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    if doc.terms and doc.terms_where == "notes":
        if doc.layout == "din_letter" and doc.lang == "de":
            out.append((doc.terms + ".", False))
        else:
            out.append((f"{doc.lab(doc.L['terms'])} {doc.terms}", False))
    out.extend((n, False) for n in doc.notes)
    return out


def notes_height(doc: InvoiceDoc) -> float:
    return len(notes_lines(doc)) * 12 + 8


def draw_notes(pen: Pen, doc: InvoiceDoc, y: float, x0: float, size: float) -> float:
    for s, b in notes_lines(doc):
        pen.text(x0, y, s, size, b)
        y -= 12
    return y


def meta_pairs(doc: InvoiceDoc, with_terms: bool = True) -> list[tuple[str, str]]:
    L = doc.L
    pairs = [(L["invoice_id"], doc.invoice_id), (L["date"], doc.date(doc.invoice_date))]
    if doc.ref_invoice:
        pairs.append((L["ref"], doc.ref_invoice))
    if doc.customer_no:
        pairs.append((L["customer_no"], doc.customer_no))
    if doc.po:
        pairs.append((L["po"], doc.po))
    if doc.due_date:
        pairs.append((L["due"], doc.date(doc.due_date)))
    if doc.terms and with_terms and doc.terms_where == "meta":
        pairs.append((L["terms"], doc.terms))
    return pairs


def contact_lines(doc: InvoiceDoc, with_tax: bool = True) -> list[str]:
    L = doc.L
    out = [f"{doc.lab(L['phone'])} {doc.vendor_phone}", f"{doc.lab(L['email'])} {doc.vendor_email}"]
    if doc.vendor_web:
        out.append(doc.vendor_web)
    if with_tax and doc.tax_id and doc.tax_id_where == "header":
        out.append(f"{doc.lab(doc.tax_id_label)} {doc.tax_id}")
    return out


def footer_tax_line(doc: InvoiceDoc) -> str | None:
    if doc.tax_id and doc.tax_id_where == "footer":
        return f"{doc.lab(doc.tax_id_label)} {doc.tax_id}"
    return None


# --------------------------------------------------------------------------- invoice layouts


class Layout:
    margin = 50.0
    bottom = 60.0
    size = 9.0

    def __init__(self, pen: Pen, doc: InvoiceDoc):
        self.pen, self.doc = pen, doc
        self.M = self.margin
        self.x0, self.x1 = self.M, pen.W - self.M

    def first(self) -> float:
        raise NotImplementedError

    def cont(self, page: int) -> float:
        pen, doc = self.pen, self.doc
        top = pen.H - self.M
        pen.text(self.x0, top - 10, doc.vendor_name, 10, True)
        pen.text(self.x1, top - 10, f"{doc.title} {doc.invoice_id}", 10, True, "r")
        pen.hline(self.x0, self.x1, top - 18, 0.5, GRAY)
        return top - 34

    def page_no(self, page: int, n: int) -> None:
        if n > 1 or self.doc.always_page_no:
            s = self.doc.page_label.format(p=page, n=n)
            self.pen.text(self.x1, 28, s, 8, align="r", color=GRAY)

    def footer(self, page: int, n: int) -> None:
        self.page_no(page, n)

    def bank_block(self, x: float, y: float, size: float = 8, align: str = "l") -> float:
        doc = self.doc
        self.pen.text(x, y, doc.lab(doc.L["bank"]), size, True, align)
        y -= size + 2.5
        for ln in doc.bank_lines:
            self.pen.text(x, y, ln, size, False, align)
            y -= size + 2.5
        return y


class Classic(Layout):
    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        top = pen.H - M
        tsize = 24.0
        pen.text(self.x1, top - 18, doc.title, tsize, True, "r", doc.accent)
        tw = pen.width(doc.title, tsize, True)
        vs = pen.fit(doc.vendor_name, 15, self.x1 - self.x0 - tw - 24, True)
        pen.text(M, top - 14, doc.vendor_name, vs, True)
        y = top - 30
        for ln in doc.vendor_lines + contact_lines(doc):
            pen.text(M, y, ln, 9)
            y -= 11.5
        my = top - 50
        lx = self.x1 - 215
        for lab, val in meta_pairs(doc):
            pen.text(lx, my, doc.lab(lab), 9, True)
            pen.text(self.x1, my, val, 9, align="r")
            my -= 13
        y = min(y, my) - 18
        pen.text(M, y, doc.lab(doc.L["bill_to"]), 10, True, color=doc.accent)
        if doc.ship_lines:
            pen.text(M + 250, y, doc.lab(doc.L["ship_to"]), 10, True, color=doc.accent)
            sy = y - 13
            for ln in [doc.customer_name, *doc.ship_lines]:
                pen.text(M + 250, sy, ln, 9.5)
                sy -= 12
        y -= 13
        for ln in [doc.customer_name, *doc.customer_lines]:
            pen.text(M, y, ln, 9.5)
            y -= 12
        return y - 16

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        parts = [doc.vendor_name]
        t = footer_tax_line(doc)
        if t:
            parts.append(t)
        parts.append(doc.bank_lines[1] if len(doc.bank_lines) > 1 else doc.bank_name)
        s = "  |  ".join(parts)
        pen.text(pen.W / 2, 40, s, pen.fit(s, 7.5, pen.W - 2 * self.M - 60), align="c", color=GRAY)
        self.page_no(page, n)


class ModernBand(Layout):
    bottom = 78.0

    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        H, W = pen.H, pen.W
        band = 104.0
        pen.rect(0, H - band, W, band, fill=doc.accent, stroke=None)
        pen.text(M, H - 62, doc.title, pen.fit(doc.title, 28, 220, True), True, color=WHITE)
        vs = pen.fit(doc.vendor_name, 13, 260, True)
        pen.text(W - M, H - 32, doc.vendor_name, vs, True, "r", WHITE)
        lines = doc.vendor_lines + [doc.vendor_phone]
        lead = min(10.5, (band - 46) / len(lines))
        y = H - 46
        for ln in lines:
            pen.text(W - M, y, ln, 8.5, align="r", color=WHITE)
            y -= lead
        y = H - band - 26
        pairs = meta_pairs(doc, with_terms=False)
        cw = (self.x1 - self.x0) / len(pairs)
        for i, (lab, val) in enumerate(pairs):
            x = self.x0 + i * cw
            pen.text(x, y, lab.upper(), pen.fit(lab.upper(), 7.5, cw - 8), color=GRAY)
            pen.text(x, y - 13, val, pen.fit(val, 10, cw - 8, True), True)
        y -= 44
        pen.text(M, y, doc.L["bill_to"].upper(), 7.5, color=GRAY)
        y -= 13
        pen.text(M, y, doc.customer_name, 10.5, True)
        y -= 12.5
        for ln in doc.customer_lines:
            pen.text(M, y, ln, 9.5)
            y -= 12
        if doc.ship_lines:
            sy = H - band - 70 - 13
            x = M + 260
            pen.text(x, sy + 13, doc.L["ship_to"].upper(), 7.5, color=GRAY)
            for ln in doc.ship_lines:
                pen.text(x, sy, ln, 9.5)
                sy -= 12
        return y - 18

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        y = 62.0
        pen.hline(self.x0, self.x1, y + 8, 0.5, GRAY)
        cw = (self.x1 - self.x0) / 3
        col1 = [doc.vendor_name, *doc.vendor_lines]
        col2 = contact_lines(doc, with_tax=False)
        t = footer_tax_line(doc)
        if t:
            col2.append(t)
        col3 = doc.bank_lines
        for i, col in enumerate((col1, col2, col3)):
            yy = y - 2
            for ln in col[:5]:
                pen.text(self.x0 + i * cw, yy, ln, pen.fit(ln, 7, cw - 6), color=GRAY)
                yy -= 8.5
        self.page_no(page, n)

    def page_no(self, page: int, n: int) -> None:
        if n > 1 or self.doc.always_page_no:
            self.pen.text(self.x1, 14, self.doc.page_label.format(p=page, n=n), 7.5, align="r",
                          color=GRAY)


class DinLetter(Layout):
    bottom = 92.0
    margin = 56.0

    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        H = pen.H
        top = H - 42
        vs = pen.fit(doc.vendor_name, 18, 300, True)
        pen.text(self.x1, top - 16, doc.vendor_name, vs, True, "r", doc.accent)
        y = top - 30
        for ln in doc.vendor_lines:
            pen.text(self.x1, y, ln, 8.5, align="r")
            y -= 10.5
        sender = " · ".join([doc.vendor_name, *doc.vendor_lines])
        wy = H - 140
        sz = pen.fit(sender, 7, 250)
        pen.text(M, wy, sender, sz)
        pen.hline(M, M + pen.width(sender, sz), wy - 2, 0.3)
        y = wy - 18
        for ln in [doc.customer_name, *doc.customer_lines]:
            pen.text(M, y, ln, 10)
            y -= 12.5
        lx = self.x1 - 190
        iy = wy - 4
        subject_has_id = len(doc.invoice_id) < 14 and not doc.credit and doc.colon
        pairs = meta_pairs(doc)
        if subject_has_id:
            pairs = pairs[1:]
        for lab, val in pairs:
            pen.text(lx, iy, doc.lab(lab), pen.fit(doc.lab(lab), 8.5, 92))
            pen.text(lx + 95, iy, val, pen.fit(val, 8.5, 95))
            iy -= 12
        pen.text(lx, iy, doc.lab(doc.L["phone"]), 8.5)
        pen.text(lx + 95, iy, doc.vendor_phone, pen.fit(doc.vendor_phone, 8.5, 95))
        y = min(y, iy) - 34
        if subject_has_id:
            no = {"en": "No.", "de": "Nr.", "fr": "n°"}[doc.lang]
            pen.text(M, y, f"{doc.title} {no} {doc.invoice_id}", 12, True)
        else:
            pen.text(M, y, doc.title, 12, True)
        y -= 26
        for ln in doc.intro:
            pen.text(M, y, ln, 9.5)
            y -= 13
        return y - 8

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        y = 70.0
        pen.hline(self.x0, self.x1, y + 9, 0.4, GRAY)
        cw = (self.x1 - self.x0) / 4
        col2 = contact_lines(doc, with_tax=False)
        col4 = []
        t = footer_tax_line(doc)
        if t:
            col4.append(t)
        col4.extend(doc.legal)
        cols = [[doc.vendor_name, *doc.vendor_lines], col2, doc.bank_lines, col4]
        for i, col in enumerate(cols):
            yy = y
            for ln in col[:5]:
                pen.text(self.x0 + i * cw, yy, ln, pen.fit(ln, 7.2, cw - 5), color=GRAY)
                yy -= 8.6
        self.page_no(page, n)

    def page_no(self, page: int, n: int) -> None:
        if n > 1 or self.doc.always_page_no:
            self.pen.text(self.x1, 18, self.doc.page_label.format(p=page, n=n), 7.5, align="r",
                          color=GRAY)


class MinimalLeft(Layout):
    margin = 54.0

    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        top = pen.H - M
        pen.text(M, top - 26, doc.title, pen.fit(doc.title, 30, 400, True), True)
        y0 = top - 62
        cw = (self.x1 - self.x0) / 3
        # vendor column
        y = y0
        pen.text(M, y, doc.vendor_name, pen.fit(doc.vendor_name, 11, cw - 8, True), True)
        y -= 13
        for ln in doc.vendor_lines + contact_lines(doc):
            pen.text(M, y, ln, pen.fit(ln, 9.5, cw - 8))
            y -= 11.5
        # customer column
        x = M + cw
        cy = y0
        pen.text(x, cy, doc.L["bill_to"], 9, italic=True, color=GRAY)
        cy -= 13
        pen.text(x, cy, doc.customer_name, pen.fit(doc.customer_name, 10.5, cw - 8, True), True)
        cy -= 12.5
        for ln in doc.customer_lines:
            pen.text(x, cy, ln, pen.fit(ln, 9.5, cw - 8))
            cy -= 11.5
        # meta column, label above value
        x = M + 2 * cw + 10
        my = y0
        for lab, val in meta_pairs(doc):
            pen.text(x, my, lab, 8.5, italic=True, color=GRAY)
            pen.text(x, my - 11, val, pen.fit(val, 10, cw - 12))
            my -= 25
        return min(y, cy, my) - 20

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        parts = list(doc.bank_lines)
        t = footer_tax_line(doc)
        if t:
            parts.insert(0, t)
        s = "   ".join(parts)
        pen.text(self.x0, 36, s, pen.fit(s, 7.5, self.x1 - self.x0 - 70), color=GRAY)
        self.page_no(page, n)


class MetaTable(Layout):
    margin = 45.0

    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        W, top = pen.W, pen.H - M
        pen.text(W / 2, top - 16, doc.vendor_name, pen.fit(doc.vendor_name, 18, W - 2 * M, True), True, "c", doc.accent)
        addr = ", ".join(doc.vendor_lines)
        pen.text(W / 2, top - 31, addr, pen.fit(addr, 9, W - 2 * M), align="c")
        c = "  |  ".join(contact_lines(doc))
        pen.text(W / 2, top - 43, c, pen.fit(c, 8.5, W - 2 * M), align="c")
        pen.hline(self.x0, self.x1, top - 52, 1.2, doc.accent)
        pen.text(M, top - 78, doc.title, 18, True)
        # meta table (right)
        tw, lw = 240.0, 116.0
        tx = self.x1 - tw
        ty = top - 64
        rh = 16.0
        for lab, val in meta_pairs(doc):
            pen.rect(tx, ty - rh, lw, rh, fill=LIGHT)
            pen.rect(tx + lw, ty - rh, tw - lw, rh)
            pen.text(tx + 4, ty - rh + 4.5, lab, pen.fit(lab, 8.5, lw - 8, True), True)
            pen.text(tx + lw + 4, ty - rh + 4.5, val, pen.fit(val, 9, tw - lw - 8))
            ty -= rh
        # bill-to box (left)
        bw = 230.0
        by = top - 96
        lines = [doc.customer_name, *doc.customer_lines]
        bh = 18 + 12 * len(lines) + 6
        pen.rect(M, by - 16, bw, 16, fill=tint(doc.accent, 0.8))
        pen.text(M + 5, by - 11.5, doc.L["bill_to"], 9, True)
        pen.rect(M, by - bh, bw, bh - 16)
        yy = by - 30
        for ln in lines:
            pen.text(M + 6, yy, ln, pen.fit(ln, 9.5, bw - 12))
            yy -= 12
        return min(ty, by - bh) - 22

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        lines = []
        t = footer_tax_line(doc)
        if t:
            lines.append(t)
        lines.append("  ".join(doc.bank_lines))
        if doc.legal:
            lines.append(" - ".join(doc.legal))
        y = 46.0
        for ln in lines:
            pen.text(pen.W / 2, y, ln, pen.fit(ln, 7.5, pen.W - 2 * self.M), align="c", color=GRAY)
            y -= 9.5
        self.page_no(page, n)

    def page_no(self, page: int, n: int) -> None:
        if n > 1 or self.doc.always_page_no:
            self.pen.text(self.x1, 16, self.doc.page_label.format(p=page, n=n), 7.5, align="r")


class MonoErp(Layout):
    margin = 48.0
    size = 8.5

    def first(self) -> float:
        pen, doc, M = self.pen, self.doc, self.M
        top = pen.H - M
        pen.text(M, top - 12, doc.vendor_name, pen.fit(doc.vendor_name, 12, 280, True), True)
        y = top - 26
        for ln in doc.vendor_lines + contact_lines(doc):
            pen.text(M, y, ln, 8.5)
            y -= 10.5
        pen.text(self.x1, top - 14, doc.title.upper(), 16, True, "r")
        pairs = meta_pairs(doc)
        lw = max(len(lab) for lab, _ in pairs)
        rows = [f"{lab.ljust(lw)} : {val}" for lab, val in pairs]
        bw = max(pen.width(r, 8.5) for r in rows)
        my = top - 36
        for r in rows:
            pen.text(self.x1 - bw, my, r, 8.5)
            my -= 11
        y = min(y, my) - 16
        pen.text(M, y, doc.L["bill_to"].upper() + ":", 8.5, True)
        y -= 11
        for ln in [doc.customer_name, *doc.customer_lines]:
            pen.text(M, y, ln, 8.5)
            y -= 10.5
        if doc.ship_lines:
            sy = y + 10.5 * (len(doc.customer_lines) + 2)
            pen.text(M + 260, sy, doc.L["ship_to"].upper() + ":", 8.5, True)
            for ln in [doc.customer_name, *doc.ship_lines]:
                sy -= 10.5
                pen.text(M + 260, sy, ln, 8.5)
        return y - 12

    def footer(self, page: int, n: int) -> None:
        pen, doc = self.pen, self.doc
        t = footer_tax_line(doc)
        parts = [doc.vendor_name] + ([t] if t else []) + doc.bank_lines[1:2]
        s = " / ".join(parts)
        pen.text(self.x0, 34, s, pen.fit(s, 7.5, self.x1 - self.x0 - 80))
        self.page_no(page, n)

    def page_no(self, page: int, n: int) -> None:
        if n > 1 or self.doc.always_page_no:
            self.pen.text(self.x1, 34, self.doc.page_label.format(p=page, n=n).upper(), 7.5, align="r")


LAYOUT_CLASSES: dict[str, type[Layout]] = {
    "classic": Classic, "modern_band": ModernBand, "din_letter": DinLetter,
    "minimal_left": MinimalLeft, "meta_table": MetaTable, "mono_erp": MonoErp,
}
FONTS = {
    "classic": ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique"),
    "modern_band": ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique"),
    "din_letter": ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique"),
    "minimal_left": ("Times-Roman", "Times-Bold", "Times-Italic"),
    "meta_table": ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique"),
    "mono_erp": ("Courier", "Courier-Bold", "Courier-Oblique"),
}


def _canvas(buf: io.BytesIO, pagesize: tuple[float, float], title: str, author: str) -> Canvas:
    c = Canvas(buf, pagesize=pagesize, invariant=1, pageCompression=1)
    c.setTitle(title)
    c.setAuthor(safe(author))
    c.setCreator("docai samples/generate.py")
    c.setProducer("docai samples/generate.py")
    return c


def render_invoice(doc: InvoiceDoc, n_pages: int = 1) -> tuple[bytes, int]:
    buf = io.BytesIO()
    W, H = doc.pagesize
    c = _canvas(buf, doc.pagesize, f"{doc.title} {doc.invoice_id}", doc.vendor_name)
    regular, bold, italic = FONTS[doc.layout]
    pen = Pen(c, regular, bold, italic, W, H)
    lay = LAYOUT_CLASSES[doc.layout](pen, doc)
    size = lay.size
    page = 1
    y = lay.first()
    cols = build_cols(doc, pen, lay.x0, lay.x1, size)
    desc_w = next(c.w for c in cols if c.key == "desc") - 8
    for it in doc.items:  # what does not fit is not printed, so not in the ground truth either
        it.description = pen.clip(it.description, size, desc_w)
    y = draw_table_header(pen, doc, cols, y, size)
    for i, it in enumerate(doc.items):
        if y - doc.row_h < lay.bottom + 10:
            lay.footer(page, n_pages)
            c.showPage()
            page += 1
            y = lay.cont(page)
            y = draw_table_header(pen, doc, cols, y, size)
        y = draw_item_row(pen, doc, cols, y, item_cells(doc, i, it), i, size)
    y = close_table(pen, doc, cols, y, size)
    if y - totals_height(doc) - notes_height(doc) < lay.bottom:
        lay.footer(page, n_pages)
        c.showPage()
        page += 1
        y = lay.cont(page)
    y = draw_totals(pen, doc, y, lay.x0, lay.x1, size + 0.5)
    y = draw_notes(pen, doc, y - 6, lay.x0, size)
    lay.footer(page, n_pages)
    c.showPage()
    c.save()
    return buf.getvalue(), page


# --------------------------------------------------------------------------- receipts


RECEIPT_ITEMS: dict[str, dict[str, list[tuple[str, float]]]] = {
    "en": {
        "grocery": [("MILK 2% GAL", 3.49), ("WHITE BREAD", 2.79), ("EGGS LARGE 12CT", 4.29),
                    ("BANANAS", 1.38), ("CHEDDAR CHEESE", 5.99), ("APPLE JUICE 64OZ", 3.99),
                    ("GROUND COFFEE 12OZ", 8.49), ("PENNE PASTA", 1.69), ("TOMATO SAUCE", 2.49),
                    ("CHICKEN BREAST", 9.87), ("GREEK YOGURT", 1.25), ("PAPER TOWELS 6PK", 7.99),
                    ("DISH SOAP", 3.29), ("ORANGES 3LB", 4.99), ("RICE 2LB", 2.89)],
        "restaurant": [("Cheeseburger", 12.95), ("Caesar Salad", 9.50), ("Fish & Chips", 15.75),
                       ("Iced Tea", 2.95), ("Coffee", 2.50), ("Pancakes", 8.95),
                       ("Club Sandwich", 11.25), ("French Fries", 3.95), ("Soup of the Day", 5.50),
                       ("Draft Beer", 6.00), ("Glass of Wine", 8.50), ("Chocolate Cake", 6.75),
                       ("Soda", 2.25)],
        "retail": [("AA Batteries 8pk", 7.99), ("LED Bulb 60W", 4.49), ("Duct Tape", 5.99),
                   ("Screwdriver Set", 14.99), ("Ibuprofen 200mg", 6.49), ("Toothpaste", 3.79),
                   ("Shampoo", 5.99), ("Hand Soap", 2.99), ("Notebook A5", 3.50),
                   ("Ballpoint Pens 10pk", 4.25), ("Phone Charger", 12.99), ("Sunscreen SPF50", 9.99)],
    },
    "de": {
        "grocery": [("Vollmilch 1L", 1.19), ("Roggenbrot", 2.49), ("Eier 10 St.", 2.99),
                    ("Bananen", 1.49), ("Gouda Scheiben", 1.99), ("Apfelsaft 1L", 1.29),
                    ("Kaffee gemahlen", 5.99), ("Nudeln Penne", 0.99), ("Tomaten passiert", 0.89),
                    ("Hähnchenbrust", 5.49), ("Joghurt Natur", 0.65), ("Butter 250g", 2.19),
                    ("Mineralwasser 6x1,5L", 3.49), ("Brötchen", 0.35), ("Äpfel 1kg", 2.49)],
        "restaurant": [("Cappuccino", 3.40), ("Milchkaffee", 3.80), ("Croissant", 2.20),
                       ("Käsekuchen", 3.90), ("Schnitzel Wiener Art", 14.90),
                       ("Currywurst mit Pommes", 8.50), ("Apfelschorle 0,4l", 3.60),
                       ("Pils 0,5l", 4.20), ("Bunter Salat", 7.90), ("Tagessuppe", 5.50)],
        "retail": [("Zahnpasta", 1.95), ("Shampoo", 2.45), ("Duschgel", 1.25),
                   ("Taschentücher", 1.75), ("Batterien AA 4er", 4.99), ("LED-Lampe E27", 3.99),
                   ("Handcreme", 2.95), ("Waschmittel", 5.95)],
    },
    "fr": {
        "grocery": [("Lait demi-écrémé 1L", 1.15), ("Baguette", 1.10), ("Oeufs x12", 3.20),
                    ("Bananes", 1.79), ("Emmental râpé", 2.35), ("Jus d'orange 1L", 2.10),
                    ("Café moulu 250g", 3.95), ("Pâtes penne", 1.05), ("Beurre doux 250g", 2.60),
                    ("Yaourt nature x4", 1.45), ("Eau minérale 6x1,5L", 3.30), ("Pommes 1kg", 2.40),
                    ("Poulet fermier", 8.90)],
        "restaurant": [("Café", 1.90), ("Café crème", 3.20), ("Croissant", 1.30),
                       ("Pain au chocolat", 1.40), ("Croque-monsieur", 7.50),
                       ("Salade niçoise", 12.50), ("Steak frites", 16.90),
                       ("Verre de vin rouge", 5.50), ("Demi pression", 4.50),
                       ("Crème brûlée", 6.50), ("Menu du jour", 15.90)],
        "retail": [("Doliprane 1000mg", 2.18), ("Dentifrice", 2.90), ("Shampooing", 4.50),
                   ("Mouchoirs", 1.60), ("Crème solaire SPF50", 12.90), ("Savon", 1.95)],
    },
}

RECEIPT_LABELS: dict[str, dict[str, list[str]]] = {
    "en": {"subtotal": ["SUBTOTAL", "Subtotal", "Sub Total", "SUB-TOTAL"],
           "total": ["TOTAL", "Total", "TOTAL DUE", "AMOUNT", "Total"],
           "total_incl": ["TOTAL", "Total", "TOTAL INCL. GST", "Total (incl. VAT)"],
           "tip": ["Tip", "Gratuity", "TIP"], "cash": ["CASH", "Cash", "Cash Tendered"],
           "change": ["CHANGE", "Change", "Change Due"],
           "card": ["VISA", "MASTERCARD", "Card", "DEBIT"],
           "thanks": ["THANK YOU!", "Thank you for shopping with us!", "Thank you, come again!",
                      "Thank you for dining with us", "Have a nice day!"],
           "tel": ["Tel:", "Phone:", "TEL", "Ph:"], "date": ["Date:", "Date", "DATE:"],
           "time": ["Time:", "Time", "TIME:"],
           "cashier": ["Cashier: {n}", "Server: {n}", "Clerk: {n}", "Operator: {n}"],
           "receipt_no": ["Receipt #{n}", "Trans #{n}", "Receipt No: {n}", "Invoice No: {n}"],
           "items": ["Items: {n}", "No. of items: {n}", "ITEM COUNT: {n}"],
           "net": ["Net", "Total excl. tax", "Amount excl. GST"]},
    "de": {"subtotal": ["Zwischensumme", "ZWISCHENSUMME"],
           "total": ["SUMME", "Summe", "Gesamt", "GESAMTBETRAG", "Total"],
           "total_incl": ["SUMME", "Summe", "Gesamt", "ZU ZAHLEN", "Gesamtbetrag"],
           "tip": ["Trinkgeld"], "cash": ["BAR", "Bar", "Gegeben"],
           "change": ["Rückgeld", "RÜCKGELD", "Wechselgeld"],
           "card": ["EC-Karte", "Girocard", "Kartenzahlung", "VISA"],
           "thanks": ["Vielen Dank für Ihren Einkauf!", "Danke und auf Wiedersehen!",
                      "Vielen Dank für Ihren Besuch!"],
           "tel": ["Tel.", "Tel:", "Telefon"], "date": ["Datum:", "Datum"],
           "time": ["Uhrzeit:", "Zeit:"],
           "cashier": ["Kasse 2  Bediener: {n}", "Es bediente Sie: {n}", "Kassierer: {n}"],
           "receipt_no": ["Bon-Nr. {n}", "Beleg-Nr.: {n}", "Bon {n}"],
           "items": ["Anzahl Artikel: {n}", "Artikel: {n}"],
           "net": ["Netto", "Nettobetrag"]},
    "fr": {"subtotal": ["Sous-total", "SOUS-TOTAL"],
           "total": ["TOTAL", "Total", "TOTAL TTC", "Montant TTC", "A PAYER"],
           "total_incl": ["TOTAL TTC", "Total TTC", "TOTAL", "Montant TTC", "A PAYER"],
           "tip": ["Pourboire", "Service"], "cash": ["ESPECES", "Espèces"],
           "change": ["Rendu", "RENDU MONNAIE", "Monnaie rendue"],
           "card": ["CB", "Carte bancaire", "CARTE BANCAIRE", "CB SANS CONTACT"],
           "thanks": ["Merci de votre visite !", "MERCI ET A BIENTOT", "Merci et à bientôt !"],
           "tel": ["Tél :", "Tél.", "TEL"], "date": ["Date :", "Le"],
           "time": ["Heure :", "à"],
           "cashier": ["Caisse 3  Hôte(sse): {n}", "Vous avez été servi par {n}", "Caissier : {n}"],
           "receipt_no": ["Ticket n° {n}", "N° ticket : {n}", "Ticket {n}"],
           "items": ["Nombre d'articles : {n}", "Nb articles : {n}"],
           "net": ["HT", "Total HT", "Montant HT"]},
}


def merchant_name(fk: Faker, region: str, kind: str, rng: random.Random) -> str:
    last = safe(fk.last_name())
    lang = REGIONS[region].lang
    if region == "MY":
        return pick(rng, [f"{last.upper()} TRADING SDN BHD", f"KEDAI RUNCIT {last.upper()}",
                          f"{last.upper()} HARDWARE SDN. BHD.", f"RESTORAN {last.upper()} MAJU",
                          f"{last.upper()} ENTERPRISE"])
    if lang == "de":
        opts = {"grocery": [f"{last} Frischemarkt", f"Bäckerei {last}", f"Edeka {last}",
                            f"Markt {last} e.K."],
                "restaurant": [f"Café {last}", f"Gasthaus {pick(rng, ['Zur Linde', 'Zum Hirsch', 'Am Markt'])}",
                               f"Restaurant {last}", f"Bistro {last}"],
                "retail": [f"Drogerie {last}", f"{last} Haushaltswaren", f"Apotheke am {pick(rng, ['Markt', 'Bahnhof', 'Rathaus'])}"]}
    elif lang == "fr":
        opts = {"grocery": [f"Boulangerie {last}", f"Épicerie {last}", f"Supérette du {pick(rng, ['Centre', 'Marché', 'Port'])}",
                            f"Primeur {last}"],
                "restaurant": [f"Café de la {pick(rng, ['Gare', 'Poste', 'Place', 'Mairie'])}",
                               f"Brasserie {last}", f"Le Petit {pick(rng, ['Bistrot', 'Comptoir', 'Zinc'])}"],
                "retail": [f"Pharmacie {last}", f"Droguerie {last}", f"Quincaillerie {last}"]}
    else:
        opts = {"grocery": [f"{last}'s Market", "FreshWay Grocery", f"{last} Food Mart",
                            "Green Valley Foods", "QuickStop Market"],
                "restaurant": [f"{last}'s Diner", f"The {pick(rng, ['Golden', 'Blue', 'Rusty', 'Little'])} {pick(rng, ['Spoon', 'Anchor', 'Fork', 'Kettle'])}",
                               f"{last} Grill", f"Cafe {last}"],
                "retail": [f"{last} Hardware", f"{safe(fk.city())} Pharmacy", f"{last} Drugstore",
                           "Corner Store"]}
    return pick(rng, opts[kind])


@dataclass
class ReceiptDoc:
    layout: str
    lang: str
    region: str
    money: MoneyFmt
    mono: bool
    ops: list[tuple[Any, ...]]
    fields: dict[str, str]
    printed: dict[str, str]
    items: list[dict[str, str]]
    tax_inclusive: bool
    title: str


def build_receipt(rng: random.Random, fk: Faker, region: str, layout: str) -> ReceiptDoc:
    reg = REGIONS[region]
    lang = reg.lang
    RL = {k: pick(rng, v) for k, v in RECEIPT_LABELS[lang].items()}
    kind = {"receipt_restaurant": "restaurant", "receipt_market": "grocery"}.get(
        layout, pick(rng, ["grocery", "retail", "restaurant"]))
    cur, patterns = reg.monies[0]
    pattern = pick(rng, patterns)
    money = MoneyFmt(cur, pattern, reg.dec, "")
    mono = layout in ("receipt_mono", "receipt_market") or (layout == "receipt_restaurant" and rng.random() < 0.5)
    upper = mono and rng.random() < 0.6
    U = (lambda s: s.upper()) if upper else (lambda s: s)  # noqa: E731
    name = merchant_name(fk, region, kind, rng)
    if upper:
        name = name.upper()
    addr = [U(a) for a in address_lines(fk, region, rng)]
    phone = phone_number(region, rng)
    d = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 3 + 200))
    hh, mi, ss = rng.randint(7, 22), rng.randint(0, 59), rng.randint(0, 59)
    date_s = fmt_date(d, pick(rng, reg.receipt_dates))
    if region == "US" and rng.random() < 0.5:
        time_s = f"{(hh - 1) % 12 + 1}:{mi:02d} {'PM' if hh >= 12 else 'AM'}"
    elif rng.random() < 0.3:
        time_s = f"{hh:02d}:{mi:02d}:{ss:02d}"
    else:
        time_s = f"{hh:02d}:{mi:02d}"

    # items
    cat = RECEIPT_ITEMS[lang][kind]
    n = rng.randint(1, 9 if kind != "restaurant" else 6)
    lines: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for _ in range(n):
        desc, base = pick(rng, cat)
        price = q2(Decimal(str(base)) * Decimal(rng.randint(90, 115)) / 100)
        qty = Decimal(pick(rng, [1, 1, 1, 1, 2, 2, 3]))
        lines.append((U(desc), qty, price, q2(qty * price)))
    items_sum = sum((a for *_, a in lines), Decimal("0"))

    inclusive = region in ("DE", "FR") or (region in ("GB", "AU", "MY") and rng.random() < 0.7)
    if region == "US":
        rate = Decimal(pick(rng, ["6", "6.25", "7", "7.25", "8", "8.25", "8.875", "9.5"]))
        tax_name = pick(rng, ["Sales Tax", "TAX", "Tax", "SALES TAX"])
    elif region == "GB":
        rate, tax_name = Decimal("20"), pick(rng, ["VAT", "VAT 20%", "VAT @ 20%"])
    elif region == "AU":
        rate, tax_name = Decimal("10"), pick(rng, ["GST", "GST 10%", "GST INCLUDED"])
    elif region == "MY":
        rate, tax_name = Decimal("6"), pick(rng, ["GST 6%", "GST @6%", "GST"])
    elif region == "DE":
        rate = Decimal(pick(rng, ["19", "19", "7"]))
        tax_name = pick(rng, ["MwSt", "USt", "MwSt."]) + f" {fmt_rate(rate, ',', rng.random() < 0.5)}"
    else:
        rate = Decimal(pick(rng, ["20", "10", "5.5"]))
        tax_name = f"TVA {fmt_rate(rate, ',', rng.random() < 0.5)}"
    if inclusive:
        total = items_sum
        net = q2(total * 100 / (100 + rate))
        tax = total - net
        subtotal = net
    else:
        subtotal = items_sum
        tax = q2(subtotal * rate / 100)
        total = subtotal + tax
    tip = None
    if kind == "restaurant" and not inclusive and rng.random() < 0.5:
        tip = q2(subtotal * Decimal(pick(rng, [15, 18, 20])) / 100)
        total += tip

    sym_total = rng.random() < 0.8
    sym_all = rng.random() < 0.25
    m = money.sym if sym_all else money.number
    mt = money.sym if sym_total else money.number
    code_in_label = not sym_total and rng.random() < 0.5
    total_label = RL["total_incl" if inclusive else "total"]
    if code_in_label:
        total_label = f"{total_label} {money.currency}"
    ops: list[tuple[Any, ...]] = []
    fields: dict[str, str] = {}
    printed: dict[str, str] = {}

    def put(k: str, v: str, p: str) -> None:
        fields[k], printed[k] = v, p

    center = layout != "receipt_sans"
    al = "c" if center else "l"
    ops.append(("text", al, name, 11 if not mono else 10.5, True))
    put("merchant_name", name, name)
    if region == "MY":
        ops.append(("text", al, f"({rng.randint(100000, 999999)}-{pick(rng, 'ADHKMPTUVWX')})", 7.5, False))
    for a in addr:
        ops.append(("text", al, a, 8, False))
    put("merchant_address", ", ".join(addr), ", ".join(addr))
    ops.append(("text", al, f"{RL['tel']} {phone}", 8, False))
    put("merchant_phone", phone, phone)
    if region == "MY":
        ops.append(("text", al, f"GST REG NO: {rng.randint(10**11, 10**12 - 1):012d}", 7.5, False))
    elif region == "GB" and rng.random() < 0.6:
        ops.append(("text", al, f"VAT No: GB{rng.randint(10**8, 10**9 - 1)}", 7.5, False))
    elif region == "DE" and rng.random() < 0.5:
        ops.append(("text", al, f"St.-Nr. {rng.randint(10, 99)}/{rng.randint(100, 999)}/{rng.randint(10000, 99999)}", 7.5, False))
    elif region == "FR" and rng.random() < 0.6:
        ops.append(("text", al, f"SIRET {rng.randint(10**13, 10**14 - 1)}", 7.5, False))
    if region == "MY" and rng.random() < 0.6:
        ops.append(("gap", 4))
        ops.append(("text", "c", pick(rng, ["TAX INVOICE", "SIMPLIFIED TAX INVOICE"]), 8.5, True))
    ops.append(("gap", 6))
    # date/time line
    style = rng.random()
    if style < 0.4:
        ops.append(("lr", f"{RL['date']} {date_s}", f"{RL['time']} {time_s}", 8, False))
    elif style < 0.75:
        ops.append(("text", "l", f"{date_s}  {time_s}", 8, False))
    else:
        ops.append(("lr", date_s, time_s, 8, False))
    put("transaction_date", d.isoformat(), date_s)
    put("transaction_time", f"{hh:02d}:{mi:02d}", time_s)
    extra = RL["receipt_no"].format(n=rng.randint(1000, 99999))
    who = RL["cashier"].format(n=safe(fk.first_name()))
    ops.append(("lr", extra, "", 8, False) if rng.random() < 0.5 else ("text", "l", extra, 8, False))
    if rng.random() < 0.6:
        ops.append(("text", "l", who, 8, False))
    if kind == "restaurant" and rng.random() < 0.6:
        tbl = {"en": "Table {t}  Guests: {g}", "de": "Tisch {t}  Gäste: {g}", "fr": "Table {t}  Couverts : {g}"}[lang]
        ops.append(("text", "l", tbl.format(t=rng.randint(1, 30), g=rng.randint(1, 6)), 8, False))
    ops.append(("rule", "-"))
    item_rows = []
    for desc, qty, price, amt in lines:
        tag = ""
        if region == "DE" and layout == "receipt_market":
            tag = " A" if rate == 19 else " B"
        if qty == 1:
            ops.append(("lr", desc, m(amt) + tag, 8.5, False))
        elif rng.random() < 0.5:
            ops.append(("text", "l", f"  {fmt_qty(qty, reg.dec)} x {money.number(price)}", 8, False))
            ops.append(("lr", desc, m(amt) + tag, 8.5, False))
        else:
            ops.append(("lr", f"{fmt_qty(qty, reg.dec)} {desc}", m(amt) + tag, 8.5, False))
        row = {"description": desc, "quantity": str(qty), "unit_price": canon_money(price),
               "amount": canon_money(amt)}
        item_rows.append(row)
    ops.append(("rule", "-"))
    if rng.random() < 0.3:
        ops.append(("text", "l", RL["items"].format(n=sum(int(q) for _, q, _, _ in lines)), 8, False))
    if not inclusive:
        ops.append(("lr", RL["subtotal"], m(subtotal), 8.5, False))
        put("subtotal", canon_money(subtotal), m(subtotal))
        rate_s = fmt_rate(rate, reg.dec, False)
        tl = tax_name if "%" in tax_name or rng.random() < 0.4 else f"{tax_name} {rate_s}"
        ops.append(("lr", tl, m(tax), 8.5, False))
        put("tax_total", canon_money(tax), m(tax))
        if tip is not None:
            ops.append(("lr", RL["tip"], m(tip), 8.5, False))
            put("tip", canon_money(tip), m(tip))
        ops.append(("lr", total_label, mt(total), 10, True))
        put("total", canon_money(total), mt(total))
    else:
        ops.append(("lr", total_label, mt(total), 10, True))
        put("total", canon_money(total), mt(total))
        ops.append(("gap", 4))
        rate_s = fmt_rate(rate, reg.dec, False)
        if rng.random() < 0.5:
            hdr = {"en": ("Rate", "Net", "Tax", "Gross"), "de": ("MwSt", "Netto", "Steuer", "Brutto"),
                   "fr": ("TVA", "HT", "TVA", "TTC")}[lang]
            ops.append(("cols", list(hdr), 7.5, False))
            ops.append(("cols", [rate_s, money.number(subtotal), money.number(tax), money.number(items_sum)], 7.5, False))
            put("subtotal", canon_money(subtotal), money.number(subtotal))
            put("tax_total", canon_money(tax), money.number(tax))
        else:
            inc = {"en": f"incl. {tax_name.split(' ')[0]} {rate_s}", "de": f"enth. {tax_name}",
                   "fr": f"dont {tax_name}"}[lang]
            if "%" in tax_name and lang == "en":
                inc = f"incl. {tax_name}"
            ops.append(("lr", inc, money.number(tax), 8, False))
            put("tax_total", canon_money(tax), money.number(tax))
            if rng.random() < 0.5:
                ops.append(("lr", RL["net"], money.number(subtotal), 8, False))
                put("subtotal", canon_money(subtotal), money.number(subtotal))
    if sym_all or sym_total:
        fields["currency"], printed["currency"] = money.currency, money.marker
    elif code_in_label:
        fields["currency"], printed["currency"] = money.currency, money.currency
    ops.append(("gap", 4))
    if rng.random() < 0.5:
        step = Decimal(pick(rng, [1, 5, 10, 20]))
        tendered = (total / step).to_integral_value(rounding=ROUND_CEILING) * step
        ops.append(("lr", RL["cash"], money.number(tendered), 8.5, False))
        ops.append(("lr", RL["change"], money.number(tendered - total), 8.5, False))
    else:
        ops.append(("lr", f"{RL['card']} ****{rng.randint(1000, 9999)}", money.number(total), 8.5, False))
        if rng.random() < 0.5:
            ops.append(("text", "l", f"AUTH {rng.randint(100000, 999999)}", 7.5, False))
    ops.append(("gap", 8))
    ops.append(("text", "c", RL["thanks"], 8.5, False))
    if rng.random() < 0.5:
        ops.append(("gap", 4))
        ops.append(("barcode", [rng.randint(1, 3) for _ in range(40)]))
    return ReceiptDoc(layout, lang, region, money, mono, ops, fields, printed, item_rows,
                      inclusive, name)


def _op_height(op: tuple[Any, ...]) -> float:
    k = op[0]
    if k == "gap":
        return float(op[1])
    if k == "rule":
        return 9.0
    if k == "barcode":
        return 34.0
    size = op[-2]
    return size * 1.32


def render_receipt(r: ReceiptDoc) -> tuple[bytes, int]:
    W = 80 * MM
    pad = 4 * MM
    H = sum(_op_height(op) for op in r.ops) + 2 * pad + 6
    buf = io.BytesIO()
    c = _canvas(buf, (W, H), f"Receipt {r.title}", r.title)
    fonts = ("Courier", "Courier-Bold", "Courier-Oblique") if r.mono else ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique")
    pen = Pen(c, *fonts, W, H)
    y = H - pad
    x0, x1 = pad, W - pad
    for op in r.ops:
        h = _op_height(op)
        k = op[0]
        base = y - h + 2.5
        if k == "text":
            _, al, s, size, bold = op
            size = pen.fit(s, size, x1 - x0, bold)
            x = {"l": x0, "r": x1, "c": W / 2}[al]
            pen.text(x, base, s, size, bold, al)
        elif k == "lr":
            _, left, right, size, bold = op
            rw = pen.width(right, size, bold)
            left = pen.clip(left, size, x1 - x0 - rw - 8, bold)
            pen.text(x0, base, left, size, bold)
            pen.text(x1, base, right, size, bold, "r")
        elif k == "cols":
            _, vals, size, bold = op
            cw = (x1 - x0) / len(vals)
            for i, v in enumerate(vals):
                pen.text(x0 + (i + 1) * cw, base, v, size, bold, "r")
        elif k == "rule":
            if r.mono:
                pen.text(x0, base + 1, op[1] * int((x1 - x0) / pen.width(op[1], 8)), 8)
            else:
                pen.hline(x0, x1, y - h / 2, 0.5, dash=True)
        elif k == "barcode":
            x = W / 2 - sum(op[1]) * 0.9
            black = True
            for wdt in op[1]:
                if black:
                    pen.rect(x, y - 30, wdt * 0.9, 26, fill=BLACK, stroke=None)
                x += wdt * 0.9
                black = not black
        y -= h
    c.showPage()
    c.save()
    return buf.getvalue(), 1


# --------------------------------------------------------------------------- scanning


def scan_images(pdf: bytes, dpi: int, rng: random.Random, nrng: np.random.Generator,
                receipt: bool = False) -> list[Image.Image]:
    """Render every page and make it look scanned: gray, tilted, noisy, slightly blurred."""
    doc = pdfium.PdfDocument(pdf)
    out = []
    try:
        for i in range(len(doc)):
            page = doc[i]
            img = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            page.close()
            paper = rng.uniform(226, 248)
            ink = rng.uniform(12, 45)
            arr = np.asarray(img, dtype=np.float32)
            arr = ink + (paper - ink) * (arr / 255.0)
            if receipt and rng.random() < 0.5:  # uneven lighting on a photographed slip
                ramp = np.linspace(0, rng.uniform(8, 25), arr.shape[0], dtype=np.float32)[:, None]
                arr = arr - ramp
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
            img = img.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC,
                             expand=False, fillcolor=255)
            arr = np.asarray(img, dtype=np.float32)
            arr = arr + nrng.normal(0.0, rng.uniform(2.0, 5.0), arr.shape).astype(np.float32)
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.45, 0.9)))
            out.append(img)
    finally:
        doc.close()
    return out


def save_scanned(images: list[Image.Image], path: Path, fmt: str, dpi: int, quality: int,
                 nrng: np.random.Generator | None = None) -> None:
    if fmt == "jpg":
        images[0].save(path, "JPEG", quality=quality, dpi=(dpi, dpi), optimize=True)
    elif fmt == "png":
        # bilevel "fax" scan with a few specks: small files, still readable
        arr = np.asarray(images[0]) > 170
        if nrng is not None:
            arr = arr ^ (nrng.random(arr.shape) < 0.0004)
        bw = Image.fromarray(arr)
        bw.save(path, "PNG", dpi=(dpi, dpi), optimize=True)
    elif fmt == "tif":
        images[0].save(path, "TIFF", save_all=True, append_images=images[1:], compression="jpeg",
                       quality=quality, dpi=(dpi, dpi))
    elif fmt == "pdf":
        images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi),
                       quality=quality, title=path.stem, creator="docai samples/generate.py",
                       producer="docai samples/generate.py", creationDate=FIXED_TIME,
                       modDate=FIXED_TIME)
    else:  # pragma: no cover
        raise ValueError(fmt)


# --------------------------------------------------------------------------- driver


SCAN_CYCLE_INVOICE = ("jpg", "pdf", "png", "jpg", "pdf")
SCAN_CYCLE_RECEIPT = ("jpg", "png", "jpg", "pdf", "jpg")
_NAME_RE = re.compile(r"^(inv|rcp)_\d{4,}\.(pdf|jpg|png|tif)$")


def _rng(seed: int, *parts: object) -> random.Random:
    h = hashlib.sha256(("docai-samples/" + "/".join(map(str, (seed, *parts)))).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def _balanced(seed: int, tag: str, n: int, options: Sequence[Any]) -> list[Any]:
    """``n`` picks that cycle through ``options`` in a seeded order (each block is a permutation)."""
    out: list[Any] = []
    block = 0
    while len(out) < n:
        perm = list(options)
        _rng(seed, tag, block).shuffle(perm)
        out.extend(perm)
        block += 1
    return out[:n]


def _scanned_flags(seed: int, tag: str, n: int, ratio: float) -> list[bool]:
    k = min(n, max(0, int(Decimal(str(n * ratio)).quantize(Decimal(1), rounding=ROUND_HALF_UP))))
    order = list(range(n))
    _rng(seed, tag, "scan").shuffle(order)
    chosen = set(order[:k])
    return [i in chosen for i in range(n)]


class _Fakers:
    def __init__(self) -> None:
        self._cache: dict[str, Faker] = {}

    def get(self, locale: str, seed: int) -> Faker:
        if locale not in self._cache:
            self._cache[locale] = Faker(locale)
        fk = self._cache[locale]
        fk.seed_instance(seed)
        return fk


def generate(out: Path, invoices: int, receipts: int, seed: int, scanned_ratio: float = 0.5,
             langs: Sequence[str] = ("en", "de", "fr"), *, dpi: tuple[int, int] = (150, 200),
             jpeg_quality: int = 80, progress: bool = False) -> list[dict[str, Any]]:
    """Write ``invoices`` + ``receipts`` documents and ``labels.jsonl`` under ``out``.

    Returns the label rows (also written, one JSON object per line, to ``out/labels.jsonl``).
    """
    langs = tuple(lng for lng in langs if lng in LABELS)
    if not langs:
        raise ValueError("langs must include at least one of en, de, fr")
    if not 0.0 <= scanned_ratio <= 1.0:
        raise ValueError("scanned_ratio must be between 0 and 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file() and _NAME_RE.match(old.name):
            old.unlink()
    fakers = _Fakers()
    rows: list[dict[str, Any]] = []

    inv_langs = _balanced(seed, "inv-lang", invoices, langs)
    inv_layouts = _balanced(seed, "inv-layout", invoices, LAYOUTS)
    inv_scanned = _scanned_flags(seed, "inv", invoices, scanned_ratio)
    k = 0
    for i in range(invoices):
        rng = _rng(seed, "invoice", i)
        lang = inv_langs[i]
        region = {"de": "DE", "fr": "FR"}.get(lang) or ("US" if rng.random() < 0.65 else "GB")
        fk = fakers.get(REGIONS[region].faker, rng.getrandbits(32))
        doc = build_invoice(rng, fk, region, inv_layouts[i])
        pdf, pages = render_invoice(doc, 1)
        if pages > 1:
            pdf, pages = render_invoice(doc, pages)
        fields, printed, items = invoice_truth(doc)
        stem = f"inv_{i + 1:04d}"
        row_dpi = None
        if inv_scanned[i]:
            fmt = SCAN_CYCLE_INVOICE[k % len(SCAN_CYCLE_INVOICE)]
            k += 1
            if pages > 1 and fmt in ("jpg", "png"):
                fmt = "tif" if rng.random() < 0.5 else "pdf"
            row_dpi = rng.randint(dpi[0], dpi[1])
            if fmt == "png":
                row_dpi = max(row_dpi, 200)
            nrng = np.random.default_rng(rng.getrandbits(64))
            imgs = scan_images(pdf, row_dpi, rng, nrng)
            fname = f"{stem}.{fmt}"
            save_scanned(imgs, out / fname, fmt, row_dpi, jpeg_quality, nrng)
        else:
            fname = f"{stem}.pdf"
            (out / fname).write_bytes(pdf)
        rows.append({
            "id": stem, "file": fname, "doc_type": "invoice", "lang": doc.lang,
            "layout": doc.layout, "scanned": inv_scanned[i], "pages": pages,
            "fields": fields, "line_items": items,
            "printed": printed, "region": region, "credit_note": doc.credit,
            "tax_inclusive": False, "dpi": row_dpi,
        })
        if progress:
            print(f"{fname}  {doc.layout}  {region}", file=sys.stderr)

    rec_layouts = _balanced(seed, "rcp-layout", receipts, RECEIPT_LAYOUTS)
    rec_scanned = _scanned_flags(seed, "rcp", receipts, scanned_ratio)
    weights = {"en": 0.7, "de": 0.15, "fr": 0.15}
    k = 0
    for i in range(receipts):
        rng = _rng(seed, "receipt", i)
        lang = rng.choices(langs, weights=[weights[x] for x in langs])[0]
        if lang == "en":
            region = rng.choices(["US", "GB", "AU", "MY"], weights=[0.5, 0.2, 0.1, 0.2])[0]
        else:
            region = {"de": "DE", "fr": "FR"}[lang]
        fk = fakers.get(REGIONS[region].faker, rng.getrandbits(32))
        r = build_receipt(rng, fk, region, rec_layouts[i])
        pdf, pages = render_receipt(r)
        stem = f"rcp_{i + 1:04d}"
        row_dpi = None
        if rec_scanned[i]:
            fmt = SCAN_CYCLE_RECEIPT[k % len(SCAN_CYCLE_RECEIPT)]
            k += 1
            row_dpi = rng.randint(max(dpi[0], 200), max(dpi[1], 300))
            nrng = np.random.default_rng(rng.getrandbits(64))
            imgs = scan_images(pdf, row_dpi, rng, nrng, True)
            fname = f"{stem}.{fmt}"
            save_scanned(imgs, out / fname, fmt, row_dpi, jpeg_quality, nrng)
        else:
            fname = f"{stem}.pdf"
            (out / fname).write_bytes(pdf)
        rows.append({
            "id": stem, "file": fname, "doc_type": "receipt", "lang": r.lang,
            "layout": r.layout, "scanned": rec_scanned[i], "pages": pages,
            "fields": r.fields, "line_items": r.items,
            "printed": r.printed, "region": region, "credit_note": False,
            "tax_inclusive": r.tax_inclusive, "dpi": row_dpi,
        })
        if progress:
            print(f"{fname}  {r.layout}  {region}", file=sys.stderr)

    with (out / "labels.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
    return rows


def _dpi_arg(s: str) -> tuple[int, int]:
    lo, _, hi = s.partition("-")
    a, b = int(lo), int(hi or lo)
    if not 50 <= a <= b <= 600:
        raise argparse.ArgumentTypeError("dpi must be LOW-HIGH within 50..600")
    return a, b


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m samples.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--invoices", type=int, default=10)
    ap.add_argument("--receipts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scanned-ratio", type=float, default=0.5,
                    help="share of documents rendered as scans (default 0.5)")
    ap.add_argument("--langs", default="en,de,fr", help="comma-separated subset of en,de,fr")
    ap.add_argument("--dpi", type=_dpi_arg, default=(150, 200),
                    help="scan resolution range LOW-HIGH for invoices (receipts use >= 200-300)")
    ap.add_argument("--jpeg-quality", type=int, default=80)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--only-scanned", action="store_true", help="every document scanned")
    g.add_argument("--only-native", action="store_true", help="only native text PDFs")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    ratio = 1.0 if a.only_scanned else 0.0 if a.only_native else a.scanned_ratio
    langs = tuple(x.strip() for x in a.langs.split(",") if x.strip())
    t0 = time.perf_counter()
    rows = generate(a.out, a.invoices, a.receipts, a.seed, ratio, langs, dpi=a.dpi,
                    jpeg_quality=a.jpeg_quality, progress=a.verbose)
    print(f"wrote {len(rows)} documents and labels.jsonl to {a.out} in "
          f"{time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
