"""The shared Keepa simulator: one server per test session, reset before every test that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from keepa_simulator import SimulatorServer
from keepa_simulator.market import Market

VAR_DIR = Path(__file__).resolve().parent.parent / "var"

# Small enough to reset quickly, big enough that the default query of settings.json finds more
# than one page (150) of deals, so paging is exercised.
SIMULATOR_PRODUCTS = 1500


class SimulatorHandle:
    """What a test needs of the simulator: its URL and key, and its control API."""

    key = "demo"

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.url = server.url

    @property
    def market(self) -> Market:
        return self.server.market

    def post(self, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(f"{self.url}{path}", json=json or {}, timeout=30)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return self.get("/_sim/stats")

    def advance(self, minutes: float) -> dict[str, Any]:
        return self.post("/_sim/advance", {"minutes": minutes})

    def set_offer(
        self,
        asin: str,
        seller_id: str,
        price: int,
        shipping: int = 0,
        condition: int = 2,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"asin": asin, "seller_id": seller_id, "price": price, "shipping": shipping}
        return self.post("/_sim/offer", {**body, "condition": condition, **extra})

    def market_offers(self, asin: str) -> list[str]:
        """Seller ids of the product's live offers."""
        return [o.seller_id for o in self.market.by_asin[asin].offers if o.live]

    def fault(self, **kw: Any) -> dict[str, Any]:
        return self.post("/_sim/faults", kw)

    def keys(self, **kw: Any) -> dict[str, Any]:
        return self.post("/_sim/keys", {"key": self.key, **kw})

    def quiet(self, enabled: bool = True) -> dict[str, Any]:
        return self.post("/_sim/quiet", {"enabled": enabled})


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorServer]:
    # The busy market: the tests written against its churn (deals appearing and going within
    # minutes) rely on it; the calibrated market has its own tests.
    server = SimulatorServer(seed=1, products=SIMULATOR_PRODUCTS, profile="busy").start()
    yield server
    server.stop()


@pytest.fixture
def simulator(simulator_server: SimulatorServer) -> SimulatorHandle:
    handle = SimulatorHandle(simulator_server)
    handle.post("/_sim/reset")
    return handle


@pytest.fixture(autouse=True)
def _empty_cache(settings: Any) -> Iterator[None]:
    """Each test starts with an empty cache: the dashboard keeps counts and the token plan
    keyed by row ids, and a rolled-back test's ids come round again in the next one. Kept
    figures are worked out on the request: a background thread's own database connection
    would not see the test's uncommitted rows (tests/test_shared_cache.py runs the threads)."""
    from django.core.cache import cache

    settings.DEALS_KEPT_IN_BACKGROUND = False
    settings.DEALS_STATUS_SHARED = False

    from deals import dashboard, row_html

    cache.clear()
    # The rows and sparklines drawn, and the pages polls read, are kept per process too.
    kept_here = (row_html.CACHE, dashboard.HISTORY_LINES, dashboard.RECORDED_LINES)
    for drawn in (*kept_here, dashboard.POLLED_PAGES):
        drawn.clear()
    dashboard.forget_status()
    yield


# -- test databases -------------------------------------------------------------------------
# dealsite/settings_test.py names one SQLite file per pytest process (var/test_db_<pid>...).
# Django removes the file itself, but SQLite's -wal and -shm companions outlive it while a
# connection (a live-server thread, a subprocess) still holds them; an interrupted run leaves
# all three. They are removed when this process ends, and a dead process's on the next start.


def _test_db_files(pid: int | str = "*") -> list[Path]:
    return sorted(VAR_DIR.glob(f"test_db_{pid}.sqlite3*"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_configure(config: pytest.Config) -> None:
    for path in _test_db_files():
        pid = path.name.removeprefix("test_db_").split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _test_db_files(os.getpid()):
        path.unlink(missing_ok=True)


# On a PostgreSQL server the test database (test_deals_<pid>) cannot be dropped while another
# session still uses it (a live-server or test thread's connection, closed by nobody), and
# would be left behind on every run: those sessions are ended first.
@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
