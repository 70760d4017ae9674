"""The market changes the control API stages (``/_sim/offer``, ``/_sim/remove_offer``,
``/_sim/product``): deterministic edits, unlike the random evolution in ``market``."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from keepa_simulator import catalog, generate
from keepa_simulator.catalog import AMAZON_SELLER_ID, BOOKS, WAREHOUSE_SELLER_ID
from keepa_simulator.generate import ALWAYS_TRACKED
from keepa_simulator.product import Offer, Product, derive
from keepa_simulator.series import (
    COUNT_REVIEWS,
    DAY,
    KEEP_MINUTES,
    LISTPRICE,
    NEW,
    OFFER_TYPES,
    RATING,
    SALES,
    USED,
    history,
)

if TYPE_CHECKING:
    from keepa_simulator.market import Market


def set_offer(
    market: Market,
    asin: str,
    seller_id: str,
    price: int,
    shipping: int,
    condition: int,
    is_fba: bool,
    now: int,
) -> Product:
    """Set ``seller_id``'s offer on ``asin`` (adding or reviving it) and return the product."""
    p = market.by_asin[asin]
    market.ensure_seller(seller_id)
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


def remove_offer(market: Market, asin: str, seller_id: str, now: int) -> Product:
    """Take ``seller_id``'s live offers on ``asin`` off the market and return the product."""
    p = market.by_asin[asin]
    for offer in p.offers:
        if offer.live and offer.seller_id == seller_id:
            p.retire(offer)
    p.refresh_offers(now)
    return p


def add_product(market: Market, spec: dict, now: int) -> Product:
    """Add a product usually sold at ``reference_price`` that now sells at ``price``."""
    market.products_added += 1
    rng = random.Random(f"{market.seed}:added:{market.products_added}")
    root = int(spec.get("root_category", spec.get("category", BOOKS)))
    if root not in catalog.ROOT_NAMES:
        raise ValueError(f"root_category must be one of {sorted(catalog.ROOT_NAMES)}")
    asin = spec.get("asin") or generate.unique_asin(market, rng, root)
    if asin in market.by_asin:
        raise ValueError(f"ASIN {asin} already exists")
    condition = int(spec.get("condition", 2 if root == BOOKS else 1))
    reference = int(spec.get("reference_price", 6000))
    # By default a deal for the app's default query: 60 % below its usual price.
    deal = bool(spec.get("deal", True))
    price = int(spec.get("price", reference * 4 // 10 if deal else reference))
    shipping = int(spec.get("shipping", 0))
    p = Product(asin)
    p.profile = market.profile
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
        generate.new_offer(
            market, rng, p, condition, int(reference * rng.uniform(1.0, 1.3)), start, taken=taken
        )
    usual, usual_shipping = derive(p.offers, market.profile, p.asin)
    for t in OFFER_TYPES:
        if usual[t] >= 0 or t in ALWAYS_TRACKED:
            generate.synthesize(
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
    if market.profile.creation_follows_deal_price:
        p.creation_date = p.deal_price_since()
    seller_id = str(spec.get("seller_id") or rng.choice(market.seller_pool))
    market.ensure_seller(seller_id)
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
    market.register(p, rng, now, fresh=True)
    return p
