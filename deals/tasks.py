"""django-q2 entry points: one-line callers of the jobs."""

from __future__ import annotations

from django.utils import timezone

from deals import backfill, ingest, prune
from deals.models import JobLock


def update_recent_deals(trigger: str = "schedule") -> str:
    try:
        return ingest.run(trigger=trigger).summary()
    finally:
        if trigger == "manual":
            # Give back the Refresh button's claim (deals.views.refresh) once the run is over.
            JobLock.objects.filter(name="refresh_queued").update(locked_until=timezone.now())


def prune_stale_deals() -> str:
    return prune.run().summary()


def backfill_all_deals(columns: list[str] | None = None, only_missing: bool = False) -> str:
    return backfill.run(columns, only_missing=only_missing, trigger="task").summary()
