"""Generators for the bad-input catalogue (../shared/bad_inputs.md) and the five invariants.

Every input is generated here — nothing is downloaded and no binary is committed.
"""

from __future__ import annotations

import io
import logging
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extractors.settings import Settings
from schemas.record import Record
from tests.conftest import make_text_pdf

SENTINEL = "ZQXJ-PII-4242-SENTINEL"
"""Planted in documents; must never appear in logs, error messages or quarantine sidecars."""

GOOD_LINES = [
    (72, 60, "Sentinel Trading GmbH"),
    (72, 76, f"Contact {SENTINEL}"),
    (350, 120, "INVOICE"),
    (350, 140, "Invoice No: INV-77"),
    (350, 156, "Invoice Date: 14/03/2024"),
    (400, 372, "Total"), (490, 372, "60.00 EUR"),
]


def pdf_bytes(lines: list[tuple[float, float, str]] | None = None, pages: int = 1) -> bytes:
    """A small native-text PDF (with the sentinel by default)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = make_text_pdf(Path(d) / "x.pdf", lines or GOOD_LINES, pages=pages)
        return p.read_bytes()


def raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """Assemble a PDF from object bodies (numbered from 1) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, root, xref))
    return out.getvalue()


def page_bomb_pdf(n: int) -> bytes:
    """``n`` pages that all reference one page object (tiny file, huge page count)."""
    kids = b" ".join(b"3 0 R" for _ in range(n))
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ])


def giant_page_pdf(size_pt: int = 14400) -> bytes:
    """One blank page of ``size_pt`` square points (no text layer: it would have to be rendered)."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] >>" % (size_pt, size_pt),
    ])


def active_content_pdf() -> bytes:
    """JavaScript /OpenAction and an embedded file, plus a visible text line."""
    content = b"BT /F1 14 Tf 72 700 Td (Invoice No: ACT-1 Total 12.00 EUR) Tj ET"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R /Names << /EmbeddedFiles << /Names "
        b"[(evil.exe) 7 0 R] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /S /JavaScript /JS (app.alert\\('pwned'\\);) >>",
        b"<< /Type /Filespec /F (evil.exe) /EF << /F 8 0 R >> >>",
        b"<< /Type /EmbeddedFile /Length 4 >>\nstream\nMZ\x90\x00\nendstream",
    ])


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width``×``height`` zeros: a few hundred KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@dataclass
class BatchRun:
    """One batch over an inbox: its records, logs and the files it wrote."""

    records: dict[str, Record]
    by_source: dict[str, Record]
    logs: str
    written: set[Path]
    out: Path
    seconds: float
    result: object = None
    extra: dict = field(default_factory=dict)


def _snapshot(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.fixture
def run_batch_case(tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
                   ) -> Callable[..., BatchRun]:
    """Put ``files`` (name → bytes or a callable(path)) and one good invoice into an inbox, run a
    batch, and check the five invariants. Returns what happened for case-specific assertions."""

    def run(files: dict[str, bytes | Callable[[Path], None]], *, settings: Settings | None = None,
            budget_s: float = 60.0, pipeline_kwargs: dict | None = None,
            expect_good: bool = True) -> BatchRun:
        from extractors.pipeline import Pipeline
        from flows import process as proc

        inbox, out = tmp_path / "inbox", tmp_path / "out"
        inbox.mkdir(exist_ok=True)
        (inbox / "good_invoice.pdf").write_bytes(pdf_bytes())
        for name, content in files.items():
            p = inbox / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if callable(content):
                content(p)
            else:
                p.write_bytes(content)
        before = _snapshot(tmp_path)
        s = settings or Settings(workers=1)
        caplog.set_level(logging.DEBUG)
        if pipeline_kwargs:
            proc._PIPELINES[s.model_dump_json()] = Pipeline(s, **pipeline_kwargs)
        t0 = time.monotonic()
        try:
            result = proc.run_batch([inbox], out, s)
        finally:
            proc._PIPELINES.pop(s.model_dump_json(), None)
        seconds = time.monotonic() - t0
        captured = capsys.readouterr()
        logs = caplog.text + captured.out + captured.err
        after = _snapshot(tmp_path)
        written = {p for p, m in after.items() if before.get(p) != m}
        run_ = BatchRun(records={}, by_source={r.source: r for r in result.records}, logs=logs,
                        written=written, out=out, seconds=seconds, result=result)
        for r in result.records:
            run_.records[r.sha256 or r.source] = r
        check_invariants(run_, tmp_path, budget_s, expect_good)
        return run_

    return run


def check_invariants(run: BatchRun, tmp: Path, budget_s: float, expect_good: bool) -> None:
    """I1–I5 of the catalogue."""
    # I1: the batch went on — the good invoice next to the bad input was processed
    good = run.by_source.get("good_invoice.pdf")
    if expect_good:
        assert good is not None and good.status.value in ("ok", "needs_review"), good
        assert good.fields.get("invoice_id") and good.fields["invoice_id"].value == "INV-77"
    # I2: nothing written outside the output folder; no temp files left anywhere
    outside = [p for p in run.written if not p.is_relative_to(run.out)]
    assert not outside, outside
    assert not [p for p in tmp.rglob("*") if p.name.endswith(".tmp")]
    # I3: the sentinel never reaches logs, messages or sidecars
    assert SENTINEL not in run.logs
    for r in run.by_source.values():
        assert SENTINEL not in (r.message or "")
        assert all(SENTINEL not in e.message for e in r.errors)
    for side in (run.out / "quarantine").rglob("*.json") if (run.out / "quarantine").exists() else []:
        assert SENTINEL not in side.read_text(encoding="utf-8", errors="replace")
    # I4: exactly one terminal record per sha256 in the ledger
    lines = (run.out / "ledger.jsonl").read_text(encoding="utf-8").splitlines() if (
        run.out / "ledger.jsonl").exists() else []
    keys = [Record.model_validate_json(x).sha256 or Record.model_validate_json(x).source
            for x in lines if x.strip()]
    assert len(keys) == len(set(keys)), "duplicate ledger records"
    # I5: within the budget
    assert run.seconds < budget_s, f"took {run.seconds:.1f}s"
