"""Keepa's endpoints (``/deal``, ``/product``, ``/seller``, ``/token``) over the simulator's state:
parameters and errors, token costs, the /deal result cache, staged faults and the token envelope
on every response."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from keepa_simulator import deals, wire
from keepa_simulator.clock import keepa_minute, parse_iso
from keepa_simulator.tokens import Bucket

if TYPE_CHECKING:
    from keepa_simulator.server import Simulator

API_PATHS = ("deal", "product", "seller", "token")
DEAL_COST = 5
DEAL_CACHE_MS = 120_000  # "The result set of a query is cached for 120 seconds" (JAVA DealRequest)
OFFERS_FLAT_COST = 5  # offers fresher than `update` hours: no collection, 5 tokens (DOC)
OFFERS_FAILED_COST = 1  # a failed offers collection (DOC; docs/keepa.md §5.2)
INVALID_PARAMETER = "You used an invalid parameter for this API call."


@dataclass
class Reply:
    """A response as the HTTP layer sends it, with any staged fault applied there."""

    status: int
    body: bytes
    gzip: bool = True
    delay_s: float = 0.0
    corrupt: str | None = None  # "malformed" or "truncated"


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: str | None, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"type": kind, "message": message, "details": details}


def _invalid(details: str | None) -> ApiError:
    return ApiError(400, INVALID_PARAMETER, details, "invalidParameter")


def answer(sim: Simulator, method: str, path: str, query: str, body: bytes) -> Reply:
    """Answer a request to one of Keepa's endpoints as Keepa would."""
    started = time.perf_counter()
    endpoint = path.strip("/")
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    with sim.lock:
        if endpoint not in API_PATHS:
            error = {"error": error_object("notFound", "Not found.", None)}
            return _reply(sim, 404, error, None, 0, started)
        sim.requests[endpoint] += 1
        fault = _take_fault(sim)
        reply = _answer(sim, endpoint, method, params, body, fault, started)
    if fault:
        reply.delay_s = float(fault.get("delay_s", 0))
        if fault.get("malformed"):
            reply.corrupt = "malformed"
        elif fault.get("truncated"):
            reply.corrupt = "truncated"
    return reply


def _answer(
    sim: Simulator,
    endpoint: str,
    method: str,
    params: dict[str, str],
    body: bytes,
    fault: dict[str, Any] | None,
    started: float,
) -> Reply:
    now_ms = sim.clock.now_ms()
    bucket = sim.buckets.get(params.get("key", ""))
    if bucket is not None:
        bucket.refill(now_ms)
    if fault and "status" in fault:
        status = int(fault["status"])
        payload = {} if status == 429 else {"error": _fault_error(status)}
        return _reply(sim, status, payload, bucket, 0, started)
    if bucket is None:
        # Unknown key: 400 with every token field 0 [UNCERTAIN, docs/keepa.md §1.3].
        error = error_object("invalidParameter", INVALID_PARAMETER, "key")
        return _reply(sim, 400, {"error": error}, None, 0, started)
    if bucket.lapsed:
        error = error_object("paymentRequired", "Your subscription is not active.", None)
        return _reply(sim, 402, {"error": error}, bucket, 0, started)
    if endpoint == "token":
        return _reply(sim, 200, {}, bucket, 0, started)
    if bucket.tokens <= 0:
        # Only the envelope, as in the real capture (fixture 8).
        return _reply(sim, 429, {}, bucket, 0, started)
    if method == "POST" and endpoint != "deal":
        error = error_object("methodNotAllowed", "Method not allowed.", None)
        return _reply(sim, 405, {"error": error}, bucket, 0, started)
    sim.market.advance_to(keepa_minute(now_ms))
    try:
        if endpoint == "deal":
            raw = body if method == "POST" and body.strip() else params.get("selection")
            text, cost = _deal(sim, raw, now_ms)
        elif endpoint == "product":
            payload, cost = _product(sim, params, now_ms)
            text = None
        else:
            payload, cost = _seller(sim, params, now_ms)
            text = None
    except ApiError as exc:
        return _reply(sim, exc.status, {"error": exc.error}, bucket, 0, started)
    bucket.tokens -= cost
    sim.tokens_consumed[endpoint] += cost
    if text is not None:
        return _reply_text(sim, 200, text, bucket, cost, started)
    return _reply(sim, 200, payload, bucket, cost, started)


