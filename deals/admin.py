from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from deals import tasks
from deals.models import BackfillCheckpoint, Deal, DealEvent, Seller, SyncRun


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


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    """Read-only: rows change through the jobs, which keep events and computed columns right."""

    actions = [start_backfill]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "asin",
        "title",
        "now_price",
        "now_total",
        "now_seller_name",
        "avg_price",
        "delta_percent",
        "roi_percent",
        "profit",
        "sales_rank",
        "status",
        "changed_at",
        "last_seen_utc",
    )
    list_filter = ("status", "root_category", "now_condition", "now_is_fba", "enrich_priority")
    search_fields = ("asin", "title")
    ordering = ("-delta_percent",)
    list_per_page = 50


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "status",
        "trigger",
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
    list_filter = ("kind", "status", "full_sweep", "trigger")
    ordering = ("-started_at",)


@admin.register(DealEvent)
class DealEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "asin", "kind", "field", "old_value", "new_value", "reason")
    list_filter = ("kind", "field")
    search_fields = ("asin",)
    ordering = ("-at",)


@admin.register(Seller)
class SellerAdmin(ReadOnlyAdmin):
    list_display = ("seller_id", "name", "fetched_at")
    search_fields = ("seller_id", "name")


@admin.register(BackfillCheckpoint)
class BackfillCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("key", "last_asin", "rows_done", "rows_changed", "tokens_spent", "finished_at")
