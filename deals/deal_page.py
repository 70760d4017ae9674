"""What the page of one deal reads: the buy box, the fees behind Profit, the chart, the offers,
a history in sentences, and every stored column in plain words."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from deals import charts, economics, formatting, listing
from deals.columns import BY_FIELD, COLUMNS, category_name, labelled, settings_or_none
from deals.config import ConfigError, SellerCosts, load_config
from deals.history import CHART_DAYS
from deals.landed import SOURCE_ITEM_PLUS_SHIPPING, SOURCE_LANDED
from deals.models import Deal, DealEvent, EnrichPriority, Seller
from keepa_client.models import Offer
from keepa_client.wire import PRICE_TYPE_NAMES

HISTORY_EVENTS = 500

_SKIPPED = {"id", "deal_snapshot", "product_snapshot"}
_DEAL_FIELDS = {f.name for f in Deal._meta.concrete_fields}


@dataclass
class DealPage:
    deal: Deal
    buy: dict[str, Any]
    fees: dict[str, Any] | None
    fees_problem: str
    fields: list[dict[str, Any]]
    offers: list[dict[str, Any]]
    history: list[dict[str, Any]]
    chart: SafeString | str
    # Keepa's own history (the query's price type, the used buy box, the sales rank).
    history_chart: SafeString | str
    history_note: str
    history_label: str

    def context(self) -> dict[str, Any]:
        """The template's variables."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def deal_page(asin: str) -> DealPage | None:
    """The deal's page, or None when no deal has that ASIN."""
    deal = Deal.objects.filter(asin=asin).first()
    if deal is None:
        return None
    events = list(DealEvent.objects.filter(asin=asin).order_by("-at", "-pk")[:HISTORY_EVENTS])
    fees, problem = _fees(deal)
    return DealPage(
        deal=deal,
        buy=_buy_box(deal, fees["max_buy"] if fees else deal.max_buy_total),
        fees=fees,
        fees_problem=problem,
        fields=_fields(deal),
        offers=_offers(deal),
        history=history_items(events),
        chart=_chart(deal, events),
        history_chart=_history_chart(deal),
        history_note=_history_note(deal),
        history_label=_price_label(deal),
    )


# -- the buy box and the fees -------------------------------------------------------------


def _buy_box(deal: Deal, max_buy: int | None) -> dict[str, Any]:
    """The copy to buy: the checked cheapest offer, else the estimate it stands on; and
    whether it costs more than `max_buy` (from the same costs as the fees shown beside it)."""
    checked = deal.buy_price_checked
    price = economics.buy_total(deal)
    return {
        "checked": checked,
        "price": price,
        "seller": deal.now_seller_name or deal.now_seller_id,
        "seller_id": deal.now_seller_id,
        "condition": formatting.condition_name(deal.now_condition),
        "fba": deal.now_is_fba,
        "max_buy": max_buy,
        "above_max": price is not None and max_buy is not None and price > max_buy,
        "estimate_note": "" if checked else formatting.estimate_note(deal),
        # Built here, not read from the stored column: a row stored before that column
        # existed still gets its link.
        "url": listing.buy_url(deal.asin, deal.price_type),
    }


def _fees(deal: Deal) -> tuple[dict[str, Any] | None, str]:
    """The steps from sale price to Profit with your current costs, or why there are none."""
    found = economics.fees_from_snapshot(deal.product_snapshot)
    if found is None:
        return None, "No fee data yet: the first offers look-up brings Amazon's fees."
    if deal.avg_price is None:
        return None, "No average price from Keepa, so no expected sale price."
    try:
        costs = load_config().seller_costs
    except ConfigError as exc:
        return None, f"settings.json cannot be read: {exc}"
    result = economics.for_deal(deal, costs)
    if result is None:
        return None, "No buy price known yet."
    return breakdown(result, costs, referral_percent=found[0]), ""


