"""Scenario 2: ingest speed.

The write path alone: a 10,000-deal full sweep is fetched and parsed first, then upserted page by
page with `Sweep.write_page` (into an empty table, then into the full one) and, on the same
table in the same run, with a raw `sqlite3` `executemany` of `INSERT ... ON CONFLICT(asin) DO
UPDATE` carrying the same columns and values. Then a whole `ingest.run(full=True)` end to end.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from bench.common import (
    Result,
    Sim,
    client,
    deal_selection,
    log,
    median,
    profiled,
    reset_tables,
    stopwatch,
)
from deals import ingest, upsert
from deals.config import load_config
from deals.enrich import Enricher
from deals.jobs import Run
from deals.models import Deal, EnrichPriority, SyncRun

KEY = "bench-ingest"
FULL_PRODUCTS = 43_000  # the default query finds Keepa's cap of 10,000 deals in it
QUICK_PRODUCTS = 1_500
REPEATS = {"full": 3, "quick": 1}
TARGET_RATIO = 0.3


def fetch_pages(sim: Sim) -> tuple[list[list[Any]], float]:
    keepa = client(sim, KEY)
    with stopwatch() as took:
        pages = [page.deals for page in keepa.iter_deal_pages(deal_selection())]
    keepa.close()
    return pages, took[0]


def product_pass(pages: list[list[Any]]) -> float:
    """Seconds `Sweep.write_page` takes for every page (the write path only)."""
    sweep = ingest.Sweep(Run.detached(SyncRun.Kind.UPDATE, load_config()))
    total = 0.0
    for deals in pages:
        start = time.perf_counter()
        sweep.write_page(deals)
        total += time.perf_counter() - start
    return total


def prepared_pages(
    pages: list[list[Any]], sweep: ingest.Sweep, fields: list[Any], now: datetime
) -> list[list[tuple]]:
    """Each page's deals as new rows, with the values exactly as Django would write them
    (JSON text, datetime text, ...): what the raw floors insert."""
    prepared = []
    for deals in pages:
        rows = []
        for item in deals:
            deal = Deal(
                asin=item.asin,
                **sweep.row_values(item),
                first_seen_utc=now,
                last_seen_utc=now,
                changed_at=now,
                enrich_priority=EnrichPriority.NEW,
                enrich_requested_at=now,
            )
            rows.append(
                tuple(f.get_db_prep_save(getattr(deal, f.attname), connection) for f in fields)
            )
        prepared.append(rows)
    return prepared


class RawUpsert:
    """The floor: the same rows, prepared up front, upserted with sqlite3's executemany."""

    def __init__(self, pages: list[list[Any]]) -> None:
        config = load_config()
        sweep = ingest.Sweep(Run.detached(SyncRun.Kind.UPDATE, config))
        now = timezone.now()
        fields = [f for f in Deal._meta.concrete_fields if not f.primary_key]
        self.columns = [f.column for f in fields]
        update = upsert.UPSERT_FIELDS
        placeholders = ", ".join("?" for _ in self.columns)
        assignments = ", ".join(
            f"{Deal._meta.get_field(n).column} = excluded.{Deal._meta.get_field(n).column}"
            for n in update
        )
        self.sql = (
            f"INSERT INTO deals_deal ({', '.join(self.columns)}) VALUES ({placeholders}) "
            f"ON CONFLICT(asin) DO UPDATE SET {assignments}"
        )
        self.pages = prepared_pages(pages, sweep, fields, now)
        self.fields = fields
        self.sweep = sweep
        self.now = now

    def serialize(self, item: Any) -> tuple:
        """One row as the simplest hand-written code would build it from a parsed deal."""
        values = {
            **self.sweep.row_values(item),
            "asin": item.asin,
            "first_seen_utc": self.now,
            "last_seen_utc": self.now,
            "changed_at": self.now,
            "enrich_priority": int(EnrichPriority.NEW),
            "enrich_requested_at": self.now,
        }
        out = []
        for f in self.fields:
            value = values.get(f.attname, f.get_default())
            if f.get_internal_type() == "JSONField":
                value = None if value is None else json.dumps(value)
            elif isinstance(value, datetime):
                value = str(value.astimezone(UTC).replace(tzinfo=None))
            out.append(value)
        return tuple(out)

    def run_serializing(self, db_path: str, pages: list[list[Any]]) -> float:
        """Like run(), but the timing includes building the rows from the parsed deals."""
        db = self.connect(db_path)
        total = 0.0
        for deals in pages:
            start = time.perf_counter()
            rows = [self.serialize(item) for item in deals]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(self.sql, rows)
            db.execute("COMMIT")
            total += time.perf_counter() - start
        db.close()
        return total

    @staticmethod
    def connect(db_path: str) -> sqlite3.Connection:
        db = sqlite3.connect(db_path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def run(self, db_path: str) -> float:
        db = self.connect(db_path)
        total = 0.0
        for rows in self.pages:
            start = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(self.sql, rows)
            db.execute("COMMIT")
            total += time.perf_counter() - start
        db.close()
        return total


# Where the write paths spend their time: (label, substring of "file:function").
WRITE_HOT_SPOTS = [
    ("deals: PageWriter.write_page", "deals/upsert.py:write_page"),
    ("deals: Enricher.write_offers", "deals/enrich.py:write_offers"),
    ("django: QuerySet.bulk_create", "django/db/models/query.py:bulk_create"),
    ("django: QuerySet.bulk_update", "django/db/models/query.py:bulk_update"),
    ("deals: DealQuerySet.upsert_by_asin", "deals/models.py:upsert_by_asin"),
    ("deals: DealQuerySet.update_rows", "deals/models.py:update_rows"),
    ("deals: PageWriter.diff", "deals/upsert.py:diff"),
    ("deals: PageWriter.row_values", "deals/upsert.py:row_values"),
    ("django: running querysets (reads)", "django/db/models/query.py:_fetch_all"),
    ("django: preparing values (Field.get_db_prep_save)", "fields/__init__.py:get_db_prep_save"),
    ("django: compiling SQL (all as_sql)", "django/db/models/sql/compiler.py:as_sql"),
    ("django: per-value prepare_value (INSERT)", "compiler.py:prepare_value"),
    ("django: Model.__init__", "django/db/models/base.py:__init__"),
    ("json: encoding (JSON fields)", "json/encoder.py:encode"),
    ("sqlite3: executing statements", "SQLiteCursorWrapper.execute"),
    ("deals: columns.recompute_asins", "deals/columns.py:recompute_asins"),
    ("deals: columns.recompute", "deals/columns.py:recompute"),
    ("deals: snapshots.product_snapshot", "deals/snapshots.py:product_snapshot"),
]


def ranked(shares: dict[str, float], root: str, top: int = 6) -> str:
    """The largest hot spots below the profiled entry point, e.g. "x 45%, y 20%"."""
    found = sorted(
        ((share, name) for name, share in shares.items() if share >= 0.03 and name != root),
        reverse=True,
    )
    return ", ".join(f"{name} {share:.0%}" for share, name in found[:top]) or "nothing stands out"


def timed(record: dict[str, float], name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            record[name] = record.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def end_to_end(sim: Sim) -> tuple[SyncRun, dict[str, float], list[tuple[list[str], Any]]]:
    """`ingest.run(full=True)` on an empty table, timed in parts; also the products it got."""
    record: dict[str, float] = {}
    looked_up: list[tuple[list[str], Any]] = []
    keepa = client(sim, KEY)
    keepa.deals = timed(record, "deal_fetch", keepa.deals)
    fetch_products = timed(record, "product_fetch", keepa.products)

    def products(asins: Any, **kw: Any) -> Any:
        found = fetch_products(asins, **kw)
        looked_up.append((list(asins), found))
        return found

    keepa.products = products
    keepa.sellers = timed(record, "seller_fetch", keepa.sellers)
    sweep, enrich = ingest.Sweep.run, ingest.Enricher.run
    ingest.Sweep.run = timed(record, "sweep", sweep)
    ingest.Enricher.run = timed(record, "enrich", enrich)
    try:
        with stopwatch() as took:
            sync = ingest.run(trigger="bench", full=True, client=keepa)
    finally:
        ingest.Sweep.run, ingest.Enricher.run = sweep, enrich
        keepa.close()
    record["total"] = took[0]
    return sync, record, looked_up


def enrichment_pass(sim: Sim, looked_up: list[tuple[list[str], Any]]) -> tuple[int, float]:
    """Rows and seconds `Enricher.write_offers` takes to write these look-ups again."""
    keepa = client(sim, KEY)
    keepa.token_status()  # every seller is known by now: no /seller call, only the budget
    enricher = Enricher(Run.detached(SyncRun.Kind.UPDATE, load_config(), keepa))
    total, rows = 0.0, 0
    for asins, products in looked_up:
        start = time.perf_counter()
        enricher.write_offers(asins, products)
        total += time.perf_counter() - start
        rows += len(asins)
    return rows, total


def run(quick: bool) -> Result:
    result = Result("2", "Ingest speed")
    repeats = REPEATS["quick" if quick else "full"]
    sim = Sim(QUICK_PRODUCTS if quick else FULL_PRODUCTS, keys=(KEY,))
    try:
        sim.key(KEY, tokens=10**12, refill_rate=0)
        pages, fetch_s = fetch_pages(sim)
        rows = sum(len(p) for p in pages)
        log(f"scenario 2: fetched {len(pages)} pages, {rows} deals in {fetch_s:.1f} s")
        raw = RawUpsert(pages)
        db_path = connection.settings_dict["NAME"]
        kinds = ("p_empty", "p_full", "r_empty", "r_full", "s_empty", "s_full")
        timings: dict[str, list[float]] = {k: [] for k in kinds}
        for i in range(repeats):
            reset_tables()
            timings["p_empty"].append(product_pass(pages))
            timings["p_full"].append(product_pass(pages))
            reset_tables()
            timings["r_empty"].append(raw.run(db_path))
            timings["r_full"].append(raw.run(db_path))
            reset_tables()
            timings["s_empty"].append(raw.run_serializing(db_path, pages))
            timings["s_full"].append(raw.run_serializing(db_path, pages))
            log(
                f"scenario 2: pass {i + 1}/{repeats}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items())
            )
        for table in ("empty", "full"):
            product_rate = rows / median(timings[f"p_{table}"])
            raw_rate = rows / median(timings[f"r_{table}"])
            built_rate = rows / median(timings[f"s_{table}"])
            ratio = product_rate / raw_rate
            result.add(
                f"2.write_{table}",
                f"write path into the {table} table: Sweep.write_page",
                product_rate,
                "rows/s",
            )
            result.add(
                f"2.raw_{table}",
                "… raw sqlite3 executemany upsert of the same rows (prepared tuples)",
                raw_rate,
                "rows/s",
            )
            result.add(
                f"2.ratio_{table}",
                f"product / raw, {table} table",
                ratio,
                "ratio",
                f"≥ {TARGET_RATIO}",
                ratio >= TARGET_RATIO,
            )
            result.add(
                f"2.raw_built_{table}",
                f"… raw upsert timed with building the rows from the parsed deals "
                f"(product / this: {product_rate / built_rate:.2f})",
                built_rate,
                "rows/s",
            )
        sample = raw.serialize(pages[0][0])
        same = sample == raw.pages[0][0]
        result.notes.append(
            f"Sweep of {rows:,} deals ({len(pages)} pages of the default query from a "
            f"{sim.products:,}-product market) fetched and parsed in {fetch_s:.1f} s before any "
            f"write; each write-path figure is the median of {repeats} passes, each pass one "
            "transaction per page as the upserter does. The product's pass also reads the "
            "existing rows, diffs them, writes DealEvents (one `entered` per new deal) and "
            "recomputes the economics columns in the same transaction. The raw pass upserts "
            "tuples prepared beforehand with Django's own `get_db_prep_save` (the same values "
            "byte for byte); the 'building the rows' variant also times `Sweep.row_values` "
            "and a hand-written `json.dumps`/datetime conversion per row"
            + ("" if same else " (**its tuples differ from Django's: check the bench**)")
            + ". The full-table pass sends the same deals again (nothing changed: every row "
            "takes the upserter's quiet path)."
        )
        reset_tables()
        text, empty_shares = profiled(
            lambda: product_pass(pages), "`Sweep.write_page`, empty table", WRITE_HOT_SPOTS
        )
        result.notes.append(text)
        text, _ = profiled(
            lambda: product_pass(pages),
            "`Sweep.write_page`, full table, unchanged",
            WRITE_HOT_SPOTS,
        )
        result.notes.append(text)
        result.notes.append(
            "What takes the sweep's write path's time (largest shares of `write_page`, empty "
            f"table): {ranked(empty_shares, 'deals: Sweep.write_page')}."
            + (
                " Django's `bulk_create` compiles a statement per "
                f"999 // {len(raw.columns)} = {999 // len(raw.columns)} rows (SQLite's old "
                "variable limit) and prepares every value through its field, in Python."
                if empty_shares["django: QuerySet.bulk_create"] > 0.3
                else ""
            )
            + " The raw floor hands SQLite ready tuples through one prepared statement."
        )

        reset_tables()
        sim.advance(3)  # past Keepa's 120 s cache of the fetch above
        sync, parts, looked_up = end_to_end(sim)
        log(f"scenario 2: end to end {parts['total']:.1f} s: {sync.summary()}")
        if not looked_up:
            # The enrichment figures below time these look-ups again: none is no measurement.
            raise RuntimeError(f"the end-to-end run looked nothing up: {sync.summary()}")
        result.add(
            "2.sweep_end_to_end",
            f"ingest.run(full=True), {sync.deals_seen:,} deals: whole run",
            parts["total"],
            "s",
        )
        result.add(
            "2.sweep_part", "… of which the /deal sweep (fetch + write)", parts["sweep"], "s"
        )
        result.add(
            "2.enrich_part",
            f"… of which enrichment ({sync.enriched:,} /product look-ups with offers)",
            parts["enrich"],
            "s",
        )
        enrich_write = (
            parts["enrich"] - parts.get("product_fetch", 0) - parts.get("seller_fetch", 0)
        )
        result.notes.append(
            f"End to end: status {sync.status}, {sync.pages} pages, {sync.inserted:,} inserted, "
            f"{sync.enriched:,} enriched, {sync.tokens_spent:,} tokens. Sweep "
            f"{parts['sweep']:.1f} s = /deal fetch and parse {parts.get('deal_fetch', 0):.1f} s "
            f"+ write {parts['sweep'] - parts.get('deal_fetch', 0):.1f} s; enrichment "
            f"{parts['enrich']:.1f} s = /product fetch and parse "
            f"{parts.get('product_fetch', 0):.1f} s + /seller "
            f"{parts.get('seller_fetch', 0):.1f} s + the rest (queue reads and writes) "
            f"{enrich_write:.1f} s. Tokens plentiful (no waits); the simulator's /deal cache "
            "expired first."
        )
        share = max(1, len(looked_up) // 5)
        done, seconds = enrichment_pass(sim, looked_up[:share])
        result.add(
            "2.enrich_write",
            "enrichment write path alone: Enricher.write_offers (offers already fetched)",
            done / seconds,
            "rows/s",
        )
        text, shares = profiled(
            lambda: enrichment_pass(sim, looked_up[:share]),
            f"`Enricher.write_offers` ({share} look-ups of 100 written again)",
            WRITE_HOT_SPOTS,
        )
        result.notes.append(text)
        result.notes.append(
            "Enrichment end to end: fetching and parsing offers "
            f"{parts.get('product_fetch', 0):.1f} s, everything else {enrich_write:.1f} s. "
            f"What takes `write_offers`' time: {ranked(shares, 'deals: Enricher.write_offers')}."
            + (
                " Django's `bulk_update` builds a `CASE WHEN pk=… THEN …` expression per row "
                "for each updated field and resolves each one, in Python."
                if shares["django: QuerySet.bulk_update"] > 0.3
                else ""
            )
        )
    finally:
        sim.stop()
    return result
