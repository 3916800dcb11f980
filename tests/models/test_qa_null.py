"""'I don't know' from the model QA engines (issue 5): the extractive engines follow the SQuAD 2.0
no-answer rule (CLS score against the best span, ``Settings.qa_null_threshold``), Donut drops empty
or unsure generations (``Settings.qa_min_confidence``). Model outputs are forced, either by
rewiring the QA head of a tiny random model or by editing the logits the bundle returns, so every
case has one right outcome."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from extractors import registry
from extractors.settings import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def qa_dirs(tmp_path_factory) -> dict[str, Path]:
    from tests.models.builders import tiny_layoutlm, tiny_layoutlmv3, tiny_lilt

    root = tmp_path_factory.mktemp("qa_null")
    labels = ["LABEL_0", "LABEL_1"]
    return {"layoutlmv3": tiny_layoutlmv3(root / "lmv3", "qa", labels=labels),
            "layoutlm": tiny_layoutlm(root / "lm", "qa", labels=labels),
            "lilt": tiny_lilt(root / "lilt", "qa", labels=labels)}


def _engine(qa_dirs, name: str = "layoutlmv3", **settings):
    return registry.create("qa", name, Settings(qa_model=str(qa_dirs[name]), **settings))


def _last_linear(head):
    """The linear layer that writes the logits (LayoutLMv3's QA head is dense → out_proj)."""
    import torch

    return [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]


def _flat_head(eng, start: float = 0.0, end: float = 0.0) -> None:
    """Zero the QA head's weights: every token gets the same start and end logits (ties)."""
    import torch

    lin = _last_linear(eng.bundle.model.qa_outputs)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([start, end], dtype=lin.bias.dtype))


def _force(monkeypatch, eng, edit) -> None:
    """Run the real model, then let ``edit(window, start, end)`` change its logits in place."""
    real = eng.bundle.run

    def run(windows):
        outs = real(windows)
        for w, (s, e) in zip(windows, outs, strict=True):
            edit(w, s, e)
        return outs

    monkeypatch.setattr(eng.bundle, "run", run)


def _token_of(window, word_index: int) -> int:
    return next(t for t, (wi, first) in enumerate(zip(window.token_word, window.first_token,
                                                      strict=True)) if wi == word_index and first)


def _last_token_of(window, word_index: int) -> int:
    return max(t for t, wi in enumerate(window.token_word) if wi == word_index)


def _words(doc, page_index: int = 0):
    from extractors.models.windows import page_words

    return page_words(doc.pages[page_index]).words


# ------------------------------------------------------------------------------ extractive engines


@pytest.mark.parametrize("name", ["layoutlmv3", "layoutlm", "lilt"])
def test_cls_wins_is_i_dont_know(qa_dirs, receipt_doc, monkeypatch, name):
    eng = _engine(qa_dirs, name)
    assert eng.name == name

    def cls_wins(w, s, e):
        s[0] += 12.0
        e[0] += 12.0

    _force(monkeypatch, eng, cls_wins)
    a = eng.answer(receipt_doc, "what is the IBAN?")
    assert len(a) == 1
    assert (a[0].answer, a[0].page, a[0].bbox, a[0].words, a[0].engine) == (None, None, None, [], name)
    assert 0.0 <= a[0].confidence < 0.01  # the best span's probability: tiny next to CLS
    # --top-k: the null answer stays first, the spans it beat follow as alternatives
    alts = eng.answer(receipt_doc, "what is the IBAN?", top_k=3)
    assert alts[0].answer is None and len(alts) == 3
    assert all(x.answer and x.page == 1 and x.engine == name for x in alts[1:])
    assert alts[1].confidence >= alts[2].confidence
    assert alts[0].confidence == alts[1].confidence  # the null answer carries the best span's score


@pytest.mark.parametrize("name", ["layoutlmv3", "layoutlm", "lilt"])
def test_span_wins_gives_its_words_page_and_box(qa_dirs, receipt_doc, monkeypatch, name):
    eng = _engine(qa_dirs, name)
    words = _words(receipt_doc)
    first = next(i for i, w in enumerate(words) if w.text == "TOTAL")
    last = next(i for i, w in enumerate(words) if w.text == "11.87")

    def span_wins(w, s, e):
        s[:] = -5.0
        e[:] = -5.0
        s[0] = e[0] = 2.0  # the model gives "no answer" some weight, the span more
        s[_token_of(w, first)] = 12.0
        e[_last_token_of(w, last)] = 12.0

    _force(monkeypatch, eng, span_wins)
    a = eng.answer(receipt_doc, "what is the total?")[0]
    assert a.answer == "TOTAL RM 11.87" and a.words == ["TOTAL", "RM", "11.87"]
    assert (a.page, a.engine) == (1, name) and a.confidence > 0.99
    boxes = [w.box for w in words[first:last + 1]]
    assert a.bbox == [min(b[0] for b in boxes), min(b[1] for b in boxes),
                      max(b[2] for b in boxes), max(b[3] for b in boxes)]


