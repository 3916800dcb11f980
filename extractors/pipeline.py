"""One document, end to end: preflight → pages → Document → classify → extract → validate → Record.

>>> from extractors.pipeline import Pipeline                         # doctest: +SKIP
>>> record = Pipeline().process("samples/demo/invoice_001.pdf")      # doctest: +SKIP
>>> record.fields["total"].value                                     # doctest: +SKIP
'1234.56'
"""

from __future__ import annotations

import logging
import os
import unicodedata
from pathlib import Path
from typing import Any

from extractors import registry
from extractors.errors import DocaiError, InputRejected, outcome_for
from extractors.layout import build_layout
from extractors.pages import iter_pages
from extractors.preflight import Preflight, preflight
from extractors.settings import PIPELINE_VERSION, Settings
from schemas.document import Document, Page
from schemas.fields import fields_for
from schemas.record import FieldError, Record, Status
from schemas.validate import validate_fields

__all__ = ["REQUIRED_FIELDS", "Pipeline", "process_file", "safe_source"]

log = logging.getLogger("docai.pipeline")

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "invoice": ("vendor_name", "invoice_id", "invoice_date", "total"),
    "receipt": ("merchant_name", "transaction_date", "total"),
}
"""A record missing one of these is ``needs_review``."""


INPUT_PAGE_REASONS = frozenset({"page_too_large", "corrupt_image"})
"""Page failures that are the input's fault: a document failing only with these is ``rejected``."""


def safe_source(path: Path, root: Path | None) -> str:
    """Path relative to ``root`` (POSIX separators), with control and bidi characters escaped."""
    try:
        rel = path.relative_to(root) if root is not None else Path(path.name)
    except ValueError:
        rel = Path(path.name)
    text = rel.as_posix()
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text
    )


