"""The status line: last sync, next run, tokens, failing syncs and a worker that stopped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from freezegun import freeze_time

from deals import ingest
from deals.models import Deal, JobLock, SyncRun, WorkerHeartbeat
from tests.dashboard.helpers import make_deal

pytestmark = pytest.mark.django_db

FAKE_KEY = "fk" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


def test_the_status_line_shows_last_sync_next_run_and_tokens(client):
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=7, seconds=30),
        finished_at=now - timedelta(minutes=7),
        tokens_left=1234,
        refill_rate=20,
    )
    Schedule.objects.update_or_create(
        name="update_recent_deals",
        defaults={
            "func": "deals.tasks.update_recent_deals",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "next_run": now + timedelta(minutes=3, seconds=10),
        },
    )

    html = client.get("/status").content.decode()

    assert "Last successful sync:" in html and "7 min ago" in html
    assert "Next sync:" in html and "in 3 min" in html
    # Keepa reports the balance with each answer: it is the last sync's, and says so.
    assert "1,234 left at the last sync · +20/min" in html
    assert "failing" not in html


def test_the_status_line_warns_when_syncs_have_been_failing_with_the_key_redacted(client, settings):
    settings.KEEPA_API_KEY = FAKE_KEY
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.OK, started_at=now - timedelta(hours=1)
    )
    for minutes, error in (
        (30, "KeepaTimeout: read timed out"),
        (20, f"InvalidKey: Keepa refused key {FAKE_KEY}"),
    ):
        SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            status=SyncRun.Status.FAILED,
            started_at=now - timedelta(minutes=minutes),
            error=error,
        )

    for html in (client.get("/status").content.decode(), client.get("/").content.decode()):
        assert "Syncs are failing:" in html
        assert "the last 2 syncs since the last good one failed" in html
        assert "InvalidKey: Keepa refused key ***" in html
        assert FAKE_KEY not in html


# -- a worker that stopped, and runs that keep erring -------------------------------------

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _schedule_update(next_run: datetime, minutes: int = 5) -> None:
    Schedule.objects.update_or_create(
        name="update_recent_deals",
        defaults={
            "func": "deals.tasks.update_recent_deals",
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
            "next_run": next_run,
        },
    )


def _run(status: str, minutes_ago: float, error: str = "", **fields) -> SyncRun:
    started = NOW - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=status,
        started_at=started,
        finished_at=started + timedelta(seconds=20),
        error=error,
        **fields,
    )


def _beat(minutes_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        name="worker",
        defaults={"beat_at": NOW - timedelta(minutes=minutes_ago), "owner": "host:1:x"},
    )


def test_a_worker_that_stopped_turns_the_status_line_red_whatever_next_run_says(client):
    # The scheduler (a separate process from the dead worker) keeps moving next_run on.
    _schedule_update(NOW + timedelta(minutes=3))
    _run(SyncRun.Status.OK, minutes_ago=23 + 1 / 3)
    _beat(minutes_ago=21)
    make_deal("B000000001")

    with freeze_time(NOW):
        line = client.get("/status").content.decode()
        page = client.get("/").content.decode()

    for html in (line, page):
        assert "No successful sync for 23 min" in html
        assert "is the background worker running?" in html
        assert "The background worker has not run a task for 21 min: restart it" in html
        assert "in 3 min" not in html  # the reassuring "Next run" is not shown
    assert "Book B000000001" in page  # the deals stay visible


def test_a_recent_success_shows_the_next_run_and_no_warning(client):
    _schedule_update(NOW + timedelta(minutes=3))
    _run(SyncRun.Status.OK, minutes_ago=16)  # 3 intervals + 2 min margin = 17 min
    _beat(minutes_ago=0.5)

    with freeze_time(NOW):
        html = client.get("/status").content.decode()

    assert "Next sync:" in html and "in 3 min" in html
    assert 'role="alert"' not in html


def test_no_success_ever_warns_once_the_first_run_is_long_overdue(client):
    _schedule_update(NOW - timedelta(minutes=30))  # no worker ever moved it on

    with freeze_time(NOW):
        html = client.get("/status").content.decode()

    assert "No successful sync for 30 min" in html
    assert "The background worker has never run a task: restart it" in html


def test_a_silent_worker_warns_before_the_syncs_are_late(client):
    _schedule_update(NOW + timedelta(minutes=3))
    _run(SyncRun.Status.OK, minutes_ago=5)
    _beat(minutes_ago=4)

    with freeze_time(NOW):
        html = client.get("/status").content.decode()

    assert "The background worker has not run a task for 4 min" in html
    assert "No successful sync" not in html


def test_a_worker_busy_with_a_long_run_is_not_reported_silent(client):
    _schedule_update(NOW + timedelta(minutes=3))
    _run(SyncRun.Status.OK, minutes_ago=9)
    _beat(minutes_ago=8)  # the heartbeats wait behind the run
    with freeze_time(NOW):
        assert JobLock.acquire(ingest.LOCK_NAME, JobLock.owner_token(), timedelta(minutes=15))
        html = client.get("/status").content.decode()

    assert 'role="alert"' not in html


def test_partial_runs_that_keep_erring_show_their_latest_error(client, settings):
    settings.KEEPA_API_KEY = FAKE_KEY
    _schedule_update(NOW + timedelta(minutes=3))
    _beat(minutes_ago=0.5)
    _run(SyncRun.Status.OK, minutes_ago=60)
    # The sweep is read each time, so the deals move on, but every /product call fails.
    for minutes in (15, 10, 5):
        _run(
            SyncRun.Status.PARTIAL,
            minutes_ago=minutes,
            error=f"KeepaServerError: /product answered 500 (key {FAKE_KEY})",
            pages=1,
            newest_last_update=NOW - timedelta(minutes=minutes),
        )
    _run(SyncRun.Status.SKIPPED, minutes_ago=1)  # "already running": says nothing either way

    with freeze_time(NOW):
        html = client.get("/status").content.decode()

    assert "Syncs are failing:" in html
    assert "the last 3 syncs since the last good one ended with an error" in html
    assert "KeepaServerError: /product answered 500 (key ***)" in html
    assert FAKE_KEY not in html
    # The last successful sync (the full run an hour ago) is overdue, and the worker is alive.
    assert "No successful sync for 59 min" in html
    assert "The worker is running tasks, so the syncs themselves are not succeeding" in html

    _run(SyncRun.Status.OK, minutes_ago=0.5)
    with freeze_time(NOW):
        html = client.get("/status").content.decode()
    assert 'role="alert"' not in html  # a clean run ends the warning


def test_a_failed_run_after_partial_errors_counts_with_them(client):
    _schedule_update(NOW + timedelta(minutes=3))
    _beat(minutes_ago=0.5)
    _run(SyncRun.Status.OK, minutes_ago=12)
    _run(SyncRun.Status.PARTIAL, minutes_ago=10, error="KeepaServerError: 500", pages=1)
    _run(SyncRun.Status.FAILED, minutes_ago=5, error="KeepaTimeout: read timed out")

    with freeze_time(NOW):
        html = client.get("/status").content.decode()

    assert "the last 2 syncs since the last good one ended with an error" in html
    assert "Latest error: <code>KeepaTimeout: read timed out</code>" in html


def test_a_first_sync_in_progress_says_so_instead_of_none_yet(client):
    # The first sync is running (its lock held by this live process) and has stored deals.
    assert JobLock.acquire(ingest.LOCK_NAME, JobLock.owner_token(), timedelta(minutes=10))
    SyncRun.objects.create(kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.RUNNING)
    make_deal("B000000001")

    html = client.get("/status").content.decode()

    assert "First sync running" in html and "the table fills as Keepa" in html
    assert "none yet" not in html and "unknown" not in html
    assert "counted when this sync ends" in html
    assert 'hx-trigger="every 5s"' in html  # followed closely until it is over


def test_deals_whose_offers_keepa_could_not_list_are_not_called_checked(client):
    # What the offers look-up leaves when Keepa answers without offers for two deals: never
    # checked, asked again after the retry time Keepa gives.
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=1),
        finished_at=now,
        tokens_left=500,
        refill_rate=20,
        enriched=1,
    )
    make_deal("B000000001", enriched_at=now, enrich_priority=0)
    for asin in ("B000000002", "B000000003"):
        make_deal(asin, enriched_at=None, enrich_requested_at=now + timedelta(minutes=4))

    html = client.get("/status").content.decode()
    assert "all checked" not in html
    assert "Sellers: 2 deals wait until Keepa can list their offers" in html
    page = client.get("/tokens").content.decode()
    assert "<strong>2</strong> deals whose offers Keepa could not list" in page
    # Nothing else waits, but these do: not "nothing waits".
    assert "Time to clear: <strong>only the 2 retries above wait</strong>" in page
    assert "nothing waits" not in page

    # Looked up at last: all checked.
    Deal.objects.filter(enriched_at=None).update(enriched_at=now, enrich_requested_at=None)
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now,
        finished_at=now,
        refill_rate=20,
    )
    assert "Sellers: all checked" in client.get("/status").content.decode()


# -- one reading of the status line for a process's requests --------------------------------


def _ok_run(at: datetime, tokens_left: int) -> SyncRun:
    return SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=at - timedelta(seconds=30),
        finished_at=at,
        tokens_left=tokens_left,
        refill_rate=20,
    )


def test_a_busy_server_reads_the_status_line_once_and_shows_a_new_run_within_two_seconds(
    client, settings
):
    settings.DEALS_STATUS_SHARED = True
    with freeze_time(NOW) as clock:
        _ok_run(NOW - timedelta(minutes=7), tokens_left=1234)
        assert "1,234 left at the last sync" in client.get("/status").content.decode()
        _ok_run(NOW, tokens_left=999)

        # Within the 2 s another request's reading is served: no run is read again.
        clock.tick(1)
        later = client.get("/").content.decode()
        assert "1,234 left at the last sync" in later and "999 left" not in later

        # Past them, the next request reads the runs again: the new run shows.
        clock.tick(1.5)
        for path in ("/status", "/"):
            html = client.get(path).content.decode()
            assert "999 left at the last sync" in html and "Last successful sync:" in html


def test_a_refresh_s_outcome_reads_the_status_line_afresh_on_a_busy_server(
    client, settings, monkeypatch
):
    settings.DEALS_STATUS_SHARED = True
    _ok_run(timezone.now() - timedelta(minutes=7), tokens_left=1234)
    assert "1,234 left at the last sync" in client.get("/status").content.decode()
    monkeypatch.setattr(
        ingest, "run", lambda *, trigger="schedule", **kw: _ok_run(timezone.now(), 999)
    )

    started = client.post("/refresh", headers={"HX-Request": "true"}).content.decode()
    status_url = re.search(r'hx-get="([^"]+)"', started).group(1).replace("&amp;", "&")
    done = client.get(status_url, headers={"HX-Request": "true"}).content.decode()

    assert "Sync finished:" in done and "999 left at the last sync" in done
    # ... and the other requests of the process are served that reading.
    assert "999 left at the last sync" in client.get("/status").content.decode()


def test_before_any_worker_has_run_the_next_sync_waits_for_one_not_starting_now(client):
    # `make serve` alone, or a deploy whose worker was forgotten: the schedule is due, but
    # nothing will run it until a worker starts.
    _schedule_update(NOW)

    with freeze_time(NOW):
        html = client.get("/status").content.decode()
    assert "Next sync: once the background worker starts" in html and "manage.py qcluster" in html
    assert "starting now" not in html

    # The worker's first minute: its heartbeat, and the schedule's time is believed again.
    _beat(minutes_ago=0.2)
    with freeze_time(NOW):
        html = client.get("/status").content.decode()
    assert re.search(r"Next sync: <time [^>]*>starting now</time>", html)
    assert "once the background worker" not in html
