"""The operator's admin: read-only lists of deals, runs, history and sellers, in dollars and
names rather than cents and codes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import strip_tags

from deals import gating, tasks
from deals.alert_models import AlertDelivery, AlertRule
from deals.columns import category_name
from deals.formatting import EMPTY, condition_name, field_display, money, offer_summary
from deals.forms import SavedSearchForm
from deals.models import (
    BackfillCheckpoint,
    Deal,
    DealEvent,
    Restriction,
    SavedSearch,
    Seller,
    SyncRun,
    Triage,
)

# The app's own lists are wide (a deal has a dozen columns worth seeing at once): the page's
# full width goes to them, not to a second copy of the index's model list.
admin.site.enable_nav_sidebar = False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.action(description="Backfill computed columns for all deals (runs in the worker)")
def start_backfill(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: object) -> None:
    task_id = tasks.queue_backfill()
    modeladmin.message_user(
        request,
        f"Backfill queued (task {task_id}); its result appears under Background jobs.",
    )


class CategoryFilter(admin.SimpleListFilter):
    """Root categories by name (Books), not Keepa's ids (283155)."""

    title = "category"
    parameter_name = "root_category"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        ids = (
            Deal.objects.order_by()
            .exclude(root_category__isnull=True)
            .values_list("root_category", flat=True)
            .distinct()
        )
        return sorted(((str(i), category_name(i)) for i in ids), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
        value = self.value()
        return queryset.filter(root_category=value) if value and value.isdigit() else queryset


class ConditionFilter(admin.SimpleListFilter):
    """The cheapest offer's condition by name (Very Good), not Keepa's code (3)."""

    title = "condition"
    parameter_name = "now_condition"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        codes = (
            Deal.objects.order_by()
            .exclude(now_condition__isnull=True)
            .values_list("now_condition", flat=True)
            .distinct()
        )
        return [(str(c), condition_name(c)) for c in sorted(codes)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
        value = self.value()
        return queryset.filter(now_condition=value) if value and value.isdigit() else queryset


class FbaFilter(admin.SimpleListFilter):
    """Whether Amazon ships the cheapest copy (it arrives prepped; no seller shipping time)."""

    title = "FBA"
    parameter_name = "fba"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "FBA"), ("no", "seller ships")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
        if self.value() in ("yes", "no"):
            return queryset.filter(now_is_fba=self.value() == "yes")
        return queryset


class EnrichedFilter(admin.SimpleListFilter):
    """Whether an offers look-up has found the seller (else the buy price is an estimate)."""

    title = "offers looked up"
    parameter_name = "enriched"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "yes"), ("no", "not yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
        if self.value() == "yes":
            return queryset.filter(enriched_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(enriched_at__isnull=True)
        return queryset


def _money_column(name: str, label: str) -> Any:
    @admin.display(description=label, ordering=name)
    def show(model_admin: admin.ModelAdmin, obj: Deal) -> str:
        return money(getattr(obj, name))

    return show


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    """Read-only: rows change through the jobs, which keep events and computed columns right.

    Money in dollars and codes as names, as on the dashboard; the list fits a 1366 px laptop,
    so it keeps the columns an operator scans and leaves List at, the average, season and
    gated to the deal page (season and gated stay as filters)."""

    actions = [start_backfill]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "asin",
        "short_title",
        "now",
        "cheapest_offer",
        "below_average",
        "profit_dollars",
        "roi",
        "sales_rank",
        "category",
        "status",
        "first_seen",
    )
    list_display_links = ("asin", "short_title")
    list_filter = (
        "status",
        ConditionFilter,
        CategoryFilter,
        FbaFilter,
        EnrichedFilter,
        "gated",
        "season",
    )
    search_fields = ("asin", "title", "now_seller_name")
    ordering = ("-delta_percent",)
    list_per_page = 50
    # One deal, read-only, in the same words (the deal page has the rest).
    fields = readonly_fields = (
        "asin",
        "title",
        "status",
        "status_reason",
        "status_at",
        "now",
        "cheapest_offer",
        "estimated_buy",
        "average",
        "below_average",
        "all_in",
        "profit_dollars",
        "roi",
        "max_buy",
        "list_at_dollars",
        "sales_rank",
        "category",
        "season",
        "gated",
        "first_seen",
        "last_seen_utc",
        "enriched_at",
        "price_changed_at",
    )

    estimated_buy = _money_column("est_landed", "Estimated buy")
    all_in = _money_column("all_in_cost", "All-in cost")
    max_buy = _money_column("max_buy_total", "Max buy")

    now = _money_column("now_price", "Now")
    average = _money_column("avg_price", "Average")
    profit_dollars = _money_column("profit", "Profit")
    list_at_dollars = _money_column("list_at", "List at")

    @admin.display(description="Title", ordering="title")
    def short_title(self, obj: Deal) -> str:
        return obj.title if len(obj.title) <= 60 else f"{obj.title[:59]}…"

    @admin.display(description="Cheapest offer", ordering="now_total")
    def cheapest_offer(self, obj: Deal) -> str:
        if obj.now_total is None:
            return EMPTY
        return offer_summary(obj)

    @admin.display(description="% below avg", ordering="delta_percent")
    def below_average(self, obj: Deal) -> str:
        return EMPTY if obj.delta_percent is None else f"{obj.delta_percent} %"

    @admin.display(description="ROI", ordering="roi_percent")
    def roi(self, obj: Deal) -> str:
        return EMPTY if obj.roi_percent is None else f"{obj.roi_percent:g} %"

    @admin.display(description="First seen", ordering="first_seen_utc")
    def first_seen(self, obj: Deal) -> str:
        # "30 Nov 2026 18:42", not "Nov. 30, 2026, 6:42 p.m.": the list must fit a laptop,
        # and a narrow column breaks it between words, never inside the date.
        return timezone.localtime(obj.first_seen_utc).strftime("%d %b %Y %H:%M")

    @admin.display(description="Category", ordering="root_category")
    def category(self, obj: Deal) -> str:
        return category_name(obj.root_category) or EMPTY


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "status",
        "trigger",
        "host",
        "started_at",
        "finished_at",
        "full_sweep",
        "pages",
        "inserted",
        "updated",
        "enriched",
        "pruned",
        "tokens_spent",
        "tokens_left",
    )
    list_filter = ("kind", "status", "full_sweep", "trigger", "host")
    ordering = ("-started_at",)


