"""Running the pipeline over a labelled folder for ``docai eval``, with an OCR cache.

OCR is the slow stage (about 0.5–1 s per page on a small CPU), while the stages people tune
(classification, field extraction, layout) are fast. So evaluation caches what OCR produced and
re-runs only what comes after it:

* **document cache** — the loaded :class:`~schemas.document.Document` (words, lines, blocks), keyed
  by the file's sha256, the settings that change reading (:func:`read_settings_hash`) and a
  fingerprint of the source code of the reading stages (preflight, pages, layout, the OCR engine,
  ``Pipeline.load``). Any change to that code is a miss, never a stale hit.
* **page cache** — one OCR engine call (words of one page image), keyed by the sha256 of the
  exact image handed to the engine, the engine's version and module source and the settings.
  When only ``layout.py`` changed, the document cache misses but every page is found here, so the
  page is decoded and laid out again without running Tesseract.

Entries are gzip'd JSON under ``cache_dir/{docs,pages}/``, written atomically; deleting the
folder is always safe.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import inspect
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractors.evaluate import DocResult, Example, evaluate_record
from extractors.fsutil import atomic_write_bytes
from extractors.settings import PIPELINE_VERSION, Settings
from schemas.document import Document, Word

if TYPE_CHECKING:
    from PIL import Image

    from extractors.pipeline import Pipeline
    from schemas.record import Record

__all__ = ["CachingOcr", "EvalCache", "EvalRunner", "code_fingerprint", "default_cache_dir", "document_salt",
           "read_settings_hash"]

log = logging.getLogger("docai.eval")

_NOT_READING = frozenset({"ocr_timeout_s", "render_timeout_s", "review_threshold", "strict_pages"})
_NOT_READING_PREFIXES = ("classify_", "extract_", "qa_", "review_", "export_", "train_", "model",
                         "device", "batch", "precision", "workers")
"""Settings that cannot change the words read from a page. Every other setting is part of the
cache key (a new one costs one re-read, never a stale hit)."""

_CODE_ROOTS = ("extractors", "schemas")
_NOT_READING_CODE = (
    "extractors/fields/", "extractors/models/", "extractors/classify.py", "extractors/qa",
    "extractors/calibrate.py",
    "extractors/export.py", "extractors/presets.py", "extractors/report.py",
    "extractors/evaluate.py", "extractors/eval_run.py", "extractors/semantic.py",
    "extractors/hooks.py", "extractors/registry.py", "extractors/errors.py",
    "extractors/settings.py", "extractors/fsutil.py", "schemas/fields.py", "schemas/record.py",
    "schemas/validate.py", "schemas/normalize.py",
)
"""Code that runs after the words are read (its changes keep the cache). All other modules of
``extractors``/``schemas`` (and the OCR engine's own module) are fingerprinted."""
_AFTER_OCR_CODE = ("extractors/layout.py", "extractors/pages.py", "extractors/preflight.py",
                   "extractors/pipeline.py")
"""Code that runs around the OCR call: it changes the document cache key, not the page cache key
(a page entry is keyed by the exact image the engine was given)."""


def _code_files() -> list[tuple[str, Path]]:
    """``(package-relative name, path)`` of every reading-code module, sorted."""
    import importlib.util

    files: list[tuple[str, Path]] = []
    for root in _CODE_ROOTS:
        spec = importlib.util.find_spec(root)
        for loc in list(spec.submodule_search_locations or []) if spec else []:
            base = Path(loc).parent
            for f in sorted(Path(loc).rglob("*.py")):
                rel = f.relative_to(base).as_posix()
                if f.name != "__init__.py" and not rel.startswith(_NOT_READING_CODE):
                    files.append((rel, f))
    return files


def code_fingerprint(*, pages: bool, extra: Sequence[Any] = ()) -> str:
    """Digest of the reading code: for the document cache (``pages=False``) or the page cache
    (``pages=True``: without the code around the OCR call), plus the source of ``extra`` objects."""
    h = hashlib.sha256(PIPELINE_VERSION.encode())
    for rel, f in _code_files():
        if pages and rel in _AFTER_OCR_CODE:
            continue
        h.update(rel.encode())
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"?")
    h.update(_source_digest(extra).encode())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    """``~/.cache/docai/eval`` (or ``$XDG_CACHE_HOME/docai/eval``)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docai" / "eval"


def read_settings_hash(settings: Settings) -> str:
    """Hash of the settings that can change what is read from a page."""
    keep = {k: v for k, v in settings.model_dump().items()
            if k not in _NOT_READING and not k.startswith(_NOT_READING_PREFIXES)}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _source_digest(objs: Sequence[Any]) -> str:
    h = hashlib.sha256(PIPELINE_VERSION.encode())
    for obj in objs:
        try:
            src = inspect.getsource(obj)
        except (OSError, TypeError):
            src = repr(obj)
        h.update(src.encode("utf-8", "replace"))
    return h.hexdigest()[:16]


def document_salt(ocr: Any, settings: Settings) -> str:
    """What a read document depends on, as one string for cache keys: the OCR engine's version,
    the reading settings and the reading code (:func:`code_fingerprint`, with the engine's module).
    ``docai eval``'s and ``docai ask-eval``'s document caches key on it."""
    mod = sys.modules.get(type(ocr).__module__)
    return "|".join([_engine_version(ocr), read_settings_hash(settings),
                     code_fingerprint(pages=False, extra=[mod or type(ocr)])])


def _engine_version(ocr: Any) -> str:
    try:
        return str(ocr.version())
    except Exception:  # a missing binary shows up later, in load(), as a failed record
        return str(getattr(ocr, "name", type(ocr).__name__))


class EvalCache:
    """gzip'd JSON entries under ``root/docs`` and ``root/pages`` (thread-safe, atomic writes)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json.gz"

    def get(self, kind: str, key: str) -> Any | None:
        """The stored JSON value, or ``None`` (also for an unreadable entry)."""
        path = self._path(kind, key)
        try:
            return json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError, EOFError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (a failed write only costs a later re-run)."""
        try:
            atomic_write_bytes(self._path(kind, key),
                               gzip.compress(json.dumps(value).encode("utf-8"), compresslevel=5))
        except Exception:  # the cache must never fail an evaluation
            log.warning("eval cache: cannot write a %s entry", kind)


class CachingOcr:
    """Wraps an OCR engine: one page image's words are read from the cache when seen before.

    Make one per document (cheap: pass the ``salt`` from :meth:`salt_for`) to count that
    document's page hits and misses.
    """

    def __init__(self, inner: Any, cache: EvalCache, settings: Settings, *, salt: str | None = None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = getattr(inner, "name", "ocr")
        self._salt = salt or self.salt_for(inner, settings)
        self.hits = 0
        self.misses = 0
        if callable(getattr(inner, "orientation", None)):
            self.orientation = self._orientation  # only engines that detect orientation have it

    @staticmethod
    def salt_for(inner: Any, settings: Settings) -> str:
        """Engine version, reading settings and the engine module's source, as one string."""
        mod = sys.modules.get(type(inner).__module__)
        return "|".join([_engine_version(inner), read_settings_hash(settings),
                         code_fingerprint(pages=True, extra=[mod or type(inner)])])

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def version(self) -> str:
        """The wrapped engine's version."""
        return str(self.inner.version())

    def check(self) -> None:
        """The wrapped engine's start-up check."""
        check = getattr(self.inner, "check", None)
        if check is not None:
            check()

    def _key(self, image: Image.Image, page_number: int) -> str:
        h = hashlib.sha256(self._salt.encode())
        h.update(f"{image.mode}|{image.size}|{image.info.get('dpi')}".encode())
        h.update(image.tobytes())
        return h.hexdigest()

    def _orientation(self, image: Image.Image) -> int:
        """The wrapped engine's orientation detection, cached like OCR."""
        key = self._key(image, 0) + "-orientation"
        hit = self.cache.get("pages", key)
        if isinstance(hit, int):
            return hit
        angle = int(self.inner.orientation(image))
        self.cache.put("pages", key, angle)
        return angle

    def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
        """Words of one page image: cached, or from the wrapped engine."""
        from extractors.ocr.auto import READ_BY_KEY

        key = self._key(image, page_number)
        hit = self.cache.get("pages", key)
        # an entry is the words, or {"words": ..., "read_by": ...} when ``auto`` kept another
        # engine's reading than the one it chose first (:data:`~extractors.ocr.auto.READ_BY_KEY`)
        read_by = hit.get("read_by") if isinstance(hit, dict) else None
        stored = hit.get("words") if isinstance(hit, dict) else hit
        if isinstance(stored, list):
            try:
                words = [Word.model_validate(w) for w in stored]
            except ValueError:
                words = None
            if words is not None:
                self.hits += 1
                if isinstance(read_by, str):
                    image.info[READ_BY_KEY] = read_by
                return words
        words = self.inner.ocr(image, page_number=page_number)
        self.misses += 1
        entry: Any = [w.model_dump(mode="json") for w in words]
        if isinstance(image.info.get(READ_BY_KEY), str):
            entry = {"words": entry, "read_by": image.info[READ_BY_KEY]}
        self.cache.put("pages", key, entry)
        return list(words)


class EvalRunner:
    """Runs one :class:`~extractors.pipeline.Pipeline` over labelled examples (threads share it)."""

    def __init__(self, settings: Settings | None = None, *, cache_dir: str | Path | None = None,
                 pipeline: Pipeline | None = None) -> None:
        from extractors import registry
        from extractors.pipeline import Pipeline

        self.settings = settings or Settings()
        self.cache = EvalCache(cache_dir) if cache_dir is not None else None
        if pipeline is None:
            ocr = registry.create("ocr", self.settings.ocr_engine, self.settings)
            pipeline = Pipeline(self.settings, ocr=ocr)
        self.pipeline = pipeline
        self._ocr_salt = CachingOcr.salt_for(pipeline.ocr, self.settings)
        self._doc_salt = document_salt(pipeline.ocr, self.settings)

    def check(self) -> None:
        """Fail fast when the OCR engine cannot run (``DependencyMissing``)."""
        self.pipeline.check()

    def _doc_key(self, sha256: str) -> str:
        return hashlib.sha256(f"{self._doc_salt}|{sha256}".encode()).hexdigest()

    def process(self, path: Path, source: str) -> tuple[Record, str]:
        """One document's record and where its words came from: ``doc``/``pages``/``none``."""
        from extractors.pipeline import safe_source
        from extractors.preflight import preflight

        if self.cache is None:
            return self.pipeline.process(path), "none"
        # A shallow copy shares the (possibly heavy) engines; only the OCR wrapper is per document.
        pipe = copy.copy(self.pipeline)
        ocr = CachingOcr(self.pipeline.ocr, self.cache, self.settings, salt=self._ocr_salt)
        pipe.ocr = ocr
        try:
            pre = preflight(path, self.settings)
        except Exception:
            return pipe.process(path), "none"
        src = safe_source(Path(source), Path(".")) if source else path.name
        base: dict[str, Any] = {"source": src,
                "pipeline_version": PIPELINE_VERSION,
                "settings_hash": self.settings.output_hash(), "engine": pipe.engine_info()}
        key = self._doc_key(pre.sha256)
        stored = self.cache.get("docs", key)
        doc: Document | None = None
        if stored is not None:
            try:
                doc = Document.model_validate(stored)
                state = "doc"
            except ValueError:
                doc = None
        if doc is None:
            try:
                pre, doc = pipe.load(path, source=src)
            except Exception:
                return pipe.process(path), "none"  # the pipeline's own failure record
            if all(p.status == "ok" for p in doc.pages):
                self.cache.put("docs", key, doc.model_dump(mode="json"))
            state = "pages" if ocr.hits and not ocr.misses else "none"
        return pipe.finish(pre, doc, base), state

    def run_one(self, example: Example) -> tuple[DocResult, Record]:
        """Process and score one example."""
        t0 = time.perf_counter()
        try:
            record, state = self.process(example.path, example.file)
        except Exception as exc:  # an engine bug fails this document, not the evaluation
            from extractors.errors import outcome_for
            from schemas.record import Record, Status

            status, reason, message = outcome_for(exc)
            log.warning("eval: a document failed with %s", type(exc).__name__)
            record, state = Record(source=example.file, status=Status(status), reason=reason,
                                   message=message), "none"
        result = evaluate_record(example, record)
        result.seconds = round(time.perf_counter() - t0, 3)
        result.cache = state
        return result, record

    def run(self, examples: Sequence[Example], *, workers: int | None = None,
            on_result: Callable[[DocResult, Record], None] | None = None
            ) -> list[tuple[DocResult, Record]]:
        """Process and score every example (``workers`` threads; results in input order)."""
        n = max(1, workers or self.settings.workers)
        lock = threading.Lock()

        def one(ex: Example) -> tuple[DocResult, Record]:
            out = self.run_one(ex)
            if on_result is not None:
                with lock:
                    on_result(*out)
            return out

        if n == 1 or len(examples) <= 1:
            return [one(ex) for ex in examples]
        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(one, examples))
