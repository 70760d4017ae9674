"""Alerts: after each update run, tell each rule's destinations of the deals that newly match
its search, or dropped enough, or crossed its Profit/ROI line — once, politely, and safely.

The one home of the alerts job: the django-q2 task (deals/tasks.py `evaluate_alerts`, queued by
the upserter once its run has committed) and `manage.py alert_rule test` call into here.

- **What changed** is read from the DealEvent ids after each rule's cursor (the live poll reads
  the same ids): only the deals that entered or changed since the rule last looked are matched.
- **What matches** is the dashboard's own query (deals/dashboard.py `DashboardQuery`) on the
  rule's query string, so a rule and the dashboard page with that URL agree, always.
- **Hygiene**: one alert per deal per rule, until its buy price falls by the rule's re-arm
  amount below the price last told of (`AlertState`). A destination gets at most the rule's
  cap per hour, and nothing in quiet hours: what is held back is told of in one summary, sent
  by a later run once the destination may hear again.
- **Safety**: every message goes through Apprise with bounded timeouts; a destination that fails
  is recorded (its error scrubbed of the URL's secrets) and skipped for the rest of the run.
  Nothing here can fail the update run: it runs in its own task, after the run committed.
- **Nothing told is lost**: a deal message that failed is owed, like a held one. Once the
  destination has gone `RETRY_AFTER` without a failure, a later run tells of what it is owed
  (held back, or failed in the last `RETRY_WITHIN`) in one summary; a summary that fails
  leaves them owed for the next try.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import apprise
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from deals import economics
from deals.alert_models import AlertDelivery, AlertRule, AlertState
from deals.alert_urls import mask, scrub
from deals.dashboard import DashboardQuery, current_cursor
from deals.formatting import EMPTY, condition_name, money
from deals.models import Deal, DealEvent, JobLock

log = logging.getLogger(__name__)

# A summary lists this many held-back deals by name; the rest are counted.
SUMMARY_LINES = 15
HOUR = timedelta(hours=1)
LOCK_NAME = "evaluate_alerts"
# Longer than the task may run (deals/tasks.py ALERTS_TASK_TIMEOUT_S), so a live evaluation
# keeps it, and short enough that a dead one's lock frees itself.
LOCK_TTL = timedelta(minutes=10)
# A destination that failed is tried again with what it is owed after this long (two update
# runs at the default cadence: a webhook restarting or a mail server's hiccup is over by then,
# and a destination that stays down costs one failed attempt per this period, not per run).
RETRY_AFTER = timedelta(minutes=10)
# A failed deal message is owed for this long; older ones describe deals that have moved on.
RETRY_WITHIN = timedelta(hours=24)
FAILED_EARLIER = "delivery failed earlier"


@dataclass
class Outcome:
    """What one evaluation did, for the task's one log line."""

    counts: Counter[str] = field(default_factory=Counter)
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return "skipped: another alerts evaluation is running"
        c = self.counts
        return (
            f"{c['rules']} rules looked at {c['deals']} changed deals: "
            f"{c['sent']} sent, {c['held']} held back, {c['failed']} failed, "
            f"{c['summaries']} summaries"
            + (f", {c['errors']} rules in error (see the log)" if c["errors"] else "")
        )


# -- evaluation ---------------------------------------------------------------------------


def evaluate(now: datetime | None = None) -> Outcome:
    """Match the deals changed since each rule's cursor, and send what is due.

    One evaluation at a time (a lock, as the jobs hold): two at once could both send a
    summary, or both fit under a cap. One that finds the lock held does nothing; the
    running one, or the next update run's, reads the same events.
    """
    owner = JobLock.owner_token()
    if not JobLock.acquire(LOCK_NAME, owner, LOCK_TTL):
        outcome = Outcome()
        outcome.skipped = True
        return outcome
    try:
        return _evaluate(now or timezone.now())
    finally:
        JobLock.release(LOCK_NAME, owner)


def _evaluate(now: datetime) -> Outcome:
    latest = current_cursor()
    outcome = Outcome()
    failed_here: set[str] = set()  # destinations that failed in this evaluation
    for rule in AlertRule.objects.order_by("pk"):
        start = rule.cursor
        # Claimed with a conditional UPDATE: of two evaluations, only one reads these events.
        claimed = (
            start < latest
            and AlertRule.objects.filter(pk=rule.pk, cursor=start).update(cursor=latest) == 1
        )
        if rule.paused:
            continue
        outcome.counts["rules"] += 1
        try:
            _evaluate_rule(rule, start if claimed else None, latest, now, outcome, failed_here)
        except Exception as exc:  # one rule's trouble must not keep the others quiet
            error = scrub(f"{type(exc).__name__}: {exc}", rule.destinations)
            log.error("alert rule %r could not be evaluated: %s", rule.name, error)
            outcome.counts["errors"] += 1
    return outcome