def test_threshold_is_a_log_margin_between_null_and_best_span(qa_dirs, receipt_doc):
    eng = _engine(qa_dirs)
    _flat_head(eng)  # CLS and every token tie: null score == best span score
    assert eng.answer(receipt_doc, "merchant?")[0].answer == "MR"  # a tie answers (no margin)
    eng.settings = Settings(qa_null_threshold=-0.01)  # abstain a little more: the tie is refused
    a = eng.answer(receipt_doc, "merchant?")[0]
    assert a.answer is None and 0.0 < a.confidence < 0.01


def test_threshold_margin_with_a_favoured_cls(qa_dirs, receipt_doc, monkeypatch):
    eng = _engine(qa_dirs)
    _flat_head(eng)

    def cls_by_one(w, s, e):
        s[0] += 1.0
        e[0] += 1.0  # log p(null) - log p(best span) = 2 exactly

    _force(monkeypatch, eng, cls_by_one)
    assert eng.answer(receipt_doc, "merchant?")[0].answer is None  # default margin 0
    eng.settings = Settings(qa_null_threshold=1.9)
    assert eng.answer(receipt_doc, "merchant?")[0].answer is None
    eng.settings = Settings(qa_null_threshold=2.1)
    assert eng.answer(receipt_doc, "merchant?")[0].answer == "MR"


def test_null_score_is_the_window_most_sure_of_an_answer(qa_dirs, long_doc, monkeypatch):
    """Page 1 (several windows) says "not here" loudly, page 2 holds the answer: answered (the
    SQuAD / HF rule takes the smallest null score over windows, not the largest)."""
    eng = _engine(qa_dirs)
    last = next(i for i, w in enumerate(_words(long_doc, 1)) if w.text == "11.87")
    seen: list[int] = []

    def edit(w, s, e):
        seen.append(w.page_index)
        s[:] = -5.0
        e[:] = -5.0
        if w.page_index == 0:
            s[0] = e[0] = 20.0
        else:
            s[_token_of(w, last)] = e[_last_token_of(w, last)] = 10.0

    _force(monkeypatch, eng, edit)
    a = eng.answer(long_doc, "what is the total?")[0]
    assert seen.count(0) >= 2 and seen.count(1) == 1  # page 1 really is read in several windows
    assert (a.answer, a.page) == ("11.87", 2)

    def nowhere(w, s, e):
        s[0] = e[0] = 20.0

    monkeypatch.undo()
    _force(monkeypatch, eng, nowhere)
    assert eng.answer(long_doc, "what is the total?")[0].answer is None


