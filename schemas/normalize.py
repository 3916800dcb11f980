"""Normalisers: printed money, dates, times and currencies → canonical values.

Pure functions, no I/O. They raise :class:`NormalizationError` (a ``ValueError``) on text that is
not a clean value — ``1,234.5O`` is an error, not ``1234.5`` — so validation can record a field
error instead of guessing.

>>> parse_money("1.234,56 €")
(Decimal('1234.56'), 'EUR')
>>> parse_money("$1,234.56")
(Decimal('1234.56'), 'USD')
>>> parse_date("25/12/2018").isoformat()
'2018-12-25'
>>> parse_date("12.03.2024").isoformat()
'2024-03-12'
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

__all__ = [
    "CURRENCY_SYMBOLS",
    "ISO_CURRENCIES",
    "NormalizationError",
    "detect_currency",
    "format_money",
    "normalize_text",
    "parse_date",
    "parse_money",
    "parse_time",
]


class NormalizationError(ValueError):
    """A printed value that cannot be read as the requested type."""


# A practical subset of ISO 4217 (those seen on invoices and receipts); 3-decimal ones noted below.
_ISO_CODES = ("AED AUD BGN BHD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR ILS INR JOD JPY KRW KWD MAD "
              "MXN MYR NOK NZD OMR PHP PLN RON RUB SAR SEK SGD THB TND TRY TWD USD VND ZAR")
ISO_CURRENCIES = frozenset(_ISO_CODES.split())
_THREE_DECIMALS = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
_ZERO_DECIMALS = frozenset({"JPY", "KRW", "VND", "IDR"})

# Symbol or printed word → ISO 4217. "$" alone is taken as USD; a document-level hint may override.
CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR", "EUR": "EUR", "EURO": "EUR", "EUROS": "EUR",
    "$": "USD", "US$": "USD", "USD": "USD",
    "£": "GBP", "GBP": "GBP",
    "¥": "JPY", "JPY": "JPY", "RMB": "CNY", "CNY": "CNY",
    "RM": "MYR", "MYR": "MYR",
    "S$": "SGD", "SGD": "SGD",
    "A$": "AUD", "AUD": "AUD", "C$": "CAD", "CAD": "CAD", "NZ$": "NZD",
    "CHF": "CHF", "FR.": "CHF", "SFR": "CHF",
    "₹": "INR", "RS": "INR", "RS.": "INR", "INR": "INR",
    "₩": "KRW", "₺": "TRY", "₽": "RUB", "ZŁ": "PLN", "PLN": "PLN", "KČ": "CZK",
    "KR": "SEK", "SEK": "SEK", "NOK": "NOK", "DKK": "DKK",
}
_CURRENCY_TOKEN = re.compile(
    r"(US\$|S\$|A\$|C\$|NZ\$|[€$£¥₹₩₺₽]|(?<![A-Za-z])(?:[A-Z]{3}|RM|RS\.?|FR\.|SFR|KR|EUROS?|ZŁ|KČ)"
    r"(?![A-Za-z]))",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"^[+\-−–]?\(?[+\-−–]?\d[\d.,'’  ]*\)?[+\-−–]?$")


def normalize_text(text: str) -> str:
    """NFKC, collapsed whitespace, no space before punctuation; case kept."""
    s = unicodedata.normalize("NFKC", text)
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"\s+([,.;:!?)])", r"\1", s)


def detect_currency(text: str) -> str | None:
    """The ISO 4217 code of the first currency symbol or code in ``text``, if any."""
    for m in _CURRENCY_TOKEN.finditer(text):
        tok = m.group(1).upper()
        if tok in CURRENCY_SYMBOLS:
            return CURRENCY_SYMBOLS[tok]
        if tok in ISO_CURRENCIES:
            return tok
    return None


def parse_money(
    text: str, *, currency_hint: str | None = None, decimal_comma: bool | None = None
) -> tuple[Decimal, str | None]:
    """Read a printed amount into an exact ``Decimal`` and its ISO currency (or ``None``).

    Handles ``1.234,56``, ``1,234.56``, ``1 234,56``, ``1'234.56``, ``(12.50)`` and trailing
    minus as negatives. ``decimal_comma`` breaks the tie for a lone separator followed by three
    digits (``1,234`` is 1234 unless the document uses decimal commas).

    Raises:
        NormalizationError: if anything but a number and a currency is printed.
    """
    if text is None:
        raise NormalizationError("empty amount")
    s = unicodedata.normalize("NFKC", str(text)).strip()
    currency = detect_currency(s)
    if currency is None and currency_hint:
        currency = currency_hint
    body = _CURRENCY_TOKEN.sub("", s).strip()
    body = body.replace("−", "-").replace("–", "-").replace(" ", "").replace("'", "").replace("’", "")
    body = body.replace("\u00a0", "").replace("\u202f", "")
    if not body or not _NUMBER.match(body):
        raise NormalizationError("not an amount")
    negative = False
    if body.startswith("(") and body.endswith(")"):
        negative, body = True, body[1:-1]
    if body.endswith("-"):
        negative, body = True, body[:-1]
    if body.startswith(("-", "+")):
        negative, body = body[0] == "-", body[1:]
    if not body or not body[0].isdigit() or not body[-1].isdigit():
        raise NormalizationError("not an amount")
    last_dot, last_comma = body.rfind("."), body.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        dec = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        digits_after = len(body) - body.rfind(sep) - 1
        if body.count(sep) > 1:
            dec = None
        elif digits_after == 3 and (currency or "") not in _THREE_DECIMALS:
            # "1,234" / "1.234": thousands unless the document prints decimal commas and sep is ","
            dec = sep if (decimal_comma and sep == ",") else None
        else:
            dec = sep
    else:
        dec = None
    if dec is None:
        groups = re.split(r"[.,]", body)
        if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
            raise NormalizationError("bad digit grouping")
        intpart, frac = "".join(groups), ""
    else:
        intpart, frac = body[: body.rfind(dec)], body[body.rfind(dec) + 1 :]
        thousands = "," if dec == "." else "."
        if dec in intpart:
            raise NormalizationError("two decimal separators")
        groups = intpart.split(thousands)
        if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
            raise NormalizationError("bad digit grouping")
        intpart = intpart.replace(thousands, "")
    if not intpart.isdigit() or (frac and not frac.isdigit()):
        raise NormalizationError("not an amount")
    try:
        value = Decimal(f"{intpart}.{frac}" if frac else intpart)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the regexes above
        raise NormalizationError("not an amount") from exc
    return (-value if negative else value), currency


def format_money(value: Decimal, currency: str | None = None) -> str:
    """Canonical string of an amount: plain decimal, at least the currency's minor digits."""
    places = 3 if currency in _THREE_DECIMALS else 0 if currency in _ZERO_DECIMALS else 2
    exponent = -value.as_tuple().exponent if isinstance(value.as_tuple().exponent, int) else 0
    q = Decimal(1).scaleb(-max(places, int(exponent)))
    return str(value.quantize(q))


