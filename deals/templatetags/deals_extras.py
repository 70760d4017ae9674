"""Template helpers for the dashboard: thin wrappers over deals.formatting, and sort links."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from deals import formatting, row_html
from deals.columns import Column
from deals.dashboard import DashboardQuery

register = template.Library()


@register.filter
def money(cents: int | None) -> str:
    return formatting.money(cents)


@register.filter
def condition(value: int | None) -> str:
    return formatting.condition_name(value)


@register.filter
def when(value: Any) -> SafeString:
    return formatting.when_html(value)


@register.filter
def deal_url(asin: str) -> str:
    """The deal page's URL, or "" for an ASIN no URL can carry: one bad row must never turn
    every page that lists it into an error."""
    try:
        return reverse("deal_detail", args=[asin])
    except NoReverseMatch:
        return ""


@register.simple_tag
def cell(obj: Any, column: Column) -> str | SafeString:
    """The value of `column` on `obj`, shown the way its kind says (marked when estimated)."""
    return formatting.column_cell(obj, column)


@register.simple_tag(takes_context=True)
def deal_row(context: template.Context, row: Any, oob: bool = False) -> SafeString:
    """`deals/_row.html` for `row` with this page's columns, choice, target and token."""
    return row_html.render_row(context, row, oob=oob)


@register.simple_tag
def row_cells(
    deal: Any, verdict: Any, columns: list[Column], shown: Collection[str], target: float | None
) -> list[tuple[str, SafeString]]:
    """The row's cells in runs: see `row_html.cell_runs`."""
    return row_html.cell_runs(deal, verdict, columns, shown, target)


@register.filter
def estimate_note(deal: Any) -> str:
    return formatting.estimate_note(deal)


@register.simple_tag
def sort_header(query: DashboardQuery, column: Column, shown: Collection[str] = ()) -> SafeString:
    """A column heading that sorts by it; a second click reverses the direction. Hidden
    (the Columns menu can show it) when the reader has not chosen to see it."""
    hidden = mark_safe("" if column.name in shown else " hidden")
    if not column.sortable:
        return format_html(
            '<th class="{}" data-col="{}" title="{}"{}>{}</th>',
            column.kind,
            column.name,
            column.help,
            hidden,
            column.label,
        )
    current = query.sort
    if current.removeprefix("-") == column.name:
        descending = not current.startswith("-")
        arrow = " ▼" if current.startswith("-") else " ▲"
        aria = "descending" if current.startswith("-") else "ascending"
    else:
        descending, arrow, aria = column.default_descending, "", "none"
    sort = f"-{column.name}" if descending else column.name
    return format_html(
        '<th class="{}" data-col="{}" aria-sort="{}"{}><a href="?{}" title="{}">{}{}</a></th>',
        column.kind,
        column.name,
        aria,
        hidden,
        query.url_params(sort=sort, page=None),
        column.help,
        column.label,
        arrow,
    )


@register.simple_tag
def page_params(query: DashboardQuery, number: int) -> str:
    return query.url_params(page=number)


@register.filter
def due(value: Any) -> SafeString:
    return formatting.due_html(value)


@register.filter
def field_label(form: Any, name: str) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None and field.label else name


@register.filter
def offer_summary(deal: Any) -> str:
    return formatting.offer_summary(deal)


@register.filter
def offer_html(deal: Any) -> SafeString:
    return formatting.offer_html(deal)


@register.filter
def status_chips(deal: Any) -> SafeString:
    return formatting.status_chips(deal)


@register.simple_tag
def target_cue(column: Column, verdict: Any, target: float | None) -> SafeString:
    return formatting.target_cue(column, verdict, target)


@register.filter
def over_max_buy_cue(verdict: Any) -> SafeString:
    return formatting.over_max_buy_cue(verdict)


@register.simple_tag
def alert_rule_url(search: Any) -> str:
    """The address that starts an alert rule on a saved search (the rule form, prefilled)."""
    url = reverse("alert_rule_new")
    return f"{url}?{urlencode({'search': search.query, 'name': search.name})}"
