"""The one intermediate representation every engine reads: pages, words, lines, blocks.

>>> from schemas.document import Word, Page
>>> w = Word.from_pixels("Total", (100, 200, 180, 220), page_width=1000, page_height=2000, confidence=0.9)
>>> w.box
(100, 100, 180, 110)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BBox", "Block", "Document", "Line", "Page", "Word", "normalize_box", "union_box"]

BBox = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)``; pixels for ``Word.bbox``, 0–1000 for ``Word.box``."""


def normalize_box(bbox: BBox, width: float, height: float) -> tuple[int, int, int, int]:
    """Pixel box → 0–1000 page scale, clamped to the page (model engines rely on the clamp)."""
    w = max(float(width), 1.0)
    h = max(float(height), 1.0)

    def clamp(v: float) -> int:
        return int(min(1000, max(0, round(v))))

    x0, y0, x1, y1 = bbox
    return (
        clamp(1000 * x0 / w),
        clamp(1000 * y0 / h),
        clamp(1000 * x1 / w),
        clamp(1000 * y1 / h),
    )


def union_box(boxes: list[BBox] | list[tuple[int, int, int, int]]) -> BBox:
    """Smallest box holding all ``boxes`` (same scale in, same scale out)."""
    if not boxes:
        return (0.0, 0.0, 0.0, 0.0)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


class Word(BaseModel):
    """One word with its pixel box, its 0–1000 box and the OCR confidence (0–1; 1.0 for text layers)."""

    model_config = ConfigDict(frozen=True)

    text: str
    bbox: BBox
    box: tuple[int, int, int, int]
    confidence: float = 1.0

    @classmethod
    def from_pixels(
        cls, text: str, bbox: BBox, *, page_width: float, page_height: float, confidence: float = 1.0
    ) -> Word:
        """Build a word from a pixel box; the 0–1000 box is derived and clamped."""
        return cls(
            text=text,
            bbox=tuple(float(v) for v in bbox),  # type: ignore[arg-type]
            box=normalize_box(bbox, page_width, page_height),
            confidence=float(min(1.0, max(0.0, confidence))),
        )


class Line(BaseModel):
    """A visual text line: indices into ``Page.words`` in left-to-right order."""

    word_ids: list[int]
    box: tuple[int, int, int, int]
    text: str


class Block(BaseModel):
    """A group of consecutive lines (a paragraph / column cell): indices into ``Page.lines``."""

    line_ids: list[int]
    box: tuple[int, int, int, int]


class Page(BaseModel):
    """One page. ``number`` is 1-based; sizes are pixels of the image the boxes refer to."""

    number: int
    width: float
    height: float
    dpi: float | None = None
    words: list[Word] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    blocks: list[Block] = Field(default_factory=list)
    text_source: Literal["text_layer", "ocr", "none"] = "none"
    engine: str | None = None
    rotation: int = 0
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None

    def line_words(self, line: Line) -> list[Word]:
        """Words of ``line`` in order."""
        return [self.words[i] for i in line.word_ids]

    @property
    def text(self) -> str:
        """Page text in reading order (one line per visual line)."""
        return "\n".join(line.text for line in self.lines)


class Document(BaseModel):
    """A whole input file after text extraction: what classifiers and extractors read."""

    source: str
    sha256: str
    media_type: str
    pages: list[Page] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """All page texts, separated by form feeds."""
        return "\f".join(p.text for p in self.pages)

    @property
    def n_words(self) -> int:
        """Total number of words over all pages."""
        return sum(len(p.words) for p in self.pages)