class Pipeline:
    """The engines of one run, built once and reused for every document (models stay loaded)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        ocr: Any = None,
        classifier: Any = None,
        extractor: Any = None,
        rasterizer: Any = None,
    ) -> None:
        self.settings = settings or Settings()
        self.rasterizer = rasterizer
        s = self.settings
        self.ocr = ocr if ocr is not None else registry.create("ocr", s.ocr_engine, s)
        self.classifier = (classifier if classifier is not None
                           else registry.create("classify", s.classify_engine, s))
        self.extractor = (extractor if extractor is not None
                          else registry.create("extract", s.extract_engine, s))
        from extractors.calibrate import default_calibrator

        self.calibrator = default_calibrator()
        self._ocr_versions: dict[str, str] = {}  # versions of engines ``auto`` chose per page

    def check(self) -> None:
        """Fail fast when a dependency is missing (raises ``DependencyMissing``)."""
        check = getattr(self.ocr, "check", None)
        if check is not None:
            check()

    def engine_info(self) -> dict[str, str]:
        """Engine names (and OCR version) recorded on each record."""
        try:
            ocr = self.ocr.version()
        except DocaiError:
            ocr = self.ocr.name
        return {"ocr": ocr, "classify": self.classifier.name, "extract": self.extractor.name}

    # -- stages ---------------------------------------------------------------------------
    def load(self, path: str | Path, *, source: str | None = None) -> tuple[Preflight, Document]:
        """Preflight and read all pages of ``path`` into a :class:`Document`.

        Raises:
            InputRejected: the input is bad (see :func:`extractors.preflight.preflight`).
        """
        pre = preflight(path, self.settings)
        from extractors.models.images import (
            remember_source,  # light: lets model engines re-render pages
        )

        remember_source(pre.sha256, pre.path)
        pages: list[Page] = list(iter_pages(pre, self.settings, self.ocr, layout=build_layout,
                                               rasterizer=self.rasterizer))
        doc = Document(source=source or Path(path).name, sha256=pre.sha256,
                       media_type=pre.media_type, pages=pages)
        return pre, doc

    def process(self, path: str | Path, *, root: str | Path | None = None) -> Record:
        """Process one file into a :class:`Record`. Never raises for a bad document."""
        path = Path(path)
        source = safe_source(path, Path(root) if root is not None else None)
        base = {"source": source, "pipeline_version": PIPELINE_VERSION,
                "settings_hash": self.settings.output_hash(), "engine": self.engine_info()}
        try:
            pre, doc = self.load(path, source=source)
        except Exception as exc:  # the one mapping: typed outcome, never a crash
            status, reason, message = outcome_for(exc)
            sha = None
            if isinstance(exc, InputRejected) and exc.reason not in ("not_found", "not_a_file",
                                                                      "unreadable"):
                from extractors.preflight import sha256_file

                try:
                    sha = sha256_file(path)
                except OSError:
                    sha = None
            log.info("document %s %s: %s", (sha or "-")[:12], status, reason)
            return Record(status=Status(status), reason=reason, message=message, sha256=sha,
                          size_bytes=_size(path), **base)
        return self.finish(pre, doc, base)

    def finish(self, pre: Preflight, doc: Document, base: dict[str, Any]) -> Record:
        """Classify, extract and validate a loaded document."""
        s = self.settings
        page_status = [p.error or "ok" if p.status == "failed" else "ok" for p in doc.pages]
        failed = [p for p in doc.pages if p.status == "failed"]
        common = {"sha256": pre.sha256, "pages": pre.n_pages, "size_bytes": pre.size,
                  "media_type": pre.media_type, "page_status": page_status, **base}
        common["engine"] = {**base["engine"], "ocr": self._words_engine(doc, base["engine"]["ocr"])}
        warnings = list(pre.warnings)
        if pre.encrypted:
            warnings.append("encrypted_owner_password")
        if failed and (s.strict_pages or len(failed) == len(doc.pages)):
            reason = failed[0].error or "page_failed"
            input_fault = all(p.error in INPUT_PAGE_REASONS for p in failed)
            return Record(status=Status.REJECTED if input_fault else Status.FAILED, reason=reason,
                          warnings=warnings,
                          message=f"{len(failed)} of {len(doc.pages)} pages failed", **common)
        doc_type, doc_conf = self.classifier.classify(doc)
        extraction = self.extractor.extract(doc, doc_type)
        errors: list[FieldError] = validate_fields(doc_type, extraction.fields, extraction.line_items)
        self.calibrator.apply(doc, extraction.fields, errors)  # scores → probabilities
        if doc.n_words == 0:
            errors.append(FieldError(field="document", code="no_text", message="no text found"))
        for name in REQUIRED_FIELDS.get(doc_type, ()):
            if name not in extraction.fields:
                errors.append(FieldError(field=name, code="missing", message="not found"))
        low = sorted(n for n, f in extraction.fields.items()
                     if n in fields_for(doc_type) and f.confidence < s.review_threshold)
        for name in low:
            errors.append(FieldError(field=name, code="low_confidence",
                                     message=f"confidence below {s.review_threshold:g}"))
        for p in doc.pages:
            if p.status == "ok" and p.error:
                warnings.append(f"page {p.number}: {p.error}")
                errors.append(FieldError(field="document", code=p.error,
                                         message=f"page {p.number}: text layer disagrees with the image"))
        if failed:
            status = Status.PARTIAL
        elif errors:
            status = Status.NEEDS_REVIEW
        else:
            status = Status.OK
        log.info("document %s %s (%s)", pre.sha256[:12], status.value, doc_type)
        return Record(
            status=status, reason=(failed[0].error if failed else None), doc_type=doc_type,
            doc_type_confidence=round(float(doc_conf), 4), fields=extraction.fields,
            line_items=extraction.line_items, key_values=extraction.key_values, errors=errors,
            warnings=warnings, **common,
        )


    def _words_engine(self, doc: Document, ocr_version: str) -> str:
        """Which engines produced the words: ``pdfium`` (text layer) and/or the OCR engine(s)
        that read pages (with ``--ocr-engine auto``, the one chosen for each page)."""
        used = []
        if any(p.text_source == "text_layer" for p in doc.pages):
            used.append("pdfium")
        for name in dict.fromkeys(p.engine for p in doc.pages if p.text_source == "ocr"):
            used.append(ocr_version if not name or name == self.ocr.name
                        else self._ocr_version_of(name, ocr_version))
        return "+".join(used) or "none"

    def _ocr_version_of(self, name: str, fallback: str) -> str:
        """Version of the registered OCR engine ``name`` (one that ``auto`` chose for a page)."""
        if name not in self._ocr_versions:
            try:
                self._ocr_versions[name] = registry.create("ocr", name, self.settings).version()
            except Exception:  # an unknown or broken engine: say what ran, not why
                self._ocr_versions[name] = fallback
        return self._ocr_versions[name]


def _size(path: Path) -> int | None:
    try:
        return os.lstat(path).st_size
    except OSError:
        return None


def process_file(path: str | Path, settings: Settings | None = None, *,
                 root: str | Path | None = None) -> Record:
    """Process one file with a fresh :class:`Pipeline` (convenience for notebooks and tests)."""
    return Pipeline(settings).process(path, root=root)