def _evaluate_rule(
    rule: AlertRule,
    start: int | None,
    latest: int,
    now: datetime,
    outcome: Outcome,
    failed_here: set[str],
) -> None:
    """Send what was held back and may go now, then what the events (start, latest] bring
    (none when `start` is None: this evaluation did not claim them)."""
    _flush_held(rule, now, outcome, failed_here)
    if start is None:
        return
    asins = changed_asins(start, latest)
    outcome.counts["deals"] += len(asins)
    for deal, reason in decide(rule, asins, now):
        _deliver(rule, deal, reason, now, outcome, failed_here)


def changed_asins(after: int, through: int) -> list[str]:
    """ASINs of the deals that entered or changed in the DealEvent ids (after, through]."""
    return list(
        DealEvent.objects.filter(
            pk__gt=after,
            pk__lte=through,
            kind__in=[DealEvent.Kind.ENTERED, DealEvent.Kind.CHANGED],
        )
        .order_by()
        .values_list("asin", flat=True)
        .distinct()
    )


def matching(rule: AlertRule, asins: Iterable[str] | None = None) -> list[Deal]:
    """The rule's deals, as the dashboard would list them for its query string (in its sort
    order, so a cap keeps the ones the reseller ranks first); limited to `asins` if given."""
    query = DashboardQuery.from_request(QueryDict(rule.search))
    deals = query.queryset()
    if asins is not None:
        deals = deals.filter(asin__in=list(asins))
    return list(deals)


def matching_count(rule: AlertRule) -> int:
    """How many deals the rule's search finds now (the dashboard's count for that URL)."""
    return DashboardQuery.from_request(QueryDict(rule.search)).queryset().count()


def decide(rule: AlertRule, asins: list[str], now: datetime) -> list[tuple[Deal, str]]:
    """The (deal, why) pairs to tell of, remembering what was told (`AlertState`)."""
    if not asins:
        return []
    deals = matching(rule, asins)
    states = {s.asin: s for s in AlertState.objects.filter(rule=rule, asin__in=asins)}
    due: list[tuple[Deal, str]] = []
    # One short transaction for the memory of every deal (no network call inside).
    with transaction.atomic():
        for deal in deals:
            price = economics.buy_total(deal)
            state = states.get(deal.asin)
            reason = why(rule, deal, price, state)
            if state is None:
                state = AlertState(rule=rule, asin=deal.asin)
            if reason:
                state.alerted_price, state.alerted_at = price, now
                due.append((deal, reason))
            state.seen_profit, state.seen_roi = deal.profit, deal.roi_percent
            state.save()
    return due


def why(rule: AlertRule, deal: Deal, price: int | None, state: AlertState | None) -> str:
    """Why this matching deal is worth a message now, or "" when it is not."""
    if state is None:
        return f"newly matches “{rule.name}”"
    reasons = []
    before = state.alerted_price
    if before is not None and price is not None and before - price >= rule.rearm_cents:
        drop = before - price
        wanted = rule.drop_cents is None and rule.drop_percent is None
        if rule.drop_cents is not None and drop >= rule.drop_cents:
            wanted = True
        if rule.drop_percent is not None and drop * 100 >= rule.drop_percent * before:
            wanted = True
        if wanted:
            pct = round(drop * 100 / before) if before else 0
            reasons.append(f"buy price dropped {money(drop)} ({pct}%) from {money(before)}")
    line = rule.profit_min_cents
    if line is not None and _crossed(state.seen_profit, deal.profit, line):
        reasons.append(f"Profit rose to {money(deal.profit)} (at least {money(line)})")
    roi_line = rule.roi_min_percent
    if roi_line is not None and _crossed(state.seen_roi, deal.roi_percent, roi_line):
        reasons.append(f"ROI rose to {deal.roi_percent:.0f}% (at least {roi_line}%)")
    return "; ".join(reasons)


def _crossed(before: float | None, now: float | None, line: float) -> bool:
    return before is not None and now is not None and before < line <= now


# -- messages -----------------------------------------------------------------------------


def deal_url(asin: str) -> str:
    return f"{settings.DEALS_BASE_URL}{reverse('deal_detail', args=[asin])}"


