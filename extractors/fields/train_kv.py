"""Train the key-value model (``kv_model.json``) from FUNSD training forms.

Reproduce the committed parameters with (scikit-learn comes with the ``train`` extra:
``pip install -e ".[train]"``)::

    .venv/bin/python -m extractors.fields.train_kv ../shared/datasets/funsd_train \\
        --docs-cache ~/.cache/docai/kv_docs --lexicon --second-key --out extractors/fields/kv_model.json

(``--docs-cache`` keeps the forms as read; empty it after a change to the OCR.)

The forms are read end to end like ``docai eval`` reads them (our OCR and layout, the page cache of
``docai eval`` is reused), the OCR words are aligned to the FUNSD entities by box overlap, and the
four gradient-boosted tree ensembles of :mod:`extractors.fields.kv` are fitted one after the
other, each on what the previous steps predict for forms they were not fitted on (3-fold
cross-fitting). The link thresholds and the confidence calibration are chosen on 5-fold
cross-validated predictions (documents held out); the script prints the cross-validated
key→value precision / recall / F1 (a pair counts when key and value are both within ANLS 0.8) and
stores them in the model as ``cross_validated``. Fitting needs scikit-learn
(``HistGradientBoostingClassifier``); the trees are exported to plain arrays, so running the model
needs numpy only. 10–60 minutes on two shared cores, depending on their load (10 minutes for the
committed model, its forms already read). The committed model (tenth session: the forms read as
``--ocr-engine auto`` reads them now, most of them by RapidOCR as low-resolution scans): 5-fold CV
F1 0.427 (P 0.499 / R 0.374; link ≥ 0.2, second ≥ 0.5, second key ≥ 0.5); the same configuration
on the forms read by Tesseract: 0.367 (P 0.462 / R 0.304; link ≥ 0.25).

Where labelled pairs were lost with the forms read by Tesseract (``--funnel --lexicon``: fit on two
thirds of the forms, :func:`funnel` on the other 33 at the default thresholds; ninth session's OCR;
a pair survives a step when both sides do; in brackets the previous model, before the join read the
page context, leaders were cut out, merge read open line ends and the lexicon was adopted)::

    747 labelled pairs
    578 key and value text in the OCR words (ANLS >= 0.8)      -169  OCR (ticks, handwriting, "6/ 8/ 95")
    437 both are the text of one of our entities   (399)       -141  segmentation
    340 key entity reads as key, value entity as value (279)    -97  roles
    293 the pair is a scored link candidate        (257)        -47
    186 the pair is selected                       (174)       -107  linking (fan-out keys: 129 -> 23)
    held out: P 0.586 / R 0.252 / F1 0.352 (188 of 747; 321 predicted) (P 0.563 / R 0.234 / F1 0.331)

What is still lost at segmentation is mostly a key and its value on one line with an ordinary
word gap and no colon ("Date 5-13-81", "Project Leader Mann"), and two column headers side by side;
most role errors are table cells read as keys.

356 of the 747 pairs have a key with several values (table columns) and 20 % of funsd_train's
pairs a value with two keys (row label and column header), which one key per value cannot reach.

Options of the committed model:

- ``--lexicon``: a token lexicon (log-odds of a word being part of a labelled key, value or header,
  :func:`build_lexicon`) read by join and role; cross-fitted like the stages (each fold's features
  come from a lexicon of the other folds).
- ``--second-key``: the CV grid also chooses ``second_key`` (a table cell's second key, see
  :func:`kv.select_links`) and a ``second`` of 0.3.

Alone (without the page-context join features) the two gave no gain on ``docai eval
../shared/datasets/funsd`` (F1 0.278 → 0.278); with them: 0.278 → 0.300 (P 0.346 → 0.357,
R 0.232 → 0.259).

Tried and not adopted (best F1 over the link / second / second-key thresholds on the 33 held-out
forms of the ``--funnel`` split, an optimistic but like-for-like measure: previous model 0.366,
page-context join + leaders 0.378, + open line ends in merge + lexicon 0.394):

- a second role pass reading the first pass's roles of the four neighbours and how many keys /
  values share the row: 0.389;
- join lexicon features one word further out (the word before the left one, after the right one,
  the mean key log-odds from the line start): 0.392;
- 15 more link candidates down a key's column (table cells beyond the 10 nearest): candidates
  +4, F1 0.392, and more link features to compute per page;
- merge threshold 0.35 instead of 0.5: 0.387.

Training data licence: FUNSD (Jaume et al., 2019; EPFL-LTS5 terms of use) may be used for
non-commercial research and educational purposes only; the images come from RVL-CDIP. The
parameters in ``kv_model.json`` are derived from it — check the terms before commercial use.

Never train on ``../shared/datasets/funsd`` (the measurement set).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from extractors.fields import kv
from schemas.document import Document, Page, Word

log = logging.getLogger("docai.train_kv")

_ROLE_OF = {"question": kv._K, "answer": kv._V, "header": kv._H, "other": kv._O}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def load_forms(root: Path, docs_cache: Path | None) -> list[tuple[str, Document, list[dict[str, Any]]]]:
    """``(id, Document, FUNSD form)`` of every form under ``root``, read with our OCR."""
    from extractors.eval_run import CachingOcr, EvalCache, EvalRunner, default_cache_dir
    from extractors.evaluate import load_dataset

    examples = load_dataset(root)
    runner: EvalRunner | None = None
    out = []
    for n, ex in enumerate(examples, 1):
        ann = ex.path.parent.parent / "annotations" / (ex.path.stem + ".json")
        form = json.loads(ann.read_text(encoding="utf-8"))["form"]
        cached = docs_cache / f"{ex.id}.json" if docs_cache else None
        if cached is not None and cached.is_file():
            doc = Document.model_validate_json(cached.read_text(encoding="utf-8"))
        else:
            if runner is None:
                runner = EvalRunner(cache_dir=default_cache_dir())
            pipe = copy.copy(runner.pipeline)
            pipe.ocr = CachingOcr(runner.pipeline.ocr, EvalCache(default_cache_dir()), runner.settings)
            _, doc = pipe.load(ex.path, source=ex.file)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(doc.model_dump_json(), encoding="utf-8")
            print(f"  read {n}/{len(examples)}", file=sys.stderr, flush=True)
        out.append((ex.id, doc, form))
    return out


def _cover(w: Word, b: list[float]) -> float:
    ix = max(0.0, min(w.bbox[2], b[2]) - max(w.bbox[0], b[0]))
    iy = max(0.0, min(w.bbox[3], b[3]) - max(w.bbox[1], b[1]))
    return ix * iy / max(1e-6, (w.bbox[2] - w.bbox[0]) * (w.bbox[3] - w.bbox[1]))


def align(words: list[Word], form: list[dict[str, Any]]) -> list[int | None]:
    """The FUNSD entity id of each OCR word (most-covered labelled word; else the entity box
    holding its centre; else ``None``)."""
    boxes = [(w["box"], e["id"]) for e in form for w in e.get("words", []) if w["text"].strip()]
    out: list[int | None] = []
    for w in words:
        best, bid = 0.0, None
        for b, eid in boxes:
            c = _cover(w, b)
            if c > best:
                best, bid = c, eid
        if best < 0.3:
            bid = None
            cx, cy = (w.bbox[0] + w.bbox[2]) / 2, (w.bbox[1] + w.bbox[3]) / 2
            for e in form:
                b = e["box"]
                if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
                    bid = e["id"]
                    break
        out.append(bid)
    return out


def gold_links(form: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """``(question id, answer id)`` of every question–answer link."""
    from extractors.evaluate import funsd_pairs

    return {(p["question_id"], p["answer_id"]) for p in funsd_pairs(form)}


def _majority(ids: list[int], ent: list[int | None]) -> int | None:
    c = Counter(ent[i] for i in ids if ent[i] is not None)
    return c.most_common(1)[0][0] if c else None


_LEX_ROLES = ("question", "answer", "header")
LEX_MIN_FORMS = 3  # a token enters the lexicon when it occurs on at least this many training forms
LEX_SMOOTH = 3.0


def build_lexicon(forms: list[_Form]) -> dict[str, Any]:
    """Log-odds of each token being part of a labelled key / value / header (see
    :func:`kv.lex_scores`), from the FUNSD annotations of ``forms``; every (form, token, label)
    counts once, so one long form does not dominate."""
    per_label: Counter[tuple[str, str]] = Counter()
    per_token: Counter[str] = Counter()
    for f in forms:
        seen = {(t, e["label"]) for e in f.form for t in kv.lex_tokens(e.get("text", ""))}
        per_label.update(seen)
        per_token.update({t for t, _ in seen})
    totals = Counter()
    for (_, lab), n in per_label.items():
        totals[lab] += n
    all_n = max(1, sum(totals.values()))
    prior = {lab: max(1, totals[lab]) / all_n for lab in _LEX_ROLES}
    tokens = {}
    for t in sorted(per_token):
        if per_token[t] < LEX_MIN_FORMS:
            continue
        n = sum(per_label[(t, lab)] for lab in totals)
        tokens[t] = [round(float(np.log((per_label[(t, lab)] + LEX_SMOOTH * prior[lab]) / (n + LEX_SMOOTH))
                                 - np.log(prior[lab])), 3) for lab in _LEX_ROLES]
    return {"roles": ["key", "value", "header"], "min_forms": LEX_MIN_FORMS, "tokens": tokens}


# ---------------------------------------------------------------------------------------------
# gradient-boosted trees (scikit-learn to fit, exported to plain arrays for kv.predict)
# ---------------------------------------------------------------------------------------------
GBM = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 15, "l2_regularization": 1.0}


def fit_trees(x: np.ndarray, y: np.ndarray, n_out: int, *, seed: int = 0, **kw: Any) -> dict[str, Any]:
    """Fit a gradient-boosted tree ensemble and export it as :func:`kv.predict` reads it.

    ``n_out == 1``: binary ``y`` in {0, 1}; otherwise ``y`` are class indices ``0..n_out-1``.
    """
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as exc:  # pragma: no cover - a training-time tool
        raise SystemExit("training the key-value model needs scikit-learn (pip install scikit-learn)") from exc
    yi = y.astype(int)
    if n_out > 1:  # every class must be present for the export's class layout
        missing = [c for c in range(n_out) if not (yi == c).any()]
        if missing:
            x = np.vstack([x] + [x[:1]] * len(missing))
            yi = np.concatenate([yi, missing])
    clf = HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **(GBM | kw))
    clf.fit(x, yi)
    feature, threshold, left, right, value, roots, tree_class = [], [], [], [], [], [], []
    depth = 0
    for per_iter in clf._predictors:
        for c, tree in enumerate(per_iter):
            nodes = tree.nodes
            off = len(feature)
            roots.append(off)
            tree_class.append(c)
            for nd in nodes:
                leaf = bool(nd["is_leaf"])
                feature.append(-1 if leaf else int(nd["feature_idx"]))
                threshold.append(0 if leaf else float(nd["num_threshold"]))
                left.append(-1 if leaf else off + int(nd["left"]))
                right.append(-1 if leaf else off + int(nd["right"]))
                value.append(round(float(nd["value"]), 6) if leaf else 0)
                depth = max(depth, int(nd["depth"]))
    return {"n_out": n_out, "depth": depth, "baseline": np.ravel(clf._baseline_prediction).tolist(),
            "feature": feature, "threshold": threshold, "left": left, "right": right, "value": value,
            "roots": roots, "tree_class": tree_class}


def fit_logreg(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iters: int = 2000) -> dict[str, Any]:
    """Plain logistic regression (Newton steps) for the confidence calibration."""
    xa = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xa.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(xa @ w, -40, 40)))
        g = xa.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = xa.T @ (xa * (p * (1 - p))[:, None]) + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"w": w[:-1].tolist(), "b": float(w[-1])}


# ---------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------
_DEFAULT_THRESHOLDS = {"join": 0.5, "merge": 0.5, "key": 0.15, "link": 0.5, "second": 0.9,
                       "second_key": None}


class _Form:
    """One training page with its alignment."""

    def __init__(self, name: str, page: Page, form: list[dict[str, Any]]) -> None:
        self.name, self.page, self.form = name, page, form
        self.words, self.lines, self.blocks = kv._lines(page)
        self.ent = align(self.words, form)
        self.label = {e["id"]: e["label"] for e in form}
        self.links = gold_links(form)
        from extractors.evaluate import funsd_pairs

        self.pairs = [(p["question"], p["answer"]) for p in funsd_pairs(form)]


def _join_data(forms: list[_Form], lex: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in forms:
        x = kv.page_join_features(f.words, f.lines, lex)
        at = 0
        for ids in f.lines:
            for k in range(len(ids) - 1):
                a, b = f.ent[ids[k]], f.ent[ids[k + 1]]
                if a is not None and b is not None:
                    xs.append(x[at + k])
                    ys.append(float(a == b))
            at += max(0, len(ids) - 1)
    return np.asarray(xs), np.asarray(ys)


def _frags(f: _Form, model: dict[str, Any]) -> tuple[list[kv.Fragment], tuple[Any, ...]]:
    frags = kv._fragments(f.words, f.lines, model, f.blocks)
    return frags, kv._neighbours(frags)


def _role_y(f: _Form, fr: kv.Fragment) -> int:
    m = _majority(fr.ids, f.ent)
    return _ROLE_OF.get(f.label.get(m, "other"), kv._O) if m is not None else kv._O


def _med_h(f: _Form) -> float:
    return float(np.median([max(1.0, w.bbox[3] - w.bbox[1]) for w in f.words])) if f.words else 10.0


def _role_data(forms: list[_Form], model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in forms:
        if not f.words:
            continue
        frags, nb = _frags(f, model)
        xs.append(kv.role_features(frags, f.page, _med_h(f), nb, model.get("lexicon")))
        ys.extend(_role_y(f, fr) for fr in frags)
    return np.vstack(xs), np.asarray(ys)


def _with_roles(f: _Form, model: dict[str, Any]) -> tuple[list[kv.Fragment], tuple[Any, ...]]:
    frags, nb = _frags(f, model)
    probs = kv.fragment_roles(frags, f.page, _med_h(f), nb, model)
    for fr, p in zip(frags, probs, strict=True):
        fr.probs = p
    return frags, nb


def _merge_data(forms: list[_Form], model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in forms:
        if not f.words:
            continue
        frags, nb = _with_roles(f, model)
        pairs = kv.merge_candidates(frags, nb)
        if not pairs:
            continue
        xs.append(kv.merge_features(frags, pairs, nb))
        for i, j in pairs:
            a, b = _majority(frags[i].ids, f.ent), _majority(frags[j].ids, f.ent)
            ys.append(float(a is not None and a == b))
    return np.vstack(xs), np.asarray(ys)


def _link_data(forms: list[_Form], model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    xs, ys = [], []
    found = total = 0
    for f in forms:
        if not f.words:
            continue
        pp = kv.parse_page(f.page, model)
        maj = [_majority(e.ids, f.ent) for e in pp.entities]
        keys = [i for i, e in enumerate(pp.entities) if e.probs[kv._K] >= model["thresholds"]["key"]]
        rel = kv._relations(pp.entities)
        cands = kv.link_candidates(pp.entities, keys, rel)
        got = {(maj[k], maj[v]) for k, v, _ in cands}
        total += len(f.links)
        found += len(f.links & got)
        if not cands:
            continue
        xs.append(kv.link_features(pp.entities, cands, f.page.width, rel))
        ys.extend(float((maj[k], maj[v]) in f.links) for k, v, _ in cands)
    return np.vstack(xs), np.asarray(ys), found / max(1, total)


def _ser(p: dict[str, Any], features: tuple[str, ...]) -> dict[str, Any]:
    return {"features": list(features), **p}


def train(forms: list[_Form], thresholds: dict[str, float] | None = None, *,
          inner: int = 3, verbose: bool = True, lexicon: bool = False) -> dict[str, Any]:
    """Fit the four stages on ``forms``; returns the serialisable model.

    Each stage is fitted on what the earlier stages predict for forms they were *not* fitted on
    (``inner``-fold cross-fitting), so it learns from the kind of errors it will see at run time;
    likewise each fold's lexicon features come from a lexicon built on the other folds.
    """
    th = dict(_DEFAULT_THRESHOLDS, **(thresholds or {}))
    folds = [forms[i::inner] for i in range(inner)]
    final: dict[str, Any] = {}
    lex_raw = build_lexicon(forms) if lexicon else None
    fold_lex = [kv.lexicon_from_json(build_lexicon([f for j, fo in enumerate(folds) if j != i for f in fo]))
                if lexicon else None for i in range(inner)]
    crossfit: list[dict[str, Any]] = [{"lexicon": fold_lex[i]} for i in range(inner)]

    def live(stages: dict[str, Any]) -> dict[str, Any]:
        return {"thresholds": th, "calibration": None, **stages}

    lex_names = (kv.JOIN_LEX_FEATURES, kv.ROLE_LEX_FEATURES) if lexicon else ((), ())
    specs = (("join", 1, kv.JOIN_FEATURES + lex_names[0] + kv.JOIN_CTX_FEATURES),
             ("role", 4, kv.ROLE_FEATURES + lex_names[1]),
             ("merge", 1, kv.MERGE_FEATURES), ("link", 1, kv.LINK_FEATURES))
    for name, n_out, feats in specs:
        per_fold = []
        for i, fold in enumerate(folds):
            if name == "join":
                x, y = _join_data(fold, fold_lex[i])
            elif name == "role":
                x, y = _role_data(fold, live(crossfit[i]))
            elif name == "merge":
                x, y = _merge_data(fold, live(crossfit[i]))
            else:
                x, y, _ = _link_data(fold, live(crossfit[i]))
            per_fold.append((x, y))
        x_all = np.vstack([x for x, _ in per_fold])
        y_all = np.concatenate([y for _, y in per_fold])
        final[name] = _ser(fit_trees(x_all, y_all, n_out), feats)
        if name != "link":
            for i in range(inner):
                xs = np.vstack([x for j, (x, _) in enumerate(per_fold) if j != i])
                ys = np.concatenate([y for j, (_, y) in enumerate(per_fold) if j != i])
                crossfit[i][name] = kv.trees_from_json(_ser(fit_trees(xs, ys, n_out), feats))
        if verbose:
            extra = (np.bincount(y_all.astype(int), minlength=4).tolist() if n_out > 1
                     else f"{y_all.mean():.3f} positive")
            print(f"  {name}: {len(y_all)} examples, {extra}", file=sys.stderr)
    out = {"thresholds": th, "calibration": None, **final}
    if lex_raw is not None:
        out["lexicon"] = lex_raw
    return out


def as_model(raw: dict[str, Any]) -> dict[str, Any]:
    """The in-memory model :mod:`kv` uses, from the serialisable one."""
    out: dict[str, Any] = {"thresholds": raw["thresholds"], "calibration": raw.get("calibration"),
                           "lexicon": kv.lexicon_from_json(raw.get("lexicon"))}
    for name in ("join", "role", "merge", "link"):
        out[name] = kv.trees_from_json(raw[name])
    return out


# ---------------------------------------------------------------------------------------------
# cross-validation: link threshold, calibration, honest numbers
# ---------------------------------------------------------------------------------------------
_GRID = [round(0.05 * i, 2) for i in range(2, 19)]  # link thresholds 0.1 … 0.9


def _predict(f: _Form, model: dict[str, Any]) -> kv.PageParse:
    return kv.parse_page(f.page, model)


def _pairs_at(f: _Form, pp: kv.PageParse, model: dict[str, Any], thr: float, second: float | None,
              second_key: float | None = None) -> list[tuple[str, str, float, kv.Entity, kv.Entity]]:
    out = []
    for k, v, p in kv.select_links(pp, thr, second, second_key):
        ke, ve = pp.entities[k], pp.entities[v]
        key, val = kv.clean_key(ke.text), kv.clean_value(ve.text)
        if not re.search(r"[^\W\d_]", key) or not re.search(r"\w", val):
            continue
        out.append((key, val, p, ke, ve))
    return out


def cross_validate(forms: list[_Form], folds: int = 5, seed: int = 0, *, lexicon: bool = False,
                   table_cells: bool = False
                   ) -> tuple[dict[str, Any], list[tuple[kv.PageParse, _Form, dict[str, Any]]]]:
    """Held-out predictions of every form; returns the best thresholds and the predictions."""
    from extractors.evaluate import match_pairs, prf

    idx = list(range(len(forms)))
    random.Random(seed).shuffle(idx)
    held: list[tuple[kv.PageParse, _Form, dict[str, Any]]] = []
    for k in range(folds):
        test = set(idx[k::folds])
        tr = [forms[i] for i in idx if i not in test]
        model = as_model(train(tr, verbose=False, lexicon=lexicon))
        for i in sorted(test):
            held.append((_predict(forms[i], model), forms[i], model))
        print(f"  fold {k + 1}/{folds} done", file=sys.stderr, flush=True)
    best: tuple[float, float, float | None, float | None] = (-1.0, 0.5, None, None)
    for second_key in ((None, 0.3, 0.5) if table_cells else (None,)):
        for second in ((None, 0.3, 0.5, 0.7, 0.9) if table_cells else (None, 0.5, 0.7, 0.9)):
            for thr in _GRID:
                tp = npred = ngold = 0
                for pp, f, model in held:
                    pred = [(a, b) for a, b, *_ in _pairs_at(f, pp, model, thr, second, second_key)]
                    tp += len(match_pairs(pred, f.pairs))
                    npred += len(pred)
                    ngold += len(f.pairs)
                m = prf(tp, npred, ngold)
                if m["f1"] > best[0]:
                    best = (m["f1"], thr, second, second_key)
    print(f"  cross-validated best F1 {best[0]:.4f} at link ≥ {best[1]}, second ≥ {best[2]}, "
          f"second key ≥ {best[3]}", file=sys.stderr)
    return {"link": best[1], "second": best[2], "second_key": best[3]}, held


def calibration_data(held: list[tuple[kv.PageParse, _Form, dict[str, Any]]], thr: float,
                     second: float | None, second_key: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Calibration inputs of every chosen held-out pair and whether it matched a labelled pair."""
    from extractors.evaluate import match_pairs

    xs, ys = [], []
    for pp, f, model in held:
        pairs = _pairs_at(f, pp, model, thr, second, second_key)
        got = {i for i, _ in match_pairs([(a, b) for a, b, *_ in pairs], f.pairs)}
        for n, (_, _, p, ke, ve) in enumerate(pairs):
            xs.append(kv.calibration_inputs(p, ke, ve))
            ys.append(float(n in got))
    return np.asarray(xs), np.asarray(ys)


