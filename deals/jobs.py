"""The one skeleton the update, prune and backfill jobs run in; each job supplies only its body.

The rules, the same for every job:

- **One run of a kind at a time.** A trigger that finds the job's lock held records a `skipped`
  run saying "already running" and does nothing else.
- **No run is left `running`.** Holding the lock, no other run of the kind can be alive: a
  `running` row of that kind is a dead process's, and is closed as failed ("interrupted") before
  the new run is opened. Whatever the body does, its run is finished and the lock released.
- **settings.json is loaded by the skeleton.** If it does not load, for any reason (a
  `ConfigError` naming the field, or anything else, say a `RecursionError`), the run ends failed
  with that message and the body never starts.
- **One map from an exception to a status** (`outcome()`):
  a `StopRun` (token budget reached, time limit, lock lost) ends the run partial, its reason in
  the note and no error: what was done is kept. Any other exception — a `KeepaError`, a database
  error, a bug, and a `KeyboardInterrupt` or `SystemExit` too, which is raised again once the run
  is recorded — ends it partial if the run did work (`Run.did_work`), else failed, with the error
  stored redacted, on one line.
- A body that returns ends the run ok, or partial when it left work undone (`Run.incomplete`),
  or skipped when it decided there was nothing it may do (`Run.skip()`).
- **A dry run takes no lock and saves nothing**: the SyncRun it returns is unsaved, filled in
  as a real run's would be (a dry run reads, so it needs no lock; saving it would be a write).
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from deals.config import ConfigError, DealSettings, load_config
from deals.keepa import Budget, BudgetExhausted, make_client, redact_error
from deals.models import JobLock, SyncRun
from keepa_client.client import KeepaClient
from keepa_client.errors import KeepaError
from keepa_client.redact import redact

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running it stopped mid-run"
# The SyncRun counters that say a run changed something or paid for something: a failure after
# any of them is partial (what was done stays), before all of them failed.
WORK_COUNTERS = ("pages", "deals_seen", "enriched", "pruned")


class StopRun(Exception):
    """The run must end now; what it did stays. The message goes into the run's note."""


class RunStopped(StopRun):
    """The time limit was reached, or the run lost its lock."""


# What ends a run early by design rather than by failure.
STOPS: tuple[type[Exception], ...] = (StopRun, BudgetExhausted)


@dataclass(frozen=True)
class Job:
    kind: str
    lock_name: str
    lock_ttl: timedelta
    # Seconds after which `Run.keep_going()` stops the run (None: no limit).
    time_limit_s: float | None = None


class Run:
    """What a job's body works with: its SyncRun, the settings, Keepa, and what it reports."""

    def __init__(
        self,
        job: Job,
        sync: SyncRun,
        config: DealSettings,
        *,
        owner: str = "",
        client: KeepaClient | None = None,
    ) -> None:
        self.job = job
        self.sync = sync
        self.config = config
        self.owner = owner
        self.client = client
        self._budget: Budget | None = None
        # SyncRun counter fields (pages, inserted, pruned, ...), saved when the run ends.
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []
        self.incomplete = False
        self.skipped = False
        self.started = time.monotonic()

    @classmethod
    def detached(cls, kind: str, config: DealSettings, client: KeepaClient | None = None) -> Run:
        """A context for writing the way a job does outside a job run (benchmarks, tests):
        a saved SyncRun for the events to name, no lock and no time limit."""
        sync = SyncRun.objects.create(kind=kind, trigger="detached")
        return cls(Job(kind, "", timedelta(0)), sync, config, client=client)

    @property
    def did_work(self) -> bool:
        return any(self.counts[name] for name in WORK_COUNTERS)

    def keepa(self) -> KeepaClient:
        """The run's Keepa client, built on first use (so a run that needs none needs no key)."""
        if self.client is None:
            self.client = make_client(self.config.domain_id)
        return self.client

    @property
    def budget(self) -> Budget:
        if self._budget is None:
            self._budget = Budget(self.keepa(), self.config.token_reserve)
        return self._budget

    def keep_going(self) -> None:
        """Stop before the job's time limit, and stop if another run took over the lock."""
        limit = self.job.time_limit_s
        if limit is not None and time.monotonic() - self.started > limit:
            raise RunStopped(f"time limit of {limit:g} s reached")
        if self.owner and not JobLock.renew(self.job.lock_name, self.owner, self.job.lock_ttl):
            raise RunStopped("the run lost its lock (it was stalled past the lock's expiry)")

    def skip(self, reason: str) -> None:
        """End the run skipped: there was nothing it may do, and `reason` says why."""
        self.skipped = True
        self.notes.append(reason)

    def fields(self) -> dict[str, Any]:
        """What the run's SyncRun records when it ends."""
        fields: dict[str, Any] = {**self.counts, "note": "; ".join(merged_notes(self.notes))}
        if self._budget is not None:
            tokens = self._budget.client.tokens
            fields.update(
                tokens_spent=self._budget.spent,
                tokens_left=tokens.tokens_left if tokens else None,
                refill_rate=tokens.refill_rate if tokens else None,
            )
        return fields


