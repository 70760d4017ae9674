"""The token plan as the status line and the token page show it: Keepa's refill rate, its
hourly split between sweeps, verification and offers look-ups, the offers backlog and how
long it takes to clear at that rate. Read-only: a few counts over the deals, kept for a minute
per process and worked out again as soon as a sync run starts or ends or deals change (while
they keep changing, every 15 s at most: deals/kept.py). The dashboard's status line asks for
them on every page and every poll with changes; at 50,000 deals the counts take a few hundred
milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone

from deals import offers_queue
from deals.config import ConfigError, load_config
from deals.kept import kept
from deals.models import Deal, DealEvent, DealStatus, EnrichPriority, SyncRun
from deals.planner import TokenPlan, plan_tokens


@dataclass(frozen=True)
class PlanView:
    plan: TokenPlan
    deals: int  # shown deals (not left)
    backlog: int  # deals waiting for an offers look-up
    new_or_drops: int  # of them, new deals, price drops and never looked up
    # Look-ups run with the scheduled syncs: a backlog never clears sooner than the next one.
    sync_every_minutes: int = 0

    @property
    def lookups_per_hour(self) -> int:
        return self.plan.offers_per_hour // offers_queue.TYPICAL_LOOKUP_TOKENS

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


CACHE_SECONDS = 60
# While deals keep changing (a sweep writes a page every few seconds), the figures are worked
# out again at most this often (deals/kept.py): each time is two counts over every deal.
CHANGES_EVERY_SECONDS = 15


def current() -> PlanView | None:
    """The plan at the refill rate Keepa reported last (None before any answer, or when
    settings.json cannot be read): worked out again at once when an update run starts or
    ends, after deals change (within CHANGES_EVERY_SECONDS while they keep changing), and
    after a minute in any case."""
    run_id, status = SyncRun.objects.updates().order_by("-pk").values_list(
        "pk", "status"
    ).first() or (0, "")
    event = DealEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0
    key = f"deals:token-plan:{run_id}-{status}"
    # False: nothing to show, kept too.
    found = kept(
        key, event, lambda: _work_out() or False, every=CHANGES_EVERY_SECONDS, max_age=CACHE_SECONDS
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
    waiting = offers_queue.queue(config, timezone.now())
    urgent = waiting.filter(enrich_priority__gte=EnrichPriority.PRICE_CHANGED) | waiting.filter(
        enriched_at__isnull=True
    )
    return PlanView(
        plan=plan_tokens(refill, deals, config),
        deals=deals,
        backlog=waiting.count(),
        new_or_drops=urgent.count(),
        sync_every_minutes=config.update_every_minutes,
    )
