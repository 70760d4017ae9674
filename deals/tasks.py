"""The whole django-q2 seam: the task entry points, and everything that queues them.

The entry points are one-line callers of the jobs. Their dotted paths are derived here, once,
from the functions themselves; the Refresh button, the Costs save, the admin and the schedules
queue work only through this module.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from deals import backfill, ingest, prune
from deals.models import JobLock, SyncRun, WorkerHeartbeat

log = logging.getLogger(__name__)

# The locks the jobs hold while they run, for whoever must know whether one is running.
JOB_LOCKS = (ingest.LOCK_NAME, prune.LOCK_NAME, backfill.LOCK_NAME)


def _logged(job: str, summary: str) -> str:
    """The worker's one line per job run (django-q2's own per-task lines are filtered)."""
    log.info("%s: %s", job, summary)
    return summary


def update_recent_deals(trigger: str = "schedule") -> str:
    try:
        return _logged(f"sync ({trigger})", ingest.run(trigger=trigger).summary())
    finally:
        if trigger == "manual":
            release_refresh_request()


def prune_stale_deals() -> str:
    return _logged("prune", prune.run().summary())


def backfill_all_deals(columns: list[str] | None = None, only_missing: bool = False) -> str:
    summary = backfill.run(columns, only_missing=only_missing, trigger="task").summary()
    return _logged("backfill", summary)


def recompute_columns(columns: list[str]) -> str:
    # Given back before the first settings read: a save from now on is not seen by this run
    # for sure, so it may queue one more (see `queue_recompute`).
    release_recompute_claim(columns)
    return _logged("recompute", f"{backfill.recompute_all(columns)} rows recomputed")


def evaluate_alerts() -> str:
    """Queued by each update run once it committed (`queue_alerts`)."""
    from deals import alerts  # it reads the dashboard's query, which imports this module

    return _logged("alerts", alerts.evaluate().summary())


def worker_heartbeat() -> str:
    """Scheduled every minute: the worker says it still takes tasks off the queue."""
    WorkerHeartbeat.beat()
    return "alive"


def task_path(func: Callable[..., object]) -> str:
    """The dotted path django-q2 stores for a task function."""
    return f"{func.__module__}.{func.__qualname__}"


UPDATE_TASK = task_path(update_recent_deals)
PRUNE_TASK = task_path(prune_stale_deals)
BACKFILL_TASK = task_path(backfill_all_deals)
RECOMPUTE_TASK = task_path(recompute_columns)
HEARTBEAT_TASK = task_path(worker_heartbeat)
ALERTS_TASK = task_path(evaluate_alerts)
# Sending is bounded per message (ALERT_TIMEOUT_S each way, and a failed destination is not
# tried again in the same run); this bounds the whole task.
ALERTS_TASK_TIMEOUT_S = 300

# Held from a Refresh click until its run is over, so more clicks queue nothing more; it
# expires by itself if no worker ever runs the task. A Refresh is watched as long. Once the
# task is queued the claim names it ("task:<id>"), so a later click can tell a claim whose
# task is gone (run, or died with its worker) from one whose task still waits.
REFRESH_CLAIM = "refresh_queued"
REFRESH_CLAIM_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
CLAIM_TASK_PREFIX = "task:"
ALREADY_RUNNING = "A sync is already running — its changes will appear by themselves."
ALREADY_QUEUED = "A sync is already queued — its changes will appear by themselves."


def request_refresh() -> tuple[str | None, str]:
    """Queue one manual update for the worker: (task id, message), or (None, why not).

    Of many simultaneous requests exactly one queues: the claim is a conditional UPDATE,
    and the task gives it back when its run is over (`release_refresh_request`). After a
    worker died mid-run, the next click queues a new run at once: the dead run's lock, its
    task's queue row and the claim naming that task are all recognised as dead.
    """
    from django_q.tasks import async_task

    if update_running():
        return None, ALREADY_RUNNING
    drop_dead_update_tasks()
    if update_queued():
        return None, ALREADY_QUEUED
    token = JobLock.owner_token()
    if not JobLock.acquire(REFRESH_CLAIM, token, REFRESH_CLAIM_TTL) and not _take_over_claim(token):
        return None, ALREADY_QUEUED
    task_id = async_task(UPDATE_TASK, "manual")
    JobLock.objects.filter(name=REFRESH_CLAIM, owner=token).update(
        owner=f"{CLAIM_TASK_PREFIX}{task_id}"
    )
    return task_id, "Starting the sync…"


def _take_over_claim(token: str) -> bool:
    """Claim a Refresh claim whose task is no longer queued (the caller found no update
    queued or running): that task has run, or died with its worker, without giving the
    claim back. A claim not naming a task yet is a click being queued right now: kept."""
    holder = JobLock.objects.filter(name=REFRESH_CLAIM).values_list("owner", flat=True).first()
    if not holder or not holder.startswith(CLAIM_TASK_PREFIX):
        return False
    # Conditional on the same holder: of two clicks noticing, only one wins.
    return (
        JobLock.objects.filter(name=REFRESH_CLAIM, owner=holder).update(
            locked_until=timezone.now() + REFRESH_CLAIM_TTL, owner=token
        )
        == 1
    )


def _update_rows() -> list[Any]:
    from django_q.models import OrmQ

    return [row for row in OrmQ.objects.all() if row.func() == UPDATE_TASK]


def update_queued() -> bool:
    """An update task waits in the queue (or, on the ORM broker, in a worker's hands, not
    yet started: Redis hands a task over by removing it from the list)."""
    if settings.Q_CLUSTER.get("redis"):
        return UPDATE_TASK in _redis_queued_funcs()
    return bool(_update_rows())


def _redis_queued_funcs() -> list[str]:
    """The task functions waiting in the Redis broker's list (a few: workers drain it)."""
    from django_q.brokers import get_broker
    from django_q.signing import BadSignature, SignedPackage

    broker = get_broker()
    try:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    finally:
        broker.connection.close()  # a click's connection, not one left for the collector
    funcs = []
    for payload in payloads:
        try:
            funcs.append(SignedPackage.loads(payload)["func"])
        except (BadSignature, KeyError, TypeError):
            continue  # another site's task on a shared server: not ours to read
    return funcs


def drop_dead_update_tasks() -> int:
    """Delete the queue rows of update tasks whose worker died running them; return how many.

    django-q2 marks a row it hands to a worker as taken until `retry` seconds later (12 min)
    and deletes it when the task is over. A row still taken after an update run that
    started once the row was taken, with no update running now, is the task that run
    belonged to, and its worker died: left alone, the row blocks Refresh until it is handed
    out again and then reruns the update long after anyone wanted it. (If it was instead
    still waiting in the worker's hands, it runs anyway: deleting the row costs nothing.)
    Callers have checked that no update is running.
    """
    now = timezone.now()
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    last_start = (
        SyncRun.objects.updates().order_by("-started_at").values_list("started_at", flat=True)
    ).first()
    if last_start is None:
        return 0
    dead = [
        row.pk
        for row in _update_rows()
        if row.lock > now and row.lock - retry <= last_start  # taken, then a run started
    ]
    if not dead:
        return 0
    from django_q.models import OrmQ

    return OrmQ.objects.filter(pk__in=dead).delete()[0]


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


def queue_alerts() -> str | None:
    """Queue one alerts evaluation (the update run calls this after its writes committed);
    None when there is no rule to evaluate."""
    from django_q.tasks import async_task

    from deals.models import AlertRule

    if not AlertRule.objects.exists():
        return None
    return async_task(ALERTS_TASK, task_name="alerts", timeout=ALERTS_TASK_TIMEOUT_S)
