"""The deal columns, declared once.

The dashboard, the JSON API, the CSV export, the upserter and the backfill all read this list:
a column's label, how it is shown and sorted, and — for computed columns — how it is computed
from a stored row (its snapshots and settings) and which Keepa data that needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from deals import decision, economics, gating, history, landed, listing
from deals.config import ConfigError, DealSettings, load_config
from deals.models import Deal, Seller

# How a value is shown: "money" (smallest currency unit), "percent", "int", "text",
# "datetime", "category", "bool", "condition" (Keepa's offer condition number).


@dataclass(frozen=True)
class Column:
    # The column's name in the API, the CSV's order, ?sort= and the filters; also the Deal
    # field that stores the value unless `stored_in` names another.
    name: str
    label: str
    kind: str
    help: str = ""
    sortable: bool = True
    # Shown as a table column on the dashboard (some live inside another cell, e.g. the
    # cheapest offer under Now).
    in_table: bool = True
    # Filter the dashboard offers for this column: "min", "max", "range", "exact" or
    # "contains" (case-insensitive part of the text).
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
    # The Deal field holding the value when it is not `name` (an older field's API name).
    stored_in: str = ""
    # `compute` reads only the /deal object (`deal_snapshot`, `price_type`): every sweep
    # refreshes the column, changed or not, at no token cost.
    from_deal: bool = False
    # The heading when it depends on settings.json (the Average column names its window).
    label_for: Callable[[DealSettings], str] | None = None

    @property
    def field(self) -> str:
        """The Deal field that stores the value."""
        return self.stored_in or self.name


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
    Column(
        "avg_price",
        "Average",
        "money",
        "Keepa's average of the query's price type over the query's date range (dateRange)",
        label_for=lambda config: decision.average_label(config.date_range),
    ),
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


def _once(deal: Deal, name: str, work: Callable[[], Any]) -> Any:
    """`work()`, once for all the columns that read it while `recompute` sets a deal's
    columns (five columns read one Economics, two each the estimate and list-at: they were
    a quarter of the upserter's time for a page). Keyed by the values such a figure is
    worked out from that a column set earlier in the same pass can change (est_landed)."""
    memo = getattr(deal, "_worked_out", None)
    if memo is None:
        return work()
    key = (name, deal.now_total, deal.now_price, deal.est_landed, deal.buy_price_checked)
    if key not in memo:
        memo[key] = work()
    return memo[key]


def _estimate(deal: Deal, config: Any) -> landed.Estimate:
    return _once(
        deal, "estimate", lambda: landed.estimate_from_snapshot(deal.deal_snapshot, deal.price_type)
    )


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
        result = _once(deal, "economics", lambda: economics.for_deal(deal, config.seller_costs))
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


def _deal(read: Callable[[dict], Any]) -> Callable[[Deal, Any], Any]:
    return lambda deal, config: read(deal.deal_snapshot or {})


def _product(read: Callable[[dict | None], Any]) -> Callable[[Deal, Any], Any]:
    return lambda deal, config: read(deal.product_snapshot)


def _sales(deal: Deal, config: Any) -> int | None:
    snapshot = deal.deal_snapshot or {}
    return decision.estimated_sales_per_month(
        decision.rank_drops(snapshot, 30), decision.rank_drops(snapshot, 90)
    )


def _trend(deal: Deal, config: Any) -> str:
    snapshot = deal.deal_snapshot or {}
    return decision.offer_trend(
        decision.used_offer_count(snapshot), decision.used_offer_month_avg(snapshot)
    )


def _seller(attribute: str) -> Callable[[Deal, Any], Any]:
    def compute(deal: Deal, config: Any) -> Any:
        seller = getattr(deal, "now_seller", None)  # attached by `recompute`
        return getattr(seller, attribute) if seller is not None else None

    return compute


def _list_at(attribute: str) -> Callable[[Deal, Any], Any]:
    def compute(deal: Deal, config: Any) -> Any:
        result = _once(deal, "list_at", lambda: listing.list_at(deal))
        return getattr(result, attribute) if result else ("" if attribute == "rule" else None)

    return compute


# Decision data (deals/decision.py): from the stored /deal object (every sweep) or the
# /product answer of the latest offers look-up; the seller's trust from the Seller table.
_ANY_PRODUCT = ("product_snapshot",)
_YEAR = ("product_snapshot.stats.avg365",)
_SELLER = ("seller.rating",)
COLUMNS += [
    Column(
        "genre",
        "Genre",
        "text",
        "the most specific category Amazon files the product under",
        filter="contains",
        compute=_product(decision.genre),
        needs=_ANY_PRODUCT,
    ),
    Column(
        "binding",
        "Binding",
        "text",
        "Paperback, Hardcover, Mass Market Paperback…",
        filter="contains",
        compute=_product(decision.binding),
        needs=_ANY_PRODUCT,
    ),
    Column(
        "condition",
        "Condition",
        "condition",
        "condition of the cheapest copy in the Now line (Like New, Very Good, Good, Acceptable)",
        filter="exact",
        stored_in="now_condition",
    ),
    Column(
        "sales_rank_avg90",
        "Rank 90-day avg",
        "int",
        "average sales rank over 90 days",
        in_table=False,
        filter="max",
        compute=_deal(decision.sales_rank_avg90),
        from_deal=True,
    ),
    Column(
        "sales_rank_avg365",
        "Rank 1-year avg",
        "int",
        "average sales rank over 365 days (lower sells faster)",
        filter="max",
        compute=_product(decision.sales_rank_avg365),
        needs=_YEAR,
    ),
    Column(
        "rank_drops_30",
        "Rank drops 30 d",
        "int",
        "how often the sales rank dropped in 30 days (Keepa counts each drop as a sale)",
        in_table=False,
        default_descending=True,
        compute=_deal(lambda snapshot: decision.rank_drops(snapshot, 30)),
        from_deal=True,
    ),
    Column(
        "rank_drops_90",
        "Rank drops 90 d",
        "int",
        "how often the sales rank dropped in 90 days",
        in_table=False,
        default_descending=True,
        compute=_deal(lambda snapshot: decision.rank_drops(snapshot, 90)),
        from_deal=True,
    ),
    Column(
        "est_sales_month",
        "Est. sales/mo",
        "int",
        "estimate: sales a month from the rank drops, the mean of the 30-day drops and a third"
        " of the 90-day drops",
        filter="min",
        default_descending=True,
        compute=_sales,
        from_deal=True,
    ),
    Column(
        "used_offer_count",
        "Used offers",
        "int",
        "how many used offers are listed (your competition)",
        filter="max",
        compute=_deal(decision.used_offer_count),
        from_deal=True,
    ),
    Column(
        "used_offer_trend",
        "Offers 30 d",
        "text",
        "used offers against their 30-day average: ↑ more, ↓ fewer, → about the same",
        sortable=False,
        compute=_trend,
        from_deal=True,
    ),
    Column(
        "avg_365",
        "1-year avg",
        "money",
        "Keepa's 365-day average of the query's price type",
        compute=lambda deal, config: decision.avg_365(deal.product_snapshot, deal.price_type),
        needs=_YEAR,
    ),
    Column(
        "seller_rating_percent",
        "Seller rating",
        "percent",
        "positive ratings of the seller in the Now line (Keepa, refreshed at most daily)",
        filter="min",
        default_descending=True,
        compute=_seller("rating_percent"),
        needs=_SELLER,
    ),
    Column(
        "seller_rating_count",
        "Seller ratings",
        "int",
        "how many ratings that seller's percentage stands on",
        in_table=False,
        filter="min",
        default_descending=True,
        compute=_seller("rating_count"),
        needs=_SELLER,
    ),
]
# Columns every sweep refreshes from the /deal object alone.
FROM_DEAL = [c for c in COLUMNS if c.from_deal]


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
BY_FIELD = {c.field: c for c in COLUMNS}
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
    "now_seller_id",
)


def recompute(deals: Sequence[Deal], columns: Sequence[Column], config: DealSettings) -> list[Deal]:
    """Set each column on each deal; return the deals whose values changed."""
    if any(need.startswith("seller.") for column in columns for need in column.needs):
        attach_sellers(deals)
    changed = []
    for deal in deals:
        dirty = False
        deal._worked_out = {}  # the figures several columns read (`_once`), for this pass
        try:
            for column in columns:
                value = column.compute(deal, config)
                if getattr(deal, column.name) != value:
                    setattr(deal, column.name, value)
                    dirty = True
        finally:
            del deal._worked_out
        if dirty:
            changed.append(deal)
    return changed


def attach_sellers(deals: Sequence[Deal]) -> None:
    """Give each deal its Now seller's row (`deal.now_seller`, None when unknown), in one query."""
    ids = {d.now_seller_id for d in deals if d.now_seller_id}
    sellers = Seller.objects.in_bulk(list(ids)) if ids else {}
    for deal in deals:
        deal.now_seller = sellers.get(deal.now_seller_id)


def settings_or_none() -> DealSettings | None:
    """settings.json for the headings that depend on it; None when it cannot be read (the
    pages keep serving with plain headings)."""
    try:
        return load_config()
    except ConfigError:
        return None


def labelled(columns: Sequence[Column], config: DealSettings | None) -> list[Column]:
    """The columns with the headings settings.json decides ("90-day avg"); the plain heading
    when the settings cannot be read."""
    if config is None:
        return list(columns)
    return [replace(c, label=c.label_for(config)) if c.label_for else c for c in columns]


def recompute_asins(asins: Sequence[str], config: DealSettings) -> int:
    """Recompute every computed column for these rows; call inside the writer's transaction."""
    columns = list(COMPUTED)
    rows = list(
        Deal.objects.filter(asin__in=list(asins)).only(*SOURCE_FIELDS, *(c.name for c in columns))
    )
    changed = recompute(rows, columns, config)
    Deal.objects.update_rows(changed, [c.name for c in columns])
    return len(changed)


def recompute_for_sellers(seller_ids: Sequence[str] | set[str], config: DealSettings) -> int:
    """Recompute the seller columns of every deal whose Now line these sellers hold (after
    their ratings were fetched); call inside the writer's transaction."""
    if not seller_ids:
        return 0
    columns = [c for c in COMPUTED if any(n.startswith("seller.") for n in c.needs)]
    rows = list(
        Deal.objects.filter(now_seller_id__in=list(seller_ids)).only(
            *SOURCE_FIELDS, *(c.name for c in columns)
        )
    )
    changed = recompute(rows, columns, config)
    Deal.objects.update_rows(changed, [c.name for c in columns])
    return len(changed)


def category_name(category_id: int | None) -> str:
    if category_id is None:
        return ""
    return CATEGORY_NAMES.get(category_id, str(category_id))
