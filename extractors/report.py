"""The ``docai eval --report DIR`` page: one self-contained ``index.html`` (PNGs inlined as base64).

It shows the headline numbers, per-field accuracy bars, a reliability diagram of field
confidences, and the worst documents with their first page: predicted boxes in blue, expected
boxes (where the labels locate them) in orange, and a predicted-vs-expected table.

matplotlib (the ``report`` extra) draws the charts with the Agg backend; without it the page still
has the tables and the page images (Pillow).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractors.evaluate import DocResult, Example, expected_boxes
from extractors.fsutil import atomic_write_text

if TYPE_CHECKING:
    from PIL import Image

    from schemas.record import Record

__all__ = ["accuracy_chart", "page_png", "reliability_chart", "write_report"]

PRED_COLOR = (0, 80, 255)  # blue
GOLD_COLOR = (255, 127, 14)  # orange
MAX_WIDTH = 760
MAX_HEIGHT = 1400


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _fig_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def accuracy_chart(summary: dict[str, Any]) -> bytes | None:
    """Horizontal bars: exact-match accuracy per field (ANLS as a tick), then the other measures."""
    plt = _pyplot()
    if plt is None:
        return None
    names: list[str] = []
    exact: list[float] = []
    anls: list[float | None] = []
    for name, d in summary.get("fields", {}).items():
        names.append(f"{name} (n={d['n']})")
        exact.append(d["exact"])
        anls.append(d["anls"])
    ov = summary.get("overall", {})
    if ov.get("n"):
        names.append(f"all fields (n={ov['n']})")
        exact.append(ov["exact"])
        anls.append(ov["anls"])
    if summary.get("doc_type", {}).get("accuracy") is not None:
        names.append(f"doc type (n={summary['doc_type']['n']})")
        exact.append(summary["doc_type"]["accuracy"])
        anls.append(None)
    for key, label in (("key_values", "key-value F1"), ("line_items", "line-item F1")):
        if summary.get(key):
            names.append(f"{label} (docs={summary[key]['docs']})")
            exact.append(summary[key]["f1"])
            anls.append(None)
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(names) + 1.0))
    ys = list(range(len(names)))[::-1]
    colors = ["#2ca02c" if v >= 0.95 else "#ff7f0e" if v >= 0.8 else "#d62728" for v in exact]
    ax.barh(ys, exact, color=colors, height=0.6)
    for y, v, a in zip(ys, exact, anls, strict=True):
        ax.text(min(max(v, a or 0.0), 1.0) + 0.015, y, f"{100 * v:.1f}%", va="center", fontsize=8)
        if a is not None:
            ax.plot([a, a], [y - 0.3, y + 0.3], color="black", lw=1.5)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("exact-match accuracy (bars) · mean ANLS (black ticks)")
    ax.grid(axis="x", alpha=0.3)
    return _fig_png(fig)


def reliability_chart(calibration: dict[str, Any]) -> bytes | None:
    """Reliability diagram: accuracy per confidence bin against the diagonal, counts below."""
    plt = _pyplot()
    if plt is None or not calibration or not calibration.get("n"):
        return None
    bins = calibration["bins"]
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(5.5, 5.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    width = bins[0]["hi"] - bins[0]["lo"]
    xs = [b["lo"] + width / 2 for b in bins]
    acc = [b["accuracy"] if b["accuracy"] is not None else 0.0 for b in bins]
    ax.bar(xs, acc, width=width * 0.9, color="#1f77b4", edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    conf = [(x, b["mean_confidence"]) for x, b in zip(xs, bins, strict=True) if b["n"]]
    ax.plot([c[0] for c in conf], [c[1] for c in conf], "o", color="#ff7f0e", ms=4,
            label="mean confidence")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ece = calibration.get("ece")
    ax.set_title(f"field confidence reliability (n={calibration['n']}, ECE={ece})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    axn.bar(xs, [b["n"] for b in bins], width=width * 0.9, color="#7f7f7f")
    axn.set_ylabel("fields")
    axn.set_xlabel("confidence")
    axn.set_xlim(0, 1)
    return _fig_png(fig)


def _first_page(path: Path) -> Image.Image | None:
    from PIL import Image

    try:
        with open(path, "rb") as f:
            head = f.read(1024)
        if b"%PDF-" in head:
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(str(path))
            try:
                page = pdf[0]
                w, _ = page.get_size()
                img = page.render(scale=min(1.5, MAX_WIDTH / max(w, 1.0))).to_pil()
                page.close()
            finally:
                pdf.close()
            return img.convert("RGB")
        from PIL import ImageOps

        with Image.open(path) as im:
            im.seek(0)
            return ImageOps.exif_transpose(im).convert("RGB")
    except Exception:  # the report shows what it can
        return None


def page_png(example: Example, record: Record | None) -> bytes | None:
    """First page with predicted (blue) and expected (orange) boxes, scaled to ≤ 760×1400 px."""
    from PIL import ImageDraw

    img = _first_page(example.path)
    if img is None:
        return None
    W, H = img.size
    draw = ImageDraw.Draw(img)
    scale = min(1.0, MAX_WIDTH / W, MAX_HEIGHT / H)
    lw = max(2, round(2.5 / scale))  # about 2–3 px once scaled down

    def norm(box: Sequence[float]) -> tuple[float, float, float, float]:
        return (box[0] * W / 1000, box[1] * H / 1000, box[2] * W / 1000, box[3] * H / 1000)

    # Pixel boxes from labels refer to the image's own pixels; 0–1000 boxes to the page.
    for gb in expected_boxes(example):
        if gb.page != 1:
            continue
        box = norm(gb.box) if gb.unit == "norm" else gb.box
        draw.rectangle(box, outline=GOLD_COLOR, width=lw)
    if record is not None:
        for name, f in record.fields.items():
            if f.bbox and (f.page or 1) == 1 and name in (example.fields or record.fields):
                draw.rectangle(norm(f.bbox), outline=PRED_COLOR, width=lw + 1)
        for kv in record.key_values if example.kv_pairs is not None else []:
            if (kv.page or 1) != 1:
                continue
            for b in (kv.key_bbox, kv.value_bbox):
                if b:
                    draw.rectangle(norm(b), outline=PRED_COLOR, width=lw)
    from PIL import Image as PILImage

    if scale < 1.0:
        img = img.resize((max(1, int(W * scale)), max(1, int(H * scale))),
                         PILImage.Resampling.LANCZOS)
    # 64 colours keep scanned photos small enough to inline (boxes stay crisp)
    img = img.quantize(colors=64, method=PILImage.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5} .ok{color:#2ca02c;font-weight:600} .bad{color:#d62728;font-weight:600}
.pred{color:rgb(31,119,180)} .gold{color:rgb(255,127,14)} .doc{display:flex;gap:20px;align-items:flex-start}
.doc img{border:1px solid #ccc;max-width:760px;flex:none} .muted{color:#777} code{background:#f5f5f5;padding:0 3px}
"""


