"""Keepa's wire format for products, offers, stats and sellers, built from the market.

Written independently of the client's parsing code on purpose: each checks the other. Objects
follow the newer (Sept 2025 on) serialization: keys in alphabetical order, fields whose value
would be null left out (null entries inside arrays stay, as in ``csv``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from keepa_simulator import catalog
from keepa_simulator.product import Offer, Product, Seller, used_buy_box
from keepa_simulator.series import (
    AMAZON,
    BUY_BOX_SHIPPING,
    CSV_LENGTH,
    DAY,
    EXTRA_TYPES,
    LISTPRICE,
    NEW,
    SALES,
    USED,
    averages,
    out_of_stock_percents,
    rank_past,
    scan,
    step_of,
    trim,
)

ONLY_WITH_RATING = frozenset((16, 17))
PRODUCT_GROUPS = {
    catalog.BOOKS: ("Book", "ABIS_BOOK", "books"),
    catalog.MOVIES: ("DVD", "ABIS_DVD", "movies"),
    catalog.MUSIC: ("Music", "ABIS_MUSIC", "music"),
    catalog.VIDEO_GAMES: ("Video Games", "VIDEO_GAME", "video-games"),
    catalog.TOYS: ("Toy", "TOY_FIGURE", "toys"),
}
# stats.outOfStockPercentage* are reported for these types (as in the 2026 sample).
STOCK_TYPES = (AMAZON, NEW, USED, LISTPRICE)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop null fields, as Keepa's newer serialization does."""
    return {k: v for k, v in obj.items() if v is not None}


@dataclass(frozen=True)
class ProductOptions:
    offers: int | None = None  # 20..100, or None for no offers
    only_live_offers: bool = False
    stats_start: int | None = None  # Keepa minutes; None: no stats
    stats_end: int | None = None
    history: bool = True
    days: int | None = None
    buybox: bool = False
    rating: bool = False


def product_json(p: Product, now: int, opt: ProductOptions) -> tuple[dict, int]:
    """The Product object, and how many live offers it carries (for the token cost)."""
    group, kind, keyword = PRODUCT_GROUPS[p.root]
    live = sorted(p.live_offers(), key=lambda o: (o.landed, o.offer_id))
    has_amazon = any(o.is_amazon for o in live)
    obj: dict[str, Any] = {
        "asin": p.asin,
        "author": p.author,
        "availabilityAmazon": 0 if has_amazon else -1,
        "binding": p.binding,
        "brand": p.manufacturer,
        "categories": list(p.categories),
        "categoryTree": [{"catId": cat_id, "name": name} for cat_id, name in p.category_tree],
        "domainId": 1,
        "eanList": [p.ean],
        "fbaFees": {"lastUpdate": p.last_offers_update, "pickAndPackFee": p.fba_fee},
        "hasReviews": p.cur[17] > 0,
        "images": [{"l": p.image, "lH": 1500, "lW": 1000, "m": p.image, "mH": 500, "mW": 333}],
        "imagesCSV": p.image,
        "isAdultProduct": p.adult,
        "isEligibleForSuperSaverShipping": True,
        "isEligibleForTradeIn": False,
        "isRedirectASIN": False,
        "isSNS": False,
        "itemTypeKeyword": keyword,
        "lastPriceChange": p.last_price_change,
        "lastRatingUpdate": p.last_rating_update,
        "lastUpdate": p.last_update,
        "listedSince": p.listed_since,
        "manufacturer": p.manufacturer,
        "numberOfItems": 1,
        "numberOfPages": p.pages,
        "offersSuccessful": opt.offers is not None,
        "packageWeight": p.package_weight,
        "productGroup": group,
        "productType": 0,
        "publicationDate": p.publication_date,
        "referralFeePercent": 15,
        "referralFeePercentage": 15.0,
        "rootCategory": p.root,
        "salesRankReference": p.root,
        "title": p.title,
        "trackingSince": p.tracking_since,
        "type": kind,
    }
    cutoff = now - opt.days * DAY if opt.days else None
    if opt.history:
        obj["csv"] = _csv(p, opt, cutoff)
        ranks = _rank_history(p)
        if ranks is not None:
            obj["csv"][SALES] = _cut(ranks, 2, cutoff)
            obj["salesRanks"] = {str(p.root): obj["csv"][SALES]}
    fetched: list[Offer] = []
    if opt.offers is not None:
        fetched = live[: opt.offers]
        shown = set(map(id, fetched))
        if not opt.only_live_offers:
            shown.update(id(o) for o in p.offers if not o.live)
        listed = [o for o in p.offers if id(o) in shown]
        obj["offers"] = [_offer_json(o, cutoff) for o in listed]
        position = {id(o): i for i, o in enumerate(listed)}
        obj["liveOffersOrder"] = [position[id(o)] for o in fetched]
        counts = [0] * 8
        for o in live:
            if o.is_new or o.condition in (2, 3, 4, 5):
                slot = (0 if o.is_new else 2) + (0 if o.is_fba or o.is_amazon else 1)
                counts[slot] += 1
        obj["buyBoxEligibleOfferCounts"] = counts
    if opt.stats_start is not None:
        end = opt.stats_end if opt.stats_end is not None else now
        obj["stats"] = _stats(p, opt.stats_start, end, fetched if opt.offers is not None else None)
    return compact(obj), len(fetched)


