"""Generic key-values (extractors/fields/kv.py): hand-made forms with known pairs, the tree
ensemble reader, text cleaning, link selection, and FUNSD forms read from their own word boxes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from extractors.evaluate import match_pairs, prf
from extractors.fields import kv
from extractors.fields.rules import RulesExtractor
from extractors.layout import build_layout
from schemas.document import Document, Page, Word

W, H = 762.0, 1000.0  # a FUNSD-sized scan
CHAR_W, LINE_H = 6.5, 11.0


def make_doc(rows: list[tuple[float, list[tuple[float, str, float]]]], *, width: float = W,
             height: float = H) -> Document:
    """``rows`` = [(y, [(x, "words of a run", ocr confidence), …]), …] in pixels."""
    words: list[Word] = []
    for y, runs in rows:
        for x, run, conf in runs:
            cx = x
            for tok in run.split():
                w = CHAR_W * len(tok)
                words.append(Word.from_pixels(tok, (cx, y, cx + w, y + LINE_H), page_width=width,
                                              page_height=height, confidence=conf))
                cx += w + CHAR_W * 0.7
    page = build_layout(Page(number=1, width=width, height=height, words=words, text_source="ocr"))
    return Document(source="form.png", sha256="0" * 64, media_type="image/png", pages=[page])


def pairs(doc: Document) -> set[tuple[str, str]]:
    return {(p.key, p.value) for p in kv.extract_key_values(doc)}


# ---------------------------------------------------------------------------------------------
# hand-made forms
# ---------------------------------------------------------------------------------------------
MEMO = [
    (60, [(250, "INTEROFFICE MEMORANDUM", 0.96)]),
    (120, [(80, "TO:", 0.95), (160, "Mr. R. Jones", 0.82)]),
    (150, [(80, "FROM:", 0.95), (160, "K. Smith", 0.8)]),
    (180, [(80, "DATE:", 0.95), (160, "March 3, 1992", 0.85)]),
    (210, [(80, "SUBJECT:", 0.95), (160, "Budget review", 0.83)]),
]


def test_memo_header_pairs_right_of_colon_labels() -> None:
    got = pairs(make_doc(MEMO))
    assert ("TO:", "Mr. R. Jones") in got
    assert ("FROM:", "K. Smith") in got
    assert ("DATE:", "March 3, 1992") in got
    assert ("SUBJECT:", "Budget review") in got
    # the title is not a key and not a value
    assert not any("MEMORANDUM" in k or "MEMORANDUM" in v for k, v in got)


def test_two_columns_of_pairs_on_one_row() -> None:
    doc = make_doc([
        (100, [(60, "Name:", 0.95), (120, "J. S. Wigand", 0.8), (420, "Date:", 0.95), (470, "9/3/92", 0.8)]),
        (140, [(60, "Group:", 0.95), (120, "Licensee", 0.8), (420, "Phone:", 0.95), (480, "555-1234", 0.8)]),
    ])
    got = pairs(doc)
    assert {("Name:", "J. S. Wigand"), ("Date:", "9/3/92"), ("Group:", "Licensee"),
            ("Phone:", "555-1234")} <= got
    # each value has exactly one key
    values = [v for _, v in got]
    assert len(values) == len(set(values))


def test_glued_colon_and_fill_in_rule_are_split() -> None:
    doc = make_doc([
        (100, [(60, "Date:9/3/92", 0.9)]),
        (140, [(60, "Registration No.__533___", 0.9)]),
    ])
    words = [w.text for w in kv.parse_page(doc.pages[0], kv.load_model()).words]
    assert "Date:" in words and "9/3/92" in words
    assert "533" in words and not any("_" in w for w in words)
    assert ("Date:", "9/3/92") in pairs(doc)


def test_no_pairs_without_labels_and_on_empty_pages() -> None:
    prose = make_doc([(100 + 16 * i, [(60, "the quick brown fox jumps over the lazy dog again", 0.95)])
                      for i in range(6)])
    assert pairs(prose) == set()
    empty = Document(source="x", sha256="0" * 64, media_type="image/png",
                     pages=[Page(number=1, width=W, height=H)])
    assert kv.extract_key_values(empty) == []


def test_key_values_carry_boxes_page_and_bounded_confidence() -> None:
    doc = make_doc(MEMO)
    kvs = kv.extract_key_values(doc)
    assert kvs
    for p in kvs:
        assert p.page == 1 and 0.0 <= p.confidence <= 1.0
        assert p.key_bbox is not None and p.value_bbox is not None
        assert p.key_bbox[2] <= p.value_bbox[0] + 5  # key left of its value on these rows


def test_rules_extractor_uses_the_kv_module() -> None:
    doc = make_doc(MEMO)
    ex = RulesExtractor(None).extract(doc, "form")
    assert [(p.key, p.value) for p in ex.key_values] == [(p.key, p.value) for p in kv.extract_key_values(doc)]


def test_missing_model_gives_no_pairs_and_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(kv, "MODEL_PATH", tmp_path / "absent.json")
    monkeypatch.setattr(kv, "_MODEL", None)
    monkeypatch.setattr(kv, "_WARNED", False)
    with caplog.at_level(logging.WARNING, logger="docai.kv"):
        assert kv.extract_key_values(make_doc(MEMO)) == []
        assert kv.extract_key_values(make_doc(MEMO)) == []
    assert sum("unusable" in r.message for r in caplog.records) == 1
    assert "TO" not in caplog.text  # no document text in logs


# ---------------------------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------------------------
def _stump(feature: int, threshold: float, lo: float, hi: float, n_features: int = 2) -> dict:
    return {"n_out": 1, "depth": 1, "baseline": [0.5], "features": [f"f{i}" for i in range(n_features)],
            "feature": [feature, -1, -1], "threshold": [threshold, 0.0, 0.0], "left": [1, 1, 2],
            "right": [2, 1, 2], "value": [0.0, lo, hi], "roots": [0], "tree_class": [0]}


def test_tree_ensemble_walk_and_link_function() -> None:
    one = kv.trees_from_json(_stump(1, 0.0, -2.0, 3.0))
    p = kv.predict(one, np.array([[9.0, -1.0], [9.0, 0.0], [-9.0, 0.5]]))[:, 0]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(p, [sig(-1.5), sig(-1.5), sig(3.5)])  # x <= thr goes left
    assert kv.predict(one, np.zeros((0, 2))).shape == (0, 1)
    with pytest.raises(ValueError):
        kv.predict(one, np.zeros((1, 3)))
    # two trees of two classes: softmax of the per-class sums
    raw = _stump(0, 1.0, 0.0, 2.0)
    raw.update({"n_out": 2, "baseline": [0.0, 0.0], "feature": [0, -1, -1, -1], "threshold": [1.0, 0, 0, 0],
                "left": [1, 1, 2, 3], "right": [2, 1, 2, 3], "value": [0.0, 0.0, 2.0, 1.0],
                "roots": [0, 3], "tree_class": [0, 1]})
    two = kv.predict(kv.trees_from_json(raw), np.array([[0.0, 0.0], [5.0, 0.0]]))
    np.testing.assert_allclose(two.sum(1), 1.0)
    np.testing.assert_allclose(two[0], np.exp([0, 1]) / np.exp([0, 1]).sum())
    np.testing.assert_allclose(two[1], np.exp([2, 1]) / np.exp([2, 1]).sum())


def test_cleaning_keeps_text_and_drops_rule_residue() -> None:
    assert kv.clean_value("__7-Eleven__ |") == "7-Eleven"
    assert kv.clean_value(": $35,000") == "$35,000"
    assert kv.clean_value("(104)") == "(104)"
    assert kv.clean_key("|Date:") == "Date:"
    assert kv._is_junk("____") and kv._is_junk("|") and kv._is_junk("—")
    assert not kv._is_junk("X") and not kv._is_junk(".") and not kv._is_junk("-5")


def test_selection_one_key_per_value_columns_allowed() -> None:
    pp = kv.PageParse(words=[], lines=[])
    # key 0 heads a column of values 1, 2, 3; value 2 is also offered to key 4 (weaker)
    pp.links = [(0, 1, 0.9), (0, 2, 0.8), (0, 3, 0.7), (4, 2, 0.6), (4, 5, 0.1), (1, 6, 0.95)]
    got = kv.select_links(pp, thr=0.3)
    assert (1, 6, 0.95) in got  # a strong link makes 1 a key ...
    assert not any(v == 1 for _, v, _ in got)  # ... so it is not also a value
    assert {(0, 2), (0, 3)} <= {(k, v) for k, v, _ in got}
    assert not any(k == 4 for k, _, _ in got)  # value 2 already has a key; 5 is below threshold
    # a second value per key needs the stricter threshold
    assert {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3, second=0.75)} == {(1, 6), (0, 2)}


def test_calibrated_confidence_is_monotone_in_the_link_score() -> None:
    model = kv.load_model()
    assert model is not None and model.get("calibration")
    doc = make_doc(MEMO)
    pp = kv.parse_page(doc.pages[0], model)
    ke, ve = pp.entities[0], pp.entities[1]
    confs = [kv.calibrate(model, p, ke, ve) for p in (0.05, 0.2, 0.4, 0.6, 0.8, 0.95)]
    assert confs == sorted(confs) and confs[0] < confs[-1]


# ---------------------------------------------------------------------------------------------
# FUNSD measurement forms, read from their annotated word boxes (no OCR: fast)
# ---------------------------------------------------------------------------------------------
def _funsd_doc(ann: Path) -> tuple[Document, list[tuple[str, str]]]:
    from PIL import Image

    from extractors.evaluate import funsd_pairs

    form = json.loads(ann.read_text(encoding="utf-8"))["form"]
    img = ann.parent.parent / "images" / (ann.stem + ".png")
    with Image.open(img) as im:
        width, height = im.size
    words = [Word.from_pixels(w["text"], tuple(w["box"]), page_width=width, page_height=height,
                              confidence=0.9)
             for e in form for w in e["words"] if w["text"].strip()]
    page = build_layout(Page(number=1, width=width, height=height, words=words, text_source="ocr"))
    doc = Document(source=img.name, sha256="0" * 64, media_type="image/png", pages=[page])
    return doc, [(p["question"], p["answer"]) for p in funsd_pairs(form)]


def test_funsd_pairs_from_annotated_words(datasets: Path) -> None:
    anns = sorted((datasets / "funsd" / "training_data" / "annotations").glob("*.json"))[:10]
    if not anns:
        pytest.skip("funsd annotations missing")
    tp = n_pred = n_gold = 0
    for ann in anns:
        doc, gold = _funsd_doc(ann)
        pred = [(p.key, p.value) for p in kv.extract_key_values(doc)]
        tp += len(match_pairs(pred, gold))
        n_pred += len(pred)
        n_gold += len(gold)
    m = prf(tp, n_pred, n_gold)
    assert m["f1"] >= FUNSD_WORDS_F1, m


FUNSD_WORDS_F1 = 0.20  # measured 0.26 on these 10 forms (the model is trained on OCR output, whose
# confidences and tokens differ from the annotated words; end to end from OCR see the report)
