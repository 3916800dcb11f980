"""Donut engines on a tiny VisionEncoderDecoder (DonutSwin + MBart) whose decoder is wired to emit
a scripted sequence, so the real ``generate`` → parse → fields path is checked end to end."""

from __future__ import annotations

import pytest

from extractors import registry
from extractors.settings import Settings

pytestmark = pytest.mark.models

CORD = ("<s_menu><s_nm>TEA</s_nm><s_cnt>2</s_cnt><s_price>7.00</s_price><sep/><s_nm>CAKE</s_nm>"
        "<s_price>4.20</s_price></s_menu><s_total><s_total_price>11.87</s_total_price></s_total>")


@pytest.fixture(scope="module")
def donut_dirs(tmp_path_factory):
    from tests.models.builders import tiny_donut

    root = tmp_path_factory.mktemp("donut")
    q = "<s_docvqa><s_question>what is the total?</s_question><s_answer>"
    return {
        "cord": tiny_donut(root / "cord", CORD),
        "broken": tiny_donut(root / "broken", "<s_total><s_total_price>11.87</s_tot"),
        "qa": tiny_donut(root / "qa", "11.87</s_answer>", prompt=q),
        "cls": tiny_donut(root / "cls", "<s_class><receipt/></s_class>", prompt="<s_rvlcdip>"),
        "random": tiny_donut(root / "random"),
    }


def test_cord_parse_to_fields_items_and_evidence(donut_dirs, receipt_doc):
    eng = registry.create("extract", "donut", Settings(model=str(donut_dirs["cord"])))
    assert eng.prompt == "<s_cord-v2>"
    x = eng.extract(receipt_doc, "receipt")
    total = x.fields["total"]
    assert (total.value, total.engine, total.page) == ("11.87", "donut", 1)
    assert total.confidence > 0.99  # the scripted decoder is certain
    words = {w.text: w for w in receipt_doc.pages[0].words}
    assert total.bbox == list(words["11.87"].box)  # located among the OCR words
    assert [(li.description.value, li.amount.value) for li in x.line_items] == [
        ("TEA", "7.00"), ("CAKE", "4.20")]
    assert x.line_items[0].quantity.value == "2"


def test_malformed_generation_is_no_answer_not_a_crash(donut_dirs, receipt_doc):
    eng = registry.create("extract", "donut", Settings(model=str(donut_dirs["broken"])))
    x = eng.extract(receipt_doc, "receipt")
    assert x.fields == {} and x.line_items == []


def test_random_weights_run_and_stay_safe(donut_dirs, long_doc):
    eng = registry.create("extract", "donut", Settings(model=str(donut_dirs["random"]), batch_size=2))
    x = eng.extract(long_doc, "receipt")  # two pages, one batch; whatever it generates parses safely
    assert isinstance(x.fields, dict)


def test_docvqa_answer(donut_dirs, receipt_doc):
    eng = registry.create("qa", "donut", Settings(qa_model=str(donut_dirs["qa"])))
    a = eng.answer(receipt_doc, "what is the total?")[0]
    assert (a.answer, a.page, a.engine) == ("11.87", 1, "donut")
    assert a.confidence > 0.99 and a.bbox is not None


def test_prompt_choice_refuses_models_without_the_task(donut_dirs):
    from extractors.errors import UsageError
    from extractors.models.donut import DonutClassifier, DonutExtractor, DonutQA

    eng = registry.create("qa", "donut", Settings(qa_model=str(donut_dirs["cord"])))
    assert eng.prompt == "<s_docvqa>"  # the tiny tokenizer knows every prompt
    with pytest.raises(UsageError, match="DocVQA"):
        DonutQA._choose_prompt(eng, ["<s_cord-v2>"])
    with pytest.raises(UsageError, match="classifier"):
        DonutClassifier._choose_prompt(eng, ["<s_cord-v2>", "<s_docvqa>"])
    with pytest.raises(UsageError, match="parsing"):
        DonutExtractor._choose_prompt(eng, ["<s_docvqa>", "<s_rvlcdip>"])
    assert DonutExtractor._choose_prompt(eng, ["<s_docvqa>", "<s_sroie>"]) == "<s_sroie>"


def test_rvlcdip_classification(donut_dirs, receipt_doc):
    eng = registry.create("classify", "donut", Settings(classify_model=str(donut_dirs["cls"])))
    doc_type, conf = eng.classify(receipt_doc)
    assert doc_type == "receipt" and conf > 0.99
    qa_eng = registry.create("classify", "donut", Settings(classify_model=str(donut_dirs["qa"])))
    assert qa_eng.classify(receipt_doc) == ("other", 0.0)  # answers instead of a class: no type
