from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
from django.db import models
from django.db.models import Max, Q
from django.db.models.fields.json import KeyTransform
from django.urls import reverse
from django.utils import timezone

# The columns the upserter derives from a /deal object; a change to one of them is a
# DealEvent and moves `changed_at` (the dashboard's live poll follows those events).
# Sales rank is stored by every sweep but is not among them: it moves on nearly every
# re-crawl, and an event (and a flashing row) for each would drown the real changes.
DEAL_SHOWN_FIELDS = (
    "title",
    "image_url",
    "root_category",
    "now_price",
    "avg_price",
    "delta_percent",
    # What the cheapest copy costs delivered, estimated from the deal (deals/landed.py): the
    # buy price until an offers look-up has checked it.
    "est_landed",
)
# The columns enrichment derives from the cheapest live offer (a /product call with offers).
OFFER_SHOWN_FIELDS = (
    "now_total",
    "now_seller_id",
    "now_seller_name",
    "now_condition",
    "now_is_fba",
)


def host_name() -> str:
    """This process's host as the lock owners and worker heartbeats name it: DEALS_HOSTNAME
    when set (one name per machine, or per container sharing a machine's host name), else
    the machine's own host name."""
    return (os.environ.get("DEALS_HOSTNAME", "").strip() or socket.gethostname())[:200]


class DealStatus(models.TextChoices):
    """What the app knows of a deal's place in Keepa's results (DESIGN rule 9: the screen
    tells the truth or says it does not know)."""

    # In Keepa's latest results at the values shown.
    LISTED = "listed", "listed"
    # Something suggests it changed or left (missing from a complete sweep, offers look-up
    # overdue), not checked yet: shown, marked, never ranked as if certain.
    UNVERIFIED = "unverified", "unverified"
    # Checked: no longer matches the query, or sold out. Hidden by default, kept with its
    # history until the pruner removes it.
    LEFT = "left", "left"


class SellerLine(models.TextChoices):
    """Where the seller line (the cheapest offer shown under Now) comes from."""

    # No seller line: never looked up, or the copy it named went and no stored one fits.
    NONE = "", "none"
    # An offers look-up named this copy as the cheapest.
    CHECKED = "checked", "checked"
    # After a price rise, the next-cheapest copy among the offers stored at the last look-up
    # that is still plausible: a candidate, not re-checked, queued for a look-up.
    STORED = "stored", "not re-checked"


# Why a deal is gated or not when the user's own mark on its ASIN decided (deals/gating.py).
MARKED_GATED = "you marked it gated"
MARKED_SELLABLE = "you marked it sellable"


class Gated(models.TextChoices):
    """May the user's account sell it? Amazon's own check needs the seller's SP-API
    credentials, so only the user's restricted list and marks decide: no rule, no answer."""

    YES = "yes", "gated"
    NO = "no", "not gated"
    UNKNOWN = "unknown", "unknown"


class EnrichPriority(models.IntegerChoices):
    NONE = 0, "none"
    STALE = 1, "stale"
    PRICE_CHANGED = 2, "price changed"
    NEW = 3, "new"


# Digits as zeros, to find a run of 19 (str.translate: a tenth of the time of a regex).
_DIGITS_AS_ZEROS = str.maketrans("123456789", "0" * 9)
_LONG_NUMBER = "0" * 19


