from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from freezegun import freeze_time

from deals import ingest, prune
from deals.models import Deal, DealEvent, SyncRun
from tests.deals_fixtures import fast_client

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The simulator keeps its own clock; only the app's clock is frozen.
SIM = ["keepa_simulator"]

pytestmark = pytest.mark.django_db


def at(hours: float):
    return freeze_time(NOW + timedelta(hours=hours), ignore=SIM)


def full_sweep(simulator) -> SyncRun:
    simulator.advance(3)  # past Keepa's 120 s cache
    sync = ingest.run(trigger="test", full=True, client=fast_client(simulator))
    assert sync.status == SyncRun.Status.OK, sync.summary()
    return sync


def drop_out_of_the_query(simulator, deal: Deal) -> None:
    """Price the deal's product back above its average, so Keepa stops listing it."""
    for offer in simulator.market_offers(deal.asin):
        simulator.set_offer(deal.asin, offer, price=60000, shipping=0, condition=2)


def test_a_deal_that_stops_qualifying_leaves_after_the_grace_period_and_not_before(keepa):
    keepa.quiet(True)
    with at(0):
        full_sweep(keepa)
    gone = Deal.objects.order_by("asin").first()
    total = Deal.objects.count()
    drop_out_of_the_query(keepa, gone)

    with at(24):
        full_sweep(keepa)
    with at(47):
        full_sweep(keepa)
        early = prune.run(trigger="test")
    assert early.status == SyncRun.Status.OK and early.pruned == 0
    assert Deal.objects.filter(asin=gone.asin).exists()

    with at(49):
        full_sweep(keepa)
        late = prune.run(trigger="test")
    assert late.pruned == 1
    assert not Deal.objects.filter(asin=gone.asin).exists()
    assert Deal.objects.count() == total - 1
    left = DealEvent.objects.get(asin=gone.asin, kind="left")
    assert "not seen by successful full sweeps for over 48 h" in left.reason


def make_deal(asin: str, last_seen: datetime) -> Deal:
    return Deal.objects.create(
        asin=asin,
        title=f"Book {asin}",
        price_type=2,
        now_price=2500,
        first_seen_utc=last_seen,
        last_seen_utc=last_seen,
        changed_at=last_seen,
    )


def record_run(
    status: str, started: datetime, *, full: bool = True, complete: bool = False, **extra
):
    return SyncRun.objects.create(
        kind="update",
        status=status,
        started_at=started,
        finished_at=started + timedelta(minutes=2),
        full_sweep=full,
        sweep_complete=complete,
        sweep_started_at=started,
        **extra,
    )


def test_after_72_hours_of_failing_runs_prune_deletes_nothing_and_says_why():
    make_deal("0000000001", NOW - timedelta(hours=72))
    make_deal("0000000002", NOW - timedelta(hours=72))
    record_run("ok", NOW - timedelta(hours=73), complete=True)
    for hour in range(72, 0, -1):
        status = "failed" if hour % 2 else "partial"
        record_run(status, NOW - timedelta(hours=hour))

    with freeze_time(NOW):
        sync = prune.run(trigger="test")

    assert sync.status == SyncRun.Status.SKIPPED
    assert "no successful full sweep in the last 48 h" in sync.note
    assert Deal.objects.count() == 2
    assert not DealEvent.objects.filter(kind="left").exists()


def test_partial_full_sweeps_do_not_count_as_having_looked():
    make_deal("0000000001", NOW - timedelta(hours=60))
    record_run("partial", NOW - timedelta(hours=1), complete=False)
    with freeze_time(NOW):
        assert prune.run(trigger="test").status == SyncRun.Status.SKIPPED
    assert Deal.objects.count() == 1


def test_a_complete_sweep_that_ran_out_of_tokens_while_enriching_still_counts():
    make_deal("0000000001", NOW - timedelta(hours=60))
    make_deal("0000000002", NOW - timedelta(minutes=30))
    record_run("partial", NOW - timedelta(hours=1), complete=True)
    with freeze_time(NOW):
        sync = prune.run(trigger="test")
    assert sync.pruned == 1
    assert list(Deal.objects.values_list("asin", flat=True)) == ["0000000002"]


def test_past_keepas_cap_only_deals_it_could_have_listed_count_as_missed():
    listed_but_missed = make_deal("0000000001", NOW - timedelta(hours=60))
    beyond_the_cap = make_deal("0000000002", NOW - timedelta(hours=60))
    Deal.objects.filter(pk=listed_but_missed.pk).update(keepa_last_update=NOW - timedelta(hours=2))
    Deal.objects.filter(pk=beyond_the_cap.pk).update(keepa_last_update=NOW - timedelta(hours=11))
    record_run(
        "ok",
        NOW - timedelta(hours=1),
        complete=True,
        capped=True,
        oldest_last_update=NOW - timedelta(hours=5),
    )
    with freeze_time(NOW):
        sync = prune.run(trigger="test")
    assert sync.pruned == 1
    assert list(Deal.objects.values_list("asin", flat=True)) == ["0000000002"]


def test_dry_run_reports_and_deletes_nothing():
    for i in range(3):
        make_deal(f"000000000{i}", NOW - timedelta(hours=50))
    record_run("ok", NOW - timedelta(hours=1), complete=True)
    out = StringIO()
    with freeze_time(NOW):
        call_command("prune_stale_deals", "--dry-run", stdout=out)
    assert "would remove 3 deals" in out.getvalue()
    assert "0000000000, 0000000001, 0000000002" in out.getvalue()
    assert "0 removed" not in out.getvalue()
    assert Deal.objects.count() == 3


def test_deletes_go_in_bounded_batches(monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(prune, "BATCH_SIZE", 10)
    for i in range(35):
        make_deal(f"{i:010d}", NOW - timedelta(hours=50))
    record_run("ok", NOW - timedelta(hours=1), complete=True)
    with freeze_time(NOW):
        sync = prune.run(trigger="test")
    assert sync.pruned == 35
    assert DealEvent.objects.filter(kind="left").count() == 35
    assert set(DealEvent.objects.values_list("run", flat=True)) == {sync.pk}


def test_old_history_is_dropped_after_the_retention_period():
    record_run("ok", NOW - timedelta(hours=1), complete=True)
    DealEvent.objects.create(asin="0000000001", kind="changed", at=NOW - timedelta(days=31))
    DealEvent.objects.create(asin="0000000001", kind="changed", at=NOW - timedelta(days=29))
    with freeze_time(NOW):
        prune.run(trigger="test")
    assert DealEvent.objects.count() == 1


def test_the_refresh_path_never_prunes(keepa):
    make_deal("0000000001", datetime(2020, 1, 1, tzinfo=UTC))
    record_run("ok", datetime.now(UTC) - timedelta(hours=1), complete=True)
    ingest.run(trigger="manual", client=fast_client(keepa))
    assert Deal.objects.filter(asin="0000000001").exists()
