"""update_recent_deals: sweep Keepa's /deal results and upsert what changed, then enrich.

The one home of the upserter: the django-q2 task, `manage.py refresh_deals` and the
dashboard's Refresh button all call `run()`. The sweep lives here; the checks of deals in
doubt that follow it (listed, unverified, left) in deals/verify.py, the offers look-ups in
deals/enrich.py, and the hourly split of tokens between them in deals/planner.py; all work in
the run's context (deals/jobs.py `Run`).

Malformed records (an ASIN that is not one, a record that cannot be read) are dropped by the
Keepa client (keepa_client/records.py) and never reach the database. The run keeps the rest of
their page, counts them in its note ("2 malformed deals skipped: ASIN 'ab/c' not an ASIN") and
still ends ok: the run did all that could be done, and the same records will be sent, and
skipped, again by every later run, so a partial status would say nothing new and hide the runs
that really fell short.

Counts (inserted, updated, unchanged, price drops, enriched) are added to the run only once the
transaction that wrote them has committed: a page whose write fails counts for nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deals import verify
from deals.deal_order import ORDER_FIELDS, UNORDERED_PAGES_PER_RUN, OrderCheck
from deals.enrich import Enricher
from deals.formatting import SWEEP_SKIPPED
from deals.jobs import Job, Run, run_job
from deals.models import Deal, DealStatus, SyncRun
from deals.planner import plan_tokens
from deals.top_pages import TopPages
from deals.upsert import PageWriter
from keepa_client.client import LAST_DEAL_PAGE, KeepaClient
from keepa_client.records import Rejected, describe_rejected

log = logging.getLogger(__name__)

LOCK_NAME = "update_recent_deals"
# Longer than the django-q2 task timeout, so a live run never loses its lock, and short
# enough that a crashed holder's lock frees itself.
LOCK_TTL = timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
# Keepa caches a /deal query's results for 120 s (docs/keepa.md §4.1): polling sooner pays for
# the same answer.
DEAL_CACHE = timedelta(seconds=120)
# How much earlier than its cadence a complete sweep may start (see Sweep.sweep).
DUE_SLACK = timedelta(seconds=60)
# Incremental sweeps re-read a little before the watermark: Keepa's lastUpdate is in whole
# minutes and a product updated while the last sweep was paging may have been missed.
WATERMARK_OVERLAP = timedelta(minutes=15)
# A run stops itself well inside the django-q2 task timeout, keeping what it did.
RUN_TIME_LIMIT_S = settings.Q_CLUSTER["timeout"] - 90

UPDATE_JOB = Job(SyncRun.Kind.UPDATE, LOCK_NAME, LOCK_TTL, time_limit_s=RUN_TIME_LIMIT_S)


def run(
    *, trigger: str = "schedule", full: bool | None = None, client: KeepaClient | None = None
) -> SyncRun:
    """Run one update unless another holds the lock; return the recorded SyncRun.

    `full=None` lets the schedule decide (a full sweep at the token plan's cadence,
    deals/planner.py, at most `full_sweep_every_minutes` apart);
    True forces a fresh full sweep, False an incremental one. The lock, the run record and
    how an error ends the run are the shared job skeleton's (deals/jobs.py). A run that
    wrote anything queues the alerts task (deals/alerts.py) once its writes have committed.
    """
    sync = run_job(UPDATE_JOB, trigger, lambda context: _update(context, full), client=client)
    if sync.status in (SyncRun.Status.OK, SyncRun.Status.PARTIAL):
        # Alerts are another task's work, queued only once what they read has committed; a
        # queueing failure is logged (robust) and never fails the run.
        transaction.on_commit(_queue_alerts, robust=True)
    return sync


def _queue_alerts() -> None:
    from deals import tasks  # the seam imports this module

    tasks.queue_alerts()


def _update(run: Run, full: bool | None) -> None:
    # Free, and always fresh: a client reused from an earlier run would still hold that
    # run's last balance, from before Keepa refilled the bucket.
    tokens = run.keepa().token_status()
    # Rows that may be shown: the size of the list the complete sweeps read.
    plan = plan_tokens(
        tokens.refill_rate, Deal.objects.exclude(status=DealStatus.LEFT).count(), run.config
    )
    sweep = Sweep(run)
    sweep.run(full, every_minutes=plan.complete_sweep_every_minutes)
    if run.sync.full_sweep and run.sync.sweep_complete:
        verify.mark_missing(run, run.sync)
    if not sweep.cached and not sweep.whole_list_read:
        # A run that read the whole list has seen the top rows already.
        TopPages(run, plan).run()
    verify.mark_offers_overdue(run)
    # Before offers: whether a row is a deal at all matters more than who sells it.
    verify.Verifier(run, plan, verify.minutes_since_last_run(run)).run()
    try:
        Enricher(run).run()
    finally:
        # Rows whose seller was just looked up stop saying it is overdue.
        verify.mark_offers_overdue(run)


class Sweep(PageWriter):
    """Read /deal pages, newest first, and hand each to the page writer (deals/upsert.py):
    the changes since the watermark, then a full sweep when one is due."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.context = run
        self.notes = run.notes
        # What the pages are ordered by: the last run's finding, and this run's evidence.
        self.prior_order = ""
        self.check = OrderCheck()
        self.newest: dict[str, datetime | None] = {}
        self.stop_key: str | None = None
        self.order_lost: str | None = None
        # Records Keepa sent that the client dropped as malformed.
        self.rejected: list[Rejected] = []
        # Keepa would answer from its cache: nothing read this run.
        self.cached = False
        # This run read every page of the list, from page 0 to the end.
        self.whole_list_read = False

    def run(self, full: bool | None, every_minutes: int | None = None) -> None:
        """Read /deal pages: the changes since the watermark, then a full sweep when due
        (every `every_minutes`, the token plan's cadence; settings.json's
        `full_sweep_every_minutes` when not given).

        A full sweep can take several runs on a small plan: its progress is saved after every
        page and the next run resumes there, after reading what changed meanwhile. Which field
        the pages are ordered by (creationDate or lastUpdate) is learnt from the pages
        themselves and re-checked on every page read: the watermark follows that field.
        """
        try:
            self.sweep(full, every_minutes or self.config.full_sweep_every_minutes)
        finally:
            # However the sweep ended, the note says which records it had to leave out.
            if self.rejected:
                self.notes.append(describe_rejected(self.rejected, "deal"))

    def sweep(self, full: bool | None, every_minutes: int) -> None:
        now = timezone.now()
        recently_polled = (
            SyncRun.objects.updates()
            .filter(pages__gt=0, started_at__gt=now - DEAL_CACHE)
            .exclude(pk=self.sync.pk)
            .exists()
        )
        if recently_polled:
            self.cached = True
            self.notes.append(SWEEP_SKIPPED)
            return
        self.prior_order = SyncRun.objects.deal_order()
        key = self.prior_order if self.prior_order in ORDER_FIELDS else None
        watermark = SyncRun.objects.watermark(key) if key else None
        resume = None
        if full is None:
            last_full = SyncRun.objects.last_complete_sweep(full=True)
            # Runs start a few seconds late or early: a sweep due "every 15 minutes" must not
            # slip to the run after.
            cycle_start = now - timedelta(minutes=every_minutes) + DUE_SLACK
            due = (
                last_full is None
                or (last_full.sweep_started_at or last_full.started_at) < cycle_start
            )
            if due:
                resume = SyncRun.objects.unfinished_full_sweep(since=cycle_start)
        else:
            due = full
        if watermark is None and self.prior_order != SyncRun.DealOrder.UNORDERED:
            # Nothing read yet, or the order is not known: a full sweep reads everything and
            # learns the order from every page.
            due = True
        # Newest first, so an incremental pass can stop at the watermark.
        selection = {**self.config.deal_query, "sortType": 1}

        next_page: int | None = 0
        if key is not None and watermark is not None and full is not True:
            next_page = self.read_pages(selection, 0, stop=(key, watermark - WATERMARK_OVERLAP))
            self.whole_list_read = next_page is None and not self.sync.capped
            if self.order_lost is None:
                # Everything that changed since the last watermark has been read: it may move on.
                self.save_progress(**self.watermarks(self.stop_key))
        elif self.prior_order == SyncRun.DealOrder.UNORDERED and not due:
            self.read_rolling(selection)
        if not due:
            self.save_order()
            return
        self.sync.full_sweep = True
        if next_page is None:
            # The incremental pass read to the end of the list: that is a whole sweep.
            self.sync.sweep_started_at = now
            self.save_progress(sweep_complete=True, next_page=None, **self.watermarks())
            self.save_order()
            return
        if resume is not None:
            # No page of overlap: deals leaving the list can shift a few others past the
            # boundary unseen, which costs them one "seen" bump, not a price; changed deals
            # move to the front, where the incremental pass reads them.
            start = max(resume.next_page, next_page)
            self.sync.sweep_started_at = resume.sweep_started_at
            self.notes.append(f"full sweep resumed at page {start}")
        else:
            start = next_page
            self.sync.sweep_started_at = now
        self.save_progress(next_page=start)
        # A fresh sweep from page 0 sees the newest deals first; the watermark may follow it
        # at once, because the rest of the list is covered by this sweep or its resumption.
        self.read_pages(selection, start, full=True, newest_from_start=start == 0)
        # The pages before `start` were read by this run's incremental pass, or were none.
        self.whole_list_read = start == next_page and not self.sync.capped
        # Read in one go from page 0, every deal was seen: both fields' watermarks hold.
        complete = self.watermarks() if start == 0 else {}
        self.save_progress(sweep_complete=True, next_page=None, **complete)
        self.save_order()

    def read_rolling(self, selection: dict[str, Any]) -> None:
        """Deals ordered by neither field: no watermark can say where the changes end, so
        read page 0 and the next pages of a rolling pass, UNORDERED_PAGES_PER_RUN in all;
        each run goes on where the last one stopped, so every page comes round."""
        start = max(1, SyncRun.objects.rolling_page() or 1)
        if self.read_pages(selection, 0, max_pages=1) is None:
            self.save_progress(next_page=1)
            return
        after = self.read_pages(selection, start, max_pages=UNORDERED_PAGES_PER_RUN - 1)
        self.save_progress(next_page=after or 1)

    def read_pages(
        self,
        selection: dict[str, Any],
        page: int,
        *,
        stop: tuple[str, datetime] | None = None,
        full: bool = False,
        newest_from_start: bool = False,
        max_pages: int | None = None,
    ) -> int | None:
        """Read pages from `page` on; return the next page to read, or None at the list's end.

        `stop` is (order, watermark): newest first by that field, a page reaching back past
        the watermark ends the read. If the pages turn out not to be ordered by it, the other
        field's watermark takes over when that field is ordered; when neither is, the read
        ends there (bounded) and the run says so.
        """
        first = page
        while True:
            self.context.keep_going()
            self.context.budget.check(self.context.keepa().estimate_deal_cost(1))
            result = self.context.keepa().deals(selection, page=page)
            self.context.budget.record()
            self.counts["pages"] += 1
            if result.rejected:
                log.warning(
                    "Keepa /deal page %d: %d malformed deals skipped (%s)",
                    page,
                    len(result.rejected),
                    result.rejected[0],
                )
                self.rejected.extend(result.rejected)
            self.write_page(result.deals)
            self.check.observe(page, result.deals)
            for order, attr in ORDER_FIELDS.items():
                stamps = [getattr(d, attr) for d in result.deals if getattr(d, attr)]
                if stamps:
                    self.newest[order] = max([*stamps, self.newest.get(order) or stamps[0]])
            if stop is not None:
                stop = self.trusted_stop(stop)
                self.stop_key = stop[0] if stop else None
            if full:
                progress: dict[str, Any] = {"next_page": page + 1}
                order = self.check.verdict(self.prior_order)
                if newest_from_start and page == first and order in ORDER_FIELDS:
                    # The order goes with its watermark: a run killed after this page leaves
                    # the next one both, so that one reads what changed before it resumes.
                    progress.update(self.watermarks(order), deal_order=order)
                self.save_progress(**progress)
            if result.is_last or page >= LAST_DEAL_PAGE:
                if not result.is_last:
                    self.sync.capped = True
                    self.notes.append("Keepa's 10,000-deal cap reached")
                return None
            if self.order_lost is not None and not full:
                return page + 1
            # Newest first: once a page reaches back past the watermark, the rest is older.
            if stop is not None:
                order, watermark = stop
                stamps = [getattr(d, ORDER_FIELDS[order]) for d in result.deals]
                stamps = [s for s in stamps if s is not None]
                if stamps and min(stamps) < watermark:
                    return page + 1
            if max_pages is not None and page - first + 1 >= max_pages:
                return page + 1
            page += 1

    def trusted_stop(self, stop: tuple[str, datetime]) -> tuple[str, datetime] | None:
        """The watermark to stop at, given what the pages read so far are ordered by."""
        order, _ = stop
        if self.check.ordered[order]:
            return stop
        label = SyncRun.DealOrder(order).label
        other = next(o for o in ORDER_FIELDS if o != order)
        watermark = SyncRun.objects.watermark(other) if self.check.ordered[other] else None
        if watermark is not None:
            other_label = SyncRun.DealOrder(other).label
            self.notes.append(f"deal order by {other_label}, not {label}: watermark follows it")
            log.warning("Keepa's deal order is by %s, not %s", other_label, label)
            return other, watermark - WATERMARK_OVERLAP
        self.order_lost = order
        return None

    def watermarks(self, order: str | None = None) -> dict[str, datetime]:
        """The watermark columns to save: every order's newest value read, or one order's."""
        orders = ORDER_FIELDS if order is None else (order,)
        return {
            SyncRun.WATERMARK_COLUMNS[o]: self.newest[o]
            for o in orders
            if o in ORDER_FIELDS and self.newest.get(o) is not None
        }

    def save_order(self) -> None:
        """Record what the pages were ordered by, so the next run starts from it."""
        order = self.check.verdict(self.prior_order)
        if order == SyncRun.DealOrder.UNORDERED:
            log.warning("Keepa's deal order is by neither creationDate nor lastUpdate")
            self.notes.append(
                "deal order by neither creationDate nor lastUpdate: "
                f"reading at most {UNORDERED_PAGES_PER_RUN} pages a run until it is"
            )
        elif self.prior_order and order and order != self.prior_order:
            self.notes.append(f"deal order now by {SyncRun.DealOrder(order).label}")
        if order:
            self.save_progress(deal_order=order)

    def save_progress(self, **fields: Any) -> None:
        """Persist sweep progress at once, so a killed run still counts what it read."""
        for name, value in fields.items():
            setattr(self.sync, name, value)
        SyncRun.objects.filter(pk=self.sync.pk).update(
            pages=self.counts["pages"],
            deals_seen=self.counts["deals_seen"],
            full_sweep=self.sync.full_sweep,
            sweep_started_at=self.sync.sweep_started_at,
            capped=self.sync.capped,
            oldest_last_update=self.oldest_last_update,
            **fields,
        )
