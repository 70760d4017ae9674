"""The simulator's HTTP API: Keepa's endpoints plus a control API under /_sim/."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from keepa_simulator import control, deals, wire
from keepa_simulator.clock import SimClock, iso, keepa_minute, parse_iso
from keepa_simulator.market import Market, build_market
from keepa_simulator.tokens import Bucket

API_PATHS = ("deal", "product", "seller", "token")
DEAL_COST = 5
DEAL_CACHE_MS = 120_000  # "The result set of a query is cached for 120 seconds" (JAVA DealRequest)
DEAL_WINDOW_MINUTES = 12 * 60  # /deal lists products updated within the last 12 hours (DOC)
INVALID_PARAMETER = "You used an invalid parameter for this API call."
TICK_SECONDS = 1.0
WARM_BATCH = 25  # views built per lock hold (~5 ms), so requests wait little behind the warmer


@dataclass
class Reply:
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


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Simulator:
    """All state behind the HTTP API; every method runs under one lock."""

    def __init__(
        self,
        *,
        seed: int = 1,
        products: int = 6000,
        refill_rate: int = 20,
        keys: tuple[str, ...] | list[str] = ("demo",),
        changes_per_minute: int = 40,
    ) -> None:
        self.seed = seed
        self.product_count = products
        self.refill_rate = refill_rate
        self.initial_keys = tuple(keys)
        self.changes_per_minute = changes_per_minute
        self.lock = threading.RLock()
        self.reset(first=True)

    # --- state --------------------------------------------------------------------------------

    def reset(self, *, first: bool = False) -> None:
        with self.lock:
            self.clock = SimClock()
            now = self.clock.now_ms()
            self.market = self._new_market(now, again=not first)
            self.buckets = {key: Bucket(self.refill_rate, now) for key in self.initial_keys}
            self.requests: Counter[str] = Counter()
            self.tokens_consumed: Counter[str] = Counter()
            self.responses: Counter[str] = Counter()
            self.products_requested = 0
            self.deal_cache_hits = 0
            self.faults: list[dict[str, Any]] = []
            self.deal_cache: dict[str, tuple[int, deals.DealResult]] = {}

    def _new_market(self, now_ms: int, *, again: bool = True) -> Market:
        return build_market(
            seed=self.seed,
            products=self.product_count,
            changes_per_minute=self.changes_per_minute,
            genesis=keepa_minute(now_ms),
            again=again,
        )

    def catch_up(self) -> int:
        """Apply due market events and build a batch of deal views; return views left."""
        with self.lock:
            self.market.advance_to(keepa_minute(self.clock.now_ms()))
            return self.market.warm(WARM_BATCH)

    # --- Keepa API ------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: str, body: bytes) -> Reply:
        started = time.perf_counter()
        endpoint = path.strip("/")
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self.lock:
            if endpoint not in API_PATHS:
                error = {"error": _error("notFound", "Not found.", None)}
                return self._reply(404, error, None, 0, started)
            self.requests[endpoint] += 1
            fault = self._take_fault()
            reply = self._answer(endpoint, method, params, body, fault, started)
        if fault:
            reply.delay_s = float(fault.get("delay_s", 0))
            if fault.get("malformed"):
                reply.corrupt = "malformed"
            elif fault.get("truncated"):
                reply.corrupt = "truncated"
        return reply

    def _answer(
        self,
        endpoint: str,
        method: str,
        params: dict[str, str],
        body: bytes,
        fault: dict[str, Any] | None,
        started: float,
    ) -> Reply:
        now_ms = self.clock.now_ms()
        bucket = self.buckets.get(params.get("key", ""))
        if bucket is not None:
            bucket.refill(now_ms)
        if fault and "status" in fault:
            status = int(fault["status"])
            payload = {} if status == 429 else {"error": _fault_error(status)}
            return self._reply(status, payload, bucket, 0, started)
        if bucket is None:
            # Unknown key: 400 with every token field 0 [UNCERTAIN, REFERENCE §1.3].
            error = _error("invalidParameter", INVALID_PARAMETER, "key")
            return self._reply(400, {"error": error}, None, 0, started)
        if bucket.lapsed:
            error = _error("paymentRequired", "Your subscription is not active.", None)
            return self._reply(402, {"error": error}, bucket, 0, started)
        if endpoint == "token":
            return self._reply(200, {}, bucket, 0, started)
        if bucket.tokens <= 0:
            # Only the envelope, as in the real capture (fixture 8).
            return self._reply(429, {}, bucket, 0, started)
        if method == "POST" and endpoint != "deal":
            error = _error("methodNotAllowed", "Method not allowed.", None)
            return self._reply(405, {"error": error}, bucket, 0, started)
        self.market.advance_to(keepa_minute(now_ms))
        try:
            if endpoint == "deal":
                raw = body if method == "POST" and body.strip() else params.get("selection")
                text, cost = self._deal(raw, now_ms)
            elif endpoint == "product":
                payload, cost = self._product(params, now_ms)
                text = None
            else:
                payload, cost = self._seller(params, now_ms)
                text = None
        except ApiError as exc:
            return self._reply(exc.status, {"error": exc.error}, bucket, 0, started)
        bucket.tokens -= cost
        self.tokens_consumed[endpoint] += cost
        if text is not None:
            return self._reply_text(200, text, bucket, cost, started)
        return self._reply(200, payload, bucket, cost, started)

    def _envelope(self, bucket: Bucket | None, cost: int, started: float | None) -> dict:
        now_ms = self.clock.now_ms()
        # Processing time is measured on the simulator's clock: a pinned clock measures none,
        # which keeps responses byte-identical for the same seed and clock.
        elapsed = 0
        if started is not None and not self.clock.frozen:
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
        self,
        status: int,
        payload: dict,
        bucket: Bucket | None,
        cost: int,
        started: float | None = None,
    ) -> Reply:
        text = wire.dumps({**payload, **self._envelope(bucket, cost, started)})
        self.responses[str(status)] += 1
        return Reply(status, text.encode())

    def _reply_text(
        self, status: int, text: str, bucket: Bucket, cost: int, started: float
    ) -> Reply:
        """``text`` is the payload's JSON without its closing brace; the envelope is added."""
        envelope = wire.dumps(self._envelope(bucket, cost, started))
        self.responses[str(status)] += 1
        return Reply(status, (text + "," + envelope[1:]).encode())

    def _take_fault(self) -> dict[str, Any] | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        fault["count"] -= 1
        if fault["count"] <= 0:
            self.faults.pop(0)
        return fault

    def _deal(self, raw: str | bytes | None, now_ms: int) -> tuple[str, int]:
        try:
            query = deals.parse(raw)
        except deals.QueryError as exc:
            raise ApiError(400, exc.message, exc.details, "invalidParameter") from None
        cached = self.deal_cache.get(query.cache_key)
        if cached is not None and 0 <= now_ms - cached[0] < DEAL_CACHE_MS:
            result = cached[1]
            from_cache = True
            self.deal_cache_hits += 1
        else:
            now = keepa_minute(now_ms)
            result = deals.run(query, self.market.listed(now, DEAL_WINDOW_MINUTES))
            self._store_deals(query.cache_key, now_ms, result)
            from_cache = False
        start = query.page * deals.PAGE_SIZE
        page = result.deals[start : start + deals.PAGE_SIZE]
        listing = {**deals.categories_json(result.categories), "dr": "@DR@", "drDateIndex": []}
        text = wire.dumps({"deals": listing, "dealsCached": from_cache})
        text = text.replace('"@DR@"', "[" + ",".join(v.json() for v in page) + "]", 1)
        return text[:-1], DEAL_COST

    def _store_deals(self, key: str, now_ms: int, result: deals.DealResult) -> None:
        expired = [k for k, (at, _) in self.deal_cache.items() if now_ms - at >= DEAL_CACHE_MS]
        for k in expired:
            del self.deal_cache[k]
        if len(self.deal_cache) >= 64:
            self.deal_cache.pop(next(iter(self.deal_cache)))
        self.deal_cache[key] = (now_ms, result)

    def _product(self, params: dict[str, str], now_ms: int) -> tuple[dict, int]:
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
        self.products_requested += len(asins)
        products = []
        cost = 0
        for asin in asins:
            product = self.market.by_asin.get(asin) if domain == 1 else None
            if product is None:
                continue  # unknown ASIN: no product, no token
            if update == 0:
                # A live update: Keepa re-reads the product now. Simulated, it finds no change
                # but moves lastUpdate. Older data is served as it is [assumption: whether
                # Keepa's default refresh (update=1 h) moves a /deal entry is not documented].
                self.market.refresh(product, now)
            obj, live = wire.product_json(product, now, options)
            products.append(obj)
            # With offers: 6 tokens per page of up to 10 live offers returned, instead of the
            # base token; a product without live offers still costs one page (Keepa looked).
            cost += 6 * wire.offer_pages(live) if offers is not None else 1
            if options.buybox and offers is None:
                cost += 2
            if options.rating:
                cost += 1
            if update == 0:
                cost += 1
        return ({"products": products} if products else {}), cost

    def _seller(self, params: dict[str, str], now_ms: int) -> tuple[dict, int]:
        domain = _int_param(params, "domain")
        if domain is None or domain not in deals.DOMAINS:
            raise _invalid("domain")
        ids = [s.strip() for s in params.get("seller", "").split(",") if s.strip()]
        if not ids or len(ids) > 100:
            raise _invalid("seller")
        now = keepa_minute(now_ms)
        found = {}
        for seller_id in ids:
            seller = self.market.sellers.get(seller_id) if domain == 1 else None
            if seller is not None:
                found[seller_id] = wire.seller_json(seller, now)
        return ({"sellers": found} if found else {}), len(found)

    # --- control API ----------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        name = path.strip("/").removeprefix("_sim/")
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "the body must be a JSON object"}
        handler = getattr(self, f"_control_{name}", None)
        if handler is None:
            return 404, {"error": f"no control endpoint {path}"}
        if (name == "stats") != (method == "GET"):
            return 405, {"error": f"{path} takes {'GET' if name == 'stats' else 'POST'}"}
        with self.lock:
            try:
                return 200, handler(data)
            except ControlError as exc:
                return exc.status, {"error": str(exc)}
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": f"{type(exc).__name__}: {exc}"}

    def _now(self) -> int:
        now = keepa_minute(self.clock.now_ms())
        self.market.advance_to(now)
        return now

    def _clock_json(self) -> dict:
        now_ms = self.clock.now_ms()
        return {
            "iso": iso(now_ms),
            "unix_ms": now_ms,
            "keepa_minute": keepa_minute(now_ms),
            "frozen": self.clock.frozen,
        }

    def _control_stats(self, _data: dict) -> dict:
        now = self._now()
        for bucket in self.buckets.values():
            bucket.refill(self.clock.now_ms())
        listed = sum(1 for p in self.market.products if p.last_update >= now - DEAL_WINDOW_MINUTES)
        return {
            "requests": {f"/{name}": self.requests[name] for name in API_PATHS},
            "tokens_consumed": {f"/{name}": self.tokens_consumed[name] for name in API_PATHS},
            "products_requested": self.products_requested,
            "responses": dict(sorted(self.responses.items())),
            "deal_cache_hits": self.deal_cache_hits,
            "clock": self._clock_json(),
            "keys": {
                key: {"tokens": b.tokens, "refill_rate": b.refill_rate, "lapsed": b.lapsed}
                for key, b in self.buckets.items()
            },
            "market": {
                "seed": self.seed,
                "products": len(self.market.products),
                "listed": listed,
                "changes_per_minute": self.changes_per_minute,
                "quiet": self.market.quiet,
            },
            "faults": [dict(f) for f in self.faults],
        }

    def _control_advance(self, data: dict) -> dict:
        minutes = float(data["minutes"])
        if minutes < 0 or not math.isfinite(minutes):
            raise ControlError(400, "minutes must be >= 0: the clock only moves forward")
        self.clock.advance(minutes)
        events = self.market.advance_to(keepa_minute(self.clock.now_ms()))
        self.market.warm(5000)  # so the /deal right after an advance is as fast as usual
        return {"clock": self._clock_json(), "events": events}

    def _control_offer(self, data: dict) -> dict:
        now = self._now()
        asin = str(data["asin"])
        if asin not in self.market.by_asin:
            raise ControlError(404, f"unknown ASIN {asin}")
        product = control.set_offer(
            self.market,
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
        self.deal_cache.clear()
        return wire.product_summary(product)

    def _control_remove_offer(self, data: dict) -> dict:
        now = self._now()
        asin = str(data["asin"])
        if asin not in self.market.by_asin:
            raise ControlError(404, f"unknown ASIN {asin}")
        product = control.remove_offer(self.market, asin, str(data["seller_id"]), now)
        self.deal_cache.clear()
        return wire.product_summary(product)

    def _control_product(self, data: dict) -> dict:
        now = self._now()
        product = control.add_product(self.market, data, now)
        self.deal_cache.clear()
        return wire.product_summary(product)

    def _control_faults(self, data: dict) -> dict:
        if data.get("clear"):
            self.faults.clear()
            return {"faults": []}
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
            raise ControlError(400, "give status, delay_s, malformed or truncated")
        fault["count"] = count
        if count > 0:
            self.faults.append(fault)
        return {"faults": [dict(f) for f in self.faults]}

    def _control_keys(self, data: dict) -> dict:
        key = str(data["key"])
        now_ms = self.clock.now_ms()
        bucket = self.buckets.get(key)
        if bucket is None:
            rate = int(data.get("refill_rate", self.refill_rate))
            bucket = self.buckets[key] = Bucket(rate, now_ms)
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

    def _control_reset(self, _data: dict) -> dict:
        self.reset()
        return {"clock": self._clock_json(), "products": len(self.market.products)}

    def _control_quiet(self, data: dict) -> dict:
        self._now()  # minutes before the switch evolve as they would have
        self.market.quiet = bool(data.get("enabled", True))
        return {"quiet": self.market.quiet}

    def _control_clock(self, data: dict) -> dict:
        target = data.get("freeze")
        self.clock.freeze(parse_iso(target) if target else None)
        now_ms = self.clock.now_ms()
        # The market is rebuilt from the seed at the new instant (a market cannot run
        # backwards, and a far jump forward would replay weeks of events); buckets keep
        # their balances and count refills from now.
        quiet = self.market.quiet
        self.market = self._new_market(now_ms)
        self.market.quiet = quiet
        self.deal_cache.clear()
        for bucket in self.buckets.values():
            bucket.minute = now_ms // 60_000
        return {"clock": self._clock_json()}


def _error(kind: str, message: str, details: str | None) -> dict:
    return {"type": kind, "message": message, "details": details}


def _fault_error(status: int) -> dict:
    if status == 503:
        return _error("serviceUnavailable", "Backend down, retry again.", None)
    return _error("internalServerError", "Internal server error.", None)


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


def gzip_bytes(data: bytes) -> bytes:
    # A gzip stream with a zero mtime, so equal bodies compress to equal bytes.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KeepaSimulator/1.0"
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 10_000_000)) if length else b""
        simulator = self.server.simulator
        if url.path.startswith("/_sim/"):
            status, obj = simulator.control(method, url.path, body)
            self._send(Reply(status, json.dumps(obj).encode(), gzip=False))
            return
        try:
            reply = simulator.api(method, url.path, url.query, body)
        except Exception as exc:  # a simulator bug must not look like a hung server
            error = {"error": _error("internalServerError", repr(exc), None)}
            reply = Reply(500, json.dumps(error).encode())
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        body = reply.body
        if reply.corrupt == "malformed":
            body = body[: max(1, len(body) // 3)]
        data = gzip_bytes(body) if reply.gzip else body
        if reply.delay_s:
            time.sleep(reply.delay_s)
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        if reply.corrupt == "truncated":
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.corrupt == "truncated":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
            return
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator, verbose: bool) -> None:
        self.simulator = simulator
        self.verbose = verbose
        super().__init__(address, _Handler)


class SimulatorServer:
    """A local Keepa API over a deterministic, moving market.

    ``SimulatorServer(seed=1, products=6000).start()`` serves on 127.0.0.1 from a daemon
    thread; ``.url`` is its base URL, ``.market`` the in-memory market, ``.stop()`` ends it.
    """

    def __init__(
        self,
        seed: int = 1,
        products: int = 6000,
        refill_rate: int = 20,
        keys: tuple[str, ...] | list[str] = ("demo",),
        changes_per_minute: int = 40,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
    ) -> None:
        self.simulator = Simulator(
            seed=seed,
            products=products,
            refill_rate=refill_rate,
            keys=keys,
            changes_per_minute=changes_per_minute,
        )
        self._httpd = _HTTPServer((host, port), self.simulator, verbose)
        self.host, self.port = self._httpd.server_address[:2]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def market(self) -> Market:
        return self.simulator.market

    def start(self) -> SimulatorServer:
        self._spawn(self._httpd.serve_forever, "keepa-simulator-http")
        self._spawn(self._tick, "keepa-simulator-clock")
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until Ctrl-C."""
        self._spawn(self._tick, "keepa-simulator-clock")
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            self._httpd.server_close()

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick(self) -> None:
        # Keep the market caught up with the clock, so a request after a long idle spell does
        # not replay hours of events first. The result is the same either way.
        while not self._stopping.wait(TICK_SECONDS):
            # Bounded: at most the market's size in batches per tick.
            for _ in range(len(self.simulator.market.products) // WARM_BATCH + 1):
                if self._stopping.is_set() or not self.simulator.catch_up():
                    break
                time.sleep(0.001)  # let waiting requests take the lock
