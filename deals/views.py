"""The dashboard: the page, its live poll, Refresh, the status line, the deal page, API and CSV.

The dashboard only reads; Refresh enqueues the same task the schedule runs.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import InvalidPage
from django.db.models import Max
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRefresh
from django_q.tasks import fetch

from deals import dashboard, formatting, health, tasks
from deals.columns import COLUMNS
from deals.config import ConfigError, load_config
from deals.costs import can_change_costs, save_seller_costs
from deals.dashboard import DashboardQuery
from deals.deal_page import deal_page
from deals.forms import SellerCostsForm
from deals.models import Deal, DealEvent, DealStatus
from keepa_client.redact import redact

# A Refresh whose task has neither finished nor started after this long stops being
# watched (no worker running?); its data, if it ever runs, arrives through the live poll.
REFRESH_WATCH_SECONDS = tasks.REFRESH_CLAIM_TTL.total_seconds()

TABLE_COLUMNS = [c for c in COLUMNS if c.in_table]


def fragment_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but an htmx request from a logged-out tab reloads the page
    (which then goes to the login form) instead of swapping the login page into a fragment."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.htmx:
            return HttpResponseClientRefresh()
        return redirect_to_login(request.get_full_path())

    return wrapper


def api_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


# -- the page and its live poll -----------------------------------------------------------


@login_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    # The cursor is read before the rows: a change committed in between is sent again by
    # the next poll (rows are replaced whole, so a repeat is harmless), never lost.
    cursor = dashboard.current_cursor()
    query = DashboardQuery.from_request(request.GET, dashboard.present_categories())
    page = query.page()
    rows = dashboard.rows_for(list(page.object_list))
    context = {
        "query": query,
        "form": query.form,
        "columns": TABLE_COLUMNS,
        "page": page,
        "rows": rows,
        "total": query.total(page),
        "live_url": dashboard.live_url(cursor, cursor, [r.deal.asin for r in rows], query),
        "status": dashboard.status(),
        "filtered": query.filtered,
    }
    return render(request, "deals/dashboard.html", context)


@fragment_login_required
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """What changed since the reader's cursor: 204 when nothing did (one small query)."""
    # The cursor assumes event ids become visible in id order. SQLite has one writer, so
    # they do; on PostgreSQL a transaction holding a lower id can commit after a higher one,
    # and that change would show with the row's next change (or on reload), not at once.
    cursor = _int_param(request, "cursor")
    latest = DealEvent.objects.filter(pk__gt=cursor).aggregate(latest=Max("pk"))["latest"]
    if latest is None:
        return HttpResponse(status=204)
    query = DashboardQuery.from_request(request.GET)
    opened = min(_int_param(request, "opened", cursor), cursor)
    shown = dashboard.parse_shown(request.GET.get("shown", ""))
    diff = dashboard.live_diff(query, opened=opened, cursor=cursor, latest=latest, shown=shown)
    context = {
        "query": query,
        "columns": TABLE_COLUMNS,
        "page": diff.page,
        "rows": diff.rows,
        "whole_page": diff.whole_page,
        "total": query.total(diff.page),
        "live_url": dashboard.live_url(opened, latest, diff.asins, query),
        "filtered": query.filtered,
    }
    return render(request, "deals/_live.html", context)


def _int_param(request: HttpRequest, name: str, default: int = 0) -> int:
    try:
        return max(0, int(request.GET.get(name, default)))
    except ValueError:
        return default


@api_login_required
@require_GET
def total_deals(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"total_deals": dashboard.shown_count()})


@fragment_login_required
@require_GET
def status_line(request: HttpRequest) -> HttpResponse:
    return render(request, "deals/_status_line.html", {"status": dashboard.status()})


# -- Refresh Deals ------------------------------------------------------------------------


@require_POST
@fragment_login_required
def refresh(request: HttpRequest) -> HttpResponse:
    """Enqueue one update run now, unless one is already running or queued."""
    task_id, message = tasks.request_refresh()
    if task_id is None:
        worker = health.worker_health()
        if message == tasks.ALREADY_QUEUED and worker.beat_at and not worker.ok:
            # A queued sync behind a worker that stopped taking tasks will never start.
            message = f"A sync is queued, but {worker.problem()}: restart it (manage.py qcluster)."
        return render(request, "deals/_refresh.html", {"message": message})
    return render(
        request,
        "deals/_refresh.html",
        {"task_id": task_id, "since": int(time.time()), "state": message},
    )


@fragment_login_required
@require_GET
def refresh_status(request: HttpRequest, task_id: str) -> HttpResponse:
    """The Refresh run's outcome once its task has finished (HTTP 286 stops the polling)."""
    task = fetch(task_id)
    if task is None:
        since = _int_param(request, "since")
        if since and time.time() - since > REFRESH_WATCH_SECONDS:
            message = "No result yet: is the background worker (qcluster) running?"
            return render(
                request, "deals/_refresh.html", {"message": message}, status=HTMX_STOP_POLLING
            )
        state = (
            "Syncing with Keepa…"
            if tasks.update_running()
            else "Queued, waiting for the background worker…"
        )
        context = {"task_id": task_id, "since": since, "state": state}
        return render(request, "deals/_refresh.html", context)
    outcome = str(task.result) if task.success else f"failed: {task.result}"
    outcome = redact(outcome, settings.KEEPA_API_KEY)
    context = {
        "outcome": outcome,
        "outcome_class": outcome.partition(":")[0],
        "status": dashboard.status(),
    }
    return render(request, "deals/_refresh.html", context, status=HTMX_STOP_POLLING)


