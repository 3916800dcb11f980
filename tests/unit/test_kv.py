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


def test_dot_and_dash_leaders_are_cut_out_of_words() -> None:
    page = Page(number=1, width=W, height=H)

    def split(text: str) -> list[str]:
        w = Word.from_pixels(text, (100, 100, 100 + CHAR_W * len(text), 111), page_width=W, page_height=H,
                             confidence=0.9)
        return [p.text for p in kv._split_rules(w, page)]

    assert split("Tape--") == ["Tape"] and split("Circumference--~") == ["Circumference"]
    assert split("Total.......$12.00") == ["Total", "$12.00"] and split("~-------+-~-") == []
    assert split("No.__533__") == ["No.", "533"]
    # ordinary words keep their single dots and hyphens
    assert split("e-mail") == ["e-mail"] and split("U.S.A.") == ["U.S.A."] and split("9/3/92") == ["9/3/92"]
    parts = kv._split_rules(Word.from_pixels("Tape--", (100, 100, 160, 111), page_width=W, page_height=H,
                                             confidence=0.9), page)
    assert parts[0].bbox[0] == 100 and parts[0].bbox[2] < 160  # the leader's width is now a gap


def test_join_context_sees_columns_and_paragraphs() -> None:
    def ws(rows: list[tuple[float, list[tuple[float, str]]]]) -> tuple[list[Word], list[list[int]]]:
        words, lines = [], []
        for y, runs in rows:
            ids = []
            for x, t in runs:
                ids.append(len(words))
                words.append(Word.from_pixels(t, (x, y, x + CHAR_W * len(t), y + LINE_H), page_width=W,
                                              page_height=H, confidence=0.9))
            lines.append(ids)
        return words, lines

    # a two-column table: the gap between label and value is a river of white, values align
    table = ws([(100 + 16 * i, [(60, "Label"), (140, f"{i}00")]) for i in range(5)])
    x = kv.join_context_features(*table)
    names = list(kv.JOIN_CTX_FEATURES)
    assert x.shape == (5, len(names))
    assert x[2, names.index("r_align")] == pytest.approx(np.log1p(4))
    assert x[2, names.index("gap_cover")] == 0 and x[2, names.index("gap_lines")] > 0
    # a paragraph: the lines above and below run through the gap
    prose = ws([(100, [(60, "the"), (84, "quick"), (122, "brown")]), (116, [(60, "fox"), (90, "jumps")]),
                (132, [(60, "over"), (92, "the"), (118, "lazy")])])
    y = kv.join_context_features(*prose)  # junctions: the^quick, quick^brown, fox^jumps, over^the, the^lazy
    assert y[1, names.index("gap_cover")] == 2  # "jumps" and "lazy" run under the gap of "quick ^ brown"
    assert y[2, names.index("gap_cover")] == 2  # "quick" and "over" run through "fox ^ jumps"
    assert y[1, names.index("gap_lines")] == 2
    full = kv.page_join_features(*table)
    assert full.shape == (5, len(kv.JOIN_FEATURES) + len(names))
    assert kv.join_context_features([], []).shape == (0, len(names))


def test_merge_reads_open_line_ends() -> None:
    assert kv._open_end("NO. OF") and kv._open_end("Cost per") and kv._open_end("Smith,")
    assert not kv._open_end("Date:") and not kv._open_end("") and not kv._open_end("OFFICE")


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


