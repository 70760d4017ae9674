"""A deterministic, moving Amazon marketplace: products, offers, sellers and their price history.

Everything is drawn from ``random.Random`` instances seeded from the market seed (never the
global generator): the initial catalogue from ``Random(seed)``, and the events of each simulated
minute from a generator seeded with (seed, minute). The market evolves lazily: ``advance_to``
applies every minute's events in order, so the state at a given clock does not depend on how
often anyone looked at it.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
from array import array
from collections.abc import Iterable, Sequence

from keepa_simulator import catalog
from keepa_simulator.catalog import AMAZON_SELLER_ID, BOOKS, WAREHOUSE_SELLER_ID
from keepa_simulator.dealview import DealView
from keepa_simulator.series import (
    AMAZON,
    BUY_BOX_SHIPPING,
    BUY_BOX_USED_SHIPPING,
    COUNT_NEW,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    COUNT_REVIEWS,
    COUNT_TYPES,
    COUNT_USED,
    CSV_LENGTH,
    DAY,
    EXTRA_INFO_UPDATES,
    KEEP_MINUTES,
    LISTPRICE,
    NEW,
    NEW_FBA,
    NEW_FBM_SHIPPING,
    OFFER_TYPES,
    RATING,
    SALES,
    TRIPLET_TYPES,
    USED,
    USED_TYPE_BY_CONDITION,
    WAREHOUSE,
    history,
    step_of,
    trim,
    value_of,
)

# Share of products whose main price sits far below its usual level (a deal) at the start, and
# the share the random evolution keeps it at. High on purpose: the demo's default query must
# show a full table from a few thousand products.
DEAL_SHARE = 0.65
DEEP_DROP = (0.28, 0.47)  # a deal's price as a share of the usual price
MERCHANT_SHIPPING = 399  # cents; FBA and Amazon ship free
MAX_LIVE_OFFERS = 25
MAX_PAST_OFFERS = 20
# Types every product tracks from the start; others only once they have had a value.
ALWAYS_TRACKED = frozenset(
    (
        NEW,
        USED,
        COUNT_NEW,
        COUNT_USED,
        EXTRA_INFO_UPDATES,
        BUY_BOX_SHIPPING,
        BUY_BOX_USED_SHIPPING,
        NEW_FBM_SHIPPING,
        COUNT_NEW_FBA,
        COUNT_NEW_FBM,
        *USED_TYPE_BY_CONDITION.values(),
    )
)
USED_CONDITIONS = (2, 3, 4, 5)
USED_CONDITION_WEIGHTS = (15, 30, 40, 15)


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
        values, shippings = derive(self.offers)
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
            self.creation_date = now
        self.version += 1
        self._view = None

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


def derive(offers: Iterable[Offer]) -> tuple[list[int], dict[int, int]]:
    """Current values of the offer-derived csv types, and the shipping behind the triplet ones."""
    best: dict[int, tuple[int, int, int]] = {}

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
            consider(USED, landed, o.price, shipping)
            consider(USED_TYPE_BY_CONDITION[o.condition], landed, o.price, shipping)
            if o.is_warehouse:
                consider(WAREHOUSE, o.price, o.price, 0)
    if AMAZON in best:
        best[BUY_BOX_SHIPPING] = best[AMAZON]
    elif NEW in best:
        best[BUY_BOX_SHIPPING] = best[NEW]
    if USED in best:
        best[BUY_BOX_USED_SHIPPING] = best[USED]
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


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _cents(value: float) -> int:
    """A price as sellers set it: whole cents, at least one."""
    return max(1, int(value))


class Market:
    """The simulated marketplace for one domain (amazon.com)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        products: int = 6000,
        changes_per_minute: int = 40,
        genesis: int,
    ) -> None:
        self.seed = seed
        self.changes_per_minute = changes_per_minute
        self.genesis = genesis
        self.minute = genesis  # the last minute whose events have been applied
        self.quiet = False
        self.products: list[Product] = []
        self.by_asin: dict[str, Product] = {}
        self.sellers: dict[str, Seller] = {}
        self._seller_pool: list[str] = []
        self._crawls: list[tuple[int, int]] = []  # (minute of next re-crawl, product index)
        self._added = 0
        # Products whose deal view is not built yet; built ahead of requests by warm().
        self.unwarmed: dict[str, Product] = {}
        rng = random.Random(seed)
        self._make_sellers(rng, max(300, products // 15))
        for _ in range(products):
            self._generate_product(rng, genesis, fresh=False)

    def shifted(self, genesis: int) -> Market:
        """A copy of this market started at ``genesis`` instead (every time moved alike).

        Generation only ever uses times relative to its start, so this is the market that
        ``Market(..., genesis=genesis)`` would build, only much faster.
        """
        d = genesis - self.genesis
        m = Market.__new__(Market)
        m.seed = self.seed
        m.changes_per_minute = self.changes_per_minute
        m.genesis = genesis
        m.minute = self.minute + d
        m.quiet = self.quiet
        m.sellers = {seller_id: s.shifted(d) for seller_id, s in self.sellers.items()}
        m._seller_pool = self._seller_pool[:]
        m.products = [p.shifted(d) for p in self.products]
        m.by_asin = {p.asin: p for p in m.products}
        m._crawls = [(t + d, i) for t, i in self._crawls]  # a uniform shift keeps heap order
        m._added = self._added
        m.unwarmed = dict(m.by_asin)
        return m

    # --- generation ------------------------------------------------------------------------

    def _make_sellers(self, rng: random.Random, count: int) -> None:
        since = self.genesis - 3000 * DAY
        self.sellers[AMAZON_SELLER_ID] = Seller(
            AMAZON_SELLER_ID, "Amazon.com", 93, 9_000_000, True, since, 0
        )
        self.sellers[WAREHOUSE_SELLER_ID] = Seller(
            WAREHOUSE_SELLER_ID, "Amazon Warehouse", 92, 4_000_000, True, since, 40_000
        )
        while len(self._seller_pool) < count:
            seller_id = catalog.make_seller_id(rng)
            if seller_id in self.sellers:
                continue
            rating_count = int(_log_uniform(rng, 20, 400_000))
            self.sellers[seller_id] = Seller(
                seller_id,
                catalog.make_seller_name(rng),
                rng.randint(80, 100),
                rating_count,
                rng.random() < 0.4,
                self.genesis - rng.randint(30, 3000) * DAY,
                int(rating_count * rng.uniform(0.005, 0.05)),
            )
            self._seller_pool.append(seller_id)

    def ensure_seller(self, seller_id: str) -> Seller:
        seller = self.sellers.get(seller_id)
        if seller is None:
            seller = Seller(seller_id, f"Seller {seller_id[-4:]}", 95, 100, False, self.minute, 1)
            self.sellers[seller_id] = seller
        return seller

    def _unique_asin(self, rng: random.Random, root: int) -> str:
        for _ in range(100):
            asin = catalog.make_asin(rng, root)
            if asin not in self.by_asin:
                return asin
        raise RuntimeError("could not draw a fresh ASIN")

    def _register(self, product: Product, rng: random.Random, now: int, fresh: bool) -> None:
        index = len(self.products)
        self.products.append(product)
        self.by_asin[product.asin] = product
        self.unwarmed[product.asin] = product
        slow = rng.random() < 0.08
        product.crawl_interval = rng.randint(900, 1800) if slow else rng.randint(420, 700)
        first = rng.randint(600, 705) if not fresh else product.crawl_interval
        heapq.heappush(self._crawls, (max(now + 1, product.last_update + first), index))

    def _generate_product(self, rng: random.Random, now: int, *, fresh: bool) -> Product:
        root = catalog.pick_root(rng)
        is_book = root == BOOKS
        p = Product(self._unique_asin(rng, root))
        p.root = root
        p.title = catalog.make_title(rng, root)
        subs = rng.sample(catalog.SUBCATEGORIES[root], rng.choice((1, 1, 2, 2, 3)))
        p.categories = tuple(cat_id for cat_id, _ in subs)
        tree = [(root, catalog.ROOT_NAMES[root])]
        if is_book:
            tree.append((catalog.SUBJECTS, "Subjects"))
        tree.append(subs[0])
        p.category_tree = tuple(tree)
        p.image = catalog.make_image(rng)
        p.adult = is_book and rng.random() < 0.01
        p.main_type = USED if is_book or (root != catalog.TOYS and rng.random() < 0.5) else NEW
        if is_book:
            p.author = catalog.make_author(rng)
            p.binding = rng.choice(catalog.BINDINGS)
            p.manufacturer = rng.choice(("Pearson", "Penguin", "Wiley", "Norton", "Vintage"))
            p.pages = rng.randint(90, 1200)
            p.ean = "978" + "".join(str(rng.randrange(10)) for _ in range(10))
        else:
            p.binding = {
                catalog.MOVIES: "DVD",
                catalog.MUSIC: "Audio CD",
                catalog.VIDEO_GAMES: "Video Game",
            }.get(root, "Toy")
            p.manufacturer = rng.choice((*catalog.TOY_BRANDS, "Warner", "Sony", "Universal"))
            p.pages = -1
            p.ean = "0" + "".join(str(rng.randrange(10)) for _ in range(12))
        p.package_weight = rng.randint(80, 1800)
        p.fba_fee = rng.choice((306, 344, 399, 435, 512, 568))
        p.publication_date = rng.randint(1985, 2025) * 10000 + rng.randint(1, 12) * 100 + 1
        p.tracking_since = now - rng.randint(200, 4000) * DAY
        p.listed_since = p.tracking_since - rng.randint(0, 400) * DAY
        p.last_update = now if fresh else now - rng.randint(0, 600)
        if is_book:
            reference = _log_uniform(rng, 7000, 15000) if rng.random() < 0.85 else None
            reference = reference or _log_uniform(rng, 500, 4000)
        else:
            reference = _log_uniform(rng, 800, 9000)
        p.reference_price = int(reference)
        p.list_price = int(reference * rng.uniform(1.3, 2.5)) // 100 * 100 + 99

        rank_low = 30_000 if is_book else 1_000
        rank = int(_log_uniform(rng, rank_low, 2_000_000 if is_book else 3_000_000))
        roll = rng.random()
        if roll < 0.06:
            rating, reviews = -1, 0
        elif roll < 0.09:
            rating, reviews = rng.randint(0, 9), rng.randint(1, 5)
        else:
            rating = int(min(50, max(10, rng.gauss(43, 5))))
            reviews = int(_log_uniform(rng, 1, 3000))
        drops_365 = max(0, int(rng.gauss(3_000_000 / rank, 2)))
        drops = (
            drops_365 * rng.randint(5, 12) // 100,
            drops_365 * rng.randint(20, 30) // 100,
            drops_365 * rng.randint(45, 55) // 100,
            drops_365,
        )
        p.sales_rank_drops = drops if drops_365 else (-1, -1, -1, -1)

        in_deal = rng.random() < DEAL_SHARE
        if fresh:
            deal_since = now
        elif rng.random() < 0.3:
            deal_since = p.last_update
        else:
            deal_since = p.last_update - rng.randint(1, 4 * DAY)
        cheap = self._generate_offers(rng, p, in_deal, deal_since)
        now_values, shippings = derive(p.offers)
        before_values = derive(o for o in p.offers if o is not cheap)[0] if in_deal else now_values

        start = now - KEEP_MINUTES - rng.randint(0, 10 * DAY)
        start = max(start, p.tracking_since)
        for t in OFFER_TYPES:
            value = now_values[t]
            if value < 0 and t not in ALWAYS_TRACKED and rng.random() < 0.75:
                continue  # never tracked: Keepa reports avg -2 for it
            affected = in_deal and value != before_values[t]
            since = deal_since if affected else p.last_update - rng.randint(0, 30 * DAY)
            since = max(since, start + DAY)
            level = before_values[t]
            self._synthesize(rng, p, t, level, value, shippings.get(t, 0), start, since)
        self._synthesize_rank(rng, p, rank, start)
        p.hist[LISTPRICE] = history((start, p.list_price))
        p.cur[LISTPRICE] = p.list_price
        p.since[LISTPRICE] = start
        p.last_rating_update = p.last_update - rng.randint(0, 3 * DAY)
        if rating >= 0:
            earlier = max(0, min(50, rating + rng.choice((-1, 0, 0, 1))))
            p.hist[RATING] = history((start, earlier, p.last_rating_update - DAY, rating))
            p.hist[COUNT_REVIEWS] = history(
                (start, reviews * 8 // 10, p.last_rating_update, reviews)
            )
            p.cur[RATING], p.cur[COUNT_REVIEWS] = rating, reviews
            p.since[RATING] = p.last_rating_update - DAY
            p.since[COUNT_REVIEWS] = p.last_rating_update
            p.prev[RATING], p.prev[COUNT_REVIEWS] = earlier, reviews * 8 // 10
            p.delta_last[COUNT_REVIEWS] = reviews * 8 // 10 - reviews
            p.delta_last[RATING] = earlier - rating
        price_times = [
            p.since[t] for t in OFFER_TYPES if t not in COUNT_TYPES and p.hist[t] is not None
        ]
        p.last_price_change = max(price_times, default=p.last_update)
        p.creation_date = p.last_price_change
        p.last_offers_update = p.last_update
        for offer in p.offers:
            if offer.live:
                offer.last_seen = p.last_update
        self._register(p, rng, now, fresh)
        return p

    def _synthesize(
        self,
        rng: random.Random,
        p: Product,
        t: int,
        level: int,
        value: int,
        shipping: int,
        start: int,
        since: int,
    ) -> None:
        """Make up the history of type ``t`` that ends at ``value`` from ``since`` on."""
        step = step_of(t)
        hist: list[int] = []
        moment = start
        counting = t in COUNT_TYPES
        if level < 0 and not counting:
            # No offer now: show an earlier stretch with offers, so "back in stock" can happen.
            level = int(p.reference_price * rng.uniform(0.9, 1.4)) if rng.random() < 0.5 else -1
        rand = rng.random
        while moment < since:
            if counting:
                point = max(0, level + int(rand() * 5) - 2)
            elif level < 0:
                point = -1
            else:
                point = max(1, int(level * (0.88 + 0.27 * rand())))
            if step == 3:
                ship = shipping if point > shipping else 0
                hist += [moment, point - ship, ship] if point >= 0 else [moment, -1, -1]
            else:
                hist += [moment, point]
            moment += int((3 + 15 * rand()) * DAY)
        previous = value_of(hist, len(hist) - step, step) if hist else -1
        if step == 3:
            hist += [since, value - shipping, shipping] if value >= 0 else [since, -1, -1]
        else:
            hist += [since, value]
        p.hist[t] = history(hist)
        p.cur[t] = value
        p.since[t] = since
        p.prev[t] = previous
        p.delta_last[t] = previous - value if previous >= 0 and value >= 0 else 0

    def _synthesize_rank(self, rng: random.Random, p: Product, rank: int, start: int) -> None:
        hist: list[int] = []
        moment = start
        since = p.last_update - rng.randint(0, 2 * DAY)
        rand = rng.random
        while moment < since:
            hist += [moment, max(1, int(rank * math.exp(0.7 * (rand() - 0.5))))]
            moment += int((1 + 5 * rand()) * DAY)
        previous = hist[-1] if hist else -1
        hist += [since, rank]
        p.hist[SALES] = history(hist)
        p.cur[SALES] = rank
        p.since[SALES] = since
        p.prev[SALES] = previous
        p.delta_last[SALES] = previous - rank if previous >= 0 else 0

    def _new_offer(
        self,
        rng: random.Random,
        p: Product,
        condition: int,
        landed: int,
        seen: int,
        *,
        taken: set[str],
        fba: bool | None = None,
    ) -> Offer:
        seller_id = rng.choice(self._seller_pool)
        while seller_id in taken:
            seller_id = rng.choice(self._seller_pool)
        taken.add(seller_id)
        is_fba = rng.random() < 0.3 if fba is None else fba
        shipping = 0 if is_fba or landed <= MERCHANT_SHIPPING + 100 else MERCHANT_SHIPPING
        comment = None
        if condition > 1 and rng.random() < 0.6:
            comment = rng.choice(catalog.USED_COMMENTS)
        offer = Offer(
            p.next_offer_id,
            seller_id,
            condition,
            _cents(landed - shipping),
            shipping,
            seen,
            is_fba=is_fba,
            comment=comment,
        )
        return p.add_offer(offer)

    def _generate_offers(
        self, rng: random.Random, p: Product, in_deal: bool, deal_since: int
    ) -> Offer | None:
        """Give ``p`` live and past offers; return the offer that makes its deal, if any."""
        ref = p.reference_price
        first_seen = p.last_update - rng.randint(5 * DAY, 60 * DAY)
        taken: set[str] = set()
        main_is_used = p.main_type == USED

        def condition() -> int:
            if not main_is_used:
                return 1
            return rng.choices(USED_CONDITIONS, USED_CONDITION_WEIGHTS)[0]

        target = ref * rng.uniform(*DEEP_DROP) if in_deal else ref * rng.uniform(0.85, 1.05)
        cheap = self._new_offer(rng, p, condition(), int(target), first_seen, taken=taken)
        if in_deal:
            before = _cents(ref * rng.uniform(0.95, 1.3))
            cheap.csv = [
                first_seen,
                before,
                cheap.shipping,
                deal_since,
                cheap.price,
                cheap.shipping,
            ]
        for _ in range(rng.randint(1, 11)):
            landed = ref * rng.uniform(0.9, 1.8) if in_deal else target * rng.uniform(1.0, 1.7)
            seen = first_seen + rng.randint(0, 4 * DAY)
            self._new_offer(rng, p, condition(), int(landed), seen, taken=taken)
        if main_is_used:
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 4)):
                    self._new_offer(
                        rng, p, 1, int(ref * rng.uniform(1.3, 2.6)), first_seen, taken=taken
                    )
            if rng.random() < 0.12:
                self._amazon_offer(p, int(ref * rng.uniform(1.4, 2.0)), first_seen)
        else:
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 3)):
                    landed = int(ref * rng.uniform(0.55, 0.95))
                    self._new_offer(
                        rng, p, rng.choice(USED_CONDITIONS), landed, first_seen, taken=taken
                    )
            if rng.random() < 0.4:
                self._amazon_offer(p, int(ref * rng.uniform(1.0, 1.2)), first_seen)
        if rng.random() < 0.04:
            offer = Offer(
                p.next_offer_id,
                WAREHOUSE_SELLER_ID,
                rng.choice(USED_CONDITIONS),
                _cents(ref * rng.uniform(0.6, 0.9)),
                0,
                first_seen,
                is_fba=True,
                is_warehouse=True,
                comment="Item will come in original packaging. Packaging may be damaged.",
            )
            p.add_offer(offer)
        for _ in range(rng.choice((0, 0, 1, 2, 4))):
            seen = first_seen - rng.randint(1, 60 * DAY)
            offer = self._new_offer(
                rng, p, condition(), int(ref * rng.uniform(0.7, 1.5)), seen, taken=taken
            )
            offer.live = False
            offer.csv[0] = seen - rng.randint(0, 30 * DAY)
        return cheap if in_deal else None

    def _amazon_offer(self, p: Product, price: int, seen: int) -> None:
        p.add_offer(
            Offer(p.next_offer_id, AMAZON_SELLER_ID, 1, _cents(price), 0, seen, is_amazon=True)
        )

    # --- evolution -------------------------------------------------------------------------

    def advance_to(self, minute: int) -> int:
        """Apply the events of every minute up to ``minute``; return how many were applied."""
        applied = 0
        while self.minute < minute:
            self.minute += 1
            applied += self._run_minute(self.minute)
        return applied

    def _run_minute(self, minute: int) -> int:
        crawls = self._crawls
        events = 0
        while crawls and crawls[0][0] <= minute:
            _, index = heapq.heappop(crawls)
            product = self.products[index]
            if not self.quiet:
                # A re-crawl finds nothing new; it only moves lastUpdate, which is what keeps a
                # product inside /deal's 12-hour window.
                product.touch(minute)
                self.unwarmed[product.asin] = product
                events += 1
            heapq.heappush(crawls, (minute + product.crawl_interval, index))
        if self.quiet or not self.products:
            return events
        rng = random.Random(self.seed * 1_000_003 + minute)
        spread = max(1, self.changes_per_minute // 4)
        count = max(0, self.changes_per_minute + rng.randint(-spread, spread))
        for _ in range(count):
            if rng.random() < 0.012:
                self._generate_product(rng, minute, fresh=True)
            else:
                product = self.products[rng.randrange(len(self.products))]
                self._random_change(rng, product, minute)
                self.unwarmed[product.asin] = product
            events += 1
        return events

    def _random_change(self, rng: random.Random, p: Product, now: int) -> None:
        ref = p.reference_price
        offers = sorted(p.main_offers(), key=lambda o: (o.landed, o.offer_id))
        main_condition = 1 if p.main_type == NEW else None
        roll = rng.random()
        if not offers:
            # Back in stock: a seller lists again, sometimes cheaply.
            share = rng.uniform(*DEEP_DROP) if roll < 0.5 else rng.uniform(0.9, 1.3)
            self._list_offer(rng, p, main_condition, int(ref * share), now)
        elif p.in_deal():
            lowest = offers[0]
            if roll < 0.2:
                lowest.reprice(*self._recovered(rng, lowest, ref), now)
            elif roll < 0.4:
                p.retire(lowest)  # sold, or withdrawn
            elif roll < 0.6:
                floor = ref * 0.15
                price = max(int(floor), int(lowest.landed * rng.uniform(0.88, 0.97)))
                if rng.random() < 0.5:
                    lowest.reprice(_cents(price - lowest.shipping), lowest.shipping, now)
                else:
                    self._list_offer(rng, p, main_condition, price, now)
            elif roll < 0.75 and len(p.live_offers()) < MAX_LIVE_OFFERS:
                self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
            elif roll < 0.88 and len(offers) > 1:
                p.retire(rng.choice(offers[1:]))
            else:
                self._move_rank(rng, p, now)
                return
        elif roll < 0.6:
            # A deal appears: the lowest seller cuts the price, or another seller undercuts.
            price = int(ref * rng.uniform(*DEEP_DROP))
            if rng.random() < 0.4:
                lowest = offers[0]
                lowest.reprice(_cents(price - lowest.shipping), lowest.shipping, now)
            else:
                self._list_offer(rng, p, main_condition, price, now)
        elif roll < 0.75 and len(p.live_offers()) < MAX_LIVE_OFFERS:
            self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
        elif roll < 0.88:
            p.retire(rng.choice(offers))
        else:
            self._move_rank(rng, p, now)
            return
        p.refresh_offers(now)

    @staticmethod
    def _recovered(rng: random.Random, offer: Offer, ref: int) -> tuple[int, int]:
        return _cents(ref * rng.uniform(0.9, 1.25) - offer.shipping), offer.shipping

    def _list_offer(
        self, rng: random.Random, p: Product, condition: int | None, landed: int, now: int
    ) -> Offer:
        """A seller without a live offer on ``p`` lists one (reviving its old offer if any)."""
        if condition is None:
            condition = rng.choices(USED_CONDITIONS, USED_CONDITION_WEIGHTS)[0]
        taken = {o.seller_id for o in p.offers if o.live}
        offer = self._new_offer(rng, p, condition, landed, now, taken=taken)
        return offer

    def _move_rank(self, rng: random.Random, p: Product, now: int) -> None:
        rank = p.cur[SALES]
        if rank > 0:
            p.record(
                SALES, max(1, min(5_000_000, int(rank * math.exp(rng.gauss(0, 0.35))))), 0, now
            )
        p.touch(now)

    # --- control operations ------------------------------------------------------------------

    def set_offer(
        self,
        asin: str,
        seller_id: str,
        price: int,
        shipping: int,
        condition: int,
        is_fba: bool,
        now: int,
    ) -> Product:
        p = self.by_asin[asin]
        self.ensure_seller(seller_id)
        # One offer per seller and product: the seller's live offer, else its latest past one.
        mine = [o for o in p.offers if o.seller_id == seller_id]
        offer = max(mine, key=lambda o: (o.live, o.last_seen, o.offer_id), default=None)
        if offer is None:
            offer = p.add_offer(
                Offer(
                    p.next_offer_id,
                    seller_id,
                    condition,
                    price,
                    shipping,
                    now,
                    is_fba=is_fba,
                    is_amazon=seller_id == AMAZON_SELLER_ID,
                    is_warehouse=seller_id == WAREHOUSE_SELLER_ID,
                )
            )
        else:
            offer.live = True
            for other in mine:
                if other is not offer and other.live:
                    p.retire(other)
            offer.is_fba = is_fba
            offer.condition = condition
            offer.reprice(price, shipping, now)
        p.refresh_offers(now)
        return p

    def remove_offer(self, asin: str, seller_id: str, now: int) -> Product:
        p = self.by_asin[asin]
        for offer in p.offers:
            if offer.live and offer.seller_id == seller_id:
                p.retire(offer)
        p.refresh_offers(now)
        return p

    def add_product(self, spec: dict, now: int) -> Product:
        """Add a product usually sold at ``reference_price`` that now sells at ``price``."""
        self._added += 1
        rng = random.Random(f"{self.seed}:added:{self._added}")
        root = int(spec.get("root_category", spec.get("category", BOOKS)))
        if root not in catalog.ROOT_NAMES:
            raise ValueError(f"root_category must be one of {sorted(catalog.ROOT_NAMES)}")
        asin = spec.get("asin") or self._unique_asin(rng, root)
        if asin in self.by_asin:
            raise ValueError(f"ASIN {asin} already exists")
        condition = int(spec.get("condition", 2 if root == BOOKS else 1))
        reference = int(spec.get("reference_price", 6000))
        # By default a deal for the app's default query: 60 % below its usual price.
        deal = bool(spec.get("deal", True))
        price = int(spec.get("price", reference * 4 // 10 if deal else reference))
        shipping = int(spec.get("shipping", 0))
        p = Product(asin)
        p.root = root
        p.title = spec.get("title") or catalog.make_title(rng, root)
        sub = catalog.SUBCATEGORIES[root][0]
        p.categories = tuple(int(c) for c in spec.get("categories", (sub[0],)))
        p.category_tree = ((root, catalog.ROOT_NAMES[root]), sub)
        p.image = catalog.make_image(rng)
        p.main_type = NEW if condition == 1 else USED
        p.author = catalog.make_author(rng) if root == BOOKS else None
        p.binding = "Paperback" if root == BOOKS else "Toy"
        p.manufacturer = "Penguin"
        p.pages = 320
        p.ean = "978" + "".join(str(rng.randrange(10)) for _ in range(10))
        p.package_weight = 400
        p.fba_fee = 344
        p.publication_date = 20190101
        p.tracking_since = now - 400 * DAY
        p.listed_since = now - 500 * DAY
        p.reference_price = reference
        p.list_price = reference * 2 // 100 * 100 + 99
        p.sales_rank_drops = (3, 9, 18, 40)
        p.last_update = now
        start = now - KEEP_MINUTES
        taken = {str(spec.get("seller_id", ""))}
        for _ in range(2):
            self._new_offer(
                rng, p, condition, int(reference * rng.uniform(1.0, 1.3)), start, taken=taken
            )
        usual, usual_shipping = derive(p.offers)
        for t in OFFER_TYPES:
            if usual[t] >= 0 or t in ALWAYS_TRACKED:
                self._synthesize(
                    rng, p, t, usual[t], usual[t], usual_shipping.get(t, 0), start, start + DAY
                )
        rank = int(spec.get("sales_rank", 250_000))
        p.hist[SALES] = history((start, rank))
        p.cur[SALES], p.since[SALES] = rank, start
        rating = int(spec.get("rating", 45))
        p.hist[RATING] = history((start, rating))
        p.hist[COUNT_REVIEWS] = history((start, 120))
        p.cur[RATING], p.cur[COUNT_REVIEWS] = rating, 120
        p.since[RATING] = p.since[COUNT_REVIEWS] = start
        p.hist[LISTPRICE] = history((start, p.list_price))
        p.cur[LISTPRICE], p.since[LISTPRICE] = p.list_price, start
        p.last_rating_update = start
        p.last_price_change = p.creation_date = start + DAY
        seller_id = str(spec.get("seller_id") or rng.choice(self._seller_pool))
        self.ensure_seller(seller_id)
        p.add_offer(
            Offer(
                p.next_offer_id,
                seller_id,
                condition,
                price,
                shipping,
                now,
                is_fba=bool(spec.get("is_fba", False)),
            )
        )
        p.refresh_offers(now)
        self._register(p, rng, now, fresh=True)
        return p

    def refresh(self, p: Product, now: int) -> None:
        """Keepa re-reads the product (the /product ``update`` parameter): nothing changes but
        the update times."""
        for offer in p.offers:
            if offer.live:
                offer.last_seen = now
        p.last_offers_update = now
        p.touch(now)

    def warm(self, limit: int) -> int:
        """Build the deal views (and their JSON) of up to ``limit`` changed products ahead of
        the requests that will list them; return how many are left."""
        oldest = self.minute - 720
        for _ in range(min(limit, len(self.unwarmed))):
            _, product = self.unwarmed.popitem()
            if product.last_update >= oldest:
                product.deal_view().json()
        return len(self.unwarmed)

    def listed(self, now: int, window: int = 720) -> Iterable[DealView]:
        """Deal views of the products updated within the last ``window`` minutes."""
        oldest = now - window
        for p in self.products:
            if p.last_update >= oldest:
                yield p.deal_view()


# Pristine markets by (seed, products, changes per minute). A reset or a clock change copies one
# instead of generating the catalogue again (seconds at 6,000 products). They start late enough
# that every time in them is positive: -1 marks "no time" and must not be shifted.
# Large markets are not kept: a second copy would double the memory of a benchmark run.
_TEMPLATES: dict[tuple[int, int, int], Market] = {}
_TEMPLATE_LOCK = threading.Lock()
TEMPLATE_MAX_PRODUCTS = 10_000
TEMPLATE_GENESIS = 10_000_000  # a Keepa minute in 2030


def build_market(
    *, seed: int, products: int, changes_per_minute: int, genesis: int, again: bool = True
) -> Market:
    """The initial market for ``seed``, started at Keepa minute ``genesis``.

    ``again``: expect to build it again (a reset), so keep a pristine copy to build from.
    """
    key = (seed, products, changes_per_minute)
    with _TEMPLATE_LOCK:
        template = _TEMPLATES.get(key)
        if template is None:
            if products > TEMPLATE_MAX_PRODUCTS or not again:
                return Market(
                    seed=seed,
                    products=products,
                    changes_per_minute=changes_per_minute,
                    genesis=genesis,
                )
            template = Market(
                seed=seed,
                products=products,
                changes_per_minute=changes_per_minute,
                genesis=TEMPLATE_GENESIS,
            )
            _TEMPLATES[key] = template
    return template.shifted(genesis)
