"""One error family and the one place that maps exceptions to outcomes and exit codes.

Every error derives from :class:`DocaiError` (an ``Exception``, never ``BaseException``) and carries
a machine-readable ``reason`` and the CLI ``exit_code``. Messages never contain document text.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DependencyMissing",
    "DocaiError",
    "ExitCode",
    "InputRejected",
    "OutputError",
    "PageError",
    "TransientError",
    "UsageError",
    "outcome_for",
]


class ExitCode(IntEnum):
    """Documented exit codes of the ``docai`` CLI."""

    OK = 0
    USAGE = 2  # bad arguments or settings (typer/click also uses 2)
    INPUT_ISSUES = 3  # batch finished, but some inputs were rejected or failed
    MISSING_DEPENDENCY = 4  # tesseract / language data / model weights missing
    OUTPUT_ERROR = 5  # cannot write the output folder
    OTHER = 15
    INTERRUPTED = 130


class DocaiError(Exception):
    """Base of all docai errors: ``reason`` is a stable code, ``message`` is PII-free."""

    reason: str = "error"
    exit_code: ExitCode = ExitCode.OTHER
    retryable: bool = False

    def __init__(self, message: str = "", *, reason: str | None = None, stage: str | None = None):
        super().__init__(message or self.__class__.__doc__ or self.reason)
        if reason is not None:
            self.reason = reason
        self.message = message or (self.__class__.__doc__ or self.reason).strip()
        self.stage = stage


class InputRejected(DocaiError):
    """The input itself is bad (empty, unsupported, corrupt, encrypted, too large): quarantined, never retried."""

    reason = "rejected"
    exit_code = ExitCode.INPUT_ISSUES


class TransientError(DocaiError):
    """A failure that may pass on retry (a busy resource, a killed worker)."""

    reason = "transient"
    exit_code = ExitCode.INPUT_ISSUES
    retryable = True


class PageError(DocaiError):
    """One page could not be rendered or OCR'd (``render_failed``, ``ocr_timeout``, ``ocr_failed``)."""

    reason = "page_failed"
    exit_code = ExitCode.INPUT_ISSUES


class DependencyMissing(DocaiError):
    """A program, language model or model weights the run needs are not installed."""

    reason = "dependency_missing"
    exit_code = ExitCode.MISSING_DEPENDENCY


class OutputError(DocaiError):
    """The output folder cannot be written."""

    reason = "output_error"
    exit_code = ExitCode.OUTPUT_ERROR


class UsageError(DocaiError):
    """Bad arguments or settings."""

    reason = "usage"
    exit_code = ExitCode.USAGE


def outcome_for(exc: BaseException) -> tuple[str, str, str]:
    """Map any exception to ``(status, reason, message)`` for a record — the one mapping.

    Unknown exceptions become ``failed``/``internal_error`` with the exception type only
    (never its message, which may quote document text).
    """
    if isinstance(exc, InputRejected):
        return "rejected", exc.reason, exc.message
    if isinstance(exc, DocaiError):
        return "failed", exc.reason, exc.message
    try:
        from PIL import Image

        if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
            return "rejected", "image_too_large", "image exceeds the pixel limit (max_page_pixels)"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, MemoryError):
        return "failed", "out_of_memory", "ran out of memory"
    if isinstance(exc, TimeoutError):
        return "failed", "timeout", "timed out"
    return "failed", "internal_error", f"unexpected {type(exc).__name__}"
