"""The dashboard: the page, its live poll, Refresh, the status line, the deal page, API and CSV.

The dashboard only reads; Refresh enqueues the same task the schedule runs.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

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
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRefresh
from django_q.tasks import fetch

from deals import (
    dashboard,
    export,
    formatting,
    gating,
    health,
    targets,
    tasks,
    token_plan,
    triage,
)
from deals.columns import COLUMNS, SHOWN_BY_DEFAULT, labelled, settings_or_none
from deals.config import ConfigError, load_config
from deals.costs import can_change_costs, save_seller_costs
from deals.dashboard import DashboardQuery
from deals.deal_page import deal_page
from deals.forms import RestrictionForm, RestrictionImportForm, SellerCostsForm
from deals.models import DealEvent, Gated, Restriction, SavedSearch, SyncRun
from keepa_client.redact import redact

# A Refresh whose task has neither finished nor started after this long stops being
# watched (no worker running?); its data, if it ever runs, arrives through the live poll.
REFRESH_WATCH_SECONDS = tasks.REFRESH_CLAIM_TTL.total_seconds()

TABLE_COLUMNS = dashboard.table_columns()


def row_context(request: HttpRequest, target: float | None) -> dict[str, Any]:
    """What every rendering of table rows needs: the columns (headed for settings.json), the
    reader's column choice and the target markup the cues compare with."""
    return {
        "columns": labelled(TABLE_COLUMNS, settings_or_none()),
        "shown": dashboard.shown_columns(request.COOKIES.get(dashboard.COLUMNS_COOKIE)),
        "target": target,
    }


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
@require_safe
@triage.read_once
def dashboard_page(request: HttpRequest) -> HttpResponse:
    if any(v == "" for _key, values in request.GET.lists() for v in values):
        # The filter form sends every field, empty ones too: keep the address short and
        # shareable by dropping them (one redirect, before anything is read).
        kept = [(k, v) for k, values in request.GET.lists() for v in values if v != ""]
        return redirect(f"{request.path}?{urlencode(kept)}" if kept else request.path)
    categories = dashboard.present_categories()
    query = DashboardQuery.from_request(request.GET, categories)
    context = table_context(request, query)
    context["categories"] = categories
    context["saved_searches"] = SavedSearch.objects.all()
    context["current_search"] = query.url_params(page=None)
    return render(request, "deals/dashboard.html", context)


def table_context(request: HttpRequest, query: DashboardQuery) -> dict[str, Any]:
    """What a page with the live deals table shows (the dashboard, the buy list)."""
    # The cursor is read before the rows: a change committed in between is sent again by
    # the next poll (rows are replaced whole, so a repeat is harmless), never lost.
    cursor = dashboard.current_cursor()
    page = query.page()
    target = targets.target_markup()
    rows = dashboard.rows_for(list(page.object_list), target=target)
    return {
        "query": query,
        "form": query.form,
        **row_context(request, target),
        "default_columns": ",".join(SHOWN_BY_DEFAULT),
        "always_shown": dashboard.ALWAYS_SHOWN,
        "page": page,
        "rows": rows,
        "total": query.total(page),
        "live_url": dashboard.live_url(cursor, cursor, [r.deal.asin for r in rows], query),
        "status": dashboard.status(shared=True),
        "filtered": query.filtered,
    }


@fragment_login_required
@require_safe
@triage.read_once
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
    target = targets.target_markup()
    # The table filling for the first time (it was empty, or no sync has finished yet):
    # rows come in calmly, and what is on the page once it is over counts as seen.
    first_fill = not shown or not SyncRun.objects.brought_up_to_date().exists()
    if first_fill:
        opened = latest
    diff = dashboard.live_diff(
        query,
        opened=opened,
        cursor=cursor,
        latest=latest,
        shown=shown,
        target=target,
        first_fill=first_fill,
    )
    context = {
        "query": query,
        **row_context(request, target),
        "page": diff.page,
        "rows": diff.rows,
        "whole_page": diff.whole_page,
        "total": query.total(diff.page),
        "live_url": dashboard.live_url(opened, latest, diff.asins, query),
        "filtered": query.filtered,
        # Rows changed: the status line follows (a first sync, the tokens left).
        "status": dashboard.status(shared=True),
    }
    return render(request, "deals/_live.html", context)


