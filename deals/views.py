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

from deals import dashboard, tasks
from deals.columns import BY_NAME, COLUMNS
from deals.config import ConfigError, load_config
from deals.costs import save_seller_costs
from deals.dashboard import DashboardQuery
from deals.forms import SellerCostsForm
from deals.models import Deal, DealEvent, Seller
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
    filtered = bool(query.form.params().keys() - {"sort"})
    context = {
        "query": query,
        "form": query.form,
        "columns": TABLE_COLUMNS,
        "page": page,
        "rows": rows,
        "total": Deal.objects.count() if filtered else page.paginator.count,
        "live_url": dashboard.live_url(cursor, cursor, [r.deal.asin for r in rows], query),
        "status": dashboard.status(),
        "filtered": filtered,
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
    filtered = bool(query.form.params().keys() - {"sort"})
    context = {
        "query": query,
        "columns": TABLE_COLUMNS,
        "page": diff.page,
        "rows": diff.rows,
        "whole_page": diff.whole_page,
        "total": Deal.objects.count() if filtered else diff.page.paginator.count,
        "live_url": dashboard.live_url(opened, latest, diff.asins, query),
        "filtered": filtered,
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
    return JsonResponse({"total_deals": Deal.objects.count()})


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
        try:
            since = int(request.GET.get("since", "0"))
        except ValueError:
            since = 0
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


# -- one deal -----------------------------------------------------------------------------

_DETAIL_SKIPPED = {"id", "deal_snapshot", "product_snapshot"}
_DEAL_FIELDS = {f.name for f in Deal._meta.concrete_fields}


@login_required
@require_GET
def deal_detail(request: HttpRequest, asin: str) -> HttpResponse:
    deal = Deal.objects.filter(asin=asin).first()
    if deal is None:
        raise Http404("No deal with that ASIN")
    fields = [
        {
            "label": dashboard.field_label(f.name),
            "help": BY_NAME[f.name].help if f.name in BY_NAME else str(f.help_text),
            "value": (
                getattr(deal, f"get_{f.name}_display")()
                if f.choices
                else dashboard.field_display(f.name, getattr(deal, f.name))
            ),
        }
        for f in Deal._meta.concrete_fields
        if f.name not in _DETAIL_SKIPPED
    ]
    offers = _offers(deal)
    events = list(DealEvent.objects.filter(asin=asin).order_by("-at", "-pk")[:500])
    price_events = [
        (e.at, e.old_value, e.new_value, e.kind)
        for e in reversed(events)
        if e.field == "now_price" and e.new_value is not None
    ]
    chart = ""
    if price_events:
        start = price_events[0][0]
        points = dashboard.price_points(price_events, deal.now_price, start, timezone.now())
        chart = dashboard.price_svg(points, width=720, height=180, css_class="chart", axes=True)
    history = [
        {
            "event": e,
            "label": dashboard.field_label(e.field) if e.field in _DEAL_FIELDS else e.field,
            "old": dashboard.field_display(e.field, e.old_value) if e.field in _DEAL_FIELDS else "",
            "new": dashboard.field_display(e.field, e.new_value) if e.field in _DEAL_FIELDS else "",
        }
        for e in events
    ]
    context = {"deal": deal, "fields": fields, "offers": offers, "history": history, "chart": chart}
    return render(request, "deals/deal_detail.html", context)


def _offers(deal: Deal) -> list[dict[str, Any]]:
    raw = (deal.product_snapshot or {}).get("offers") or []
    names = dict(
        Seller.objects.filter(seller_id__in={o.get("sellerId") for o in raw}).values_list(
            "seller_id", "name"
        )
    )
    offers = []
    for offer in raw:
        price, shipping = offer.get("price"), offer.get("shipping")
        total = price + max(shipping or 0, 0) if isinstance(price, int) and price >= 0 else None
        offers.append(
            {
                "seller_id": offer.get("sellerId", ""),
                "seller_name": names.get(offer.get("sellerId"), ""),
                "condition": dashboard.condition_name(offer.get("condition")),
                "price": price,
                "shipping": shipping,
                "total": total,
                "fba": offer.get("isFBA"),
            }
        )
    return sorted(offers, key=lambda o: (o["total"] is None, o["total"] or 0))


# -- API and CSV --------------------------------------------------------------------------


@api_login_required
@require_GET
def api_deals(request: HttpRequest) -> JsonResponse:
    query = DashboardQuery.from_request(request.GET)
    if not query.form.is_valid():
        return JsonResponse({"errors": query.form.errors.get_json_data()}, status=400)
    page = query.page()
    names = [c.name for c in COLUMNS]
    results = [{name: getattr(deal, name) for name in names} for deal in page.object_list]
    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "results": results,
        }
    )


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
    values = query.queryset().values_list(*names).iterator(chunk_size=2000)

    def lines() -> Iterator[str]:
        yield writer.writerow([c.label for c in COLUMNS])
        for row in values:
            yield writer.writerow(
                [dashboard.csv_value(v, kind) for v, kind in zip(row, kinds, strict=True)]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deals-{stamp}.csv"'
    return response


@login_required
def seller_costs(request: HttpRequest) -> HttpResponse:
    """Edit the seller's costs; saving recomputes the economics columns without Keepa calls."""
    try:
        config = load_config()
    except ConfigError as exc:
        return render(request, "deals/costs.html", {"config_error": str(exc)}, status=503)
    message = ""
    if request.method == "POST":
        form = SellerCostsForm(request.POST)
        if form.is_valid():
            save_seller_costs(form.to_costs())
            message = (
                "Saved. Profit, margin, ROI and max buy are being recomputed for every deal "
                "(no Keepa tokens needed)."
            )
    else:
        form = SellerCostsForm(initial=SellerCostsForm.initial_from(config.seller_costs))
    return render(request, "deals/costs.html", {"form": form, "message": message})
