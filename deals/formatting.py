"""How values are shown: money, conditions, times, a Deal field by its column's kind, CSV cells.

Pure functions of their arguments (and the clock); the template tags in
`deals/templatetags/deals_extras.py` are thin wrappers over them.
"""

from __future__ import annotations

import math
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
        return "in under a minute" if ahead and future else "just now"
    if ahead and not future:
        # Keepa's clock (whole minutes) may run a little ahead of ours: a past event.
        return "just now"
    text = duration(seconds)
    return f"in {text}" if ahead else f"{text} ago"


def wait(seconds: float) -> str:
    """How long until something can be done, never shorter than it is: "45 s", "1 min 51 s"
    (a countdown of a few minutes in whole minutes said "1 min" for 1 min 51 s), then
    `duration`."""
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    if seconds < 300:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return duration(seconds)


def duration(seconds: float) -> str:
    """A length of time in the largest whole unit that fits: "40 s", "12 min", "3 h", "4 d"."""
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def utc_title(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def when_html(when: datetime | None, now: datetime | None = None) -> SafeString:
    """A relative time with the exact UTC time on hover (the page script keeps it current)."""
    if when is None:
        return format_html('<span class="muted">{}</span>', EMPTY)
    return format_html(
        '<time class="rel" datetime="{}" title="{}">{}</time>',
        when.isoformat(),
        utc_title(when),
        relative(when, now),
    )


def due_html(when: datetime | None, now: datetime | None = None) -> SafeString:
    """When a scheduled run is due. The scheduler looks at its schedules every 30 s and the
    worker may finish another task first, so a run "due" a minute ago is starting, not late;
    an older due time means no worker is picking it up."""
    if when is None:
        return mark_safe('<span class="muted">not scheduled</span>')
    now = now or timezone.now()
    late = (now - when).total_seconds()
    if late > 120:
        text = f"overdue by {relative(when, now).removesuffix(' ago')} (is qcluster running?)"
    elif late >= 0:
        text = "starting now"
    else:
        text = relative(when, now, future=True)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', when.isoformat(), utc_title(when), text
    )


def display(value: Any, kind: str) -> str | SafeString:
    """A stored value shown the way its column's kind says (money from cents, etc.)."""
    if kind == "datetime":
        return when_html(value)
    if value is None or value == "":
        return format_html('<span class="muted">{}</span>', EMPTY)
    if kind == "money":
        return money(value)
    if kind == "percent":  # a loss's ROI with the minus sign Profit's amount has
        return f"{MINUS if value < 0 else ''}{abs(value)} %"
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
    if kind == "bool":
        return "yes" if value else "no"
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


# What a fee-based column needs (deals/columns.py): the product data an offers look-up brings.
_FEES_NEEDED = "product_snapshot.fbaFees"

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
    if value is None and _FEES_NEEDED in column.needs and deal.enriched_at is None:
        # Amazon's fees come with the seller check: a bare dash would read as "no profit".
        return format_html(
            '<abbr class="pending" title="{}">after check</abbr>',
            "Amazon's fees for this book come with its seller check; "
            "Profit, ROI and Max buy follow then (see the token plan)",
        )
    shown = display(value, column.kind)
    if column.name in BUY_PRICE_COLUMNS and value is not None and not deal.buy_price_checked:
        return format_html(
            '{} <abbr class="est" title="{}">est.</abbr>', shown, estimate_note(deal)
        )
    return shown


# The note an update run leaves when it did not read Keepa's deal pages (deals/ingest.py), in
# the words the admin's run list and the terminal show it in.
SWEEP_SKIPPED = (
    "deal list not read: Keepa refreshes it only every 2 minutes, and it was read less than "
    "2 minutes ago"
)


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"


def refresh_sentence(run: Any, next_useful: datetime | None, now: datetime | None = None) -> str:
    """What a Refresh's update run did, in a sentence a reseller reads without the docs;
    when Keepa's cache kept it from fetching prices, when a Refresh will next bring some."""
    now = now or timezone.now()
    if run.status == "skipped":
        return run.note or "Nothing was done: another sync was running."
    if run.status == "failed":
        return f"The sync failed, so nothing changed: {run.error or 'no message'}."
    notes = [n for n in run.note.split("; ") if n and not n.startswith(SWEEP_SKIPPED)]
    swept = SWEEP_SKIPPED not in run.note
    if not swept:
        text = (
            "No new prices: Keepa refreshes its deal list only every 2 minutes and the last "
            "sync has already read it"
        )
    elif run.updated or run.inserted:
        drops = (
            f" ({_count(run.price_drops, 'price drop', 'price drops')})" if run.price_drops else ""
        )
        text = (
            f"Read Keepa's deal list: {_count(run.inserted, 'new deal', 'new deals')}, "
            f"{_count(run.updated, 'deal', 'deals')} changed{drops}"
        )
    else:
        text = "Read Keepa's deal list: nothing changed since the last sync"
    checked = _count(run.enriched, "seller", "sellers") + " checked" if run.enriched else ""
    tokens = _count(run.tokens_spent, "token", "tokens") + " used"
    text += "; " + ", ".join(p for p in (checked, tokens) if p) + "."
    if not swept and next_useful is not None and next_useful > now:
        at = f"{next_useful.astimezone(UTC):%H:%M:%S} UTC"
        text += (
            f" Refresh again in {wait((next_useful - now).total_seconds())} (after {at}) for new"
            " prices."
        )
    if notes:
        text += " Note: " + "; ".join(notes) + "."
    if run.error:
        text += f" It ended with an error: {run.error}"
    return text