def report(held: list[tuple[kv.PageParse, _Form, dict[str, Any]]], thr: float, second: float | None,
           cal: dict[str, Any] | None, second_key: float | None = None) -> dict[str, Any]:
    """Cross-validated precision / recall / F1 and confidence buckets at the chosen thresholds."""
    from extractors.evaluate import match_pairs, prf

    tp = npred = ngold = 0
    conf: list[tuple[float, bool]] = []
    for pp, f, model in held:
        m = dict(model, calibration=cal)
        pairs = _pairs_at(f, pp, m, thr, second, second_key)
        got = {i for i, _ in match_pairs([(a, b) for a, b, *_ in pairs], f.pairs)}
        tp += len(got)
        npred += len(pairs)
        ngold += len(f.pairs)
        conf += [(kv.calibrate(m, p, ke, ve), n in got) for n, (_, _, p, ke, ve) in enumerate(pairs)]
    out: dict[str, Any] = prf(tp, npred, ngold) | {"tp": tp, "n_pred": npred, "n_gold": ngold}
    buckets = {}
    for lo, hi in ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01)):
        sel = [ok for c, ok in conf if lo <= c < hi]
        buckets[f"{lo}-{min(hi, 1.0)}"] = {"n": len(sel), "right": round(float(np.mean(sel)), 3) if sel else None}
    out["confidence"] = buckets
    return out


