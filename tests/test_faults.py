"""The fault suite: each case says what the user sees, and that no row is lost or half-written.

Some faults live next to the code they exercise and are part of this suite too:
the worker killed mid-run (tests/test_ingest_crash.py), prune after 72 h of failures
(tests/test_prune.py), faults in the middle of a sweep (tests/test_ingest.py), and the key in
every log line of every test (the autouse `no_key_in_logs` fixture in tests/deals_fixtures.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test import Client

from deals import ingest
from deals.models import Deal, SyncRun
from keepa_client.client import KeepaClient
from tests.deals_fixtures import ROOT, SECRET, fast_client, next_cycle, write_settings

pytestmark = pytest.mark.django_db


def rows() -> list[tuple]:
    return list(
        Deal.objects.order_by("asin").values_list(
            "asin", "title", "now_price", "now_total", "now_seller_id", "last_seen_utc"
        )
    )


def top_asin() -> str:
    """The first row of the dashboard's default sort."""
    return Deal.objects.order_by("-delta_percent", "asin").values_list("asin", flat=True)[0]


@pytest.fixture
def filled(keepa):
    """A database a successful run filled, in a market standing still."""
    keepa.quiet(True)
    sync = ingest.run(trigger="test", client=fast_client(keepa))
    assert sync.status == SyncRun.Status.OK
    next_cycle(keepa)
    return keepa


@pytest.fixture
def reader():
    client = Client()
    client.force_login(User.objects.create_user("reseller", password="pw-for-tests-1"))
    return client


