"""The one settings model, shared by the CLI and the Python API (env prefix ``DOCAI_``)."""

from __future__ import annotations

import hashlib
import json
import os

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PIPELINE_VERSION", "Settings"]

PIPELINE_VERSION = "0.1.0"
"""Bumped whenever outputs for the same input may change; a bump reprocesses ledger entries."""


class Settings(BaseSettings):
    """Every knob of a run. Limits are checked before the expensive work.

    >>> Settings(dpi=200).dpi
    200
    """

    model_config = SettingsConfigDict(env_prefix="DOCAI_", extra="forbid", validate_assignment=True)

    # engines
    ocr_engine: str = Field("auto", description="auto: RapidOCR for receipt-shaped pages when "
                            "installed, Tesseract otherwise; or tesseract, rapidocr")
    classify_engine: str = "rules"
    extract_engine: str = "rules"
    qa_engine: str = "rules"
    model: str | None = Field(None, description="hub id or local dir for model engines")
    classify_model: str | None = None
    qa_model: str | None = None
    # "I don't know" for the model QA engines (README "Asking questions"); the rules engine has its own
    qa_null_threshold: float = Field(0.0, allow_inf_nan=False, description="extractive QA models "
                                     "(layoutlmv3, layoutlm, lilt): answer null when log p(no answer) - "
                                     "log p(best span) exceeds this margin (SQuAD 2.0's "
                                     "null_score_diff_threshold); raise it to answer more, lower it to "
                                     "abstain more")
    qa_min_confidence: float = Field(0.3, ge=0.0, le=1.0, description="donut QA: a generated answer "
                                     "whose sequence confidence is below this is null")
    device: str = "cpu"
    batch_size: int = Field(8, ge=1)
    precision: str = Field("auto", pattern="^(auto|fp32|fp16|bf16)$",
                           description="model dtype on CUDA: auto (bf16, else fp16), fp32, fp16, bf16")

    # OCR / rendering
    lang: str = Field("auto", description="Tesseract language(s): 'auto' (every one of eng, deu "
                      "and fra that is installed, read in one pass) or an explicit 'eng', 'eng+deu' …")
    dpi: int = Field(300, ge=50, le=1200)
    psm: int | None = Field(None, ge=0, le=13, description="tesseract page segmentation mode")
    tessdata_dir: str | None = None
    tesseract_backend: str = Field("auto", pattern="^(auto|tesserocr|cli)$",
                                   description="how Tesseract runs: 'tesserocr' in-process (the "
                                   "tesserocr package: models loaded once, about half the CPU per "
                                   "page), 'cli' the tesseract binary once per page, 'auto' "
                                   "tesserocr when it is installed")
    min_text_chars: int = Field(20, ge=0, description="text-layer chars below which a page is OCR'd")
    upscale_below_dpi: int = Field(200, ge=0, description="upscale images scanned below this DPI")
    # Off by default: measured +2 address/+3 date but -2 total/-2 name on sroie_train, and worse
    # and 1.8x slower on generated scanned invoices (see extractors/ocr/preprocess.py).
    ocr_line_height: int = Field(0, ge=0, description="upscale scans whose median text line is "
                                 "shorter than this many px, e.g. 40 (0: by DPI only)")
    upscale_max: float = Field(4.0, ge=1.0, le=8.0,
                               description="largest upscaling factor for small scans")
    invert_dark: bool = Field(True, description="read light-on-dark regions (coloured header bands, "
                              "negative scans) as dark-on-light text")

    # limits
    max_file_bytes: int = Field(100 * 1024 * 1024, ge=1)
    max_pages: int = Field(500, ge=1)
    max_page_pixels: int = Field(89_478_485, ge=1, description="Pillow's bomb threshold")
    ocr_timeout_s: float = Field(120.0, gt=0)
    render_timeout_s: float = Field(60.0, gt=0)
    strict_pages: bool = Field(False, description="fail the document when any page fails")

    # review
    # calibrated P(right) below which a field sends its record to review (README: "Confidence")
    review_threshold: float = Field(0.5, ge=0.0, le=1.0)

    # batch
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    @field_validator("lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        if v.strip().lower() == "auto":
            return "auto"
        parts = [p for p in v.replace(",", "+").split("+") if p]
        if not parts or not all(p.replace("_", "").isalnum() for p in parts):
            raise ValueError("lang must be 'auto' or look like 'eng' or 'eng+deu+fra'")
        return "+".join(parts)

    def output_hash(self) -> str:
        """Hash of the settings that change outputs (not workers or paths): part of the ledger key."""
        keep = self.model_dump(exclude={"workers", "batch_size", "device", "precision", "ocr_timeout_s",
                                        "render_timeout_s", "tessdata_dir",
                                        # only `docai ask` reads these, never a processed record
                                        "qa_null_threshold", "qa_min_confidence"})
        keep["pipeline_version"] = PIPELINE_VERSION
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]
