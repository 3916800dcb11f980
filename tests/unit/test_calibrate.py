"""Field-confidence calibration: features, the logistic fit and applying it."""

from __future__ import annotations

import json
import random

import pytest

from extractors.calibrate import FEATURES, Calibrator, features, fit, fit_logistic
from schemas.document import Document, Page, Word
from schemas.fields import Field
from schemas.record import FieldError


def _doc(confidences: list[float], source: str = "ocr") -> Document:
    words = [Word.from_pixels(f"w{i}", (100 * i, 100, 100 * i + 80, 130), page_width=1000,
                              page_height=1000, confidence=c) for i, c in enumerate(confidences)]
    page = Page(number=1, width=1000, height=1000, words=words, text_source=source)
    return Document(source="x.png", sha256="0" * 64, media_type="image/png", pages=[page])


def test_features_read_the_words_under_the_box_and_the_flags() -> None:
    doc = _doc([0.9, 0.5, 0.99])
    f = Field(value="9.00", text="9.00", confidence=0.8, page=1, bbox=[0, 90, 190, 140])
    x = dict(zip(FEATURES, features(doc, "total", f), strict=True))
    assert x["ocr_mean"] == pytest.approx(0.7) and x["ocr_min"] == pytest.approx(0.5)
    assert x["has_words"] == 1.0 and x["from_ocr"] == 1.0 and x["flagged"] == 0.0
    err = [FieldError(field="total", code="arithmetic_mismatch", message="")]
    assert features(doc, "total", f, err)[FEATURES.index("flagged")] == 1.0
    low = [FieldError(field="total", code="low_confidence", message="")]
    assert features(doc, "total", f, low)[FEATURES.index("flagged")] == 0.0
    nowhere = f.model_copy(update={"bbox": [500, 500, 600, 600]})
    assert features(doc, "total", nowhere)[FEATURES.index("has_words")] == 0.0
    text_layer = _doc([1.0], source="text_layer")
    assert features(text_layer, "total", f)[FEATURES.index("from_ocr")] == 0.0


def test_logistic_fit_recovers_a_separating_feature() -> None:
    rng = random.Random(3)
    x, y = [], []
    for _ in range(400):
        ocr = rng.random()
        x.append([1.0, ocr])
        y.append(rng.random() < ocr)  # P(right) = OCR confidence
    w = fit_logistic(x, y, l2=0.01)
    assert w[1] > 3.0  # the fitted slope is clearly positive
    assert abs(w[0] + w[1] / 2) < 0.6  # about 0.5 at ocr = 0.5


def _totals(seed: int) -> list[tuple[str, str, list[float], bool]]:
    """300 ``total`` rows, half right, told apart by a noisy score."""
    rows = []
    rng = random.Random(seed)
    for i in range(300):
        ok = i % 2 == 0
        feats = [1.0, 2.0 if ok else -2.0, 0.9, 0.9, 1.0, 1.0, 0.0]
        rows.append(("rules", "total", [v + rng.gauss(0, 0.3) if j else v for j, v in enumerate(feats)], ok))
    return rows


def test_fit_skips_fields_without_both_outcomes_and_apply_uses_the_kind_model(tmp_path) -> None:
    rows = _totals(1)
    rows += [("rules", "subtotal", [1.0, 1.0, 0.9, 0.9, 1.0, 1.0, 0.0], True)] * 200
    models = fit(rows)["rules"]
    assert "total" in models and "kind:money" in models
    assert "subtotal" not in models  # always right: nothing to learn
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"features": list(FEATURES), "engines": {"rules": models}}))
    cal = Calibrator.load(path)
    doc = _doc([0.95])
    good = Field(value="1", confidence=0.9, page=1, bbox=[0, 90, 100, 140])
    bad = Field(value="1", confidence=0.1, page=1, bbox=[0, 90, 100, 140])
    model = Field(value="1", confidence=0.42, engine="layoutlmv3", page=1, bbox=[0, 90, 100, 140])
    fields = {"total": good, "tax_total": bad, "x": model}
    cal.apply(doc, fields, [])
    assert fields["total"].confidence > 0.9
    assert fields["tax_total"].confidence < 0.2  # kind:money model
    assert fields["x"].confidence == 0.42  # no calibration for that engine: unchanged


def test_a_kind_without_enough_failures_uses_the_model_of_all_fields(tmp_path) -> None:
    rows = _totals(2)
    # dates: nearly always right, too few failures for a model of their own kind
    rows += [("rules", "invoice_date", [1.0, 2.0, 0.9, 0.9, 1.0, 1.0, 0.0], True)] * 100
    rows += [("rules", "invoice_date", [1.0, -2.0, 0.9, 0.9, 1.0, 1.0, 0.0], False)] * 2
    models = fit(rows)["rules"]
    assert "kind:date" not in models and "all" in models
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"features": list(FEATURES), "engines": {"rules": models}}))
    cal = Calibrator.load(path)
    assert cal.weights("rules", "invoice_date") == models["all"]
    assert cal.weights("rules", "total") == models["total"]
    doc = _doc([0.95])
    fields = {"invoice_date": Field(value="2024-01-02", confidence=0.05, page=1, bbox=[0, 90, 100, 140])}
    cal.apply(doc, fields, [])
    assert fields["invoice_date"].confidence != 0.05  # calibrated, not the raw score


def test_missing_file_is_identity_and_wrong_features_refuse(tmp_path) -> None:
    assert Calibrator.load(tmp_path / "none.json").models == {}
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"features": ["bias"], "engines": {}}))
    with pytest.raises(ValueError, match="refit"):
        Calibrator.load(p)
