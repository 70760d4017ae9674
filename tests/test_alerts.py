"""Alerts end to end: real update runs against the simulator, real Apprise messages to a
webhook on 127.0.0.1, and the hygiene (re-arm, hourly cap, quiet hours, failures, secrets)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db.models import F
from freezegun import freeze_time

from deals import alerts, economics, ingest
from deals.alert_models import AlertDelivery, AlertRule, AlertState
from deals.formatting import money
from deals.models import Deal, DealEvent, SyncRun
from tests.alert_receiver import receiver, refused_url
from tests.dashboard.helpers import make_deal
from tests.deals_fixtures import next_cycle

pytestmark = pytest.mark.django_db

# Stands for a webhook token or an SMTP password inside a destination URL.
HOOK_SECRET = "hooksecretXq7v9Zp3"


@pytest.fixture
def hook():
    with receiver() as box:
        yield box


def run_update(capture, **kwargs) -> SyncRun:
    """One update run whose on-commit callbacks run, as they do outside a test transaction:
    it queues the alerts task, which the test settings run in-process."""
    with capture(execute=True):
        sync = ingest.run(trigger="test", **kwargs)
    assert sync.status == SyncRun.Status.OK, sync.summary()
    return sync


def a_listed_deal() -> Deal:
    return (
        Deal.objects.filter(status="listed", now_price__gt=2600, enriched_at__isnull=False)
        .exclude(now_seller_name="")
        .order_by("asin")
        .first()
    )


def test_a_new_matching_deal_alerts_once_and_again_only_after_a_drop_by_the_rearm_amount(
    keepa, hook, django_capture_on_commit_callbacks, settings
):
    settings.DEALS_BASE_URL = "https://deals.example.com"
    keepa.quiet(True)
    run_update(django_capture_on_commit_callbacks)  # no rule yet: nothing to tell
    deal = a_listed_deal()
    # The deal leaves the database (as if it had never been seen), and a rule watches for it.
    Deal.objects.filter(pk=deal.pk).delete()
    rule = AlertRule.objects.create(
        name="Cheap books", search=f"q={deal.asin}", destinations=[hook.url()], rearm_cents=500
    )
    next_cycle(keepa)
    run_update(django_capture_on_commit_callbacks, full=True)

    assert len(hook.messages) == 1
    message = hook.messages[0]
    fresh = Deal.objects.get(asin=deal.asin)
    buy = economics.buy_total(fresh)
    assert message["title"].startswith("Cheap books: ")
    body = message["message"]
    assert fresh.title in body
    assert "newly matches “Cheap books”" in body
    assert f"Buy: ${buy / 100:,.2f} from {fresh.now_seller_name}" in body
    assert f"Profit: {money(fresh.profit)} · ROI: {fresh.roi_percent:.0f}%" in body
    assert f"Sales rank: {fresh.sales_rank:,}" in body
    assert f"https://deals.example.com/deal/{deal.asin}" in body
    assert f"https://www.amazon.com/gp/offer-listing/{deal.asin}/" in body
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.asin, delivery.rule) == ("sent", deal.asin, rule)
    assert delivery.body == body  # the history keeps the message as sent

    # Another run with no change: nothing more.
    next_cycle(keepa)
    run_update(django_capture_on_commit_callbacks)
    assert len(hook.messages) == 1

    # A drop smaller than the re-arm amount: still nothing.
    keepa.set_offer(deal.asin, "ACHEAPER0SELLER", price=buy - 200, shipping=0, condition=3)
    next_cycle(keepa)
    run_update(django_capture_on_commit_callbacks)
    assert Deal.objects.get(asin=deal.asin).now_total == buy - 200
    assert len(hook.messages) == 1

    # The buy price is now the re-arm amount below the price last told of: one more message.
    keepa.set_offer(deal.asin, "ACHEAPER1SELLER", price=buy - 500, shipping=0, condition=3)
    next_cycle(keepa)
    run_update(django_capture_on_commit_callbacks)
    assert len(hook.messages) == 2
    assert (
        f"buy price dropped $5.00 ({round(500 * 100 / buy)}%) from ${buy / 100:,.2f}"
        in (hook.messages[1]["message"])
    )
    assert AlertState.objects.get(rule=rule, asin=deal.asin).alerted_price == buy - 500


def test_a_failing_destination_is_recorded_and_the_run_and_the_other_destination_go_on(
    keepa, hook, django_capture_on_commit_callbacks, caplog
):
    keepa.quiet(True)
    run_update(django_capture_on_commit_callbacks)
    deal = a_listed_deal()
    Deal.objects.filter(pk=deal.pk).delete()
    down = refused_url(userinfo=f"bot:{HOOK_SECRET}")
    # A webhook's token is often its path: it must not reach a log line either.
    working = hook.url(path=f"hook/{HOOK_SECRET}")
    AlertRule.objects.create(
        name="Two channels", search=f"q={deal.asin}", destinations=[down, working]
    )
    next_cycle(keepa)
    with caplog.at_level(logging.DEBUG):
        sync = run_update(django_capture_on_commit_callbacks, full=True)

    assert sync.status == SyncRun.Status.OK
    assert len(hook.messages) == 1  # the working destination still heard
    failed = AlertDelivery.objects.get(status="failed")
    assert failed.destination == "json://…/****"
    assert failed.error  # the destination's own words, recorded
    assert HOOK_SECRET not in failed.error
    assert AlertDelivery.objects.get(status="sent").asin == deal.asin
    assert HOOK_SECRET not in caplog.text
    assert "json://…/**** failed" in caplog.text


def the_whole_list_under(rule_kwargs: dict, keepa, capture) -> AlertRule:
    """Deals written by a real run, then a rule that looks at all of them (cursor 0)."""
    keepa.quiet(True)
    run_update(capture)
    rule = AlertRule.objects.create(name="Everything", search="", **rule_kwargs)
    AlertRule.objects.filter(pk=rule.pk).update(cursor=0)
    return rule


def test_the_hourly_cap_holds_back_the_excess_and_one_summary_follows(
    keepa, hook, django_capture_on_commit_callbacks
):
    the_whole_list_under(
        {"destinations": [hook.url()], "cap_per_hour": 3}, keepa, django_capture_on_commit_callbacks
    )
    shown = Deal.objects.exclude(status="left").count()
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with freeze_time(start):
        alerts.evaluate()
    assert len(hook.messages) == 3
    held = AlertDelivery.objects.filter(status="held")
    assert held.count() == shown - 3
    assert {d.reason for d in held} == {"hourly cap of 3 reached"}

    with freeze_time(start + timedelta(minutes=30)):
        alerts.evaluate()  # the cap still holds: no summary yet
    assert len(hook.messages) == 3

    with freeze_time(start + timedelta(minutes=61)):
        alerts.evaluate()
        alerts.evaluate()  # told once, not again
    assert len(hook.messages) == 4
    summary = hook.messages[3]
    assert summary["title"] == (
        f"Everything: {shown - 3} more deals matched while held back (hourly cap of 3 reached)"
    )
    assert f"…and {shown - 3 - alerts.SUMMARY_LINES} more." in summary["message"]
    assert not AlertDelivery.objects.filter(status="held", summarised_in__isnull=True).exists()


def test_quiet_hours_hold_everything_back_until_they_end_then_one_summary(
    keepa, hook, django_capture_on_commit_callbacks
):
    rule = the_whole_list_under(
        {"destinations": [hook.url()], "quiet_start": time(22), "quiet_end": time(7)},
        keepa,
        django_capture_on_commit_callbacks,
    )
    shown = Deal.objects.exclude(status="left").count()
    with freeze_time(datetime(2026, 3, 2, 23, 30, tzinfo=UTC)):
        alerts.evaluate()
    with freeze_time(datetime(2026, 3, 3, 6, 59, tzinfo=UTC)):
        alerts.evaluate()
    assert hook.messages == []
    assert AlertDelivery.objects.filter(status="held", reason="quiet hours").count() == shown

    with freeze_time(datetime(2026, 3, 3, 7, 0, tzinfo=UTC)):
        alerts.evaluate()
    assert len(hook.messages) == 1
    assert hook.messages[0]["message"].startswith(
        f"{shown} more deals matched “{rule.name}” while held back (quiet hours):"
    )


def test_a_paused_rule_sends_nothing_and_does_not_flood_when_resumed(
    keepa, hook, django_capture_on_commit_callbacks
):
    rule = the_whole_list_under(
        {"destinations": [hook.url()], "paused": True}, keepa, django_capture_on_commit_callbacks
    )
    alerts.evaluate()
    AlertRule.objects.filter(pk=rule.pk).update(paused=False)
    alerts.evaluate()
    assert hook.messages == [] and not AlertDelivery.objects.exists()
    assert AlertRule.objects.get(pk=rule.pk).cursor == DealEvent.objects.latest("pk").pk


def test_profit_crossing_its_line_alerts_a_deal_already_told_of(hook):
    deal = make_deal("0312850123", profit=900)
    rule = AlertRule.objects.create(
        name="Profit", search="", destinations=[hook.url()], profit_min_cents=1000
    )
    AlertRule.objects.filter(pk=rule.pk).update(cursor=0)
    DealEvent.objects.create(asin=deal.asin, kind="entered")
    alerts.evaluate()
    assert len(hook.messages) == 1  # newly matches
    Deal.objects.filter(pk=deal.pk).update(profit=F("profit") + 200)
    DealEvent.objects.create(asin=deal.asin, kind="changed", field="profit")
    alerts.evaluate()
    assert len(hook.messages) == 2
    assert "Profit rose to $11.00 (at least $10.00)" in hook.messages[1]["message"]


def test_an_evaluation_while_another_runs_does_nothing(hook):
    from deals.models import JobLock

    deal = make_deal("0312850123")
    AlertRule.objects.create(name="All", destinations=[hook.url()])
    DealEvent.objects.create(asin=deal.asin, kind="entered")
    assert JobLock.acquire(alerts.LOCK_NAME, "someone-else", timedelta(minutes=5))
    assert alerts.evaluate().summary() == "skipped: another alerts evaluation is running"
    assert hook.messages == []
    JobLock.release(alerts.LOCK_NAME, "someone-else")
    assert alerts.evaluate().counts["sent"] == 1
    assert len(hook.messages) == 1


def test_a_message_that_failed_is_told_of_in_a_summary_once_the_destination_works_again(hook):
    deal = make_deal("0312850123", title="The Failed Message")
    rule = AlertRule.objects.create(name="All", destinations=[hook.url()])
    DealEvent.objects.create(asin=deal.asin, kind="entered")
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    hook.status = 500  # the webhook is down
    with freeze_time(start):
        assert alerts.evaluate().counts["failed"] == 1
    hook.status = 200
    with freeze_time(start + timedelta(minutes=5)):
        alerts.evaluate()  # too soon after the failure: not tried again yet
    assert len(hook.messages) == 1  # only the failed attempt reached it

    with freeze_time(start + alerts.RETRY_AFTER + timedelta(minutes=1)):
        alerts.evaluate()
        alerts.evaluate()  # told once, not again
    assert len(hook.messages) == 2
    summary = hook.messages[1]
    assert summary["title"] == (
        "All: 1 more deal matched while messages could not go (delivery failed earlier)"
    )
    assert "The Failed Message" in summary["message"]
    assert f"/deal/{deal.asin}" in summary["message"]
    failed = AlertDelivery.objects.get(kind="deal", status="failed")
    assert failed.summarised_in.status == "sent"
    assert failed.summarised_in.rule == rule


def test_a_summary_that_fails_leaves_its_deals_owed_for_the_next_try(hook):
    AlertRule.objects.create(name="All", destinations=[hook.url()], cap_per_hour=1)
    for asin in ("0312850123", "0312850131"):
        DealEvent.objects.create(asin=make_deal(asin).asin, kind="entered")
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with freeze_time(start):
        alerts.evaluate()  # one sent, one held back by the cap
    hook.status = 503
    with freeze_time(start + timedelta(minutes=61)):
        alerts.evaluate()  # the summary fails
    assert AlertDelivery.objects.get(kind="summary").status == "failed"
    assert AlertDelivery.objects.get(status="held").summarised_in is None

    hook.status = 200
    with freeze_time(start + timedelta(minutes=61) + alerts.RETRY_AFTER + timedelta(minutes=1)):
        alerts.evaluate()
    sent = AlertDelivery.objects.get(kind="summary", status="sent")
    assert AlertDelivery.objects.get(status="held").summarised_in == sent
    assert hook.messages[-1]["title"] == (
        "All: 1 more deal matched while held back (hourly cap of 1 reached)"
    )


def test_a_failed_message_older_than_a_day_is_not_sent_again(hook):
    deal = make_deal("0312850123")
    AlertRule.objects.create(name="All", destinations=[hook.url()])
    DealEvent.objects.create(asin=deal.asin, kind="entered")
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    hook.status = 500
    with freeze_time(start):
        alerts.evaluate()
    hook.status = 200
    with freeze_time(start + alerts.RETRY_WITHIN + timedelta(minutes=1)):
        alerts.evaluate()
    assert len(hook.messages) == 1  # the failed attempt only: a day-old deal is not news