# A note's first count: "Keepa could not collect offers for 3 deals: retried in 5 min".
_COUNTED_NOTE = re.compile(r"^(\D*?)(\d[\d,]*)( .*)$")


def merged_notes(notes: list[str]) -> list[str]:
    """Notes that differ only in their first count, once with the counts added up: a run that
    checks sellers in batches says "… for 27 deals …" once, not once per batch."""
    merged: dict[tuple[str, str], int] = {}
    order: list[tuple[str, str] | str] = []
    for note in notes:
        match = _COUNTED_NOTE.match(note)
        if not match:
            order.append(note)
            continue
        key = (match.group(1), match.group(3))
        if key not in merged:
            order.append(key)
            merged[key] = 0
        merged[key] += int(match.group(2).replace(",", ""))
    return [item if isinstance(item, str) else _counted(*item, merged[item]) for item in order]


# What a count in a note counts, as it reads after "1".
_ONE = {" deals": " deal", " top rows": " top row", " re-checks": " re-check"}


def _counted(before: str, after: str, count: int) -> str:
    """A counted note with its count: "for 1 deal", not "for 1 deals"."""
    if count == 1:
        for many, one in _ONE.items():
            if after.startswith(many):
                after = one + after.removeprefix(many)
                break
    return f"{before}{count:,}{after}"


def run_job(
    job: Job,
    trigger: str,
    body: Callable[[Run], None],
    *,
    dry_run: bool = False,
    client: KeepaClient | None = None,
) -> SyncRun:
    """Run `body` under the job's lock and record it as one SyncRun, by the rules above."""
    sync = SyncRun(kind=job.kind, trigger=trigger)
    if dry_run:
        return _execute(job, sync, body, owner="", save=False, client=client)
    owner = JobLock.owner_token()
    if not JobLock.acquire(job.lock_name, owner, job.lock_ttl):
        return SyncRun.objects.record_already_running(job.kind, trigger)
    try:
        SyncRun.objects.filter(kind=job.kind, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED, finished_at=timezone.now(), error=INTERRUPTED
        )
        sync.save()
        return _execute(job, sync, body, owner=owner, save=True, client=client)
    finally:
        JobLock.release(job.lock_name, owner)


def _execute(
    job: Job,
    sync: SyncRun,
    body: Callable[[Run], None],
    *,
    owner: str,
    save: bool,
    client: KeepaClient | None,
) -> SyncRun:
    def finish(status: str, **fields: Any) -> SyncRun:
        if save:
            sync.finish(status, **fields)
        else:
            sync.status, sync.finished_at = status, timezone.now()
            for name, value in fields.items():
                setattr(sync, name, value)
        return sync

    try:
        config = load_config()
    except Exception as exc:
        return finish(SyncRun.Status.FAILED, error=settings_error(exc))
    run = Run(job, sync, config, owner=owner, client=client)
    try:
        body(run)
    except BaseException as exc:
        status, error = outcome(exc, run)
        finish(status, error=error, **run.fields())
        if not isinstance(exc, Exception):
            raise
        return sync
    status, error = outcome(None, run)
    return finish(status, error=error, **run.fields())


def outcome(exc: BaseException | None, run: Run) -> tuple[str, str]:
    """The one exception → (status, error) map of every job (see the module's docstring)."""
    if exc is None:
        if run.skipped:
            return SyncRun.Status.SKIPPED, ""
        return (SyncRun.Status.PARTIAL if run.incomplete else SyncRun.Status.OK), ""
    if isinstance(exc, STOPS):
        run.notes.append(str(exc))
        return SyncRun.Status.PARTIAL, ""
    error = one_line(redact_error(exc))
    if isinstance(exc, KeepaError):
        log.warning("%s run %s stopped: %s", run.job.kind, run.sync.pk, error)
    elif isinstance(exc, Exception):
        # The traceback redacted too: an exception's text can carry a request URL with the key.
        trace = redact("".join(traceback.format_exception(exc)), settings.KEEPA_API_KEY)
        log.error("%s run %s failed: %s\n%s", run.job.kind, run.sync.pk, error, trace)
    else:
        error = f"interrupted: {error}"
    return (SyncRun.Status.PARTIAL if run.did_work else SyncRun.Status.FAILED), error


def settings_error(exc: Exception) -> str:
    """What a run records when settings.json does not load: the field and the problem."""
    if isinstance(exc, ConfigError):
        return one_line(redact(str(exc), settings.KEEPA_API_KEY))
    name = Path(settings.DEALS_SETTINGS_FILE).name
    return one_line(f"{name}: could not be loaded ({redact_error(exc)})")


def one_line(text: str) -> str:
    return " ".join(text.splitlines())
