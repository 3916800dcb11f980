"""``docai train``: label projection, dataset readers, and a few real optimisation steps on
generated documents whose result loads through the extraction engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors import registry
from extractors.models.train import TrainOptions, dataset_document, load_labelled, project_labels
from extractors.models.windows import page_words
from extractors.settings import Settings

pytestmark = pytest.mark.models

TINY_LM = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TINY_V3 = {**TINY_LM, "coordinate_size": 4, "shape_size": 8, "tokenizer_vocab_size": 400}


def test_project_labels_by_meaning(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    words, lines = pw.words, pw.line_of()
    fields = {"merchant_name": "Mr Coffee Shop Sdn. Bhd.", "total": "11.87",
              "transaction_date": "2018-12-25", "transaction_time": "10:45"}
    items = [{"description": "Tea", "quantity": "2", "unit_price": "3.50", "amount": "7.00"}]
    tags, found = project_labels(words, lines, fields, items)
    got = {w.text: t for w, t in zip(words, tags, strict=True)}
    assert [got[t] for t in ("MR", "COFFEE", "SHOP", "SDN", "BHD")] == [
        "B-merchant_name"] + ["I-merchant_name"] * 4
    assert got["11.87"] == "B-total" and got["25/12/2018"] == "B-transaction_date"
    assert got["10:45"] == "B-transaction_time"
    assert got["TEA"] == "B-item.description" and got["7.00"] == "B-item.amount"
    assert got["3.50"] == "B-item.unit_price" and got["2"] == "B-item.quantity"
    assert got["CAKE"] == "O" and got["4.20"] == "O" and got["TOTAL"] == "O"
    assert found == set(fields)


def test_project_labels_skips_what_is_not_printed(receipt_doc):
    pw = page_words(receipt_doc.pages[0])
    tags, found = project_labels(pw.words, pw.line_of(), {"total": "99.99", "vendor_name": "ACME GmbH"})
    assert set(tags) == {"O"} and found == set()


def test_sroie_transcription_and_funsd_annotation(tmp_path):
    from PIL import Image

    from extractors.evaluate import load_dataset

    Image.new("RGB", (400, 600), "white").save(tmp_path / "r1.jpg")
    (tmp_path / "r1.csv").write_text("10,10,210,10,210,30,10,30,MR COFFEE, SHOP\n"
                                     "10,500,110,500,110,520,10,520,TOTAL 11.87\n", encoding="utf-8")
    (tmp_path / "labels.jsonl").write_text(json.dumps({
        "id": "r1", "file": "r1.jpg", "doc_type": "receipt", "ocr_lines": "r1.csv",
        "fields": {"company": "MR COFFEE, SHOP", "total": "11.87"}}) + "\n", encoding="utf-8")
    ex = load_dataset(tmp_path)[0]
    doc, tags = dataset_document(ex)
    assert tags is None
    assert [w.text for w in doc.pages[0].words] == ["MR", "COFFEE,", "SHOP", "TOTAL", "11.87"]
    w = doc.pages[0].words[4]
    assert w.box[0] > 10 * 1000 / 400 and w.box[2] <= 110 * 1000 / 400 + 1
    docs, coverage = load_labelled(TrainOptions(dataset=tmp_path, out=tmp_path / "o", words="dataset"),
                                   Settings())
    assert coverage == {"merchant_name": 1.0, "total": 1.0}
    assert docs[0].tags[0] == ["B-merchant_name", "I-merchant_name", "I-merchant_name", "O", "B-total"]

    funsd = tmp_path / "funsd"
    (funsd / "annotations").mkdir(parents=True)
    (funsd / "images").mkdir()
    Image.new("RGB", (500, 500), "white").save(funsd / "images" / "f1.png")
    form = [{"id": 0, "label": "question", "text": "Date:", "box": [10, 10, 60, 30], "linking": [[0, 1]],
             "words": [{"text": "Date:", "box": [10, 10, 60, 30]}]},
            {"id": 1, "label": "answer", "text": "May 4 1999", "box": [70, 10, 200, 30], "linking": [[0, 1]],
             "words": [{"text": "May", "box": [70, 10, 100, 30]}, {"text": "4", "box": [105, 10, 115, 30]},
                       {"text": "1999", "box": [120, 10, 200, 30]}]},
            {"id": 2, "label": "other", "text": "x", "box": [10, 300, 20, 310], "linking": [],
             "words": [{"text": "x", "box": [10, 300, 20, 310]}]}]
    (funsd / "annotations" / "f1.json").write_text(json.dumps({"form": form}), encoding="utf-8")
    docs, _ = load_labelled(TrainOptions(dataset=funsd, out=tmp_path / "o2", words="auto"), Settings())
    assert docs[0].tags[0] == ["B-question", "B-answer", "I-answer", "I-answer", "O"]


def test_shared_sroie_train_projection(datasets):
    docs, coverage = load_labelled(TrainOptions(dataset=datasets / "sroie_train", out=Path("unused"),
                                                words="dataset", max_docs=5), Settings())
    assert len(docs) >= 4
    assert coverage["total"] >= 0.6 and coverage["transaction_date"] >= 0.6
    assert any(t == "B-total" for d in docs for page in d.tags for t in page)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    gen = pytest.importorskip("samples.generate")
    out = tmp_path_factory.mktemp("gen")
    gen.generate(out, invoices=3, receipts=3, seed=5, scanned_ratio=0.0, langs=("en",))
    return out


@pytest.mark.parametrize("arch,config", [("layoutlm", TINY_LM), ("layoutlmv3", TINY_V3)])
def test_docai_train_then_load_through_the_engine(generated, tmp_path, arch, config):
    from typer.testing import CliRunner

    from extractors.pipeline import Pipeline
    from flows.cli import app

    out = tmp_path / "model"
    res = CliRunner().invoke(app, [
        "train", str(generated), "--out", str(out), "--arch", arch, "--epochs", "2",
        "--max-steps", "3", "--batch-size", "4", "--device", "cpu", "--cache-dir",
        str(tmp_path / "cache"), "--model-config", json.dumps(config), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    report = json.loads((out / "train_report.json").read_text())
    assert report["n_train"] + report["n_val"] == 6 and report["n_val"] >= 1
    assert 1 <= report["steps"] <= 3 and report["stopped"] == "max_steps"
    assert "B-total" in report["labels"] and "B-item.amount" in report["labels"]
    assert report["coverage"]["total"] == 1.0
    assert "overall" in report["evaluation"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == arch and cfg["id2label"]["0"] == "O"

    settings = Settings(extract_engine="layoutlmv3", model=str(out))
    eng = registry.create("extract", "layoutlmv3", settings)
    record = Pipeline(settings, extractor=eng).process(generated / "rcp_0001.pdf")
    assert record.status.value in ("ok", "needs_review")
    assert all(f.engine == "layoutlmv3" for f in record.fields.values())


def test_train_rejects_bad_options(generated, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    r = CliRunner().invoke(app, ["train", str(generated), "--out", str(tmp_path / "m"), "--arch", "bert",
                                 "--quiet"])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, ["train", str(tmp_path / "nope"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2
