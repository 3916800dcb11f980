"""Word frequencies of the languages docai reads, to tell an OCR slip from a rare word.

The rules put right words the recogniser misread by one letter ("TIHES" for TIMES, "SFEED" for
SPEED) only where the word read is no word at all and the word it is one look-alike letter away
from is a common one. "Common" comes from `wordfreq <https://pypi.org/project/wordfreq/>`_'s
small lists (English, Malay, German and French: the words used at least once per million words,
about 30,000 per language, shipped inside the package — nothing is downloaded), as a Zipf
frequency (log10 of uses per billion words: 3 = once per million, 6 = once per thousand).

Without wordfreq every word is unknown and nothing is changed (:func:`zipf` returns 0).
"""

from __future__ import annotations

import logging
import math
from functools import cache

log = logging.getLogger("docai.lexicon")

LANGS = ("en", "ms", "de", "fr")


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