def breakdown(
    result: economics.Economics, costs: SellerCosts, *, referral_percent: Decimal
) -> dict:
    """Lines (label, cents, note) of what is earned and what is paid, and the totals."""
    tax_note = (
        "tax-exempt" if costs.tax_exempt else f"{costs.sales_tax_percent:g} % of the buy price"
    )
    return {
        "sale": result.sale_price,
        "amazon": [
            ("Referral fee", result.referral_fee, f"{referral_percent:g} % of the sale price"),
            ("Closing fee", costs.closing_fee_cents, "per media item (your costs)"),
            ("FBA pick-and-pack fee", result.fba_fee, "from Keepa's product data"),
        ],
        "amazon_total": result.amazon_fees,
        "cost": [
            ("Buy price", result.buy_total, "price + shipping"),
            ("Sales tax", result.sales_tax, tax_note),
            ("Prep", costs.prep_fee_cents, "your costs"),
            ("Inbound shipping", costs.inbound_shipping_cents, "to Amazon, your costs"),
        ],
        "cost_total": result.all_in_cost,
        "profit": result.profit,
        "margin_percent": result.margin_percent,
        "roi_percent": result.roi_percent,
        "max_buy": result.max_buy_total,
        "target_percent": costs.target_markup_percent,
        "below_target": result.roi_percent < costs.target_markup_percent,
    }


# -- every stored column, in words --------------------------------------------------------

# Labels for stored fields that have no dashboard column, in a reseller's words.
FIELD_LABELS = {
    "price_type": "Price Keepa compares",
    "categories": "Categories",
    "now_seller_id": "Seller id",
    "now_seller_name": "Seller",
    "now_condition": "Condition",
    "now_is_fba": "Fulfilled by Amazon",
    "keepa_last_update": "Keepa last updated the product",
    "deal_created_at": "Keepa found the deal",
    "first_seen_utc": "First stored here",
    "last_seen_utc": "Last seen in Keepa's results",
    "changed_at": "Last change shown here",
    "enriched_at": "Offers last looked up",
    "enrich_priority": "Offers look-up",
    "enrich_requested_at": "Offers look-up asked for",
    "status": "Status",
    "status_reason": "Why",
    "status_at": "Status since",
    "verified_at": "Last confirmed in Keepa's results",
    "image_url": "Image",
}

ENRICH_WORDS = {
    EnrichPriority.NONE: "not waiting",
    EnrichPriority.STALE: "waiting (offers are old; when tokens are spare)",
    EnrichPriority.PRICE_CHANGED: "waiting (the price changed)",
    EnrichPriority.NEW: "waiting (new deal)",
}

ESTIMATE_SOURCES = {
    SOURCE_LANDED: "Keepa's lowest price with shipping",
    SOURCE_ITEM_PLUS_SHIPPING: "Now + typical shipping",
}


def stored_label(name: str, labels: dict[str, str] | None = None) -> str:
    """A stored field's heading: the reseller's word for it, else its column's label (with
    `labels`, field -> heading, for headings that depend on settings.json)."""
    return FIELD_LABELS.get(name) or formatting.field_label(name, labels)


def stored_value(deal: Deal, name: str) -> str | SafeString:
    """A stored field in words: names for ids and codes, dollars for cents."""
    value = getattr(deal, name)
    if name == "price_type":
        return format_html(
            '{} <span class="muted">(Keepa price type {})</span>',
            PRICE_TYPE_NAMES.get(value, "unknown"),
            value,
        )
    if name == "enrich_priority":
        return ENRICH_WORDS.get(value, str(value))
    if name == "categories":
        return ", ".join(category_name(c) for c in value or []) or formatting.display(None, "text")
    if name == "est_source":
        return ESTIMATE_SOURCES.get(value, value) or formatting.display(None, "text")
    if name == "image_url" and value:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">image</a>', value
        )
    if name == "now_is_fba":
        return {True: "yes", False: "no"}.get(value, formatting.EMPTY)
    field = Deal._meta.get_field(name)
    if field.choices:
        return getattr(deal, f"get_{name}_display")()
    if name in formatting.BUY_PRICE_COLUMNS:
        return formatting.column_cell(deal, BY_FIELD[name])
    return formatting.field_display(name, value)


def _fields(deal: Deal) -> list[dict[str, Any]]:
    labels = {c.field: c.label for c in labelled(COLUMNS, settings_or_none()) if c.label_for}
    return [
        {
            "label": stored_label(f.name, labels),
            "help": BY_FIELD[f.name].help if f.name in BY_FIELD else str(f.help_text),
            "value": stored_value(deal, f.name),
        }
        for f in Deal._meta.concrete_fields
        if f.name not in _SKIPPED
    ]


# -- offers -------------------------------------------------------------------------------


