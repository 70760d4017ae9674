"""The market's goods: sellers, their offers, and products with the price history derived from
the live offers (Keepa's csv types)."""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Sequence

from keepa_simulator.dealview import DealView
from keepa_simulator.profiles import BUSY, Profile
from keepa_simulator.series import (
    AMAZON,
    BUY_BOX_SHIPPING,
    BUY_BOX_USED_SHIPPING,
    COUNT_NEW,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    COUNT_TYPES,
    COUNT_USED,
    CSV_LENGTH,
    EXTRA_INFO_UPDATES,
    KEEP_MINUTES,
    NEW,
    NEW_FBA,
    NEW_FBM_SHIPPING,
    OFFER_TYPES,
    TRIPLET_TYPES,
    USED,
    USED_TYPE_BY_CONDITION,
    WAREHOUSE,
    history,
    step_of,
    trim,
)

MAX_PAST_OFFERS = 20


class Seller:
    __slots__ = (
        "has_fba",
        "name",
        "rating",
        "rating_count",
        "ratings_last_30_days",
        "seller_id",
        "tracked_since",
    )

    def __init__(
        self,
        seller_id: str,
        name: str,
        rating: int,
        rating_count: int,
        has_fba: bool,
        tracked_since: int,
        ratings_last_30_days: int,
    ) -> None:
        self.seller_id = seller_id
        self.name = name
        self.rating = rating
        self.rating_count = rating_count
        self.has_fba = has_fba
        self.tracked_since = tracked_since
        self.ratings_last_30_days = ratings_last_30_days

    def shifted(self, d: int) -> Seller:
        return Seller(
            self.seller_id,
            self.name,
            self.rating,
            self.rating_count,
            self.has_fba,
            self.tracked_since + d,
            self.ratings_last_30_days,
        )


class Offer:
    __slots__ = (
        "comment",
        "condition",
        "csv",
        "is_amazon",
        "is_fba",
        "is_warehouse",
        "last_seen",
        "live",
        "offer_id",
        "price",
        "seller_id",
        "shipping",
    )

    def __init__(
        self,
        offer_id: int,
        seller_id: str,
        condition: int,
        price: int,
        shipping: int,
        seen: int,
        *,
        is_fba: bool = False,
        is_amazon: bool = False,
        is_warehouse: bool = False,
        comment: str | None = None,
        live: bool = True,
    ) -> None:
        self.offer_id = offer_id
        self.seller_id = seller_id
        self.condition = condition
        self.price = price
        self.shipping = shipping
        self.is_fba = is_fba
        self.is_amazon = is_amazon
        self.is_warehouse = is_warehouse
        self.comment = comment
        self.live = live
        self.last_seen = seen
        self.csv = [seen, price, shipping]

    @property
    def landed(self) -> int:
        return self.price + max(self.shipping, 0)

    def shifted(self, d: int) -> Offer:
        offer = Offer.__new__(Offer)
        offer.offer_id = self.offer_id
        offer.seller_id = self.seller_id
        offer.condition = self.condition
        offer.price = self.price
        offer.shipping = self.shipping
        offer.is_fba = self.is_fba
        offer.is_amazon = self.is_amazon
        offer.is_warehouse = self.is_warehouse
        offer.comment = self.comment
        offer.live = self.live
        offer.last_seen = self.last_seen + d
        offer.csv = _shift_times(self.csv, 3, d)
        return offer

    @property
    def is_new(self) -> bool:
        return self.condition == 1

    def reprice(self, price: int, shipping: int, now: int) -> None:
        if self.csv[-3] == now:
            del self.csv[-3:]
        self.csv += [now, price, shipping]
        self.price = price
        self.shipping = shipping
        self.last_seen = now


