"""What the dashboard reads: the filtered, sorted page of deals, sparklines, the live diff and
the status line. The views only wire these to templates; nothing here writes. How values
are shown is `deals.formatting`; how prices are drawn, `deals.charts`."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.fields.json import KT
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from deals import charts, health, row_html, targets, tasks, token_plan, triage
from deals.columns import BY_NAME, COLUMNS, SHOWN_BY_DEFAULT, Column
from deals.forms import SHOWN_STATUSES, DealFilterForm
from deals.kept import kept
from deals.models import Deal, DealEvent, SyncRun, Triage
from keepa_client.redact import redact

PAGE_SIZE = 50
COLUMNS_BY_NAME = {c.name: c.kind for c in COLUMNS}
SPARKLINE_DAYS = 30
# The longest ASIN list a live poll accepts (a page, with room for a changed page size).
MAX_SHOWN = 200
# Keepa caches a /deal query's results for 120 s (docs/keepa.md §4.1), and the update run
# skips its sweep within that time of the last one (deals/ingest.py DEAL_CACHE): a Refresh
# sooner can check sellers but cannot bring new prices.
DEAL_CACHE = timedelta(seconds=120)
# The cookie site.js writes when the reader picks the table's columns: names, comma-separated.
COLUMNS_COOKIE = "deal_columns"
# Always shown: a row without them cannot be told apart or bought from.
ALWAYS_SHOWN = frozenset({"title", "now_price"})


# -- the table's columns ------------------------------------------------------------------


def table_columns() -> list[Column]:
    """The table's columns: the buy decision first (SHOWN_BY_DEFAULT's order), then the rest."""
    table = [c for c in COLUMNS if c.in_table]
    first = [c for name in SHOWN_BY_DEFAULT for c in table if c.name == name]
    return first + [c for c in table if c not in first]


def shown_columns(cookie: str | None) -> frozenset[str]:
    """The columns the reader chose to see (the cookie), else the default ones."""
    known = {c.name for c in COLUMNS if c.in_table}
    if cookie is None:
        return frozenset(SHOWN_BY_DEFAULT) & known
    # site.js writes the names percent-encoded (a comma is not allowed in a cookie value).
    return frozenset(n for n in unquote(cookie).split(",") if n in known) | ALWAYS_SHOWN


# -- the query ----------------------------------------------------------------------------


# Sorts by what a deal is worth: an unverified row (it may have left) never ranks among the
# certain ones, whatever its figures say.
CERTAIN_FIRST_KINDS = ("money", "percent")


def order_for(sort: str) -> list[Any]:
    """ORDER BY for a `?sort=` value: NULLs last either way, ties broken by ASIN (stable paging);
    in the money and percent sorts listed rows before unverified ones."""
    name = sort.removeprefix("-")
    name = BY_NAME[name].field if name in BY_NAME else name
    expression = (
        F(name).desc(nulls_last=True) if sort.startswith("-") else F(name).asc(nulls_last=True)
    )
    order = [expression] if name == "asin" else [expression, F("asin").asc()]
    if COLUMNS_BY_NAME.get(name) in CERTAIN_FIRST_KINDS:
        # "listed" sorts before "unverified" (tests/dashboard/test_page.py holds it); the default
        # sort walks deal_status_delta_pct_idx.
        order.insert(0, F("status").asc())
    return order


def deals_for_dashboard(filters: Q, sort: str) -> QuerySet[Deal]:
    # The snapshots can be large and the table never shows them.
    return (
        Deal.objects.filter(filters)
        .order_by(*order_for(sort))
        .defer("deal_snapshot", "product_snapshot", "categories")
    )


def shown_count() -> int:
    """Deals that may still be deals (listed or unverified) and that the reader has not
    hidden: the dashboard's total, always exact."""
    # The deals hidden now are a list read first (deals/triage.py `hidden_now`): the count
    # walks the status index alone (4 ms at 50,000 deals on SQLite; 7 ms on PostgreSQL, and
    # 25 ms while a sweep writes, as the rows it rewrote must be read to be counted).
    hidden = triage.hidden_now()
    shown = Deal.objects.filter(status__in=SHOWN_STATUSES).filter(~hidden)
    hidden_key = hidden_now_key(hidden)
    if not hidden_key:  # too many hidden to list: a subquery, counted each time
        return shown.count()
    # Kept for every process while no deal has changed (a deal enters, leaves or changes
    # only with a DealEvent) and the same deals are hidden: counted again on the next change.
    return kept(
        f"deals:total:{hidden_key}",
        current_cursor(),
        shown.count,
        every=0,
        max_age=COUNT_CACHE_SECONDS,
    )