def _offers(deal: Deal) -> list[dict[str, Any]]:
    """The offers of the latest look-up, cheapest (price + shipping) first."""
    offers = [Offer.from_latest(o) for o in (deal.product_snapshot or {}).get("offers") or []]
    names = dict(
        Seller.objects.filter(seller_id__in={o.seller_id for o in offers}).values_list(
            "seller_id", "name"
        )
    )
    rows = [
        {
            "seller_id": offer.seller_id or "",
            "seller_name": names.get(offer.seller_id, ""),
            "condition": formatting.condition_name(offer.condition),
            "price": offer.price,
            "shipping": offer.shipping,
            "total": offer.total,
            "fba": offer.is_fba,
        }
        for offer in offers
    ]
    return sorted(rows, key=lambda o: (o["total"] is None, o["total"] or 0))


# -- history in sentences -----------------------------------------------------------------

# What a price field is called in a history sentence.
PRICE_WORDS = {
    "now_price": "Now price",
    "now_total": "Cheapest offer",
    "avg_price": "Average",
    "est_landed": "Estimated buy",
}


def history_items(events: list[DealEvent]) -> list[dict[str, Any]]:
    """One item per moment (events newest first): what changed then, in sentences.

    An offers look-up writes each field that moved as its own event at the same instant; read
    together they say "Cheapest offer fell $24.39 → $21.91 (other seller: BookBarn)".
    """
    items: list[dict[str, Any]] = []
    group: list[DealEvent] = []
    for event in events:
        if group and not _same_moment(group[0], event):
            items.append(_history_item(group))
            group = []
        group.append(event)
    if group:
        items.append(_history_item(group))
    return items


def _same_moment(a: DealEvent, b: DealEvent) -> bool:
    changed = DealEvent.Kind.CHANGED
    return a.kind == b.kind == changed and a.at == b.at and a.run_id == b.run_id


def _history_item(group: list[DealEvent]) -> dict[str, Any]:
    first = group[0]
    if first.kind == DealEvent.Kind.ENTERED:
        sentences = [
            format_html("Entered the deals at {}", formatting.money(_cents(first.new_value)))
        ]
    elif first.kind == DealEvent.Kind.LEFT:
        sentences = [
            format_html("Left the deals: {}", first.reason) if first.reason else "Left the deals"
        ]
    else:
        sentences = _change_sentences({e.field: e for e in group})
    return {"at": first.at, "kind": first.kind, "sentences": sentences}


