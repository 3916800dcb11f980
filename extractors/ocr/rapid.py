"""RapidOCR engine: PaddleOCR's PP-OCRv4 detector and recogniser run by onnxruntime, in-process.

Optional (``pip install -e ".[ocr-rapid]"``): the ``rapidocr_onnxruntime`` 1.4.x wheel ships the
three ONNX models inside the package (PP-OCRv4 det + rec, PP-OCR mobile v2.0 direction
classifier), so nothing is downloaded at run time. Later ``rapidocr`` 2.x/3.x releases fetch their
models on first use and are deliberately not supported.

Reading is per text line (a quadrilateral, its text and a score). Our pages want words, so lines
are split at spaces, and each word's pixel box is the union of its characters' boxes, which the
library derives from the CTC decoder's column positions (``return_word_box``); when those cannot
be lined up with the text, the line box is apportioned by character offsets instead. A word's
confidence is the mean of its characters' CTC probabilities, as :class:`LatinDecode` reads them
(Latin script only, commas and full stops given a higher prior; a word that is no word at all is
read as the common word that explains the recogniser's columns nearly as well, by CTC rescoring
against :mod:`extractors.lexicon`). On receipts the detector's line
boxes are carried on past their last letter (:class:`LineEnds`), so that the comma ending a line
is read, and a mark read there where the page shows none is dropped (:func:`_mark_at_end`). A page
whose lines read mostly upside down (:class:`PageVote`) is read a second time, turned.

One onnxruntime session per model and process (built on first use, reused by every engine object
and thread), each with one intra-op thread: batch workers already run pages in parallel, like
``OMP_THREAD_LIMIT=1`` for Tesseract. Inference cannot be interrupted in-process, so
``settings.ocr_timeout_s`` is enforced around the call (:func:`extractors.pages.call_ocr` gives up
on the page at the deadline, while the inference finishes in the background) and again here,
after the call, for callers that use the engine directly.

>>> from extractors.registry import available
>>> "rapidocr" in available("ocr")
True
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from extractors import lexicon
from extractors.errors import DependencyMissing, PageError
from extractors.settings import Settings
from schemas.document import Word

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["GAP_FACTOR", "INK_GAP", "LEXICON_MARGIN", "LINE_END", "MAX_SIDE_LEN", "END_MARK_REACH", "PHANTOM_WINDOW",
           "PUNCT_PRIOR", "STEP_INK", "STRONG_GAP", "UNCLIP_RATIO", "LatinDecode", "LineEnds", "PageVote",
           "RapidOcrEngine", "extend_lines", "line_words", "result_words"]

PACKAGE = "rapidocr_onnxruntime"
INSTALL_HINT = ('RapidOCR is not installed; install it with `pip install -e ".[ocr-rapid]"` '
                '(or `pip install "rapidocr_onnxruntime==1.4.4"`; Python < 3.13)')

GAP_FACTOR = 1.5
"""A missing space is assumed where two adjacent characters are this many times further apart than
the line's median step. Chosen on sroie_train (first 100 receipts, rules extractor, all four fields
exact): 54.5 % without splitting; 60.8 % at 1.4, 63.3 % at 1.5, 62.8 % at 1.6."""

INK_GAP = 0.2
"""A missing space is also assumed between two letters (and the other pairs of :func:`_may_space`:
a letter and a digit, a comma before a word; on the same name and address lines of the first 200
sroie_train receipts those add 65 of the 79 spaces the labels have there and the step test misses,
none invented) whose blank gap on the page (the widest run
of ink-free pixel columns between their centres) exceeds the line's median gap by this fraction of
the text height (see also :data:`NARROW_EXTRA` and :data:`MIN_STEP`). The recogniser's columns are too coarse for big print ("SANYUSTATIONERYSHOP": each
letter spans three columns, the word gap adds none), the ink is not. Measured on the name and address
lines of the first 60 sroie_train receipts (2,437 letter pairs the recogniser wrote without a space,
86 of them spaced in the labels): 0.15 finds 78 spaces and 6 false ones, 0.2 finds 74 and none, 0.25
finds 64 and none. Against the text height alone (no median) 0.3 finds 76 with 11 false: narrow
letters in monospaced receipt fonts ("il") stand far apart."""

NARROW_EXTRA = 0.1
"""How much wider (in text heights) the gap next to a narrow letter (``l``, ``i``, ``I``, ``1``,
``j``, ``t``, ``f``, ``r``) must be: in monospaced receipt fonts a narrow letter sits alone in its
cell ("Ja lan"). Same 60 receipts: at :data:`INK_GAP` 0.2 it costs no true space."""
_NARROW = frozenset("lIi1jtfr")
MIN_STEP = 1.05
"""…and the recogniser's own step between the two letters must be a little longer than the line's
median step: shapes that leave a gap without a space ("TS", "LU" in a monospaced font) do not
lengthen it. Name and address lines of the first 200 sroie_train receipts (7,255 letter pairs read
without a space, 285 spaced in the labels), with :data:`INK_GAP` 0.2 and :data:`NARROW_EXTRA` 0.1:
247 spaces found and 4 false ones without this test, 236 and 1 with it (1.2: 231 and 0)."""
PROMINENCE = 1.1
"""…and the gap must be wider than this many times the gaps on either side of it: in letter-spaced
print ("B A K E R I E S" set wide in a header) every gap is wide and none is a space. Same data:
234 spaces found and none false (1.0: 234 and 0; 1.3: 222 and 0)."""
STRONG_GAP = 2.5
"""A gap more than this many times wider than the gaps on either side of it is a space without the
step test and the narrow-letter extra (still :data:`INK_GAP` over the median): in small print the
recogniser's columns are as coarse as a word gap ("UNIHAKKAINTERNATIONAL": an 8-pixel blank between
A and I, 0–3 pixels between the other letters, an even step). On the letter pairs of the name and
address lines of the first 200 sroie_train receipts read without a space (4,818 pairs, 199 spaced
in the labels): 162 spaces found and none false without it; 175 and none at 2.5 (2.0: 175 and 1;
3.0: 171 and 0; keeping the narrow-letter extra: 170 and 0). In the whole sroie_train ``docai eval``
it also cut one name next to a narrow letter ("T SH POWER" for "TSH POWER") while joining two
("KEDAI PAPAN")."""

STEP_INK = 0.1
"""A break that :data:`GAP_FACTOR` finds between two letters stands only where the ink leaves a
blank gap at least this fraction of the text height wider than the line's median (on level lines,
where the ink is read): a wide letter ("am", "mp", "Ka") lengthens the recogniser's step without
a gap. Letter pairs of the name and address lines of the first 200 sroie_train receipts that the
step test splits: 126 spaced in the labels, 15 not; the veto keeps the 126 and 2 of the 15
(0.0: 126 and 8; 0.05: 126 and 4)."""

UNCLIP_RATIO = 1.6
"""How far the detector's line boxes are grown around the text it finds (the library's default).
Larger boxes take in the small comma or full stop that often ends a receipt's address line
(`KAWASAN PERINDUSTRIAN BALAKONG ,`), but the taller crops cost the recogniser letters elsewhere.
``docai eval`` on the 200 sroie_train receipts (fields exact; names, addresses): 1.6 78.4 %
(83 / 38 %); 2.0 80.5 %; 2.3 81.9 % (83.5 / 52.5 %, with the boxes brought back to their 1.6
height before words were cut); 2.6 80.8 %; 3.0 76.8 %; 2.3 for the detector but 1.6-high crops for
the recogniser 80.3 % (45 % addresses). On the SROIE dev receipts 2.3 took addresses 38 → 47 %
but names 83 → 82 % (name ANLS 0.922 → 0.912), and on the first ten (``tests/integration/
test_accuracy_regression.py``) names 0.7 → 0.6, so the default stays; the marks at line ends
are taken in by carrying the boxes on lengthwise instead (:data:`LINE_END`)."""

MAX_SIDE_LEN = 2000
"""Pages whose longer side exceeds this many pixels are shrunk before detection (the library's
default). 3000 gained nothing on the first 50 sroie_train receipts (62.5 % fields exact either
way, ANLS 0.927 -> 0.917) for 1.7x the CPU."""

_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def _import() -> Any:
    """The ``rapidocr_onnxruntime`` module, or ``DependencyMissing`` with the install hint."""
    try:
        import rapidocr_onnxruntime
    except ImportError as exc:
        hint = INSTALL_HINT
        if "libGL" in str(exc) or "libgthread" in str(exc):
            hint = ("RapidOCR cannot load OpenCV (missing system library: a headless server?); "
                    "replace it with the headless build: `pip uninstall -y opencv-python && "
                    "pip install --force-reinstall opencv-python-headless`")
        raise DependencyMissing(hint, reason="rapidocr_missing", stage="startup") from exc
    return rapidocr_onnxruntime


def _model(max_side_len: int, line_end: float) -> Any:
    """The process's ``RapidOCR`` object for these options (built once, under a lock); objects
    that differ only in ``line_end`` (:class:`LineEnds`) share their ONNX sessions."""
    key = (max_side_len, line_end)
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                first = next((m for (side, _), m in _MODELS.items() if side == max_side_len), None)
                if first is None:
                    lib = _import()
                    model = lib.RapidOCR(
                        intra_op_num_threads=1, inter_op_num_threads=1,
                        max_side_len=max_side_len, print_verbose=False,
                    )
                    model.text_cls = PageVote(model.text_cls)
                    model.text_det = LineEnds(model.text_det, line_end)
                    model.text_rec.postprocess_op = LatinDecode(model.text_rec.postprocess_op)
                else:
                    import copy

                    model = copy.copy(first)
                    model.text_det = LineEnds(first.text_det.detector, line_end)
                _MODELS[key] = model
    return model


class PageVote:
    """RapidOCR's line-orientation classifier, turning lines only as the page votes.

    The library turns every line crop its classifier reads as upside down (score over its
    ``cls_thresh``, 0.9) on its own. Pages reach the recogniser upright (the pipeline turns them
    with Tesseract's orientation detection first), so a lone line read as upside down is nearly
    always a misreading, and the turned crop reads as garbage: on an upright page the name line
    ``KING'S CONFECTIONERY S/B`` came back as an address fragment. Here the classifier still reads
    every line, but the lines it reads as upside down are turned only when they are most of the
    page's lines (a page the orientation step left upside down). ``docai eval`` against the
    library's per-line turning: sroie 78.25 → 79.25 % of fields exact (4 fields gained: a name,
    an address, a total, a date; none lost), sroie_train 78.4 → 78.6 % (a name and a total
    gained, none lost); 1 to 3 lines of 60 to 80 were being turned on 63 of sroie_train's 200
    receipts.

    It wraps the library's classifier object (``RapidOCR.text_cls``) and keeps its call's
    signature: crops in; crops, ``[label, score]`` per crop and seconds out.
    """

    def __init__(self, classifier: Any) -> None:
        import copy

        self.threshold = float(classifier.cls_thresh)
        self._reader = copy.copy(classifier)  # the same ONNX session, never turning a crop
        self._reader.cls_thresh = float("inf")
        self._last = threading.local()

    def turned(self) -> bool:
        """Whether this thread's last call turned the page's lines (the page reads upside down);
        asking forgets it (a page with no text never reaches the classifier)."""
        turned = bool(getattr(self._last, "turned", False))
        self._last.turned = False
        return turned

    def __call__(self, crops: Any) -> tuple[list[Any], list[list[Any]], float]:
        import cv2

        crops, labels, seconds = self._reader(crops)
        flipped = [i for i, (label, score) in enumerate(labels)
                   if "180" in str(label) and float(score) > self.threshold]
        self._last.turned = 2 * len(flipped) > len(labels)
        if self._last.turned:
            for i in flipped:
                crops[i] = cv2.rotate(crops[i], cv2.ROTATE_180)
        return crops, labels, seconds


LINE_END = 0.5
"""How far past its last letter each detected line box is carried on, in text heights
(:class:`LineEnds`). The detector's boxes stop at the last letter's ink and leave out a small
comma or full stop printed after it: ``NO. 42, JALAN PBS 14/11,`` came back as ``... 14/11``, and
a receipt's address, whose lines mostly end in a comma the labels keep, lost one per line.
``docai eval`` on the 200 sroie_train receipts (fields exact; addresses, names, totals, dates):
0 80.38 % (45.0 / 83.5 / 95.5 / 97.5 %); 0.3 81.50 % (49.5 / 84.0 / 95.5 / 97.0); 0.5 81.75 %
(49.0 / 84.5 / 96.5 / 97.0: 13 addresses gained, 5 lost, 3 of them to a full stop that is
printed but not in the label); 0.8 80.88 % (48.5 / 83.0 / 95.5 / 96.5). Both ends by 0.5: 80.75 %
(totals 95.0 %: "2.25" for 22.25). Not for the page-shaped low-resolution scans ``auto`` gives
RapidOCR (forms, faxes), whose lines end at rules, boxes and tick marks: funsd_train key-value F1
0.552 → 0.531 with it."""


class LineEnds:
    """RapidOCR's text detector, each line box carried on ``reach`` text heights past its right
    end (:func:`extend_lines`), so that the recogniser's crop holds the punctuation that ends the
    line. Growing the boxes all round (:data:`UNCLIP_RATIO`) took in the marks too, but the
    taller crops cost letters; this lengthens them only, and only where the row is free.

    It wraps the library's detector object (``RapidOCR.text_det``) and keeps its call's
    signature: the page image in; boxes (``(n, 4, 2)``) and seconds out. Its other attributes
    are the detector's (the library sets its thresholds on them for each call).
    """

    def __init__(self, detector: Any, reach: float = LINE_END) -> None:
        self.detector = detector
        self.reach = reach

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["detector"], name)

    def __call__(self, img: Any) -> tuple[Any, float]:
        boxes, seconds = self.detector(img)
        if boxes is None or len(boxes) == 0 or self.reach <= 0:
            return boxes, seconds
        return extend_lines(boxes, img.shape[1], self.reach), seconds


def extend_lines(boxes: Any, width: int, reach: float) -> Any:
    """The quadrilaterals ``boxes`` (``(n, 4, 2)``: top-left, top-right, bottom-right,
    bottom-left, in pixels of a page ``width`` wide), each lengthened at its right end along its
    own direction by ``reach`` times its height, stopping a quarter height short of the next box
    on its row (one that overlaps it by half the lower height and starts to its right) and at the
    page edge. A copy; ``boxes`` is left as it is.

    >>> extend_lines([[[0, 0], [100, 0], [100, 10], [0, 10]]], 300, 0.5)[0].tolist()
    [[0.0, 0.0], [105.0, 0.0], [105.0, 10.0], [0.0, 10.0]]
    """
    import numpy as np

    boxes = np.array(boxes, dtype=np.float32, copy=True)
    left = boxes[:, :, 0].min(axis=1)
    right = boxes[:, :, 0].max(axis=1)
    top = boxes[:, :, 1].min(axis=1)
    bottom = boxes[:, :, 1].max(axis=1)
    for i, quad in enumerate(boxes):
        along = quad[1] - quad[0]
        length = float(np.hypot(*along))
        height = (float(np.hypot(*(quad[3] - quad[0]))) + float(np.hypot(*(quad[2] - quad[1])))) / 2
        if length <= 0 or height <= 0:
            continue
        overlap = np.minimum(bottom, bottom[i]) - np.maximum(top, top[i])
        after = (overlap > 0.5 * np.minimum(bottom - top, bottom[i] - top[i])) & (left >= right[i] - 0.25 * height)
        after[i] = False
        room = min(reach * height, width - 1 - float(max(quad[1][0], quad[2][0])))
        if after.any():
            room = min(room, float(left[after].min() - right[i]) - 0.25 * height)
        if room > 0:
            quad[1] += along / length * room
            quad[2] += along / length * room
    return boxes


PUNCT_PRIOR = 3.0
"""How much likelier than the recogniser says a comma or full stop is taken to be at each column
of its CTC output (:class:`LatinDecode`). The recogniser, trained mostly on Chinese, passes over
the small marks of receipt print: on ``LOT PT 1138 ,PT 33122,`` it gave the comma's column 0.32
against 0.44 for "nothing here", and the line came back without both commas, which the labels of
an address keep. ``docai eval`` on the 200 sroie_train receipts (fields exact; addresses, names):
1 78.6 % (38.0 / 83.5 %); 3 80.4 % (45.0 / 83.5 %: 14 addresses gained, one name gained and one
lost to an invented full stop, totals and dates unchanged); 6 80.0 % (45.0 / 82.5 %: more full
stops invented, "KUALA L.UMPUR", "23.1" for "23/1", and a total lost). Those were measured with a
first version that clipped the weighted probabilities instead of renormalising them and had no
doubled-mark rule; this code gives the same 80.4 %, field for field. SROIE dev: 79.75 → 81.5 %
(addresses 39 → 46 %, nothing lost)."""
_PUNCT = frozenset(",.，")

LEXICON_MARGIN = 3.0
"""How much less likely (natural log of the CTC probability of the word's columns) a common word
may be than the letters read for it to be read instead (:meth:`LatinDecode._lexicon_words`): a
word that is no word at all in the lexicon's languages ("LUMPLR", "Flabur") and that a common word
("LUMPUR", "Pelabur") one or two edits away explains nearly as well. ``None`` turns it off.
``docai eval`` on the 200 sroie_train receipts (fields exact): off 81.75 %; 3 82.00 % ("Rawan9" →
"Rawang" in an address, "PEIRO" → "PETRO" in a name, nothing lost); 6 80.75 % ("KAPAR" → "KAPA",
"Uptown3" → "Uptown", "MENTAI" → "MENTAL"; hence :data:`SHORTEN_MIN` and no digit dropped, with
which 3 gives 82.00 % again). About 68 ms of CPU per receipt (12 sroie_train receipts, ~5 CPU-s
of OCR each)."""


def _latin(ch: str) -> bool:
    """Whether the recogniser's dictionary entry ``ch`` belongs to Latin print: NFKC-equivalent to
    printable ASCII (fullwidth forms, ``②``), a Latin-1 or Latin Extended letter, a currency sign,
    a dash, quote, bullet or ellipsis, or one of ``°§·®™²µ±×÷``."""
    import unicodedata

    if len(ch) != 1:
        return False
    if ch == " " or 0xC0 <= ord(ch) < 0x250 or ch in _LATIN_MARKS or unicodedata.category(ch) == "Sc":
        return True
    norm = unicodedata.normalize("NFKC", ch)
    return bool(norm) and all(" " < c <= "~" for c in norm)


_LATIN_MARKS = frozenset("‐‑‒–—―‘’‚‛“”„‟•…°§·®™²µ±×÷№")


class LatinDecode:
    """RapidOCR's CTC decoder (``TextRecognizer.postprocess_op``) reading Latin print only.

    The PP-OCRv4 recogniser's dictionary is 6,624 entries, nearly all Chinese; a pipeline that
    reads English, German and French has no use for them, and a column whose best guess is one
    (``、`` or ``。`` for a comma on a faint receipt) is better read as its best Latin guess. Each
    column's probabilities are reweighted (entries outside Latin script to 0, commas and full
    stops by :data:`PUNCT_PRIOR`) and renormalised, the Bayes posterior under the new prior, and
    then decoded by the library's own decoder, so character confidences stay probabilities.
    A mark that only the prior made the column's best guess is dropped when the same mark is the
    line's next character on either side (``CO..`` for ``CO.``: the prior had given one full stop
    a second column). A word that no language of :mod:`extractors.lexicon` knows is read as the
    common English or Malay word (:data:`extractors.lexicon.SLIP_LANGS`) one or two slips away that explains its
    columns nearly as well (:data:`LEXICON_MARGIN`: "Toial", "Summay", "reciptent"). Measured
    alone, the restriction to Latin script changed no field of the 200 sroie_train receipts.
    """

    def __init__(self, decoder: Any, punct_prior: float = PUNCT_PRIOR,
                 lexicon_margin: float | None = LEXICON_MARGIN) -> None:
        import copy

        import numpy as np

        self._decoder = decoder
        self.character = decoder.character
        self.keep = np.array([i for i, ch in enumerate(self.character) if i == 0 or _latin(ch)])
        self._latin = copy.copy(decoder)  # the library's decoder over the kept entries (0: blank)
        self._latin.character = [self.character[i] for i in self.keep]
        self.marks = np.array([ch in _PUNCT for ch in self._latin.character])
        self.prior = np.where(self.marks, np.float32(punct_prior), np.float32(1.0))
        self.lexicon_margin = lexicon_margin
        self._index = {ch: i for i, ch in enumerate(self._latin.character) if i}

    def __call__(self, preds: Any, *args: Any, **kwargs: Any) -> Any:
        import numpy as np

        if preds.shape[-1] != len(self.character):  # a model whose output is not this dictionary
            return self._decoder(preds, *args, **kwargs)
        plain = _posterior(np.take(preds, self.keep, axis=-1), 1.0)
        weighted = _posterior(plain, self.prior)
        best, before = weighted.argmax(axis=-1), plain.argmax(axis=-1)
        for n, t in zip(*np.nonzero((best != before) & self.marks[best]), strict=True):
            if _doubled(best[n], int(t)):
                weighted[n, t] = plain[n, t]
        if self.lexicon_margin is not None:
            for n in range(len(weighted)):
                self._lexicon_words(weighted[n])
        return self._latin(weighted, *args, **kwargs)

    def _lexicon_words(self, cols: Any) -> None:
        """Put right, in place in one line's columns ``cols`` (``(T, C)`` probabilities), each word
        that is no word at all where a common word (:func:`extractors.lexicon.near`) explains the
        columns nearly as well (:data:`LEXICON_MARGIN`): the columns of the word's span are set to
        that word's best alignment, each keeping the probability the recogniser gave it."""
        import numpy as np

        space = self._index.get(" ")
        best = cols.argmax(axis=-1)
        chars: list[list[int]] = []  # [entry, first column, last column] per character read
        for t, c in enumerate(best.tolist()):
            if c == 0:
                continue
            if chars and chars[-1][0] == c and chars[-1][2] == t - 1:
                chars[-1][2] = t
            else:
                chars.append([c, t, t])
        # words: split at spaces, and where a capital follows a small letter ("JalanFlabur": the
        # recogniser often drops the space, restored later from the ink)
        words: list[list[list[int]]] = [[]]
        edges: list[list[int]] = []  # the characters between words (a space, or none: [_, t, t - 1])
        char = self._latin.character
        for ch in chars:
            if ch[0] == space:
                words.append([])
                edges.append(ch)
                continue
            prev = words[-1][-1] if words[-1] else None
            if prev is not None and char[prev[0]].islower() and char[ch[0]].isupper():
                words.append([])
                edges.append([0, ch[1], prev[2]])
            words[-1].append(ch)
        for k, word in enumerate(words):
            if not word:
                continue
            first = edges[k - 1][2] + 1 if k else 0
            last = edges[k][1] - 1 if k < len(edges) else len(cols) - 1
            text = "".join(char[c] for c, _, _ in word)
            fix = _lexicon_fix(text, cols[first:last + 1], [c for c, _, _ in word], self._index,
                               float(self.lexicon_margin or 0.0))
            if fix is not None:
                span = cols[first:last + 1]
                kept = span[np.arange(len(span)), fix]
                span[:] = 0.0
                span[np.arange(len(span)), fix] = kept


