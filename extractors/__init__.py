"""docai extractors: bytes → Document → fields. Usable without Prefect.

>>> from extractors.pipeline import process_file            # doctest: +SKIP
>>> record = process_file("invoice.pdf")                     # doctest: +SKIP
"""
