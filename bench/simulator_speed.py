"""Scenario 5: how fast the simulator answers, to show it is not what the other figures measure.

The simulator runs in its own process (`python -m keepa_simulator`, wall clock, default
churn scaled to its size) and is timed over HTTP from this one: the raw round trip, body read and
un-gzipped, without the client's parsing.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from typing import Any

import requests

from bench.common import ROOT, Result, deal_selection, log, percentile, scaled_churn

KEY = "bench-sim"
PRODUCTS = {"full": 21_000, "quick": 1_500}
REQUESTS = {"full": 50, "quick": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(products: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "keepa_simulator",
        "--port",
        str(port),
        "--products",
        str(products),
        "--changes-per-minute",
        str(scaled_churn(products)),
        "--keys",
        KEY,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/_sim/stats", timeout=2).raise_for_status()
            return proc, url
        except requests.RequestException:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the simulator did not start")


def timed(session: requests.Session, method: str, url: str, **kw: Any) -> tuple[float, bytes]:
    start = time.perf_counter()
    response = session.request(method, url, timeout=60, **kw)
    body = response.content
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, body


def run(quick: bool) -> Result:
    result = Result("5", "Simulator")
    products = PRODUCTS["quick" if quick else "full"]
    n = REQUESTS["quick" if quick else "full"]
    proc, url = start(products)
    session = requests.Session()
    try:
        session.post(f"{url}/_sim/keys", json={"key": KEY, "tokens": 10**9, "refill_rate": 0})
        selection = {**deal_selection(), "domainId": 1}
        # Each query differs by a cent in its price range: a new query, not Keepa's 120 s cache.
        fresh, cached, asins = [], [], []
        for i in range(n):
            query = {**selection, "currentRange": [selection["currentRange"][0], 30100 + i]}
            took, body = timed(session, "POST", f"{url}/deal", params={"key": KEY}, json=query)
            fresh.append(took)
            if i == 0:
                asins = [d["asin"] for d in json.loads(body)["deals"]["dr"]]
            took, _ = timed(
                session, "POST", f"{url}/deal", params={"key": KEY}, json={**query, "page": 1}
            )
            cached.append(took)
        # The whole result set, to sample ASINs across it.
        everything = list(asins)
        for page in range(1, 67):
            _, body = timed(
                session,
                "POST",
                f"{url}/deal",
                params={"key": KEY},
                json={**selection, "page": page},
            )
            found = json.loads(body)["deals"]["dr"]
            everything += [d["asin"] for d in found]
            if len(found) < 150:
                break
        rng = random.Random(5)
        product_times = []
        for _ in range(n):
            chunk = rng.sample(everything, min(100, len(everything)))
            params = {
                "key": KEY,
                "domain": 1,
                "asin": ",".join(chunk),
                "offers": 20,
                "only-live-offers": 1,
                "stats": 90,
                "history": 1,
                "days": 730,
            }
            took, _ = timed(session, "GET", f"{url}/product", params=params)
            product_times.append(took)
        stats = session.get(f"{url}/_sim/stats", timeout=30).json()
    finally:
        session.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for name, label, times in (
        ("deal_fresh", "/deal page 0, new query (not cached)", fresh),
        ("deal_cached", "/deal page 1, cached query", cached),
        ("product_100", "/product, 100 ASINs, offers=20", product_times),
    ):
        result.add(f"5.{name}.p50", f"{label}, p50", percentile(times, 50) * 1000, "ms")
        result.add(f"5.{name}.p95", f"{label}, p95", percentile(times, 95) * 1000, "ms")
    log(f"scenario 5: {len(everything)} deals listed, {stats['market']}")
    result.notes.append(
        f"{products:,} products (the simulator's default profile at 3.5 times its default "
        f"size: {len(everything):,} deals for the default query), {n} requests of each kind "
        "over HTTP from another process, body read and un-gzipped, not parsed. A new /deal "
        "query filters and sorts every listed product; a cached one only slices and "
        "serialises a page. /product is what the upserter's enrichment asks for "
        "(`offers=20&only-live-offers=1&stats=90&history=1&days=730`)."
    )
    return result