FAULTS = {
    # name: (how to stage it, client options, what the stored error says)
    "500 storm": ({"status": 500, "count": 100}, {}, "ServerError"),
    "503 storm": ({"status": 503, "count": 100}, {}, "ServerError"),
    "timeouts": ({"delay_s": 1.5, "count": 100}, {"timeout": 0.5}, "KeepaTimeout"),
    "malformed JSON": ({"malformed": True, "count": 100}, {}, "MalformedResponse"),
    "truncated JSON": ({"truncated": True, "count": 100}, {}, "Keepa"),
    "429 storm": ({"status": 429, "count": 100}, {}, "TokensExhausted"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_keepa_failing_for_a_whole_run_fails_it_and_keeps_every_row(filled, reader, name):
    fault, options, error = FAULTS[name]
    before = rows()
    filled.fault(**fault)
    client = KeepaClient(
        SECRET, base_url=filled.url, sleep=lambda s: None, max_token_wait_s=0, **options
    )

    sync = ingest.run(trigger="test", client=client)

    assert sync.status == SyncRun.Status.FAILED
    assert error in sync.error and SECRET not in sync.error
    assert rows() == before  # nothing lost, nothing half-written, not even last_seen moved
    # What the user sees: the data is still served, with a warning that syncs are failing.
    page = reader.get("/").content.decode()
    status = reader.get("/status").content.decode()
    assert top_asin() in page
    assert error in status and SECRET not in page + status


def test_a_negative_balance_spends_nothing_and_changes_nothing(filled):
    before = rows()
    filled.keys(key=SECRET, tokens=-40, refill_rate=5)
    deal_requests = filled.stats()["requests"]["/deal"]

    sync = ingest.run(trigger="test", client=fast_client(filled))

    # The free /token call shows the debt: the run stops before asking for anything.
    assert sync.status == SyncRun.Status.PARTIAL
    assert "token budget reached: -40 tokens left" in sync.note
    assert filled.stats()["requests"]["/deal"] == deal_requests
    assert filled.stats()["keys"][SECRET]["tokens"] == -40
    assert rows() == before


@pytest.mark.parametrize(
    ("key_state", "error"), [("invalid", "BadRequest|InvalidKey"), ("lapsed", "PaymentRequired")]
)
def test_an_invalid_or_lapsed_key_fails_the_run_with_a_clear_reason(filled, key_state, error):
    before = rows()
    key = SECRET
    if key_state == "lapsed":
        filled.keys(key=SECRET, lapsed=True)
    else:
        key = "not-a-key-" + secrets.token_hex(27)
    client = KeepaClient(key, base_url=filled.url, sleep=lambda s: None, max_token_wait_s=0)
    sync = ingest.run(trigger="test", client=client)
    assert sync.status == SyncRun.Status.FAILED
    assert any(word in sync.error for word in error.split("|"))
    assert key not in sync.error
    assert rows() == before


BAD_SETTINGS = {
    "missing": (None, "file not found"),
    "invalid JSON": ('{"deal_query": ', "invalid JSON at line 1"),
    "unknown field": ({"update_every_minute": 5}, "unknown field 'update_every_minute'"),
    "wrong type": ({"token_reserve": "ten"}, "'token_reserve' must be a whole number"),
    "out of range": ({"stale_after_hours": 1}, "'stale_after_hours' must be between 12 and 720"),
}


@pytest.mark.parametrize("name", BAD_SETTINGS)
def test_a_bad_settings_file_is_named_and_the_dashboard_keeps_serving(
    filled, reader, settings, tmp_path, name
):
    content, message = BAD_SETTINGS[name]
    before = rows()
    path = tmp_path / "bad" / "settings.json"
    path.parent.mkdir()
    if isinstance(content, dict):
        path = write_settings(path.parent, **content)
    elif isinstance(content, str):
        path.write_text(content)
    settings.DEALS_SETTINGS_FILE = path
    requests_before = filled.stats()["requests"]

    sync = ingest.run(trigger="test")

    assert sync.status == SyncRun.Status.FAILED and message in sync.error
    assert filled.stats()["requests"] == requests_before  # not a single Keepa call
    assert rows() == before
    page = reader.get("/")
    assert page.status_code == 200 and top_asin() in page.content.decode()
    assert message in unescape(reader.get("/status").content.decode())


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_refresh_clicks_make_one_run(keepa):
    keepa.fault(delay_s=0.3, count=20)  # a run slow enough for every click to land during it
    User.objects.create_user("reseller", password="pw-for-tests-1")
    barrier = threading.Barrier(20)
    answers: list[str] = []

    def click():
        client = Client()
        client.login(username="reseller", password="pw-for-tests-1")
        barrier.wait()
        answers.append(client.post("/refresh").content.decode())
        connection.close()

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)

    worked = SyncRun.objects.exclude(status=SyncRun.Status.SKIPPED)
    assert worked.count() == 1 and worked.get().trigger == "manual"
    assert (
        sum("already" in a for a in answers)
        >= 19 - SyncRun.objects.filter(status=SyncRun.Status.SKIPPED).count()
    )
    assert len(answers) == 20


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_reads_while_an_upsert_writes_without_database_is_locked(keepa):
    User.objects.create_user("reseller", password="pw-for-tests-1")
    keepa.fault(delay_s=0.05, count=400)
    done = threading.Event()
    failures: list[str] = []
    served = [0]

    def read():
        client = Client()
        client.login(username="reseller", password="pw-for-tests-1")
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            for url in ("/", "/api/total_deals", "/status", "/?sort=-profit&page=2"):
                try:
                    response = client.get(url)
                except OperationalError as exc:  # "database is locked" would land here
                    failures.append(str(exc))
                    continue
                served[0] += 1
                if response.status_code != 200:
                    failures.append(f"{url}: HTTP {response.status_code}")
        connection.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        sync = ingest.run(trigger="test", client=fast_client(keepa))
    finally:
        done.set()
        for t in readers:
            t.join(timeout=60)

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert failures == []
    assert served[0] > 10


def test_the_key_shows_in_no_stored_error_page_or_admin_view(filled, settings):
    settings.KEEPA_API_KEY = SECRET
    for fault in ({"status": 500, "count": 100}, {"malformed": True, "count": 100}):
        filled.fault(**fault)
        ingest.run(trigger="test", client=fast_client(filled))
        filled.fault(clear=True)
        next_cycle(filled)
    filled.keys(key=SECRET, lapsed=True)
    ingest.run(trigger="test", client=fast_client(filled))
    assert SyncRun.objects.filter(status="failed").count() == 3

    admin = Client()
    admin.force_login(User.objects.create_superuser("boss", "", "pw-for-tests-1"))
    deal = Deal.objects.first()
    run = SyncRun.objects.filter(status="failed").first()
    pages = [
        "/",
        "/status",
        "/api/deals",
        "/deals.csv",
        f"/deal/{deal.asin}",
        "/admin/deals/syncrun/",
        f"/admin/deals/syncrun/{run.pk}/change/",
        "/admin/deals/deal/",
        f"/admin/deals/deal/{deal.pk}/change/",
        "/admin/deals/dealevent/",
        "/admin/django_q/failure/",
        "/admin/django_q/schedule/",
    ]
    for url in pages:
        response = admin.get(url)
        body = (
            b"".join(response.streaming_content) if response.streaming else response.content
        ).decode()
        assert response.status_code == 200, url
        assert SECRET not in body, url
    for text in SyncRun.objects.values_list("error", "note"):
        assert SECRET not in " ".join(text)


def test_manage_py_check_deploy_is_clean_under_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="deals.example.com",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_HSTS_SECONDS="31536000",
        KEEPA_API_KEY=SECRET,
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert SECRET not in result.stdout + result.stderr