def _cents(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _price_sentence(label: str, old: Any, new: Any) -> SafeString:
    old, new = _cents(old), _cents(new)
    if new is None:
        return format_html("{} gone (was {})", label, formatting.money(old))
    if old is None:
        return format_html("{} {}", label, formatting.money(new))
    verb = "fell" if new < old else "rose" if new > old else "stayed at"
    if new == old:
        return format_html("{} {} {}", label, verb, formatting.money(new))
    return format_html(
        "{} {} {} → <strong>{}</strong>", label, verb, formatting.money(old), formatting.money(new)
    )


def _seller_words(changes: dict[str, DealEvent], key: str) -> str:
    name = changes.get("now_seller_name")
    seller = changes.get("now_seller_id")
    value = getattr(name, key, None) or getattr(seller, key, None)
    return str(value) if value else ""


def _change_sentences(changes: dict[str, DealEvent]) -> list[SafeString | str]:
    sentences: list[SafeString | str] = []
    seller_moved = "now_seller_id" in changes or "now_seller_name" in changes
    new_seller = _seller_words(changes, "new_value")
    for field, label in PRICE_WORDS.items():
        if field not in changes:
            continue
        event = changes[field]
        sentence = _price_sentence(label, event.old_value, event.new_value)
        if field == "now_total" and _cents(event.new_value) is not None:
            if seller_moved and not _seller_words(changes, "old_value"):
                # The first look-up: no seller was known before, so none was replaced.
                if new_seller:
                    sentence = format_html("{} (seller: {})", sentence, new_seller)
            elif seller_moved:
                other = f"other seller: {new_seller}" if new_seller else "other seller"
                sentence = format_html("{} ({})", sentence, other)
            elif _cents(event.old_value) is not None:
                sentence = format_html("{} (same seller)", sentence)
        sentences.append(sentence)
    if seller_moved and not (
        "now_total" in changes and _cents(changes["now_total"].new_value) is not None
    ):
        if new_seller:
            old = _seller_words(changes, "old_value")
            sentences.append(
                format_html("Sold by {} now (was {})", new_seller, old)
                if old
                else format_html("Sold by {} now", new_seller)
            )
        elif "now_total" not in changes:
            sentences.append("No seller known now")
    if "now_condition" in changes:
        event = changes["now_condition"]
        if event.new_value is not None:
            old = formatting.condition_name(event.old_value)
            new = formatting.condition_name(event.new_value)
            sentences.append(
                format_html("Condition now {} (was {})", new, old)
                if old
                else format_html("Condition {}", new)
            )
    if "now_is_fba" in changes:
        new = changes["now_is_fba"].new_value
        if new is True:
            sentences.append("Now is FBA")
        elif new is False:
            sentences.append("No longer FBA" if changes["now_is_fba"].old_value else "Not FBA")
    if "delta_percent" in changes:
        event = changes["delta_percent"]
        sentences.append(
            format_html(
                "Below average {} → <strong>{}</strong>",
                formatting.field_display("delta_percent", event.old_value),
                formatting.field_display("delta_percent", event.new_value),
            )
        )
    if "root_category" in changes:
        sentences.append(
            format_html("Category now {}", category_name(changes["root_category"].new_value))
        )
    if "title" in changes:
        sentences.append(format_html("Title now “{}”", changes["title"].new_value or ""))
    if "image_url" in changes:
        sentences.append("New product image")
    if "enriched" in changes:
        sentences.append("Offers looked up: the cheapest copy is unchanged")
    if "status" in changes:
        sentences.append(_status_sentence(changes["status"]))
    handled = {
        *PRICE_WORDS,
        "now_seller_id",
        "now_seller_name",
        "now_condition",
        "now_is_fba",
        "delta_percent",
        "root_category",
        "title",
        "image_url",
        "enriched",
        "status",
    }
    for field, event in changes.items():
        if field in handled:
            continue
        sentences.append(_other_sentence(field, event))
    return sentences


# What a change of status reads as (deals/verify.py sets it, with the reason).
STATUS_WORDS = {
    "listed": "Listed again",
    "unverified": "Unverified",
    "left": "Left the deals",
}


def _status_sentence(event: DealEvent) -> SafeString:
    words = STATUS_WORDS.get(str(event.new_value), f"Status {event.new_value}")
    return format_html("{}: {}", words, event.reason) if event.reason else format_html("{}", words)


def _other_sentence(field: str, event: DealEvent) -> SafeString:
    if field in _DEAL_FIELDS:
        label = stored_label(field)
        old = formatting.field_display(field, event.old_value)
        new = formatting.field_display(field, event.new_value)
    else:
        label, old, new = field.replace("_", " ").capitalize(), event.old_value, event.new_value
    sentence = format_html("{}: {} → <strong>{}</strong>", label, old, new)
    return format_html("{} ({})", sentence, event.reason) if event.reason else sentence


def _chart(deal: Deal, events: list[DealEvent]) -> SafeString | str:
    """The Now price over the recorded history (`events` newest first), or "" if none."""
    price_events = [
        (e.at, e.old_value, e.new_value, e.kind)
        for e in reversed(events)
        if e.field == "now_price" and e.new_value is not None
    ]
    if not price_events:
        return ""
    if {e[2] for e in price_events} == {deal.now_price}:
        # One price since it entered: a flat line in an empty box says less than a sentence.
        return ""
    start = price_events[0][0]
    return charts.price_chart(
        charts.price_points(price_events, deal.now_price, start, timezone.now())
    )


def _history_chart(deal: Deal) -> SafeString | str:
    """Keepa's own price and rank history, from the stored /product answer; "" before one."""
    history = (deal.product_snapshot or {}).get("history")
    if not history:
        return ""
    return charts.history_chart(
        history,
        price_label=_price_label(deal),
        average=deal.avg_price,
        buy=economics.buy_total(deal),
        now=timezone.now(),
        current=deal.now_price,
    )


def _history_note(deal: Deal) -> str:
    if (deal.product_snapshot or {}).get("history"):
        return f"Keepa's history of the last {CHART_DAYS} days, one value a day, then Now."
    if deal.enriched_at is None:
        return "Keepa's history arrives with the offers look-up."
    return "Keepa sent no history for this product."


def _price_label(deal: Deal) -> str:
    history = (deal.product_snapshot or {}).get("history") or {}
    return PRICE_TYPE_NAMES.get(history.get("type", deal.price_type), "Price")
