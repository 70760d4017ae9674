"""The upserter against a real PostgreSQL server, where a bad value fails its whole transaction.

SQLite stores a 17-character ASIN in `varchar(16)` and a NUL in a title without a word;
PostgreSQL refuses both, and used to roll back the whole 150-deal page, at the same page on every
run. The app runs in a subprocess (`manage.py migrate`, then `refresh_deals`) on a fresh database,
against the simulator behind a proxy that makes one page hostile. Skipped when no server is
reachable, except in CI (tests/services.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.deals_fixtures import ROOT, SECRET
from tests.keepa_proxy import HostileDeals, keepa_proxy
from tests.services import require_postgres

TOO_LONG = "B0ABCDEFGHIJKLMNO"  # 17 characters: more than varchar(16) holds


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    import psycopg

    admin_url = require_postgres()
    name = f"deals_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def test_one_bad_record_on_postgresql_costs_itself_not_its_page(postgres_url, keepa, settings):
    import psycopg

    hostile = HostileDeals([TOO_LONG], nul_titles=1)
    with keepa_proxy(keepa.url, hostile) as proxy:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="dealsite.settings",
            DJANGO_DEBUG="true",
            DATABASE_URL=postgres_url,
            KEEPA_API_URL=proxy.url,
            KEEPA_API_KEY=SECRET,
            KEEPA_MAX_TOKEN_WAIT_S="0",
            DEALS_SETTINGS_FILE=str(settings.DEALS_SETTINGS_FILE),
        )
        manage(["migrate", "--noinput"], env)
        printed = manage(["refresh_deals", "--full"], env).stdout

    assert printed.startswith("ok: ")
    assert f"1 malformed deal skipped: ASIN '{TOO_LONG}' not an ASIN (17 characters)" in printed
    with psycopg.connect(postgres_url) as db:
        stored = {asin for (asin,) in db.execute("SELECT asin FROM deals_deal")}
        title = db.execute(
            "SELECT title FROM deals_deal WHERE asin = %s", [hostile.nul_titled[0]]
        ).fetchone()
        status, inserted, seen, enriched = db.execute(
            "SELECT status, inserted, deals_seen, enriched FROM deals_syncrun WHERE kind = 'update'"
        ).fetchone()
        entered = db.execute("SELECT count(*) FROM deals_dealevent WHERE kind = 'entered'")
        entered = entered.fetchone()[0]
        with_offers = db.execute(
            "SELECT count(*) FROM deals_deal WHERE product_snapshot IS NOT NULL"
        ).fetchone()[0]

    # Every other deal of the hostile page is stored, the NUL gone from its title.
    others = [asin for asin in hostile.page if asin != TOO_LONG]
    assert len(others) == 149 and set(others) <= stored
    assert TOO_LONG not in stored
    assert title == ("Nul in the title",)
    # The run's counts are the rows in the database.
    assert status == "ok"
    assert inserted == seen == len(stored) == entered > 150
    assert enriched == with_offers == len(stored)
