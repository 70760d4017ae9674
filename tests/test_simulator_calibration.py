"""The calibrated market against the real /deal samples of the shipped query (FIX 2, 3;
README "Keepa simulator"), and the wire details of offers look-ups, over HTTP."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import requests

from keepa_simulator import SimulatorServer
from keepa_simulator.clock import keepa_minute, parse_iso

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_QUERY = json.loads((ROOT / "settings.json").read_text())["deal_query"]
# The demo's market size (`make run` starts the simulator with the CLI's default, 6,000).
DEMO_PRODUCTS = 6000
START = "2026-01-05T12:00:15+00:00"
KEEPA_EPOCH_MINUTE = 21_564_000  # Keepa minute 0 in Unix minutes


@pytest.fixture(scope="module")
def calibrated():
    server = SimulatorServer(seed=1, products=DEMO_PRODUCTS, profile="calibrated").start()
    requests.post(f"{server.url}/_sim/clock", json={"freeze": START}, timeout=60)
    yield server
    server.stop()


def post(server: SimulatorServer, path: str, body: dict) -> dict:
    response = requests.post(f"{server.url}{path}", json=body, timeout=120)
    response.raise_for_status()
    return response.json()


def sweep(server: SimulatorServer, query: dict) -> tuple[list[dict], int]:
    """Every deal the query lists, page by page, and the answer's Keepa minute."""
    post(server, "/_sim/keys", {"key": "demo", "tokens": 100_000})
    out: list[dict] = []
    page = 0
    while True:
        selection = json.dumps({**query, "page": page})
        body = requests.get(
            f"{server.url}/deal", params={"key": "demo", "selection": selection}, timeout=60
        ).json()
        rows = body.get("deals", {}).get("dr", [])
        out += rows
        if len(rows) < 150:
            return out, body["timestamp"] // 60_000 - KEEPA_EPOCH_MINUTE
        page += 1


def figures(deals: list[dict], now: int) -> dict[str, float]:
    """The figures README's calibration table reports, measured as on the real samples."""
    ages = sorted(now - d["lastUpdate"] for d in deals)
    n = len(deals)
    recent = [d for d in deals if now - d["currentSince"][2] <= 60]
    drops = [d for d in recent if d["deltaLast"][2] > 0]
    return {
        "listed": n,
        "median_age": statistics.median(ages),
        "p90_age": ages[int(0.9 * n)],
        "over_12h": sum(a > 720 for a in ages) / n,
        "max_age": ages[-1],
        "churn": len(recent) / n,
        "drops": len(drops) / len(recent),
    }


def test_the_calibrated_market_reproduces_the_real_pages_of_the_shipped_query(calibrated):
    # Two snapshots three hours apart, after the market has run for three hours.
    for _ in range(2):
        post(calibrated, "/_sim/advance", {"minutes": 180})
        deals, now = sweep(calibrated, SHIPPED_QUERY)
        f = figures(deals, now)
        # FIX 1-3 era: 767-955 matches (6-7 pages of 150).
        assert 767 <= f["listed"] <= 955, f
        # FIX 2: 11/150 new used prices within the hour, FIX 3: 16/150; 64-75 % of them drops.
        assert 0.07 <= f["churn"] <= 0.11, f
        assert 0.6 <= f["drops"] <= 0.85, f
        # FIX 2, 3: median lastUpdate age 87 and 92 min, p90 645 and 299, 3.3 % and 6.7 % > 12 h,
        # the oldest 17-18 h.
        assert 60 <= f["median_age"] <= 130, f
        assert 300 <= f["p90_age"] <= 640, f
        assert 0.02 <= f["over_12h"] <= 0.08, f
        assert 720 < f["max_age"] <= 18 * 60, f


def test_deals_carry_item_prices_and_landed_used_prices(calibrated):
    deals, _ = sweep(calibrated, SHIPPED_QUERY)
    market = calibrated.market
    shipped = 0
    for d in deals:
        p = market.by_asin[d["asin"]]
        used = [o for o in p.offers if o.live and o.condition in (2, 3, 4, 5)]
        # current[2]: the lowest used item price, shipping excluded (JAVA Deal.java).
        assert d["current"][2] == min(o.price for o in used)
        # 19-22: the lowest landed price per sub-condition, shipping included.
        for condition, t in zip((2, 3, 4, 5), (19, 20, 21, 22), strict=True):
            landed = [o.landed for o in used if o.condition == condition]
            assert d["current"][t] == (min(landed) if landed else -1)
        shipped += any(o.shipping > 0 and o.price == d["current"][2] for o in used)
    # Merchant-shipped copies are common: the difference shows in a good share of deals.
    assert shipped > len(deals) // 5


def test_the_used_buy_box_is_the_cheapest_copy_in_about_half_the_deals(calibrated):
    deals, _ = sweep(calibrated, SHIPPED_QUERY)
    with_box = [d for d in deals if d["current"][32] > 0]
    cheapest = [
        d for d in with_box if d["current"][32] == min(v for v in d["current"][19:23] if v > 0)
    ]
    # FIX 3: 76 of 150 deals; FIX 2: 76 of 150.
    assert 0.4 <= len(cheapest) / len(deals) <= 0.6
    # The used buy box is a landed price: never below the cheapest copy's landed price.
    assert all(d["current"][32] >= min(v for v in d["current"][19:23] if v > 0) for d in with_box)