def test_between_counts_are_the_entities_between_key_and_value() -> None:
    """The link features count, per candidate at once, the entities between a key and its value
    (on their row, or in the value's column above it); checked against the definition, one
    candidate at a time, on a form with rows, columns and entities in between."""
    doc = make_doc([
        (100, [(60, "Name:", 0.95), (120, "J. S. Wigand", 0.8), (300, "Dept:", 0.95), (350, "R&D", 0.8)]),
        (130, [(60, "Brand", 0.95), (200, "Count", 0.95), (320, "Date", 0.95)]),
        (150, [(60, "KOOL", 0.8), (200, "12", 0.8), (320, "9/3/92", 0.8)]),
        (170, [(60, "SALEM", 0.8), (200, "7", 0.8), (320, "9/4/92", 0.8)]),
        (200, [(60, "Remarks:", 0.95), (140, "none", 0.8), (200, "see", 0.8), (240, "over", 0.8)]),
    ])
    ents = kv.parse_page(doc.pages[0], kv.load_model()).entities
    cands = [(k, v, 0.0) for k in range(len(ents)) for v in range(len(ents)) if k != v]
    boxes = tuple(np.asarray([getattr(e, a) for e in ents]) for a in ("x0", "y0", "x1", "y1"))
    pk = np.asarray([e.probs[kv._K] for e in ents])
    pv = np.asarray([e.probs[kv._V] for e in ents])
    got = kv._between_counts(ents, cands, boxes, pk, pv, *kv._placement(ents, cands)[1:])

    def between(k: int, v: int) -> list[int]:
        ke, ve = ents[k], ents[v]
        same_row = kv._vov(ke.y0, ke.y1, ve.y0, ve.y1) >= 0.5
        below = ve.y0 >= ke.y1 - 0.3 * ke.h and not same_row
        out = []
        for j, e in enumerate(ents):
            if j in (k, v):
                continue
            if same_row:
                inside = kv._vov(ke.y0, ke.y1, e.y0, e.y1) >= 0.5 and ke.x1 <= e.x0 + 2 and e.x1 <= ve.x0 + 2
            else:
                inside = below and e.y0 >= ke.y1 - 0.3 * ke.h and e.y1 <= ve.y0 + 0.3 * ke.h \
                    and min(e.x1, ve.x1) - max(e.x0, ve.x0) > 0
            if inside:
                out.append(j)
        return out

    want = [between(k, v) for k, v, _ in cands]
    assert sum(map(len, want)) > 0  # the form has entities in between
    assert got[0] == [len(w) for w in want]
    assert got[1] == [sum(pk[j] >= 0.5 for j in w) for w in want]
    assert got[2] == [sum(pv[j] >= 0.5 for j in w) for w in want]
    assert kv._between_counts(ents, [], boxes, pk, pv, *kv._placement(ents, [])[1:]) == ([], [], [])


def test_cleaning_keeps_text_and_drops_rule_residue() -> None:
    assert kv.clean_value("__7-Eleven__ |") == "7-Eleven"
    assert kv.clean_value(": $35,000") == "$35,000"
    assert kv.clean_value("(104)") == "(104)"
    assert kv.clean_value("© OTHER") == "OTHER" and kv.clean_value("() MEASURED") == "MEASURED"
    assert kv.clean_value("* x") == "x" and kv.clean_value("$ 2000") == "$ 2000"
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


def _box_entity(x0: float, y0: float, x1: float, y1: float, text: str) -> kv.Entity:
    w = Word.from_pixels(text, (x0, y0, x1, y1), page_width=W, page_height=H, confidence=0.9)
    return kv.Entity([kv.Fragment([w], 0, [0])], np.array([0.25, 0.25, 0.25, 0.25]))


def test_selection_second_key_of_a_table_cell_comes_from_the_other_direction() -> None:
    pp = kv.PageParse(words=[], lines=[])
    pp.entities = [
        _box_entity(300, 100, 360, 111, "TAR"),  # 0: column header
        _box_entity(60, 140, 160, 151, "KOOL Lights"),  # 1: row label
        _box_entity(300, 140, 330, 151, "9.1"),  # 2: the cell
        _box_entity(60, 180, 160, 191, "KOOL Ultra"),  # 3: another row label (same side as 1)
        _box_entity(200, 140, 260, 151, "Other"),  # 4: a second key left on the same row
    ]
    pp.links = [(0, 2, 0.8), (1, 2, 0.6), (4, 2, 0.55), (3, 2, 0.5)]
    assert {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3)} == {(0, 2)}  # one key per value
    got = {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3, second_key=0.5)}
    # the row label joins the column header; the other row-side key and a third key do not
    assert got == {(0, 2), (1, 2)}
    assert {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3, second_key=0.7)} == {(0, 2)}
    pp.links = [(0, 2, 0.8), (3, 2, 0.6)]  # both off the cell's row: same direction, no second key
    assert {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3, second_key=0.5)} == {(0, 2)}
    pp.links = [(4, 2, 0.8), (1, 2, 0.6)]  # both on its row: no second key either
    assert {(k, v) for k, v, _ in kv.select_links(pp, thr=0.3, second_key=0.5)} == {(4, 2)}


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


