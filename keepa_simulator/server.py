"""The simulator's HTTP server: the state behind its two APIs, and the plumbing that routes
``/_sim/`` to the control API (``control_api``) and everything else to Keepa's endpoints
(``keepa_api``)."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from keepa_simulator import control_api, deals, keepa_api, profiles
from keepa_simulator.clock import SimClock, keepa_minute
from keepa_simulator.keepa_api import Reply
from keepa_simulator.market import Market, build_market
from keepa_simulator.profiles import Profile
from keepa_simulator.tokens import Bucket

TICK_SECONDS = 1.0
WARM_BATCH = 25  # views built per lock hold (~5 ms), so requests wait little behind the warmer


class Simulator:
    """All state behind the HTTP APIs; every request handles it under the one ``lock``."""

    def __init__(
        self,
        *,
        seed: int = 1,
        products: int = 6000,
        refill_rate: int = 20,
        keys: tuple[str, ...] | list[str] = ("demo",),
        changes_per_minute: int | None = None,
        deal_order: str = "creation",
        profile: Profile | str = profiles.DEFAULT,
    ) -> None:
        if deal_order not in deals.DEAL_ORDERS:
            raise ValueError(f"deal_order must be one of {', '.join(deals.DEAL_ORDERS)}")
        # Set once, kept across /_sim/reset: what sortType 1 sorts by (keepa_simulator.deals).
        self.deal_order = deal_order
        self.seed = seed
        self.product_count = products
        self.refill_rate = refill_rate
        self.initial_keys = tuple(keys)
        self.profile = profiles.get(profile)
        if changes_per_minute is None:
            changes_per_minute = self.profile.changes_per_minute
        self.changes_per_minute = changes_per_minute
        self.lock = threading.RLock()
        self.reset(first=True)

    # --- state --------------------------------------------------------------------------------

    def reset(self, *, first: bool = False) -> None:
        with self.lock:
            self.clock = SimClock()
            now = self.clock.now_ms()
            self.market = self.new_market(now, again=not first)
            self.buckets = {key: Bucket(self.refill_rate, now) for key in self.initial_keys}
            self.requests: Counter[str] = Counter()
            self.tokens_consumed: Counter[str] = Counter()
            self.responses: Counter[str] = Counter()
            self.products_requested = 0
            self.deal_cache_hits = 0
            self.faults: list[dict[str, Any]] = []
            # Offers look-ups: the next N fail (a /_sim/faults option), and the profile's
            # seeded rate of failures, drawn in request order.
            self.offers_fail_next = 0
            self.offers_failures = 0
            self.offers_rng = random.Random(f"{self.seed}:offers")
            self.deal_cache: dict[str, tuple[int, deals.DealResult]] = {}

    def new_market(self, now_ms: int, *, again: bool = True) -> Market:
        return build_market(
            seed=self.seed,
            products=self.product_count,
            changes_per_minute=self.changes_per_minute,
            genesis=keepa_minute(now_ms),
            again=again,
            profile=self.profile,
        )

    def catch_up(self) -> int:
        """Apply due market events and build a batch of deal views; return views left."""
        with self.lock:
            self.market.advance_to(keepa_minute(self.clock.now_ms()))
            return self.market.warm(WARM_BATCH)


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
            status, obj = control_api.handle(simulator, method, url.path, body)
            self._send(Reply(status, json.dumps(obj).encode(), gzip=False))
            return
        try:
            reply = keepa_api.answer(simulator, method, url.path, url.query, body)
        except Exception as exc:  # a simulator bug must not look like a hung server
            error = {"error": keepa_api.error_object("internalServerError", repr(exc), None)}
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
    thread; ``profile`` is ``"calibrated"`` (the default) or ``"busy"`` (``profiles``);
    ``.url`` is its base URL, ``.market`` the in-memory market, ``.stop()`` ends it.
    """

    def __init__(
        self,
        seed: int = 1,
        products: int = 6000,
        refill_rate: int = 20,
        keys: tuple[str, ...] | list[str] = ("demo",),
        changes_per_minute: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        deal_order: str = "creation",
        profile: Profile | str = profiles.DEFAULT,
    ) -> None:
        self.simulator = Simulator(
            seed=seed,
            products=products,
            refill_rate=refill_rate,
            keys=keys,
            changes_per_minute=changes_per_minute,
            deal_order=deal_order,
            profile=profile,
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
