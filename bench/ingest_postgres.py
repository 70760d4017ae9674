"""Scenario 2p: ingest speed on PostgreSQL.

Scenario 2's write path (`Sweep.write_page`, page by page, into an empty table and then into the
full one) on a PostgreSQL database, against the floor there: the same rows, prepared up front
with Django's own `get_db_prep_save`, upserted by psycopg with a plain `INSERT ... ON
CONFLICT (asin) DO UPDATE` through `executemany`, one transaction per page. The bench process
is pointed at a fresh database on the server (bench/run.py); without a server the scenario
says so and measures nothing.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone

from bench.common import Result, Sim, log, median, reset_tables
from bench.ingest_speed import (
    FULL_PRODUCTS,
    KEY,
    QUICK_PRODUCTS,
    REPEATS,
    TARGET_RATIO,
    fetch_pages,
    prepared_pages,
    product_pass,
)
from deals import ingest, upsert
from deals.config import load_config
from deals.jobs import Run
from deals.models import Deal, SyncRun


class PlainUpsert:
    """The floor on PostgreSQL: ready rows, one INSERT ... ON CONFLICT, psycopg's executemany."""

    def __init__(self, pages: list[list[Any]]) -> None:
        sweep = ingest.Sweep(Run.detached(SyncRun.Kind.UPDATE, load_config()))
        now = timezone.now()
        fields = [f for f in Deal._meta.concrete_fields if not f.primary_key]
        columns = [f.column for f in fields]
        assignments = ", ".join(
            f"{Deal._meta.get_field(n).column} = excluded.{Deal._meta.get_field(n).column}"
            for n in upsert.UPSERT_FIELDS
        )
        self.sql = (
            f"INSERT INTO deals_deal ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT (asin) DO UPDATE SET {assignments}"
        )
        self.pages = prepared_pages(pages, sweep, fields, now)

    def run(self, conninfo: str) -> float:
        total = 0.0
        with psycopg.connect(conninfo) as db:
            for rows in self.pages:
                start = time.perf_counter()
                with db.transaction(), db.cursor() as cursor:
                    cursor.executemany(self.sql, rows)
                total += time.perf_counter() - start
        return total


def conninfo() -> str:
    settings = connection.settings_dict
    parts = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def run(quick: bool) -> Result:
    result = Result("2p", "Ingest speed on PostgreSQL")
    if connection.vendor != "postgresql":
        raise RuntimeError("scenario 2p runs on PostgreSQL only (bench/run.py points it there)")
    repeats = REPEATS["quick" if quick else "full"]
    sim = Sim(QUICK_PRODUCTS if quick else FULL_PRODUCTS, keys=(KEY,))
    try:
        sim.key(KEY, tokens=10**12, refill_rate=0)
        pages, fetch_s = fetch_pages(sim)
        rows = sum(len(p) for p in pages)
        log(f"scenario 2p: fetched {len(pages)} pages, {rows} deals in {fetch_s:.1f} s")
        plain = PlainUpsert(pages)
        timings: dict[str, list[float]] = {
            k: [] for k in ("p_empty", "p_full", "r_empty", "r_full")
        }
        for i in range(repeats):
            reset_tables()
            timings["p_empty"].append(product_pass(pages))
            timings["p_full"].append(product_pass(pages))
            reset_tables()
            timings["r_empty"].append(plain.run(conninfo()))
            timings["r_full"].append(plain.run(conninfo()))
            log(
                f"scenario 2p: pass {i + 1}/{repeats}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items())
            )
        for table in ("empty", "full"):
            product_rate = rows / median(timings[f"p_{table}"])
            plain_rate = rows / median(timings[f"r_{table}"])
            ratio = product_rate / plain_rate
            result.add(
                f"2p.write_{table}",
                f"PostgreSQL, write path into the {table} table: Sweep.write_page",
                product_rate,
                "rows/s",
            )
            result.add(
                f"2p.plain_{table}",
                "… plain INSERT … ON CONFLICT of the same rows (psycopg executemany)",
                plain_rate,
                "rows/s",
            )
            result.add(
                f"2p.ratio_{table}",
                f"product / plain, {table} table",
                ratio,
                "ratio",
                f"≥ {TARGET_RATIO}",
                ratio >= TARGET_RATIO,
            )
        version = connection.cursor().connection.info.server_version
        result.notes.append(
            f"PostgreSQL {version // 10000}.{version % 10000} on this machine, a fresh database; "
            f"{rows:,} deals ({len(pages)} pages) fetched and parsed before any write, each "
            f"figure the median of {repeats} passes, one transaction per page. The product's "
            "pass also reads the existing rows, diffs them, writes DealEvents and recomputes "
            "the economics columns; the plain pass only upserts ready rows (Django's own "
            "`get_db_prep_save` values, JSON as psycopg `Jsonb`). The full-table pass sends the "
            "same deals again (nothing changed)."
        )
    finally:
        sim.stop()
    return result