_MONTHS = {
    # German
    "januar": "january", "jänner": "january", "februar": "february", "märz": "march",
    "maerz": "march", "mai": "may", "juni": "june", "juli": "july", "oktober": "october",
    "dezember": "december",
    # French
    "janvier": "january", "février": "february", "fevrier": "february", "mars": "march",
    "avril": "april", "juin": "june", "juillet": "july", "août": "august", "aout": "august",
    "septembre": "september", "octobre": "october", "novembre": "november",
    "décembre": "december", "decembre": "december",
    # abbreviations
    "mär": "mar", "okt": "oct", "dez": "dec", "janv": "jan", "févr": "feb", "fevr": "feb",
    "avr": "apr", "juil": "jul", "déc": "dec",
}
_MONTH_RE = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?", re.I)
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[./\-\s](\d{1,2})[./\-\s](\d{1,4})$")


def _year(y: int) -> int:
    if y < 100:
        return 2000 + y if y < 70 else 1900 + y
    return y


def parse_date(text: str, *, dayfirst: bool = True) -> dt.date:
    """Read a printed date. ``dayfirst`` decides ``03/04/2024`` (True: 3 April).

    Raises:
        NormalizationError: for text that is not a real calendar date (``31/02/2024``).
    """
    s = unicodedata.normalize("NFKC", str(text)).strip().strip(",;:")
    s = re.sub(r"\s+", " ", s)
    m = _NUMERIC_DATE.match(s)
    try:
        if m:
            a, b, c = (int(g) for g in m.groups())
            if len(m.group(1)) == 4:  # yyyy-mm-dd
                return dt.date(a, b, c)
            if len(m.group(3)) not in (2, 4):
                raise NormalizationError("not a date")
            year = _year(c)
            if a > 12 and b <= 12:
                return dt.date(year, b, a)
            if b > 12 and a <= 12:
                return dt.date(year, a, b)
            return dt.date(year, b, a) if dayfirst else dt.date(year, a, b)
    except ValueError as exc:
        raise NormalizationError("not a calendar date") from exc
    if not re.search(r"[A-Za-zÀ-ÿ]", s) or not re.search(r"\d", s):
        raise NormalizationError("not a date")
    english = _MONTH_RE.sub(lambda mm: _MONTHS[mm.group(1).lower()], s)
    english = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", english)
    english = re.sub(r"(?<=\d)\.(?=\s)", "", english)  # "25. Dezember"
    from dateutil import parser as du

    try:
        parsed = du.parse(english, dayfirst=dayfirst, fuzzy=False, default=dt.datetime(1900, 1, 1))
    except (ValueError, OverflowError) as exc:
        raise NormalizationError("not a date") from exc
    if parsed.year == 1900:
        raise NormalizationError("date without a year")
    return parsed.date()


_TIME = re.compile(r"^(\d{1,2})[:.h](\d{2})(?:[:.](\d{2}))?\s*([AaPp]\.?[Mm]\.?)?$")


def parse_time(text: str) -> str:
    """Read ``14:05``, ``2:05 PM``, ``14h05``, ``14:05:09`` into ``HH:MM[:SS]``.

    Raises:
        NormalizationError: if it is not a time of day.
    """
    m = _TIME.match(unicodedata.normalize("NFKC", text).strip())
    if not m:
        raise NormalizationError("not a time")
    h, mi = int(m.group(1)), int(m.group(2))
    sec = m.group(3)
    ampm = (m.group(4) or "").lower().replace(".", "")
    if ampm == "pm" and h < 12:
        h += 12
    elif ampm == "am" and h == 12:
        h = 0
    if h > 23 or mi > 59 or (sec is not None and int(sec) > 59):
        raise NormalizationError("not a time")
    return f"{h:02d}:{mi:02d}" + (f":{int(sec):02d}" if sec is not None else "")