def _e(v: Any) -> str:
    return html.escape("—" if v is None else str(v))


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _headline(summary: dict[str, Any]) -> str:
    rows = [("documents", summary["n_docs"]),
            ("status", ", ".join(f"{k}: {v}" for k, v in summary.get("status", {}).items()))]
    ov = summary.get("overall", {})
    if ov.get("n"):
        rows.append(("fields exact (micro)", f"{_pct(ov['exact'])} of {ov['n']}"))
        rows.append(("fields mean ANLS", f"{ov['anls']:.4f}"))
    dt = summary.get("doc_type", {})
    if dt.get("n"):
        rows.append(("doc type accuracy", f"{_pct(dt['accuracy'])} of {dt['n']}"
                     + (f" (errors: {dt['errors']})" if dt.get("errors") else "")))
    for key, label in (("key_values", "key-value pairs"), ("line_items", "line items")):
        m = summary.get(key)
        if m:
            rows.append((label, f"P {m['precision']:.3f} · R {m['recall']:.3f} · F1 {m['f1']:.3f} "
                                f"(tp {m['tp']}, predicted {m['n_pred']}, labelled {m['n_gold']})"))
    kvc = summary.get("kv_calibration") or {}
    if kvc.get("n"):
        rows.append(("key-value confidence ≥ 0.9 / < 0.5",
                     f"{_pct(kvc['high']['accuracy'])} matched (n={kvc['high']['n']}) / "
                     f"{_pct(kvc['low']['accuracy'])} matched (n={kvc['low']['n']})"))
    cal = summary.get("calibration", {})
    if cal.get("n"):
        hi, lo = cal["high"], cal["low"]
        rows.append(("confidence ≥ 0.9", f"{_pct(hi['accuracy'])} right (n={hi['n']})"))
        rows.append(("confidence < 0.5", f"{_pct(lo['accuracy'])} right (n={lo['n']})"))
        rows.append((f"threshold for ≥ {cal['target']:.0%}",
                     f"{_e(cal['threshold_for_target'])} (covers {_pct(cal['coverage_at_threshold'])})"))
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _field_table(summary: dict[str, Any]) -> str:
    out = ["<table><tr><th>field</th><th>n</th><th>exact</th><th>ANLS</th><th>predicted</th></tr>"]
    for name, d in summary.get("fields", {}).items():
        out.append(f"<tr><td>{_e(name)}</td><td>{d['n']}</td><td>{_pct(d['exact'])}</td>"
                   f"<td>{d['anls']:.4f}</td><td>{_pct(d['predicted'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _calibration_table(cal: dict[str, Any]) -> str:
    out = ["<table><tr><th>confidence</th><th>fields</th><th>mean confidence</th><th>accuracy</th></tr>"]
    for b in cal.get("bins", []):
        out.append(f"<tr><td>{b['lo']:.1f}–{b['hi']:.1f}</td><td>{b['n']}</td>"
                   f"<td>{_e(b['mean_confidence'])}</td><td>{_pct(b['accuracy'])}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _doc_section(result: DocResult, example: Example | None, record: Record | None) -> str:
    parts = [f"<h3>{_e(result.id)} <span class='muted'>({_e(result.file)}) score "
             f"{result.score:.2f} · {_e(result.status)}</span></h3>"]
    dt_ok = result.expected_doc_type in (None, result.predicted_doc_type)
    parts.append(f"<p>doc type: expected <b>{_e(result.expected_doc_type)}</b>, predicted "
                 f"<span class='{'ok' if dt_ok else 'bad'}'>{_e(result.predicted_doc_type)}</span> "
                 f"({_e(result.doc_type_confidence)})</p>")
    table = ["<table><tr><th>field</th><th class='gold'>expected</th><th class='pred'>predicted</th>"
             "<th>confidence</th><th>ANLS</th><th></th></tr>"]
    for f in result.fields:
        mark = "<span class='ok'>✓</span>" if f.exact else "<span class='bad'>✗</span>"
        table.append(f"<tr><td>{_e(f.name)}</td><td>{_e(f.expected)}</td><td>{_e(f.predicted)}</td>"
                     f"<td>{_e(f.confidence)}</td><td>{f.anls:.2f}</td><td>{mark}</td></tr>")
    table.append("</table>")
    if result.kv is not None:
        table.append(f"<p>key-value pairs: {result.kv['tp']} matched, {result.kv['n_pred']} predicted, "
                     f"{result.kv['n_gold']} labelled</p>")
        if result.kv_unmatched_gold:
            table.append("<table><tr><th colspan=2 class='gold'>labelled, not found (first 15)</th></tr>")
            for k, v in result.kv_unmatched_gold[:15]:
                table.append(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>")
            table.append("</table>")
        if result.kv_unmatched_pred:
            table.append("<table><tr><th colspan=2 class='pred'>predicted, not labelled (first 15)</th></tr>")
            for k, v in result.kv_unmatched_pred[:15]:
                table.append(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>")
            table.append("</table>")
    if result.line_items is not None:
        li = result.line_items
        table.append(f"<p>line items: {li['tp']} matched, {li['n_pred']} predicted, "
                     f"{li['n_gold']} labelled</p>")
    img = page_png(example, record) if example is not None else None
    pic = (f"<img alt='page 1' src='data:image/png;base64,{_b64(img)}'>" if img
           else "<p class='muted'>no page image</p>")
    parts.append(f"<div class='doc'><div>{pic}</div><div>{''.join(table)}</div></div>")
    return "".join(parts)


def write_report(
    out_dir: str | Path,
    summary: dict[str, Any],
    results: Sequence[DocResult],
    *,
    examples: dict[str, Example] | None = None,
    records: dict[str, Record] | None = None,
    title: str = "docai eval",
    worst: int = 10,
) -> Path:
    """Write ``out_dir/index.html`` and return its path.

    Args:
        out_dir: folder to write into (created).
        summary: :func:`extractors.evaluate.summarize` output.
        results: every document's :class:`~extractors.evaluate.DocResult`.
        examples: labelled examples by id (for page images and expected boxes).
        records: pipeline records by example id (for predicted boxes).
        title: page heading (e.g. the dataset folder).
        worst: how many of the worst documents to show.

    Raises:
        OutputError: the folder cannot be written.
    """
    examples = examples or {}
    records = records or {}
    body = [f"<h1>{_e(title)}</h1>", _headline(summary)]
    chart = accuracy_chart(summary)
    body.append("<h2>Accuracy per field</h2>")
    if chart:
        body.append(f"<img alt='accuracy per field' src='data:image/png;base64,{_b64(chart)}'>")
    body.append(_field_table(summary))
    cal = summary.get("calibration", {})
    body.append("<h2>Confidence calibration</h2>")
    rel = reliability_chart(cal)
    if rel:
        body.append(f"<img alt='reliability diagram' src='data:image/png;base64,{_b64(rel)}'>")
    if cal.get("n"):
        body.append(_calibration_table(cal))
    else:
        body.append("<p class='muted'>no predicted fields with a confidence</p>")
    ranked = sorted((r for r in results if r.score < 1.0), key=lambda r: (r.score, r.id))[:worst]
    body.append(f"<h2>Worst documents ({len(ranked)})</h2>"
                "<p><span class='pred'>■ predicted</span> · <span class='gold'>■ expected</span> "
                "boxes on page 1</p>")
    for r in ranked:
        body.append(_doc_section(r, examples.get(r.id), records.get(r.id)))
    page = ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    out = Path(out_dir) / "index.html"
    atomic_write_text(out, page)
    with contextlib.suppress(OSError):
        out.chmod(0o644)  # a report is meant to be opened and shared
    return out
