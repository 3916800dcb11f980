"""Train the rules QA's candidate ranker (``extractors/qa_rank.json``) on FUNSD training forms.

Reproduce the committed ranker with (scikit-learn comes with the ``train`` extra)::

    .venv/bin/python -m extractors.fields.train_qa_rank ../shared/datasets/funsd_train \\
        --docs-cache ~/.cache/docai/qa_rank_docs

(a docs cache of its own: the forms are read with today's OCR, through ``docai eval``'s OCR cache).
The committed ranker (tenth session, the forms read as ``--ocr-engine auto`` reads them now, most by
RapidOCR as low-resolution scans): 3-fold mean ANLS on funsd_train's 1323 questions about pages read
as forms, hand order 0.675 → ranker 0.682 (both the key-value reader and the ranker held out); on
the forms read by Tesseract the previous one had 0.629 → 0.644.

On forms, :class:`extractors.qa.RulesQA` gathers candidate answers from several sources (the
extractor's key-value pairs, the value right of / below the printed label, the form reader's best
link from the asked label) and orders them by hand-tuned scores. The ranker reorders the best
:data:`~extractors.qa.RANK_TOP` by the probability that a candidate is the answer (ANLS ≥ 0.5),
from :func:`extractors.qa.rank_features`. Its features read the key-value model (roles, link
probabilities, lexicon), which was trained on the same forms; so the forms are split in three,
a key-value model is trained on two thirds (:func:`extractors.fields.train_kv.train`, the committed
model's thresholds, lexicon and calibration) and the questions of the other third are answered
with it — the candidates and their features are what the ranker will see on forms no model has
seen. One gradient-boosted tree ensemble (exported like the key-value stages, run with numpy) is
then fitted on the three thirds' candidates (the key-value stages' settings, ``train_kv.GBM``);
before that, each third is scored by a ranker fitted on the other two (the printed mean ANLS
over the folder's questions: hand order vs ranker).

Questions are asked as ``docai ask-eval`` asks them ("What is the <key text>?", every linked
answer accepted). 5–15 minutes on two shared cores (three key-value fits).

Never train on ``../shared/datasets/funsd`` (the measurement set). Licence as for the key-value
model: FUNSD terms of use, non-commercial research and educational use only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from extractors import qa as Q
from extractors.fields import kv
from extractors.fields import train_kv as T


def _groups(forms: dict[str, Any], docs: dict[str, Any], questions: dict[str, list[Any]],
            model: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidates, features and ANLS of every question about ``forms`` (one group per question),
    answered with the key-value ``model``."""
    from extractors.evaluate import anls
    from extractors.settings import Settings

    kv._MODEL = T.as_model(model)  # the reader of RulesQA and the extractor's key-values
    captured: dict[str, Any] = {}
    merge = Q._merge

    def capture(cands: list[Any]) -> list[Any]:
        ranked = merge(cands)
        captured["cands"], captured["ranked"] = list(cands), ranked
        return ranked

    engine = Q.RulesQA(Settings())
    groups = []
    Q._merge = capture
    try:
        for name in forms:
            doc = docs[name]
            if engine.analyse(doc).doc_type != "form":
                continue
            for ex in questions.get(name, []):
                captured.clear()
                engine.answer(doc, ex.question)
                ranked = captured.get("ranked") or []
                query = Q.parse_question(ex.question, use_semantic=engine.use_semantic)
                base = anls(ranked[0].text, ex.answers) if ranked and ranked[0].score >= \
                    engine.min_confidence else 0.0
                if len(ranked) < 2 or not query.label or query.item is not None:
                    groups.append({"x": None, "y": None, "base": base})
                    continue
                head = ranked[:Q.RANK_TOP]
                x = Q.rank_features(engine, doc, query, captured["cands"], head)
                y = np.array([anls(c.text, ex.answers) for c in head])
                groups.append({"x": x, "y": y, "base": base})
    finally:
        Q._merge = merge
        kv._MODEL = None
    return groups


def _stack(groups: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    g = [x for x in groups if x["x"] is not None]
    return np.vstack([x["x"] for x in g]), np.concatenate([x["y"] >= 0.5 for x in g]).astype(float)


def _chosen(groups: list[dict[str, Any]], trees: dict[str, Any]) -> list[float]:
    out = []
    for g in groups:
        if g["x"] is None:
            out.append(g["base"])
            continue
        p = kv.predict(trees, g["x"])[:, 0]
        out.append(float(g["y"][int(np.argmax(p))]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="FUNSD-layout folder (training_data/annotations, images)")
    ap.add_argument("--out", type=Path, default=Q.RANK_MODEL_PATH)
    ap.add_argument("--docs-cache", type=Path, default=None, help="keep the OCR'd Documents here")
    ap.add_argument("--kv-model", type=Path, default=kv.MODEL_PATH,
                    help="the key-value model whose thresholds, lexicon option and calibration the "
                         "fold models copy")
    ap.add_argument("--folds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.dataset.resolve().name == "funsd":
        ap.error("funsd/ is the measurement set; train on funsd_train/")
    from extractors.qa_eval import load_examples

    np.seterr(over="ignore")
    committed = json.loads(args.kv_model.read_text(encoding="utf-8"))
    data = T.load_forms(args.dataset, args.docs_cache)
    docs = {name: doc for name, doc, _ in data if doc.pages}
    forms = {name: T._Form(name, doc.pages[0], form) for name, doc, form in data if doc.pages}
    questions: dict[str, list[Any]] = defaultdict(list)
    for ex in load_examples(args.dataset):
        questions["funsd_" + ex.path.stem].append(ex)
    names = sorted(forms)
    folds = [names[i::args.folds] for i in range(args.folds)]
    per_fold = []
    for i, held in enumerate(folds):
        raw = T.train([forms[n] for n in names if n not in held], committed["thresholds"],
                      verbose=False, lexicon="lexicon" in committed)
        raw["calibration"] = committed.get("calibration")
        per_fold.append(_groups({n: forms[n] for n in held}, docs, questions, raw))
        print(f"  fold {i + 1}/{args.folds}: {len(per_fold[-1])} questions", file=sys.stderr, flush=True)
    base, ranked = [], []
    for i, held in enumerate(per_fold):
        x, y = _stack([g for j, f in enumerate(per_fold) if j != i for g in f])
        trees = kv.trees_from_json(T._ser(T.fit_trees(x, y, 1), Q.RANK_FEATURES))
        base += [g["base"] for g in held]
        ranked += _chosen(held, trees)
    cv = {"questions": len(base), "hand_order_anls": round(float(np.mean(base)), 4),
          "ranker_anls": round(float(np.mean(ranked)), 4)}
    print(json.dumps({"cross_validated": cv}), file=sys.stderr)
    x, y = _stack([g for f in per_fold for g in f])
    out = T._ser(T.fit_trees(x, y, 1), Q.RANK_FEATURES)
    out["threshold"] = [float(f"{t:.7g}") for t in out["threshold"]]
    out["cross_validated"] = cv
    out["trained_on"] = {"dataset": f"FUNSD training forms ({args.dataset.name}, {len(names)} forms)",
                         "licence": "FUNSD terms of use: non-commercial research/education only",
                         "script": "extractors/fields/train_qa_rank.py"}
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