def _envelope(sim: Simulator, bucket: Bucket | None, cost: int, started: float | None) -> dict:
    now_ms = sim.clock.now_ms()
    # Processing time is measured on the simulator's clock: a pinned clock measures none,
    # which keeps responses byte-identical for the same seed and clock.
    elapsed = 0
    if started is not None and not sim.clock.frozen:
        elapsed = int((time.perf_counter() - started) * 1000)
    return {
        "processingTimeInMs": elapsed,
        "refillIn": Bucket.refill_in(now_ms) if bucket else 0,
        "refillRate": bucket.refill_rate if bucket else 0,
        "timestamp": now_ms,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": cost,
        "tokensLeft": bucket.tokens if bucket else 0,
    }


def _reply(
    sim: Simulator,
    status: int,
    payload: dict,
    bucket: Bucket | None,
    cost: int,
    started: float | None = None,
) -> Reply:
    text = wire.dumps({**payload, **_envelope(sim, bucket, cost, started)})
    sim.responses[str(status)] += 1
    return Reply(status, text.encode())


def _reply_text(
    sim: Simulator, status: int, text: str, bucket: Bucket, cost: int, started: float
) -> Reply:
    """``text`` is the payload's JSON without its closing brace; the envelope is added."""
    envelope = wire.dumps(_envelope(sim, bucket, cost, started))
    sim.responses[str(status)] += 1
    return Reply(status, (text + "," + envelope[1:]).encode())


def _take_fault(sim: Simulator) -> dict[str, Any] | None:
    if not sim.faults:
        return None
    fault = sim.faults[0]
    fault["count"] -= 1
    if fault["count"] <= 0:
        sim.faults.pop(0)
    return fault


def _deal(sim: Simulator, raw: str | bytes | None, now_ms: int) -> tuple[str, int]:
    try:
        query = deals.parse(raw)
    except deals.QueryError as exc:
        raise ApiError(400, exc.message, exc.details, "invalidParameter") from None
    cached = sim.deal_cache.get(query.cache_key)
    if cached is not None and 0 <= now_ms - cached[0] < DEAL_CACHE_MS:
        result = cached[1]
        from_cache = True
        sim.deal_cache_hits += 1
    else:
        now = keepa_minute(now_ms)
        # The profile's window: the busy market keeps DOC's 12 hours, the calibrated one the
        # 18 hours the real pages show (docs/keepa.md §4.1).
        result = deals.run(query, sim.market.listed(now), sim.deal_order)
        _store_deals(sim, query.cache_key, now_ms, result)
        from_cache = False
    start = query.page * deals.PAGE_SIZE
    page = result.deals[start : start + deals.PAGE_SIZE]
    if not page and sim.market.profile.omit_empty_deals:
        # Keepa omits null fields (FIX 3's serialization) and may leave out "deals" when a
        # page has none (docs/keepa.md §4.3).
        return wire.dumps({"dealsCached": from_cache})[:-1], DEAL_COST
    listing = {**deals.categories_json(result.categories), "dr": "@DR@", "drDateIndex": []}
    text = wire.dumps({"deals": listing, "dealsCached": from_cache})
    text = text.replace('"@DR@"', "[" + ",".join(v.json() for v in page) + "]", 1)
    return text[:-1], DEAL_COST


def _store_deals(sim: Simulator, key: str, now_ms: int, result: deals.DealResult) -> None:
    expired = [k for k, (at, _) in sim.deal_cache.items() if now_ms - at >= DEAL_CACHE_MS]
    for k in expired:
        del sim.deal_cache[k]
    if len(sim.deal_cache) >= 64:
        sim.deal_cache.pop(next(iter(sim.deal_cache)))
    sim.deal_cache[key] = (now_ms, result)


