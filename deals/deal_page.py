"""What the page of one deal reads: every stored column, its offers, its history and chart."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString

from deals import charts, formatting
from deals.columns import BY_NAME
from deals.models import Deal, DealEvent, Seller
from keepa_client.models import Offer

HISTORY_EVENTS = 500

_SKIPPED = {"id", "deal_snapshot", "product_snapshot"}
_DEAL_FIELDS = {f.name for f in Deal._meta.concrete_fields}


@dataclass
class DealPage:
    deal: Deal
    fields: list[dict[str, Any]]
    offers: list[dict[str, Any]]
    history: list[dict[str, Any]]
    chart: SafeString | str

    def context(self) -> dict[str, Any]:
        """The template's variables."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def deal_page(asin: str) -> DealPage | None:
    """The deal's page, or None when no deal has that ASIN."""
    deal = Deal.objects.filter(asin=asin).first()
    if deal is None:
        return None
    events = list(DealEvent.objects.filter(asin=asin).order_by("-at", "-pk")[:HISTORY_EVENTS])
    return DealPage(
        deal=deal,
        fields=_fields(deal),
        offers=_offers(deal),
        history=[_history_item(e) for e in events],
        chart=_chart(deal, events),
    )


def _fields(deal: Deal) -> list[dict[str, Any]]:
    return [
        {
            "label": formatting.field_label(f.name),
            "help": BY_NAME[f.name].help if f.name in BY_NAME else str(f.help_text),
            "value": (
                getattr(deal, f"get_{f.name}_display")()
                if f.choices
                else formatting.column_cell(deal, BY_NAME[f.name])
                if f.name in formatting.BUY_PRICE_COLUMNS
                else formatting.field_display(f.name, getattr(deal, f.name))
            ),
        }
        for f in Deal._meta.concrete_fields
        if f.name not in _SKIPPED
    ]


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


def _history_item(event: DealEvent) -> dict[str, Any]:
    if event.field == "status":
        # listed / unverified / left, and why (deals/verify.py).
        new = f"{event.new_value} ({event.reason})" if event.reason else event.new_value
        return {"event": event, "label": "Status", "old": event.old_value, "new": new}
    if event.field not in _DEAL_FIELDS:
        return {"event": event, "label": event.field, "old": "", "new": ""}
    return {
        "event": event,
        "label": formatting.field_label(event.field),
        "old": formatting.field_display(event.field, event.old_value),
        "new": formatting.field_display(event.field, event.new_value),
    }


def _chart(deal: Deal, events: list[DealEvent]) -> SafeString | str:
    """The Now price over the recorded history (`events` newest first), or "" if none."""
    price_events = [
        (e.at, e.old_value, e.new_value, e.kind)
        for e in reversed(events)
        if e.field == "now_price" and e.new_value is not None
    ]
    if not price_events:
        return ""
    start = price_events[0][0]
    return charts.price_chart(
        charts.price_points(price_events, deal.now_price, start, timezone.now())
    )
