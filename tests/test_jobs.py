"""The job skeleton's rules (deals/jobs.py), checked on all three jobs alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deals import backfill, ingest, prune
from deals.models import Deal, JobLock, SyncRun
from keepa_client.errors import ServerError
from tests.deals_fixtures import SECRET, fast_client

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def run_update():
    return ingest.run(trigger="test")


def run_prune():
    return prune.run(trigger="test")


def run_backfill():
    return backfill.run(trigger="test")


JOBS = {
    "update": (run_update, ingest.LOCK_NAME),
    "prune": (run_prune, prune.LOCK_NAME),
    "backfill": (run_backfill, backfill.LOCK_NAME),
}


def a_deal(asin: str = "B000000001") -> Deal:
    return Deal.objects.create(
        asin=asin,
        title="A book",
        price_type=2,
        now_price=1500,
        avg_price=4000,
        product_snapshot={
            "fbaFees": {"pickAndPackFee": 300},
            "referralFeePercentage": 15.0,
            "stats": {"avg365": [-1, -1, 3900, 250_000]},
            # Keepa's history digest (deals/history.py), empty: nothing to fetch for Season.
            "history": {"end": 0, "step": 1440, "type": 2, "price": [], "box": [], "rank": []},
        },
        first_seen_utc=NOW,
        last_seen_utc=NOW,
        changed_at=NOW,
    )


@pytest.mark.parametrize("kind", JOBS)
def test_a_run_left_running_by_a_dead_process_is_closed_by_the_next_run_of_its_kind(keepa, kind):
    job, _ = JOBS[kind]
    dead = SyncRun.objects.create(kind=kind, status=SyncRun.Status.RUNNING)
    other_kind = "update" if kind != "update" else "prune"
    alive = SyncRun.objects.create(kind=other_kind, status=SyncRun.Status.RUNNING)

    sync = job()

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert sync.pk != dead.pk and sync.status != SyncRun.Status.RUNNING
    assert dead.status == SyncRun.Status.FAILED and "interrupted" in dead.error
    assert dead.finished_at is not None
    assert alive.status == SyncRun.Status.RUNNING  # another job's run is not this one's to close


@pytest.mark.parametrize("kind", JOBS)
def test_a_second_trigger_while_the_lock_is_held_records_already_running(keepa, kind):
    job, lock = JOBS[kind]
    assert JobLock.acquire(lock, "other-host:1:x", timedelta(minutes=5))

    sync = job()

    assert sync.status == SyncRun.Status.SKIPPED and sync.note == "already running"
    assert list(SyncRun.objects.values_list("kind", "status")) == [(kind, "skipped")]


BROKEN_SETTINGS = {
    # name: (file content, what the stored error says)
    "invalid JSON": ('{"deal_query": ', "settings.json: invalid JSON at line 1"),
    # Nested deeper than Python's parser recurses: a RecursionError inside json, reported
    # as what is wrong with the file.
    "too deeply nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("kind", JOBS)
@pytest.mark.parametrize("name", BROKEN_SETTINGS)
def test_a_settings_file_that_does_not_load_fails_every_job_with_a_clear_message(
    keepa, settings, tmp_path, kind, name
):
    job, lock = JOBS[kind]
    content, message = BROKEN_SETTINGS[name]
    path = tmp_path / "broken" / "settings.json"
    path.parent.mkdir()
    path.write_text(content)
    settings.DEALS_SETTINGS_FILE = path
    a_deal()
    requests_before = keepa.stats()["requests"]

    sync = job()

    assert sync.status == SyncRun.Status.FAILED
    assert message in sync.error and "\n" not in sync.error
    assert "settings.json" in sync.error
    assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()
    assert keepa.stats()["requests"] == requests_before  # not a single Keepa call
    assert Deal.objects.count() == 1
    assert not JobLock.is_held(lock)  # the next run is not blocked


def fail_with_the_key(*args, **kwargs):
    raise ServerError(f"HTTP 500 from https://api.keepa.com/product?key={SECRET}&asin=X")


def crash_with_the_key(*args, **kwargs):
    raise RuntimeError(f"unexpected: {SECRET}")


# Where each job's body is made to fail before it has done any work.
BODY_STEPS = {
    "update": (ingest.Sweep, "run"),
    "prune": (prune, "plan"),
    "backfill": (backfill, "lacks_data"),
}


@pytest.mark.parametrize("kind", JOBS)
@pytest.mark.parametrize(
    ("failure", "error"), [(fail_with_the_key, "ServerError"), (crash_with_the_key, "Runtime")]
)
def test_an_error_before_any_work_fails_the_run_and_is_stored_redacted(
    keepa, monkeypatch, kind, failure, error
):
    job, lock = JOBS[kind]
    a_deal()
    monkeypatch.setattr(*BODY_STEPS[kind], failure)

    sync = job()

    sync.refresh_from_db()
    assert sync.status == SyncRun.Status.FAILED
    assert error in sync.error and SECRET not in sync.error + sync.summary()
    assert not JobLock.is_held(lock)


def test_a_keepa_error_after_some_work_leaves_a_backfill_partial_and_before_any_failed(
    keepa, monkeypatch
):
    for i in range(4):
        a_deal(f"B00000000{i}")
    # Only the second chunk lacks product data: its look-up is the one that fails.
    monkeypatch.setattr(backfill, "lacks_data", lambda deal, *a: deal.asin >= "B000000002")
    client = fast_client(keepa)
    client.products = fail_with_the_key

    later = backfill.run(batch_size=2, client=client)

    assert later.status == SyncRun.Status.PARTIAL, later.summary()
    assert later.deals_seen == 2 and "ServerError" in later.error
    monkeypatch.setattr(backfill, "lacks_data", lambda deal, *a: True)
    at_once = backfill.run(batch_size=2, client=client)
    assert at_once.status == SyncRun.Status.FAILED, at_once.summary()
    assert SECRET not in later.error + at_once.error


def test_an_interrupted_backfill_is_recorded_before_the_interrupt_goes_on():
    for i in range(4):
        a_deal(f"B00000000{i}")

    def ctrl_c(state):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill.run(batch_size=2, progress=ctrl_c)

    sync = SyncRun.objects.get()
    assert sync.status == SyncRun.Status.PARTIAL and sync.deals_seen == 2
    assert sync.error == "interrupted: KeyboardInterrupt"
    assert not JobLock.is_held(backfill.LOCK_NAME)


def test_a_prune_dry_run_takes_no_lock_and_records_nothing():
    a_deal()
    assert JobLock.acquire(prune.LOCK_NAME, "other-host:1:x", timedelta(minutes=5))

    sync = prune.run(dry_run=True, trigger="test")

    assert sync.pk is None and sync.status != SyncRun.Status.RUNNING
    assert not SyncRun.objects.exists()
    assert Deal.objects.count() == 1


def test_notes_repeated_per_batch_are_told_once_with_their_counts_added():
    from deals.jobs import merged_notes

    notes = [
        "Keepa could not collect offers for 3 deals: retried in 5 min",
        "deal order now by last update",
        "Keepa could not collect offers for 4 deals: retried in 5 min",
        "Keepa's 10,000-deal cap reached",
        "Keepa could not collect offers for 1 deals: retried in 5 min",
    ]

    assert merged_notes(notes) == [
        "Keepa could not collect offers for 8 deals: retried in 5 min",
        "deal order now by last update",
        "Keepa's 10,000-deal cap reached",
    ]
    # One deal in all is one deal.
    assert merged_notes(["1 deals checked against the query, 0 left"]) == [
        "1 deal checked against the query, 0 left"
    ]


OTHER_HOST = "other-host:123:abc"  # a pid that may or may not exist here: it is not ours to test


@pytest.mark.parametrize("kind", JOBS)
def test_a_holder_on_another_host_is_never_taken_for_dead(keepa, kind):
    job, lock = JOBS[kind]
    assert JobLock.acquire(lock, OTHER_HOST, timedelta(minutes=5))

    assert JobLock.is_held(lock)
    assert not JobLock.acquire(lock, JobLock.owner_token(), timedelta(minutes=5))
    assert job().status == SyncRun.Status.SKIPPED
    assert JobLock.objects.get(name=lock).owner == OTHER_HOST


def test_a_refresh_claimed_on_another_host_is_not_taken_over(keepa):
    from deals import tasks

    assert JobLock.acquire(tasks.REFRESH_CLAIM, OTHER_HOST, tasks.REFRESH_CLAIM_TTL)

    assert tasks.request_refresh() == (None, tasks.ALREADY_QUEUED)
    assert JobLock.objects.get(name=tasks.REFRESH_CLAIM).owner == OTHER_HOST


def test_a_long_host_name_fits_the_owner_column_and_still_names_this_host(monkeypatch):
    import socket

    long_name = "build-" + "x" * 60 + ".example.internal"
    monkeypatch.setattr(socket, "gethostname", lambda: long_name)
    token = JobLock.owner_token()
    assert len(token) <= JobLock._meta.get_field("owner").max_length
    # Stored as is (PostgreSQL refuses a value longer than the column).
    assert JobLock.acquire("update", token, timedelta(minutes=5))
    assert JobLock.objects.get(name="update").owner == token

    host = token.split(":")[0]
    dead_here = f"{host}:999999:x"
    assert JobLock.acquire("prune", dead_here, timedelta(minutes=5))
    assert JobLock.acquire("prune", token, timedelta(minutes=5))  # its pid is gone: taken over
    # Another machine whose name starts the same is another machine: its dead-looking pid
    # is not ours to judge.
    assert JobLock.acquire("backfill", dead_here, timedelta(minutes=5))
    monkeypatch.setattr(socket, "gethostname", lambda: long_name + "-2")
    assert JobLock.owner_token().split(":")[0] != host
    assert not JobLock.acquire("backfill", JobLock.owner_token(), timedelta(minutes=5))
