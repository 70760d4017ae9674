"""Scenario 3: the dashboard at 50,000 deals.

First in this process with Django's test Client (the whole stack but HTTP), one request at a time;
then over real HTTP against the production server (gunicorn, as `make serve` runs it; or
`manage.py runserver --noreload` with BENCH_SERVER=runserver) in a subprocess on 127.0.0.1, with
16 logged-in users (`bench.load`, another process) while this process keeps writing pages of 150
changed deals through the upserter's own write path (`Sweep.write_page`, one short
transaction each, DealEvents included).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.common import ROOT, Result, django_env, log, percentile, profiled, stopwatch
from bench.fill import fill
from deals import ingest
from deals.config import load_config
from deals.jobs import Run
from deals.models import Deal, SyncRun
from keepa_client.models import Deal as KeepaDeal

# Where a page request spends its time: (label, substring of "file:function").
PAGE_HOT_SPOTS = [
    ("deals: views.dashboard_page", "deals/views.py:dashboard_page"),
    ("django: rendering the template (shortcuts.render)", "django/shortcuts.py:render"),
    ("django: template variable lookups", "django/template/base.py:_resolve_lookup"),
    ("deals: dashboard.rows_for (rows + sparklines)", "deals/dashboard.py:rows_for"),
    ("deals: dashboard.sparklines", "deals/dashboard.py:sparklines"),
    ("deals: charts.price_svg", "deals/charts.py:price_svg"),
    ("deals: template tags (deals_extras)", "deals/templatetags/deals_extras.py"),
    ("django: forms (filter form)", "django/forms/"),
    ("django: format_html", "django/utils/html.py:format_html"),
    ("django: executing SQL", "django/db/backends/utils.py:execute"),
    ("django: running querysets (_fetch_all)", "django/db/models/query.py:_fetch_all"),
    ("deals: dashboard.status", "deals/dashboard.py:status"),
    ("deals: dashboard.present_categories", "deals/dashboard.py:present_categories"),
]
USER, PASSWORD = "bench", "bench-dashboard-password-1"
POLLER = re.compile(r'id="live-poller"[^>]*hx-get="([^"]+)"')
WRITE_PAGE = 150
# Between pages: with the write, at or above the pace Keepa serves a sweep's pages (real
# /deal responses report processingTimeInMs 294-770, before the network).
WRITE_PAUSE_S = 0.25
SERVER_LOG = "server.log"
PAGE_P95_MS, IDLE_P95_MS = 150, 20


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.deals = 2_000 if quick else 50_000
        self.deep_page = 20 if quick else 500
        self.repeat_page = 5 if quick else 40
        self.repeat_poll = 15 if quick else 300
        self.threads = 8 if quick else 16
        self.seconds = 3 if quick else 30


def search_word() -> str:
    """The commonest longer word of the titles: a search a reseller might type."""
    words: Counter[str] = Counter()
    for title in Deal.objects.values_list("title", flat=True).distinct()[:2000]:
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{6,}", title))
    return words.most_common(1)[0][0] if words else "book"


def page_paths(sizes: Sizes) -> dict[str, str]:
    return {
        "page_default": "/",
        "page_deep": f"/?page={sizes.deep_page}",
        "page_filter": "/?delta_percent_min=60&sales_rank_max=1000000",
        "page_search": f"/?q={search_word()}",
    }


def timed_get(client: Client, path: str, n: int, expect: int, **extra: Any) -> list[float]:
    for _ in range(3):  # warm-up
        client.get(path, **extra)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, **extra)
        times.append(time.perf_counter() - start)
        if response.status_code != expect:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}, expected {expect}")
    return times


def live_url(client: Client) -> tuple[str, list[str]]:
    page = client.get("/")
    url = html.unescape(POLLER.search(page.content.decode()).group(1))
    shown = parse_qs(urlsplit(url).query)["shown"][0].split(",")
    return url, shown


class Writer:
    """Pages of changed deals written as the upserter writes them."""

    def __init__(self, seed: int = 11, changed_share: float = 1.0) -> None:
        self.rng = random.Random(seed)
        # The share of each page whose price moves; the rest are sent as they stand, and the
        # upserter rewrites them as unchanged (seen again, no event), as a sweep does.
        self.changed_share = changed_share
        self.deals_changed = 0
        self.asins = list(Deal.objects.values_list("asin", flat=True))
        config = load_config()
        self.sweep = ingest.Sweep(Run.detached(SyncRun.Kind.UPDATE, config))
        self.price_type = config.price_type
        self.times: list[float] = []
        self.locked = 0
        self.errors: list[str] = []

    def changed(self, asins: list[str]) -> list[KeepaDeal]:
        rows = Deal.objects.filter(asin__in=asins).values_list("asin", "deal_snapshot")
        moving = set(self.rng.sample(asins, round(len(asins) * self.changed_share)))
        out = []
        for asin, snapshot in rows:
            snap = dict(snapshot, asin=asin)
            current = list(snap["current"])
            if asin in moving and current[self.price_type] > 0:
                self.deals_changed += 1
                current[self.price_type] = int(
                    current[self.price_type] * self.rng.uniform(0.9, 1.1)
                )
            snap["current"] = current
            out.append(KeepaDeal.from_json(snap))
        return out

    def write(self, asins: list[str]) -> None:
        deals = self.changed(asins)
        start = time.perf_counter()
        try:
            self.sweep.write_page(deals)
        except OperationalError as exc:
            self.locked += "locked" in str(exc)
            self.errors.append(str(exc))
        self.times.append(time.perf_counter() - start)

    def run_until(self, done: threading.Event, limit: int = 2_000) -> None:
        for _ in range(limit):
            if done.is_set():
                return
            self.write(self.rng.sample(self.asins, WRITE_PAGE))
            time.sleep(WRITE_PAUSE_S)


def query_breakdown(client: Client, kind: str, path: str) -> str:
    """One more request with its SQL captured; each SELECT is then run again on its own and
    timed with its fetch (SQLite does much of a query's work while rows are fetched, which
    Django's captured times leave out); the two slowest, with SQLite's plans."""
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        client.get(path)
        total = time.perf_counter() - start
    timed = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            start = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            timed.append((time.perf_counter() - start, sql))
        timed.sort(reverse=True)
        slowest = []
        for seconds, sql in timed[:2]:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = "; ".join(row[-1] for row in cursor.fetchall())
            sql = re.sub(r"\s+", " ", sql)
            sql = sql if len(sql) < 240 else sql[:150] + " … " + sql[-80:]
            slowest.append(f"{seconds * 1000:.0f} ms: `{sql}` — plan: {plan}")
    in_sql = sum(t for t, _ in timed)
    return (
        f"| {kind} | {total * 1000:.0f} | {len(queries.captured_queries)} | {in_sql * 1000:.0f} | "
        + "<br>".join(slowest)
        + " |"
    )


def in_process(result: Result, sizes: Sizes, paths: dict[str, str]) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username=USER))
    for kind, path in paths.items():
        times = timed_get(client, path, sizes.repeat_page, 200)
        p95 = percentile(times, 95) * 1000
        label = kind.removeprefix("page_")
        result.add(
            f"3.{kind}.p50", f"page ({label}: `{path}`), p50", percentile(times, 50) * 1000, "ms"
        )
        result.add(
            f"3.{kind}.p95",
            f"page ({label}), p95",
            p95,
            "ms",
            f"< {PAGE_P95_MS}",
            p95 < PAGE_P95_MS,
        )
    breakdown = [
        "Where a page's time goes (one more request each with its SQL captured; each SELECT "
        "then run again alone and timed with its fetch):",
        "",
        "| page | total ms | queries | in SQL ms | the two slowest queries, with SQLite's plan |",
        "|---|---|---|---|---|",
    ]
    breakdown += [query_breakdown(client, kind, path) for kind, path in paths.items()]
    url, shown = live_url(client)
    times = timed_get(client, url, sizes.repeat_poll, 204, HTTP_HX_REQUEST="true")
    p95 = percentile(times, 95) * 1000
    result.add("3.live_idle.p50", "idle live poll (204), p50", percentile(times, 50) * 1000, "ms")
    result.add(
        "3.live_idle.p95",
        "idle live poll (204), p95",
        p95,
        "ms",
        f"< {IDLE_P95_MS}",
        p95 < IDLE_P95_MS,
    )
    # Every row on the reader's page changes (50 rows), written by the upserter's path.
    writer = Writer()
    writer.write(shown)
    times = timed_get(client, url, max(10, sizes.repeat_page), 200, HTTP_HX_REQUEST="true")
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    rows_sent = body.count('<tr id="deal-')
    result.add(
        "3.live_50.p50",
        f"live poll, {len(shown)} changed rows, p50",
        percentile(times, 50) * 1000,
        "ms",
    )
    result.add(
        "3.live_50.p95",
        f"live poll, {len(shown)} changed rows, p95",
        percentile(times, 95) * 1000,
        "ms",
    )
    times = timed_get(client, "/api/total_deals", sizes.repeat_poll, 200)
    result.add("3.total.p50", "/api/total_deals, p50", percentile(times, 50) * 1000, "ms")
    result.add("3.total.p95", "/api/total_deals, p95", percentile(times, 95) * 1000, "ms")
    result.notes.append(
        f"One request at a time through Django's test Client (logged in, DEBUG off): "
        f"{sizes.repeat_page} requests per page kind, {sizes.repeat_poll} per poll and total, "
        f"after 3 warm-ups each. The 50-row poll returned {rows_sent} rows."
    )
    result.notes.append("\n".join(breakdown))
    text, _ = profiled(
        lambda: [client.get("/") for _ in range(5)],
        "5 requests of the default page",
        PAGE_HOT_SPOTS,
    )
    result.notes.append(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The server the load runs against: the production one (`make serve`'s gunicorn, its
# settings from gunicorn.conf.py and WEB_CONCURRENCY) unless BENCH_SERVER=runserver.
SERVERS = {
    "gunicorn": [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
    "runserver": [sys.executable, "manage.py", "runserver", "--noreload"],
}


SERVER_WORDS = {
    "gunicorn": (
        "gunicorn as `make serve` runs it (gunicorn.conf.py: "
        f"{os.environ.get('WEB_CONCURRENCY') or 'the default number of'} worker processes, "
        f"{os.environ.get('GUNICORN_THREADS') or 8} threads each)"
    ),
    "runserver": "`manage.py runserver --noreload` (one process, a thread per request)",
}


def server_kind() -> str:
    kind = os.environ.get("BENCH_SERVER", "gunicorn")
    if kind not in SERVERS:
        raise RuntimeError(f"BENCH_SERVER must be one of {', '.join(SERVERS)}; got {kind!r}")
    return kind


def start_server(db_path: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = django_env(
        db_path,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        DJANGO_SECURE_COOKIES="false",
        DJANGO_LOG_LEVEL="INFO",
        PORT=str(port),
    )
    env.pop("GUNICORN_BIND", None)
    kind = server_kind()
    command = SERVERS[kind] + ([f"127.0.0.1:{port}"] if kind == "runserver" else [])
    handle = log_path.open("w")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(f"{url}/login/", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{kind} did not start; see {log_path}")


def load_phase(
    url: str, sizes: Sizes, paths: dict[str, str], out: Path, *, paced: bool
) -> tuple[dict[str, Any], Writer]:
    cmd = [
        sys.executable,
        "-m",
        "bench.load",
        "--url",
        url,
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--threads",
        str(sizes.threads),
        "--seconds",
        str(sizes.seconds),
        "--pages",
        json.dumps(paths),
        "--json",
        str(out),
    ] + (["--paced"] if paced else [])
    writer = Writer(seed=13 if paced else 11)
    done = threading.Event()
    load = subprocess.Popen(cmd, cwd=ROOT)
    thread = threading.Thread(target=writer.run_until, args=(done,), daemon=True)
    thread.start()
    try:
        load.wait(timeout=sizes.seconds + 180)
    finally:
        done.set()
        thread.join(timeout=60)
        if load.poll() is None:
            load.kill()
    connections.close_all()
    return json.loads(out.read_text()), writer


def report_load(
    result: Result,
    name: str,
    label: str,
    data: dict[str, Any],
    writer: Writer,
    log_text: str,
    *,
    threads: int,
    paced: bool,
) -> None:
    samples = {k: [s * 1000 for s in v] for k, v in data["samples"].items()}
    pages = [t for k, v in samples.items() if k.startswith("page_") for t in v]
    fivexx = sum(n for status, n in data["statuses"].items() if status.startswith("5"))
    locked = log_text.count("database is locked") + writer.locked
    throughput = data["requests"] / data["seconds"]
    p95 = percentile(pages, 95)
    result.add(f"3.{name}.throughput", f"{label}: requests served", throughput, "req/s")
    result.add(
        f"3.{name}.page.p50", f"{label}: pages (all kinds), p50", percentile(pages, 50), "ms"
    )
    result.add(
        f"3.{name}.page.p95",
        f"{label}: pages (all kinds), p95",
        p95,
        "ms",
        f"< {PAGE_P95_MS}",
        p95 < PAGE_P95_MS,
    )
    idle = samples.get("live_poll_idle", [])
    changed = samples.get("live_poll_changed", [])
    polls = idle + changed
    if polls:
        result.add(
            f"3.{name}.poll.p95",
            f"{label}: live polls ({len(idle)} idle, {len(changed)} with changes), p95",
            percentile(polls, 95),
            "ms",
        )
    if idle:
        idle_p95 = percentile(idle, 95)
        result.add(
            f"3.{name}.idle.p95",
            f"{label}: idle live polls (204), p95",
            idle_p95,
            "ms",
            f"< {IDLE_P95_MS}",
            idle_p95 < IDLE_P95_MS,
        )
    errors = data["error_count"] + len(writer.errors)
    result.add(
        f"3.{name}.errors", f"{label}: failed requests and writes", errors, "", "0", errors == 0
    )
    result.add(f"3.{name}.5xx", f"{label}: HTTP 5xx", fivexx, "", "0", fivexx == 0)
    result.add(f"3.{name}.locked", f'{label}: "database is locked"', locked, "", "0", locked == 0)
    result.add(
        f"3.{name}.writes",
        f"{label}: pages of {WRITE_PAGE} changed deals written meanwhile (p95 ms in notes)",
        len(writer.times),
        "pages",
    )
    lines = [
        "",
        f"{label}: {data['requests']} requests in {data['seconds']:.1f} s, statuses "
        f"{data['statuses']}; writer: {len(writer.times)} pages of {WRITE_PAGE}, each "
        f"p50 {percentile(writer.times, 50) * 1000:.0f} ms / p95 "
        f"{percentile(writer.times, 95) * 1000:.0f} ms."
        + (
            ""
            if paced
            else f" With {threads} users always waiting on an answer, Little's law puts the "
            f"mean response time at users / throughput = {threads / throughput * 1000:,.0f} ms: "
            "requests queue for the server's one Python process (one core at a time, the GIL) "
            "rather than for the database."
        ),
        "",
        "| request | n | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted(samples):
        v = samples[kind]
        p50, p95 = percentile(v, 50), percentile(v, 95)
        lines.append(f"| {kind} | {len(v)} | {p50:.0f} | {p95:.0f} | {max(v):.0f} |")
    if data["errors"]:
        lines.append("")
        lines.append("First errors: " + "; ".join(data["errors"][:5]))
    result.notes.append("\n".join(lines))


def run(quick: bool) -> Result:
    sizes = Sizes(quick)
    result = Result("3", "Dashboard at 50,000 deals")
    made = fill(sizes.deals, quick)
    result.notes.append(
        f"{made['deals']:,} deals (cloned from {made['templates']} rows the upserter wrote from "
        f"a simulated market, with their snapshots) and {made['events']:,} DealEvents, "
        f"bulk-created in {made['seconds']:.0f} s."
    )
    get_user_model().objects.create_user(USER, password=PASSWORD)
    paths = page_paths(sizes)
    with stopwatch() as took:
        in_process(result, sizes, paths)
    log(f"scenario 3: in-process latencies in {took[0]:.0f} s")

    db_path = Path(connection.settings_dict["NAME"])
    out_dir = db_path.parent
    connections.close_all()
    log_path = out_dir / SERVER_LOG
    server, url = start_server(db_path, log_path)
    try:
        for paced in (False, True):
            name = "paced" if paced else "load"
            label = (
                f"{sizes.threads} paced users (poll every 5 s, a page every 12 s)"
                if paced
                else f"{sizes.threads} users back to back"
            )
            seen = len(log_path.read_text())
            data, writer = load_phase(url, sizes, paths, out_dir / f"load-{name}.json", paced=paced)
            log(f"scenario 3: {label}: {data['requests']} requests, {data['error_count']} errors")
            report_load(
                result,
                name,
                label,
                data,
                writer,
                log_path.read_text()[seen:],
                threads=sizes.threads,
                paced=paced,
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    text = log_path.read_text()
    result.notes.append(
        f"Server: {SERVER_WORDS[server_kind()]}, DEBUG off, on 127.0.0.1; its log had "
        f"{text.count('Traceback')} tracebacks and "
        f'{text.count("database is locked")} "database is locked". Load from '
        f"`python -m bench.load` in its own process ({sizes.threads} threads, "
        f"{sizes.seconds} s each phase), the writer in this one; the machine has "
        "the cores listed above for all three."
    )
    return result
