"""The token plan as the status line and the token page show it: Keepa's refill rate, its
hourly split between sweeps, verification and offers look-ups, the offers backlog and how
long it takes to clear at that rate. Read-only: a few counts over the deals, kept for every
web process (deals/kept.py) and worked out again when an update run starts or ends, and every
minute in between. The dashboard's status line shows it on every page and every poll
with changes. The counts take 20 ms at 50,000 deals on SQLite and 80-90 ms on PostgreSQL while
a sweep rewrites rows; worked out again after every written page (at most every 15 s), they
made every few pages a slow one, for an hourly budget that a minute or two does not change."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from deals import offers_queue
from deals.config import ConfigError, load_config
from deals.enrich import OFFERS_RETRY_AFTER
from deals.kept import kept
from deals.models import Deal, DealStatus, EnrichPriority, SyncRun
from deals.planner import TokenPlan, plan_tokens


@dataclass(frozen=True)
class PlanView:
    plan: TokenPlan
    deals: int  # shown deals (not left)
    backlog: int  # deals waiting for an offers look-up
    new_or_drops: int  # of them, new deals, price drops and never looked up
    # Besides the backlog: deals whose offers Keepa could not list at their last look-up,
    # waiting for the retry time it asked for (deals/enrich.py OFFERS_RETRY_AFTER).
    retrying: int = 0
    # Look-ups run with the scheduled syncs: a backlog never clears sooner than the next one.
    sync_every_minutes: int = 0

    @property
    def lookups_per_hour(self) -> int:
        return self.plan.offers_per_hour // offers_queue.TYPICAL_LOOKUP_TOKENS

    @property
    def retry_minutes(self) -> int:
        return int(OFFERS_RETRY_AFTER.total_seconds() // 60)

    @property
    def refill_per_hour(self) -> int:
        return self.plan.refill_per_minute * 60

    @property
    def hours_to_clear(self) -> float | None:
        """Hours the offers share takes to look up every waiting deal (None: never)."""
        if not self.backlog:
            return 0.0
        if not self.lookups_per_hour:
            return None
        return self.backlog / self.lookups_per_hour

    @property
    def clear_text(self) -> str:
        hours = self.hours_to_clear
        if hours is None:
            return "not at this rate: no tokens left for offers"
        if hours == 0:
            return "nothing waits"
        if hours * 60 < self.sync_every_minutes:
            return f"up to {self.sync_every_minutes} min"
        if hours < 1:
            return f"about {max(1, round(hours * 60))} min"
        if hours < 48:
            return f"about {hours:.0f} h" if hours >= 10 else f"about {hours:.1f} h"
        return f"about {hours / 24:.0f} days"


# Between update runs' starts and ends, the figures are worked out again this often: deals
# written meanwhile (a sweep's pages, look-ups, checks) and look-ups falling due show then.
# Worked out by a thread while the figures as they stand are served (deals/kept.py): 300 ms
# of a core at 50,000 deals on SQLite while a sweep writes, which made one page every two
# minutes the slowest of all.
CACHE_SECONDS = 60


def current() -> PlanView | None:
    """The plan at the refill rate Keepa reported last (None before any answer, or when
    settings.json cannot be read): worked out again at once when an update run starts or
    ends or settings.json is saved, and every CACHE_SECONDS in between (in the background)."""
    run_id, status = SyncRun.objects.updates().order_by("-pk").values_list(
        "pk", "status"
    ).first() or (0, "")
    try:
        saved = settings.DEALS_SETTINGS_FILE.stat().st_mtime_ns
    except OSError:
        saved = 0
    key = f"deals:token-plan:{run_id}-{status}-{saved}"
    # False: nothing to show, kept too.
    found = kept(
        key,
        int(time.time() // CACHE_SECONDS),
        lambda: _work_out() or False,
        every=0,
        max_age=10 * CACHE_SECONDS,
        in_background=True,
        clock=True,
    )
    return found or None


def _work_out() -> PlanView | None:
    refill = (
        SyncRun.objects.filter(refill_rate__isnull=False)
        .order_by("-started_at")
        .values_list("refill_rate", flat=True)
        .first()
    )
    if refill is None:
        return None
    try:
        config = load_config()
    except ConfigError:
        return None
    deals = Deal.objects.exclude(status=DealStatus.LEFT).count()
    now = timezone.now()
    waiting = offers_queue.queue(config, now)
    urgent = waiting.filter(enrich_priority__gte=EnrichPriority.PRICE_CHANGED) | waiting.filter(
        enriched_at__isnull=True
    )
    return PlanView(
        plan=plan_tokens(refill, deals, config),
        deals=deals,
        backlog=waiting.count(),
        new_or_drops=urgent.count(),
        retrying=offers_queue.retrying(config, now).count(),
        sync_every_minutes=config.update_every_minutes,
    )