SHORTEN_MIN = 7
"""The shortest word read that the lexicon may shorten by a letter: the recogniser's columns
hardly tell a letter from none in a short word ("KAPAR" read as "KAPA", "CHUAN" as "CHUN",
"PHILEO" as "PHILO" at a margin of 6 on sroie_train)."""
_DIGIT_LETTER = str.maketrans("0123456789", "oizjasgtbg")


def _lexicon_fix(text: str, cols: Any, labels: list[int], index: dict[str, int], margin: float) -> Any:
    """The column labels (one per column of ``cols``, 0 for blank) of the common word to read for
    the word ``text`` (its entries ``labels``) in those columns, or ``None`` to keep it: a word
    of four letters or more (a digit or two among them may be slips: "RAWAN9"), bracketed or
    followed by punctuation that is kept, that no language of :mod:`extractors.lexicon` knows."""
    import numpy as np

    lead = len(text) - len(text.lstrip(_STRIP_MARKS))
    core = text[lead:].rstrip(_STRIP_MARKS)
    letters = sum(ch.isalpha() for ch in core)
    if (len(core) < 4 or not core.isalnum() or letters < max(3, len(core) - 2) or lexicon.zipf(core)):
        return None
    tail = text[lead + len(core):]
    dist = 1 if len(core) <= 4 else 2
    letter_core = core.translate(_DIGIT_LETTER)
    found = dict.fromkeys(lexicon.near(core, dist, lexicon.SLIP_LANGS)
                          + (lexicon.near(letter_core, dist, lexicon.SLIP_LANGS) if letter_core != core else []))
    if not found:
        return None
    upper = sum(ch.isupper() for ch in core) > letters / 2
    logp = np.log(np.maximum(cols, 1e-12))
    read = _ctc_score(logp, labels)
    best: tuple[float, list[int]] | None = None
    for word in found:
        # a letter dropped only from a long word ("Adjustiment"; "KAPAR" is no "KAPA"), and a
        # digit read is a letter's slip, never one too many ("Uptown3", "Lot3")
        if len(word) < len(core) and (len(core) < SHORTEN_MIN or letters < len(core)):
            continue
        cased = word.upper() if upper else word.capitalize() if core[0].isupper() else word
        ids = [index.get(ch) for ch in text[:lead] + cased + tail]
        if None in ids:
            continue
        score = _ctc_score(logp, ids)  # type: ignore[arg-type]
        if best is None or score > best[0]:
            best = (score, ids)  # type: ignore[assignment]
    if best is None or best[0] < read - margin:
        return None
    return _ctc_align(logp, best[1])


