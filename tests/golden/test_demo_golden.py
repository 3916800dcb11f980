"""Golden test: ``documents.jsonl`` of the committed demo set against samples/expected/.

Confidences are compared rounded (2 decimals), everything else exactly. After an intended change
of outputs, regenerate with ``make golden`` and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from extractors.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXPECTED = REPO / "samples" / "expected" / "documents.jsonl"


def _simplify(obj: object) -> object:
    if isinstance(obj, float):
        return round(obj, 2)
    if isinstance(obj, dict):
        return {k: _simplify(v) for k, v in obj.items() if k not in ("settings_hash",)}
    if isinstance(obj, list):
        return [_simplify(v) for v in obj]
    return obj


@pytest.mark.tesseract
def test_demo_documents_jsonl_matches_golden(demo_dir: Path, tmp_path: Path) -> None:
    from flows.process import run_batch

    result = run_batch([demo_dir], tmp_path / "out", Settings(workers=2))
    got = (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8")
    if os.environ.get("DOCAI_UPDATE_GOLDEN"):
        EXPECTED.parent.mkdir(parents=True, exist_ok=True)
        EXPECTED.write_text(got, encoding="utf-8")
    assert len(result.records) == 7
    expected = [json.loads(x) for x in EXPECTED.read_text(encoding="utf-8").splitlines()]
    actual = [json.loads(x) for x in got.splitlines()]
    assert [r["source"] for r in actual] == [r["source"] for r in expected]
    for a, e in zip(actual, expected, strict=True):
        assert _simplify(a) == _simplify(e), a["source"]