def hidden_now_key(hidden: Q | None = None) -> str:
    """A digest of the deals the reader has hidden now ("" when they are too many to list)."""
    hidden = triage.hidden_now() if hidden is None else hidden
    ((_, asins),) = hidden.children
    if not isinstance(asins, list):
        return ""
    return hashlib.sha256(",".join(sorted(asins)).encode()).hexdigest()[:16]


# The categories in use, each found by one step along deal_root_category_idx from the last
# (a loose index scan): SELECT DISTINCT walked all 50,000 index entries on every page (3.5 ms
# on SQLite; this, 0.1 ms for 30 categories). Both SQLite and PostgreSQL run it as written.
_CATEGORIES_SQL = """
WITH RECURSIVE present(category) AS (
    SELECT MIN(root_category) FROM deals_deal
    UNION ALL
    SELECT (SELECT MIN(root_category) FROM deals_deal WHERE root_category > present.category)
    FROM present WHERE present.category IS NOT NULL
)
SELECT category FROM present WHERE category IS NOT NULL
"""


def present_categories() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_CATEGORIES_SQL)
        return [row[0] for row in cursor.fetchall()]


# A kept count is keyed by everything it counts (the deals' latest DealEvent, the reader's
# marks, the deals hidden now), so this bounds only how long an unused one stays in the cache.
# A count that expired every minute made a search page slow once a minute for each filter.
COUNT_CACHE_SECONDS = 600
# While deals keep changing, a kept filtered count is counted again at most this often
# (deals/kept.py): a search is a scan of every row, 170 ms at 50,000 deals on SQLite and
# several times that beside a writer, and it was counted again on every page and poll.
COUNT_CHANGES_EVERY_SECONDS = 10