def buy_line(deal: Deal) -> str:
    price = money(economics.buy_total(deal))
    if not deal.buy_price_checked:
        return f"Buy: {price} (an estimate: the seller is not checked yet)"
    seller = deal.now_seller_name or deal.now_seller_id or "an unnamed seller"
    extra = ", ".join(
        x for x in (condition_name(deal.now_condition), "FBA" if deal.now_is_fba else "") if x
    )
    return f"Buy: {price} from {seller}" + (f" ({extra})" if extra else "")


def compose(rule: AlertRule, deal: Deal, reason: str) -> tuple[str, str]:
    """The message's title and plain-text body: what the deal is and why it fired."""
    roi = EMPTY if deal.roi_percent is None else f"{deal.roi_percent:.0f}%"
    rank = EMPTY if deal.sales_rank is None else f"{deal.sales_rank:,}"
    title = f"{rule.name}: {deal.title or deal.asin}"[:250]
    lines = [
        deal.title or deal.asin,
        f"Why: {reason} (rule “{rule.name}”)",
        buy_line(deal),
        f"Profit: {money(deal.profit)} · ROI: {roi}",
        f"Sales rank: {rank}",
        f"ASIN: {deal.asin}",
        f"Deal page: {deal_url(deal.asin)}",
    ]
    if deal.buy_url:
        lines.append(f"Used offers on Amazon: {deal.buy_url}")
    return title, "\n".join(lines)


def compose_summary(rule: AlertRule, owed: list[AlertDelivery]) -> tuple[str, str]:
    """One message for the deals a destination was not told of: held back (hourly cap, quiet
    hours) or whose own message failed."""
    why = ", ".join(sorted({_owed_reason(d) for d in owed}))
    count = len(owed)
    noun = "deal" if count == 1 else "deals"
    if any(d.status == AlertDelivery.Status.FAILED for d in owed):
        title = f"{rule.name}: {count} more {noun} matched while messages could not go ({why})"
        lines = [f"{count} more {noun} matched “{rule.name}” while messages could not go ({why}):"]
    else:
        title = f"{rule.name}: {count} more {noun} matched while held back ({why})"
        lines = [f"{count} more {noun} matched “{rule.name}” while held back ({why}):"]
    for delivery in owed[:SUMMARY_LINES]:
        lines.append(f"- {delivery.title.removeprefix(rule.name + ': ')} {deal_url(delivery.asin)}")
    if count > SUMMARY_LINES:
        lines.append(f"…and {count - SUMMARY_LINES} more.")
    return title[:250], "\n".join(lines)


def _owed_reason(delivery: AlertDelivery) -> str:
    return FAILED_EARLIER if delivery.status == AlertDelivery.Status.FAILED else delivery.reason


def compose_test(rule: AlertRule) -> tuple[str, str]:
    title = f"{rule.name}: test message"
    body = (
        f"This is a test of the alert rule “{rule.name}” from the deals database.\n"
        f"Search: {rule.search or '(every deal)'}\n"
        f"Deals matching now: {matching_count(rule)}\n"
        f"Dashboard: {settings.DEALS_BASE_URL}{reverse('dashboard')}?{rule.search}"
    )
    return title, body


# -- delivery -----------------------------------------------------------------------------


def destination_key(url: str) -> str:
    """A keyed hash of a destination URL (the cap counts by it; it reveals nothing)."""
    return hmac.new(settings.SECRET_KEY.encode(), url.encode(), hashlib.sha256).hexdigest()


