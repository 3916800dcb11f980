"""ANLS, the one implementation (``extractors.evaluate.anls``) that ``docai eval`` and
``docai ask-eval`` share: DocVQA's definition (threshold 0.5, best over gold answers) on
``norm_text``-normalised strings. Hand-made cases with known scores."""

from __future__ import annotations

import pytest

from extractors import evaluate, qa_eval
from extractors.evaluate import anls, norm_text


@pytest.mark.parametrize(("pred", "gold", "score"), [
    ("9.00", "9.00", 1.0),
    (" Hello \n World ", "hello world", 1.0),            # case and whitespace
    ("ＡＢＣ １２", "abc 12", 1.0),                        # NFKC: full-width forms
    ("NO 1 , JALAN", "no 1, jalan", 1.0),                # no space before punctuation
    ("RM9.00", "9.00", pytest.approx(1 - 2 / 6)),        # 2 edits over 6 characters
    ("abc", "abd", pytest.approx(2 / 3)),                # NL 1/3 < 0.5: counts
    ("ab", "ac", 0.0),                                   # NL exactly 0.5: DocVQA gives 0
    ("abcdef", "uvwxyz", 0.0),
    ("", "abc", 0.0),
    (None, "abc", 0.0),                                  # "I don't know" scores nothing
])
def test_anls_single_gold(pred, gold, score):
    assert anls(pred, gold) == score


def test_anls_is_the_best_over_gold_answers():
    assert anls("b", ["a", "b"]) == 1.0
    assert anls("abcd", ["abxx", "abcx"]) == pytest.approx(0.75)   # 0.5 and 0.75 → 0.75
    assert anls("abcd", ("zzzz", "abcd ")) == 1.0                 # any sequence of golds
    assert anls(None, ["x", "y"]) == 0.0
    assert anls("x", []) == 0.0


def test_anls_threshold_parameter():
    assert anls("abcd", "abxy", threshold=0.5) == 0.0             # NL 0.5
    assert anls("abcd", "abxy", threshold=0.6) == pytest.approx(0.5)
    assert anls("abcd", "abcx", threshold=0.2) == 0.0             # NL 0.25 ≥ 0.2


def test_anls_empty_against_empty_is_a_match():
    assert anls("", "") == 1.0 and anls("  ", [""]) == 1.0


def test_normalisation_is_documented_and_shared():
    assert norm_text("  BOOK TA .K (TAMAN  DAYA) , Ｓdn ") == "book ta.k(taman daya), sdn"
    # one implementation: ask-eval scores with the same function as docai eval
    assert qa_eval.anls is evaluate.anls
    assert not hasattr(qa_eval, "nls")


def test_mean_anls_of_a_set_in_ask_eval(tmp_path, monkeypatch):
    """evaluate_qa averages the per-question scores (stub engine, no OCR)."""
    import json

    from schemas.document import Document
    from schemas.record import Answer

    rows = [{"file": "a.pdf", "fields": {"invoice_id": "INV-1", "total": "10.00"}}]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")

    class Docs:
        def __init__(self, *a, **k):
            self.hits = self.misses = 0

        def get(self, path):
            return Document(source="a.pdf", sha256="0" * 64, media_type="application/pdf")

    class Engine:
        name = "stub"

        def answer(self, doc, question, top_k=1):
            return [Answer(answer="INV-7" if "invoice" in question else None)]

    monkeypatch.setattr(qa_eval, "DocumentCache", Docs)
    report = qa_eval.evaluate_qa(tmp_path, engine=Engine(), cache_dir=None)
    assert report.by_tag["invoice_id"]["anls"] == pytest.approx(0.8)   # 1 edit over 5
    assert report.by_tag["total"]["anls"] == 0.0
    assert report.mean_anls == pytest.approx(0.4)


def test_repeated_questions_are_counted_beside_the_headline():
    """A form printing the same key twice asks the same question twice with different answers:
    the headline stays per question, the distinct-question figure is reported beside it."""
    rows = [{"doc": "f1", "question": "What is the DATE?", "pred": "5/1/95", "gold": ["5/1/95"]},
            {"doc": "f1", "question": "What is the  date?", "pred": "5/1/95", "gold": ["6/1/95"]},
            {"doc": "f2", "question": "What is the DATE?", "pred": "7/1/95", "gold": ["8/8/88"]},
            {"doc": "f2", "question": "What is the TO?", "pred": "Smith", "gold": ["Smith"]}]
    rep = qa_eval.repeated_questions(rows)
    assert rep == {"questions": 2, "distinct": 3, "distinct_anls": pytest.approx(0.6667, abs=1e-4)}
    assert qa_eval.repeated_questions(rows[2:]) is None  # same text on another document: no repeat
    report = qa_eval.QAReport(dataset="d", rows=rows, repeated=rep)
    assert report.to_dict()["repeated"]["distinct"] == 3
    assert "repeated" not in qa_eval.QAReport(dataset="d").to_dict()


def test_ask_eval_document_cache_key_follows_all_reading_code(monkeypatch, tmp_path):
    """``docai ask-eval``'s document cache is keyed like ``docai eval``'s: a change to any reading
    module (``auto`` reads with the rapid and tesseract modules, not its own) is a miss."""
    from extractors import eval_run
    from extractors.settings import Settings

    class Ocr:
        name = "fake"

        def version(self) -> str:
            return "fake 1"

    class Pipe:
        ocr = Ocr()

    def key(fingerprint: str) -> str:
        monkeypatch.setattr(eval_run, "code_fingerprint", lambda **_: fingerprint)
        return qa_eval.DocumentCache(Settings(), tmp_path, pipeline=Pipe())._key("0" * 64)

    assert key("a") == key("a")
    assert key("a") != key("b")
