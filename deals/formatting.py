"""How values are shown: money, conditions, times, a Deal field by its column's kind, CSV cells.

Pure functions of their arguments (and the clock); the template tags in
`deals/templatetags/deals_extras.py` are thin wrappers over them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from deals.columns import BY_FIELD, Column, category_name
from deals.landed import SOURCE_ITEM_PLUS_SHIPPING, TYPICAL_SHIPPING
from deals.models import Deal
from keepa_client.wire import CONDITION_NAMES

# Shown for a missing value, and before a negative amount (typographic, not ASCII "-").
EMPTY = "\u2013"
MINUS = "\u2212"


def money(cents: int | None) -> str:
    if cents is None:
        return EMPTY
    sign = MINUS if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def dollars(cents: int | None) -> str:
    """Cents as a plain decimal for spreadsheets ("12.34")."""
    return "" if cents is None else f"{Decimal(cents) / 100:.2f}"


def condition_name(condition: int | None) -> str:
    if condition is None:
        return ""
    return CONDITION_NAMES.get(condition, f"Condition {condition}").removeprefix("Used - ")


def relative(when: datetime | None, now: datetime | None = None, *, future: bool = False) -> str:
    if when is None:
        return EMPTY
    seconds = ((now or timezone.now()) - when).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "due now" if ahead and future else "just now"
    if ahead and not future:
        # Keepa's clock (whole minutes) may run a little ahead of ours: a past event.
        return "just now"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if ahead else f"{text} ago"


def when_html(when: datetime | None, now: datetime | None = None) -> SafeString:
    """A relative time with the exact UTC time on hover (the page script keeps it current)."""
    if when is None:
        return format_html('<span class="muted">{}</span>', EMPTY)
    return format_html(
        '<time class="rel" datetime="{}" title="{} UTC">{}</time>',
        when.isoformat(),
        f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        relative(when, now),
    )


def due_html(when: datetime | None, now: datetime | None = None) -> SafeString:
    """When a scheduled run is due; an old due time means no worker is picking it up."""
    if when is None:
        return mark_safe('<span class="muted">not scheduled</span>')
    now = now or timezone.now()
    late = (now - when).total_seconds()
    if late > 120:
        text = f"overdue by {relative(when, now).removesuffix(' ago')} (is qcluster running?)"
    elif late > -60:
        text = "due now"
    else:
        text = relative(when, now, future=True)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        when.isoformat(),
        f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        text,
    )


def display(value: Any, kind: str) -> str | SafeString:
    """A stored value shown the way its column's kind says (money from cents, etc.)."""
    if kind == "datetime":
        return when_html(value)
    if value is None or value == "":
        return format_html('<span class="muted">{}</span>', EMPTY)
    if kind == "money":
        return money(value)
    if kind == "percent":
        return f"{value} %"
    if kind == "int":
        return f"{value:,}"
    if kind == "category":
        return category_name(value)
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "condition":
        return condition_name(value)
    return escape(str(value))


def field_kind(name: str) -> str:
    """How a Deal field's value is shown: its column's kind, else from the model field."""
    if name in BY_FIELD:
        return BY_FIELD[name].kind
    if name == "now_total":
        return "money"
    internal = Deal._meta.get_field(name).get_internal_type()
    return {"DateTimeField": "datetime", "BooleanField": "bool"}.get(internal, "text")


def field_label(name: str, labels: dict[str, str] | None = None) -> str:
    """A Deal field's heading: `labels` (field -> heading) first, then its column's label."""
    if labels and name in labels:
        return labels[name]
    if name in BY_FIELD:
        return BY_FIELD[name].label
    return str(Deal._meta.get_field(name).verbose_name).capitalize()


def field_display(name: str, value: Any) -> str | SafeString:
    kind = field_kind(name)
    if kind == "condition":
        return condition_name(value) if value is not None else display(None, "text")
    return display(value, kind)


# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list: "=", "+",
# "-", "@", tab, carriage return), and titles come from Amazon sellers: "=HYPERLINK(...)".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading quote stops a formula from running."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_value(value: Any, kind: str) -> Any:
    """One CSV cell: numbers stay numbers (a negative profit is "-2.50"), text is made inert."""
    if value is None:
        return ""
    if kind == "money":
        return dollars(value)
    if kind == "datetime":
        return value.astimezone(UTC).isoformat()
    if kind == "category":
        return csv_text(category_name(value))
    if kind == "condition":
        return condition_name(value)
    if isinstance(value, str):
        return csv_text(value)
    return value


def offer_summary(deal: Deal) -> str:
    """The cheapest live offer in one line: "$21.49 · BookBarn · Very Good · FBA"."""
    parts = [
        money(deal.now_total),
        deal.now_seller_name or deal.now_seller_id or "unknown seller",
    ]
    if deal.now_condition is not None:
        parts.append(condition_name(deal.now_condition))
    if deal.now_is_fba:
        parts.append("FBA")
    return " · ".join(parts)


# Columns whose value follows the buy price: from the landed estimate until it is checked.
BUY_PRICE_COLUMNS = frozenset({"all_in_cost", "profit", "margin_percent", "roi_percent"})


def estimate_note(deal: Deal) -> str:
    """What an estimated buy price stands on, for its tooltip."""
    if deal.est_source == SOURCE_ITEM_PLUS_SHIPPING:
        return (
            "estimate: seller not checked yet, item price + typical shipping "
            f"({money(TYPICAL_SHIPPING)})"
        )
    return (
        "estimate: seller not checked yet; Keepa's lowest price with shipping "
        "for the query's conditions"
    )


def column_cell(deal: Deal, column: Column) -> str | SafeString:
    """A table cell: its value the way its kind says, marked "est." when it stands on the
    landed estimate rather than a checked offer."""
    value = getattr(deal, column.field, None)
    shown = display(value, column.kind)
    if column.name in BUY_PRICE_COLUMNS and value is not None and not deal.buy_price_checked:
        return format_html(
            '{} <abbr class="est" title="{}">est.</abbr>', shown, estimate_note(deal)
        )
    return shown
