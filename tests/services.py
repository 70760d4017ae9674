"""The outside servers some tests need (PostgreSQL today), and one rule for their absence.

Away from CI a missing server skips the test with a reason the run shows; in CI (`CI=true`)
the server is part of the environment, so its absence fails the test instead of letting a
green run hide that the test never ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unreachable(name: str, url: str, probe: Callable[[], object]) -> str | None:
    """Why `probe` could not reach the service, or None when it could."""
    try:
        probe()
    except Exception as exc:  # any failure to reach it: refused, timed out, auth
        detail = " ".join(str(exc).split())  # libpq's messages span lines
        return f"{name} not reachable at {url}: {type(exc).__name__}: {detail}"
    return None


def require_service(name: str, url: str, probe: Callable[[], object]) -> None:
    """Run `probe`; if it raises, skip the test (or fail it in CI) naming the service."""
    reason = unreachable(name, url, probe)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the service is required)", pytrace=False)
    pytest.skip(reason)


def postgres_probe(url: str) -> Callable[[], None]:
    def probe() -> None:
        import psycopg

        psycopg.connect(url, connect_timeout=3).close()

    return probe


def require_postgres(url: str = POSTGRES_URL) -> str:
    """The URL of a reachable PostgreSQL server's maintenance database (see the module)."""
    require_service("PostgreSQL", url, postgres_probe(url))
    return url
