"""What the scenarios share: the bench database, the simulator, percentiles and result rows.

Nothing here imports Django at module level: `setup_django()` must run first, pointed at the
bench's own SQLite file under `bench/out/` (never `var/db.sqlite3`).
"""

from __future__ import annotations

import cProfile
import io
import math
import os
import pstats
import re
import sys
import sysconfig
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
SEED = 1
# The simulated start instant, pinned on both clocks (the market's minute-by-minute events are
# seeded by (seed, minute), so the same instant gives the same market history every run).
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The simulator's default size (keepa_simulator.cli); each market profile's churn is given at
# that size and scaled with the product count in the scenarios that need "realistic churn".
DEFAULT_PRODUCTS = 6000
# freezegun must not freeze the in-process simulator's threads (its HTTP server and ticker).
# Nor the bench's own stopwatch and log lines (bench.common), which measure real time.
SIM_IGNORE = [
    "keepa_simulator",
    "socketserver",
    "http.server",
    "threading",
    "selectors",
    "bench.common",
]


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the result."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- numbers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def cpu_reference_ms(rounds: int = 5) -> float:
    """The machine's speed for the pure Python a page is drawn with: the best of `rounds`
    runs of a fixed piece of work (dicts, string formatting, a sort), in milliseconds. The
    same code measured on two days is comparable only beside this: on this project's
    machines it has varied about threefold from one day to the next."""
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        rows = [
            {"asin": f"B{n:09d}", "price": n * 7 % 9973, "rank": n * 31 % 100_003}
            for n in range(40_000)
        ]
        cells = [f"<td>{r['asin']}</td><td>${r['price'] / 100:,.2f}</td>" for r in rows]
        rows.sort(key=lambda r: (r["rank"], r["asin"]))
        "".join(cells)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def ms(seconds: Iterable[float]) -> list[float]:
    return [s * 1000 for s in seconds]


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed wall time in seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def profiled(
    job: Any, label: str, hot_spots: Sequence[tuple[str, str]], top: int = 10
) -> tuple[str, dict[str, float]]:
    """Run `job()` under cProfile. Return markdown with the cumulative time of `hot_spots`
    (label, substring of "file:function") and the top functions by own time, and each hot
    spot's share of the profiled time."""
    profiler = cProfile.Profile()
    profiler.enable()
    job()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    lines = [
        f"cProfile of {label} ({total:.2f} s profiled, {stats.total_calls:,} calls):",
        "",
        "| where (cumulative; nested calls overlap) | s | share |",
        "|---|---|---|",
    ]
    shares = {}
    for name, pattern in hot_spots:
        seconds = sum(
            row[3]
            for (file, _line, func), row in stats.stats.items()
            if pattern in f"{file}:{func}" or pattern in func
        )
        shares[name] = seconds / total if total else 0.0
        if seconds >= 0.005 * total:
            lines.append(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    body = text[text.find("   ncalls") :].rstrip()
    paths = sysconfig.get_paths()
    for prefix in (paths["purelib"], paths["stdlib"], str(ROOT)):
        body = body.replace(prefix.rstrip("/") + "/", "")
    lines += ["", f"Top {top} by own time:", "", "```", body, "```"]
    return "\n".join(lines), shares


# -- results ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table. `value` is always a plain number."""

    id: str
    measure: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None


@dataclass
class Result:
    scenario: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    code: str = ""  # the commit (and uncommitted product files) this scenario ran

    def add(
        self,
        id: str,
        measure: str,
        value: float,
        unit: str,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        self.rows.append(Row(id, measure, float(value), unit, target, met))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        rows = [Row(**row) for row in data.pop("rows", [])]
        return cls(rows=rows, **data)


# -- the bench database -------------------------------------------------------------------


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def django_env(db_path: Path, **extra: str) -> dict[str, str]:
    """The environment the app runs with in the bench: its own SQLite file, quiet logs."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dealsite.settings",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DEALS_SETTINGS_FILE": str(ROOT / "settings.json"),
            "KEEPA_API_KEY": "bench",
            "KEEPA_API_URL": "http://127.0.0.1:9",  # every job gets an explicit client
            # Collected by setup_django: with debug off, pages name the hashed static files.
            "DJANGO_STATIC_ROOT": str(OUT_DIR / "static"),
        }
    )
    env.update(extra)
    return env


def setup_django(
    db_path: Path, *, fresh: bool = True, migrate: bool = True, database_url: str = ""
) -> None:
    """Point Django at the bench database (fresh unless told), set it up and migrate.
    `database_url`, when given, is a server's database to use instead of the SQLite file."""
    if fresh:
        remove_db(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.update(django_env(db_path))
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    # DEBUG keeps a formatted copy of every SQL statement; that would be measured too.
    settings.DEBUG = False
    if migrate:
        call_command("migrate", verbosity=0)
        # Pages rendered with debug off (the test Client here, the server the load runs
        # against) name the hashed static files, which only collectstatic's manifest knows.
        call_command("collectstatic", interactive=False, verbosity=0)


def reset_tables() -> None:
    """Empty the app's tables between measurements (bench only: the product never deletes)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "deals_dealevent",
            "deals_deal",
            "deals_syncrun",
            "deals_joblock",
            "deals_seller",
            "deals_backfillcheckpoint",
        ):
            cursor.execute(f"DELETE FROM {table}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")


def load_settings_json() -> dict[str, Any]:
    import json

    return json.loads((ROOT / "settings.json").read_text())


def deal_selection() -> dict[str, Any]:
    """The default query of settings.json, as the upserter sends it (newest first)."""
    return {**load_settings_json()["deal_query"], "sortType": 1}


# -- the simulator ------------------------------------------------------------------------


class Sim:
    """An in-process simulator and its control API over HTTP."""

    def __init__(
        self,
        products: int,
        *,
        changes_per_minute: int | None = None,
        at: datetime | None = T0,
        keys: Sequence[str] = ("bench",),
        refill_rate: int = 20,
        profile: str = "busy",
        deal_order: str = "creation",
    ) -> None:
        from freezegun import freeze_time

        from keepa_simulator import SimulatorServer

        if changes_per_minute is None:
            changes_per_minute = scaled_churn(products, profile)
        self.products = products
        self.changes_per_minute = changes_per_minute
        self.profile = profile
        self.deal_order = deal_order
        # Built while time reads `at`, so the market starts there; pinning the clock at the
        # same instant afterwards needs no second build (a /_sim/clock call rebuilds it).
        with freeze_time(at or datetime.now(UTC)):
            self.server = SimulatorServer(
                seed=SEED,
                products=products,
                refill_rate=refill_rate,
                keys=tuple(keys),
                changes_per_minute=changes_per_minute,
                # The benchmarks were written against the busy market's churn.
                profile=profile,
                # What sortType 1 ("deal age") orders the /deal pages by.
                deal_order=deal_order,
            )
        if at is not None:
            self.server.simulator.clock.freeze(int(at.timestamp() * 1000))
        self.server.start()
        self.url = self.server.url
        self.session = requests.Session()

    @property
    def simulator(self) -> Any:
        return self.server.simulator

    @property
    def market(self) -> Any:
        return self.server.market

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.post(f"{self.url}{path}", json=body or {}, timeout=120)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/_sim/stats", timeout=120)
        response.raise_for_status()
        return response.json()

    def advance(self, minutes: float) -> dict[str, Any]:
        return self.post("/_sim/advance", {"minutes": minutes})

    def pin(self, at: datetime) -> dict[str, Any]:
        """Pin the clock at `at` (rebuilds the market from the seed at that instant)."""
        return self.post("/_sim/clock", {"freeze": at.isoformat()})

    def key(self, key: str, **fields: Any) -> dict[str, Any]:
        return self.post("/_sim/keys", {"key": key, **fields})

    def stop(self) -> None:
        self.session.close()
        self.server.stop()


def scaled_churn(products: int, profile: str = "busy") -> int:
    """The profile's random changes per minute at its default size, scaled to `products`."""
    from keepa_simulator import profiles

    per_default_size = profiles.get(profile).changes_per_minute
    return max(1, round(per_default_size * products / DEFAULT_PRODUCTS))


def client(sim: Sim, key: str, **kw: Any) -> Any:
    """The product's Keepa client over real HTTP, without real sleeps (simulated time)."""
    from keepa_client.client import KeepaClient

    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("max_token_wait_s", 0)
    return KeepaClient(key, base_url=sim.url, **kw)


_TOKENS_CONSUMED = re.compile(rb'"tokensConsumed":\s*(\d+)')


class CallCounter:
    """Counts the HTTP requests of one or more clients, and the tokens Keepa says each cost,
    by endpoint (a requests response hook)."""

    def __init__(self, keepa_client: Any = None) -> None:
        self.calls: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.statuses: dict[int, int] = {}
        self.asins = 0  # ASINs asked for in /product calls
        if keepa_client is not None:
            self.attach(keepa_client)

    def attach(self, keepa_client: Any) -> Any:
        session = getattr(keepa_client, "session", keepa_client)
        session.hooks["response"].append(self._hook)
        return keepa_client

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = "/" + response.request.path_url.split("?", 1)[0].strip("/")
        self.calls[path] = self.calls.get(path, 0) + 1
        if path == "/product":
            asins = parse_qs(urlsplit(response.request.url).query).get("asin", [""])[0]
            self.asins += len([a for a in asins.split(",") if a])
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        # The simulator writes the envelope last: read the tail, not the whole body.
        found = _TOKENS_CONSUMED.search(response.content[-600:])
        if found:
            self.tokens[path] = self.tokens.get(path, 0) + int(found.group(1))

    def snapshot(self) -> tuple[dict[str, int], dict[str, int], int]:
        return dict(self.calls), dict(self.tokens), self.asins
