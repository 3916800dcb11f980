"""The one engine registry: ``kind → name → factory``, for OCR, classify, extract and QA.

Factories are registered by dotted path (``"extractors.models.layoutlmv3:LayoutLMv3Extractor"``)
so nothing heavy (torch, transformers) is imported until an engine is actually built.

>>> from extractors.registry import available
>>> "rules" in available("extract")
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from extractors.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image

    from extractors.settings import Settings
    from schemas import Answer, Document, Field, KeyValue, LineItem, Word

__all__ = [
    "Classifier",
    "Extraction",
    "Extractor",
    "Kind",
    "OcrEngine",
    "QAEngine",
    "available",
    "create",
    "register",
    "registrations",
]

Kind = Literal["ocr", "classify", "extract", "qa"]


@runtime_checkable
class OcrEngine(Protocol):
    """Turns one page image into words (pixel boxes, 0–1 confidence).

    Called once per page, possibly in a worker process; must honour ``settings.ocr_timeout_s``
    and raise :class:`~extractors.errors.PageError` (reason ``ocr_timeout``) when it runs out.
    """

    name: str

    def version(self) -> str: ...

    def check(self) -> None:
        """Raise ``DependencyMissing`` when the engine cannot run (called once at start-up)."""

    def ocr(self, image: Image.Image, *, page_number: int) -> list[Word]: ...


@runtime_checkable
class Classifier(Protocol):
    """Document type: ``invoice`` / ``receipt`` / ``form`` / ``other`` with a confidence."""

    name: str

    def classify(self, doc: Document) -> tuple[str, float]: ...


class Extraction:
    """What an extractor returns: canonical fields, line items and generic key-values."""

    __slots__ = ("fields", "key_values", "line_items")

    def __init__(
        self,
        fields: dict[str, Field] | None = None,
        line_items: list[LineItem] | None = None,
        key_values: list[KeyValue] | None = None,
    ) -> None:
        self.fields = fields or {}
        self.line_items = line_items or []
        self.key_values = key_values or []


@runtime_checkable
class Extractor(Protocol):
    """Fields, line items and key-values of a classified document."""

    name: str

    def extract(self, doc: Document, doc_type: str) -> Extraction: ...


@runtime_checkable
class QAEngine(Protocol):
    """Answers a question about a document; ``top_k`` alternatives, best first."""

    name: str

    def answer(self, doc: Document, question: str, *, top_k: int = 1) -> list[Answer]: ...


_REGISTRY: dict[str, dict[str, str | Callable[..., Any]]] = {
    "ocr": {
        "tesseract": "extractors.ocr.tesseract:TesseractEngine",
        "rapidocr": "extractors.ocr.rapid:RapidOcrEngine",  # optional extra: ocr-rapid
        "auto": "extractors.ocr.auto:AutoOcrEngine",  # rapidocr for receipt-shaped pages
    },
    "classify": {
        "rules": "extractors.classify:RulesClassifier",
        "layoutlmv3": "extractors.models.layoutlmv3:LayoutLMv3Classifier",
        "donut": "extractors.models.donut:DonutClassifier",
    },
    "extract": {
        "rules": "extractors.fields.rules:RulesExtractor",
        "layoutlmv3": "extractors.models.layoutlmv3:LayoutLMv3Extractor",
        "layoutlm": "extractors.models.layoutlmv3:LayoutLMExtractor",
        "lilt": "extractors.models.layoutlmv3:LiltExtractor",
        "donut": "extractors.models.donut:DonutExtractor",
    },
    "qa": {
        "rules": "extractors.qa:RulesQA",
        "layoutlmv3": "extractors.models.layoutlmv3:LayoutLMv3QA",
        "layoutlm": "extractors.models.layoutlmv3:LayoutLMQA",
        "lilt": "extractors.models.layoutlmv3:LiltQA",
        "donut": "extractors.models.donut:DonutQA",
    },
}


def register(kind: Kind, name: str, factory: str | Callable[..., Any]) -> None:
    """Add or replace an engine. ``factory(settings)`` must return the engine object."""
    if kind not in _REGISTRY:
        raise UsageError(f"unknown engine kind {kind!r}")
    _REGISTRY[kind][name] = factory


def available(kind: Kind) -> list[str]:
    """Names registered for ``kind``."""
    return sorted(_REGISTRY.get(kind, {}))


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def create(kind: Kind, name: str, settings: Settings) -> Any:
    """Build the engine ``name`` of ``kind`` from ``settings``.

    Raises:
        UsageError: unknown name (the message lists the known ones).
    """
    engines = _REGISTRY.get(kind, {})
    if name not in engines:
        raise UsageError(f"unknown {kind} engine {name!r}; known: {', '.join(sorted(engines))}")
    return _resolve(engines[name])(settings)


def registrations() -> dict[str, dict[str, str | Callable[..., Any]]]:
    """A copy of every registration (kind → name → factory), e.g. to repeat them in a worker
    process so that engines registered at run time exist there too."""
    return {kind: dict(engines) for kind, engines in _REGISTRY.items()}
