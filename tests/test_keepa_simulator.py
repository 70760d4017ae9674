"""The Keepa simulator over real HTTP on 127.0.0.1, checked against Keepa's documented behaviour
and the real responses in tests/fixtures/keepa."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from keepa_simulator import SimulatorServer, deals
from keepa_simulator.clock import keepa_minute, parse_iso
from keepa_simulator.market import Market, build_market

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "keepa"
DEFAULT_QUERY = json.loads((ROOT / "settings.json").read_text())["deal_query"]
# Every used book deal, no other narrowing: the base the filter tests narrow down.
BOOK_DEALS = {"domainId": 1, "priceTypes": [2], "dateRange": 3, "includeCategories": [283155]}
# 15 s past a minute, so refillIn is a known 45,000 ms.
NOW_ISO = "2026-01-05T12:00:15+00:00"
NOW_MINUTE = keepa_minute(parse_iso(NOW_ISO))
ENVELOPE = {
    "processingTimeInMs",
    "refillIn",
    "refillRate",
    "timestamp",
    "tokenFlowReduction",
    "tokensConsumed",
    "tokensLeft",
}


def fixture(name: str) -> dict:
    (path,) = FIXTURES.glob(f"{name}*")
    return json.loads(path.read_text())


@pytest.fixture
def still(simulator):
    """The simulator with its clock pinned: nothing moves unless a test advances it."""
    simulator.post("/_sim/clock", {"freeze": NOW_ISO})
    return simulator


def deal(sim, query: dict, page: int | None = None, key: str = "demo") -> requests.Response:
    selection = dict(query) if page is None else {**query, "page": page}
    params = {"key": key, "selection": json.dumps(selection)}
    return requests.get(f"{sim.url}/deal", params=params, timeout=30)


def all_deals(sim, query: dict) -> list[dict]:
    found: list[dict] = []
    for page in range(70):
        batch = deal(sim, query, page).json()["deals"]["dr"]
        found += batch
        if len(batch) < 150:
            return found
    raise AssertionError("more than 67 pages")


def product(sim, asins: list[str], key: str = "demo", **params: object) -> requests.Response:
    query = {"key": key, "domain": 1, "asin": ",".join(asins), **params}
    return requests.get(f"{sim.url}/product", params=query, timeout=30)


def token(sim, key: str = "demo") -> dict:
    return requests.get(f"{sim.url}/token", params={"key": key}, timeout=30).json()


def asins(found: list[dict]) -> set[str]:
    return {d["asin"] for d in found}


# --- /deal: paging, filters, sorting, cache ------------------------------------------------------


def test_the_default_query_pages_150_at_a_time_and_the_last_page_is_short(still):
    pages = []
    for page in range(70):
        batch = deal(still, DEFAULT_QUERY, page).json()["deals"]["dr"]
        pages.append(batch)
        if len(batch) < 150:
            break
    sizes = [len(p) for p in pages]
    assert len(sizes) >= 2 and all(n == 150 for n in sizes[:-1]) and sizes[-1] < 150
    everything = [d["asin"] for p in pages for d in p]
    assert len(everything) == len(set(everything)) > 150
    after_the_last = deal(still, DEFAULT_QUERY, len(pages)).json()["deals"]["dr"]
    assert after_the_last == []


def test_every_deal_matches_the_default_query_as_keepa_matched_it(still):
    found = all_deals(still, DEFAULT_QUERY)
    assert len(found) > 150
    for d in found:
        assert d["rootCat"] == 283155
        assert 2000 <= d["current"][2] <= 30100
        assert 1950 <= d["delta"][3][2] <= 9900
        assert d["deltaPercent"][3][2] >= 50
        assert 50_000 <= d["current"][3] <= 1_500_000
        assert d["current"][16] >= 10
        assert NOW_MINUTE - 720 <= d["lastUpdate"] <= NOW_MINUTE


RANGE_CASES = [
    ("currentRange", [3000, 6000], lambda d: d["current"][2]),
    ("deltaRange", [3000, 5000], lambda d: d["delta"][3][2]),
    ("deltaPercentRange", [60, 70], lambda d: d["deltaPercent"][3][2]),
    ("deltaLastRange", [1, 1_000_000], lambda d: d["deltaLast"][2]),
    ("salesRankRange", [100_000, 400_000], lambda d: d["current"][3]),
]


@pytest.mark.parametrize(("field", "span", "value"), RANGE_CASES, ids=[c[0] for c in RANGE_CASES])
def test_a_range_filter_keeps_exactly_the_deals_inside_it(still, field, span, value):
    base = all_deals(still, BOOK_DEALS)
    narrowed = all_deals(still, {**BOOK_DEALS, field: span, "isRangeEnabled": True})
    inside = {d["asin"] for d in base if span[0] <= value(d) <= span[1]}
    assert asins(narrowed) == inside
    assert 0 < len(inside) < len(base)


def test_ranges_apply_only_when_range_options_are_enabled(still):
    base = asins(all_deals(still, BOOK_DEALS))
    switched_off = {**BOOK_DEALS, "currentRange": [3000, 6000], "isRangeEnabled": False}
    assert asins(all_deals(still, switched_off)) == base
    # Lenient like Keepa's own examples: a range without the switch still applies.
    implicit = asins(all_deals(still, {**BOOK_DEALS, "currentRange": [3000, 6000]}))
    assert implicit < base


def test_a_sales_rank_range_without_an_upper_bound_has_no_maximum(still):
    base = all_deals(still, BOOK_DEALS)
    open_ended = all_deals(still, {**BOOK_DEALS, "salesRankRange": [400_000, -1]})
    assert asins(open_ended) == {d["asin"] for d in base if d["current"][3] >= 400_000}


def test_min_rating_drops_lower_rated_deals(still):
    base = all_deals(still, BOOK_DEALS)
    rated = all_deals(still, {**BOOK_DEALS, "minRating": 45, "isFilterEnabled": True})
    assert asins(rated) == {d["asin"] for d in base if d["current"][16] >= 45}
    assert 0 < len(rated) < len(base)


@pytest.mark.parametrize(
    ("flag", "holds"),
    [
        ("mustHaveAmazonOffer", lambda d: d["current"][0] >= 0),
        ("mustNotHaveAmazonOffer", lambda d: d["current"][0] < 0),
        ("hasReviews", lambda d: d["current"][17] > 0),
    ],
)
def test_a_flag_filter_keeps_exactly_the_deals_it_describes(still, flag, holds):
    base = all_deals(still, BOOK_DEALS)
    flagged = all_deals(still, {**BOOK_DEALS, flag: True, "isFilterEnabled": True})
    assert asins(flagged) == {d["asin"] for d in base if holds(d)}
    assert 0 < len(flagged) < len(base)


def test_flags_apply_only_when_filter_options_are_enabled(still):
    base = asins(all_deals(still, BOOK_DEALS))
    off = {**BOOK_DEALS, "mustHaveAmazonOffer": True, "isFilterEnabled": False}
    assert asins(all_deals(still, off)) == base


def test_filter_erotic_removes_adult_products(still):
    base = all_deals(still, {"domainId": 1, "priceTypes": [2], "dateRange": 3})
    clean = all_deals(
        still, {"domainId": 1, "priceTypes": [2], "dateRange": 3, "filterErotic": True}
    )
    adult = {d["asin"] for d in base if still.market.by_asin[d["asin"]].adult}
    assert adult and asins(clean) == asins(base) - adult


def test_is_lowest_keeps_deals_at_their_lowest_price_ever(still):
    lowest = all_deals(still, {**BOOK_DEALS, "isLowest": True})
    assert lowest
    asked = [d["asin"] for d in lowest[:20]]
    history = {p["asin"]: p["csv"][2] for p in product(still, asked).json()["products"]}
    for d in lowest[:20]:
        csv = history[d["asin"]]
        assert d["current"][2] <= min(v for v in csv[1::2] if v >= 0)


def test_categories_include_roots_and_directly_listed_sub_categories(still):
    every = {"domainId": 1, "priceTypes": [2], "dateRange": 3}
    books = all_deals(still, {**every, "includeCategories": [283155]})
    no_books = all_deals(still, {**every, "excludeCategories": [283155]})
    mystery = all_deals(still, {**every, "includeCategories": [18]})
    assert books and all(d["rootCat"] == 283155 for d in books)
    assert no_books and all(d["rootCat"] != 283155 for d in no_books)
    assert mystery and all(18 in d["categories"] for d in mystery)
    assert asins(books) | asins(no_books) == asins(all_deals(still, every))


def test_the_category_summary_counts_all_matches_and_ignores_category_filters(still):
    every = {"domainId": 1, "priceTypes": [2], "dateRange": 3}
    summaries = []
    for extra in ({}, {"includeCategories": [283155]}, {"excludeCategories": [283155]}):
        listing = deal(still, {**every, **extra}).json()["deals"]
        summaries.append(
            (listing["categoryIds"], listing["categoryNames"], listing["categoryCount"])
        )
    assert summaries[0] == summaries[1] == summaries[2]
    ids, names, counts = summaries[0]
    assert dict(zip(ids, names, strict=True))[283155] == "Books"
    assert sum(counts) == len(all_deals(still, every))


def test_title_search_needs_every_keyword_in_any_case(still):
    base = all_deals(still, BOOK_DEALS)
    found = all_deals(still, {**BOOK_DEALS, "titleSearch": "NOVEL the"})
    expected = {
        d["asin"] for d in base if "novel" in d["title"].lower() and "the" in d["title"].lower()
    }
    assert asins(found) == expected and 0 < len(found) < len(base)


SORTS = {
    # Deal age: creationDate, newest first, as documented (the default --deal-order).
    1: (lambda d: d["creationDate"], True),
    -1: (lambda d: d["creationDate"], True),  # deal age is not invertible
    2: (lambda d: d["delta"][3][2], True),
    -2: (lambda d: d["delta"][3][2], False),
    3: (lambda d: d["current"][3], False),
    -3: (lambda d: d["current"][3], True),
    4: (lambda d: d["deltaPercent"][3][2], True),
    -4: (lambda d: d["deltaPercent"][3][2], False),
}


@pytest.mark.parametrize("sort_type", list(SORTS))
def test_sort_types_order_the_whole_result(still, sort_type):
    key, descending = SORTS[sort_type]
    found = all_deals(still, {**BOOK_DEALS, "sortType": sort_type})
    values = [key(d) for d in found]
    assert len(set(values)) > 10
    assert values == sorted(values, reverse=descending)


def test_sort_type_1_puts_the_most_recently_updated_deals_first(still):
    still.advance(2)
    first = deal(still, {**DEFAULT_QUERY, "sortType": 1}).json()["deals"]["dr"]
    assert first[0]["lastUpdate"] == NOW_MINUTE + 2


def test_an_identical_query_is_served_from_cache_for_120_seconds(still):
    first = deal(still, DEFAULT_QUERY).json()
    assert first["dealsCached"] is False
    assert deal(still, DEFAULT_QUERY, page=1).json()["dealsCached"] is True
    still.advance(1)  # the market moves, the cached result does not
    again = deal(still, DEFAULT_QUERY).json()
    assert again["dealsCached"] is True and again["deals"] == first["deals"]
    assert deal(still, {**DEFAULT_QUERY, "sortType": 4}).json()["dealsCached"] is False
    still.advance(2)
    assert deal(still, DEFAULT_QUERY).json()["dealsCached"] is False


def test_a_post_with_the_query_as_body_gets_the_same_deals_as_a_get(still):
    got = deal(still, DEFAULT_QUERY).json()["deals"]
    posted = requests.post(
        f"{still.url}/deal", params={"key": "demo"}, json=DEFAULT_QUERY, timeout=30
    ).json()
    assert posted["deals"] == got and posted["tokensConsumed"] == 5


def test_numbers_sent_as_strings_are_accepted(still):
    as_strings = {**DEFAULT_QUERY, "domainId": "1", "dateRange": "3", "priceTypes": ["2"]}
    response = deal(still, as_strings)
    assert response.status_code == 200
    assert response.json()["deals"]["dr"] == deal(still, DEFAULT_QUERY).json()["deals"]["dr"]


@pytest.mark.parametrize(
    ("selection", "fixture_name"),
    [
        (None, "error_400_deal_queryJSON_missing_or_invalid"),
        ("%7B%22domainId%22%3A1%7D", "error_400_deal_queryJSON_missing_or_invalid"),
        ('{"domainId": 1, "priceTypes": [2], "dateRange": 7}', "error_400_deal_invalid_dateRange"),
        ('{"domainId": 1, "priceTypes": [2, 1]}', "error_400_deal_invalid_priceTypes"),
        ('{"domainId": 1, "priceTypes": [4]}', "error_400_deal_invalid_priceTypes"),
    ],
    ids=["missing", "double-encoded", "dateRange", "two-priceTypes", "not-a-deal-type"],
)
def test_invalid_queries_get_keepas_400_and_cost_nothing(still, selection, fixture_name):
    params = {"key": "demo"} if selection is None else {"key": "demo", "selection": selection}
    response = requests.get(f"{still.url}/deal", params=params, timeout=30)
    real = fixture(fixture_name)
    body = response.json()
    assert response.status_code == 400
    assert body.keys() == real.keys()
    assert body["error"] == real["error"]
    assert body["tokensConsumed"] == 0 and token(still)["tokensLeft"] == 1200


# --- /deal: structure and formulas -----------------------------------------------------------


def test_deals_have_the_keys_and_shapes_of_the_real_sept_2025_response(still):
    real = fixture("deal_response_2025-09")
    body = deal(still, DEFAULT_QUERY).json()
    assert body.keys() == real.keys()
    assert body["deals"].keys() == real["deals"].keys()
    assert body["deals"]["drDateIndex"] == [] and body["dealsCached"] is False
    real_always = set.intersection(*(set(d) for d in real["deals"]["dr"]))
    real_any = set.union(*(set(d) for d in real["deals"]["dr"]))
    for d in all_deals(still, DEFAULT_QUERY):
        assert real_always <= d.keys() <= real_any
        for name in ("current", "deltaLast", "currentSince", "backInStock"):
            assert len(d[name]) == 34
        for name in ("avg", "delta", "deltaPercent"):
            assert [len(row) for row in d[name]] == [34] * 4
        image = "".join(map(chr, d["image"]))
        assert re.fullmatch(r"[0-9A-Za-z]{11}\.jpg", image)
        assert all(isinstance(b, bool) for b in d["backInStock"])


def test_objects_are_serialized_with_alphabetical_keys(still):
    seen: list[list[str]] = []

    def keep(pairs):
        seen.append([k for k, _ in pairs])
        return dict(pairs)

    json.loads(deal(still, DEFAULT_QUERY).text, object_pairs_hook=keep)
    some = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:5]]
    json.loads(product(still, some, offers=20, stats=90).text, object_pairs_hook=keep)
    assert len(seen) > 150
    assert all(keys == sorted(keys) for keys in seen)


def expected_delta_percent(delta: int, current: int) -> int:
    if delta == 0:
        return 0
    reference = current + delta
    if reference <= 0:
        return -1000 if delta < 0 else 99
    return max(-1000, min(99, math.floor(100 * delta / reference + 0.5)))


def test_keepas_formulas_hold_on_every_cell_of_every_deal(still):
    cells = 0
    for d in all_deals(still, {"domainId": 1, "priceTypes": [2], "dateRange": 3}):
        for r in range(4):
            for t in range(34):
                avg, cur = d["avg"][r][t], d["current"][t]
                delta, percent = d["delta"][r][t], d["deltaPercent"][r][t]
                assert delta == (avg - cur if avg >= 0 and cur >= 0 else 0)
                assert percent == expected_delta_percent(delta, cur)
                # -2: never tracked, which is also when Keepa has no currentSince.
                assert (avg == -2) == (d["currentSince"][t] == -1)
                cells += 1
    assert cells > 100_000


def test_delta_last_is_the_previous_value_minus_the_current_one(still):
    found = deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:20]
    csv = {
        p["asin"]: p["csv"]
        for p in product(still, [d["asin"] for d in found], offers=20).json()["products"]
    }
    checked = 0
    for d in found:
        for t in (1, 2, 3, 19, 20, 21, 22):
            history = csv[d["asin"]][t]
            if not history:
                continue
            step = 3 if t >= 19 else 2

            def value(i, h=history, step=step):
                price = h[i + 1]
                return price + max(h[i + 2], 0) if step == 3 and price >= 0 else price

            assert value(len(history) - step) == d["current"][t]
            if len(history) >= 2 * step:
                previous = value(len(history) - 2 * step)
                cur = d["current"][t]
                expected = previous - cur if previous >= 0 and cur >= 0 else 0
                assert d["deltaLast"][t] == expected
                checked += 1
    assert checked > 50


def test_only_products_updated_in_the_last_12_hours_are_listed(still):
    still.quiet(True)  # no re-crawls either: nothing refreshes lastUpdate
    still.advance(12 * 60 + 1)
    assert deal(still, DEFAULT_QUERY).json()["deals"]["dr"] == []


def test_re_crawls_keep_a_moving_market_listed(still):
    still.advance(13 * 60)
    found = all_deals(still, DEFAULT_QUERY)
    now = NOW_MINUTE + 13 * 60
    assert len(found) > 150
    assert all(now - 720 <= d["lastUpdate"] <= now for d in found)


def test_the_market_changes_every_minute(still):
    before = deal(still, {**DEFAULT_QUERY, "sortType": 1}).json()["deals"]["dr"]
    moved = still.advance(1)
    # Not the same query: that one is cached for 120 s.
    after = deal(still, {**DEFAULT_QUERY, "titleSearch": " "}).json()["deals"]["dr"]
    assert moved["events"] >= 20
    assert after[0]["lastUpdate"] == NOW_MINUTE + 1
    assert [(d["asin"], d["current"][2]) for d in after] != [
        (d["asin"], d["current"][2]) for d in before
    ]


def test_a_deal_cap_of_10000_results():
    market = build_market(seed=1, products=1500, changes_per_minute=40, genesis=NOW_MINUTE)
    views = list(market.listed(NOW_MINUTE)) * 30
    query = deals.parse(json.dumps({"domainId": 1, "priceTypes": [2], "dateRange": 3}))
    result = deals.run(query, views)
    assert len(result.deals) == 10_000 < sum(count for _, _, count in result.categories)


# --- /product and /seller -----------------------------------------------------------------------


def test_products_look_like_the_real_2026_product_response(still):
    real_products = [
        fixture("product_response_B0F7XPYCSJ")["products"][0],
        fixture("product_response_B0D8W1YVBX")["products"][0],
        fixture("product_object_with_offers_1886940606"),
        fixture("product_object_with_offers_055299068X"),
    ]
    real_keys = set().union(*(p.keys() for p in real_products))
    real_stats = set().union(*(p["stats"].keys() for p in real_products if p.get("stats")))
    real_offers = set().union(*(o.keys() for p in real_products for o in p.get("offers") or ()))
    some = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:10]]
    body = product(still, some, offers=20, stats=90).json()
    assert body.keys() == {"products"} | ENVELOPE
    for p in body["products"]:
        assert p.keys() <= real_keys
        assert p["stats"].keys() <= real_stats
        assert all(o.keys() <= real_offers for o in p["offers"])
        assert len(p["csv"]) == 36 and len(p["stats"]["current"]) == 36
        assert p["fbaFees"]["pickAndPackFee"] > 0 and p["referralFeePercentage"] == 15.0
        assert p["rootCategory"] == 283155 and p["title"] and p["imagesCSV"].endswith(".jpg")
        assert len(p["offers"][0]["offerCSV"]) % 3 == 0


def test_the_current_used_price_is_the_lowest_live_used_offer_with_shipping(still):
    some = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:30]]
    live = {"only-live-offers": 1}
    for p in product(still, some, offers=100, stats=30, **live).json()["products"]:
        used = [o for o in p["offers"] if 2 <= o["condition"] <= 5]
        landed = min(o["offerCSV"][-2] + max(o["offerCSV"][-1], 0) for o in used)
        assert p["csv"][2][-1] == landed == p["stats"]["current"][2]


def test_only_live_offers_leaves_out_offers_no_longer_listed(still):
    with_past = next(
        p for p in still.market.products if any(not o.live for o in p.offers) and p.live_offers()
    )
    everything = product(still, [with_past.asin], offers=100, stats=1).json()["products"][0]
    live_only = product(still, [with_past.asin], offers=100, stats=1, **{"only-live-offers": 1})
    live = live_only.json()["products"][0]
    assert len(live["offers"]) == len(with_past.live_offers()) < len(everything["offers"])
    assert sorted(live["liveOffersOrder"]) == list(range(len(live["offers"])))
    assert all(o["lastSeen"] == live["stats"]["lastOffersUpdate"] for o in live["offers"])
    shown = [everything["offers"][i]["sellerId"] for i in everything["liveOffersOrder"]]
    assert sorted(shown) == sorted(o.seller_id for o in with_past.live_offers())


def test_history_0_drops_the_csv_and_days_trims_it(still):
    asin = deal(still, DEFAULT_QUERY).json()["deals"]["dr"][0]["asin"]
    bare = product(still, [asin], history=0).json()["products"][0]
    assert "csv" not in bare and "salesRanks" not in bare
    full = product(still, [asin]).json()["products"][0]
    week = product(still, [asin], days=7).json()["products"][0]
    cutoff = NOW_MINUTE - 7 * 1440
    for t, history in enumerate(week["csv"]):
        if history is None:
            assert full["csv"][t] is None
            continue
        step = 3 if t in (7, 18, 19, 20, 21, 22, 32) else 2
        times = history[::step]
        assert all(moment >= cutoff for moment in times[1:])  # the first may be older: it holds
        assert history == full["csv"][t][len(full["csv"][t]) - len(history) :]


def test_the_sales_rank_reaches_two_years_back_in_keepas_layout_and_days_trims_it(still):
    asins = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:40]]
    products = product(still, asins, offers=20).json()["products"]
    for p in products:
        ranks = p["csv"][3]
        times = ranks[::2]
        assert times == sorted(times) and all(isinstance(t, int) for t in times)
        assert NOW_MINUTE - times[0] >= 700 * 1440  # Keepa keeps years, not 100 days
        assert all(r > 0 for r in ranks[1::2])
        assert p["salesRanks"][str(p["rootCategory"])] == ranks
        box = p["csv"][32]  # the used buy box: (time, price, shipping) triplets
        assert box is None or len(box) % 3 == 0
    # Some price history has stretches with no offer, written as -1.
    assert any(
        -1 in h[1 :: 3 if t in (7, 18, 19, 20, 21, 22, 32) else 2]
        for p in products
        for t, h in enumerate(p["csv"])
        if h and t != 3
    )
    again = product(still, asins[:1], offers=20).json()["products"][0]
    assert again["csv"][3] == products[0]["csv"][3]  # derived, and the same every time
    trimmed = product(still, asins[:1], days=365).json()["products"][0]["csv"][3]
    assert all(t >= NOW_MINUTE - 365 * 1440 for t in trimmed[2::2])
    assert trimmed == products[0]["csv"][3][-len(trimmed) :]


def test_extra_csv_types_come_only_with_offers_rating_or_buybox(still):
    asin = deal(still, DEFAULT_QUERY).json()["deals"]["dr"][0]["asin"]
    plain = product(still, [asin]).json()["products"][0]["csv"]
    assert plain[2] and plain[3] and plain[19] is None and plain[16] is None
    rated = product(still, [asin], rating=1).json()["products"][0]["csv"]
    assert rated[16] and rated[17]
    with_offers = product(still, [asin], offers=20).json()["products"][0]["csv"]
    assert with_offers[32]


def test_sellers_are_found_by_id_and_cost_one_token_each(still):
    sellers = list(still.market.sellers)[:2]
    response = requests.get(
        f"{still.url}/seller",
        params={"key": "demo", "domain": 1, "seller": ",".join([*sellers, "ANOSUCHSELLER1"])},
        timeout=30,
    )
    body = response.json()
    assert body["tokensConsumed"] == 2 and set(body["sellers"]) == set(sellers)
    for seller_id, seller in body["sellers"].items():
        assert seller["sellerId"] == seller_id and seller["sellerName"]
        assert 0 <= seller["currentRating"] <= 100 and seller["currentRatingCount"] > 0
        assert isinstance(seller["hasFBA"], bool)


# --- the decision data: binding, categories, rank drops, offer counts, averages, ratings -------

REAL_PRODUCTS = (
    "product_response_B0F7XPYCSJ",
    "product_response_B0D8W1YVBX",
    "product_object_with_offers_1886940606",
    "product_object_with_offers_055299068X",
)


def _real_product(name: str) -> dict:
    body = fixture(name)
    return body["products"][0] if "products" in body else body


def test_deals_carry_rank_drops_and_used_offer_counts_as_the_real_ones_do(still):
    real = fixture("deal_response_2025-09")["deals"]["dr"]
    assert all({"salesRankDrops30", "salesRankDrops90"} <= d.keys() for d in real)
    for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"]:
        product = still.market.by_asin[d["asin"]]
        drops_30, drops_90 = d["salesRankDrops30"], d["salesRankDrops90"]
        assert type(drops_30) is type(real[0]["salesRankDrops30"]) is int
        # -1 when Keepa has no rank history (FIX 1 has such deals), else 30 days <= 90 days.
        assert (drops_30, drops_90) == (-1, -1) or 0 <= drops_30 <= drops_90
        assert (drops_30, drops_90) == tuple(product.sales_rank_drops[:2])
        used = [o for o in product.live_offers() if 2 <= o.condition <= 5]
        assert d["current"][12] == len(used)  # COUNT_USED
        assert d["avg"][2][12] >= 0  # its month average, the trend's reference


def test_products_carry_binding_a_named_category_tree_and_the_years_averages(still):
    reals = [_real_product(name) for name in REAL_PRODUCTS]
    real_nodes = {frozenset(node) for p in reals for node in p["categoryTree"]}
    used = {"current", "avg30", "avg90", "avg365", "salesRankDrops30", "salesRankDrops90"}
    assert all(used <= p["stats"].keys() for p in reals)
    some = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:10]]
    # stats=90: the 365-day average comes with any stats interval (docs/keepa.md §5.7).
    for p in product(still, some, offers=20, stats=90, history=0).json()["products"]:
        market = still.market.by_asin[p["asin"]]
        assert p["binding"] == market.binding and isinstance(p["binding"], str)
        assert {frozenset(node) for node in p["categoryTree"]} <= real_nodes
        assert p["categoryTree"][0] == {"catId": p["rootCategory"], "name": "Books"}
        assert all(isinstance(n["catId"], int) and n["name"] for n in p["categoryTree"])
        assert used <= p["stats"].keys()
        assert len(p["stats"]["avg365"]) == 36 and p["stats"]["avg365"][3] > 0
        assert p["stats"]["current"][12] == sum(
            1 for o in market.live_offers() if 2 <= o.condition <= 5
        )
        assert p["stats"]["salesRankDrops90"] == market.sales_rank_drops[1]


# Seller fields Keepa documents (docs/keepa.md §7; DOC Seller object): no real /seller body
# was captured, so the documented names are the reference.
DOCUMENTED_SELLER_KEYS = {
    "sellerId", "sellerName", "domainId", "trackedSince", "lastUpdate", "lastRatingUpdate",
    "csv", "currentRating", "currentRatingCount", "ratingsLast30Days", "positiveRating",
    "neutralRating", "negativeRating", "ratingCount", "hasFBA", "shipsFromChina", "isScammer",
    "totalStorefrontAsins", "asinList", "asinListLastSeen", "totalStorefrontAsinsCSV",
    "sellerCategoryStatistics", "sellerBrandStatistics", "competitors", "avgBuyBoxCompetitors",
    "buyBoxNewOwnershipRate", "buyBoxUsedOwnershipRate", "address", "businessName",
}  # fmt: skip


def test_sellers_report_their_current_rating_and_count_as_keepa_documents(still):
    seller_id = next(s for s in still.market.sellers if s != "ATVPDKIKX0DER")

    def ask() -> dict:
        params = {"key": "demo", "domain": 1, "seller": seller_id}
        body = requests.get(f"{still.url}/seller", params=params, timeout=30).json()
        return body["sellers"][seller_id]

    seller = ask()
    assert seller.keys() <= DOCUMENTED_SELLER_KEYS
    assert 0 <= seller["currentRating"] <= 100 and seller["currentRatingCount"] >= 0
    # The history's last RATING and RATING_COUNT points are the current values.
    assert seller["csv"][0][-1] == seller["currentRating"]
    assert seller["csv"][1][-1] == seller["currentRatingCount"]

    moved = still.post("/_sim/seller", {"seller_id": seller_id, "rating": 71, "rating_count": 9})
    assert moved == {"sellerId": seller_id, "currentRating": 71, "currentRatingCount": 9}
    seller = ask()
    assert (seller["currentRating"], seller["currentRatingCount"]) == (71, 9)
    refused = requests.post(
        f"{still.url}/_sim/seller", json={"seller_id": "ANOSUCHSELLER1", "rating": 5}, timeout=30
    )
    assert refused.status_code == 404


# --- tokens ------------------------------------------------------------------------------------


def test_a_call_may_drive_the_balance_negative_then_429_with_only_the_envelope(still):
    still.keys(tokens=7)
    first = deal(still, DEFAULT_QUERY).json()
    assert (first["tokensConsumed"], first["tokensLeft"]) == (5, 2)
    second = deal(still, DEFAULT_QUERY, page=1).json()
    assert (second["tokensConsumed"], second["tokensLeft"]) == (5, -3)
    refused = deal(still, DEFAULT_QUERY, page=2)
    real = fixture("error_429_deal_not_enough_tokens")
    assert refused.status_code == 429
    assert refused.json().keys() == real.keys()
    assert refused.json() | {"timestamp": 0} == {
        "processingTimeInMs": 0,
        "refillIn": 45_000,
        "refillRate": 20,
        "timestamp": 0,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": 0,
        "tokensLeft": -3,
    }
    status = token(still)  # free, and answers even with a negative balance
    assert (status["tokensLeft"], status["tokensConsumed"]) == (-3, 0)
    still.advance(1)
    assert token(still)["tokensLeft"] == 17
    assert deal(still, DEFAULT_QUERY, page=2).status_code == 200


def test_the_bucket_refills_each_minute_up_to_an_hours_worth(still):
    still.keys(tokens=0)
    still.advance(3)
    assert token(still)["tokensLeft"] == 60
    still.keys(tokens=1190)
    still.advance(5)
    assert token(still)["tokensLeft"] == 1200  # 60 x refillRate
    still.keys(refill_rate=5, tokens=0)
    still.advance(2.5)  # two whole-minute ticks
    assert token(still) | {"timestamp": 0} == {
        "processingTimeInMs": 0,
        "refillIn": 15_000,
        "refillRate": 5,
        "timestamp": 0,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": 0,
        "tokensLeft": 10,
    }


def live_offer_pages(still, asin: str) -> int:
    return max(1, math.ceil(len(still.market.by_asin[asin].live_offers()) / 10))


def test_product_costs_follow_keepas_price_list(still):
    market = still.market
    few = next(p.asin for p in market.products if 0 < len(p.live_offers()) <= 10)
    many = market.products[1].asin
    for n in range(23 - len(market.products[1].live_offers())):
        still.set_offer(many, f"AMANYOFFERS{n:03d}", 5000 + n)
    assert len(market.by_asin[many].live_offers()) == 23
    none = market.products[0]
    for offer in none.live_offers():
        still.post("/_sim/remove_offer", {"asin": none.asin, "seller_id": offer.seller_id})
    pair = [few, "0000000000"]

    def cost(asked, **params):
        response = product(still, asked, **params)
        assert response.status_code == 200
        return response.json()["tokensConsumed"]

    assert cost(pair) == 1  # one found, the unknown ASIN is free
    assert "products" not in product(still, ["0000000000"]).json()
    assert cost(["0000000000"]) == 0
    assert cost(pair, offers=20) == 6  # one page of up to 10 offers instead of the token
    assert cost([many], offers=20) == 12  # 20 of its offers: two pages
    assert cost([many], offers=100) == 6 * live_offer_pages(still, many) == 18
    assert cost([none.asin], offers=20) == 6  # Keepa looked: one page even without offers
    assert cost(pair, buybox=1) == 3
    assert cost(pair, buybox=1, offers=20) == 6  # buybox is ignored with offers
    assert cost(pair, rating=1) == 2
    assert cost(pair, update=0) == 2
    assert cost([few, many, none.asin]) == 3


def test_a_live_update_moves_the_products_last_update(still):
    asin = min(still.market.products, key=lambda p: p.last_update).asin
    served = product(still, [asin]).json()["products"][0]
    assert served["lastUpdate"] < NOW_MINUTE
    updated = product(still, [asin], update=0).json()["products"][0]
    assert updated["lastUpdate"] == NOW_MINUTE


def test_deal_and_token_costs(still):
    assert deal(still, DEFAULT_QUERY).json()["tokensConsumed"] == 5
    assert token(still)["tokensConsumed"] == 0 and token(still)["tokensLeft"] == 1195
    stats = still.stats()
    assert stats["tokens_consumed"]["/deal"] == 5 and stats["requests"]["/token"] == 2


def test_fewer_than_20_offers_is_an_error_inside_an_http_200(still):
    asin = still.market.products[0].asin
    response = product(still, [asin], offers=10)
    real = fixture("error_HTTP200_product_offers_lt_20")
    assert response.status_code == 200
    assert response.json().keys() == real.keys() and response.json()["error"] == real["error"]
    assert response.json()["tokensConsumed"] == 0


def test_an_unknown_key_is_rejected_with_empty_token_fields(still):
    response = deal(still, DEFAULT_QUERY, key="not-a-key")
    body = response.json()
    assert response.status_code == 400 and body["error"]["type"] == "invalidParameter"
    assert (body["tokensLeft"], body["refillRate"], body["refillIn"]) == (0, 0, 0)


def test_a_lapsed_key_gets_402(still):
    still.keys(lapsed=True)
    assert deal(still, DEFAULT_QUERY).status_code == 402
    still.keys(lapsed=False)
    assert deal(still, DEFAULT_QUERY).status_code == 200


def test_an_added_key_has_its_own_bucket(still):
    still.keys(key="second", tokens=10, refill_rate=1)
    assert deal(still, DEFAULT_QUERY, key="second").json()["tokensLeft"] == 5
    assert token(still)["tokensLeft"] == 1200


def test_a_wrong_path_is_404(still):
    assert requests.get(f"{still.url}/deals", params={"key": "demo"}, timeout=30).status_code == 404


def test_responses_are_gzip_encoded_json(still):
    response = deal(still, DEFAULT_QUERY)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) < len(response.content) / 3


# --- faults ------------------------------------------------------------------------------------


def test_a_status_fault_hits_the_next_n_api_responses_only(still):
    still.fault(status=500, count=2)
    assert still.stats()["faults"] == [{"status": 500, "count": 2}]  # /_sim/ is not counted
    assert [deal(still, DEFAULT_QUERY).status_code for _ in range(3)] == [500, 500, 200]
    still.fault(status=503)
    assert token(still)["error"]["type"] == "serviceUnavailable"
    still.fault(status=429)
    refused = deal(still, DEFAULT_QUERY)
    assert refused.status_code == 429 and refused.json().keys() == ENVELOPE
    assert refused.json()["tokensConsumed"] == 0


def test_a_delay_fault_slows_the_response(still):
    still.fault(delay_s=0.4)
    started = time.monotonic()
    assert deal(still, DEFAULT_QUERY).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_a_malformed_response_is_not_json(still):
    still.fault(malformed=True)
    response = deal(still, DEFAULT_QUERY)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert deal(still, DEFAULT_QUERY).json()["deals"]["dr"]


def test_a_truncated_response_breaks_off(still):
    still.fault(truncated=True)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        deal(still, DEFAULT_QUERY)
    assert deal(still, DEFAULT_QUERY).status_code == 200


# --- determinism ------------------------------------------------------------------------------


def _bodies(server: SimulatorServer) -> list[bytes]:
    requests.post(f"{server.url}/_sim/clock", json={"freeze": NOW_ISO}, timeout=30)
    bodies = [deal(server, DEFAULT_QUERY).content]
    some = [d["asin"] for d in deal(server, DEFAULT_QUERY).json()["deals"]["dr"][:20]]
    bodies.append(product(server, some, offers=20, stats=30).content)
    requests.post(f"{server.url}/_sim/advance", json={"minutes": 30}, timeout=60)
    bodies.append(deal(server, {**DEFAULT_QUERY, "sortType": 1}).content)
    return bodies


def test_the_same_seed_and_clock_give_byte_identical_responses():
    servers = [SimulatorServer(seed=seed, products=600).start() for seed in (7, 7, 8)]
    try:
        first, again, other = (_bodies(s) for s in servers)
    finally:
        for server in servers:
            server.stop()
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_the_market_does_not_depend_on_how_often_it_is_looked_at(still):
    query = {**DEFAULT_QUERY, "sortType": 2}
    still.advance(30)
    at_once = deal(still, query).json()["deals"]
    still.post("/_sim/clock", {"freeze": NOW_ISO})
    for _ in range(6):
        still.advance(5)
        deal(still, query)
    assert deal(still, {**query, "titleSearch": " "}).json()["deals"] == at_once


def test_a_copied_market_equals_one_generated_at_that_time():
    copied = build_market(seed=3, products=300, changes_per_minute=40, genesis=NOW_MINUTE)
    generated = Market(seed=3, products=300, changes_per_minute=40, genesis=NOW_MINUTE)
    for a, b in zip(copied.products, generated.products, strict=True):
        assert a.deal_view().json() == b.deal_view().json()


# --- control API -------------------------------------------------------------------------------


def cheap_enough_to_become_a_deal(still) -> tuple[str, int]:
    """A listed used book that the default query does not show, and its 90-day average."""
    shown = asins(all_deals(still, DEFAULT_QUERY))
    for p in still.market.products:
        view = p.deal_view()
        average = view.type_arrays(2)[0][3]
        if (
            p.asin not in shown
            and p.root == 283155
            and not p.adult
            and 60_000 <= p.cur[3] <= 1_000_000
            and p.cur[16] >= 10
            and 7000 <= average <= 12_000
            and p.cur[2] >= average * 0.8
        ):
            return p.asin, average
    raise AssertionError("no candidate")


def test_a_price_set_through_the_control_api_shows_in_deal_and_product(still):
    asin, average = cheap_enough_to_become_a_deal(still)
    price = average * 35 // 100
    changed = still.set_offer(asin, "ASIMTESTSELLER", price, shipping=0, condition=3)
    assert changed["current"][2] == price and changed["lastUpdate"] == NOW_MINUTE

    listed = {d["asin"]: d for d in all_deals(still, DEFAULT_QUERY)}
    assert listed[asin]["current"][2] == price
    assert listed[asin]["lastUpdate"] == listed[asin]["creationDate"] == NOW_MINUTE
    assert listed[asin]["currentSince"][2] == NOW_MINUTE

    served = product(still, [asin], offers=20).json()["products"][0]
    ours = [o for o in served["offers"] if o["sellerId"] == "ASIMTESTSELLER"]
    assert len(ours) == 1 and ours[0]["offerCSV"][-2:] == [price, 0]
    assert ours[0]["condition"] == 3
    assert served["offers"][served["liveOffersOrder"][0]]["sellerId"] == "ASIMTESTSELLER"
    assert served["lastPriceChange"] == NOW_MINUTE


def test_setting_a_sellers_offer_again_replaces_it(still):
    p = still.market.products[5]
    seller = p.live_offers()[0].seller_id
    before = len(p.live_offers())
    still.set_offer(p.asin, seller, 99_999, condition=4)
    assert len(p.live_offers()) == before
    assert [(o.price, o.condition) for o in p.live_offers() if o.seller_id == seller] == [
        (99_999, 4)
    ]


def test_removing_the_cheapest_offer_raises_the_price(still):
    asin = deal(still, DEFAULT_QUERY).json()["deals"]["dr"][0]["asin"]
    cheapest = min(
        (o for o in still.market.by_asin[asin].live_offers() if not o.is_new),
        key=lambda o: o.landed,
    )
    after = still.post("/_sim/remove_offer", {"asin": asin, "seller_id": cheapest.seller_id})
    assert after["current"][2] > cheapest.landed
    assert cheapest.seller_id not in [o["sellerId"] for o in after["liveOffers"]]


def test_an_added_product_is_a_new_deal_for_the_default_query(still):
    created = still.post("/_sim/product", {"title": "Owls of the Northern Forest"})
    listed = {d["asin"]: d for d in all_deals(still, DEFAULT_QUERY)}
    assert listed[created["asin"]]["title"] == "Owls of the Northern Forest"
    plain = still.post("/_sim/product", {"deal": False})
    assert plain["asin"] not in asins(all_deals(still, DEFAULT_QUERY))


def test_stats_count_requests_tokens_and_asked_for_products(still):
    deal(still, DEFAULT_QUERY)
    product(still, ["0000000000", still.market.products[0].asin])
    stats = still.stats()
    assert stats["requests"] == {"/deal": 1, "/product": 1, "/seller": 0, "/token": 0}
    assert stats["tokens_consumed"]["/product"] == 1 and stats["products_requested"] == 2
    assert stats["clock"]["keepa_minute"] == NOW_MINUTE and stats["clock"]["frozen"] is True
    assert stats["clock"]["iso"].startswith("2026-01-05T12:00:15")
    assert stats["keys"]["demo"] == {"tokens": 1194, "refill_rate": 20, "lapsed": False}


def test_reset_restores_the_initial_state(simulator):
    first = deal(simulator, DEFAULT_QUERY).json()["deals"]["dr"]
    simulator.keys(tokens=3)
    simulator.fault(status=500, count=5)
    simulator.quiet(True)
    simulator.post("/_sim/reset")
    stats = simulator.stats()
    assert stats["faults"] == [] and stats["market"]["quiet"] is False
    assert stats["keys"]["demo"]["tokens"] == 1200 and stats["requests"]["/deal"] == 0
    assert stats["clock"]["frozen"] is False
    again = deal(simulator, DEFAULT_QUERY).json()
    assert again["dealsCached"] is False
    assert {d["asin"] for d in again["deals"]["dr"]} & {d["asin"] for d in first}


def test_quiet_stops_the_random_evolution(still):
    still.quiet(True)
    before = deal(still, DEFAULT_QUERY).json()["deals"]
    assert still.advance(10)["events"] == 0
    assert deal(still, {**DEFAULT_QUERY, "titleSearch": " "}).json()["deals"] == before


def test_the_clock_follows_wall_time_unless_pinned(simulator):
    wall = simulator.stats()["clock"]
    assert wall["frozen"] is False
    assert abs(wall["unix_ms"] - time.time() * 1000) < 5000
    advanced = simulator.advance(60)["clock"]
    assert advanced["keepa_minute"] >= wall["keepa_minute"] + 60


# --- command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "keepa_simulator"],
        [sys.executable, "manage.py", "keepa_simulator"],
    ],
    ids=["python-m", "manage.py"],
)
def test_the_command_prints_its_url_serves_and_stops_on_ctrl_c(command):
    env = {**os.environ, "DJANGO_DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    args = [*command, "--port", "0", "--products", "300", "--keys", "one,two"]
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        status = requests.get(f"{url}/token", params={"key": "two"}, timeout=10).json()
        assert status["tokensLeft"] == 1200 and status["refillRate"] == 20
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- through keepa_client.KeepaClient ---------------------------------------------------------


def test_the_client_pages_through_the_default_query(still):
    from keepa_client.client import KeepaClient

    client = KeepaClient("demo", base_url=still.url, sleep=lambda s: None)
    pages = list(client.iter_deal_pages(DEFAULT_QUERY))
    assert [len(p.deals) for p in pages[:-1]] == [150] * (len(pages) - 1)
    assert len(pages[-1].deals) < 150
    found = [d.asin for p in pages for d in p.deals]
    assert found == [d["asin"] for d in all_deals(still, DEFAULT_QUERY)]


def test_the_client_reads_offers_with_their_sellers_and_prices(still):
    from keepa_client.client import KeepaClient

    client = KeepaClient("demo", base_url=still.url, sleep=lambda s: None)
    asked = [d["asin"] for d in deal(still, DEFAULT_QUERY).json()["deals"]["dr"][:10]]
    products = client.products(asked, offers=20, only_live_offers=True)
    assert [p.asin for p in products] == asked
    for p in products:
        market = {o.seller_id: o for o in still.market.by_asin[p.asin].live_offers()}
        assert p.offers and len(p.offers) == min(20, len(market))
        for offer in p.offers:
            assert offer.price == market[offer.seller_id].price
            assert offer.shipping == market[offer.seller_id].shipping


def test_a_429_surfaces_as_tokens_exhausted_in_the_client(still):
    from keepa_client.client import KeepaClient
    from keepa_client.errors import TokensExhausted

    still.keys(tokens=0)
    client = KeepaClient("demo", base_url=still.url, sleep=lambda s: None, max_token_wait_s=0)
    with pytest.raises(TokensExhausted):
        client.deals(DEFAULT_QUERY)
