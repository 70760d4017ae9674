"""The reader's own pages and actions: triage on a row or the deal page, the buy list, and
saved searches. Every change is a POST with the CSRF token; htmx gets the row back."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from deals import dashboard, targets, triage
from deals.dashboard import DashboardQuery
from deals.forms import SavedSearchForm
from deals.models import Deal, SavedSearch
from deals.views import fragment_login_required, row_context, table_context

# What each row action does, and what the slim row left in its place says (with an Undo).
ACTIONS = ("hide", "unhide", "watch", "unwatch", "note")
GONE_MESSAGES = {
    "hide": ("hidden", "unhide"),
    "unwatch": ("taken off the buy list", "watch"),
    "unhide": ("shown again in the deals", "hide"),
    "watch": ("put on the buy list", "unwatch"),
}


class TriageError(ValueError):
    """A triage request that cannot be carried out as sent (a 400, with this text)."""


def _dollars_to_cents(text: str) -> int | None:
    text = text.strip().lstrip("$").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise TriageError("The price must be an amount in dollars, like 12.50.") from exc
    if not value.is_finite() or value <= 0 or value > 100_000:
        raise TriageError("The price must be above $0 and at most $100,000.")
    return int((value * 100).quantize(Decimal(1)))


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= triage.MAX_HIDE_DAYS:
        raise TriageError(f"Days must be a whole number from 1 to {triage.MAX_HIDE_DAYS}.")
    return int(text)


def apply_action(asin: str, action: str, data: QueryDict) -> None:
    """Carry out one triage action on an ASIN (raises TriageError on bad input)."""
    if action == "hide":
        below = _dollars_to_cents(data.get("below", ""))
        days = _days(data.get("days", ""))
        triage.hide(asin, below_cents=below, days=days)
    elif action == "unhide":
        triage.unhide(asin)
    elif action == "watch":
        triage.watch(asin, True)
    elif action == "unwatch":
        triage.watch(asin, False)
    elif action == "note":
        note = data.get("note", "")
        if len(note) > triage.MAX_NOTE:
            raise TriageError(f"A note holds at most {triage.MAX_NOTE:,} characters.")
        triage.set_note(asin, note)
    else:
        raise TriageError(f"action must be one of {', '.join(ACTIONS)}")


def page_query(request: HttpRequest) -> DashboardQuery | None:
    """The table the htmx request came from (its address), or None if not a deals table."""
    current = request.htmx.current_url if request.htmx else None
    if not current:
        return None
    parts = urlsplit(current)
    params = QueryDict(parts.query, mutable=True)
    if parts.path == reverse("buy_list"):
        params["triage"] = triage.WATCHED
    elif parts.path != reverse("dashboard"):
        return None
    return DashboardQuery.from_request(params)


@fragment_login_required
@require_POST
def triage_action(request: HttpRequest, asin: str) -> HttpResponse:
    """Hide, unhide, watch, unwatch or write a note on a deal. htmx gets the row back (or, when
    the deal leaves the table it was clicked in, a slim row saying so, with an Undo, and the
    counts); a plain form goes back to where it came from."""
    deal = Deal.objects.filter(asin=asin).defer("deal_snapshot", "categories").first()
    if deal is None:
        raise Http404("No deal with that ASIN")
    action = request.POST.get("action", "")
    try:
        apply_action(asin, action, request.POST)
    except TriageError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    if not request.htmx:
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, {request.get_host()}):
            return redirect(back)
        return redirect("deal_detail", asin=asin)
    target = targets.target_markup()
    context: dict[str, Any] = row_context(request, target)
    query = page_query(request)
    if query is not None and not query.queryset().filter(asin=asin).exists():
        page = query.page()
        message, undo = GONE_MESSAGES.get(action, ("changed", ""))
        context |= {
            "deal": deal,
            "query": query,
            "message": message,
            "undo": undo,
            "page": page,
            "total": query.total(page),
            "filtered": query.filtered,
        }
        return render(request, "deals/_row_gone.html", context)
    context["row"] = dashboard.rows_for([deal], target=target)[0]
    if query is None:
        return render(request, "deals/_row.html", context)
    # The row stays in (or came back to, by an Undo) the table it was clicked in: the counts
    # follow out of band, as when it leaves.
    page = query.page()
    context |= {"query": query, "page": page, "total": query.total(page)}
    context["filtered"] = query.filtered
    return render(request, "deals/_row_and_counts.html", context)


# -- the buy list -------------------------------------------------------------------------


@login_required
@require_safe
def buy_list(request: HttpRequest) -> HttpResponse:
    """The deals the reader put on their buy list, as live as the dashboard."""
    params = request.GET.copy()
    params["triage"] = triage.WATCHED
    query = DashboardQuery.from_request(params)
    context = table_context(request, query)
    context["csv_params"] = query.url_params(page=None)
    return render(request, "deals/buy_list.html", context)


# -- saved searches -----------------------------------------------------------------------


@login_required
@require_safe
def saved_searches(request: HttpRequest) -> HttpResponse:
    """The saved searches, each with its link, an edit form and Delete."""
    searches = [
        (s, SavedSearchForm(instance=s, prefix=f"s{s.pk}")) for s in SavedSearch.objects.all()
    ]
    return render(
        request, "deals/saved_searches.html", {"searches": searches, "new_form": SavedSearchForm()}
    )


def _saved_search_page(
    request: HttpRequest, form: SavedSearchForm, editing: SavedSearch | None
) -> HttpResponse:
    """The searches page again, with the form that did not validate and its errors."""
    searches = [
        (
            s,
            form
            if editing is not None and s.pk == editing.pk
            else SavedSearchForm(instance=s, prefix=f"s{s.pk}"),
        )
        for s in SavedSearch.objects.all()
    ]
    new_form = form if editing is None else SavedSearchForm()
    context = {"searches": searches, "new_form": new_form}
    return render(request, "deals/saved_searches.html", context, status=400)


def _save(form: SavedSearchForm) -> SavedSearch | None:
    try:
        return form.save()
    except IntegrityError:
        # Two saves under one new name at the same moment: the second is told, like a typo.
        form.add_error("name", "A saved search with this name already exists.")
        return None


@login_required
@require_POST
def saved_search_create(request: HttpRequest) -> HttpResponse:
    """Save the dashboard's current view under a name, and open it."""
    form = SavedSearchForm(request.POST)
    if form.is_valid() and (search := _save(form)) is not None:
        return redirect(search.get_absolute_url())
    return _saved_search_page(request, form, None)


@login_required
@require_POST
def saved_search_edit(request: HttpRequest, pk: int) -> HttpResponse:
    search = get_object_or_404(SavedSearch, pk=pk)
    form = SavedSearchForm(request.POST, instance=search, prefix=f"s{pk}")
    if form.is_valid() and _save(form) is not None:
        return redirect("saved_searches")
    return _saved_search_page(request, form, search)


@login_required
@require_POST
def saved_search_delete(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(SavedSearch, pk=pk).delete()
    return redirect("saved_searches")
