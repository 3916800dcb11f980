"""Fixtures for the model-engine tests: tiny saved models and sample Documents.

Models are built once per session (``tests/models/builders.py``) into a temp dir and loaded by the
real engine code through ``from_pretrained``, exactly like a user's downloaded weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.document import Document, Page, Word

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _words_page(number: int, lines: list[str], *, width: float = 1000, height: float = 1400,
                top: float = 40, line_h: float = 22) -> Page:
    from extractors.layout import build_layout

    words: list[Word] = []
    for li, text in enumerate(lines):
        x = 40.0
        y = top + li * (line_h + 6)
        for tok in text.split():
            w = 11.0 * len(tok)
            words.append(Word.from_pixels(tok, (x, y, x + w, y + line_h), page_width=width,
                                          page_height=height))
            x += w + 11.0
    return build_layout(Page(number=number, width=width, height=height, words=words,
                             text_source="ocr", engine="test"))


RECEIPT_LINES = [
    "MR COFFEE SHOP SDN BHD",
    "12 JALAN KECIL 43300 SERI KEMBANGAN",
    "DATE 25/12/2018 TIME 10:45",
    "TEA 2 x 3.50 7.00",
    "CAKE 1 x 4.20 4.20",
    "TOTAL RM 11.87",
    "THANK YOU",
]


@pytest.fixture(scope="session")
def receipt_doc() -> Document:
    """A one-page receipt Document (words, 0–1000 boxes, lines) as the pipeline builds them."""
    return Document(source="r.png", sha256="a1" * 32, media_type="image/png",
                    pages=[_words_page(1, RECEIPT_LINES)])


@pytest.fixture(scope="session")
def long_doc() -> Document:
    """Two pages; page 1 has far more than 512 tokens (forces several windows)."""
    many = [f"ITEM{i} {i}.99 lorem ipsum" for i in range(60)]
    return Document(source="long.pdf", sha256="b2" * 32, media_type="application/pdf",
                    pages=[_words_page(1, many, line_h=12), _words_page(2, RECEIPT_LINES)])


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def lmv3_token(models_dir: Path) -> Path:
    from tests.models.builders import tiny_layoutlmv3

    return tiny_layoutlmv3(models_dir / "lmv3_token", "token")


@pytest.fixture(scope="session")
def lmv3_qa(models_dir: Path) -> Path:
    from tests.models.builders import tiny_layoutlmv3

    return tiny_layoutlmv3(models_dir / "lmv3_qa", "qa", labels=["LABEL_0", "LABEL_1"])


@pytest.fixture(scope="session")
def lmv3_seq(models_dir: Path) -> Path:
    from tests.models.builders import tiny_layoutlmv3

    return tiny_layoutlmv3(models_dir / "lmv3_seq", "sequence",
                           labels=["invoice", "receipt", "form", "letter"])


@pytest.fixture(scope="session")
def layoutlm_token(models_dir: Path) -> Path:
    from tests.models.builders import tiny_layoutlm

    return tiny_layoutlm(models_dir / "lm_token", "token")


@pytest.fixture(scope="session")
def lilt_token(models_dir: Path) -> Path:
    from tests.models.builders import tiny_lilt

    return tiny_lilt(models_dir / "lilt_token", "token")


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    """Engines share loaded models per process; tests that rewire weights need their own."""
    yield
    from extractors.models import runtime

    runtime.clear_cache()
