"""Typed, immutable views of Keepa's JSON objects.

Attribute names are the snake_case of Keepa's field names. Keepa's newer serializer omits
null-valued fields (docs/keepa.md §1.2), so a missing key always reads as null, and unknown keys
are ignored. Each object keeps the JSON it was built from in `raw`, without NUL characters.

Records are checked as they are parsed (keepa_client/records.py): a /deal or /product record
whose ASIN is not an ASIN, or that cannot be read, is dropped and listed in `rejected` of its
page or answer; the shown strings of the records kept are cleaned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from keepa_client import wire
from keepa_client.records import (
    MAX_COMMENT,
    MAX_NAME,
    MAX_TITLE,
    Rejected,
    asin_problem,
    clean_image,
    clean_seller_id,
    clean_text,
    is_asin,
    quoted,
    without_nul,
)

DEALS_PER_PAGE = 150


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _bool_or_none(v: Any) -> bool | None:
    return None if v is None else bool(v)


def _ints(values: Sequence[Any] | None) -> tuple[int, ...]:
    return tuple(int(v) for v in values or ())


def _prices(values: Sequence[Any] | None) -> tuple[int | None, ...]:
    return tuple(wire.price_or_none(v) for v in values or ())


def _image(codes: Any) -> str | None:
    try:
        return clean_image(wire.decode_image(codes))
    except (TypeError, ValueError, OverflowError):  # not character codes: no image, not no deal
        return None


def _cell(rows: Sequence[Sequence[Any]], date_range: int, price_type: int) -> Any:
    if not 0 <= date_range < len(rows):
        return None
    row = rows[date_range]
    return row[price_type] if 0 <= price_type < len(row) else None


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """The token bucket as reported in the envelope of every Keepa response."""

    tokens_left: int
    refill_in_ms: int
    refill_rate: int
    timestamp: datetime
    token_flow_reduction: float
    tokens_consumed: int

    @classmethod
    def from_envelope(cls, body: Mapping[str, Any]) -> TokenStatus:
        """Build from a response body; raise KeyError, TypeError or ValueError if it has none."""
        return cls(
            tokens_left=int(body["tokensLeft"]),
            refill_in_ms=int(body["refillIn"]),
            refill_rate=int(body["refillRate"]),
            timestamp=wire.keepa_ms_to_datetime(body["timestamp"]),
            token_flow_reduction=float(body.get("tokenFlowReduction") or 0.0),
            tokens_consumed=int(body.get("tokensConsumed") or 0),
        )

    @property
    def refill_at(self) -> datetime:
        return self.timestamp + timedelta(milliseconds=self.refill_in_ms)


@dataclass(frozen=True, slots=True)
class Deal:
    """One entry of a /deal page. `avg`, `delta` and `delta_percent` are [dateRange][priceType]."""

    asin: str
    title: str | None
    root_cat: int | None
    categories: tuple[int, ...]
    image: str | None
    current: tuple[int | None, ...]
    avg: tuple[tuple[int | None, ...], ...]
    delta: tuple[tuple[int, ...], ...]
    delta_percent: tuple[tuple[int, ...], ...]
    delta_last: tuple[int, ...]
    current_since: tuple[datetime | None, ...]
    creation_date: datetime | None
    last_update: datetime | None
    lightning_start: datetime | None
    lightning_end: datetime | None
    sales_rank_drops30: int | None
    sales_rank_drops90: int | None
    sales_rank_drops180: int | None
    sales_rank_drops365: int | None
    back_in_stock: tuple[bool, ...]
    warehouse_condition: int | None
    warehouse_condition_comment: str | None
    parent_asin: str | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Deal:
        return cls(
            asin=d["asin"],
            title=clean_text(d.get("title"), MAX_TITLE),
            root_cat=_int_or_none(d.get("rootCat")),
            categories=_ints(d.get("categories")),
            image=_image(d.get("image")),
            current=_prices(d.get("current")),
            avg=tuple(_prices(row) for row in d.get("avg") or ()),
            delta=tuple(_ints(row) for row in d.get("delta") or ()),
            delta_percent=tuple(_ints(row) for row in d.get("deltaPercent") or ()),
            delta_last=_ints(d.get("deltaLast")),
            current_since=tuple(
                wire.keepa_minute_to_datetime(m) for m in d.get("currentSince") or ()
            ),
            creation_date=wire.keepa_minute_to_datetime(d.get("creationDate")),
            last_update=wire.keepa_minute_to_datetime(d.get("lastUpdate")),
            lightning_start=wire.keepa_minute_to_datetime(d.get("lightningStart")),
            lightning_end=wire.keepa_minute_to_datetime(d.get("lightningEnd")),
            sales_rank_drops30=_int_or_none(d.get("salesRankDrops30")),
            sales_rank_drops90=_int_or_none(d.get("salesRankDrops90")),
            sales_rank_drops180=_int_or_none(d.get("salesRankDrops180")),
            sales_rank_drops365=_int_or_none(d.get("salesRankDrops365")),
            back_in_stock=tuple(bool(b) for b in d.get("backInStock") or ()),
            warehouse_condition=_int_or_none(d.get("warehouseCondition")),
            warehouse_condition_comment=clean_text(d.get("warehouseConditionComment"), MAX_COMMENT),
            parent_asin=d.get("parentAsin") if is_asin(d.get("parentAsin")) else None,
            raw=without_nul(dict(d)),
        )

    @property
    def image_url(self) -> str | None:
        return wire.image_url(self.image)

    def current_value(self, price_type: int) -> int | None:
        return wire.value_at(self.current, price_type)

    def avg_value(self, date_range: int, price_type: int) -> int | None:
        return _cell(self.avg, date_range, price_type)

    def delta_value(self, date_range: int, price_type: int) -> int | None:
        """Return avg - current (positive means the value dropped), or None if not sent."""
        return _cell(self.delta, date_range, price_type)

    def delta_percent_value(self, date_range: int, price_type: int) -> int | None:
        return _cell(self.delta_percent, date_range, price_type)


@dataclass(frozen=True, slots=True)
class Offer:
    """A marketplace offer. `offer_csv` is `[keepaMinute, price, shipping, ...]`."""

    offer_id: int | None
    seller_id: str | None
    condition: int | None
    condition_comment: str | None
    is_fba: bool
    is_prime: bool
    is_amazon: bool
    is_shippable: bool
    is_warehouse_deal: bool
    is_preorder: bool
    last_seen: datetime | None
    offer_csv: tuple[int, ...]
    is_live: bool = False
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, is_live: bool = False) -> Offer:
        return cls(
            offer_id=_int_or_none(d.get("offerId")),
            # A seller id that is not one is not shown or stored: the offer stays, unnamed.
            seller_id=clean_seller_id(d.get("sellerId")),
            condition=_int_or_none(d.get("condition")),
            condition_comment=clean_text(d.get("conditionComment"), MAX_COMMENT),
            is_fba=bool(d.get("isFBA")),
            is_prime=bool(d.get("isPrime")),
            is_amazon=bool(d.get("isAmazon")),
            is_shippable=bool(d.get("isShippable")),
            is_warehouse_deal=bool(d.get("isWarehouseDeal")),
            is_preorder=bool(d.get("isPreorder")),
            last_seen=wire.keepa_minute_to_datetime(d.get("lastSeen")),
            offer_csv=_ints(d.get("offerCSV")),
            is_live=is_live,
            raw=without_nul(dict(d)),
        )

    @classmethod
    def from_latest(cls, d: Mapping[str, Any], *, is_live: bool = False) -> Offer:
        """Build from an offer whose `offerCSV` history was cut to its latest `price` and
        `shipping` (still in Keepa's encoding: -1 and -2 mean unknown)."""
        offer = cls.from_json(d, is_live=is_live)
        if offer.offer_csv or d.get("price") is None:
            return offer
        # One history entry, dated when the offer was last seen; -1 if shipping was not kept.
        shipping = d.get("shipping")
        latest = (d.get("lastSeen") or 0, d["price"], -1 if shipping is None else shipping)
        return replace(offer, offer_csv=_ints(latest))

    def _latest(self) -> tuple[int, int] | None:
        if len(self.offer_csv) < 3 or len(self.offer_csv) % 3:
            return None
        return self.offer_csv[-2], self.offer_csv[-1]

    @property
    def price(self) -> int | None:
        latest = self._latest()
        return None if latest is None else wire.price_or_none(latest[0])

    @property
    def shipping(self) -> int | None:
        """Latest shipping cost; 0 is free shipping, None is unknown or not shippable."""
        latest = self._latest()
        return None if latest is None else wire.price_or_none(latest[1])

    @property
    def total(self) -> int | None:
        price = self.price
        return None if price is None else price + (self.shipping or 0)

    @property
    def condition_name(self) -> str | None:
        if self.condition is None:
            return None
        return wire.CONDITION_NAMES.get(self.condition, f"Condition {self.condition}")


@dataclass(frozen=True, slots=True)
class Product:
    """A /product result. `csv` and `stats` are kept as Keepa sent them."""

    asin: str
    title: str | None
    root_category: int | None
    categories: tuple[int, ...]
    image: str | None
    csv: list | None
    stats: dict | None
    offers: tuple[Offer, ...]
    live_offers_order: tuple[int, ...]
    fba_fees: dict | None
    referral_fee_percentage: float | None
    last_update: datetime | None
    last_price_change: datetime | None
    last_offers_update: datetime | None
    sales_rank: int | None
    product_type: int | None
    raw: dict = field(repr=False, compare=False)
    # False when offers were asked for and Keepa could not collect them this time (1 token
    # charged, "retry after a few minutes"): `offers` then says nothing about the market.
    offers_successful: bool | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Product:
        live_order = _ints(d.get("liveOffersOrder"))
        live_indices = set(live_order)
        offers = tuple(
            Offer.from_json(o, is_live=i in live_indices)
            for i, o in enumerate(d.get("offers") or ())
        )
        csv = d.get("csv")
        stats = d.get("stats")
        referral = d.get("referralFeePercentage")
        return cls(
            asin=d["asin"],
            title=clean_text(d.get("title"), MAX_TITLE),
            root_category=_int_or_none(d.get("rootCategory")),
            categories=_ints(d.get("categories")),
            image=_first_image(d),
            csv=csv,
            stats=stats,
            offers=offers,
            live_offers_order=live_order,
            fba_fees=d.get("fbaFees"),
            referral_fee_percentage=None if referral is None else float(referral),
            last_update=wire.keepa_minute_to_datetime(d.get("lastUpdate")),
            last_price_change=wire.keepa_minute_to_datetime(d.get("lastPriceChange")),
            last_offers_update=wire.keepa_minute_to_datetime((stats or {}).get("lastOffersUpdate")),
            sales_rank=_latest_csv(csv, wire.SALES_RANK),
            product_type=_int_or_none(d.get("productType")),
            raw=without_nul(dict(d)),
            offers_successful=_bool_or_none(d.get("offersSuccessful")),
        )

    @property
    def image_url(self) -> str | None:
        return wire.image_url(self.image)

    @property
    def live_offers(self) -> tuple[Offer, ...]:
        """Offers Amazon lists right now, in Amazon's order (liveOffersOrder may repeat indices)."""
        seen: set[int] = set()
        live = []
        for i in self.live_offers_order:
            if i in seen or not 0 <= i < len(self.offers):
                continue
            seen.add(i)
            live.append(self.offers[i])
        return tuple(live)

    def cheapest_live_offer(self, conditions: set[int] | None = None) -> Offer | None:
        """Return the live offer with the lowest price + shipping; ties go to price, then FBA."""
        candidates = [
            o
            for o in self.live_offers
            if o.total is not None and (conditions is None or o.condition in conditions)
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda o: (o.total, o.price, not o.is_fba))

    def current_value(self, price_type: int) -> int | None:
        """Current value from stats.current when requested with `stats`, else from the history."""
        current = (self.stats or {}).get("current")
        if current is not None:
            return wire.value_at(current, price_type)
        return _latest_csv(self.csv, price_type)


def _latest_csv(csv: Sequence[Any] | None, price_type: int) -> int | None:
    if csv is None or not 0 <= price_type < len(csv):
        return None
    return wire.latest_history_value(
        csv[price_type], with_shipping=price_type in wire.SHIPPING_PRICE_TYPES
    )


def _first_image(d: Mapping[str, Any]) -> str | None:
    # imagesCSV is deprecated and absent from 2026 responses; images[0] may carry only "m".
    images_csv = d.get("imagesCSV")
    if images_csv:
        return clean_image(str(images_csv).split(",")[0])
    images = d.get("images") or ()
    if images and isinstance(images[0], Mapping):
        return clean_image(images[0].get("l") or images[0].get("m"))
    return None


@dataclass(frozen=True, slots=True)
class Seller:
    seller_id: str
    seller_name: str | None
    current_rating: int | None
    current_rating_count: int | None
    has_fba: bool
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Seller:
        return cls(
            seller_id=d["sellerId"],
            seller_name=clean_text(d.get("sellerName"), MAX_NAME),
            current_rating=wire.price_or_none(d.get("currentRating")),
            current_rating_count=wire.price_or_none(d.get("currentRatingCount")),
            has_fba=bool(d.get("hasFBA")),
            raw=without_nul(dict(d)),
        )


@dataclass(frozen=True, slots=True)
class DealPage:
    """One page of /deal results; the category summary covers the whole result, not the page."""

    page: int
    deals: tuple[Deal, ...]
    cached: bool
    category_names: dict[int, str]
    category_counts: dict[int, int]
    tokens: TokenStatus
    # Records of this page that were dropped (not an ASIN, unreadable), with the reason.
    rejected: tuple[Rejected, ...] = ()

    @classmethod
    def from_json(cls, body: Mapping[str, Any], page: int) -> DealPage:
        """Build from a whole /deal response body (envelope included)."""
        # A query with no results may come back without "deals" at all (docs/keepa.md §4.3).
        deals = body.get("deals") or {}
        ids = [int(i) for i in deals.get("categoryIds") or ()]
        kept, rejected = checked(_records(deals.get("dr")), Deal.from_json)
        return cls(
            page=page,
            deals=tuple(kept),
            rejected=tuple(rejected),
            cached=bool(body.get("dealsCached")),
            category_names=dict(zip(ids, deals.get("categoryNames") or (), strict=False)),
            category_counts={
                i: int(n) for i, n in zip(ids, deals.get("categoryCount") or (), strict=False)
            },
            tokens=TokenStatus.from_envelope(body),
        )

    @property
    def is_last(self) -> bool:
        """Keepa's paging rule: a page with fewer than 150 deals is the last one (the dropped
        records count: a full page with one bad record is not the end of the list)."""
        return len(self.deals) + len(self.rejected) < DEALS_PER_PAGE


class Products(list[Product]):
    """The products of a /product answer, and in `rejected` the records that were dropped."""

    def __init__(self, products: Iterable[Product] = (), rejected: Iterable[Rejected] = ()):
        super().__init__(products)
        self.rejected: list[Rejected] = list(rejected)

    def extend_with(self, other: Products) -> None:
        self.extend(other)
        self.rejected.extend(other.rejected)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Products:
        """Build from a whole /product response body."""
        # Keepa omits null fields, so an answer with no known product may have no "products".
        return cls(*checked(_records(body.get("products")), Product.from_json))


def _records(value: Any) -> list[Any]:
    # A list of records is checked record by record; anything else is not an answer at all.
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"a list of records was expected, not {type(value).__name__}")
    return value


_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError)


T = TypeVar("T")


def checked(
    records: Iterable[Any], build: Callable[[Mapping[str, Any]], T]
) -> tuple[list[T], list[Rejected]]:
    """Build each record that has a well-formed ASIN and can be read; report the others."""
    kept: list[T] = []
    rejected: list[Rejected] = []
    for record in records:
        asin = record.get("asin") if isinstance(record, Mapping) else None
        problem = asin_problem(asin) if isinstance(record, Mapping) else "not an object"
        if problem is None:
            try:
                kept.append(build(record))
                continue
            except _UNREADABLE as exc:
                # The type only: the message may quote the hostile value at length.
                problem = f"unreadable ({type(exc).__name__})"
        rejected.append(Rejected(quoted(asin), problem))
    return kept, rejected