def _product(sim: Simulator, params: dict[str, str], now_ms: int) -> tuple[dict, int]:
    domain = _int_param(params, "domain")
    if domain is None or (domain not in deals.DOMAINS and domain != 12):
        raise _invalid("domain")
    asins = [a.strip().upper() for a in params.get("asin", "").split(",") if a.strip()]
    if not asins or len(asins) > 100:
        raise _invalid("asin")
    offers = _int_param(params, "offers")
    if offers == 0:
        offers = None
    if offers is not None and not 20 <= offers <= 100:
        # HTTP 200 with an error and no products (OBS fixture 12).
        message = "Either no or a minimum of 20 offers must be requested."
        raise ApiError(200, message, None, "invalidParameter")
    now = keepa_minute(now_ms)
    start, end = _stats_interval(params.get("stats"), now)
    days = _int_param(params, "days")
    update = _int_param(params, "update")
    options = wire.ProductOptions(
        offers=offers,
        only_live_offers=params.get("only-live-offers") == "1",
        stats_start=start,
        stats_end=end,
        history=params.get("history", "1") != "0",
        days=days if days and days > 0 else None,
        buybox=params.get("buybox") == "1",
        rating=params.get("rating") == "1",
    )
    sim.products_requested += len(asins)
    products = []
    cost = 0
    for asin in asins:
        product = sim.market.by_asin.get(asin) if domain == 1 else None
        if product is None:
            continue  # unknown ASIN: no product, no token
        if update == 0:
            # A live update: Keepa re-reads the product now. Simulated, it finds no change
            # but moves lastUpdate. Older data is served as it is [assumption: whether
            # Keepa's default refresh (update=1 h) moves a /deal entry is not documented].
            sim.market.refresh(product, now)
        product_options = options
        if offers is None:
            cost += 1
        elif update is not None and update > 0 and now - product.last_offers_update < update * 60:
            # The offers were collected less than `update` hours ago: Keepa serves them as
            # they are for a flat 5 tokens (DOC Request Products; docs/keepa.md §5.2).
            cost += OFFERS_FLAT_COST
        elif _offers_fail(sim):
            # The collection failed: the product without offers, offersSuccessful false, one
            # token; Keepa says to retry after a few minutes (docs/keepa.md §5.6).
            product_options = replace(options, offers=None)
            cost += OFFERS_FAILED_COST
        else:
            # A fresh collection: 6 tokens per page of up to 10 live offers returned, instead
            # of the base token; a product without live offers still costs one page.
            sim.market.collect_offers(product, now)
            cost += 6 * wire.offer_pages(len(product.live_offers()[:offers]))
        obj, _live = wire.product_json(product, now, product_options)
        products.append(obj)
        if options.buybox and offers is None:
            cost += 2
        if options.rating:
            cost += 1
        if update == 0:
            cost += 1
    return ({"products": products} if products else {}), cost


def _offers_fail(sim: Simulator) -> bool:
    """Whether this offers look-up fails: the staged ``offers_fail_next`` first, then the
    profile's seeded rate (drawn per look-up, in request order)."""
    if sim.offers_fail_next > 0:
        sim.offers_fail_next -= 1
        sim.offers_failures += 1
        return True
    rate = sim.profile.offers_fail_rate
    if rate > 0 and sim.offers_rng.random() < rate:
        sim.offers_failures += 1
        return True
    return False


def _seller(sim: Simulator, params: dict[str, str], now_ms: int) -> tuple[dict, int]:
    domain = _int_param(params, "domain")
    if domain is None or domain not in deals.DOMAINS:
        raise _invalid("domain")
    ids = [s.strip() for s in params.get("seller", "").split(",") if s.strip()]
    if not ids or len(ids) > 100:
        raise _invalid("seller")
    now = keepa_minute(now_ms)
    found = {}
    for seller_id in ids:
        seller = sim.market.sellers.get(seller_id) if domain == 1 else None
        if seller is not None:
            found[seller_id] = wire.seller_json(seller, now)
    return ({"sellers": found} if found else {}), len(found)


def error_object(kind: str, message: str, details: str | None) -> dict:
    return {"type": kind, "message": message, "details": details}


def _fault_error(status: int) -> dict:
    if status == 503:
        return error_object("serviceUnavailable", "Backend down, retry again.", None)
    return error_object("internalServerError", "Internal server error.", None)


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _invalid(name) from None


def _stats_interval(value: str | None, now: int) -> tuple[int | None, int | None]:
    """``stats=N`` (days) or ``stats=start,end`` (ISO dates or Unix ms) as Keepa minutes."""
    if not value:
        return None, None
    if "," not in value:
        try:
            days = int(value)
        except ValueError:
            raise _invalid("stats") from None
        if days <= 0:
            raise _invalid("stats")
        return now - days * 1440, now
    try:
        start, end = (_moment(part.strip()) for part in value.split(",", 1))
    except ValueError:
        raise _invalid("stats") from None
    if end <= start:
        raise _invalid("stats")
    return start, min(end, now)


def _moment(text: str) -> int:
    if text.isdigit():
        return keepa_minute(int(text))
    return keepa_minute(parse_iso(text))