# ---------------------------------------------------------------------------------------------
# where labelled pairs are lost
# ---------------------------------------------------------------------------------------------
def _in_runs(texts: list[str], gold: str, max_words: int = 40) -> bool:
    """Some contiguous run of ``texts`` is within ANLS 0.8 of ``gold``."""
    from extractors.evaluate import PAIR_THRESHOLD, similarity

    for i in range(len(texts)):
        run = ""
        for j in range(i, min(len(texts), i + max_words)):
            run = f"{run} {texts[j]}".strip()
            if len(run) > 2 * len(gold) + 10:
                break
            if similarity(run, gold) >= PAIR_THRESHOLD:
                return True
    return False


def _read(texts: list[str], ent: list[int | None], eid: int, gold: str) -> bool:
    """The OCR read labelled entity ``eid`` (its aligned words, or some run of words)."""
    from extractors.evaluate import PAIR_THRESHOLD, similarity

    run = " ".join(t for t, e in zip(texts, ent, strict=True) if e == eid)
    return similarity(run, gold) >= PAIR_THRESHOLD or _in_runs(texts, gold)


def funnel(forms: list[_Form], model: dict[str, Any]) -> dict[str, Any]:
    """How many labelled pairs survive each step of the reader on ``forms``.

    ``ocr``: key and value text are both in the OCR words (a contiguous run of words in line order,
    or the words aligned to the entity, within ANLS 0.8); ``segmented``: of those, both sides are
    the text of one of our entities; ``roles``: of those, the key entity reads as a key and the
    value entity as a value (most probable role); ``candidate``: of those, the pair is among the
    scored link candidates; ``linked``: of those, the pair is selected. ``*_fan`` count the pairs
    whose key has several values (table columns). ``tp`` / ``n_pred`` are the usual matches.
    """
    from extractors.evaluate import PAIR_THRESHOLD, match_pairs, prf, similarity

    th = model["thresholds"]
    c = Counter()
    for f in forms:
        pp = kv.parse_page(f.page, model)
        ents = pp.entities
        texts = [w.text for w in f.words]
        by_id = {e["id"]: e for e in f.form}
        keys = [kv.clean_key(e.text) for e in ents]
        vals = [kv.clean_value(e.text) for e in ents]
        chosen = kv.select_links(pp, th["link"], th.get("second"), th.get("second_key"))
        picked = {(k, v) for k, v, _ in chosen}
        cands = {(k, v) for k, v, _ in pp.links}
        pred = [(a, b) for a, b, *_ in _pairs_at(f, pp, model, th["link"], th.get("second"),
                                                 th.get("second_key"))]
        c["tp"] += len(match_pairs(pred, f.pairs))
        c["n_pred"] += len(pred)
        n_vals = Counter(q for q, _ in f.links)
        for qid, aid in sorted(f.links):
            qt, at = by_id[qid]["text"], by_id[aid]["text"]
            fan = n_vals[qid] > 1
            c["pairs"] += 1
            c["pairs_fan"] += fan
            if not (_read(texts, f.ent, qid, qt) and _read(texts, f.ent, aid, at)):
                continue
            c["ocr"] += 1
            ks = [i for i, t in enumerate(keys) if similarity(t, qt) >= PAIR_THRESHOLD]
            vs = [i for i, t in enumerate(vals) if similarity(t, at) >= PAIR_THRESHOLD]
            if not (ks and vs):
                continue
            c["segmented"] += 1
            ks = [i for i in ks if int(np.argmax(ents[i].probs)) == kv._K]
            vs = [i for i in vs if int(np.argmax(ents[i].probs)) == kv._V]
            if not (ks and vs):
                continue
            c["roles"] += 1
            c["roles_fan"] += fan
            if not any((i, j) in cands for i in ks for j in vs):
                continue
            c["candidate"] += 1
            if any((i, j) in picked for i in ks for j in vs):
                c["linked"] += 1
                c["linked_fan"] += fan
    steps = ("pairs", "ocr", "segmented", "roles", "candidate", "linked", "pairs_fan", "roles_fan",
             "linked_fan", "tp", "n_pred")
    return {k: c[k] for k in steps} | prf(c["tp"], c["n_pred"], c["pairs"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="FUNSD-layout folder (training_data/annotations, images)")
    ap.add_argument("--out", type=Path, default=kv.MODEL_PATH)
    ap.add_argument("--docs-cache", type=Path, default=None, help="keep the OCR'd Documents here")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-cv", action="store_true", help="skip cross-validation (default thresholds)")
    ap.add_argument("--lexicon", action="store_true",
                    help="add the token lexicon features to join and role (see kv.lex_scores)")
    ap.add_argument("--second-key", action="store_true",
                    help="also choose a second-key threshold for table cells (see kv.select_links)")
    ap.add_argument("--funnel", action="store_true",
                    help="train on two thirds of the forms, print where the other third's labelled "
                         "pairs are lost (see funnel) and exit; writes no model")
    args = ap.parse_args(argv)
    if args.dataset.resolve().name == "funsd":
        ap.error("funsd/ is the measurement set; train on funsd_train/")
    np.seterr(over="ignore")
    data = load_forms(args.dataset, args.docs_cache)
    forms = [_Form(name, doc.pages[0], form) for name, doc, form in data if doc.pages]
    if args.funnel:
        fit = as_model(train([f for i, f in enumerate(forms) if i % 3], verbose=False, lexicon=args.lexicon))
        print(json.dumps(funnel(forms[::3], fit), indent=1))
        return 0
    th: dict[str, Any] = {}
    cal = cv = None
    if not args.no_cv:
        th, held = cross_validate(forms, args.folds, lexicon=args.lexicon,
                                   table_cells=args.second_key)
        x, y = calibration_data(held, th["link"], th["second"], th["second_key"])
        cal = fit_logreg(x, y)
        cv = report(held, th["link"], th["second"], cal, th["second_key"])
        print(json.dumps({"cross_validated": cv}, indent=1), file=sys.stderr)
    raw = train(forms, th, lexicon=args.lexicon)
    raw["calibration"] = cal
    if cv is not None:
        raw["cross_validated"] = {k: cv[k] for k in ("precision", "recall", "f1", "tp", "n_pred", "n_gold")}
    raw["trained_on"] = {"dataset": "FUNSD training forms (funsd_train, 99 forms)",
                         "licence": "FUNSD terms of use: non-commercial research/education only",
                         "script": "extractors/fields/train_kv.py"}
    for name in ("join", "role", "merge", "link"):  # 7 significant digits are plenty on disk
        raw[name]["threshold"] = [float(f"{t:.7g}") for t in raw[name]["threshold"]]
    args.out.write_text(json.dumps(raw, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