def _cut(hist: list[int], step: int, cutoff: int | None) -> list[int]:
    return list(trim(hist, step, cutoff) if cutoff is not None else hist)


def _rank_history(p: Product) -> list[int] | None:
    """The sales rank as Keepa keeps it, years back: the market's recent window, preceded by
    the seasonal past derived from the ASIN (series.rank_past)."""
    recent = p.hist[SALES]
    if recent is None or len(recent) < 2:
        return None if recent is None else list(recent)
    typical = sorted(recent[1::2])[len(recent) // 4]
    return rank_past(p.asin, recent[0], typical) + list(recent)


def _csv(p: Product, opt: ProductOptions, cutoff: int | None) -> list[list[int] | None]:
    csv: list[list[int] | None] = [None] * CSV_LENGTH
    with_offers = opt.offers is not None
    for t, hist in enumerate(p.hist):
        if hist is None:
            continue
        asked = (t in ONLY_WITH_RATING and opt.rating) or (t == BUY_BOX_SHIPPING and opt.buybox)
        if t in EXTRA_TYPES and not with_offers and not asked:
            continue
        csv[t] = _cut(hist, step_of(t), cutoff)
    return csv


def _offer_json(o: Offer, cutoff: int | None) -> dict:
    return compact(
        {
            "condition": o.condition,
            "conditionComment": o.comment,
            "isAddonItem": False,
            "isAmazon": o.is_amazon,
            "isFBA": o.is_fba,
            "isMAP": False,
            "isPreorder": False,
            "isPrime": o.is_fba or o.is_amazon,
            "isPrimeExcl": False,
            "isScam": False,
            "isShippable": True,
            "isWarehouseDeal": o.is_warehouse,
            "lastSeen": o.last_seen,
            "lastStockUpdate": 0,
            "minOrderQty": 1,
            "offerCSV": _cut(o.csv, 3, cutoff),
            "offerId": o.offer_id,
            "sellerId": o.seller_id,
            "shipsFromChina": False,
        }
    )


def _stats(p: Product, start: int, end: int, fetched: list[Offer] | None) -> dict:
    interval = max(1, end - start)
    windows = (interval, 30 * DAY, 90 * DAY, 180 * DAY, 365 * DAY)
    order = sorted(range(len(windows)), key=lambda k: windows[k])
    names = ("avg", "avg30", "avg90", "avg180", "avg365")
    arrays: dict[str, list] = {name: [-1] * CSV_LENGTH for name in names}
    at_start = [-1] * CSV_LENGTH
    lows: list[list[int] | None] = [None] * CSV_LENGTH
    highs: list[list[int] | None] = [None] * CSV_LENGTH
    lows_in: list[list[int] | None] = [None] * CSV_LENGTH
    highs_in: list[list[int] | None] = [None] * CSV_LENGTH
    lowest = [False] * CSV_LENGTH
    lowest90 = [False] * CSV_LENGTH
    stock = {name: [-1] * CSV_LENGTH for name in ("In", "30", "90", "180", "365")}
    current = [-1] * CSV_LENGTH
    for t, hist in enumerate(p.hist):
        if hist is None:
            continue
        step = step_of(t)
        c = p.cur[t]
        current[t] = c
        values = averages(hist, step, end, tuple(windows[k] for k in order))
        for k, value in zip(order, values, strict=True):
            arrays[names[k]][t] = value
        at_start[t], low, high, low_in, high_in, low90 = scan(
            hist, step, start, end, end - 90 * DAY
        )
        lows[t] = list(low) if low else None
        highs[t] = list(high) if high else None
        lows_in[t] = list(low_in) if low_in else None
        highs_in[t] = list(high_in) if high_in else None
        lowest[t] = c >= 0 and low is not None and c <= low[1]
        lowest90[t] = c >= 0 and low90 is not None and c <= low90[1]
        if t in STOCK_TYPES:
            widths = (interval, *windows[1:])
            percents = out_of_stock_percents(hist, step, end, widths)
            for name, percent in zip(stock, percents, strict=True):
                stock[name][t] = percent
    live = [o for o in p.offers if o.live]
    obj: dict[str, Any] = {
        "atIntervalStart": at_start,
        "current": current,
        "isLowest": lowest,
        "isLowest90": lowest90,
        "lastOffersUpdate": p.last_offers_update,
        "max": highs,
        "maxInInterval": highs_in,
        "min": lows,
        "minInInterval": lows_in,
        "outOfStockCountAmazon30": _out_of_stock_count(p, end - 30 * DAY, end),
        "outOfStockCountAmazon90": _out_of_stock_count(p, end - 90 * DAY, end),
        "outOfStockPercentageInInterval": stock["In"],
        "outOfStockPercentage30": stock["30"],
        "outOfStockPercentage90": stock["90"],
        "outOfStockPercentage180": stock["180"],
        "outOfStockPercentage365": stock["365"],
        "salesRankDrops30": p.sales_rank_drops[0],
        "salesRankDrops90": p.sales_rank_drops[1],
        "salesRankDrops180": p.sales_rank_drops[2],
        "salesRankDrops365": p.sales_rank_drops[3],
        "totalOfferCount": len(live),
        "tradeInPrice": -2,
        **arrays,
    }
    if fetched is None:
        obj.update(
            buyBoxPrice=-2,
            buyBoxShipping=-2,
            offerCountFBA=-2,
            offerCountFBM=-2,
            retrievedOfferCount=-2,
        )
        return compact(obj)
    new = [o for o in live if o.is_new]
    used = [o for o in live if not o.is_new]
    fba = [o for o in new if o.is_fba and not o.is_amazon]
    fbm = [o for o in new if not o.is_fba and not o.is_amazon]
    obj.update(
        retrievedOfferCount=len(fetched),
        offerCountFBA=len(fba),
        offerCountFBM=len(fbm),
        sellerIdsLowestFBA=_lowest_sellers(fba),
        sellerIdsLowestFBM=_lowest_sellers(fbm),
        lastBuyBoxUpdate=p.last_offers_update,
    )
    amazon = next((o for o in new if o.is_amazon), None)
    box = amazon or min(new, key=lambda o: (o.landed, o.offer_id), default=None)
    if box is None:
        obj.update(buyBoxPrice=-1, buyBoxShipping=-1)
    else:
        obj.update(
            buyBoxPrice=box.price,
            buyBoxShipping=box.shipping,
            buyBoxSellerId=box.seller_id,
            buyBoxIsAmazon=box.is_amazon,
            buyBoxIsFBA=box.is_fba,
            buyBoxIsUsed=False,
            buyBoxCondition=1,
            buyBoxIsPrimeEligible=box.is_fba or box.is_amazon,
            buyBoxIsShippable=True,
            buyBoxIsWarehouseDeal=False,
        )
    used_box = used_buy_box(used, p.profile, p.asin)  # the holder of type 32 (product.used_buy_box)
    if used_box is not None:
        obj.update(
            buyBoxUsedPrice=used_box.price,
            buyBoxUsedShipping=used_box.shipping,
            buyBoxUsedSellerId=used_box.seller_id,
            buyBoxUsedCondition=used_box.condition,
            buyBoxUsedIsFBA=used_box.is_fba,
        )
    return compact(obj)


def _lowest_sellers(offers: list[Offer]) -> list[str] | None:
    if not offers:
        return None
    low = min(o.landed for o in offers)
    return [o.seller_id for o in offers if o.landed == low]


def _out_of_stock_count(p: Product, start: int, end: int) -> int:
    hist = p.hist[AMAZON]
    if hist is None:
        return 0
    return sum(1 for i in range(0, len(hist), 2) if start <= hist[i] <= end and hist[i + 1] < 0)


def seller_json(seller: Seller, now: int) -> dict:
    # A stable pseudo-random age for the seller's last update, from its id (no hash(): that
    # changes between processes).
    jitter = sum(map(ord, seller.seller_id))
    last_update = now - jitter % 600
    rating_update = last_update - jitter % 1440
    count = seller.rating_count
    recent = seller.ratings_last_30_days
    positive = seller.rating
    negative = max(0, (100 - positive) * 2 // 3)
    neutral = 100 - positive - negative
    counts = [recent, recent * 3, recent * 12, count]
    return compact(
        {
            "csv": [
                [seller.tracked_since, max(0, positive - 2), rating_update, positive],
                [seller.tracked_since, count * 7 // 10, rating_update, count],
            ],
            "currentRating": positive,
            "currentRatingCount": count,
            "domainId": 1,
            "hasFBA": seller.has_fba,
            "isScammer": False,
            "lastRatingUpdate": rating_update,
            "lastUpdate": last_update,
            "negativeRating": [negative] * 4,
            "neutralRating": [neutral] * 4,
            "positiveRating": [positive] * 4,
            "ratingCount": counts,
            "ratingsLast30Days": recent,
            "sellerId": seller.seller_id,
            "sellerName": seller.name,
            "shipsFromChina": False,
            "trackedSince": seller.tracked_since,
        }
    )


def product_summary(p: Product) -> dict:
    """What the control API reports after changing a product (not a Keepa object)."""
    return {
        "asin": p.asin,
        "title": p.title,
        "current": p.cur[:34],
        "lastUpdate": p.last_update,
        "lastPriceChange": p.last_price_change,
        "creationDate": p.creation_date,
        "liveOffers": [
            {
                "sellerId": o.seller_id,
                "price": o.price,
                "shipping": o.shipping,
                "condition": o.condition,
                "isFBA": o.is_fba,
            }
            for o in sorted(p.live_offers(), key=lambda o: (o.landed, o.offer_id))
        ],
    }


def offer_pages(live_offers: int) -> int:
    """Offer pages charged: 6 tokens per page of up to 10 offers (docs/keepa.md §5.2). A product
    with no live offer still costs one page: Keepa did the offer lookup."""
    return max(1, math.ceil(live_offers / 10))
