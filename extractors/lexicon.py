"""Word frequencies of the languages docai reads, to tell an OCR slip from a rare word.

The rules put right words the recogniser misread by one letter ("TIHES" for TIMES, "SFEED" for
SPEED) only where the word read is no word at all and the word it is one look-alike letter away
from is a common one. "Common" comes from `wordfreq <https://pypi.org/project/wordfreq/>`_'s
small lists (English, Malay, German and French: the words used at least once per million words,
about 30,000 per language, shipped inside the package — nothing is downloaded), as a Zipf
frequency (log10 of uses per billion words: 3 = once per million, 6 = once per thousand).

RapidOCR's decoder asks it too (:func:`near`): for a word read that is no word, the common words a
slip or two away, which it rescores against the recogniser's own columns
(:class:`extractors.ocr.rapid.LatinDecode`).

Without wordfreq every word is unknown and nothing is changed (:func:`zipf` returns 0, :func:`near`
nothing).
"""

from __future__ import annotations

import logging
import math
from functools import cache

log = logging.getLogger("docai.lexicon")

LANGS = ("en", "ms", "de", "fr")

SLIP_LANGS = ("en", "ms")
"""The languages whose words an OCR slip is put right to, by the rules' slip fixes and by RapidOCR's
decoder: those of the receipts and forms. A word any of :data:`LANGS` knows is left as read, but
German and French words are not offered: French "une" is not what "CNE" was, and "fait" is what
the surname "FATT" (SROIE dev) became when they were."""


@cache
def _table(lang: str) -> dict[str, float]:
    try:
        import wordfreq
    except ImportError:  # pragma: no cover - a core dependency; degrade to "no word is known"
        log.warning("lexicon: wordfreq is not installed; OCR slips in names stay as read")
        return {}
    return {w: math.log10(f) + 9.0 for w, f in wordfreq.get_frequency_dict(lang, "small").items()}


def zipf(word: str, langs: tuple[str, ...] = LANGS) -> float:
    """The Zipf frequency of ``word`` (any case) in the language of ``langs`` that uses it most;
    0 for a word none of their lists holds (rarer than once per million words, or no word).

    >>> zipf("times") > 5, zipf("TIMES") == zipf("times"), zipf("tihes"), zipf("jalan", ("en",)) < zipf("jalan")
    (True, True, 0.0, True)
    """
    low = word.lower()
    return max(_table(lang).get(low, 0.0) for lang in langs)


NEAR_MIN_ZIPF = 3.0
"""A word is offered as what an OCR slip was (:func:`near`) when it is used at least once per
million words in one of the languages."""


@cache
def _by_length(langs: tuple[str, ...], min_zipf: float) -> dict[int, list[str]]:
    words: dict[int, set[str]] = {}
    for lang in langs:
        for w, z in _table(lang).items():
            if z >= min_zipf and w.isalpha():
                words.setdefault(len(w), set()).add(w)
    return {n: sorted(ws) for n, ws in words.items()}


def near(word: str, max_dist: int, langs: tuple[str, ...] = LANGS, limit: int = 20) -> list[str]:
    """Common words (:data:`NEAR_MIN_ZIPF`, letters only, lower case) at most ``max_dist``
    insertions, deletions or substitutions from ``word`` (any case), nearest first, at most
    ``limit`` of them; ``[]`` without wordfreq.

    >>> near("PELABUR", 1, ("ms",))[:1], "pelabur" in near("Flabur", 2, ("ms",)), near("qqqqzz", 1)
    (['pelabur'], True, [])
    """
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    low = word.lower()
    by_length = _by_length(langs, NEAR_MIN_ZIPF)
    pool = [w for n in range(len(low) - max_dist, len(low) + max_dist + 1) for w in by_length.get(n, ())]
    hits = process.extract(low, pool, scorer=Levenshtein.distance, score_cutoff=max_dist, limit=limit)
    return [w for w, _, _ in sorted(hits, key=lambda h: (h[1], -zipf(h[0], langs)))]
