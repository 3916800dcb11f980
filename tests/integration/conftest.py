from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# ``prefect_harness`` (the temporary Prefect API) lives in tests/conftest.py: one per session.