# ---------------------------------------------------------------------------------------------
# lexicon (token log-odds of keys / values / headers)
# ---------------------------------------------------------------------------------------------
class _AnnotatedForm:
    """What :func:`train_kv.build_lexicon` reads of a training form: its labelled entities."""

    def __init__(self, entities: list[tuple[str, str]]) -> None:
        self.form = [{"id": i, "label": lab, "text": t} for i, (t, lab) in enumerate(entities)]


def test_lexicon_counts_each_form_once_and_scores_roles() -> None:
    from extractors.fields.train_kv import build_lexicon

    forms = [_AnnotatedForm([("Date:", "question"), ("3/9/92", "answer"), ("Smith Jones", "answer"),
                             ("DATE DATE date", "question"), ("MEMO", "header")]) for _ in range(3)]
    forms.append(_AnnotatedForm([("Rare word", "other")]))
    raw = build_lexicon(forms)
    toks = raw["tokens"]
    assert set(toks) == {"date", "smith", "jones", "memo"}  # "rare"/"word": 1 form only; "3/9/92": no letters
    key, value, header = toks["date"]
    assert key > 0 > value and key > header
    assert toks["smith"][1] > 0 > toks["smith"][0]
    assert toks["memo"][2] == max(toks["memo"])
    lex = kv.lexicon_from_json(raw)
    assert lex is not None and kv.lexicon_from_json(None) is None
    k, v, h, k_last, known = kv.lex_scores("Date of birth:", lex)
    assert k > 0 and k_last == 0.0 and known == pytest.approx(1 / 3)  # "of", "birth" unknown
    assert kv.lex_scores("Smith", lex)[1] > 0
    assert kv.lex_scores("12.50", lex) == [0.0] * 5 and kv.lex_scores("Date", None) == [0.0] * 5
    assert len(kv.LEX_FEATURES) == 5


def test_join_and_role_features_read_the_lexicon() -> None:
    lex = {"department": (2.0, -1.0, 0.0), "tax": (-1.0, 1.5, 0.0)}
    ws = [Word.from_pixels(t, (x, 100, x + 60, 111), page_width=W, page_height=H, confidence=0.9)
          for t, x in (("Department", 60), ("Tax", 200), ("Free", 240))]
    x = kv.join_features(ws, lex)
    names = list(kv.JOIN_FEATURES + kv.JOIN_LEX_FEATURES)
    assert x.shape == (2, len(names))
    j = {n: x[0, names.index(n)] for n in ("l_lex_k", "l_lex_v", "r_lex_k", "r_lex_v")}
    assert j == {"l_lex_k": 2.0, "l_lex_v": -1.0, "r_lex_k": -1.0, "r_lex_v": 1.5}
    np.testing.assert_array_equal(kv.join_features(ws), x[:, :len(kv.JOIN_FEATURES)])  # no lexicon
    assert kv.join_features(ws[:1], lex).shape == (0, len(names))
    frags = [kv.Fragment([w], 0, [i]) for i, w in enumerate(ws)]
    page = Page(number=1, width=W, height=H, words=ws)
    r = kv.role_features(frags, page, 11.0, None, lex)
    rn = list(kv.ROLE_FEATURES + kv.ROLE_LEX_FEATURES)
    assert r.shape == (3, len(rn))
    np.testing.assert_array_equal(kv.role_features(frags, page, 11.0), r[:, :len(kv.ROLE_FEATURES)])
    assert r[0, rn.index("lex_k")] == 2.0 and r[1, rn.index("left_lex_k")] == 2.0
    assert r[0, rn.index("right_lex_v")] == 1.5