def _int_param(request: HttpRequest, name: str, default: int = 0) -> int:
    try:
        return max(0, int(request.GET.get(name, default)))
    except ValueError:
        return default


@api_login_required
@require_safe
def total_deals(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"total_deals": dashboard.shown_count()})


@fragment_login_required
@require_safe
def status_line(request: HttpRequest) -> HttpResponse:
    return render(request, "deals/_status_line.html", {"status": dashboard.status(shared=True)})


@login_required
@require_safe
def token_plan_page(request: HttpRequest) -> HttpResponse:
    """How Keepa's tokens are split an hour, and how long the sellers waiting take to check."""
    return render(request, "deals/token_plan.html", {"view": token_plan.current()})


# -- Refresh Deals ------------------------------------------------------------------------


@require_POST
@fragment_login_required
def refresh(request: HttpRequest) -> HttpResponse:
    """Enqueue one update run now, unless one is already running or queued."""
    # Before queueing: in tests (and with a sync broker) the run happens inside the call.
    since = int(time.time())
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
        {"task_id": task_id, "since": since, "state": message, "hint": _refresh_hint()},
    )


@fragment_login_required
@require_safe
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
        running = tasks.update_running()
        worker = health.worker_health()
        if not running and worker.beat_at and not worker.ok:
            # The worker stopped while the sync waited: it will not start until it is back.
            message = (
                f"The sync is queued, but {worker.problem()}: restart it (manage.py qcluster)."
            )
            return render(
                request, "deals/_refresh.html", {"message": message}, status=HTMX_STOP_POLLING
            )
        state = "Syncing with Keepa…" if running else "Queued, waiting for the background worker…"
        context = {"task_id": task_id, "since": since, "state": state, "hint": _refresh_hint()}
        return render(request, "deals/_refresh.html", context)
    run = _refresh_run(_int_param(request, "since"))
    if task.success and run is not None:
        outcome = formatting.refresh_sentence(run, dashboard.next_useful_refresh())
        outcome_class = run.status
    else:
        outcome = str(task.result) if task.success else f"The sync failed: {task.result}"
        outcome_class = "ok" if task.success else "failed"
    context = {
        "outcome": redact(outcome, settings.KEEPA_API_KEY),
        "outcome_class": outcome_class,
        "status": dashboard.status(),
    }
    return render(request, "deals/_refresh.html", context, status=HTMX_STOP_POLLING)


def _refresh_run(since: int) -> SyncRun | None:
    """The update run a Refresh clicked at `since` (epoch seconds) started, if it recorded one."""
    started = datetime.fromtimestamp(since, UTC) if since else timezone.now() - timedelta(hours=1)
    return (
        SyncRun.objects.updates()
        .filter(trigger="manual", started_at__gte=started)
        .order_by("-started_at")
        .first()
    )


def _refresh_hint() -> str:
    """While a Refresh runs: what it can do now that Keepa's cache holds the deal list."""
    useful = dashboard.next_useful_refresh()
    if useful is None:
        return ""
    wait = formatting.wait((useful - timezone.now()).total_seconds())
    return (
        f"Keepa's deal list was read less than 2 minutes ago, so this sync can check sellers "
        f"but not fetch new prices; that is possible again in {wait}."
    )


# -- health ------------------------------------------------------------------------------