class Product:
    __slots__ = (
        "_view",
        "adult",
        "asin",
        "author",
        "binding",
        "categories",
        "category_tree",
        "crawl_interval",
        "creation_date",
        "cur",
        "delta_last",
        "ean",
        "fba_fee",
        "hist",
        "image",
        "last_offers_update",
        "last_price_change",
        "last_rating_update",
        "last_update",
        "list_price",
        "listed_since",
        "main_type",
        "manufacturer",
        "next_offer_id",
        "offers",
        "package_weight",
        "pages",
        "prev",
        "profile",
        "publication_date",
        "reference_price",
        "root",
        "sales_rank_drops",
        "since",
        "title",
        "tracking_since",
        "version",
    )

    def __init__(self, asin: str) -> None:
        self.asin = asin
        self.cur = [-1] * CSV_LENGTH
        self.hist: list[array | None] = [None] * CSV_LENGTH
        self.since = [-1] * CSV_LENGTH
        self.prev = [-1] * CSV_LENGTH
        self.delta_last = [0] * CSV_LENGTH
        self.offers: list[Offer] = []
        self.next_offer_id = 0
        self.version = 0
        self._view: DealView | None = None
        self.author: str | None = None
        self.adult = False
        self.profile: Profile = BUSY

    # --- state changes -------------------------------------------------------------------

    def record(self, t: int, value: int, shipping: int, now: int) -> bool:
        """Set the current value of csv type ``t`` at ``now``; False if it is still untracked."""
        hist = self.hist[t]
        if hist is None:
            if value < 0 and t not in COUNT_TYPES:
                return False
            hist = self.hist[t] = history()
        step = step_of(t)
        if hist and hist[-step] == now:
            del hist[-step:]  # a second change within the same minute replaces the first
        else:
            self.prev[t] = self.cur[t]
        if step == 3:
            hist.extend((now, value - shipping, shipping) if value >= 0 else (now, -1, -1))
        else:
            hist.extend((now, value))
        self.cur[t] = value
        self.since[t] = now
        before = self.prev[t]
        self.delta_last[t] = before - value if before >= 0 and value >= 0 else 0
        if len(hist) > 16 * step and hist[step] < now - KEEP_MINUTES:
            self.hist[t] = trim(hist, step, now - KEEP_MINUTES)
        return True

    def refresh_offers(self, now: int) -> bool:
        """Recompute the offer-derived types from the live offers; True if a price changed."""
        values, shippings = derive(self.offers, self.profile, self.asin)
        price_changed = False
        for t in OFFER_TYPES:
            value = values[t]
            if value == self.cur[t] and (
                t not in TRIPLET_TYPES or value < 0 or shippings.get(t, 0) == self._shipping(t)
            ):
                continue
            if self.record(t, value, shippings.get(t, 0), now) and t not in COUNT_TYPES:
                price_changed = True
        for offer in self.offers:
            if offer.live:
                offer.last_seen = now
        self.last_offers_update = now
        self.touch(now, price_changed=price_changed)
        return price_changed

    def touch(self, now: int, *, price_changed: bool = False) -> None:
        self.last_update = now
        if price_changed:
            self.last_price_change = now
            if self.profile.creation_follows_deal_price:
                self.creation_date = self.deal_price_since()
            else:
                self.creation_date = now
        self.version += 1
        self._view = None

    def deal_price_since(self) -> int:
        """Since when the deal's price holds: ``currentSince[2]`` (USED) when the product has
        had used offers, else its main price's. Keepa's ``creationDate`` equals
        ``currentSince[2]`` in every deal of FIX 3 (docs/keepa.md §11)."""
        if self.hist[USED] is not None and self.since[USED] >= 0:
            return self.since[USED]
        return self.since[self.main_type]

    def shifted(self, d: int) -> Product:
        """A copy of this product with every time moved ``d`` minutes."""
        q = Product.__new__(Product)
        for name in _PRODUCT_VALUES:
            setattr(q, name, getattr(self, name))
        for name in _PRODUCT_TIMES:
            setattr(q, name, getattr(self, name) + d)
        q.cur = self.cur[:]
        q.prev = self.prev[:]
        q.delta_last = self.delta_last[:]
        q.since = [s + d if s != -1 else -1 for s in self.since]
        q.hist = [
            None if h is None else _shift_times(h, step_of(t), d) for t, h in enumerate(self.hist)
        ]
        q.offers = [o.shifted(d) for o in self.offers]
        q._view = None
        return q

    def _shipping(self, t: int) -> int:
        hist = self.hist[t]
        return hist[-1] if hist else 0

    # --- reading ---------------------------------------------------------------------------

    def deal_view(self) -> DealView:
        if self._view is None:
            self._view = DealView(self)
        return self._view

    def live_offers(self) -> list[Offer]:
        return [o for o in self.offers if o.live]

    def cheapest_warehouse_offer(self) -> Offer | None:
        best = None
        for o in self.offers:
            if o.live and o.is_warehouse and (best is None or o.landed < best.landed):
                best = o
        return best

    def main_offers(self) -> list[Offer]:
        new = self.main_type == NEW
        return [o for o in self.offers if o.live and o.is_new == new]

    def in_deal(self) -> bool:
        price = self.cur[self.main_type]
        return 0 <= price < 0.6 * self.reference_price

    def add_offer(self, offer: Offer) -> Offer:
        self.offers.append(offer)
        self.next_offer_id = max(self.next_offer_id, offer.offer_id + 1)
        return offer

    def retire(self, offer: Offer) -> None:
        offer.live = False
        past = [o for o in self.offers if not o.live]
        if len(past) > MAX_PAST_OFFERS:
            oldest = min(past, key=lambda o: (o.last_seen, o.offer_id))
            self.offers.remove(oldest)


