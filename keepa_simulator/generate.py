"""Catalogue generation: sellers, and products with their offers and about 100 days of made-up
price history, all drawn from the ``random.Random`` the caller passes (never the global one), so
the same draws give the same products."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from keepa_simulator import catalog
from keepa_simulator.catalog import AMAZON_SELLER_ID, BOOKS, WAREHOUSE_SELLER_ID
from keepa_simulator.product import Offer, Product, Seller, derive
from keepa_simulator.series import (
    BUY_BOX_SHIPPING,
    BUY_BOX_USED_SHIPPING,
    COUNT_NEW,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    COUNT_REVIEWS,
    COUNT_TYPES,
    COUNT_USED,
    DAY,
    EXTRA_INFO_UPDATES,
    KEEP_MINUTES,
    LISTPRICE,
    NEW,
    NEW_FBM_SHIPPING,
    OFFER_TYPES,
    RATING,
    SALES,
    USED,
    USED_TYPE_BY_CONDITION,
    history,
    step_of,
    value_of,
)

if TYPE_CHECKING:
    from keepa_simulator.market import Market

DEEP_DROP = (0.28, 0.47)  # a deal's price as a share of the usual price
MERCHANT_SHIPPING = 399  # cents; FBA and Amazon ship free
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


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def cents(value: float) -> int:
    """A price as sellers set it: whole cents, at least one."""
    return max(1, int(value))


def make_sellers(market: Market, rng: random.Random, count: int) -> None:
    """Give ``market`` Amazon, Amazon Warehouse and ``count`` third-party sellers."""
    since = market.genesis - 3000 * DAY
    market.sellers[AMAZON_SELLER_ID] = Seller(
        AMAZON_SELLER_ID, "Amazon.com", 93, 9_000_000, True, since, 0
    )
    market.sellers[WAREHOUSE_SELLER_ID] = Seller(
        WAREHOUSE_SELLER_ID, "Amazon Warehouse", 92, 4_000_000, True, since, 40_000
    )
    while len(market.seller_pool) < count:
        seller_id = catalog.make_seller_id(rng)
        if seller_id in market.sellers:
            continue
        rating_count = int(log_uniform(rng, 20, 400_000))
        market.sellers[seller_id] = Seller(
            seller_id,
            catalog.make_seller_name(rng),
            rng.randint(80, 100),
            rating_count,
            rng.random() < 0.4,
            market.genesis - rng.randint(30, 3000) * DAY,
            int(rating_count * rng.uniform(0.005, 0.05)),
        )
        market.seller_pool.append(seller_id)


def unique_asin(market: Market, rng: random.Random, root: int) -> str:
    for _ in range(100):
        asin = catalog.make_asin(rng, root)
        if asin not in market.by_asin:
            return asin
    raise RuntimeError("could not draw a fresh ASIN")


def new_product(market: Market, rng: random.Random, now: int, *, fresh: bool) -> Product:
    """Draw a product with offers and history and put it on ``market``; ``fresh``: it appears
    now (during the evolution), not at the start."""
    root = catalog.pick_root(rng)
    is_book = root == BOOKS
    p = Product(unique_asin(market, rng, root))
    p.profile = profile = market.profile
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
    if profile.calibrated_moves:
        # Steady state from the start: the product was last re-read some time within its
        # re-crawl interval.
        p.crawl_interval = profile.crawl_interval(rng)
        p.last_update = now if fresh else now - rng.randint(0, p.crawl_interval - 1)
    else:
        p.last_update = now if fresh else now - rng.randint(0, 600)
    if is_book:
        reference = log_uniform(rng, 7000, 15000) if rng.random() < 0.85 else None
        reference = reference or log_uniform(rng, 500, 4000)
    else:
        reference = log_uniform(rng, 800, 9000)
    p.reference_price = int(reference)
    p.list_price = int(reference * rng.uniform(1.3, 2.5)) // 100 * 100 + 99

    rank_low = 30_000 if is_book else 1_000
    rank = int(log_uniform(rng, rank_low, 2_000_000 if is_book else 3_000_000))
    roll = rng.random()
    if roll < 0.06:
        rating, reviews = -1, 0
    elif roll < 0.09:
        rating, reviews = rng.randint(0, 9), rng.randint(1, 5)
    else:
        rating = int(min(50, max(10, rng.gauss(43, 5))))
        reviews = int(log_uniform(rng, 1, 3000))
    drops_365 = max(0, int(rng.gauss(3_000_000 / rank, 2)))
    drops = (
        drops_365 * rng.randint(5, 12) // 100,
        drops_365 * rng.randint(20, 30) // 100,
        drops_365 * rng.randint(45, 55) // 100,
        drops_365,
    )
    p.sales_rank_drops = drops if drops_365 else (-1, -1, -1, -1)

    in_deal = rng.random() < profile.deal_share
    if fresh:
        deal_since = now
    elif rng.random() < (0.05 if profile.calibrated_moves else 0.3):
        deal_since = p.last_update
    else:
        deal_since = p.last_update - rng.randint(1, 4 * DAY)
    cheap = generate_offers(market, rng, p, in_deal, deal_since)
    now_values, shippings = derive(p.offers, profile, p.asin)
    before_values = (
        derive((o for o in p.offers if o is not cheap), profile, p.asin)[0]
        if in_deal
        else now_values
    )

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
        synthesize(rng, p, t, level, value, shippings.get(t, 0), start, since)
    synthesize_rank(rng, p, rank, start)
    p.hist[LISTPRICE] = history((start, p.list_price))
    p.cur[LISTPRICE] = p.list_price
    p.since[LISTPRICE] = start
    p.last_rating_update = p.last_update - rng.randint(0, 3 * DAY)
    if rating >= 0:
        earlier = max(0, min(50, rating + rng.choice((-1, 0, 0, 1))))
        p.hist[RATING] = history((start, earlier, p.last_rating_update - DAY, rating))
        p.hist[COUNT_REVIEWS] = history((start, reviews * 8 // 10, p.last_rating_update, reviews))
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
    p.creation_date = (
        p.deal_price_since() if profile.creation_follows_deal_price else p.last_price_change
    )
    p.last_offers_update = p.last_update
    for offer in p.offers:
        if offer.live:
            offer.last_seen = p.last_update
    market.register(p, rng, now, fresh)
    return p


def generate_offers(
    market: Market, rng: random.Random, p: Product, in_deal: bool, deal_since: int
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
    cheap = new_offer(market, rng, p, condition(), int(target), first_seen, taken=taken)
    if in_deal:
        before = cents(ref * rng.uniform(0.95, 1.3))
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
        new_offer(market, rng, p, condition(), int(landed), seen, taken=taken)
    if main_is_used:
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 4)):
                new_offer(
                    market, rng, p, 1, int(ref * rng.uniform(1.3, 2.6)), first_seen, taken=taken
                )
        if rng.random() < 0.12:
            amazon_offer(p, int(ref * rng.uniform(1.4, 2.0)), first_seen)
    else:
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                landed = int(ref * rng.uniform(0.55, 0.95))
                new_offer(
                    market, rng, p, rng.choice(USED_CONDITIONS), landed, first_seen, taken=taken
                )
        if rng.random() < 0.4:
            amazon_offer(p, int(ref * rng.uniform(1.0, 1.2)), first_seen)
    if rng.random() < 0.04:
        offer = Offer(
            p.next_offer_id,
            WAREHOUSE_SELLER_ID,
            rng.choice(USED_CONDITIONS),
            cents(ref * rng.uniform(0.6, 0.9)),
            0,
            first_seen,
            is_fba=True,
            is_warehouse=True,
            comment="Item will come in original packaging. Packaging may be damaged.",
        )
        p.add_offer(offer)
    for _ in range(rng.choice((0, 0, 1, 2, 4))):
        seen = first_seen - rng.randint(1, 60 * DAY)
        offer = new_offer(
            market, rng, p, condition(), int(ref * rng.uniform(0.7, 1.5)), seen, taken=taken
        )
        offer.live = False
        offer.csv[0] = seen - rng.randint(0, 30 * DAY)
    return cheap if in_deal else None


def new_offer(
    market: Market,
    rng: random.Random,
    p: Product,
    condition: int,
    landed: int,
    seen: int,
    *,
    taken: set[str],
    fba: bool | None = None,
) -> Offer:
    seller_id = rng.choice(market.seller_pool)
    while seller_id in taken:
        seller_id = rng.choice(market.seller_pool)
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
        cents(landed - shipping),
        shipping,
        seen,
        is_fba=is_fba,
        comment=comment,
    )
    return p.add_offer(offer)


def amazon_offer(p: Product, price: int, seen: int) -> None:
    p.add_offer(Offer(p.next_offer_id, AMAZON_SELLER_ID, 1, cents(price), 0, seen, is_amazon=True))


def synthesize(
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


def synthesize_rank(rng: random.Random, p: Product, rank: int, start: int) -> None:
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