def test_creation_date_is_when_the_deal_price_last_changed(calibrated):
    deals, _ = sweep(calibrated, SHIPPED_QUERY)
    # FIX 3: creationDate == currentSince[2] in 150 of 150 deals.
    assert all(d["creationDate"] == d["currentSince"][2] for d in deals)
    # An offer change that leaves current[2] alone does not re-date the deal. The deal dated
    # longest ago: the newest may have been dated this very minute, like the change below.
    d = min(deals, key=lambda deal: deal["creationDate"])
    before = d["creationDate"]
    post(
        calibrated,
        "/_sim/offer",
        {
            "asin": d["asin"],
            "seller_id": "AEXPENSIVE1",
            "price": d["current"][2] * 3,
            "condition": 3,
        },
    )
    product = calibrated.market.by_asin[d["asin"]]
    assert product.creation_date == before
    # A new lowest price does.
    post(
        calibrated,
        "/_sim/offer",
        {
            "asin": d["asin"],
            "seller_id": "ACHEAPER1",
            "price": d["current"][2] - 100,
            "condition": 3,
        },
    )
    assert (
        product.creation_date
        == product.since[2]
        == keepa_minute(calibrated.simulator.clock.now_ms())
    )
    assert product.creation_date != before


# --- offers look-ups ----------------------------------------------------------------------------


@pytest.fixture
def small():
    server = SimulatorServer(seed=2, products=300, profile="calibrated").start()
    post(server, "/_sim/clock", {"freeze": START})
    post(server, "/_sim/keys", {"key": "demo", "tokens": 10_000})
    yield server
    server.stop()


def lookup(server: SimulatorServer, asin: str, **params: object) -> dict:
    query = {"key": "demo", "domain": 1, "asin": asin, **params}
    response = requests.get(f"{server.url}/product", params=query, timeout=30)
    assert response.status_code == 200
    return response.json()


def with_offers(server: SimulatorServer) -> str:
    return next(p.asin for p in server.market.products if 3 <= len(p.live_offers()) <= 10)


def test_a_failed_offers_look_up_costs_one_token_and_carries_no_offers(small):
    asin = with_offers(small)
    assert post(small, "/_sim/faults", {"offers_fail_next": 2})["offers_fail_next"] == 2
    for _ in range(2):
        body = lookup(small, asin, offers=20)
        (p,) = body["products"]
        assert p["offersSuccessful"] is False
        assert "offers" not in p and "liveOffersOrder" not in p
        assert body["tokensConsumed"] == 1
    body = lookup(small, asin, offers=20)
    assert body["products"][0]["offersSuccessful"] is True
    assert body["products"][0]["offers"]
    assert body["tokensConsumed"] == 6


def test_offers_fresher_than_update_hours_cost_a_flat_five_tokens(small):
    post(small, "/_sim/quiet", {"enabled": True})  # no market change re-collects the offers
    asin = with_offers(small)
    first = lookup(small, asin, offers=20, stats=1)
    assert first["tokensConsumed"] == 6
    collected = first["products"][0]["stats"]["lastOffersUpdate"]
    post(small, "/_sim/advance", {"minutes": 30})
    again = lookup(small, asin, offers=20, update=1, stats=1)
    assert again["tokensConsumed"] == 5
    # No fresh collection: the offers are the ones collected half an hour ago.
    assert again["products"][0]["stats"]["lastOffersUpdate"] == collected
    post(small, "/_sim/advance", {"minutes": 40})
    stale = lookup(small, asin, offers=20, update=1, stats=1)
    assert stale["tokensConsumed"] == 6
    assert stale["products"][0]["stats"]["lastOffersUpdate"] == collected + 70


def test_buybox_costs_two_more_tokens_and_nothing_with_offers(small):
    asin = with_offers(small)
    assert lookup(small, asin)["tokensConsumed"] == 1
    assert lookup(small, asin, buybox=1)["tokensConsumed"] == 3
    assert lookup(small, asin, buybox=1, offers=20)["tokensConsumed"] == 6


def test_offers_look_ups_fail_now_and_then_in_the_calibrated_market(small):
    asins = [p.asin for p in small.market.products[:100]]
    failed = 0
    for start in range(0, 100, 20):
        body = lookup(small, ",".join(asins[start : start + 20]), offers=20)
        failed += sum(not p["offersSuccessful"] for p in body["products"])
    assert 1 <= failed <= 10  # a few percent, seeded


def test_an_empty_deal_page_omits_deals_in_the_calibrated_market(small):
    query = {**SHIPPED_QUERY, "titleSearch": "no such title anywhere"}
    body = requests.get(
        f"{small.url}/deal", params={"key": "demo", "selection": json.dumps(query)}, timeout=30
    ).json()
    assert "deals" not in body
    assert body["tokensConsumed"] == 5


def test_the_busy_market_keeps_landed_used_prices_and_deals_on_empty_pages():
    server = SimulatorServer(seed=2, products=300, profile="busy").start()
    try:
        post(server, "/_sim/clock", {"freeze": START})
        query = {**SHIPPED_QUERY, "titleSearch": "no such title anywhere"}
        body = requests.get(
            f"{server.url}/deal", params={"key": "demo", "selection": json.dumps(query)}, timeout=30
        ).json()
        assert body["deals"]["dr"] == []
        p = next(p for p in server.market.products if p.cur[2] >= 0)
        used = [o for o in p.offers if o.live and o.condition in (2, 3, 4, 5)]
        assert p.cur[2] == min(o.landed for o in used) == p.cur[32]
        assert post(server, "/_sim/reset", {})["profile"] == "busy"
    finally:
        server.stop()


def test_the_shipped_default_profile_is_calibrated():
    from keepa_simulator import cli

    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    options = vars(parser.parse_args([]))
    assert options["profile"] == "calibrated"
    assert vars(parser.parse_args(["--profile", "busy"]))["profile"] == "busy"
    assert parse_iso(START)  # START is a valid instant for the clock