def offer_html(deal: Deal) -> SafeString:
    """The cheapest live offer with its parts marked, so the seller can wrap whole on its
    own line instead of being cut off: "buy $21.49 · BookBarn · Very Good · FBA"."""
    seller = deal.now_seller_name or deal.now_seller_id or "unknown seller"
    parts = [
        # "buy": the price the row's Profit pays (price + shipping), not a second "Now".
        format_html('<span class="offer-total">buy {}</span>', money(deal.now_total)),
        format_html('<span class="seller">{}</span>', seller),
    ]
    if deal.now_condition is not None:
        parts.append(
            format_html('<span class="cond">{}</span>', condition_name(deal.now_condition))
        )
    if deal.now_is_fba:
        parts.append(mark_safe('<span class="fba">FBA</span>'))
    return mark_safe(" · ".join(parts))


# The cues a row carries: a symbol and a word beside the colour, so they read without colour.
CUE_LOSS = ("\u2715", "loss")
CUE_BELOW = ("\u25bc", "below target")
CUE_OVER = ("\u25b2", "over Max buy")


def _cue(cue: tuple[str, str], kind: str, title: str) -> SafeString:
    symbol, word = cue
    return format_html(
        '<span class="cue cue-{}" title="{}"><span aria-hidden="true">{}</span> {}</span>',
        kind,
        title,
        symbol,
        word,
    )


def target_cue(column: Column, verdict: Any, target: float | None) -> SafeString:
    """The cue under a Profit or ROI value that misses the reader's target. One mark per
    meaning: ROI below the target is the same fact as a buy price above Max buy, which is
    marked beside the buy price (`over_max_buy_cue`) with how much too dear it is."""
    goal = f"your target markup of {target:g} %" if target is not None else "your target"
    if column.name in ("profit", "roi_percent") and verdict.loss:
        return _cue(
            CUE_LOSS, "loss", "a loss at this buy price, after Amazon's fees and your costs"
        )
    if column.name == "roi_percent" and verdict.below_target:
        return _cue(CUE_BELOW, "below", f"below {goal}")
    return mark_safe("")


def over_max_buy_cue(verdict: Any) -> SafeString:
    """The cue beside a buy price above Max buy."""
    if not verdict.over_max_buy:
        return mark_safe("")
    title = f"costs {money(verdict.over_by)} more than Max buy: below your target markup"
    return format_html(
        '<span class="cue cue-over" title="{}"><span aria-hidden="true">{}</span> '
        "{} over Max buy</span>",
        title,
        CUE_OVER[0],
        money(verdict.over_by),
    )


# The deal's status (Deal.status) and whether its seller was checked, as chips: symbol,
# word, the class that colours it, and what it means (its tooltip; the legend says the same).
STATUS_CHIPS = {
    "listed": ("\u2713", "listed", "ok", "in Keepa's latest deal results at these values"),
    "unverified": (
        "?",
        "unverified",
        "warn",
        "something suggests it changed or left; not checked yet",
    ),
    "left": ("\u2715", "left", "bad", "no longer one of your deals"),
}
LEFT_FIGURES = "prices and profit shown as when it was last a deal"
NOT_CHECKED_CHIP = (
    "\u2248",
    "seller not checked",
    "est",
    "buy price and profit are estimates until the cheapest offer is looked up",
)


def status_chips(deal: Deal) -> SafeString:
    """The Status cell: a chip per fact, then the reason a deal is in doubt or left."""
    chips = [STATUS_CHIPS.get(deal.status, STATUS_CHIPS["listed"])]
    if not deal.buy_price_checked:
        chips.append(NOT_CHECKED_CHIP)
    html = []
    for symbol, word, kind, meaning in chips:
        title = meaning
        if word in ("unverified", "left") and deal.status_reason:
            title = f"{meaning}: {deal.status_reason}"
        html.append(
            format_html(
                '<span class="chip chip-{}" title="{}">'
                '<span aria-hidden="true">{}</span> {}</span>',
                kind,
                title,
                symbol,
                word,
            )
        )
    # Why it is in doubt or left, readable on the row itself (a phone has no hover).
    if deal.status in ("unverified", "left") and deal.status_reason:
        html.append(format_html('<span class="status-reason">{}</span>', deal.status_reason))
    # A left deal's row keeps the figures it had as a deal, greyed; its reason may quote
    # today's price beside them ("price $125.38 no longer below its average"): say which is which.
    if deal.status == "left":
        html.append(format_html('<span class="status-note">{}</span>', LEFT_FIGURES))
    return mark_safe(" ".join(html))
