"""The output contract: one :class:`Record` per input file (a ledger line / ``documents.jsonl`` row)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import Field as ExtractedField
from schemas.fields import KeyValue, LineItem

__all__ = ["Answer", "FieldError", "Record", "Status"]


class Status(StrEnum):
    """Terminal status of one input file."""

    OK = "ok"
    NEEDS_REVIEW = "needs_review"
    PARTIAL = "partial"  # some pages failed (render/OCR); the rest were processed
    REJECTED = "rejected"  # bad input: quarantined, never retried
    FAILED = "failed"  # our fault or the machine's: may be retried


class FieldError(BaseModel):
    """A validation problem on one field (or ``document`` for record-level problems)."""

    field: str
    code: str
    message: str


class Record(BaseModel):
    """One input file's result. Serialised with ``model_dump(mode="json")``; see design.md."""

    model_config = ConfigDict(extra="forbid")

    source: str
    sha256: str | None = None
    status: Status
    reason: str | None = None
    message: str | None = None
    doc_type: str | None = None
    doc_type_confidence: float | None = None
    pages: int | None = None
    fields: dict[str, ExtractedField] = Field(default_factory=dict)
    line_items: list[LineItem] = Field(default_factory=list)
    key_values: list[KeyValue] = Field(default_factory=list)
    errors: list[FieldError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    engine: dict[str, str] = Field(default_factory=dict)
    pipeline_version: str = ""
    settings_hash: str | None = None
    size_bytes: int | None = None
    media_type: str | None = None
    page_status: list[str] = Field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        """True unless the record is a clean ``ok``."""
        return self.status != Status.OK


class Answer(BaseModel):
    """An answer to a question about a document; ``answer`` is ``None`` for "I don't know"."""

    answer: str | None
    confidence: float = 0.0
    page: int | None = None
    bbox: list[int] | None = None
    engine: str = "rules"
    words: list[str] = Field(default_factory=list)
    field: str | None = None