def test_setting_from_the_environment_and_bounds(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("DOCAI_QA_NULL_THRESHOLD", "-1.5")
    monkeypatch.setenv("DOCAI_QA_MIN_CONFIDENCE", "0.6")
    s = Settings()
    assert (s.qa_null_threshold, s.qa_min_confidence) == (-1.5, 0.6)
    monkeypatch.delenv("DOCAI_QA_NULL_THRESHOLD")
    monkeypatch.delenv("DOCAI_QA_MIN_CONFIDENCE")
    assert (Settings().qa_null_threshold, Settings().qa_min_confidence) == (0.0, 0.3)
    with pytest.raises(ValidationError):
        Settings(qa_min_confidence=1.5)
    with pytest.raises(ValidationError):
        Settings(qa_null_threshold=math.inf)
    # ask-only settings: a processed record's settings hash (ledger key) does not move
    assert Settings(qa_null_threshold=3.0, qa_min_confidence=0.9).output_hash() == Settings().output_hash()


def test_cli_ask_prints_null_answer(tmp_path, capsys, monkeypatch):
    """`docai ask FILE Q --qa-engine layoutlmv3 --model DIR --json` on a native PDF (no OCR), with a
    saved tiny model whose QA head ties every token with CLS: the default margin answers, the
    env var DOCAI_QA_NULL_THRESHOLD=-0.5 makes it "I don't know"."""
    from transformers import LayoutLMv3ForQuestionAnswering

    from tests.conftest import make_text_pdf
    from tests.models.builders import tiny_layoutlmv3

    model_dir = tiny_layoutlmv3(tmp_path / "lmv3_qa", "qa", labels=["LABEL_0", "LABEL_1"])
    model = LayoutLMv3ForQuestionAnswering.from_pretrained(str(model_dir))
    import torch

    with torch.no_grad():
        _last_linear(model.qa_outputs).weight.zero_()
        _last_linear(model.qa_outputs).bias.zero_()
    model.save_pretrained(model_dir)
    pdf = make_text_pdf(tmp_path / "doc.pdf", [(50, 60, "ACME Tools GmbH"), (300, 530, "Total: 23.80")])
    args = ["ask", str(pdf), "What is the IBAN?", "--qa-engine", "layoutlmv3", "--model",
            str(model_dir), "--json"]

    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["engine"] == "layoutlmv3" and obj["answer"] == "ACME"  # tie: first word, answered

    monkeypatch.setenv("DOCAI_QA_NULL_THRESHOLD", "-0.5")
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert out.count("\n") == 1 and '"answer": null' in out
    obj = json.loads(out)
    assert list(obj) == ["answer", "confidence", "page", "bbox", "engine"]
    assert obj["answer"] is None and obj["page"] is None and obj["bbox"] is None
    assert obj["engine"] == "layoutlmv3" and 0.0 < obj["confidence"] < 0.1

    code, out, err = run_cli([*args, "--top-k", "2"], capsys, monkeypatch)
    obj = json.loads(out)
    assert obj["answer"] is None and [a["answer"] for a in obj["alternatives"]] == ["ACME"]


# ------------------------------------------------------------------------------ Donut


@pytest.fixture(scope="module")
def donut_qa_dirs(tmp_path_factory) -> dict[str, Path]:
    from tests.models.builders import tiny_donut

    root = tmp_path_factory.mktemp("donut_null")
    q = "<s_docvqa><s_question>what is the iban?</s_question><s_answer>"
    return {"empty": tiny_donut(root / "empty", "</s_answer>", prompt=q),
            "qa": tiny_donut(root / "qa", "11.87</s_answer>", prompt=q)}


def test_donut_empty_generation_is_i_dont_know(donut_qa_dirs, receipt_doc):
    eng = registry.create("qa", "donut", Settings(qa_model=str(donut_qa_dirs["empty"])))
    a = eng.answer(receipt_doc, "what is the iban?", top_k=3)
    assert len(a) == 1
    assert (a[0].answer, a[0].confidence, a[0].page, a[0].bbox, a[0].engine) == (
        None, 0.0, None, None, "donut")


def test_donut_floor_comes_from_settings(donut_qa_dirs, receipt_doc, monkeypatch):
    page = receipt_doc.pages[0]
    for floor, expected in ((0.3, "11.87"), (0.5, None), (0.0, "11.87")):
        eng = registry.create("qa", "donut", Settings(qa_model=str(donut_qa_dirs["qa"]),
                                                      qa_min_confidence=floor))
        monkeypatch.setattr(eng, "_run_pages", lambda doc, prompt, **kw: [
            (page, "<s_answer>11.87</s_answer>", 0.45)])
        assert eng.answer(receipt_doc, "q?")[0].answer == expected, floor


@pytest.mark.parametrize("generated,conf,expected,expected_conf", [
    ("<s_answer>11.87</s_answer>", 0.4, "11.87", 0.4),  # on the page, above the 0.3 floor
    ("<s_answer>11.87</s_answer>", 0.2, None, 0.2),     # on the page, below the floor
    ("<s_answer>99.99</s_answer>", 0.6, "99.99", 0.6),  # not on the page, sure enough (>= 0.5)
    ("<s_answer>99.99</s_answer>", 0.4, None, 0.4),     # not on the page and unsure
    ("<s_answer></s_answer>", 0.95, None, 0.0),         # nothing generated
    ("<s_answer>11.8", 0.9, None, 0.0),                 # unparseable
])
def test_donut_answer_rules(donut_qa_dirs, receipt_doc, monkeypatch, generated, conf, expected,
                            expected_conf):
    eng = registry.create("qa", "donut", Settings(qa_model=str(donut_qa_dirs["qa"])))
    page = receipt_doc.pages[0]
    monkeypatch.setattr(eng, "_run_pages", lambda doc, prompt, **kw: [(page, generated, conf)])
    a = eng.answer(receipt_doc, "q?", top_k=2)
    assert (a[0].answer, a[0].confidence, a[0].engine) == (expected, expected_conf, "donut")
    if expected is None:  # the rejected answer, if any, follows as an alternative
        assert [x.answer for x in a[1:]] == ([generated[10:15]] if expected_conf else [])
    else:
        assert len(a) == 1 and (a[0].bbox is not None) == (expected == "11.87")


def test_donut_keeps_the_sure_page_and_unlocated_bar_needs_words(donut_qa_dirs, receipt_doc,
                                                                  monkeypatch):
    from schemas.document import Document, Page

    eng = registry.create("qa", "donut", Settings(qa_model=str(donut_qa_dirs["qa"])))
    p1 = receipt_doc.pages[0]
    p2 = p1.model_copy(update={"number": 2})
    doc = receipt_doc.model_copy(update={"pages": [p1, p2]})
    runs = [(p1, "<s_answer>7.00</s_answer>", 0.25), (p2, "<s_answer>11.87</s_answer>", 0.8)]
    monkeypatch.setattr(eng, "_run_pages", lambda d, prompt, **kw: runs)
    a = eng.answer(doc, "q?", top_k=3)
    assert [(x.answer, x.page) for x in a] == [("11.87", 2)]  # the unsure page is dropped
    blank = Document(source="b.png", sha256="c3" * 32, media_type="image/png",
                     pages=[Page(number=1, width=100, height=100, text_source="ocr", engine="test")])
    only = [(blank.pages[0], "<s_answer>42</s_answer>", 0.4)]
    monkeypatch.setattr(eng, "_run_pages", lambda d, prompt, **kw: only)
    a = eng.answer(blank, "q?")[0]  # no words to look in: the floor alone decides
    assert (a.answer, a.bbox) == ("42", None)
