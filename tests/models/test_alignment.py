"""Pure-Python parts of the model engines: windows, BIO decoding, label mapping, assembly, Donut
parsing, batching. No model weights involved."""

from __future__ import annotations

import threading
import time

import pytest

from extractors.models.assemble import PageTags, assemble, locate_text, normalize_value
from extractors.models.donut import parse_sequence, sequence_to_extraction, task_prompts
from extractors.models.labels import bio_entities, doc_type_for, entity_target, split_tag
from extractors.models.runtime import BatchRunner
from extractors.models.windows import (
    Template,
    best_window,
    clamp_box,
    make_windows,
    page_words,
    plan_windows,
)

# ------------------------------------------------------------------------------ windows


@pytest.mark.parametrize("counts,budget,stride", [
    ([1] * 1000, 510, 128), ([3, 1, 7, 2] * 300, 510, 128), ([600] + [1] * 50, 510, 64),
    ([1] * 5, 510, 128), ([2] * 300, 100, 0),
])
def test_windows_cover_every_word_and_fit(counts, budget, stride):
    spans = plan_windows(counts, budget, stride)
    assert spans[0][0] == 0 and spans[-1][1] == len(counts)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:], strict=False):
        assert s0 < s1 <= e0 < e1 or (s1 == e0), "windows move forward and leave no gap"
    for s, e in spans:
        assert sum(min(c, budget) for c in counts[s:e]) <= budget or e - s == 1
    best = best_window(spans, len(counts))
    assert all(spans[b][0] <= i < spans[b][1] for i, b in enumerate(best))


def test_best_window_prefers_the_centre():
    spans = [(0, 10), (6, 16)]
    best = best_window(spans, 16)
    assert best[:8] == [0] * 8 and best[9:] == [1] * 7  # word 8 is 2 from either cut


def test_make_windows_more_than_512_tokens_labels_each_word_once():
    n = 700
    token_ids = [[5, 6] for _ in range(n)]  # 1400 tokens
    boxes = [(i % 1000, 10, i % 1000 + 5, 20) for i in range(n)]
    tpl = Template(cls_id=0, sep_id=2, pad_id=1)
    wins = make_windows(token_ids, boxes, tpl, max_tokens=512, stride=128)
    assert len(wins) >= 3
    assert all(len(w) <= 512 for w in wins)
    firsts = [(wi, t) for wi, w in enumerate(wins) for t, (x, f) in enumerate(zip(w.token_word, w.first_token, strict=True)) if f]
    words_seen = {wins[wi].token_word[t] for wi, t in firsts}
    assert words_seen == set(range(n))
    best = best_window([w.span for w in wins], n)
    assert len(best) == n and min(best) == 0 and max(best) == len(wins) - 1
    w0 = wins[0]
    assert w0.input_ids[0] == 0 and w0.input_ids[-1] == 2 and w0.bbox[0] == [0, 0, 0, 0]


def test_make_windows_question_pairs_and_layoutlm_template():
    tpl = Template(cls_id=101, sep_id=102, pad_id=0, sep_box=[1000] * 4, token_types=True)
    wins = make_windows([[7], [8, 9]], [(0, 0, 10, 10), (20, 0, 30, 10)], tpl, question_ids=[50, 51])
    w = wins[0]
    assert w.input_ids == [101, 50, 51, 102, 7, 8, 9, 102]
    assert w.token_word == [-1, -1, -1, -1, 0, 1, 1, -1]
    assert w.token_type_ids == [0, 0, 0, 0, 1, 1, 1, 1]
    assert w.bbox[3] == [1000] * 4 and w.bbox[5] == [20, 0, 30, 10]
    rob = Template(cls_id=0, sep_id=2, pad_id=1, double_sep=True)
    assert make_windows([[7]], [(0, 0, 1, 1)], rob, question_ids=[50])[0].input_ids == [0, 50, 2, 2, 7, 2]


def test_clamp_box_orders_and_clamps():
    assert clamp_box((1200, -5, 30, 40.6)) == [30, 0, 1000, 41]


