"""Hugging Face document-model engines (LayoutLMv3, LayoutLM, LiLT, Donut) and ``docai train``.

Importing this package (or any module in it) loads neither torch nor transformers; engines load
them, and their weights, when they are built through :func:`extractors.registry.create`.

* :mod:`~extractors.models.layoutlmv3` — token classification, sequence classification and QA for
  the LayoutLM family; :mod:`~extractors.models.donut` — Donut parsing, DocVQA, RVL-CDIP.
* :mod:`~extractors.models.windows` (words → tokens → windows), :mod:`~extractors.models.labels`
  (label names → canonical fields), :mod:`~extractors.models.assemble` (tags → fields).
* :mod:`~extractors.models.runtime` (device, precision, loading, cache, batching),
  :mod:`~extractors.models.images` (page images), :mod:`~extractors.models.train`.
"""