@admin.register(DealEvent)
class DealEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "asin", "kind", "field", "old", "new", "reason")
    list_filter = ("kind", "field")
    search_fields = ("asin",)
    ordering = ("-at",)

    @admin.display(description="Old value")
    def old(self, obj: DealEvent) -> str:
        return _event_value(obj.field, obj.old_value)

    @admin.display(description="New value")
    def new(self, obj: DealEvent) -> str:
        return _event_value(obj.field, obj.new_value)


def _event_value(field: str, value: Any) -> str:
    """An event's value as the deal's column shows it ($21.91, Very Good), else as stored."""
    if value is None:
        return EMPTY
    try:
        Deal._meta.get_field(field)
    except FieldDoesNotExist:
        return str(value)
    return strip_tags(str(field_display(field, value)))


@admin.register(Seller)
class SellerAdmin(ReadOnlyAdmin):
    list_display = ("seller_id", "name", "rating_percent", "rating_count", "rating_fetched_at")
    search_fields = ("seller_id", "name")


@admin.register(BackfillCheckpoint)
class BackfillCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("key", "last_asin", "rows_done", "rows_changed", "tokens_spent", "finished_at")


@admin.register(Restriction)
class RestrictionAdmin(admin.ModelAdmin):
    """The user's restricted list (also editable at /restrictions): every change re-applies
    the list to the deals' Gated column."""

    list_display = ("kind", "value", "gated", "note", "created_at")
    list_filter = ("kind", "gated")
    search_fields = ("value", "note")

    def save_model(
        self, request: HttpRequest, obj: Restriction, form: object, change: bool
    ) -> None:
        obj.value = gating.normalize(obj.kind, obj.value)
        super().save_model(request, obj, form, change)
        gating.apply()

    def delete_model(self, request: HttpRequest, obj: Restriction) -> None:
        super().delete_model(request, obj)
        gating.apply()

    def delete_queryset(self, request: HttpRequest, queryset: object) -> None:
        super().delete_queryset(request, queryset)
        gating.apply()


# -- alerts: rules and their history, secrets masked (edited in the app, /alerts) ----------


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    """Listed, never edited here: the destinations hold secrets, and the app's form keeps them
    masked while it edits them. Deleting a rule is allowed."""

    list_display = ("name", "search", "destinations_masked", "paused", "rearm", "cap_per_hour")
    list_filter = ("paused",)
    search_fields = ("name", "search")
    exclude = ("destinations",)
    readonly_fields = ("destinations_masked",)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True

    @admin.display(description="destinations")
    def destinations_masked(self, obj: AlertRule) -> str:
        return ", ".join(obj.masked_destinations)

    @admin.display(description="re-arm", ordering="rearm_cents")
    def rearm(self, obj: AlertRule) -> str:
        return money(obj.rearm_cents)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("at", "rule_name", "destination", "kind", "status", "asin", "reason", "error")
    list_filter = ("status", "kind", "rule_name")
    search_fields = ("asin", "title", "rule_name")
    exclude = ("destination_key",)


@admin.register(SavedSearch)
class SavedSearchAdmin(admin.ModelAdmin):
    """Saved searches (also edited at /searches); the query string is normalised on save."""

    form = SavedSearchForm
    list_display = ("name", "query", "updated_at")
    search_fields = ("name", "query")
    readonly_fields = ("created_at", "updated_at")


@admin.register(Triage)
class TriageAdmin(admin.ModelAdmin):
    """The reader's marks by ASIN (hidden, note, buy list), kept when a deal is pruned."""

    list_display = ("asin", "title", "hidden", "hidden_below", "hidden_until", "watched", "note")
    list_filter = ("hidden", "watched")
    search_fields = ("asin", "note")
    readonly_fields = ("hidden_at", "watched_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Triage]:
        # The deal's title in the same query (no foreign key: the deal may be pruned).
        titles = Deal.objects.filter(asin=OuterRef("asin")).values("title")[:1]
        return super().get_queryset(request).annotate(deal_title=Subquery(titles))

    @admin.display(description="title")
    def title(self, obj: Triage) -> str:
        title = getattr(obj, "deal_title", None)
        return title if title is not None else "(not in the database now)"

    @admin.display(description="hidden until below")
    def hidden_below(self, obj: Triage) -> str:
        return money(obj.hidden_below_cents) if obj.hidden_below_cents is not None else EMPTY

    def save_model(self, request: HttpRequest, obj: Triage, form: object, change: bool) -> None:
        obj.asin = obj.asin.strip().upper()
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