def test_page_words_reading_order_follows_lines(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    assert sorted(pw.order) == list(range(len(receipt_doc.pages[0].words)))
    assert [w.text for w in pw.words][:3] == ["MR", "COFFEE", "SHOP"]
    assert pw.line_of()[0] == pw.line_of()[1] != pw.line_of()[-1]


# ------------------------------------------------------------------------------ labels


@pytest.mark.parametrize("label,expected", [
    ("B-TOTAL", ("B", "total")), ("I-menu.nm", ("I", "menu.nm")), ("O", ("O", "")),
    ("S-COMPANY", ("S", "company")), ("L-date", ("E", "date")), ("question", ("B", "question")),
])
def test_split_tag(label, expected):
    assert split_tag(label) == expected


@pytest.mark.parametrize("entity,doc_type,target", [
    ("company", "receipt", ("field", "merchant_name")),
    ("company", "invoice", ("field", "vendor_name")),
    ("merchant_name", "invoice", ("field", "vendor_name")),
    ("vendor_address", "receipt", ("field", "merchant_address")),
    ("date", "invoice", ("field", "invoice_date")),
    ("total.total_price", "receipt", ("field", "total")),
    ("sub_total.tax_price", None, ("field", "tax_total")),
    ("menu.nm", "receipt", ("item", "description")),
    ("menu.unitprice", "receipt", ("item", "unit_price")),
    ("item.amount", "invoice", ("item", "amount")),
    ("question", "form", ("kv", "key")),
    ("answer", "form", ("kv", "value")),
    ("total.cashprice", "receipt", None),
    ("foo", "receipt", None),
])
def test_entity_target(entity, doc_type, target):
    assert entity_target(entity, doc_type) == target


def test_bio_entities_lenient():
    tags = ["B-total", "I-total", "O", "I-date", "I-date", "B-date", "E-date", "S-x", "I-x"]
    ents = bio_entities(tags, [0.5] * len(tags))
    assert [(e.name, e.words) for e in ents] == [
        ("total", [0, 1]), ("date", [3, 4]), ("date", [5, 6]), ("x", [7]), ("x", [8])]


@pytest.mark.parametrize("label,doc_type", [
    ("invoice", "invoice"), ("RECEIPT", "receipt"), ("questionnaire", "form"), ("form", "form"),
    ("scientific report", "other"), ("letter", "other"),
])
def test_doc_type_for(label, doc_type):
    assert doc_type_for(label) == doc_type


# ------------------------------------------------------------------------------ assembly


@pytest.mark.parametrize("name,text,value", [
    ("total", "RM 11.87", "11.87"), ("total", "TOTAL: 1.234,50 €", "1234.50"),
    ("transaction_date", "25/12/2018", "2018-12-25"), ("invoice_date", "Date: 06.08.2024", "2024-08-06"),
    ("transaction_time", "TIME 10:45", "10:45"), ("merchant_name", " MR  COFFEE ", "MR COFFEE"),
    ("total", "TOTAL", "TOTAL"),  # not an amount: kept as printed, validation flags it
])
def test_normalize_value(name, text, value):
    assert normalize_value(name, text)[0] == value


def _tags_for(pw, mapping):
    texts = [w.text for w in pw.words]
    tags = ["O"] * len(texts)
    for (start_text, n), label in mapping.items():
        i = texts.index(start_text)
        for k in range(n):
            tags[i + k] = ("B-" if k == 0 else "I-") + label
    return tags


def test_assemble_fields_items_and_evidence(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    tags = _tags_for(pw, {("MR", 5): "COMPANY", ("25/12/2018", 1): "date", ("11.87", 1): "total.total_price",
                          ("TEA", 1): "menu.nm", ("7.00", 1): "menu.price", ("CAKE", 1): "menu.nm",
                          ("4.20", 1): "menu.unitprice"})
    scores = [0.9] * len(tags)
    fields, items, kvs = assemble([PageTags(pw, tags, scores)], "receipt", engine="layoutlmv3")
    assert fields["merchant_name"].value == "MR COFFEE SHOP SDN BHD"
    assert fields["transaction_date"].value == "2018-12-25"
    assert fields["total"].value == "11.87" and fields["total"].engine == "layoutlmv3"
    words = {w.text: w for w in pw.words}
    assert fields["total"].bbox == list(words["11.87"].box) and fields["total"].page == 1
    assert fields["total"].confidence == pytest.approx(0.9)
    assert [li.description.value for li in items] == ["TEA", "CAKE"]
    assert items[0].amount.value == "7.00" and items[1].unit_price.value == "4.20"
    assert kvs == []
    inv, _, _ = assemble([PageTags(pw, tags, scores)], "invoice", engine="x")
    assert "vendor_name" in inv and "merchant_name" not in inv and "transaction_date" not in inv


def test_assemble_picks_most_confident_entity_and_merges_adjacent(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    texts = [w.text for w in pw.words]
    tags = ["O"] * len(texts)
    scores = [0.5] * len(texts)
    i7, i11 = texts.index("7.00"), texts.index("11.87")
    tags[i7], scores[i7] = "B-total", 0.4
    tags[i11], scores[i11] = "B-total", 0.8
    m = texts.index("MR")
    tags[m], tags[m + 1] = "B-company", "B-company"  # adjacent B B: one field
    fields, _, _ = assemble([PageTags(pw, tags, scores)], "receipt", engine="e")
    assert fields["total"].value == "11.87"
    assert fields["merchant_name"].value == "MR COFFEE"


def test_assemble_key_values(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    tags = _tags_for(pw, {("DATE", 1): "question", ("25/12/2018", 1): "answer",
                          ("TIME", 1): "question", ("10:45", 1): "answer"})
    _, _, kvs = assemble([PageTags(pw, tags, [0.7] * len(tags))], "form", engine="e")
    assert [(kv.key, kv.value) for kv in kvs] == [("DATE", "25/12/2018"), ("TIME", "10:45")]


def test_locate_text_finds_runs(receipt_doc):
    page, box, text = locate_text(receipt_doc, "mr coffee shop")
    assert page == 1 and text == "MR COFFEE SHOP" and box[0] < box[2]
    assert locate_text(receipt_doc, "11.87")[2] == "11.87"
    assert locate_text(receipt_doc, "no such words") is None


# ------------------------------------------------------------------------------ donut parsing


def test_parse_sequence_cord():
    seq = ("<s_cord-v2><s_menu><s_nm>TEA</s_nm><s_cnt>2</s_cnt><s_price>7.00</s_price><sep/>"
           "<s_nm>CAKE</s_nm><s_price>4.20</s_price></s_menu><s_sub_total><s_subtotal_price>11.20"
           "</s_subtotal_price><s_tax_price>0.67</s_tax_price></s_sub_total><s_total>"
           "<s_total_price>11.87</s_total_price></s_total></s>")
    parsed = parse_sequence(seq)
    assert parsed["menu"] == [{"nm": "TEA", "cnt": "2", "price": "7.00"}, {"nm": "CAKE", "price": "4.20"}]
    fields, rows = sequence_to_extraction(parsed, "receipt")
    assert fields == {"subtotal": "11.20", "tax_total": "0.67", "total": "11.87"}
    assert rows == [{"description": "TEA", "quantity": "2", "amount": "7.00"},
                    {"description": "CAKE", "amount": "4.20"}]


def test_parse_sequence_categories_and_qa():
    assert parse_sequence("<s_rvlcdip><s_class><invoice/></s_class></s>") == {"class": "invoice"}
    qa = parse_sequence("<s_docvqa><s_question>total?</s_question><s_answer>9.00</s_answer></s>")
    assert qa == {"question": "total?", "answer": "9.00"}


@pytest.mark.parametrize("bad", [
    "", "garbage without tags", "<s_total><s_total_price>9.00", "</s_total></s_total>",
    "<s_a><s_b><s_c>x</s_a>", "<s_" * 5000, "<s_x>" * 2000 + "y" + "</s_x>" * 2000, None,
    "<s_menu><sep/><sep/></s_menu>",
])
def test_parse_sequence_malformed_never_raises(bad):
    out = parse_sequence(bad)
    assert isinstance(out, dict | list)
    fields, rows = sequence_to_extraction(out, "receipt")
    assert isinstance(fields, dict) and isinstance(rows, list)


def test_parse_sequence_unclosed_inner_tag_keeps_the_rest():
    assert parse_sequence("<s_total><s_total_price>9.00</s_total></s>") == {"total": "9.00"}


def test_task_prompts():
    class Tok:
        def get_vocab(self):
            return {t: i for i, t in enumerate(["<s_cord-v2>", "<s_docvqa>", "<s_total>", "</s_total>",
                                                "<s_answer>", "</s_answer>", "hello"])}

    assert task_prompts(Tok()) == ["<s_cord-v2>", "<s_docvqa>"]


# ------------------------------------------------------------------------------ batching


def test_batch_runner_merges_concurrent_callers_and_keeps_order():
    calls: list[int] = []

    def fn(items):
        calls.append(len(items))
        time.sleep(0.02)
        return [x * 10 for x in items]

    runner = BatchRunner(fn, batch_size=64, wait_s=0.05)
    results: dict[int, list[int]] = {}

    def work(k):
        results[k] = runner.run(list(range(k * 100, k * 100 + 5)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == [x * 10 for x in range(k * 100, k * 100 + 5)] for k in range(4))
    assert len(calls) < 4 and sum(calls) == 20  # documents shared batches


def test_batch_runner_chunks_and_propagates_errors():
    runner = BatchRunner(lambda items: [len(items)] * len(items), batch_size=3, size=lambda x: x)
    assert runner.run([5, 1, 4, 2, 3]) == [2, 3, 2, 3, 3]  # sorted by size into chunks of 3 + 2

    def boom(items):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError):
        BatchRunner(boom, batch_size=2).run([1, 2, 3])
    assert BatchRunner(boom, batch_size=2).run([]) == []