_PRODUCT_TIMES = (
    "creation_date",
    "last_offers_update",
    "last_price_change",
    "last_rating_update",
    "last_update",
    "listed_since",
    "tracking_since",
)
_PRODUCT_VALUES = tuple(
    name
    for name in Product.__slots__
    if name not in _PRODUCT_TIMES
    and name not in ("_view", "cur", "prev", "delta_last", "since", "hist", "offers")
)


def _shift_times(hist: Sequence, step: int, d: int) -> Sequence:
    shifted = hist[:]
    times = [t + d for t in hist[0::step]]
    shifted[0::step] = history(times) if isinstance(hist, array) else times
    return shifted


def used_buy_box(offers: Iterable[Offer], profile: Profile = BUSY, asin: str = "") -> Offer | None:
    """The live used offer holding the used buy box (type 32, ``buyBoxUsed*``).

    Amazon does not simply award it to the cheapest copy: in FIX 3 it equals the cheapest
    landed used price in 76 of 150 deals (docs/keepa.md §11). The calibrated market gives it,
    for seven products in eight (a fixed draw from the ASIN), to the cheapest
    Fulfilled-by-Amazon used offer when there is one; else to the cheapest copy."""
    used = [o for o in offers if o.live and o.condition in USED_TYPE_BY_CONDITION]
    if profile.used_buy_box_prefers_fba and zlib.crc32(asin.encode()) % 8 < 7:
        used = [o for o in used if o.is_fba] or used
    return min(used, key=lambda o: (o.landed, o.offer_id), default=None)


def derive(
    offers: Iterable[Offer], profile: Profile = BUSY, asin: str = ""
) -> tuple[list[int], dict[int, int]]:
    """Current values of the offer-derived csv types, and the shipping behind the triplet ones
    (``asin``: the product's, for the used buy box)."""
    offers = list(offers)
    best: dict[int, tuple[int, int, int]] = {}
    item_price_used = profile.used_excludes_shipping

    def consider(t: int, landed: int, price: int, shipping: int) -> None:
        held = best.get(t)
        if held is None or landed < held[0]:
            best[t] = (landed, price, shipping)

    n_new = n_used = n_fba = n_fbm = n_live = 0
    for o in offers:
        if not o.live:
            continue
        n_live += 1
        shipping = max(o.shipping, 0)
        landed = o.price + shipping
        if o.condition == 1:
            n_new += 1
            consider(NEW, landed, o.price, shipping)
            if o.is_amazon:
                consider(AMAZON, o.price, o.price, 0)
            elif o.is_fba:
                n_fba += 1
                consider(NEW_FBA, o.price, o.price, 0)
            else:
                n_fbm += 1
                consider(NEW_FBM_SHIPPING, landed, o.price, shipping)
        elif o.condition in USED_TYPE_BY_CONDITION:
            n_used += 1
            if item_price_used:
                # current[2] is the item price alone: "Shipping and Handling costs are not
                # included" (JAVA Deal.java); the landed prices are types 19-22 and 32.
                consider(USED, o.price, o.price, 0)
            else:
                consider(USED, landed, o.price, shipping)
            consider(USED_TYPE_BY_CONDITION[o.condition], landed, o.price, shipping)
            if o.is_warehouse:
                consider(WAREHOUSE, o.price, o.price, 0)
    if AMAZON in best:
        best[BUY_BOX_SHIPPING] = best[AMAZON]
    elif NEW in best:
        best[BUY_BOX_SHIPPING] = best[NEW]
    box = used_buy_box(offers, profile, asin)
    if box is not None:
        best[BUY_BOX_USED_SHIPPING] = (box.landed, box.price, max(box.shipping, 0))
    values = [-1] * CSV_LENGTH
    shippings: dict[int, int] = {}
    for t, (landed, _price, shipping) in best.items():
        values[t] = landed
        if t in TRIPLET_TYPES:
            shippings[t] = shipping
    values[COUNT_NEW] = n_new
    values[COUNT_USED] = n_used
    values[EXTRA_INFO_UPDATES] = n_live
    values[COUNT_NEW_FBA] = n_fba
    values[COUNT_NEW_FBM] = n_fbm
    return values, shippings
