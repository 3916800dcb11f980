"""Evaluation metrics on hand-made cases: normalisation, ANLS, typed comparison, matchers, F1,
calibration, dataset readers and the per-document result / summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.errors import UsageError
from extractors.evaluate import (
    Example,
    anls,
    calibration,
    canonical,
    evaluate_record,
    exact_match,
    expected_boxes,
    field_anls,
    funsd_pairs,
    load_dataset,
    match_line_items,
    match_pairs,
    max_matching,
    norm_text,
    prf,
    read_box_csv,
    similarity,
    summarize,
)
from schemas.fields import Field, KeyValue, LineItem
from schemas.record import Record, Status

# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ACME   Corp  ", "acme corp"),
        ("ACME Corp .", "acme corp."),  # no space before punctuation
        ("Total :  12", "total: 12"),
        ("( Taman Daya )", "(taman daya)"),  # none after an opening bracket either
        ("BOOK TA .K (TAMAN DAYA)", "book ta.k(taman daya)"),
        ("ＡＢＣ １２３", "abc 123"),  # NFKC: full-width forms
        ("ﬁnance", "finance"),  # NFKC: ligature
        ("STRASSE Straße", "strasse strasse"),  # case-folded, not just lowered
        ("a\tb\nc", "a b c"),
        ("", ""),
        (None, ""),
    ],
)
def test_norm_text(raw: str | None, expected: str) -> None:
    assert norm_text(raw) == expected


# --------------------------------------------------------------------------- ANLS


def test_anls_values() -> None:
    assert anls("hello", "hello") == 1.0
    assert anls("Hello ", "HELLO") == 1.0  # normalised before comparing
    assert anls("abcd", "abce") == pytest.approx(0.75)  # 1 edit / 4
    assert anls("abcdefghij", "abcdefgxyz") == pytest.approx(0.7)
    assert anls("abcd", "abxy") == 0.0  # NL = 0.5 is not below the 0.5 threshold
    assert anls("abcde", "abxye") == pytest.approx(0.6)  # NL = 0.4 < 0.5 keeps 0.6
    assert anls("abc", "xyz") == 0.0
    assert anls(None, "abc") == 0.0
    assert anls("", "") == 1.0
    assert anls("kitten", ["sitting", "kitten"]) == 1.0  # best over several gold answers
    assert anls("abcd", "abxy", threshold=0.6) == pytest.approx(0.5)  # threshold is a parameter
    assert anls("abcd", "abcd", threshold=0.0) == 0.0  # NL < 0 never holds


def test_similarity_is_symmetric_and_length_normalised() -> None:
    assert similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert similarity("sitting", "kitten") == pytest.approx(1 - 3 / 7)
    assert similarity("", "abc") == 0.0


# --------------------------------------------------------------------------- typed comparison


@pytest.mark.parametrize(
    ("name", "pred", "gold", "ok"),
    [
        ("transaction_date", "2018-12-25", "25/12/2018", True),
        ("transaction_date", "2018-12-25", "25-12-2018", True),
        ("transaction_date", "2018-12-25", "2018-12-25", True),
        ("transaction_date", "2017-12-28", "12/28/2017", True),  # month-first only when forced
        ("transaction_date", "2018-12-24", "25/12/2018", False),
        ("invoice_date", "2024-04-03", "03.04.2024", True),  # dd.mm.yyyy
        ("invoice_date", "2024-03-04", "03.04.2024", False),
        ("invoice_date", "2024-04-03", "3 avril 2024", True),
        ("transaction_date", "2018-03-04", "20180304", True),  # compact yyyymmdd labels
        ("transaction_date", "2018-03-04", "20181304", False),  # not a date: compared as text
        ("total", "9.0", "9.00", True),  # Decimal, not text
        ("total", "9", "9.00", True),
        ("total", "9.00", "RM9.00", True),
        ("total", "9.00", "RM 9.00", True),
        ("total", "1234.56", "1.234,56 €", True),
        ("total", "-154.06", "154.06", False),
        ("total", "9.01", "9.00", False),
        ("total", None, "9.00", False),
        ("transaction_time", "13:05", "1:05 PM", True),
        ("merchant_name", "acme corp.", "ACME  Corp .", True),
        ("merchant_name", "ACME Corp", "ACME Corp.", False),  # a missing character is wrong
        ("merchant_name", "", "ACME", False),
        ("invoice_id", "INV-001", "inv-001", True),
        ("transaction_date", "not a date", "not a date", True),  # unparseable: compared as text
    ],
)
def test_exact_match(name: str, pred: str | None, gold: str, ok: bool) -> None:
    assert exact_match(name, pred, gold) is ok


def test_canonical_and_field_anls() -> None:
    assert canonical("total", "RM 1,234.50") == "1234.50"
    assert canonical("transaction_date", "25/12/2018") == "2018-12-25"
    assert canonical("merchant_name", "  ") is None
    # a right date in another format is a full match, a wrong day costs one character of ten
    assert field_anls("transaction_date", "2018-12-25", "25/12/2018") == 1.0
    assert field_anls("transaction_date", "2018-12-24", "25/12/2018") == pytest.approx(0.9)
    assert field_anls("total", None, "9.00") == 0.0


# --------------------------------------------------------------------------- matching


def test_max_matching_finds_what_greedy_misses() -> None:
    # greedy would give left 0 → right 0, and left 1 (which only fits right 0) nothing
    edges = {(0, 0), (0, 1), (1, 0)}
    assert max_matching(2, 2, lambda i, j: (i, j) in edges) == [(0, 1), (1, 0)]
    assert max_matching(0, 3, lambda i, j: True) == []
    assert max_matching(3, 1, lambda i, j: True) == [(0, 0)]  # one-to-one


def test_match_pairs_thresholds_and_one_to_one() -> None:
    gold = [("Date:", "12/03/1998"), ("To:", "John Smith"), ("Date:", "12/03/1998")]
    pred = [("DATE:", "12/03/1998"), ("To :", "John Smith"), ("Fax:", "555-1234")]
    m = match_pairs(pred, gold)
    assert len(m) == 2  # the repeated gold pair is matched once only
    assert {i for i, _ in m} == {0, 1}
    # 0.8 on each side: "john smit" is 0.9 similar (matches), "jo smith" on "john smith" is 0.8
    assert len(match_pairs([("To:", "John Smit")], [("To:", "John Smith")])) == 1
    assert len(match_pairs([("To:", "Jo Smith")], [("To:", "John Smith")])) == 1
    assert match_pairs([("To:", "J. Smith")], [("To:", "John Smith")]) == []  # 0.7
    assert match_pairs([("From:", "John Smith")], [("To:", "John Smith")]) == []  # key side fails


def test_match_line_items() -> None:
    gold = [{"description": "Widget, blue", "amount": "10.00"},
            {"description": "Gadget", "amount": "5.00"},
            {"description": "Service fee", "amount": None}]
    pred = [{"description": "WIDGET, blue", "amount": "10.0"},  # Decimal-equal amount
            {"description": "Gadget", "amount": "5.50"},  # wrong amount
            {"description": "Service fee", "amount": "99.00"},  # label has no amount
            {"description": "Widget, blue", "amount": "10.00"}]  # duplicate: one-to-one
    m = match_line_items(pred, gold)
    assert sorted(j for _, j in m) == [0, 2]
    assert len(m) == 2
    assert match_line_items([{"description": "Gizmo", "amount": "10.00"}], gold[:1]) == []


def test_prf() -> None:
    assert prf(2, 4, 3) == {"precision": 0.5, "recall": 0.6667, "f1": 0.5714}
    assert prf(0, 0, 0) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert prf(0, 0, 5) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert prf(0, 3, 0)["f1"] == 0.0


# --------------------------------------------------------------------------- calibration


def test_calibration_bins_ece_and_groups() -> None:
    data = [(0.95, True), (1.0, True), (0.91, False), (0.45, False), (0.05, True), (0.6, True)]
    c = calibration(data, bins=10, target=0.97)
    by_lo = {b["lo"]: b for b in c["bins"]}
    assert by_lo[0.9]["n"] == 3  # 1.0 falls in the last bin
    assert by_lo[0.9]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_lo[0.9]["mean_confidence"] == pytest.approx((0.95 + 1.0 + 0.91) / 3, abs=1e-4)
    assert by_lo[0.0]["n"] == 1 and by_lo[0.4]["n"] == 1 and by_lo[0.6]["n"] == 1
    assert sum(b["n"] for b in c["bins"]) == 6
    assert c["high"] == {"n": 3, "accuracy": pytest.approx(0.6667, abs=1e-4)}
    assert c["low"] == {"n": 2, "accuracy": 0.5}
    ece = (3 * abs(2 / 3 - 2.86 / 3) + abs(0 - 0.45) + abs(1 - 0.05) + abs(1 - 0.6)) / 6
    assert c["ece"] == pytest.approx(ece, abs=1e-4)
    # ≥ 0.95: 2 of 2 right; ≥ 0.91: 2 of 3
    assert c["threshold_for_target"] == 0.95
    assert c["coverage_at_threshold"] == pytest.approx(2 / 6, abs=1e-4)


def test_calibration_threshold_and_empty() -> None:
    c = calibration([(0.99, True), (0.98, True), (0.7, True), (0.6, False), (0.5, False)],
                    target=0.9)
    assert c["threshold_for_target"] == 0.7  # ≥ 0.7: 3 of 3 right; ≥ 0.6: 3 of 4
    empty = calibration([])
    assert empty["n"] == 0 and empty["ece"] is None and empty["high"]["accuracy"] is None
    assert calibration([(0.2, False)], target=0.97)["threshold_for_target"] is None


# --------------------------------------------------------------------------- datasets


def test_funsd_pairs_from_links() -> None:
    form = [
        {"id": 0, "text": "Date:", "label": "question", "linking": [[0, 1]]},
        {"id": 1, "text": "12/03/98", "label": "answer", "linking": [[0, 1]]},  # same link twice
        {"id": 2, "text": "To:", "label": "question", "linking": [[3, 2]]},  # answer → question
        {"id": 3, "text": "J. Smith", "label": "answer", "linking": []},
        {"id": 4, "text": "MEMO", "label": "header", "linking": [[4, 0]]},  # header link: ignored
        {"id": 5, "text": "x", "label": "other", "linking": [[5, 9]]},  # dangling id
    ]
    pairs = funsd_pairs(form)
    assert [(p["question"], p["answer"]) for p in pairs] == [("Date:", "12/03/98"),
                                                              ("To:", "J. Smith")]
    assert pairs[1]["question_id"] == 2 and pairs[1]["answer_id"] == 3


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_load_dataset_labels_jsonl(tmp_path: Path) -> None:
    _write(tmp_path / "labels.jsonl", [
        {"id": "r1", "file": "img/1.jpg", "doc_type": "receipt",
         "fields": {"company": "ACME", "date": "25/12/2018", "address": "1 Road", "total": "9.00"},
         "ocr_lines": "box/1.csv"},
        {"id": "inv_0001", "file": "inv_0001.pdf", "doc_type": "invoice",
         "fields": {"vendor_name": "Foo GmbH", "total": "1.00", "po_number": None, "discount": ""},
         "line_items": [{"description": "A", "quantity": "1", "unit_price": "1.00", "amount": "1.00"}]},
        {"id": "f1", "file": "f1.png", "doc_type": "form",
         "kv_pairs": [{"question": "Date:", "answer": "1/2/98"}]},
        {"id": "f1", "file": "f1.png", "question": "dup row (e.g. a QA set)"},
    ])
    ex = load_dataset(tmp_path)
    assert [e.id for e in ex] == ["r1", "inv_0001", "f1"]
    assert ex[0].fields == {"merchant_name": "ACME", "transaction_date": "25/12/2018",
                            "merchant_address": "1 Road", "total": "9.00"}
    assert ex[0].path == (tmp_path / "img/1.jpg").resolve() and ex[0].ocr_lines is not None
    assert ex[0].line_items is None and ex[0].kv_pairs is None
    assert ex[1].fields == {"vendor_name": "Foo GmbH", "total": "1.00"}  # empty labels dropped
    assert ex[1].line_items == [{"description": "A", "quantity": "1", "unit_price": "1.00",
                                 "amount": "1.00"}]
    assert ex[2].kv_pairs == [("Date:", "1/2/98")] and ex[2].fields == {}


def test_load_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_dataset(tmp_path / "missing")
    with pytest.raises(UsageError, match="no labels.jsonl"):
        load_dataset(tmp_path)
    (tmp_path / "labels.jsonl").write_text('{"file": "a.pdf"}\n{not json\n', encoding="utf-8")
    with pytest.raises(UsageError, match="line 2"):
        load_dataset(tmp_path)
    _write(tmp_path / "labels.jsonl", [{"file": "../outside.pdf"}])
    with pytest.raises(UsageError, match="inside"):
        load_dataset(tmp_path)


def test_load_dataset_funsd_native(tmp_path: Path) -> None:
    (tmp_path / "training_data" / "annotations").mkdir(parents=True)
    (tmp_path / "training_data" / "images").mkdir()
    form = {"form": [{"id": 0, "text": "Name:", "label": "question", "box": [1, 2, 30, 12],
                      "linking": [[0, 1]]},
                     {"id": 1, "text": "Ann", "label": "answer", "box": [40, 2, 60, 12],
                      "linking": [[0, 1]]}]}
    (tmp_path / "training_data" / "annotations" / "0001.json").write_text(json.dumps(form))
    (tmp_path / "training_data" / "images" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "training_data" / "annotations" / "0002.json").write_text(json.dumps(form))  # no image
    ex = load_dataset(tmp_path)
    assert len(ex) == 1
    assert ex[0].id == "funsd_0001" and ex[0].doc_type == "form"
    assert ex[0].file == "training_data/images/0001.png"
    assert ex[0].kv_pairs == [("Name:", "Ann")]
    boxes = expected_boxes(ex[0])
    assert [(b.label, b.box) for b in boxes] == [("key", (1.0, 2.0, 30.0, 12.0)),
                                                 ("value", (40.0, 2.0, 60.0, 12.0))]


def test_sroie_box_csv_and_expected_boxes(tmp_path: Path) -> None:
    csv = tmp_path / "1.csv"
    csv.write_text(
        "72,25,326,25,326,64,72,64,ACME TRADING SDN BHD\n"
        "50,82,440,82,440,121,50,121,NO.5, JALAN SAGU 18,\n"  # commas inside the transcript
        "50,130,440,130,440,150,50,150,TAMAN DAYA\n"
        "10,200,100,200,100,220,10,220,DATE: 25/12/2018\n"
        "10,300,100,300,100,320,10,320,TOTAL RM 9.00\n"
        "10,330,100,330,100,350,10,350,CASH 10.00\n"
        "garbage line\n", encoding="utf-8")
    lines = read_box_csv(csv)
    assert len(lines) == 6
    assert lines[1] == ((50.0, 82.0, 440.0, 121.0), "NO.5, JALAN SAGU 18,")
    ex = Example(id="r", path=tmp_path / "x.jpg", file="x.jpg", doc_type="receipt",
                 fields={"merchant_name": "ACME TRADING SDN BHD", "merchant_address":
                         "NO.5, JALAN SAGU 18, TAMAN DAYA", "transaction_date": "2018-12-25",
                         "total": "9.00"}, ocr_lines=csv)
    got = {(b.label, b.box[1]) for b in expected_boxes(ex)}
    assert got == {("merchant_name", 25.0), ("merchant_address", 82.0),
                   ("merchant_address", 130.0), ("transaction_date", 200.0), ("total", 300.0)}


def test_funsd_derivation_matches_shared_labels(datasets: Path) -> None:
    """Pairs derived from the annotations equal the shared ``labels.jsonl`` (1141 in all)."""
    from_labels = load_dataset(datasets / "funsd")
    total = 0
    for ex in from_labels:
        assert ex.annotation is not None
        form = json.loads(ex.annotation.read_text(encoding="utf-8"))["form"]
        derived = [(p["question"], p["answer"]) for p in funsd_pairs(form)]
        assert sorted(derived) == sorted(ex.kv_pairs or [])
        total += len(derived)
    assert total == 1141
    train = load_dataset(datasets / "funsd_train")
    assert len(train) == 99 and all(e.kv_pairs is not None for e in train)


# --------------------------------------------------------------------------- per document


def _field(value: str | None, conf: float) -> Field:
    return Field(value=value, text=value or "", confidence=conf, page=1, bbox=[1, 2, 3, 4])


def test_evaluate_record_and_summary() -> None:
    ex1 = Example(id="a", path=Path("a.pdf"), file="a.pdf", doc_type="invoice",
                  fields={"vendor_name": "ACME Corp.", "invoice_date": "03.04.2024",
                          "total": "100.00"},
                  line_items=[{"description": "Widget", "amount": "100.00"}])
    rec1 = Record(source="a.pdf", status=Status.OK, doc_type="invoice", doc_type_confidence=0.9,
                  fields={"vendor_name": _field("Acme Corp .", 0.95),
                          "invoice_date": _field("2024-04-03", 0.92),
                          "total": _field("100.0", 0.4),
                          "currency": _field("EUR", 0.9)},  # not labelled: not scored
                  line_items=[LineItem(description=_field("Widget", 0.8),
                                       amount=_field("100.00", 0.8)),
                              LineItem(description=_field("Shipping", 0.8),
                                       amount=_field("5.00", 0.8))])
    ex2 = Example(id="b", path=Path("b.png"), file="b.png", doc_type="form",
                  kv_pairs=[("Date:", "1/2/98"), ("To:", "Ann")])
    rec2 = Record(source="b.png", status=Status.OK, doc_type="invoice", doc_type_confidence=0.5,
                  key_values=[KeyValue(key="Date :", value="1/2/98", confidence=0.7)])
    ex3 = Example(id="c", path=Path("c.pdf"), file="c.pdf", doc_type="invoice",
                  fields={"vendor_name": "Foo", "total": "5.00"})
    rec3 = Record(source="c.pdf", status=Status.FAILED, reason="ocr_timeout")

    r1, r2, r3 = (evaluate_record(e, r) for e, r in ((ex1, rec1), (ex2, rec2), (ex3, rec3)))
    assert [f.name for f in r1.fields] == ["vendor_name", "invoice_date", "total"]
    assert all(f.exact for f in r1.fields)
    assert r1.line_items == {"tp": 1, "n_pred": 2, "n_gold": 1}
    assert r1.score == pytest.approx((1.0 + 2 / 3 + 1.0) / 3, abs=1e-3)
    assert r2.kv == {"tp": 1, "n_pred": 1, "n_gold": 2}
    assert r2.kv_unmatched_gold == [("To:", "Ann")]
    assert r2.kv_confidence == [(0.7, True)]
    assert r2.score == pytest.approx((0.6667 + 0.0) / 2, abs=1e-3)  # kv F1, wrong doc type
    assert r3.score == 0.0 and r3.fields[0].predicted is None and r3.fields[0].confidence is None

    s = summarize([r1, r2, r3], worst=2)
    assert s["n_docs"] == 3
    assert s["fields"]["total"] == {"n": 2, "exact": 0.5, "anls": 0.5, "predicted": 0.5}
    assert s["fields"]["vendor_name"]["exact"] == 0.5
    assert s["overall"] == {"n": 5, "exact": 0.6, "anls": 0.6}
    assert s["doc_type"] == {"n": 3, "accuracy": pytest.approx(0.3333, abs=1e-4),
                             "errors": {"form->invoice": 1, "invoice->None": 1}}
    assert s["key_values"]["f1"] == pytest.approx(0.6667, abs=1e-4)
    assert s["line_items"]["tp"] == 1 and s["line_items"]["n_pred"] == 2
    assert s["calibration"]["n"] == 3  # only predicted, labelled fields carry a confidence
    assert s["calibration"]["high"] == {"n": 2, "accuracy": 1.0}
    assert s["calibration"]["low"] == {"n": 1, "accuracy": 1.0}
    assert s["kv_calibration"]["n"] == 1 and s["kv_calibration"]["bins"][7]["accuracy"] == 1.0
    assert summarize([r1])["kv_calibration"] is None  # no document labelled with pairs
    assert [w["id"] for w in s["worst"]] == ["c", "b"]
    assert s["status"] == {"failed": 1, "ok": 2}
    json.dumps(s)  # machine-readable as promised


# --------------------------------------------------------------------------- the OCR cache


def test_read_settings_hash_ignores_what_runs_after_ocr() -> None:
    from extractors.eval_run import read_settings_hash
    from extractors.settings import Settings

    base = read_settings_hash(Settings())
    assert read_settings_hash(Settings(review_threshold=0.9, extract_engine="layoutlmv3",
                                       classify_engine="donut", workers=7, device="cuda")) == base
    assert read_settings_hash(Settings(lang="eng+deu")) != base
    assert read_settings_hash(Settings(dpi=200)) != base
    assert read_settings_hash(Settings(psm=6)) != base


def test_caching_ocr_reads_each_image_once(tmp_path: Path) -> None:
    from PIL import Image

    from extractors.eval_run import CachingOcr, EvalCache
    from extractors.settings import Settings
    from schemas.document import Word

    class CountingOcr:
        name = "counting"
        calls = 0

        def version(self) -> str:
            return "counting 1"

        def ocr(self, image: Image.Image, *, page_number: int = 1) -> list[Word]:
            CountingOcr.calls += 1
            return [Word.from_pixels("Total", (1, 2, 30, 12), page_width=image.width,
                                     page_height=image.height, confidence=0.9)]

    cache = EvalCache(tmp_path)
    img = Image.new("L", (64, 32), 255)
    first = CachingOcr(CountingOcr(), cache, Settings())
    words = first.ocr(img)
    assert (first.hits, first.misses, CountingOcr.calls) == (0, 1, 1)
    assert not hasattr(first, "orientation")  # the wrapped engine has none: neither has the wrapper
    second = CachingOcr(CountingOcr(), cache, Settings())
    assert second.ocr(img) == words and CountingOcr.calls == 1 and second.hits == 1
    other = img.copy()
    other.putpixel((0, 0), 0)  # another image is another key
    second.ocr(other)
    assert CountingOcr.calls == 2
    CachingOcr(CountingOcr(), cache, Settings(dpi=200)).ocr(img)  # other reading settings
    assert CountingOcr.calls == 3
    # a corrupt entry is a miss, not an error
    for f in tmp_path.rglob("*.json.gz"):
        f.write_bytes(b"not gzip")
    CachingOcr(CountingOcr(), cache, Settings()).ocr(img)
    assert CountingOcr.calls == 4
