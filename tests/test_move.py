"""Moving up: `manage.py move_to_postgres` copies a populated SQLite database to a fresh database
on a real PostgreSQL server, verified per table; killed mid-copy it leaves nothing half-copied and
the same line run again finishes; a bad target changes nothing.

The SQLite side is this test process's database, filled by a real sync against the simulator;
the command runs in a subprocess, as a person would run it. Skipped when no PostgreSQL server
is reachable, except in CI (tests/services.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from deals import ingest, move
from deals.models import Deal, DealEvent, Restriction, SyncRun
from tests.deals_fixtures import ROOT
from tests.services import fresh_postgres_database, require_postgres

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database(require_postgres()) as url:
        yield url


@pytest.fixture
def filled(keepa) -> None:
    """The SQLite database after a real sync, with a user and a restriction of their own."""
    assert ingest.run(trigger="test").status == SyncRun.Status.OK
    get_user_model().objects.create_user("reseller", password="a long pass phrase")
    Restriction.objects.create(kind=Restriction.Kind.BRAND, value="acme")
    assert Deal.objects.count() > 150


@pytest.fixture(autouse=True)
def _sqlite_source() -> None:
    # The move starts from the test database as its SQLite source: on the suite's PostgreSQL
    # pass there is none to move (the SQLite pass runs these).
    if connection.vendor != "sqlite":
        pytest.skip("moves an SQLite database: runs in the suite's SQLite pass")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=f"sqlite:///{connection.settings_dict['NAME']}",
    )
    return env


def _move(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "move_to_postgres", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _deals(url: str) -> set[tuple]:
    import psycopg

    with psycopg.connect(url) as db:
        return set(db.execute("SELECT asin, title, now_price, status FROM deals_deal"))


def test_a_filled_sqlite_database_moves_to_postgresql_with_every_table_verified(
    postgres_url, filled
):
    import psycopg

    result = _move("--to", postgres_url)

    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    printed = result.stdout
    assert "every table verified" in printed
    # Every table is in the printed table, rows matching, checksums matching.
    for table, count in (
        ("deals_deal", Deal.objects.count()),
        ("deals_dealevent", DealEvent.objects.count()),
        ("deals_syncrun", SyncRun.objects.count()),
        ("auth_user", 1),
        ("deals_restriction", 1),
    ):
        line = next(line for line in printed.splitlines() if line.startswith(f"{table} "))
        assert line.split()[1:3] == [str(count), str(count)] and line.endswith("ok"), line
    assert "django_q_schedule" in printed
    # The deals as the dashboard would show them, the same on both sides.
    assert _deals(postgres_url) == set(
        Deal.objects.values_list("asin", "title", "now_price", "status")
    )
    with psycopg.connect(postgres_url) as db:
        password = db.execute("SELECT password FROM auth_user WHERE username = 'reseller'")
        assert password.fetchone()[0] == get_user_model().objects.get().password
        # Sequences moved past the copied ids: the next event gets a new id, not a taken one.
        next_id = db.execute("SELECT nextval(pg_get_serial_sequence('deals_dealevent', 'id'))")
        assert next_id.fetchone()[0] > max(DealEvent.objects.values_list("id", flat=True))

    # Run again: refused without --replace (the target holds data now), redone with it.
    again = _move("--to", postgres_url)
    assert again.returncode != 0
    assert "already holds data" in again.stderr and "--replace" in again.stderr
    replaced = _move("--to", postgres_url, "--replace")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "every table verified" in replaced.stdout


def test_a_move_killed_mid_copy_leaves_nothing_and_the_same_line_finishes_it(postgres_url, filled):
    # Small batches, so the copy is well under way, and far from its end, when it is killed.
    args = [sys.executable, "manage.py", "move_to_postgres", "--to", postgres_url]
    mover = subprocess.Popen(
        [*args, "--batch-size", "5"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in mover.stdout:
            if line.startswith("copying deals_dealevent"):
                mover.kill()  # mid-copy: the deals are sent, the events on their way
                break
        else:
            pytest.fail("the move ended before it copied the events")
    finally:
        mover.kill()
        mover.wait(timeout=30)
    assert mover.returncode == -signal.SIGKILL

    # It commits only once verified: the killed copy left nothing behind, not even the deals.
    assert _deals(postgres_url) == set()
    result = _move("--to", postgres_url)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "every table verified" in result.stdout
    assert len(_deals(postgres_url)) == Deal.objects.count()


def test_a_bad_target_gives_a_clear_error_and_changes_nothing(postgres_url, filled):
    import psycopg

    before = {m._meta.db_table: _checksum(m) for m in move.models_in_order()}

    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_deals_db"
    for url, error in (
        ("mysql://root@127.0.0.1/deals", "--to must be a PostgreSQL URL"),
        ("not a url", "--to is not a database URL"),
        # A database that does not exist on a real server: named in the error, not created.
        (missing, 'cannot connect to the target database: .*"no_such_deals_db" does not exist'),
        # Nothing listens on port 1.
        ("postgres://postgres@127.0.0.1:1/deals", "cannot connect to the target database: "),
    ):
        result = _move("--to", url)
        assert result.returncode == 1
        assert re.search(f"CommandError: {error}.*Nothing was copied", result.stderr), (url, result)

    admin = require_postgres()
    with psycopg.connect(admin) as db:
        names = {name for (name,) in db.execute("SELECT datname FROM pg_database")}
    assert "no_such_deals_db" not in names
    with psycopg.connect(postgres_url) as db:  # the fresh database was never migrated
        tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone()[0] == 0
    assert {m._meta.db_table: _checksum(m) for m in move.models_in_order()} == before


def _checksum(model) -> tuple[int, str]:
    names = [f.attname for f in model._meta.concrete_fields]
    return move.table_checksum(model._base_manager.values_list(*names))
