"""Benchmarks of docai (not tests; ``make bench`` / ``python -m bench``).

Parts, each a module with ``run(args, ctx) -> dict``: :mod:`bench.ocr` (Tesseract floor vs
``docai process``), :mod:`bench.scaling`, :mod:`bench.native`, :mod:`bench.peer` (invoice2data),
:mod:`bench.memory` (RSS over 1,000 documents, sampled by :mod:`bench.batch`) and
:mod:`bench.stages` (time per pipeline stage, profiles). Shared arithmetic and I/O live in
:mod:`bench.common`. Results go to ``bench/results/<date>.json``; see ``bench/README.md``.
"""
