"""Is the app keeping the deals current? The age of the last successful sync and the
background worker's heartbeat, read by the status line and by `GET /healthz`.

Neither trusts the update schedule's `next_run`: django-q2's scheduler runs in the cluster's
guard process and keeps moving `next_run` forward even when no worker can run the tasks it
queues (a worker killed while idle leaves its replacement waiting forever on the task
queue's lock). What the app can observe is what really happened: when a sync last succeeded
(SyncRun) and when the worker last ran a task (WorkerHeartbeat, written every minute by the
`worker_heartbeat` schedule).

Everything here is a few indexed queries and reads no secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone
from django_q.models import Schedule

from deals import schedules, tasks
from deals.models import JobLock, SyncRun, WorkerHeartbeat

# No successful sync for this many update intervals (plus the margin: a run takes a while,
# and the scheduler looks at its schedules every 30 s) is a warning, whatever `next_run` says.
SYNC_STALE_INTERVALS = 3
SYNC_STALE_MARGIN = timedelta(minutes=2)
# The heartbeat is queued every minute and the scheduler may be 30 s late: three minutes
# without one is a worker that does not take tasks, unless a job is running (one worker
# runs one task at a time, so the heartbeats wait behind it).
WORKER_STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class SyncHealth:
    # The last successful update run (SyncRun.objects.last_ok), if any.
    last_ok: SyncRun | None
    # When the update schedule's next run is due (None: not scheduled, or paused).
    next_run: datetime | None
    # How long without a successful sync is too long (None: not scheduled, nothing to expect).
    limit: timedelta | None
    # How long there has been no successful sync, once that is longer than `limit`.
    stale_for: timedelta | None

    @property
    def ok(self) -> bool:
        return self.stale_for is None


@dataclass(frozen=True)
class WorkerHealth:
    # The newest heartbeat of any worker: with several workers, each minute's heartbeat is
    # run by whichever takes it first, so the app is healthy while some worker beats.
    beat_at: datetime | None
    age: timedelta | None
    # The job a live process is running now (its lock's name), which explains a late heartbeat.
    busy_with: str
    # Every worker host seen, with its own newest beat, newest first.
    seen: tuple[tuple[str, datetime], ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.busy_with) or (self.age is not None and self.age <= WORKER_STALE_AFTER)

    def problem(self) -> str:
        if self.ok:
            return ""
        if self.age is None:
            return "the background worker has never run a task"
        return f"the background worker has not run a task for {minutes(self.age)}"


def sync_health(now: datetime | None = None) -> SyncHealth:
    now = now or timezone.now()
    last_ok = SyncRun.objects.last_ok()
    schedule = (
        Schedule.objects.filter(name=schedules.UPDATE)
        .exclude(repeats=0)  # repeats=0 is django-q2's "paused"
        .values("minutes", "next_run")
        .first()
    )
    if schedule is None:
        return SyncHealth(last_ok, None, None, None)
    limit = SYNC_STALE_INTERVALS * timedelta(minutes=schedule["minutes"] or 1) + SYNC_STALE_MARGIN
    if last_ok is not None:
        since = last_ok.finished_at or last_ok.started_at
    else:
        # Never a success: count from the first update run, or else from when the first
        # run was due (a worker that never ran anything leaves `next_run` where it was).
        first = (
            SyncRun.objects.updates().order_by("started_at").values_list("started_at", flat=True)
        ).first()
        since = first or schedule["next_run"]
    stale_for = now - since if since is not None and now - since > limit else None
    return SyncHealth(last_ok, schedule["next_run"], limit, stale_for)


def worker_health(now: datetime | None = None) -> WorkerHealth:
    now = now or timezone.now()
    seen = tuple((beat.name, beat.beat_at) for beat in WorkerHeartbeat.seen())
    beat_at = seen[0][1] if seen else None
    age = max(now - beat_at, timedelta(0)) if beat_at else None
    busy_with = ""
    if age is None or age > WORKER_STALE_AFTER:
        # Only then: a live job explains the silence (one more query, on a bad day only).
        busy_with = next(iter(JobLock.held(tasks.JOB_LOCKS)), "")
    return WorkerHealth(beat_at, age, busy_with, seen)


def minutes(age: timedelta) -> str:
    total = int(age.total_seconds() // 60)
    if total < 120:
        return f"{total} min"
    return f"{total // 60} h {total % 60} min" if total < 48 * 60 else f"{total // 1440} d"


def report(*, worker_only: bool = False) -> tuple[bool, dict[str, Any]]:
    """What `GET /healthz` answers: (healthy, JSON body). `worker_only` judges by the
    database and the worker alone (what a process manager restarts the worker on)."""
    now = timezone.now()
    body: dict[str, Any] = {"checked_at": now.isoformat()}
    problems: list[str] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        worker = worker_health(now)
        sync = sync_health(now)
    except DatabaseError as exc:
        # The exception's class only: its text could name the database's location.
        body.update(ok=False, problems=[f"database: {type(exc).__name__}"])
        body["database"] = {"ok": False}
        return False, body
    body["database"] = {"ok": True}
    body["worker"] = {
        "ok": worker.ok,
        "last_heartbeat_at": worker.beat_at.isoformat() if worker.beat_at else None,
        "age_seconds": int(worker.age.total_seconds()) if worker.age is not None else None,
        "limit_seconds": int(WORKER_STALE_AFTER.total_seconds()),
        "busy_with": worker.busy_with or None,
        "workers": [
            {
                "host": host,
                "last_heartbeat_at": beat_at.isoformat(),
                "age_seconds": int(max(now - beat_at, timedelta(0)).total_seconds()),
            }
            for host, beat_at in worker.seen
        ],
    }
    if not worker.ok:
        problems.append(f"worker: {worker.problem()} — restart it (manage.py qcluster)")
    last_ok_at = (sync.last_ok.finished_at or sync.last_ok.started_at) if sync.last_ok else None
    body["sync"] = {
        "ok": sync.ok,
        "last_ok_at": last_ok_at.isoformat() if last_ok_at else None,
        "age_seconds": int((now - last_ok_at).total_seconds()) if last_ok_at else None,
        "limit_seconds": int(sync.limit.total_seconds()) if sync.limit else None,
        "scheduled": sync.limit is not None,
    }
    if not sync.ok and sync.stale_for is not None:
        problems.append(f"sync: no successful sync for {minutes(sync.stale_for)}")
    healthy = worker.ok and (worker_only or sync.ok)
    body.update(ok=healthy, problems=problems)
    return healthy, body