def send(url: str, title: str, body: str) -> str:
    """Send one message through Apprise; return "" when it was accepted, else the error
    (scrubbed: no part of the URL's secrets). Never raises, never waits unboundedly."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "not a destination Apprise understands"
    for plugin in notifier:
        plugin.socket_connect_timeout = settings.ALERT_TIMEOUT_S
        plugin.socket_read_timeout = settings.ALERT_TIMEOUT_S
    with (
        _no_request_lines(),
        apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured,
    ):
        try:
            ok = notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
            error = "" if ok else "the destination did not accept the message"
        except Exception as exc:  # a plugin's bug must not end the run
            error = f"{type(exc).__name__}: {exc}"
        said = captured.getvalue()
    if not error:
        return ""
    detail = "; ".join(line.strip() for line in said.splitlines() if line.strip())
    text = scrub(f"{detail} ({error})" if detail else error, [url])[:1000]
    log.warning("alert to %s failed: %s", mask(url), text)
    return text


@contextmanager
def _no_request_lines() -> Iterator[None]:
    """urllib3's DEBUG lines quote each request's path, and a webhook's path is its token:
    while a message is sent, that logger says nothing below INFO."""
    logger = logging.getLogger("urllib3")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


def _record(
    rule: AlertRule, url: str, status: str, *, title: str, body: str, **fields: object
) -> AlertDelivery:
    return AlertDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        status=status,
        destination=mask(url),
        destination_key=destination_key(url),
        # Composed from the deal and the rule only: no destination URL is ever in them.
        title=title,
        body=body,
        **fields,
    )


def _messages_to(url: str, status: str, since: datetime, now: datetime) -> QuerySet:
    """The messages to `url` with `status` in (since, now]."""
    return AlertDelivery.objects.filter(
        destination_key=destination_key(url), status=status, at__gt=since, at__lte=now
    )


def sent_last_hour(url: str, now: datetime) -> int:
    return _messages_to(url, AlertDelivery.Status.SENT, now - HOUR, now).count()


def held_reason(rule: AlertRule, url: str, now: datetime) -> str:
    """Why a message to `url` must wait now ("" when it may go)."""
    if rule.is_quiet(now):
        return "quiet hours"
    if sent_last_hour(url, now) >= rule.cap_per_hour:
        return f"hourly cap of {rule.cap_per_hour} reached"
    return ""


def _send_and_record(
    rule: AlertRule,
    url: str,
    title: str,
    body: str,
    now: datetime,
    failed_here: set[str],
    **fields: object,
) -> AlertDelivery:
    if url in failed_here:
        error = "not tried: this destination failed earlier in the same run"
    else:
        error = send(url, title, body)
        if error:
            failed_here.add(url)
    status = AlertDelivery.Status.FAILED if error else AlertDelivery.Status.SENT
    return _record(rule, url, status, title=title, body=body, error=error, at=now, **fields)


def _deliver(
    rule: AlertRule,
    deal: Deal,
    reason: str,
    now: datetime,
    outcome: Outcome,
    failed_here: set[str],
) -> None:
    title, body = compose(rule, deal, reason)
    for url in rule.destinations:
        wait = held_reason(rule, url, now)
        if wait:
            _record(
                rule, url, AlertDelivery.Status.HELD, title=title, body=body,
                asin=deal.asin, reason=wait, at=now,
            )  # fmt: skip
            outcome.counts["held"] += 1
            continue
        delivery = _send_and_record(
            rule, url, title, body, now, failed_here, asin=deal.asin, reason=reason
        )
        outcome.counts[delivery.status] += 1


def owed(rule: AlertRule, url: str, now: datetime) -> list[AlertDelivery]:
    """The rule's deal messages `url` has not been told of: held back, or failed within
    `RETRY_WITHIN`, and in no summary that went."""
    return list(
        AlertDelivery.objects.filter(
            Q(status=AlertDelivery.Status.HELD)
            | Q(status=AlertDelivery.Status.FAILED, at__gt=now - RETRY_WITHIN),
            rule=rule,
            kind=AlertDelivery.Kind.DEAL,
            destination_key=destination_key(url),
            summarised_in__isnull=True,
        ).order_by("at", "pk")
    )


def failed_lately(url: str, now: datetime) -> bool:
    """Whether a message to `url` failed in the last `RETRY_AFTER`."""
    return _messages_to(url, AlertDelivery.Status.FAILED, now - RETRY_AFTER, now).exists()


def _flush_held(rule: AlertRule, now: datetime, outcome: Outcome, failed_here: set[str]) -> None:
    """Send one summary per destination of what it is owed (`owed`), once it may hear again
    and has not failed lately; the owed messages are marked told of only if it went."""
    for url in rule.destinations:
        due = owed(rule, url, now)
        if not due or held_reason(rule, url, now) or failed_lately(url, now):
            continue
        title, body = compose_summary(rule, due)
        summary = _send_and_record(
            rule, url, title, body, now, failed_here,
            kind=AlertDelivery.Kind.SUMMARY, reason=f"{len(due)} not told of",
        )  # fmt: skip
        outcome.counts["summaries"] += 1
        if summary.status == AlertDelivery.Status.FAILED:
            outcome.counts["failed"] += 1
            continue
        AlertDelivery.objects.filter(pk__in=[d.pk for d in due]).update(summarised_in=summary)


def send_test(rule: AlertRule) -> list[AlertDelivery]:
    """Send a test message to each of the rule's destinations now (no cap, no quiet hours):
    one recorded delivery each, sent or failed with its scrubbed error."""
    title, body = compose_test(rule)
    now = timezone.now()
    return [
        _send_and_record(rule, url, title, body, now, set(), kind=AlertDelivery.Kind.TEST)
        for url in rule.destinations
    ]
