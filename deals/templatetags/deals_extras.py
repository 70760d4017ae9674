"""Template helpers for the dashboard: values shown by their column's kind, sort links."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from deals import dashboard
from deals.columns import Column
from deals.dashboard import DashboardQuery

register = template.Library()


@register.filter
def money(cents: int | None) -> str:
    return dashboard.money(cents)


@register.filter
def condition(value: int | None) -> str:
    return dashboard.condition_name(value)


@register.filter
def when(value: Any) -> SafeString:
    return dashboard.when_html(value)


@register.simple_tag
def cell(obj: Any, column: Column) -> str | SafeString:
    """The value of `column` on `obj`, shown the way its kind says."""
    return dashboard.display(getattr(obj, column.name, None), column.kind)


@register.simple_tag
def sort_header(query: DashboardQuery, column: Column) -> SafeString:
    """A column heading that sorts by it; a second click reverses the direction."""
    if not column.sortable:
        return format_html(
            '<th class="{}" title="{}">{}</th>', column.kind, column.help, column.label
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
        '<th class="{}" aria-sort="{}"><a href="?{}" title="{}">{}{}</a></th>',
        column.kind,
        aria,
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
    return dashboard.due_html(value)


@register.filter
def field_label(form: Any, name: str) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None and field.label else name


@register.filter
def offer_summary(deal: Any) -> str:
    """The cheapest live offer in one line: "$21.49 · BookBarn · Very Good · FBA"."""
    parts = [
        dashboard.money(deal.now_total),
        deal.now_seller_name or deal.now_seller_id or "unknown seller",
    ]
    if deal.now_condition is not None:
        parts.append(dashboard.condition_name(deal.now_condition))
    if deal.now_is_fba:
        parts.append("FBA")
    return " · ".join(parts)
