"""Model engines on tiny random models of the real architectures (built from configs, saved with
``save_pretrained``, loaded through the registry like a user's weights). Heads are rewired where a
test needs a known prediction: zero weights and a bias make every token predict one label."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from extractors import registry
from extractors.errors import DependencyMissing, UsageError
from extractors.models import runtime
from extractors.settings import Settings
from schemas.fields import Field

pytestmark = pytest.mark.models


def _rewire(model, attr: str, bias: list[float]) -> None:
    """Make the head ``attr`` output ``bias`` whatever the input."""
    import torch

    head = getattr(model, attr)
    lin = head if isinstance(head, torch.nn.Linear) else [
        m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor(bias, dtype=lin.bias.dtype))


def _favour(labels: list[str], label: str, strength: float = 4.0) -> list[float]:
    return [strength if lbl == label else 0.0 for lbl in labels]


def _reading_text(doc, page_index: int) -> str:
    from extractors.models.windows import page_words

    return " ".join(w.text for w in page_words(doc.pages[page_index]).words)


# ------------------------------------------------------------------------------ token classification


@pytest.mark.parametrize("engine_name,fixture", [
    ("layoutlmv3", "lmv3_token"), ("layoutlm", "layoutlm_token"), ("lilt", "lilt_token")])
def test_extractor_runs_on_a_sample_document(engine_name, fixture, receipt_doc, request):
    model_dir = request.getfixturevalue(fixture)
    eng = registry.create("extract", engine_name, Settings(model=str(model_dir)))
    assert eng.name == engine_name
    tagged = eng.tag_pages(receipt_doc)
    assert [len(t.tags) for t in tagged] == [len(receipt_doc.pages[0].words)]
    assert all(0.0 <= s <= 1.0 for s in tagged[0].scores)
    x = eng.extract(receipt_doc, "receipt")
    for name, f in x.fields.items():
        assert isinstance(f, Field) and f.engine == engine_name and f.page == 1
        assert 0.0 <= f.confidence <= 1.0
        assert f.bbox is not None and all(0 <= v <= 1000 for v in f.bbox)
        assert name in ("merchant_name", "merchant_address", "transaction_date", "total", "currency")


@pytest.mark.parametrize("engine_name,fixture", [("layoutlmv3", "lmv3_token"), ("layoutlm", "layoutlm_token")])
def test_label_mapping_through_the_model(engine_name, fixture, receipt_doc, request):
    """Every word predicted I-merchant_name: one field holding the whole page in reading order."""
    eng = registry.create("extract", engine_name, Settings(model=str(request.getfixturevalue(fixture))))
    labels = [eng.bundle.id2label[i] for i in range(len(eng.bundle.id2label))]
    _rewire(eng.bundle.model, "classifier", _favour(labels, "I-merchant_name"))
    x = eng.extract(receipt_doc, "invoice")  # spelled for the doc type
    f = x.fields["vendor_name"]
    assert set(x.fields) == {"vendor_name"}
    assert f.text == _reading_text(receipt_doc, 0)
    e = math.exp(4.0)
    assert f.confidence == pytest.approx((e + 1) / (e + len(labels) - 1), abs=1e-3)  # B + I
    boxes = [w.box for w in receipt_doc.pages[0].words]
    assert f.bbox == [min(b[0] for b in boxes), min(b[1] for b in boxes),
                      max(b[2] for b in boxes), max(b[3] for b in boxes)]


def test_sliding_window_labels_every_word_once_and_merges_pages(lmv3_token, long_doc):
    eng = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token), batch_size=2))
    from extractors.models.windows import word_token_ids

    words1 = [w.text for w in long_doc.pages[0].words]
    assert sum(len(t) for t in word_token_ids(eng.bundle.tokenizer, words1)) > 1000
    labels = [eng.bundle.id2label[i] for i in range(len(eng.bundle.id2label))]
    _rewire(eng.bundle.model, "classifier", _favour(labels, "I-total"))
    tagged = eng.tag_pages(long_doc)
    assert [len(t.tags) for t in tagged] == [len(p.words) for p in long_doc.pages]
    assert all(t == "I-total" for page in tagged for t in page.tags)
    _rewire(eng.bundle.model, "classifier", _favour(labels, "I-merchant_name"))
    x = eng.extract(long_doc, "receipt")
    # one entity per page; equal confidence → the first page's (every word of it, in order) wins
    assert x.fields["merchant_name"].page == 1
    assert x.fields["merchant_name"].text == _reading_text(long_doc, 0)


def test_line_items_from_menu_tags(lmv3_token, receipt_doc):
    eng = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token)))
    labels = [eng.bundle.id2label[i] for i in range(len(eng.bundle.id2label))]
    _rewire(eng.bundle.model, "classifier", _favour(labels, "B-menu.price"))
    x = eng.extract(receipt_doc, "receipt")
    assert len(x.line_items) == len(receipt_doc.pages[0].lines)  # one row per visual line
    assert all(li.amount is not None and li.amount.engine == "layoutlmv3" for li in x.line_items)


def test_extractor_uses_page_pixels_when_the_model_has_a_visual_branch(lmv3_token, receipt_doc, tmp_path):
    from PIL import Image

    from extractors.models.images import forget_sources, remember_source

    eng = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token)))
    assert eng.bundle.uses_images
    img = tmp_path / "r.png"
    Image.new("RGB", (500, 700), "white").save(img)
    remember_source(receipt_doc.sha256, img)
    try:
        from extractors.models.windows import page_words

        px = eng._pixels(receipt_doc, page_words(receipt_doc.pages[0]))
        assert tuple(px.shape) == (3, 32, 32)
        assert eng.extract(receipt_doc, "receipt") is not None
    finally:
        forget_sources()


def test_empty_document(lmv3_token):
    from schemas.document import Document

    eng = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token)))
    x = eng.extract(Document(source="e", sha256="0" * 64, media_type="image/png"), "receipt")
    assert x.fields == {} and x.line_items == []


# ------------------------------------------------------------------------------ classification, QA


def test_classifier_maps_labels_to_doc_types(lmv3_seq, receipt_doc):
    eng = registry.create("classify", "layoutlmv3", Settings(classify_model=str(lmv3_seq)))
    labels = [eng.bundle.id2label[i] for i in range(len(eng.bundle.id2label))]
    _rewire(eng.bundle.model, "classifier", _favour(labels, "receipt", 6.0))
    doc_type, conf = eng.classify(receipt_doc)
    assert doc_type == "receipt" and conf > 0.9
    _rewire(eng.bundle.model, "classifier", [0.0, 0.0, 0.0, 3.0])  # "letter" → other
    assert eng.classify(receipt_doc)[0] == "other"


def test_classifier_refuses_a_token_classification_model(lmv3_token):
    with pytest.raises(UsageError, match="SequenceClassification"):
        registry.create("classify", "layoutlmv3", Settings(model=str(lmv3_token)))


def test_qa_span_maps_to_words_page_and_box(lmv3_qa, receipt_doc):
    # random weights put "no answer" and the best span within a fraction of a logit of each other:
    # a large margin keeps this test on the spans (the no-answer rule: test_qa_null.py)
    eng = registry.create("qa", "layoutlmv3", Settings(qa_model=str(lmv3_qa), qa_null_threshold=50))
    answers = eng.answer(receipt_doc, "what is the total?", top_k=3)
    assert 1 <= len(answers) <= 3
    words = {w.text: w for w in receipt_doc.pages[0].words}
    for a in answers:
        assert a.engine == "layoutlmv3" and a.page == 1 and a.answer == " ".join(a.words)
        assert all(t in words for t in a.words)
        xs = [words[t].box for t in a.words]
        assert a.bbox == [min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs),
                          max(b[3] for b in xs)]
    assert answers == sorted(answers, key=lambda a: -a.confidence)
    _rewire(eng.bundle.model, "qa_outputs", [0.0, 0.0])  # flat logits: ties → first word
    best = eng.answer(receipt_doc, "merchant?")[0]
    assert best.answer == "MR"


def test_layoutlm_qa_engine(models_dir, receipt_doc):
    from tests.models.builders import tiny_layoutlm

    d = tiny_layoutlm(models_dir / "lm_qa", "qa", labels=["LABEL_0", "LABEL_1"])
    eng = registry.create("qa", "layoutlm", Settings(qa_model=str(d), qa_null_threshold=50))
    a = eng.answer(receipt_doc, "what is the date?")[0]
    assert a.engine == "layoutlm" and a.answer and a.page == 1


# ------------------------------------------------------------------------------ loading, device, cache


def test_missing_weights_name_the_model(tmp_path):
    with pytest.raises(DependencyMissing, match="microsoft/layoutlmv3-base") as exc:
        registry.create("extract", "layoutlmv3", Settings(model="microsoft/layoutlmv3-base"))
    assert "huggingface-cli download" in exc.value.message
    with pytest.raises(DependencyMissing, match="does not exist"):
        registry.create("extract", "donut", Settings(model=str(tmp_path / "nope" / "model")))


def test_engine_without_a_model_is_a_usage_error():
    with pytest.raises(UsageError, match="--model"):
        registry.create("extract", "layoutlmv3", Settings())


def test_wrong_architecture_is_refused(lmv3_token):
    with pytest.raises(UsageError, match="not a Donut"):
        registry.create("extract", "donut", Settings(model=str(lmv3_token)))


def test_models_are_cached_per_process(lmv3_token):
    s = Settings(model=str(lmv3_token))
    a = registry.create("extract", "layoutlmv3", s)
    b = registry.create("extract", "layoutlm", s)
    assert a.bundle is b.bundle


def test_nothing_heavy_at_import_time():
    code = ("import sys, extractors.models.layoutlmv3, extractors.models.donut, "
            "extractors.models.train, extractors.registry, extractors.pipeline; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "False"], out.stderr[-500:]


def test_device_selection(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto").type == "cpu"
    assert runtime.resolve_device("cpu").type == "cpu"
    with pytest.raises(DependencyMissing, match="CUDA is not available"):
        runtime.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert str(runtime.resolve_device("auto")) == "cuda:0"
    assert str(runtime.resolve_device("cuda")) == "cuda:0"
    assert str(runtime.resolve_device("cuda:1")) == "cuda:1"
    with pytest.raises(UsageError, match="does not exist"):
        runtime.resolve_device("cuda:2")
    with pytest.raises(UsageError, match="unknown device"):
        runtime.resolve_device("tpu")


def test_precision_selection(monkeypatch):
    import torch

    cpu, cuda = torch.device("cpu"), torch.device("cuda:0")
    assert runtime.resolve_dtype(cpu, "auto") is torch.float32
    assert runtime.resolve_dtype(cpu, "fp16") is torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert runtime.resolve_dtype(cuda, "auto") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert runtime.resolve_dtype(cuda, "auto") is torch.float16
    assert runtime.resolve_dtype(cuda, "fp32") is torch.float32
    with pytest.raises(UsageError):
        runtime.resolve_dtype(cuda, "int8")


def test_gpu_guard_only_around_cuda_calls(monkeypatch):
    from contextlib import contextmanager

    from extractors import hooks

    entered: list[str] = []

    @contextmanager
    def slot():
        entered.append("gpu")
        yield

    monkeypatch.setattr(hooks, "model_call_guard", slot)
    with runtime.model_call(type("D", (), {"type": "cpu"})()):
        pass
    assert entered == []
    with runtime.model_call(type("D", (), {"type": "cuda"})()):
        pass
    assert entered == ["gpu"]


@pytest.mark.gpu
def test_cuda_matches_cpu(lmv3_token, receipt_doc):
    cpu = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token), device="cpu"))
    gpu = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token), device="cuda",
                                                            precision="fp32"))
    a, b = cpu.tag_pages(receipt_doc)[0], gpu.tag_pages(receipt_doc)[0]
    assert a.tags == b.tags
    assert a.scores == pytest.approx(b.scores, abs=1e-4)
    half = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token), device="cuda",
                                                             precision="fp16"))
    assert half.tag_pages(receipt_doc)[0].scores == pytest.approx(a.scores, abs=2e-2)


def test_concurrent_documents_share_batches_and_match_serial(lmv3_token, receipt_doc, long_doc):
    from concurrent.futures import ThreadPoolExecutor

    eng = registry.create("extract", "layoutlmv3", Settings(model=str(lmv3_token), batch_size=16))
    serial = [eng.tag_pages(d) for d in (receipt_doc, long_doc)]
    calls: list[int] = []
    inner = eng.bundle.runner.fn
    eng.bundle.runner.fn = lambda ws: (calls.append(len(ws)), inner(ws))[1]
    eng.bundle.runner.wait_s = 1.0  # generous: the batching window must not depend on machine load
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(eng.tag_pages, [receipt_doc, long_doc] * 2))
    for a, b in zip(got, serial * 2, strict=True):
        assert [p.tags for p in a] == [p.tags for p in b]
        flat_a = [s for p in a for s in p.scores]
        assert flat_a == pytest.approx([s for p in b for s in p.scores], abs=1e-5)
    assert len(calls) < 4  # four documents, fewer model batches
