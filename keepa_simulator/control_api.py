"""The control API under ``/_sim/`` (plain JSON, no key): stats, the clock, staged market changes,
faults and keys, for tests, benchmarks and demos."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keepa_simulator import control, wire
from keepa_simulator.clock import iso, keepa_minute, parse_iso
from keepa_simulator.keepa_api import API_PATHS
from keepa_simulator.tokens import Bucket

if TYPE_CHECKING:
    from keepa_simulator.server import Simulator


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(sim: Simulator, method: str, path: str, body: bytes) -> tuple[int, dict]:
    """Answer a ``/_sim/`` request: its HTTP status and JSON object."""
    name = path.strip("/").removeprefix("_sim/")
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return 400, {"error": "the body is not JSON"}
    if not isinstance(data, dict):
        return 400, {"error": "the body must be a JSON object"}
    handler = ENDPOINTS.get(name)
    if handler is None:
        return 404, {"error": f"no control endpoint {path}"}
    if (name in READS) != (method == "GET"):
        return 405, {"error": f"{path} takes {'GET' if name in READS else 'POST'}"}
    with sim.lock:
        try:
            return 200, handler(sim, data)
        except ControlError as exc:
            return exc.status, {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}


def _now(sim: Simulator) -> int:
    now = keepa_minute(sim.clock.now_ms())
    sim.market.advance_to(now)
    return now


def _clock_json(sim: Simulator) -> dict:
    now_ms = sim.clock.now_ms()
    return {
        "iso": iso(now_ms),
        "unix_ms": now_ms,
        "keepa_minute": keepa_minute(now_ms),
        "frozen": sim.clock.frozen,
    }


def _stats(sim: Simulator, _data: dict) -> dict:
    now = _now(sim)
    for bucket in sim.buckets.values():
        bucket.refill(sim.clock.now_ms())
    window = sim.market.profile.deal_window
    listed = sum(1 for p in sim.market.products if p.last_update >= now - window)
    return {
        "requests": {f"/{name}": sim.requests[name] for name in API_PATHS},
        "tokens_consumed": {f"/{name}": sim.tokens_consumed[name] for name in API_PATHS},
        "products_requested": sim.products_requested,
        "responses": dict(sorted(sim.responses.items())),
        "deal_cache_hits": sim.deal_cache_hits,
        "clock": _clock_json(sim),
        "keys": {
            key: {"tokens": b.tokens, "refill_rate": b.refill_rate, "lapsed": b.lapsed}
            for key, b in sim.buckets.items()
        },
        "market": {
            "seed": sim.seed,
            "products": len(sim.market.products),
            "listed": listed,
            "changes_per_minute": sim.changes_per_minute,
            "quiet": sim.market.quiet,
            "profile": sim.profile.name,
        },
        "faults": [dict(f) for f in sim.faults],
        "offers_fail_next": sim.offers_fail_next,
        "offers_failures": sim.offers_failures,
    }


def _advance(sim: Simulator, data: dict) -> dict:
    minutes = float(data["minutes"])
    if minutes < 0 or not math.isfinite(minutes):
        raise ControlError(400, "minutes must be >= 0: the clock only moves forward")
    sim.clock.advance(minutes)
    events = sim.market.advance_to(keepa_minute(sim.clock.now_ms()))
    sim.market.warm(5000)  # so the /deal right after an advance is as fast as usual
    return {"clock": _clock_json(sim), "events": events}


def _offer(sim: Simulator, data: dict) -> dict:
    now = _now(sim)
    asin = str(data["asin"])
    if asin not in sim.market.by_asin:
        raise ControlError(404, f"unknown ASIN {asin}")
    product = control.set_offer(
        sim.market,
        asin,
        str(data["seller_id"]),
        int(data["price"]),
        int(data.get("shipping", 0)),
        int(data.get("condition", 2)),
        bool(data.get("is_fba", False)),
        now,
    )
    # A staged change should be visible at once, so control changes drop cached /deal
    # results (Keepa's own changes never do).
    sim.deal_cache.clear()
    return wire.product_summary(product)


def _remove_offer(sim: Simulator, data: dict) -> dict:
    now = _now(sim)
    asin = str(data["asin"])
    if asin not in sim.market.by_asin:
        raise ControlError(404, f"unknown ASIN {asin}")
    product = control.remove_offer(sim.market, asin, str(data["seller_id"]), now)
    sim.deal_cache.clear()
    return wire.product_summary(product)


def _product(sim: Simulator, data: dict) -> dict:
    now = _now(sim)
    product = control.add_product(sim.market, data, now)
    sim.deal_cache.clear()
    return wire.product_summary(product)


def _seller(sim: Simulator, data: dict) -> dict:
    """A seller's feedback moved: set its current rating (0-100) and/or rating count, which
    /seller reports from then on."""
    seller = sim.market.sellers.get(str(data["seller_id"]))
    if seller is None:
        raise ControlError(404, f"unknown seller {data['seller_id']}")
    if "rating" in data:
        rating = int(data["rating"])
        if not 0 <= rating <= 100:
            raise ControlError(400, "rating must be within 0..100 (percent positive)")
        seller.rating = rating
    if "rating_count" in data:
        count = int(data["rating_count"])
        if count < 0:
            raise ControlError(400, "rating_count must be >= 0")
        seller.rating_count = count
    return {
        "sellerId": seller.seller_id,
        "currentRating": seller.rating,
        "currentRatingCount": seller.rating_count,
    }


def _faults(sim: Simulator, data: dict) -> dict:
    if data.get("clear"):
        sim.faults.clear()
        sim.offers_fail_next = 0
        return {"faults": [], "offers_fail_next": 0}
    if "offers_fail_next" in data:
        # The next N offers look-ups fail (offersSuccessful false, 1 token), whatever the
        # profile's rate; the requests themselves succeed.
        count = int(data["offers_fail_next"])
        if count < 0:
            raise ControlError(400, "offers_fail_next must be >= 0")
        sim.offers_fail_next = count
        return {"faults": [dict(f) for f in sim.faults], "offers_fail_next": count}
    count = int(data.get("count", 1))
    if "status" in data:
        status = int(data["status"])
        if not 400 <= status <= 599:
            raise ControlError(400, "status must be an HTTP error status")
        fault: dict[str, Any] = {"status": status}
    elif "delay_s" in data:
        delay = float(data["delay_s"])
        if not 0 <= delay <= 120:
            raise ControlError(400, "delay_s must be within 0..120")
        fault = {"delay_s": delay}
    elif data.get("malformed"):
        fault = {"malformed": True}
    elif data.get("truncated"):
        fault = {"truncated": True}
    else:
        raise ControlError(400, "give status, delay_s, malformed, truncated or offers_fail_next")
    fault["count"] = count
    if count > 0:
        sim.faults.append(fault)
    return {"faults": [dict(f) for f in sim.faults]}


def _keys(sim: Simulator, data: dict) -> dict:
    key = str(data["key"])
    now_ms = sim.clock.now_ms()
    bucket = sim.buckets.get(key)
    if bucket is None:
        rate = int(data.get("refill_rate", sim.refill_rate))
        bucket = sim.buckets[key] = Bucket(rate, now_ms)
    bucket.refill(now_ms)
    if "refill_rate" in data:
        bucket.refill_rate = int(data["refill_rate"])
    if "tokens" in data:
        bucket.tokens = int(data["tokens"])
    if "lapsed" in data:
        bucket.lapsed = bool(data["lapsed"])
    return {
        "key": key,
        "tokens": bucket.tokens,
        "refill_rate": bucket.refill_rate,
        "lapsed": bucket.lapsed,
    }


def _reset(sim: Simulator, _data: dict) -> dict:
    sim.reset()
    return {
        "clock": _clock_json(sim),
        "products": len(sim.market.products),
        "profile": sim.profile.name,
    }


def _quiet(sim: Simulator, data: dict) -> dict:
    _now(sim)  # minutes before the switch evolve as they would have
    sim.market.quiet = bool(data.get("enabled", True))
    return {"quiet": sim.market.quiet}


def _clock(sim: Simulator, data: dict) -> dict:
    target = data.get("freeze")
    sim.clock.freeze(parse_iso(target) if target else None)
    now_ms = sim.clock.now_ms()
    # The market is rebuilt from the seed at the new instant (a market cannot run
    # backwards, and a far jump forward would replay weeks of events); buckets keep
    # their balances and count refills from now.
    quiet = sim.market.quiet
    sim.market = sim.new_market(now_ms)
    sim.market.quiet = quiet
    sim.deal_cache.clear()
    for bucket in sim.buckets.values():
        bucket.minute = now_ms // 60_000
    return {"clock": _clock_json(sim)}


# /_sim/<name> -> handler(simulator, body). Reads take GET; everything else changes state and
# takes POST.
ENDPOINTS: dict[str, Callable[[Simulator, dict], dict]] = {
    "stats": _stats,
    "advance": _advance,
    "offer": _offer,
    "remove_offer": _remove_offer,
    "product": _product,
    "seller": _seller,
    "faults": _faults,
    "keys": _keys,
    "reset": _reset,
    "quiet": _quiet,
    "clock": _clock,
}
READS = frozenset(("stats",))