class SnapshotField(models.JSONField):
    """A JSONField read with orjson: the Keepa snapshots (about 3 KB each) are read back for
    every deal a sweep changes, and the standard library's parser took 37 ms of CPU for a
    page of 150 deals' snapshots, orjson 10 (16 with the check below). orjson reads an
    integer past 64 bits as a float, so text with a run of 19 digits is read as Django reads
    it, as is any text orjson refuses. Stored and migrated as a plain JSONField."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if (
            isinstance(value, str)
            and not isinstance(expression, KeyTransform)
            and _LONG_NUMBER not in value.translate(_DIGITS_AS_ZEROS)
        ):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


class DealQuerySet(models.QuerySet):
    def upsert_by_asin(
        self, rows: Sequence[Mapping[str, Any]], update_fields: Sequence[str]
    ) -> None:
        """Insert new ASINs and update `update_fields` of existing ones (rows: field -> value)."""
        from deals.bulk import insert_rows

        insert_rows(Deal, rows, conflict="asin", update_fields=update_fields, using=self.db)

    def update_rows(self, rows: Sequence[Deal], update_fields: Sequence[str]) -> None:
        """Write `update_fields` of loaded rows by primary key, in one prepared statement."""
        from deals.bulk import update_rows

        update_rows(Deal, rows, update_fields, using=self.db)

    def stale(self, before: datetime) -> DealQuerySet:
        return self.filter(last_seen_utc__lt=before)

    def enrichment_queue(self, stale_before: datetime) -> DealQuerySet:
        """Deals waiting for an offers look-up: new first, then price-changed, then stale.
        The offers planner (deals/offers_queue.py) ranks them by where they stand on the
        dashboard, spending in that order.

        A deal whose look-up Keepa could not collect waits until its retry time
        (`enrich_requested_at` in the future), then keeps its place by priority.
        """
        return (
            self.filter(
                Q(enrich_priority__gt=EnrichPriority.NONE)
                | Q(enriched_at__isnull=True)
                | Q(enriched_at__lt=stale_before)
            )
            .exclude(enrich_requested_at__gt=timezone.now())
            .order_by("-enrich_priority", "enrich_requested_at", "enriched_at", "asin")
        )


class Deal(models.Model):
    asin = models.CharField(max_length=16, unique=True)
    title = models.TextField(blank=True, default="")
    image_url = models.URLField(max_length=300, blank=True, default="")
    root_category = models.BigIntegerField(null=True, blank=True)
    categories = SnapshotField(default=list, blank=True)
    price_type = models.SmallIntegerField(help_text="Keepa price type of the deal query")

    # Now: Keepa's current value for the query's price type, refreshed by every sweep.
    now_price = models.IntegerField(null=True, blank=True, help_text="smallest currency unit")
    # The cheapest live offer for the query's condition, from the latest offers look-up.
    now_total = models.IntegerField(null=True, blank=True, help_text="price + shipping")
    now_seller_id = models.CharField(max_length=32, blank=True, default="")
    now_seller_name = models.CharField(max_length=200, blank=True, default="")
    now_condition = models.SmallIntegerField(null=True, blank=True)
    now_is_fba = models.BooleanField(null=True, blank=True)
    seller_line = models.CharField(
        max_length=8, choices=SellerLine.choices, blank=True, default=SellerLine.NONE
    )
    # The deal's offer prices (deals/seller_line.py `fingerprint`) when the offers were last
    # looked up, and when a sweep last found them unchanged since: a re-check then would only
    # repeat the answer, so it waits (docs/keepa.md §13).
    offers_fingerprint = models.CharField(max_length=200, blank=True, default="")
    offers_confirmed_at = models.DateTimeField(null=True, blank=True)
    # What the cheapest copy costs delivered (price + shipping), estimated from the /deal
    # object at sweep time (deals/landed.py), and where the estimate came from: Keepa's
    # "landed" prices, or "item+shipping" (Now + typical shipping).
    est_landed = models.IntegerField(null=True, blank=True, help_text="price + shipping")
    est_source = models.CharField(max_length=16, blank=True, default="")

    avg_price = models.IntegerField(null=True, blank=True)
    delta_percent = models.IntegerField(null=True, blank=True, help_text="% below average")
    sales_rank = models.IntegerField(null=True, blank=True)

    # Decision data (deals/decision.py, columns in deals/columns.py): what the product is,
    # how fast it sells, how crowded it is and how its price sat over the year. Computed from
    # the stored /deal and /product answers, so filling them costs no extra token.
    binding = models.CharField(max_length=80, blank=True, default="")
    genre = models.CharField(max_length=200, blank=True, default="")
    sales_rank_avg90 = models.IntegerField(null=True, blank=True)
    sales_rank_avg365 = models.IntegerField(null=True, blank=True)
    rank_drops_30 = models.IntegerField(null=True, blank=True)
    rank_drops_90 = models.IntegerField(null=True, blank=True)
    est_sales_month = models.IntegerField(null=True, blank=True, help_text="an estimate")
    used_offer_count = models.IntegerField(null=True, blank=True)
    used_offer_trend = models.CharField(max_length=1, blank=True, default="")
    avg_365 = models.IntegerField(null=True, blank=True, help_text="smallest currency unit")
    # The trust of the seller in the Now line (Keepa /seller), from the Seller table.
    seller_rating_percent = models.SmallIntegerField(null=True, blank=True)
    seller_rating_count = models.IntegerField(null=True, blank=True)

    # Reseller economics (deals/economics.py), recomputed from the row without Keepa calls.
    all_in_cost = models.IntegerField(null=True, blank=True)
    profit = models.IntegerField(null=True, blank=True)
    margin_percent = models.FloatField(null=True, blank=True)
    roi_percent = models.FloatField(null=True, blank=True)
    max_buy_total = models.IntegerField(null=True, blank=True)
    # The price you would list at (deals/listing.py), the rule that chose it, and the lowest
    # list price that still makes the target markup (deals/economics.py).
    list_at = models.IntegerField(null=True, blank=True)
    list_at_rule = models.CharField(max_length=60, blank=True, default="")
    min_list = models.IntegerField(null=True, blank=True)
    # Seasonality from the product's own sales-rank history by month (deals/history.py).
    season = models.CharField(max_length=80, blank=True, default="")
    buy_url = models.CharField(max_length=200, blank=True, default="")
    # From the user's restricted list (deals/gating.py): unknown unless a rule says.
    gated = models.CharField(max_length=8, choices=Gated.choices, default=Gated.UNKNOWN)
    gated_reason = models.CharField(max_length=200, blank=True, default="")

    price_changed_at = models.DateTimeField(null=True, blank=True)
    keepa_last_update = models.DateTimeField(null=True, blank=True)
    deal_created_at = models.DateTimeField(null=True, blank=True)
    first_seen_utc = models.DateTimeField()
    last_seen_utc = models.DateTimeField()
    changed_at = models.DateTimeField()
    enriched_at = models.DateTimeField(null=True, blank=True)

    enrich_priority = models.SmallIntegerField(
        choices=EnrichPriority.choices, default=EnrichPriority.NONE
    )
    enrich_requested_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=12, choices=DealStatus.choices, default=DealStatus.LISTED)
    # Why the deal is unverified or left ("missing from the complete sweep", "sold out",
    # "price $31.50 above the query's range"); the API's left_reason for left rows.
    status_reason = models.CharField(max_length=300, blank=True, default="")
    # When the status last changed.
    status_at = models.DateTimeField(null=True, blank=True)
    # When the deal was last confirmed in Keepa's results: seen on a /deal page, or checked
    # against the query by a product look-up.
    verified_at = models.DateTimeField(null=True, blank=True)

    # Compact copies of the Keepa data the columns are computed from, so a new column can
    # be filled later without spending tokens.
    deal_snapshot = SnapshotField(default=dict, blank=True)
    product_snapshot = SnapshotField(null=True, blank=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        permissions = [
            # The seller's costs (settings.json) decide every deal's economics columns.
            ("change_seller_costs", "Can change the seller's costs"),
        ]
        indexes = [
            # Used by the pruner (deals not seen since the cut-off).
            models.Index(fields=["last_seen_utc"], name="deal_last_seen_idx"),
            # Used by the dashboard's live poll and "recently changed" views.
            models.Index(fields=["changed_at"], name="deal_changed_idx"),
            # Used by the enrichment queue (new first, oldest request first).
            models.Index(
                fields=["-enrich_priority", "enrich_requested_at"], name="deal_enrich_queue_idx"
            ),
            # Used by the dashboard's default sort (with its tie-break, so deep pages walk
            # only the index) and its "% below average" filter.
            models.Index(fields=["-delta_percent", "asin"], name="deal_delta_pct_asin_idx"),
            # Used by the dashboard's default view: listed and unverified rows, listed first
            # (deals/dashboard.py `order_for`), by % below average.
            models.Index(
                fields=["status", "-delta_percent", "asin"], name="deal_status_delta_pct_idx"
            ),
            # Used by the dashboard's category choices and filter.
            models.Index(fields=["root_category"], name="deal_root_category_idx"),
            # Used by the enricher when a seller's rating is refreshed (the deals it sells).
            models.Index(fields=["now_seller_id"], name="deal_now_seller_idx"),
            # Used by the token plan's counts of the offers backlog (deals/token_plan.py,
            # deals/offers_queue.py `queue`): every column they read, so SQLite counts from
            # the index (20 to 60 ms at 50,000 deals) instead of reading every row with its
            # snapshots (0.5 to 1.5 s while a sweep writes). Status last: led by it, the
            # index was picked for the dashboard's status filter over its ordered index.
            models.Index(
                fields=[
                    "enrich_priority",
                    "enriched_at",
                    "enrich_requested_at",
                    "offers_confirmed_at",
                    "status",
                ],
                name="deal_offers_backlog_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asin} {self.title[:60]}"

    def get_absolute_url(self) -> str:
        """The deal page (the admin's "View on site")."""
        return reverse("deal_detail", args=[self.asin])

    @property
    def amazon_url(self) -> str:
        return f"https://www.amazon.com/dp/{quote(self.asin, safe='')}"

    @property
    def keepa_url(self) -> str:
        return f"https://keepa.com/#!product/1-{quote(self.asin, safe='')}"

    @property
    def gated_by_mark(self) -> bool:
        """The user's one-click mark decided `gated` (and can be forgotten)."""
        return self.gated_reason in (MARKED_GATED, MARKED_SELLABLE)

    @property
    def is_updating(self) -> bool:
        """A newer Now price waits for its seller look-up."""
        return self.enrich_priority >= EnrichPriority.PRICE_CHANGED

    @property
    def offers_retry_at(self) -> datetime | None:
        """When a look-up whose offers Keepa could not collect is asked again (deals/enrich.py
        puts the request in the near future); None when no such retry is pending."""
        at = self.enrich_requested_at
        return at if at is not None and at > timezone.now() else None

    @property
    def buy_price_checked(self) -> bool:
        """An offers look-up named the cheapest copy, and no price change since waits for one:
        until then the seller is "not checked" and the buy price (and the profit) is the
        conservative landed estimate (deals/economics.py `buy_total`)."""
        return Deal.checked(
            self.now_total, self.enriched_at, self.enrich_priority, self.seller_line
        )

    @property
    def seller_not_rechecked(self) -> bool:
        """The seller line is a stored copy taken after a price rise, not checked since."""
        return self.seller_line == SellerLine.STORED and self.now_total is not None

    @staticmethod
    def checked(
        now_total: int | None,
        enriched_at: datetime | None,
        enrich_priority: int,
        seller_line: str = SellerLine.CHECKED,
    ) -> bool:
        """`buy_price_checked` from the four columns it reads (for `values()` rows)."""
        return (
            now_total is not None
            and enriched_at is not None
            and enrich_priority < EnrichPriority.PRICE_CHANGED
            # A stored copy standing in after a price rise is a candidate, not a check.
            and seller_line != SellerLine.STORED
        )


class SyncRunQuerySet(models.QuerySet):
    def updates(self) -> SyncRunQuerySet:
        return self.filter(kind=SyncRun.Kind.UPDATE)

    def record_already_running(self, kind: str, trigger: str) -> SyncRun:
        """The run a trigger records when another run of its kind holds the lock."""
        now = timezone.now()
        return self.create(
            kind=kind,
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            note="already running",
        )

    def brought_up_to_date(self) -> SyncRunQuerySet:
        """Runs that brought the data up to date: ok, or partial for lack of tokens to look
        up every seller once the sweep itself had been read."""
        return self.updates().filter(
            Q(status=SyncRun.Status.OK)
            | (
                Q(status=SyncRun.Status.PARTIAL, error="")
                & (Q(newest_last_update__isnull=False) | Q(newest_creation__isnull=False))
            )
        )

    def last_ok(self) -> SyncRun | None:
        """The last run that brought the data up to date."""
        return self.brought_up_to_date().order_by("-started_at").first()

    def last_complete_sweep(self, *, full: bool) -> SyncRun | None:
        qs = self.updates().filter(sweep_complete=True)
        if full:
            qs = qs.filter(full_sweep=True)
        return qs.order_by("-started_at").first()

    def watermark(self, order: str = "last_update") -> datetime | None:
        """Newest value of the field the deal order follows (`SyncRun.DealOrder`: lastUpdate
        or creationDate) up to which every change has been read."""
        column = SyncRun.WATERMARK_COLUMNS[order]
        return self.updates().aggregate(newest=Max(column))["newest"]

    def deal_order(self) -> str:
        """The deal order the latest run that read pages detected ("" before any)."""
        return (
            self.updates()
            .exclude(deal_order="")
            .order_by("-started_at", "-pk")
            .values_list("deal_order", flat=True)
            .first()
            or ""
        )

    def rolling_page(self) -> int | None:
        """Where the bounded reading of an unordered list goes on (see ingest.Sweep)."""
        return (
            self.updates()
            .filter(deal_order=SyncRun.DealOrder.UNORDERED, full_sweep=False)
            .exclude(next_page=None)
            .order_by("-started_at", "-pk")
            .values_list("next_page", flat=True)
            .first()
        )

    def unfinished_full_sweep(self, *, since: datetime) -> SyncRun | None:
        """A full sweep of this cycle that stopped part-way, to resume where it got to."""
        return (
            self.updates()
            .filter(
                full_sweep=True,
                sweep_complete=False,
                next_page__isnull=False,
                sweep_started_at__gte=since,
            )
            .order_by("-started_at")
            .first()
        )


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        UPDATE = "update"
        PRUNE = "prune"
        BACKFILL = "backfill"

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        PARTIAL = "partial"
        FAILED = "failed"
        SKIPPED = "skipped"

    class DealOrder(models.TextChoices):
        # What Keepa's "deal age, newest first" (sortType 1) pages were found ordered by
        # (docs/keepa.md §4.5): the incremental sweep keys its watermark on that field.
        CREATION = "creation", "creationDate"
        LAST_UPDATE = "last_update", "lastUpdate"
        UNORDERED = "unordered", "neither"

    # The watermark column of each order.
    WATERMARK_COLUMNS = {
        DealOrder.LAST_UPDATE: "newest_last_update",
        DealOrder.CREATION: "newest_creation",
    }

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=16, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    full_sweep = models.BooleanField(default=False)
    sweep_complete = models.BooleanField(
        default=False, help_text="every page the sweep meant to read was read"
    )
    # Newest Keepa lastUpdate up to which this run read every change: the next incremental
    # sweep's watermark. Empty when the run could not read that far.
    newest_last_update = models.DateTimeField(null=True, blank=True)
    oldest_last_update = models.DateTimeField(null=True, blank=True)
    # The same for Keepa's creationDate, when the pages are ordered by that field instead.
    newest_creation = models.DateTimeField(null=True, blank=True)
    deal_order = models.CharField(
        max_length=16,
        choices=DealOrder.choices,
        blank=True,
        default="",
        help_text="what the /deal pages this run read were ordered by",
    )
    # A full sweep may span several runs on a small plan: when it began, and where to resume.
    sweep_started_at = models.DateTimeField(null=True, blank=True)
    next_page = models.IntegerField(null=True, blank=True)
    capped = models.BooleanField(default=False, help_text="stopped at Keepa's 10,000-deal cap")
    pages = models.IntegerField(default=0)
    # Of `pages`, the first page of each top sort (deals/top_pages.py): the sweep read the rest.
    top_pages = models.IntegerField(default=0)
    deals_seen = models.IntegerField(default=0)
    inserted = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    price_drops = models.IntegerField(default=0)
    enriched = models.IntegerField(default=0)
    pruned = models.IntegerField(default=0)
    tokens_spent = models.IntegerField(default=0)
    tokens_left = models.IntegerField(null=True, blank=True)
    refill_rate = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    note = models.TextField(blank=True, default="")
    # The worker host that ran it (see `host_name`): with several workers, which one did.
    host = models.CharField(max_length=255, blank=True, default=host_name)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        indexes = [
            # Used by the watermark, full-sweep timing, prune guard and the status line.
            models.Index(fields=["kind", "status", "started_at"], name="syncrun_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"

    def summary(self) -> str:
        """One line a reseller can read: what the run did, or why it did not."""
        if self.status == self.Status.SKIPPED:
            return self.note or "skipped"
        if self.kind == self.Kind.PRUNE:
            dry_run = self.note.startswith("dry run")
            text = "" if self.status == self.Status.FAILED or dry_run else f"{self.pruned} removed"
        elif self.kind == self.Kind.BACKFILL:
            text = f"{self.updated} rows updated, {self.tokens_spent} tokens"
        else:
            drops = f", {self.price_drops} price drop{'s' if self.price_drops != 1 else ''}"
            text = (
                f"{self.updated} updated, {self.inserted} new{drops}, "
                f"{self.enriched} enriched, {self.tokens_spent} tokens"
            )
        parts = [p for p in (text, self.note) if p]
        if self.error:
            parts.append(f"error: {self.error}")
        return f"{self.status}: " + "; ".join(parts)

    def finish(self, status: str, **fields: Any) -> None:
        self.status = status
        self.finished_at = timezone.now()
        for name, value in fields.items():
            setattr(self, name, value)
        self.save()


class DealEventQuerySet(models.QuerySet):
    def write(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Insert events (rows from `DealEvent.row`) in one prepared statement: the one way
        the jobs write history (deals/bulk.py: the measured fast path)."""
        from deals.bulk import insert_rows

        insert_rows(DealEvent, events, using=self.db)

    def price_history(self, asins: Iterable[str], since: datetime) -> DealEventQuerySet:
        return self.filter(
            asin__in=list(asins), field="now_price", at__gte=since, new_value__isnull=False
        ).order_by("asin", "at")


class DealEvent(models.Model):
    class Kind(models.TextChoices):
        ENTERED = "entered"
        CHANGED = "changed"
        LEFT = "left"
        # Computed columns recomputed from the stored rows (Costs saved, a backfill): no deal
        # changed in Keepa, but what the screen shows did. One event per chunk written, in
        # its transaction, naming the chunk's ASIN range (`recomputed_row`): open pages
        # re-render their rows in that range on the next live poll, without flashing them.
        RECOMPUTED = "recomputed"

    # No foreign key: a deal's history outlives the deal (a "left" event names a deleted row).
    asin = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    field = models.CharField(max_length=40, blank=True, default="")
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL)

    objects = DealEventQuerySet.as_manager()

    class Meta:
        indexes = [
            # Used by the deal page and the sparklines (one ASIN's history in time order).
            models.Index(fields=["asin", "at"], name="dealevent_asin_at_idx"),
            # Used by the retention clean-up.
            models.Index(fields=["at"], name="dealevent_at_idx"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.RECOMPUTED:
            return f"{self.reason} ({self.asin_range[0]} to {self.asin_range[1]})"
        if self.kind == self.Kind.CHANGED:
            return f"{self.asin} {self.field}: {self.old_value} → {self.new_value}"
        return f"{self.asin} {self.kind} {self.reason}".strip()

    @staticmethod
    def row(
        asin: str,
        kind: str,
        *,
        at: datetime,
        run_id: int | None,
        field: str = "",
        old: Any = None,
        new: Any = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """One event as the bulk writer takes it (`DealEvent.objects.write`)."""
        return {
            "asin": asin,
            "kind": kind,
            "field": field,
            "old_value": old,
            "new_value": new,
            "reason": reason,
            "at": at,
            "run_id": run_id,
        }

    @staticmethod
    def recomputed_row(
        rows: Sequence[Deal], columns: Sequence[str], *, at: datetime
    ) -> dict[str, Any]:
        """The event saying `columns` of `rows` were recomputed (rows: those whose values
        changed). It names no deal: the ASIN range is its value, the columns its reason."""
        asins = [d.asin for d in rows]
        return DealEvent.row(
            "",
            DealEvent.Kind.RECOMPUTED,
            at=at,
            run_id=None,
            field="",
            new=[min(asins), max(asins)],
            reason=f"recomputed {', '.join(columns)}"[:300],
        )

    @property
    def asin_range(self) -> tuple[str, str]:
        """The first and last ASIN a `recomputed` event covers."""
        first, last = self.new_value or ("", "")
        return first, last


# A seller's rating is fetched again after this long, at the earliest.
SELLER_REFRESH_AFTER = timedelta(days=1)


class SellerQuerySet(models.QuerySet):
    def store(self, found: Iterable[Any], now: datetime) -> set[str]:
        """Save sellers Keepa answered (`keepa_client.models.Seller`: name, current rating and
        rating count) as fetched `now`; returns their ids."""
        rows = [
            Seller(
                seller_id=s.seller_id,
                name=s.seller_name or "",
                fetched_at=now,
                rating_percent=s.current_rating,
                rating_count=s.current_rating_count,
                rating_fetched_at=now,
            )
            for s in found
        ]
        self.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["seller_id"],
            update_fields=[
                "name",
                "fetched_at",
                "rating_percent",
                "rating_count",
                "rating_fetched_at",
            ],
        )
        return {row.seller_id for row in rows}

    def fresh_ids(self, seller_ids: Iterable[str], now: datetime) -> set[str]:
        """Those of `seller_ids` whose rating was fetched less than a day ago: not asked again."""
        return set(
            self.filter(
                seller_id__in=list(seller_ids),
                rating_fetched_at__gt=now - SELLER_REFRESH_AFTER,
            ).values_list("seller_id", flat=True)
        )


class Restriction(models.Model):
    """One line of the user's restricted list: an ASIN, a brand or publisher, or a category
    they may not sell (or, for an ASIN, one they checked they may sell)."""

    class Kind(models.TextChoices):
        ASIN = "asin", "ASIN"
        BRAND = "brand", "brand / publisher"
        CATEGORY = "category", "category"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # ASINs upper case; brands and category names lower case (matched case-insensitively);
    # a category may also be Keepa's numeric id.
    value = models.CharField(max_length=200)
    gated = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One rule per thing: a second mark on the same ASIN replaces the first.
            models.UniqueConstraint(fields=["kind", "value"], name="restriction_kind_value_uniq")
        ]
        ordering = ["kind", "value"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}{'' if self.gated else ' (allowed)'}"


class Seller(models.Model):
    """Sellers of the Now line: name and rating, looked up once per seller (1 token each),
    and the rating refreshed at most once a day (`SellerQuerySet.due`)."""

    seller_id = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=200, blank=True, default="")
    fetched_at = models.DateTimeField(default=timezone.now)
    # Keepa's current positive-rating percentage (0-100) and how many ratings it stands on.
    rating_percent = models.SmallIntegerField(null=True, blank=True)
    rating_count = models.IntegerField(null=True, blank=True)
    # When the rating was fetched; None for sellers stored before ratings were kept.
    rating_fetched_at = models.DateTimeField(null=True, blank=True)

    objects = SellerQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name or self.seller_id


def this_host() -> str:
    """This host's name (`host_name`) as lock owners carry it: at most 32 characters, so that
    host:pid:random stays short in the owner column (PostgreSQL refuses a value longer than
    its column, SQLite would store it). A longer name keeps its start and a hash of the whole,
    so two hosts sharing a long prefix stay two hosts."""
    name = host_name()
    if len(name) <= 32:
        return name
    return f"{name[:23]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _holder_is_dead(owner: str) -> bool:
    """Only a holder on this machine can be seen dead (its pid is gone); a holder on another
    host, whatever its pid, holds its lock until it expires or is released."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != this_host() or not pid.isdigit():
        return False  # another machine's process: wait for its lock to expire
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class BackfillCheckpoint(models.Model):
    """Where a backfill of a set of columns got to, so a stopped one resumes there."""

    key = models.CharField(max_length=200, primary_key=True)
    columns = models.JSONField(default=list)
    only_missing = models.BooleanField(default=False)
    last_asin = models.CharField(max_length=16, blank=True, default="")
    rows_done = models.IntegerField(default=0)
    rows_changed = models.IntegerField(default=0)
    tokens_spent = models.IntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key} at {self.last_asin or 'start'}"


class JobLock(models.Model):
    """One row per job name; held while `locked_until` is in the future."""

    name = models.CharField(max_length=64, primary_key=True)
    locked_until = models.DateTimeField()
    # host:pid:random (owner_token); room for a cloud host's long name.
    owner = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def owner_token() -> str:
        """host:pid:random, so a holder that died on this machine can be recognised."""
        return f"{this_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    @classmethod
    def acquire(cls, name: str, owner: str, ttl: timedelta) -> bool:
        """Claim the lock with one conditional UPDATE; an expired or dead holder loses it."""
        now = timezone.now()
        cls.objects.get_or_create(name=name, defaults={"locked_until": now - timedelta(seconds=1)})
        claimed = cls.objects.filter(name=name, locked_until__lt=now).update(
            locked_until=now + ttl, owner=owner
        )
        if claimed:
            return True
        holder = cls.objects.filter(name=name).values_list("owner", flat=True).first() or ""
        if _holder_is_dead(holder):
            # Conditional on the same owner: of two processes noticing, only one wins.
            claimed = cls.objects.filter(name=name, owner=holder).update(
                locked_until=now + ttl, owner=owner
            )
        return claimed == 1

    @classmethod
    def renew(cls, name: str, owner: str, ttl: timedelta) -> bool:
        """Extend a held lock; False if it is no longer ours."""
        return (
            cls.objects.filter(name=name, owner=owner).update(locked_until=timezone.now() + ttl)
            == 1
        )

    @classmethod
    def release(cls, name: str, owner: str) -> None:
        cls.objects.filter(name=name, owner=owner).update(locked_until=timezone.now())

    @classmethod
    def is_held(cls, name: str) -> bool:
        """Held now by a holder that may be alive: a holder whose process died on this
        machine holds nothing (its lock would wait for its expiry otherwise)."""
        holder = (
            cls.objects.filter(name=name, locked_until__gt=timezone.now())
            .values_list("owner", flat=True)
            .first()
        )
        return holder is not None and not _holder_is_dead(holder)

    @classmethod
    def held(cls, names: Sequence[str]) -> list[str]:
        """Which of `names` are held now (as `is_held` decides), in their order: one query."""
        holders = dict(
            cls.objects.filter(name__in=names, locked_until__gt=timezone.now()).values_list(
                "name", "owner"
            )
        )
        return [n for n in names if n in holders and not _holder_is_dead(holders[n])]


class WorkerHeartbeat(models.Model):
    """When a background worker last ran a task, one row per worker host: the heartbeat task
    writes its host's row every minute, so the newest row's age says whether any worker still
    takes tasks off the queue, and the rows say which workers have been seen.

    With several workers each minute's heartbeat is run by whichever takes it first, so one
    host's row may lag behind for minutes while the others take the beats: the app is healthy
    while *some* worker beats (`latest`), and the rows are a roll-call, not a verdict."""

    # The worker's host name (DEALS_HOSTNAME, else the machine's; see `host_name`).
    name = models.CharField(max_length=255, primary_key=True, default="worker")
    beat_at = models.DateTimeField()
    # host:pid:random of the worker process that ran the heartbeat (see JobLock.owner_token).
    owner = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name} {self.beat_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls) -> None:
        cls.objects.update_or_create(
            name=host_name(), defaults={"beat_at": timezone.now(), "owner": JobLock.owner_token()}
        )

    @classmethod
    def latest(cls) -> WorkerHeartbeat | None:
        """The newest beat of any worker."""
        return cls.objects.order_by("-beat_at").first()

    @classmethod
    def seen(cls, limit: int = 20) -> list[WorkerHeartbeat]:
        """The workers seen, newest beat first (a retired host's row ages here until deleted
        in the admin)."""
        return list(cls.objects.order_by("-beat_at")[:limit])

    @property
    def pid(self) -> int | None:
        pid = self.owner.split(":")[1] if self.owner.count(":") >= 2 else ""
        return int(pid) if pid.isdigit() else None


class SavedSearch(models.Model):
    """A dashboard view kept under a name: its query string (filters, sort, search), so the
    menu opens it with one click and the address can be shared."""

    name = models.CharField(max_length=100, unique=True)
    # The dashboard's own query string, normalised (deals/triage.py `normalise_query`):
    # no page, no empty parameters. Empty: every deal, the default sort.
    query = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "saved searches"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        url = reverse("dashboard")
        return f"{url}?{self.query}" if self.query else url


class Triage(models.Model):
    """The reader's decisions on one ASIN: hidden (maybe until a price or a date), a note,
    on the buy list. Keyed by ASIN, not tied to the Deal row, so a deal that is pruned and
    comes back finds its triage again."""

    asin = models.CharField(max_length=16, unique=True)
    hidden = models.BooleanField(default=False)
    # Shown again once the buy price (deals/economics.py `buy_total`) is below this, while
    # it stays below; None: no price condition.
    hidden_below_cents = models.IntegerField(
        "hidden until buy price below (cents)", null=True, blank=True
    )
    # Shown again from this moment on; None: until unhidden.
    hidden_until = models.DateTimeField("hidden until (UTC)", null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    watched = models.BooleanField("on the buy list", default=False)
    watched_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["asin"]
        verbose_name_plural = "triage"
        indexes = [
            # The buy list and the "hidden" filter start from these few rows.
            models.Index(
                fields=["asin"], condition=models.Q(watched=True), name="triage_watched_idx"
            ),
            models.Index(
                fields=["asin"], condition=models.Q(hidden=True), name="triage_hidden_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.asin

    @property
    def is_empty(self) -> bool:
        return not self.hidden and not self.watched and not self.note.strip()


# Alert rules live in their own module; imported here so Django registers their models.
from deals.alert_models import AlertDelivery, AlertRule, AlertState  # noqa: E402, F401
