"""Preflight: cheap checks before any parsing or rendering.

Order (cheapest first): regular file → size → magic bytes → sha256 → page count, encryption and
page sizes (read from the PDF catalogue or image header; nothing is rendered or decoded).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from extractors.errors import InputRejected
from extractors.settings import Settings

__all__ = ["IMAGE_FORMATS", "Preflight", "preflight", "sha256_file", "sniff_type"]

IMAGE_FORMATS: dict[str, str] = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/tiff": "TIFF",
    "image/gif": "GIF",
}
"""Allow-list of image types (media type → Pillow format name). Nothing else is decoded."""


@dataclass(frozen=True)
class Preflight:
    """What preflight learned about a file (no document content)."""

    path: Path
    size: int
    sha256: str
    media_type: str
    n_pages: int
    page_sizes_pt: list[tuple[float, float]] = field(default_factory=list)
    """PDF page sizes in points (PDFs) or pixel sizes (images) — read before rendering."""
    encrypted: bool = False
    """True for owner-password-only PDFs (opened read-only, see README policy)."""
    warnings: tuple[str, ...] = ()


def sniff_type(head: bytes) -> str | None:
    """Media type from magic bytes (never from the file name)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Streamed sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_regular(path: Path) -> os.stat_result:
    try:
        st = os.lstat(path)
    except FileNotFoundError as exc:
        raise InputRejected("file not found", reason="not_found", stage="preflight") from exc
    except OSError as exc:
        raise InputRejected("file cannot be read", reason="unreadable", stage="preflight") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputRejected("not a regular file", reason="not_a_file", stage="preflight")
    return st


def preflight(path: str | Path, settings: Settings | None = None) -> Preflight:
    """Check one input cheaply and describe it.

    Raises:
        InputRejected: with reason ``empty_file``, ``file_too_large``, ``unsupported_type``,
            ``corrupt_pdf``, ``encrypted``, ``too_many_pages``, ``image_too_large``,
            ``corrupt_image``, ``not_a_file`` or ``unreadable``.
    """
    settings = settings or Settings()
    path = Path(path)
    st = _check_regular(path)
    if st.st_size == 0:
        raise InputRejected("the file is empty", reason="empty_file", stage="preflight")
    if st.st_size > settings.max_file_bytes:
        raise InputRejected(
            f"file is {st.st_size} bytes, over max_file_bytes={settings.max_file_bytes}",
            reason="file_too_large", stage="preflight",
        )
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise InputRejected("file cannot be read", reason="unreadable", stage="preflight") from exc
    media_type = sniff_type(head)
    if media_type is None:
        raise InputRejected(
            "not a PDF, PNG, JPEG, TIFF or GIF (type read from the file's bytes, not its name)",
            reason="unsupported_type", stage="preflight",
        )
    digest = sha256_file(path)
    if media_type == "application/pdf":
        return _pdf(path, st.st_size, digest, settings)
    return _image(path, st.st_size, digest, media_type, settings)


def _pdf_structure(path: Path, size: int) -> tuple[bool, bool]:
    """``(complete, xref_ok)`` from the file's tail: a PDF cut short has no ``%%EOF`` near its end;
    a ``startxref`` offset that does not point at an xref table/stream means repairable damage."""
    import re

    with open(path, "rb") as f:
        f.seek(max(0, size - 8192))
        tail = f.read()
        complete = b"%%EOF" in tail
        xrefs = re.findall(rb"startxref\s+(\d+)", tail)
        if not xrefs:
            return complete, False
        offset = int(xrefs[-1])  # the last one
        if offset >= size:
            return complete, False
        f.seek(offset)
        head = f.read(64).lstrip()
    return complete, head.startswith(b"xref") or bool(re.match(rb"\d+\s+\d+\s+obj", head))


PDFIUM_LOCK = threading.RLock()
"""Serialises every pdfium call of this process: PDFium is not thread-safe, and documents are read
in threads (``--isolation none``, ``docai eval``). Never held while OCR runs."""


def _pdf(path: Path, size: int, digest: str, settings: Settings) -> Preflight:
    import pypdfium2 as pdfium

    complete, xref_ok = _pdf_structure(path, size)
    if not complete:
        raise InputRejected("the PDF is truncated (no end-of-file marker)", reason="corrupt_pdf",
                            stage="preflight")

    with PDFIUM_LOCK:  # pdfium is not thread-safe: one call at a time per process
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
                raise InputRejected(
                    "the PDF is encrypted with a user password; decrypt it first "
                    "(e.g. `qpdf --password=PASSWORD --decrypt in.pdf out.pdf`) and run again",
                    reason="encrypted", stage="preflight",
                ) from exc
            raise InputRejected("the PDF cannot be parsed", reason="corrupt_pdf", stage="preflight") from exc
        try:
            n = len(pdf)
            if n == 0:
                raise InputRejected("the PDF has no pages", reason="corrupt_pdf", stage="preflight")
            if n > settings.max_pages:
                raise InputRejected(
                    f"{n} pages, over max_pages={settings.max_pages}",
                    reason="too_many_pages", stage="preflight",
                )
            sizes = [tuple(pdf.get_page_size(i)) for i in range(n)]
            encrypted = bool(pdfium.raw.FPDF_GetSecurityHandlerRevision(pdf.raw) >= 0)
        finally:
            pdf.close()
    warnings = () if xref_ok else ("repaired",)
    return Preflight(path, size, digest, "application/pdf", n, sizes,  # type: ignore[arg-type]
                     encrypted, warnings)


def _image(path: Path, size: int, digest: str, media_type: str, settings: Settings) -> Preflight:
    from PIL import Image, UnidentifiedImageError

    fmt = IMAGE_FORMATS[media_type]
    try:
        with Image.open(path, formats=[fmt]) as im:  # header only: no pixel is decoded here
            w, h = im.size
            if w * h > settings.max_page_pixels:
                raise InputRejected(
                    f"{w}x{h} pixels, over max_page_pixels={settings.max_page_pixels}",
                    reason="image_too_large", stage="preflight",
                )
            n = int(getattr(im, "n_frames", 1) or 1)
    except InputRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise InputRejected("image exceeds the pixel limit", reason="image_too_large",
                            stage="preflight") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputRejected("the image cannot be read", reason="corrupt_image",
                            stage="preflight") from exc
    if n > settings.max_pages:
        raise InputRejected(f"{n} frames, over max_pages={settings.max_pages}",
                            reason="too_many_pages", stage="preflight")
    return Preflight(path, size, digest, media_type, n, [(float(w), float(h))])