class KeysFirstPaginator(Paginator):
    """Find the page's ids first, then load just those rows; remember filtered counts.

    SQLite walks an OFFSET row by row: reading only ids lets it walk the sort's index
    instead of whole rows, which keeps page 500 of 50,000 deals about as fast as page 1.
    PostgreSQL walks the same index either way (page 500 of 50,000, count included: 36 ms
    ids first, 42 ms a plain OFFSET), so one paginator serves both.
    A filtered or searched count scans the table, so it is kept per filter and counted again
    after a DealEvent (any entry, exit or change of a shown value): at once after a quiet
    spell, at most every COUNT_CHANGES_EVERY_SECONDS while changes keep coming; and at once
    when the reader's marks change or a hide runs out.
    """

    def __init__(
        self,
        object_list: QuerySet[Deal],
        per_page: int,
        count_key: str = "",
        cursor: int = 0,
        counter: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(object_list, per_page)
        self.count_key = count_key
        self.cursor = cursor
        self.counter = counter

    @cached_property
    def count(self) -> int:
        if self.counter is not None:
            return self.counter()
        if not self.count_key:
            return self.object_list.count()
        return kept(
            self.count_key,
            self.cursor,
            self.object_list.count,
            every=COUNT_CHANGES_EVERY_SECONDS,
            max_age=COUNT_CACHE_SECONDS,
            in_background=True,
        )

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        # By primary key alone: with the filters again, SQLite walked the status index
        # through all 50,000 deals to find these 50 (14 ms instead of 1).
        fetch = self.object_list.model._base_manager.filter(pk__in=ids)
        fetch.query.deferred_loading = self.object_list.query.deferred_loading
        rows = {deal.pk: deal for deal in fetch}
        return self._get_page([rows[i] for i in ids if i in rows], number, self)

    def get_page(self, number: int | str) -> Page:
        """A page for any `?page=`: not a number or below 1 is the first page, past the end
        the last (Django's get_page would turn page 0 into the last page)."""
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return self.page(1 if int(number) < 1 else self.num_pages)


@dataclass
class DashboardQuery:
    """A request's validated view of the deals: the form, the filters, the sort and the page."""

    form: DealFilterForm
    page_number: str

    @classmethod
    def from_request(
        cls, data: QueryDict | Mapping[str, str], categories: Iterable[int] | None = None
    ) -> DashboardQuery:
        form = DealFilterForm(data, categories=categories)
        return cls(form=form, page_number=str(data.get("page") or "1"))

    @property
    def sort(self) -> str:
        return self.form.ordering

    @property
    def params(self) -> dict[str, str]:
        return self.form.params()

    @property
    def filtered(self) -> bool:
        """Whether a filter or a search narrows the deals (a sort alone does not)."""
        return bool(self.params.keys() - {"sort"})

    def total(self, page: Page) -> int:
        """How many deals there are in all: the page's own count unless it is filtered."""
        return shown_count() if self.filtered else page.paginator.count

    def queryset(self) -> QuerySet[Deal]:
        return deals_for_dashboard(self.form.filters(), self.sort)

    def paginator(self) -> KeysFirstPaginator:
        filters = {k: v for k, v in self.params.items() if k not in ("page", "sort")}
        key, cursor = "", 0
        if filters:
            cursor = current_cursor()
            digest = hashlib.sha1(urlencode(sorted(filters.items())).encode()).hexdigest()
            # Hiding or watching writes no DealEvent: the triage's own version keys it too,
            # and the deals hidden now (a hide for some days runs out with no write at all).
            marks = hashlib.sha1(repr((triage.version(), hidden_now_key())).encode()).hexdigest()[
                :12
            ]
            key = f"deals:count:{digest}:{marks}"
        # Unfiltered, the page lists exactly the deals of the total (`shown_count`, kept).
        counter = None if filters else shown_count
        return KeysFirstPaginator(
            self.queryset(), PAGE_SIZE, count_key=key, cursor=cursor, counter=counter
        )

    def page(self) -> Page:
        """The requested page, or the nearest real one for a page number that is not."""
        return self.paginator().get_page(self.page_number)

    def polled_page(self, latest: int) -> Page:
        """`page()` for a live poll that read `latest` (the newest DealEvent) first: the page
        as the deals stood then, kept for this process. While a sweep writes, every tab
        polling the same view after the same write asks for the same page; read once, it is
        shared. A poll only ever follows DealEvents, so a page kept by the event it came
        after shows what a page read then would."""
        key = (
            urlencode(sorted(self.params.items())),
            self.page_number,
            latest,
            triage.version(),
            # Too many hidden to list: the marks decide in the query, with the clock.
            hidden_now_key() or timezone.now().replace(second=0, microsecond=0),
        )
        page = POLLED_PAGES.get(key)
        if page is None:
            page = self.page()
            POLLED_PAGES.put(key, page)
        return page

    def exact_page(self) -> Page:
        """The requested page; raises InvalidPage (with a reason) when there is no such page."""
        return self.paginator().page(self.page_number)

    def url_params(self, **changes: Any) -> str:
        """The query string for this view with some parameters changed (None removes one)."""
        params = dict(self.params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return urlencode(params)


# Pages read for live polls, by what they were read after (`DashboardQuery.polled_page`):
# a few views for each of the last few writes.
POLLED_PAGES: row_html.LruCache[Page] = row_html.LruCache(64)


def current_cursor() -> int:
    return DealEvent.objects.aggregate(cursor=Max("pk"))["cursor"] or 0


# -- rows and sparklines ------------------------------------------------------------------


@dataclass
class Row:
    deal: Deal
    sparkline: str = ""
    is_new: bool = False  # entered the database since the reader opened the page
    flash: bool = False  # changed (or moved onto the page) since the reader's last poll
    verdict: targets.Verdict = field(default_factory=targets.Verdict)
    triage: Triage | None = None  # the reader's marks on this ASIN
    hidden: bool = False  # hidden now (deals/triage.py `is_hidden`)


def rows_for(
    deals: Sequence[Deal],
    *,
    new: Set[str] = frozenset(),
    flash: Set[str] = frozenset(),
    target: float | None = None,
) -> list[Row]:
    """The page's rows with their sparklines (one query for all), their target cues and the
    reader's marks (one query)."""
    now = timezone.now()
    lines = sparklines(deals, now)
    marks = triage.for_asins(d.asin for d in deals)
    return [
        Row(
            d,
            lines.get(d.asin, ""),
            is_new=d.asin in new,
            flash=d.asin in flash,
            verdict=targets.verdict(d, target),
            triage=marks.get(d.asin),
            hidden=triage.is_hidden(marks.get(d.asin), d, now),
        )
        for d in deals
    ]


# Sparklines drawn from Keepa's stored history, kept per process for the hour they were
# drawn in and drawn again at once when the history or Now changes. A line ends at the time
# it is drawn: one kept for up to an hour ends up to an hour early, a ninth of a pixel on its
# 80-pixel, 30-day axis (a row the live poll does not resend keeps its line far longer). Kept
# only a minute, every row on a page was drawn again each minute: the row's HTML is keyed by
# its line.
# At 50,000 deals they were a quarter of a page's CPU time once the rows themselves were
# kept (deals/row_html.py).
HISTORY_LINES: row_html.LruCache[str] = row_html.LruCache(2_000)
# Likewise those drawn from the Now changes recorded since the deal entered (DealEvents),
# known by how many changes there are in the window and the newest one.
RECORDED_LINES: row_html.LruCache[str] = row_html.LruCache(2_000)


def sparklines(deals: Sequence[Deal], now: datetime) -> dict[str, str]:
    """Each row's last 30 days: Keepa's own daily prices (stored with the offers look-up),
    else the Now changes recorded since the deal entered. Two queries for the whole page."""
    asins = [d.asin for d in deals]
    # Only the history's key is read, not the whole snapshot the page query defers; as
    # text, so that an unchanged history is known by its digest without decoding it.
    stored = dict(
        Deal.objects.filter(asin__in=asins).values_list("asin", KT("product_snapshot__history"))
    )
    lines = {}
    hour = now.replace(minute=0, second=0, microsecond=0)
    for deal in deals:
        text = stored.get(deal.asin)
        if not text:
            continue
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        key = (deal.asin, digest, deal.now_price, hour)
        line = HISTORY_LINES.get(key)
        if line is None:
            line = _history_line(text, deal.now_price, now)
            HISTORY_LINES.put(key, line)
        if line:
            lines[deal.asin] = line
    missing = [a for a in asins if a not in lines]
    if not missing:
        return lines
    since = now - timedelta(days=SPARKLINE_DAYS)
    history = DealEvent.objects.price_history(missing, since)
    # The recorded changes are only appended (and old ones dropped), so how many there are in
    # the window and the newest one's id tell a line apart; the changes themselves are read
    # only for the lines not kept (reading them all was 17 ms a page at 8 per deal).
    seen = {
        asin: (count, last)
        for asin, count, last in history.order_by()
        .values("asin")
        .annotate(count=Count("pk"), last=Max("pk"))
        .values_list("asin", "count", "last")
    }
    keys = {
        d.asin: (d.asin, seen.get(d.asin), d.now_price, hour) for d in deals if d.asin not in lines
    }
    drawn = {asin: RECORDED_LINES.get(key) for asin, key in keys.items()}
    to_draw = [asin for asin, line in drawn.items() if line is None]
    recorded: dict[str, list[tuple[datetime, Any, Any, str]]] = defaultdict(list)
    if to_draw:
        events = DealEvent.objects.price_history(to_draw, since).values_list(
            "asin", "at", "old_value", "new_value", "kind"
        )
        for asin, at, old, new, kind in events:
            recorded[asin].append((at, old, new, kind))
    for deal in deals:
        if deal.asin not in keys:
            continue
        line = drawn[deal.asin]
        if line is None:
            points = charts.price_points(recorded.get(deal.asin, ()), deal.now_price, since, now)
            line = charts.sparkline(points) if points else ""
            RECORDED_LINES.put(keys[deal.asin], line)
        if line:
            lines[deal.asin] = line
    return lines


def _history_line(text: str, current: int | None, now: datetime) -> str:
    try:
        history = json.loads(text)
    except ValueError:  # a bare string: JSON's text of it is the string itself
        return ""
    if not isinstance(history, dict):
        return ""
    return charts.history_sparkline(history, current, now, SPARKLINE_DAYS)


# -- the live poll ------------------------------------------------------------------------


@dataclass
class LiveDiff:
    """What a poll sends back: changed rows only, or the whole page when its ASINs moved."""

    rows: list[Row]
    whole_page: bool
    page: Page
    asins: list[str] = field(default_factory=list)


def live_diff(
    query: DashboardQuery,
    *,
    opened: int,
    cursor: int,
    latest: int,
    shown: Sequence[str],
    target: float | None = None,
    first_fill: bool = False,
) -> LiveDiff:
    """Recompute the reader's page and compare it with what they see (`shown`).

    During the first fill (`first_fill`: the table is filling for the first time) rows are
    neither marked new nor highlighted: every row is new then, and fifty yellow rows say
    nothing a reader can act on.
    """
    page = query.polled_page(latest)
    deals = list(page.object_list)
    asins = [d.asin for d in deals]
    events = DealEvent.objects.filter(
        pk__gt=min(opened, cursor), pk__lte=latest, asin__in=asins
    ).values_list("pk", "asin", "kind")
    new, touched = set(), set()
    for pk, asin, kind in events:
        if kind == DealEvent.Kind.ENTERED:
            new.add(asin)
        if pk > cursor:
            touched.add(asin)
    if first_fill:
        new, marked = set(), set()
    else:
        marked = touched
    if asins == list(shown):
        # Rows whose computed values a recompute moved (Costs saved) are sent again too,
        # without the flash: the deal did not change, the reader's costs did.
        resend = touched | recomputed(asins, cursor=cursor, latest=latest)
        changed = [d for d in deals if d.asin in resend]
        rows = rows_for(changed, new=new, flash=marked, target=target)
        return LiveDiff(rows, whole_page=False, page=page, asins=asins)
    # Entries, exits or a new order: the page is redrawn; rows that changed or moved onto
    # it are highlighted, and deals that entered since the page was opened stay marked new.
    flash = set() if first_fill else touched | (set(asins) - set(shown))
    rows = rows_for(deals, new=new, flash=flash, target=target)
    return LiveDiff(rows, whole_page=True, page=page, asins=asins)


def recomputed(asins: Sequence[str], *, cursor: int, latest: int) -> set[str]:
    """Which of `asins` fall in a chunk recomputed after the reader's cursor (at most one
    event per 1,000 deals recomputed; the events name their chunk's ASIN range)."""
    ranges = [
        event.asin_range
        for event in DealEvent.objects.filter(
            pk__gt=cursor, pk__lte=latest, kind=DealEvent.Kind.RECOMPUTED
        ).only("new_value")
    ]
    return {a for a in asins if any(first <= a <= last for first, last in ranges)}


def live_url(opened: int, cursor: int, asins: Sequence[str], query: DashboardQuery) -> str:
    params = {**query.params, "page": str(query.page_number), "opened": str(opened)}
    params |= {"cursor": str(cursor), "shown": ",".join(asins)}
    return f"{reverse('live')}?{urlencode(params)}"


def parse_shown(value: str) -> list[str]:
    return [a for a in value.split(",") if a][:MAX_SHOWN]


# -- the status line ----------------------------------------------------------------------


@dataclass
class Status:
    last_ok: SyncRun | None
    next_run: datetime | None
    tokens_left: int | None
    refill_rate: int | None
    # The update runs in a row, newest first, that ended with an error (failed, or partial
    # with an error: a sweep that kept going while /product failed), and the newest error.
    error_runs: int
    all_failed: bool
    last_error: str
    # No successful sync for longer than a few update intervals (None: all is well).
    stale_for: timedelta | None = None
    worker: health.WorkerHealth | None = None
    # The update run in progress, if any (its counts and tokens are written when it ends).
    running: SyncRun | None = None
    # The token plan and the offers backlog (deals/token_plan.py; None before any run).
    plan: token_plan.PlanView | None = None

    @property
    def stale_text(self) -> str:
        return health.minutes(self.stale_for) if self.stale_for is not None else ""

    @property
    def worker_problem(self) -> str:
        return self.worker.problem() if self.worker is not None else ""


# The status line read once for every request of a process in this many seconds: a page or a
# live poll read it with eleven queries (a quarter of a poll's time while a sweep writes and
# every poll finds rows changed). A tab polls every 5 s, so a line read 2 s ago is as current
# as the tab could know; a Refresh's outcome reads it afresh.
STATUS_SHARED_SECONDS = 2.0


@dataclass
class _SharedStatus:
    lock: threading.Lock = field(default_factory=threading.Lock)
    read_at: float = -math.inf
    value: Status | None = None


_SHARED_STATUS = _SharedStatus()


def status(*, shared: bool = False) -> Status:
    """What the status line says. `shared`: as read by another request of this process in
    the last STATUS_SHARED_SECONDS (settings.DEALS_STATUS_SHARED, off in tests)."""
    kept_here = _SHARED_STATUS
    if shared and settings.DEALS_STATUS_SHARED:
        with kept_here.lock:
            if kept_here.value is not None and (
                time.monotonic() - kept_here.read_at < STATUS_SHARED_SECONDS
            ):
                return kept_here.value
    value = _status()
    with kept_here.lock:
        kept_here.read_at, kept_here.value = time.monotonic(), value
    return value


def forget_status() -> None:
    """Read the status line afresh on the next request (tests)."""
    with _SHARED_STATUS.lock:
        _SHARED_STATUS.read_at, _SHARED_STATUS.value = -math.inf, None


def _status() -> Status:
    now = timezone.now()
    sync = health.sync_health(now)
    ended = SyncRun.objects.updates().filter(
        status__in=(SyncRun.Status.OK, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED)
    )
    clean = ended.filter(error="").order_by("-started_at").values_list("started_at", flat=True)
    erring = ended.exclude(error="")
    if (last_clean := clean.first()) is not None:
        erring = erring.filter(started_at__gt=last_clean)
    latest = erring.order_by("-started_at").values_list("error", flat=True).first()
    error_runs = erring.count() if latest is not None else 0
    all_failed = bool(error_runs) and not erring.exclude(status=SyncRun.Status.FAILED).exists()
    tokens = (
        SyncRun.objects.filter(tokens_left__isnull=False)
        .order_by("-started_at")
        .values_list("tokens_left", "refill_rate")
        .first()
    )
    worker = health.worker_health(now)
    # A run's row says "running" until the next run tidies up after a crash: the lock says
    # whether one really is.
    running = (
        SyncRun.objects.updates()
        .filter(status=SyncRun.Status.RUNNING)
        .order_by("-started_at")
        .only("started_at", "trigger", "full_sweep")
        .first()
        if tasks.update_running()
        else None
    )
    return Status(
        last_ok=sync.last_ok,
        next_run=sync.next_run,
        tokens_left=tokens[0] if tokens else None,
        refill_rate=tokens[1] if tokens else None,
        error_runs=error_runs,
        all_failed=all_failed,
        # Stored errors are redacted already; this is the belt to those braces.
        last_error=redact(latest, settings.KEEPA_API_KEY) if latest else "",
        stale_for=sync.stale_for,
        worker=worker,
        running=running,
        plan=token_plan.current(),
    )


def next_useful_refresh(now: datetime | None = None) -> datetime | None:
    """When a Refresh can next bring new prices: the last sweep that read Keepa's deal pages
    plus Keepa's cache time; None when that time has passed."""
    now = now or timezone.now()
    last_sweep = (
        SyncRun.objects.updates()
        .filter(pages__gt=0, started_at__gt=now - DEAL_CACHE)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return last_sweep + DEAL_CACHE if last_sweep is not None else None
