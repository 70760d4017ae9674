"""The deal columns, declared once.

The dashboard, the JSON API, the CSV export, the upserter and the backfill all read this list:
a column's label, how it is shown and sorted, and — for computed columns — how it is computed
from a stored row (its snapshots and settings) and which Keepa data that needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deals import economics, gating, history, landed, listing
from deals.config import DealSettings
from deals.models import Deal

# How a value is shown: "money" (smallest currency unit), "percent", "int", "text",
# "datetime", "category", "bool".


@dataclass(frozen=True)
class Column:
    name: str  # the Deal field that stores the value
    label: str
    kind: str
    help: str = ""
    sortable: bool = True
    # Shown as a table column on the dashboard (some live inside another cell, e.g. the
    # cheapest offer under Now).
    in_table: bool = True
    # Filter the dashboard offers for this column: "min", "max" or "range".
    filter: str = ""
    # For computed columns: value from (deal, settings). The upserter calls it after each
    # write and the backfill after adding the column; it must not call Keepa.
    compute: Callable[[Deal, Any], Any] | None = None
    # Snapshot keys `compute` reads ("product_snapshot.fbaFees"): rows lacking them are
    # fetched from Keepa's /product by the backfill.
    needs: tuple[str, ...] = ()
    # Sort NULLs last whichever way the column is sorted.
    default_descending: bool = False
    # settings.json fields `compute` reads ("seller_costs"): saving them recomputes the column.
    reads: tuple[str, ...] = ()
    # (value, label) pairs a "exact" filter offers, for a text column with few values.
    choices: tuple[tuple[str, str], ...] = ()


COLUMNS: list[Column] = [
    Column("title", "Title", "text", "the product title, linked to the deal page"),
    Column("asin", "ASIN", "text", "Amazon's product id"),
    Column(
        "now_price",
        "Now",
        "money",
        "Keepa's current price for the query's price type, refreshed by every sweep",
        filter="range",
    ),
    Column(
        "now_total",
        "Cheapest offer",
        "money",
        "the cheapest live offer for that condition (price + shipping) and its seller",
        in_table=False,
    ),
    Column("avg_price", "Average", "money", "Keepa's average over the query's date range"),
    Column(
        "delta_percent",
        "% below avg",
        "percent",
        "how far Now is below the average",
        filter="min",
        default_descending=True,
    ),
    Column(
        "sales_rank", "Sales rank", "int", "current sales rank (lower sells faster)", filter="max"
    ),
    Column("root_category", "Category", "category", "Keepa root category", filter="exact"),
    Column(
        "price_changed_at",
        "Keepa price change",
        "datetime",
        "when Keepa last saw this product's price change (Keepa's clock, not this app's)",
        default_descending=True,
    ),
    Column(
        "verified_at",
        "Last checked",
        "datetime",
        "when the deal was last confirmed as matching your query: listed in Keepa's deal"
        " results, or checked by a product look-up",
        default_descending=True,
    ),
    Column(
        "last_seen_utc",
        "Last listed",
        "datetime",
        "when a sweep last read the deal in Keepa's deal results; Keepa lists a deal again only"
        " when it changes, so an unchanged deal can show hours here while it is still a deal",
        default_descending=True,
    ),
    Column(
        "first_seen_utc",
        "First seen",
        "datetime",
        "when this app first stored the deal",
        default_descending=True,
    ),
]


def _estimate(deal: Deal, config: Any) -> landed.Estimate:
    return landed.estimate_from_snapshot(deal.deal_snapshot, deal.price_type)


# The landed estimate: what the cheapest copy costs delivered until an offers look-up checks it
# (deals/landed.py). Computed from the stored /deal object, so the backfill fills it at 0
# tokens; declared before the economics, which buy at it.
COLUMNS += [
    Column(
        "est_landed",
        "Est. buy",
        "money",
        "estimated price + shipping of the cheapest copy, from Keepa's landed prices or Now +"
        " typical shipping; the buy price until the seller is checked",
        in_table=False,
        compute=lambda deal, config: _estimate(deal, config).cents,
    ),
    Column(
        "est_source",
        "Estimate from",
        "text",
        "landed: Keepa's prices with shipping; item+shipping: Now + typical shipping",
        in_table=False,
        sortable=False,
        compute=lambda deal, config: _estimate(deal, config).source,
    ),
]


def _economics(attribute: str) -> Callable[[Deal, Any], Any]:
    def compute(deal: Deal, config: Any) -> Any:
        result = economics.for_deal(deal, config.seller_costs)
        return getattr(result, attribute) if result else None

    return compute


# Reseller economics: see deals/economics.py and the README for the formulas.
# Keepa's referral percentage is optional (15 % stands in), the FBA fee is not.
_FEES = ("product_snapshot.fbaFees",)
COLUMNS += [
    Column(
        "all_in_cost",
        "All-in cost",
        "money",
        "buy price (the checked cheapest offer, else the estimate) + sales tax + prep +"
        " inbound shipping",
        compute=_economics("all_in_cost"),
        needs=_FEES,
        reads=("seller_costs",),
    ),
    Column(
        "profit",
        "Profit",
        "money",
        "List at price minus Amazon fees minus the all-in cost",
        filter="min",
        compute=_economics("profit"),
        needs=_FEES,
        reads=("seller_costs",),
        default_descending=True,
    ),
    Column(
        "margin_percent",
        "Margin %",
        "percent",
        "profit as a share of the List at price",
        compute=_economics("margin_percent"),
        needs=_FEES,
        reads=("seller_costs",),
        default_descending=True,
    ),
    Column(
        "roi_percent",
        "ROI %",
        "percent",
        "profit as a share of the all-in cost",
        filter="min",
        compute=_economics("roi_percent"),
        needs=_FEES,
        reads=("seller_costs",),
        default_descending=True,
    ),
    Column(
        "max_buy_total",
        "Max buy",
        "money",
        "the most you can pay (price + shipping) and still make your target markup",
        compute=_economics("max_buy_total"),
        needs=_FEES,
        reads=("seller_costs",),
    ),
]


def _list_at(attribute: str) -> Callable[[Deal, Any], Any]:
    def compute(deal: Deal, config: Any) -> Any:
        result = listing.list_at(deal)
        return getattr(result, attribute) if result else ("" if attribute == "rule" else None)

    return compute


def _gated(index: int) -> Callable[[Deal, Any], Any]:
    def compute(deal: Deal, config: Any) -> Any:
        return gating.status(deal, gating.rules_for(config))[index]

    return compute


# What to list at, the lowest list price that pays, the season, where to buy, and whether
# the user may sell it: see deals/listing.py, deals/economics.py, deals/history.py and
# deals/gating.py, and the README's "What the columns mean".
COLUMNS += [
    Column(
        "list_at",
        "List at",
        "money",
        "the price you would list at: the lowest FBA offer in the deal's condition group, else"
        " the 90-day average; never above 125% of the 365-day average (the rule is shown)",
        compute=_list_at("cents"),
    ),
    Column(
        "list_at_rule",
        "List at rule",
        "text",
        "which rule chose List at",
        in_table=False,
        sortable=False,
        compute=_list_at("rule"),
    ),
    Column(
        "min_list",
        "Min list",
        "money",
        "the lowest list price that still makes your target markup at the current buy price",
        compute=lambda deal, config: economics.min_list_for_deal(deal, config.seller_costs),
        needs=_FEES,
        reads=("seller_costs",),
    ),
    Column(
        "season",
        "Season",
        "text",
        "when it sells best, from its own sales rank by month over up to two years (e.g."
        " 'Textbook: Aug-Sep, Jan · peak Aug'); 'not enough history' under a year of data",
        filter="contains",
        compute=lambda deal, config: history.season_label(deal.product_snapshot),
        needs=("product_snapshot.history",),
    ),
    Column(
        "gated",
        "Gated",
        "text",
        "whether you may sell it, from your restricted list and your marks: unknown unless a"
        " rule says",
        filter="exact",
        choices=(("yes", "gated"), ("no", "not gated"), ("unknown", "unknown")),
        compute=_gated(0),
    ),
    Column(
        "gated_reason",
        "Gated because",
        "text",
        "the rule behind Gated",
        in_table=False,
        sortable=False,
        compute=_gated(1),
    ),
    Column(
        "buy_url",
        "Buy",
        "text",
        "Amazon's list of used offers for this ASIN",
        sortable=False,
        compute=lambda deal, config: listing.buy_url(deal.asin, deal.price_type),
    ),
]

# The dashboard's table shows these first, in this order, until the reader picks other
# columns (the Columns menu, remembered per browser): what decides a buy. Every other table
# column is hidden by default and can be switched on; a column added later starts hidden.
SHOWN_BY_DEFAULT = (
    "title",
    "now_price",
    "profit",
    "roi_percent",
    "max_buy_total",
    "delta_percent",
    "sales_rank",
    "price_changed_at",
)

BY_NAME = {c.name: c for c in COLUMNS}
SORTABLE = {c.name for c in COLUMNS if c.sortable}
COMPUTED = [c for c in COLUMNS if c.compute is not None]


def computed_from(setting: str) -> list[Column]:
    """The computed columns whose values depend on this settings.json field."""
    return [c for c in COMPUTED if setting in c.reads]


CATEGORY_NAMES = {
    283155: "Books",
    2625373011: "Movies & TV",
    5174: "CDs & Vinyl",
    468642: "Video Games",
    165793011: "Toys & Games",
    1055398: "Home & Kitchen",
    172282: "Electronics",
}


# Fields every compute function may read besides the columns it writes.
SOURCE_FIELDS = (
    "asin",
    "price_type",
    "now_price",
    "now_total",
    "est_landed",
    "enriched_at",
    "enrich_priority",
    "seller_line",
    "avg_price",
    "deal_snapshot",
    "product_snapshot",
    "changed_at",
    "root_category",
    "categories",
)


def recompute(deals: Sequence[Deal], columns: Sequence[Column], config: DealSettings) -> list[Deal]:
    """Set each column on each deal; return the deals whose values changed."""
    changed = []
    for deal in deals:
        dirty = False
        for column in columns:
            value = column.compute(deal, config)
            if getattr(deal, column.name) != value:
                setattr(deal, column.name, value)
                dirty = True
        if dirty:
            changed.append(deal)
    return changed


def recompute_asins(asins: Sequence[str], config: DealSettings) -> int:
    """Recompute every computed column for these rows; call inside the writer's transaction."""
    columns = list(COMPUTED)
    rows = list(
        Deal.objects.filter(asin__in=list(asins)).only(*SOURCE_FIELDS, *(c.name for c in columns))
    )
    changed = recompute(rows, columns, config)
    Deal.objects.update_rows(changed, [c.name for c in columns])
    return len(changed)


def category_name(category_id: int | None) -> str:
    if category_id is None:
        return ""
    return CATEGORY_NAMES.get(category_id, str(category_id))
