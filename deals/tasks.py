"""The whole django-q2 seam: the task entry points, and everything that queues them.

The entry points are one-line callers of the jobs. Their dotted paths are derived here, once,
from the functions themselves; the Refresh button, the Costs save, the admin and the schedules
queue work only through this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from deals import backfill, ingest, prune
from deals.models import JobLock


def update_recent_deals(trigger: str = "schedule") -> str:
    try:
        return ingest.run(trigger=trigger).summary()
    finally:
        if trigger == "manual":
            release_refresh_request()


def prune_stale_deals() -> str:
    return prune.run().summary()


def backfill_all_deals(columns: list[str] | None = None, only_missing: bool = False) -> str:
    return backfill.run(columns, only_missing=only_missing, trigger="task").summary()


def recompute_columns(columns: list[str]) -> str:
    # Given back before the first settings read: a save from now on is not seen by this run
    # for sure, so it may queue one more (see `queue_recompute`).
    release_recompute_claim(columns)
    return f"{backfill.recompute_all(columns)} rows recomputed"


def task_path(func: Callable[..., object]) -> str:
    """The dotted path django-q2 stores for a task function."""
    return f"{func.__module__}.{func.__qualname__}"


UPDATE_TASK = task_path(update_recent_deals)
PRUNE_TASK = task_path(prune_stale_deals)
BACKFILL_TASK = task_path(backfill_all_deals)
RECOMPUTE_TASK = task_path(recompute_columns)

# Held from a Refresh click until its run is over, so more clicks queue nothing more; it
# expires by itself if no worker ever runs the task. A Refresh is watched as long.
REFRESH_CLAIM = "refresh_queued"
REFRESH_CLAIM_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)


def request_refresh() -> tuple[str | None, str]:
    """Queue one manual update for the worker: (task id, message), or (None, why not).

    Of many simultaneous requests exactly one queues: the claim is a conditional UPDATE,
    and the task gives it back when its run is over (`release_refresh_request`).
    """
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    if update_running():
        return None, "A sync is already running — its changes will appear by themselves."
    queued = any(row.func() == UPDATE_TASK for row in OrmQ.objects.all())
    if queued or not JobLock.acquire(REFRESH_CLAIM, JobLock.owner_token(), REFRESH_CLAIM_TTL):
        return None, "A sync is already queued — its changes will appear by themselves."
    return async_task(UPDATE_TASK, "manual"), "Starting the sync…"


def release_refresh_request() -> None:
    JobLock.objects.filter(name=REFRESH_CLAIM).update(locked_until=timezone.now())


def update_running() -> bool:
    """An update run holds its lock now."""
    return JobLock.is_held(ingest.LOCK_NAME)


# Held from queueing a recompute until that recompute starts (one claim per set of columns).
# The recompute reads settings.json afresh for every chunk, so a save while one is queued
# needs nothing more; a save while one runs queues exactly one more. It expires by itself if
# no worker ever runs the task (then the next save queues again).
RECOMPUTE_CLAIM_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
# The claim belongs to the queued task, not to the process that queued it: no pid in it, so
# a web worker's restart does not count as the holder dying.
RECOMPUTE_CLAIM_OWNER = "queued-recompute"


def queue_recompute(columns: list[str]) -> str | None:
    """Queue a recompute of `columns` for every deal (no Keepa call): the task id, or None
    when one is queued and not yet started (it will read the settings just written).

    Only ever called after settings.json is written: the claim is taken after the write and
    the task gives it back before its first read, so no save goes unseen.
    """
    from django_q.tasks import async_task

    if not JobLock.acquire(recompute_claim(columns), RECOMPUTE_CLAIM_OWNER, RECOMPUTE_CLAIM_TTL):
        return None
    try:
        return async_task(RECOMPUTE_TASK, columns, task_name="recompute economics")
    except BaseException:
        release_recompute_claim(columns)  # nothing was queued: the next save must queue
        raise


def recompute_claim(columns: list[str]) -> str:
    """The claim's JobLock name for this set of columns (a name fits in 64 characters)."""
    digest = hashlib.sha1(",".join(sorted(columns)).encode()).hexdigest()[:16]
    return f"recompute_queued:{digest}"


def release_recompute_claim(columns: list[str]) -> None:
    JobLock.objects.filter(name=recompute_claim(columns)).update(locked_until=timezone.now())


def queue_backfill() -> str:
    """Queue a backfill of every computed column; return the task id."""
    from django_q.tasks import async_task

    return async_task(BACKFILL_TASK, task_name="backfill_all_deals")
