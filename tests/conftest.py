"""Suite-wide guard: in CI the PostgreSQL variants must run, not quietly skip."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not os.environ.get("TEST_POSTGRES_URL"):
        raise pytest.UsageError("CI=true but TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL first.")