# -- health ------------------------------------------------------------------------------


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For a process manager or a monitor, no login: 200 when the database answers, the
    worker runs tasks and a sync succeeded recently enough; else 503 with the problems.
    `/healthz/worker` judges the worker alone (what restarting qcluster can fix)."""
    healthy, body = health.report(worker_only=request.path.rstrip("/").endswith("/worker"))
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


# -- one deal -----------------------------------------------------------------------------


@login_required
@require_GET
def deal_detail(request: HttpRequest, asin: str) -> HttpResponse:
    page = deal_page(asin)
    if page is None:
        raise Http404("No deal with that ASIN")
    return render(request, "deals/deal_detail.html", page.context())


# -- API and CSV --------------------------------------------------------------------------


@api_login_required
@require_GET
def api_deals(request: HttpRequest) -> JsonResponse:
    query = DashboardQuery.from_request(request.GET)
    if not query.form.is_valid():
        return JsonResponse({"errors": query.form.errors.get_json_data()}, status=400)
    try:
        page = query.exact_page()
    except InvalidPage as exc:
        # A client asking for a page that is not there gets told, like for any other parameter.
        error = {"message": f"{exc}.", "code": "invalid_page"}
        return JsonResponse({"errors": {"page": [error]}}, status=400)
    names = [c.name for c in COLUMNS]
    # `buy_price_checked` false: the buy price and the economics stand on `est_landed`.
    results = [
        {
            **{name: getattr(deal, name) for name in names},
            "buy_price_checked": deal.buy_price_checked,
            **status_fields(deal),
        }
        for deal in page.object_list
    ]
    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "results": results,
        }
    )


def status_fields(deal: Deal) -> dict[str, Any]:
    """`status` on every row; why and since when for a row that is not plainly listed."""
    fields: dict[str, Any] = {"status": deal.status}
    if deal.status == DealStatus.LEFT:
        fields.update(left_reason=deal.status_reason, left_at=deal.status_at)
    elif deal.status == DealStatus.UNVERIFIED:
        fields.update(unverified_reason=deal.status_reason, unverified_at=deal.status_at)
    return fields


class _Echo:
    """A write-only file for csv.writer: each row comes back as the string to stream."""

    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def deals_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The current filtered, sorted view as CSV, streamed (50,000 rows never sit in memory)."""
    query = DashboardQuery.from_request(request.GET)
    writer = csv.writer(_Echo())
    names = [c.name for c in COLUMNS]
    kinds = [c.kind for c in COLUMNS]
    # What `Deal.buy_price_checked` reads, for the last column.
    checked_from = ("now_total", "enriched_at", "enrich_priority")
    values = (
        query.queryset()
        .values_list(*names, *checked_from, "status", "status_reason")
        .iterator(chunk_size=2000)
    )
    end = len(names) + len(checked_from)

    def lines() -> Iterator[str]:
        header = [*(c.label for c in COLUMNS), "Buy price checked", "Status", "Status reason"]
        yield writer.writerow(header)
        for row in values:
            shown, checked = row[: len(names)], Deal.checked(*row[len(names) : end])
            cells = [formatting.csv_value(v, k) for v, k in zip(shown, kinds, strict=True)]
            yield writer.writerow([*cells, "yes" if checked else "no", *row[end:]])

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deals-{stamp}.csv"'
    return response


@login_required
def seller_costs(request: HttpRequest) -> HttpResponse:
    """Edit the seller's costs; saving recomputes the economics columns without Keepa calls.

    Every user may view them; changing them needs the permission (`can_change_costs`).
    """
    may_change = can_change_costs(request.user)
    refused = request.method == "POST" and not may_change
    try:
        config = load_config()
    except ConfigError as exc:
        context = {"config_error": str(exc), "read_only": not may_change, "refused": refused}
        return render(request, "deals/costs.html", context, status=403 if refused else 503)
    message = ""
    if request.method == "POST" and may_change:
        form = SellerCostsForm(request.POST)
        if form.is_valid():
            try:
                changed = save_seller_costs(form.to_costs())
            except ConfigError as exc:
                form.add_error(None, str(exc))
                return render(request, "deals/costs.html", {"form": form}, status=503)
            if not changed:
                message = "Nothing to save: these are the costs already in use."
            else:
                message = (
                    "Saved. Profit, margin, ROI and max buy are being recomputed for every deal "
                    "(no Keepa tokens needed)."
                )
    else:
        form = SellerCostsForm(
            initial=SellerCostsForm.initial_from(config.seller_costs), read_only=not may_change
        )
    context = {"form": form, "message": message, "read_only": not may_change, "refused": refused}
    # A save without the permission writes nothing and shows the costs still in use.
    return render(request, "deals/costs.html", context, status=403 if refused else 200)
