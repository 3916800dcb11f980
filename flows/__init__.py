"""docai flows: Prefect wiring, the ledger and the CLI (the only package that imports Prefect)."""