# ---------------------------------------------------------------------------------------------
# training (scikit-learn: the `train` extra) on hand-made forms with known pairs
# ---------------------------------------------------------------------------------------------
_KEYS = ["Date:", "Name:", "Phone:", "Brand:", "Cost:", "Dept:", "Project No:", "Supplier:"]
_VALUES = ["9/3/92", "J. S. Wigand", "555-1234", "KOOL Lights", "$4,376.47", "Marketing", "87-113",
           "Market Facts, Inc."]


def _synthetic_form(seed: int) -> tuple[Page, list[dict]]:
    """A memo-like form: a header, then ``key: value`` rows (printed keys, typed-in values)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(_KEYS))[:6]
    words: list[Word] = []
    form: list[dict] = []

    def entity(text: str, label: str, x: float, y: float, conf: float) -> int:
        ws = []
        for tok in text.split():
            w = CHAR_W * len(tok)
            ws.append({"text": tok, "box": [x, y, x + w, y + LINE_H]})
            words.append(Word.from_pixels(tok, (x, y, x + w, y + LINE_H), page_width=W, page_height=H,
                                          confidence=conf))
            x += w + CHAR_W * 0.7
        form.append({"id": len(form), "label": label, "text": text, "words": ws, "linking": [],
                     "box": [ws[0]["box"][0], y, ws[-1]["box"][2], y + LINE_H]})
        return len(form) - 1

    entity("RESEARCH REQUEST FORM", "header", 250, 50, 0.95)
    for row, i in enumerate(order):
        y = 120 + 40 * row + float(rng.uniform(-3, 3))
        k = entity(_KEYS[i], "question", 60, y, 0.95)
        v = entity(_VALUES[i], "answer", 200 + float(rng.uniform(0, 40)), y, 0.75)
        form[k]["linking"].append([k, v])
        form[v]["linking"].append([k, v])
    page = build_layout(Page(number=1, width=W, height=H, words=words, text_source="ocr"))
    return page, form


def test_training_on_hand_made_forms_reads_a_new_one() -> None:
    pytest.importorskip("sklearn")
    from extractors.fields import train_kv

    forms = [train_kv._Form(f"f{s}", *_synthetic_form(s)) for s in range(9)]
    raw = train_kv.train(forms, {"link": 0.3}, verbose=False, lexicon=True)
    assert set(raw["lexicon"]["tokens"]) >= {"date", "name", "phone"}
    assert raw["join"]["features"] == list(kv.JOIN_FEATURES + kv.JOIN_LEX_FEATURES + kv.JOIN_CTX_FEATURES)
    model = train_kv.as_model(json.loads(json.dumps(raw)))  # survives the JSON round trip
    page, form = _synthetic_form(99)
    doc = Document(source="f.png", sha256="0" * 64, media_type="image/png", pages=[page])
    got = [(p.key, p.value) for p in kv.extract_key_values(doc, model)]
    gold = [(q["text"], a["text"]) for q in form for a in form if [q["id"], a["id"]] in q["linking"]]
    assert len(match_pairs(got, gold)) >= len(gold) - 1, (got, gold)
    # the loss funnel: all 6 pairs are in the OCR words; a value labelled as a tick mark OCR never
    # reads is lost at the first step
    f = train_kv._Form("new", page, form)
    fun = train_kv.funnel([f], model)
    assert fun["pairs"] == fun["ocr"] == 6 and fun["linked"] >= 5 and fun["tp"] >= 5
    assert fun["pairs"] >= fun["ocr"] >= fun["segmented"] >= fun["roles"] >= fun["candidate"] >= fun["linked"]
    ticked = json.loads(json.dumps(form))
    next(e for e in ticked if e["label"] == "answer")["text"] = "☑"
    assert train_kv.funnel([train_kv._Form("tick", page, ticked)], model)["ocr"] == 5
    # without the lexicon the trained model reads the standard feature set
    plain = train_kv.train(forms, {"link": 0.3}, verbose=False)
    assert "lexicon" not in plain and plain["role"]["features"] == list(kv.ROLE_FEATURES)