_STRIP_MARKS = "\"'()[]{}<>,.;:!?*#"


def _ctc_table(logp: Any, labels: list[int], viterbi: bool) -> tuple[Any, Any, Any]:
    """CTC's forward table for ``labels`` (blank 0) over the log-probability columns ``logp``:
    the extended label sequence, the last column's scores and, with ``viterbi``, the back
    pointers (0 stay, 1 step, 2 skip) of the best alignment (max instead of log-sum)."""
    import numpy as np

    ext = np.zeros(2 * len(labels) + 1, dtype=np.int64)
    ext[1::2] = labels
    skip = np.zeros(len(ext), dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    emit = logp[:, ext]
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = emit[0, :2]
    back = np.zeros(emit.shape, dtype=np.int8) if viterbi else None
    none = np.full(2, -np.inf)
    for t in range(1, len(emit)):
        moves = np.stack([alpha, np.concatenate((none[:1], alpha[:-1])),
                          np.where(skip, np.concatenate((none, alpha[:-2])), -np.inf)])
        if back is not None:
            back[t] = moves.argmax(axis=0)
            alpha = moves.max(axis=0) + emit[t]
        else:
            alpha = np.logaddexp.reduce(moves, axis=0) + emit[t]
    return ext, alpha, back


def _ctc_score(logp: Any, labels: list[int]) -> float:
    """log P(``labels`` | columns) under CTC, all alignments summed."""
    import numpy as np

    _, alpha, _ = _ctc_table(logp, labels, viterbi=False)
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def _ctc_align(logp: Any, labels: list[int]) -> Any:
    """The label of each column (0 blank) in the best CTC alignment of ``labels``."""
    import numpy as np

    ext, alpha, back = _ctc_table(logp, labels, viterbi=True)
    s = len(ext) - 1 if alpha[-1] >= alpha[-2] else len(ext) - 2
    path = np.zeros(len(logp), dtype=np.int64)
    for t in range(len(logp) - 1, -1, -1):
        path[t] = ext[s]
        s -= int(back[t, s]) if t else 0
    return path


def _posterior(preds: Any, weights: Any) -> Any:
    """CTC column probabilities reweighted by a prior and renormalised."""
    import numpy as np

    out = preds * weights
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
    return out


def _doubled(columns: Any, t: int) -> bool:
    """Whether the character read at column ``t`` (best entry per column, 0 = blank) is also the
    decoded line's next character before or after it (the same entry across blank columns)."""
    c = columns[t]
    for step in (-1, 1):
        s = t
        while 0 <= s + step < len(columns) and columns[s + step] == c:  # the same character's run
            s += step
        s += step
        while 0 <= s < len(columns) and columns[s] == 0:
            s += step
        if 0 <= s < len(columns) and columns[s] == c:
            return True
    return False


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "?"


def _bounds(points: Any) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _spans(text: str, breaks: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the words of ``text``: split at whitespace and
    before each index in ``breaks``."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, ch in enumerate(text):
        if start is not None and (ch.isspace() or i in breaks):
            spans.append((start, i))
            start = None
        if start is None and not ch.isspace():
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


_DECIMALS = re.compile(r"\d[.,]\d\d(?!\d)")
_DATE = re.compile(r"(?<!\d)\d{1,2}([/.-])\d{1,2}\1(?:(?:19|20)\d\d|\d\d)(?!\d)")
"""A whole numeric date ("15/03/2018", "18-11-18"); not one glued to the time after it
("18-11-1813:58", whose "1813" is no year)."""


def _gap_breaks(text: str, centers: list[float], factor: float) -> set[int]:
    """Indices where a word boundary is missing from the text: the recogniser often drops the
    space between words ("InvoiceNumber", "02/02/20177:31PM"), but its character positions keep
    the gap. A step between two adjacent characters longer than ``factor`` times the line's median
    step is a break, except inside the decimals of an amount ("29.30": a narrow point makes
    uneven steps there) and inside a whole date (its digits step unevenly around the separators:
    "15/03/2018" was cut to "15/03/20 18": on sroie_train dates 97 → 97.5 %, with boxes grown
    to 2.0 95.5 → 97.5 %)."""
    if factor <= 0:
        return set()
    steps = [(i + 1, centers[i + 1] - centers[i]) for i in range(len(text) - 1)
             if not text[i].isspace() and not text[i + 1].isspace()]
    if len(steps) < 3:
        return set()
    median = sorted(d for _, d in steps)[len(steps) // 2]
    if median <= 0:
        return set()
    keep = {i for rx in (_DECIMALS, _DATE) for m in rx.finditer(text)
            for i in range(m.start() + 1, m.end())}
    return {i for i, d in steps if d > factor * median and i not in keep}


def _level(box: Any, tolerance: float = 0.03) -> bool:
    """Whether a line's quadrilateral is (nearly) axis-aligned: its top edge rises or falls by
    less than ``tolerance`` of its length, so its bounding box holds the line and little else."""
    (ax, ay), (bx, by) = (float(box[0][0]), float(box[0][1])), (float(box[1][0]), float(box[1][1]))
    return bx - ax > 0 and abs(by - ay) <= tolerance * (bx - ax)


_SPACED_AFTER = frozenset(",.;:)]}&!?")


def _may_space(a: str, b: str) -> bool:
    """Whether a space dropped between the characters ``a`` and ``b`` is looked for in the ink:
    two letters, a letter and a digit either way ("UTAMA4", "5KG"), or a comma, colon, closing
    bracket or ``&`` before a letter or digit ("7/4,KAWASAN"), a full stop before a letter. Not
    between two digits (an amount's or a date's own gaps), not between a full stop and a digit
    ("No.2", printed either way), and not after an opening bracket, slash or hyphen ("(X",
    "U13/X", "17-G")."""
    if b.isalpha():
        return a.isalnum() or a in _SPACED_AFTER
    return b.isdigit() and (a.isalpha() or a in _SPACED_AFTER and a != ".")


def _ink_band(crop: Any) -> Any:
    """The ink of a line's greyscale pixels (a 2-D uint8 array; Otsu's threshold), cut to the rows
    that carry ink (a boolean array as wide as ``crop``, as tall as the text), or ``None`` when
    the crop is too small or blank."""
    import numpy as np

    from extractors.ocr.preprocess import otsu_threshold

    if crop is None or crop.size == 0 or crop.shape[1] < 8:
        return None
    ink = crop < otsu_threshold(crop)
    rows = np.flatnonzero(ink.sum(axis=1) > 0.01 * ink.shape[1])
    return ink[rows[0]:rows[-1] + 1] if rows.size else None


def _ink_breaks(text: str, centers: list[float], band: Any, factor: float,
                step_breaks: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """Indices between two characters (:func:`_may_space`) where the ink leaves a word-sized gap
    (see :data:`INK_GAP`).

    ``band`` is the line's ink (:func:`_ink_band`, its left edge at x = 0 of ``centers``).
    ``step_breaks`` (:func:`_gap_breaks`) are kept, except between two letters whose blank gap is
    not :data:`STEP_INK` wider than the line's median: returned are the breaks the ink confirms or
    finds."""
    import numpy as np

    if factor <= 0 or band is None:
        return set(step_breaks)
    height = band.shape[0]
    blank = ~band.any(axis=0)
    chars = [i for i, ch in enumerate(text) if not ch.isspace()]
    # every pair of neighbouring characters (also across a space): its widest blank run and the
    # recogniser's step; the line's medians are taken over all of them
    pairs = list(zip(chars, chars[1:], strict=False))
    if len(pairs) < 3:
        return set(step_breaks)
    runs, steps = [], []
    for a, b in pairs:
        lo, hi = max(0, int(centers[a])), min(blank.size, int(centers[b]) + 1)
        seg = blank[lo:hi].astype(np.int8)
        best = 0
        if seg.any():  # the longest run of blank columns
            edges = np.flatnonzero(np.diff(np.concatenate([[0], seg, [0]])))
            best = int((edges[1::2] - edges[::2]).max())
        runs.append(best)
        steps.append(centers[b] - centers[a])
    median, step = float(np.median(runs)), float(np.median(steps))
    out = set(step_breaks)
    for k, (a, b) in enumerate(pairs):
        if b in step_breaks and b == a + 1 and text[a].isalpha() and text[b].isalpha() \
                and runs[k] - median < STEP_INK * height:
            out.discard(b)  # a wide letter ("am", "mp") lengthens the step, not the gap
            continue
        if b != a + 1 or not _may_space(text[a], text[b]):
            continue  # already a space there, or a pair that takes none
        extra = NARROW_EXTRA if {text[a], text[b]} & _NARROW else 0.0
        beside = max(runs[k - 1] if k > 0 else 0, runs[k + 1] if k + 1 < len(runs) else 0)
        wide = runs[k] - median
        if (wide > (factor + extra) * height and runs[k] > PROMINENCE * beside and steps[k] > MIN_STEP * step
                or wide > factor * height and runs[k] > STRONG_GAP * beside):
            out.add(b)
    return out


PHANTOM_WINDOW = 0.1
"""A full stop, underscore or middle dot between two letters is read off the page only when some
ink lies within this fraction of the text height on either side of its place; in a blank word gap
it is the recogniser's invention ("FY EAGLE.ENTERPRISE", "IKANO HANDEL_SDN BHD", read from taller
crops than :data:`UNCLIP_RATIO` gives) and becomes the space. Not commas: one printed between words
("1851-B,JALAN") sits in the gap's lower corner. At the default boxes it changes no field of
sroie_train or the SROIE dev set; it guards against the invention, it does not move the numbers."""
_MARKS = frozenset("._·")
_END_MARKS = frozenset(".,·")
END_MARK_REACH = 0.3
"""How far before the place the recogniser gives a mark that ends a line its ink may lie, in text
heights (:func:`_mark_at_end`): printed full stops and commas of sroie_train receipts lay up to
0.15 of the height before it, marks read from blank paper past the last letter 0.3 and more."""


def _solid(ink: Any) -> Any:
    """``ink`` (a boolean array) without its lone pixels (no inked neighbour of eight): the
    scanner's specks, which a recogniser told to expect marks reads as full stops."""
    import numpy as np

    padded = np.pad(ink, 1)
    rows, cols = ink.shape
    neighbours = sum(padded[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols].astype(np.uint8)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return ink & (neighbours > 0)


def _mark_at_end(band: Any, center: float) -> bool:
    """Whether ``band`` (a line's ink, as :func:`_ink_band` gives it) shows a mark where the
    recogniser read one at ``center`` at the line's end: the last run of inked columns (lone specks
    left out, :func:`_solid`) reaches past :data:`END_MARK_REACH` text heights before ``center``
    and is a low one (under half the text height), not a letter's."""
    import numpy as np

    height = band.shape[0]
    ink = _solid(band)
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0 or cols[-1] < center - END_MARK_REACH * height:
        return False
    gaps = np.flatnonzero(np.diff(cols) > 1)
    run = ink[:, cols[gaps[-1] + 1] if gaps.size else cols[0]:cols[-1] + 1]
    rows = np.flatnonzero(run.any(axis=1))
    return bool(rows[-1] - rows[0] + 1 < 0.5 * height)


def _phantom_marks(text: str, centers: list[float], band: Any) -> set[int]:
    """Indices of marks (:data:`_MARKS`) between two letters with no ink around their place
    (:data:`PHANTOM_WINDOW`), and of a mark ending the line (:data:`_END_MARKS`) where the page
    shows none (:func:`_mark_at_end`), as where :data:`LINE_END` carried the box on over blank
    paper ("QuickStop Market." read from a speck, "PETRODELI ENTERPRISE." from nothing);
    ``band`` and ``centers`` as in :func:`_ink_breaks`."""
    if band is None:
        return set()
    half = max(1, int(PHANTOM_WINDOW * band.shape[0]))
    cols = band.any(axis=0)
    out = set()
    last = len(text.rstrip()) - 1
    if last > 0 and text[last] in _END_MARKS and not _mark_at_end(band, centers[last]):
        out.add(last)
    for i in range(1, len(text) - 1):
        if text[i] in _MARKS and text[i - 1].isalpha() and text[i + 1].isalpha():
            c = int(round(centers[i]))
            lo, hi = max(0, c - half), min(cols.size, c + half + 1)
            if lo < hi and not cols[lo:hi].any():
                out.add(i)
    return out


def line_words(box: Any, text: str, score: float, char_boxes: Any = None,
               char_confs: Any = None, *, gap_factor: float = 0.0, page: Any = None,
               ink_gap: float = 0.0,
               ) -> list[tuple[str, tuple[float, float, float, float], float]]:
    """Split one recognised line into ``(word, pixel box, confidence)``.

    Args:
        box: the line's quadrilateral (four ``(x, y)`` points).
        text: the recognised line text.
        score: the line's recognition score (0–1).
        char_boxes: one quadrilateral per character of ``text`` (the library's
            ``return_word_box`` output), or ``None``.
        char_confs: one probability per character of ``text``, or ``None``.
        gap_factor: with character boxes, also split where two adjacent characters are
            further apart than this many times the line's median character step (0: off).
        page: the page's greyscale pixels (a 2-D uint8 array), for ``ink_gap``.
        ink_gap: with character boxes and ``page``, also split between two letters whose blank
            gap exceeds the line's median gap by this fraction of the text height (0: off).

    Returns:
        Words left to right. With usable character boxes a word's box is the union of its
        characters' boxes (clipped to the line's vertical extent); otherwise the line box is cut
        in proportion to character offsets.

    >>> [(w, tuple(round(v) for v in b)) for w, b, _ in line_words(
    ...     [(0, 0), (100, 0), (100, 10), (0, 10)], "ab  cd", 0.9)]
    [('ab', (0, 0, 33, 10)), ('cd', (67, 0, 100, 10))]
    """
    x0, y0, x1, y1 = _bounds(box)
    n = len(text)
    usable = (char_boxes is not None and len(char_boxes) == n
              and all(len(b) == 4 for b in char_boxes))
    confs_ok = char_confs is not None and len(char_confs) == n
    words: list[tuple[str, tuple[float, float, float, float], float]] = []
    breaks: set[int] = set()
    if usable and gap_factor > 0:
        centers = [(min(float(p[0]) for p in b) + max(float(p[0]) for p in b)) / 2
                   for b in char_boxes]
        if all(b >= a for a, b in zip(centers, centers[1:], strict=False)):  # a horizontal line
            breaks = _gap_breaks(text, centers, gap_factor)
            if page is not None and ink_gap > 0 and _level(box):
                top, left = max(0, int(y0)), max(0, int(x0))
                crop = page[top:max(top, int(y1) + 1), left:max(left, int(x1) + 1)]
                band = _ink_band(crop)
                shifted = [c - left for c in centers]
                breaks = _ink_breaks(text, shifted, band, ink_gap, breaks)
                ghosts = _phantom_marks(text, shifted, band)
                if ghosts:  # a mark read where the page is blank: the word gap it sits in
                    text = "".join(" " if i in ghosts else ch for i, ch in enumerate(text))
    for start, end in _spans(text, breaks):
        if usable:
            parts = [_bounds(char_boxes[i]) for i in range(start, end)]
            bx0 = max(x0, min(p[0] for p in parts))
            bx1 = min(x1, max(p[2] for p in parts))
            by0 = max(y0, min(p[1] for p in parts))
            by1 = min(y1, max(p[3] for p in parts))
            if bx1 <= bx0 or by1 <= by0:
                bx0, bx1 = x0 + (x1 - x0) * start / n, x0 + (x1 - x0) * end / n
                by0, by1 = y0, y1
        else:
            bx0, bx1 = x0 + (x1 - x0) * start / n, x0 + (x1 - x0) * end / n
            by0, by1 = y0, y1
        if confs_ok:
            conf = sum(float(c) for c in char_confs[start:end]) / (end - start)
        else:
            conf = float(score)
        words.append((text[start:end], (bx0, by0, bx1, by1), conf))
    return words


class RapidOcrEngine:
    """OCR with RapidOCR (PP-OCRv4 via onnxruntime): words with pixel boxes and 0–1 confidences.

    >>> engine = RapidOcrEngine(Settings(ocr_engine="rapidocr"))   # doctest: +SKIP
    >>> words = engine.ocr(image, page_number=1)                    # doctest: +SKIP
    """

    name = "rapidocr"

    def __init__(self, settings: Settings | None = None, *, max_side_len: int = MAX_SIDE_LEN,
                 line_end: float = LINE_END) -> None:
        self.settings = settings or Settings()
        self.max_side_len = max_side_len
        self.line_end = line_end
        self._version: str | None = None

    def version(self) -> str:
        """Package, model and runtime versions, recorded on every record."""
        if self._version is None:
            try:
                import onnxruntime

                ort = onnxruntime.__version__
            except ImportError:
                ort = "?"
            self._version = (f"{PACKAGE} {_package_version()} (PP-OCRv4 det+rec, "
                             f"ppocr-mobile-v2.0 cls; onnxruntime {ort}; "
                             f"max_side_len {self.max_side_len}; line ends carried on "
                             f"{self.line_end:g} text heights; Latin CTC vocabulary, "
                             f"punctuation prior {PUNCT_PRIOR:g})")
        return self._version

    def check(self) -> None:
        """Fail fast when the package cannot be imported or its models cannot be loaded."""
        from PIL import Image

        _model(self.max_side_len, self.line_end)
        try:
            self.ocr(Image.new("L", (64, 32), 255), page_number=0)
        except PageError as exc:
            raise DependencyMissing("RapidOCR is installed but cannot run; reinstall it "
                                    f"({INSTALL_HINT.split('; ', 1)[-1]}", reason="rapidocr_broken",
                                    stage="startup") from exc

    def orientation(self, image: Image.Image) -> int:
        """Counter-clockwise degrees that make the page upright (Tesseract's OSD when the
        binary is installed; 0 otherwise: RapidOCR itself only flips single lines)."""
        import shutil

        if shutil.which("tesseract") is None:
            return 0
        from extractors.ocr.tesseract import TesseractEngine

        try:
            return TesseractEngine(self.settings).orientation(image)
        except Exception:  # orientation is best effort; the unrotated reading stands
            return 0

    def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
        """OCR one page image. A page whose lines read mostly upside down (:class:`PageVote`) is
        read a second time turned, its words' boxes turned back onto the page as given: the
        library turns such lines only after cutting them out, then maps their letters back as if
        it had not (and :class:`LineEnds` carried the cuts on past the lines' starts).

        Raises:
            PageError: ``ocr_timeout`` when the call took longer than ``settings.ocr_timeout_s``;
                ``ocr_failed`` when the library fails on the page.
        """
        model = _model(self.max_side_len, self.line_end)
        img = image if image.mode in ("1", "L", "RGB") else image.convert("RGB")
        t0 = time.monotonic()
        result = self._read(model, img, page_number)
        turned = model.text_cls.turned()
        if turned:  # an upside-down page: its lines were turned only once cut out, so the library
            # put their letters back unturned and carried them on past their start: read it turned
            img = img.rotate(180)
            result = self._read(model, img, page_number)
            model.text_cls.turned()  # this reading's vote is not the next page's
        if time.monotonic() - t0 > self.settings.ocr_timeout_s:
            raise PageError(f"OCR took longer than {self.settings.ocr_timeout_s:g}s on page "
                            f"{page_number}", reason="ocr_timeout", stage="ocr")
        import numpy as np

        words = result_words(result, img.size, page=np.asarray(img.convert("L"), dtype=np.uint8))
        if turned:
            w, h = img.size
            words = [Word.from_pixels(wd.text, (w - wd.bbox[2], h - wd.bbox[3], w - wd.bbox[0], h - wd.bbox[1]),
                                      page_width=w, page_height=h, confidence=wd.confidence)
                     for wd in words]
        return words

    @staticmethod
    def _read(model: Any, img: Image.Image, page_number: int) -> Any:
        try:
            result, _ = model(img, return_word_box=True, box_thresh=0.5, unclip_ratio=UNCLIP_RATIO,
                              text_score=0.5)
        except Exception as exc:  # the library raises bare errors on odd inputs
            raise PageError(f"rapidocr failed on page {page_number} ({type(exc).__name__})",
                            reason="ocr_failed", stage="ocr") from exc
        return result


def result_words(result: Any, size: tuple[int, int], *, gap_factor: float = GAP_FACTOR,
                 page: Any = None, ink_gap: float = INK_GAP) -> list[Word]:
    """Words of a ``RapidOCR`` result (lines with ``return_word_box`` details) on a page of
    ``size`` pixels; each word's text NFKC-normalised (the recogniser's dictionary is Chinese
    and English: it writes fullwidth brackets and colons, ``（`` for ``(``)."""
    import unicodedata

    width, height = size
    words: list[Word] = []
    for item in result or []:
        box, text, score = item[0], str(item[1]), float(item[2])
        char_boxes = item[3] if len(item) > 3 else None
        char_confs = item[5] if len(item) > 5 else None
        for word, bbox, conf in line_words(box, text, score, char_boxes, char_confs,
                                           gap_factor=gap_factor, page=page, ink_gap=ink_gap):
            word = unicodedata.normalize("NFKC", word).strip()
            if word:
                words.append(Word.from_pixels(word, bbox, page_width=width, page_height=height,
                                              confidence=conf))
    return words
