"""prune_stale_deals: remove deals that successful full sweeps stopped seeing, guarded.

Absence is not death: Keepa lists only products it updated in the last ~12 h, and a failing
run sees nothing. A deal leaves only when a successful full sweep that began after its grace
period started has missed it; if no such sweep exists, nothing is deleted and the run says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from deals.config import DealSettings, load_config
from deals.jobs import Job, Run, run_job
from deals.models import Deal, DealEvent, SyncRun

LOCK_NAME = "prune_stale_deals"
LOCK_TTL = timedelta(minutes=30)
BATCH_SIZE = 500


@dataclass(frozen=True)
class PrunePlan:
    cutoff: datetime
    guard_sweep: SyncRun | None
    candidates: int
    reason: str
    examples: list[str] = field(default_factory=list)


def plan(now: datetime | None = None, config: DealSettings | None = None) -> PrunePlan:
    """Work out what a prune would delete now, and why (or why not)."""
    now = now or timezone.now()
    config = config or load_config()
    cutoff = now - timedelta(hours=config.stale_after_hours)
    guard = (
        SyncRun.objects.updates()
        .filter(full_sweep=True, sweep_complete=True, sweep_started_at__gte=cutoff)
        .order_by("-sweep_started_at")
        .first()
    )
    if guard is None:
        return PrunePlan(
            cutoff,
            None,
            0,
            f"no successful full sweep in the last {config.stale_after_hours} h "
            "(Keepa down, key lapsed or token budget exhausted?): nothing deleted",
        )
    candidates = list(stale_deals(cutoff, guard).values_list("asin", flat=True)[:11])
    return PrunePlan(
        cutoff,
        guard,
        stale_deals(cutoff, guard).count(),
        f"not seen by successful full sweeps for over {config.stale_after_hours} h",
        candidates[:10],
    )


def stale_deals(cutoff: datetime, guard: SyncRun) -> QuerySet[Deal]:
    """Deals the guard sweep should have seen and did not, for longer than the grace period."""
    stale = Deal.objects.stale(cutoff).filter(last_seen_utc__lt=guard.sweep_started_at)
    if guard.capped and guard.oldest_last_update:
        # Past Keepa's 10,000-deal cap the sweep could not look: only deals Keepa updated
        # more recently than the last one it could list count as missed.
        stale = stale.filter(keepa_last_update__gte=guard.oldest_last_update)
    return stale


PRUNE_JOB = Job(SyncRun.Kind.PRUNE, LOCK_NAME, LOCK_TTL)


def run(*, dry_run: bool = False, trigger: str = "schedule") -> SyncRun:
    """Delete stale deals in bounded batches, recording a `left` event for each.

    The lock, the run record and how an error ends the run are the shared job skeleton's
    (deals/jobs.py); a dry run takes no lock and records nothing.
    """
    return run_job(PRUNE_JOB, trigger, lambda context: _prune(context, dry_run), dry_run=dry_run)


def _prune(run: Run, dry_run: bool) -> None:
    now = timezone.now()
    decision = plan(now, run.config)
    # History beyond the retention goes whatever the sweeps did.
    expired = 0 if dry_run else _expire_events(now, run.config)
    if decision.guard_sweep is None:
        run.skip(decision.reason)
        return
    if dry_run:
        examples = ", ".join(decision.examples)
        more = "…" if decision.candidates > len(decision.examples) else ""
        listed = f": {examples}{more}" if examples else ""
        run.notes.append(
            f"dry run: would remove {decision.candidates} deals ({decision.reason}){listed}"
        )
        return
    _delete_stale(decision, run)
    note = decision.reason if run.counts["pruned"] else "no stale deals"
    if expired:
        note += f"; {expired} history events older than the retention removed"
    run.notes.append(note)


def _delete_stale(decision: PrunePlan, run: Run) -> None:
    stale = stale_deals(decision.cutoff, decision.guard_sweep)
    while True:
        # Select and delete in one transaction (IMMEDIATE on SQLite; locked rows elsewhere):
        # a deal an upserter sees meanwhile is either still stale here or not selected.
        with transaction.atomic():
            batch = list(
                stale.select_for_update()
                .order_by("pk")
                .values_list("pk", "asin", "now_price")[:BATCH_SIZE]
            )
            if not batch:
                return
            now = timezone.now()
            DealEvent.objects.write(
                [
                    DealEvent.row(
                        asin,
                        DealEvent.Kind.LEFT,
                        old=price,
                        reason=decision.reason,
                        at=now,
                        run_id=run.sync.pk,
                    )
                    for _, asin, price in batch
                ]
            )
            Deal.objects.filter(pk__in=[pk for pk, _, _ in batch]).delete()
            run.counts["pruned"] += len(batch)


def _expire_events(now: datetime, config: DealSettings) -> int:
    cutoff = now - timedelta(days=config.event_retention_days)
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(DealEvent.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:5000])
            if not ids:
                return expired
            DealEvent.objects.filter(pk__in=ids).delete()
            expired += len(ids)
