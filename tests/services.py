"""The outside servers some tests need (PostgreSQL, Redis), and one rule for their absence.

Away from CI a missing server skips the test with a reason the run shows; in CI (`CI=true`)
the server is part of the environment, so its absence fails the test instead of letting a
green run hide that the test never ran.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def require_redis(url: str = REDIS_URL) -> str:
    """The URL of a reachable Redis server (see the module)."""
    import redis

    def probe() -> None:
        client = redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()

    require_service("Redis", url, probe)
    return url


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `admin_url`, dropped afterwards."""
    import psycopg

    name = f"deals_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