@require_safe
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
@require_safe
def deal_detail(request: HttpRequest, asin: str) -> HttpResponse:
    page = deal_page(asin)
    if page is None:
        raise Http404("No deal with that ASIN")
    marks = triage.for_asins([asin]).get(asin)
    context = page.context() | {
        "marks": marks,
        "hidden": triage.is_hidden(marks, page.deal),
        "hide_below": f"{marks.hidden_below_cents / 100:.2f}"
        if marks and marks.hidden_below_cents is not None
        else "",
    }
    return render(request, "deals/deal_detail.html", context)


# -- API and CSV --------------------------------------------------------------------------


@api_login_required
@require_safe
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
    # Raw values (cents, ids) of every column, then what the page shows around them: the
    # seller line, the status, and whether the buy price is the checked offer or the estimate.
    results = list(export.records(export.deal_row(deal) for deal in page.object_list))
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
@require_safe
def deals_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The current filtered, sorted view as CSV, streamed (50,000 rows never sit in memory)."""
    query = DashboardQuery.from_request(request.GET)
    writer = csv.writer(_Echo())
    columns = labelled(COLUMNS, settings_or_none())
    cells = [(c.name, c.kind) for c in columns] + [(e.name, e.kind) for e in export.EXTRAS]
    rows = query.queryset().values(*export.ROW_FIELDS).iterator(chunk_size=2000)

    def lines() -> Iterator[str]:
        yield writer.writerow([*(c.label for c in columns), *(e.label for e in export.EXTRAS)])
        for record in export.records(rows):
            yield writer.writerow([formatting.csv_value(record[n], k) for n, k in cells])

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


# -- the restricted list and the one-click gated mark -------------------------------------


@fragment_login_required
@require_POST
def mark_gated(request: HttpRequest, asin: str) -> HttpResponse:
    """Mark a row's ASIN gated, sellable, or forget the mark; htmx gets the row back."""
    value = request.POST.get("gated", "")
    if value not in Gated.values:
        return HttpResponse("gated must be yes, no or unknown", status=400)
    deal = gating.mark(asin, value)
    if deal is None:
        raise Http404("No deal with that ASIN")
    if not request.htmx:
        return redirect("dashboard")
    target = targets.target_markup()
    row = dashboard.rows_for([deal], target=target)[0]
    return render(request, "deals/_row.html", {"row": row, **row_context(request, target)})


@login_required
def restrictions(request: HttpRequest) -> HttpResponse:
    """The user's restricted list: add a line, import a CSV, delete a line."""
    add_form, import_form, message = RestrictionForm(), RestrictionImportForm(), ""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "add":
            add_form = RestrictionForm(request.POST)
            if add_form.is_valid():
                data = add_form.cleaned_data
                gating.save_rules([(data["kind"], data["value"], data["gated"], data["note"])])
                changed = gating.apply()
                message = f"Added {data['value']}; {changed} deals changed their Gated answer."
            else:
                status = 400
        elif action == "import":
            import_form = RestrictionImportForm(request.POST, request.FILES)
            if import_form.is_valid():
                try:
                    rows = gating.parse_csv(
                        import_form.cleaned_data["file"], import_form.cleaned_data["kind"]
                    )
                except gating.RestrictedListError as exc:
                    import_form.add_error("file", str(exc))
                    status = 400
                else:
                    saved = gating.save_rules(rows)
                    changed = gating.apply()
                    message = f"Imported {saved} lines; {changed} deals changed their Gated answer."
            else:
                status = 400
        elif action == "delete":
            deleted, _ = Restriction.objects.filter(pk=_int_post(request, "pk")).delete()
            changed = gating.apply() if deleted else 0
            message = f"Deleted; {changed} deals changed their Gated answer." if deleted else ""
        else:
            return HttpResponse("unknown action", status=400)
    context = {
        "rules": Restriction.objects.all(),
        "add_form": add_form,
        "import_form": import_form,
        "message": message,
    }
    return render(request, "deals/restrictions.html", context, status=status)


def _int_post(request: HttpRequest, name: str) -> int:
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return 0
