"""Fixtures and helpers for tests that run the jobs against the Keepa simulator.

Loaded as a pytest plugin (see pyproject.toml), so Django imports stay inside functions.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus

import pytest

from keepa_client.client import KeepaClient

ROOT = Path(__file__).resolve().parent.parent
# Each process of a test run keeps its figures to itself: var/cache (the default, shared by a
# host's processes) would let two runs, or a running server, empty each other's cache
# between a test's requests. Set before Django reads its settings: this plugin is imported
# first. Tests of the shared cache name theirs.
os.environ.setdefault("CACHE_URL", "locmem://")
# 64 characters, like a real key, and distinctive enough to search every output for.
SECRET = "zq" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


@pytest.fixture
def keepa(simulator, settings, tmp_path):
    """Point the app at the simulator with a plentiful, distinctive key."""
    simulator.keys(key=SECRET, tokens=50_000, refill_rate=1000)
    settings.KEEPA_API_URL = simulator.url
    settings.KEEPA_API_KEY = SECRET
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    return simulator


def app_database_url() -> str:
    """DATABASE_URL of the test database this run uses, for an app process started by a
    test (a worker, a command) to share it: the SQLite file, or the database on the server."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


def write_settings(tmp_path: Path, **overrides: object) -> Path:
    data = json.loads((ROOT / "settings.json").read_text()) | overrides
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return path


def fast_client(simulator) -> KeepaClient:
    """The real client over real HTTP, without real sleeps between retries."""
    return KeepaClient(SECRET, base_url=simulator.url, sleep=lambda s: None, max_token_wait_s=0)


def next_cycle(simulator, minutes: int = 5) -> None:
    """Let time pass for both sides: Keepa's market and the app's record of its runs."""
    from django.db.models import F

    from deals.models import SyncRun

    simulator.advance(minutes)
    SyncRun.objects.update(
        started_at=F("started_at") - timedelta(minutes=minutes),
        sweep_started_at=F("sweep_started_at") - timedelta(minutes=minutes),
    )


def product_calls(simulator) -> tuple[int, int]:
    stats = simulator.stats()
    return stats["requests"].get("/product", 0), stats["products_requested"]


def carries_key(text: str) -> bool:
    """Whether `text` holds the test key in any case, plain or URL-encoded (once or twice)."""
    folded = SECRET.lower()
    return any(
        folded in form.lower() for form in (text, unquote_plus(text), unquote(unquote(text)))
    )


class _KeyLeakWatch(logging.Handler):
    """Collects every log line (message and traceback) that carries the test key, in any form."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if carries_key(text):
            self.leaks.append(text[:300])


@pytest.fixture(autouse=True)
def no_key_in_logs():
    """Every test: no log line, at any level, from any logger, may contain the Keepa key."""
    watch = _KeyLeakWatch()
    root = logging.getLogger()
    noisy = [logging.getLogger(n) for n in ("keepa_client", "urllib3", "deals", "django_q")]
    levels = [(lg, lg.level) for lg in (root, *noisy)]
    for lg, _ in levels:
        lg.setLevel(logging.DEBUG)
    # First in line: it sees each record before any redacting handler filter touches it.
    root.handlers.insert(0, watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        for lg, level in levels:
            lg.setLevel(level)
    assert not watch.leaks, f"the Keepa key reached the logs: {watch.leaks[:3]}"


@pytest.fixture(autouse=True)
def fresh_cache():
    """The dashboard keeps filtered counts in the cache; no test may see another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
