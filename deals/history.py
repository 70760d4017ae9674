"""A product's own price and sales-rank history, kept small, and what it says about seasons.

Every /product answer carries Keepa's history arrays (`csv`, docs/keepa.md §3.3) at no extra
token cost, so a deal seen for the first time a minute ago already has months (often years)
of prices and ranks behind it. The full arrays run to tens of kilobytes a product; the
snapshot keeps a bounded digest instead:

- one value a day for the last `CHART_DAYS` days of the query's price type, the used buy box
  and the sales rank (what the deal page's chart and the row's sparkline draw), and
- the time-weighted average sales rank of each calendar month of up to `MONTHS_KEPT` months
  (what the season label reads), however long the history Keepa sent.

About 3 x 101 small integers and 24 month entries: under 3 KB of JSON a deal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from keepa_client.wire import (
    BUY_BOX_USED_SHIPPING,
    KEEPA_EPOCH_MINUTES,
    SALES_RANK,
    SHIPPING_PRICE_TYPES,
)

CHART_DAYS = 100
GRID_MINUTES = 1440
# What a /product call asks Keepa for (`days`): two years give each calendar month twice
# while keeping an answer's arrays to a few tens of kilobytes a product.
HISTORY_FETCH_DAYS = 730
MONTHS_KEPT = 24
# A month counts towards the season only when the rank is known for most of it.
MIN_MONTH_COVERAGE_DAYS = 20
# The season needs every calendar month seen at least once.
MIN_MONTHS = 12
# A month is a peak when its sales rank is at least this many times better (lower) than the
# product's typical (median) month: rank is roughly inversely proportional to sales, so 1.4
# means about 40 % more copies sold than in a usual month.
PEAK_FACTOR = 1.4
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Months that make a peak pattern a textbook or a holiday one (US school terms start in
# August/September and January; gift buying runs October to December).
TEXTBOOK_MONTHS = frozenset({1, 2, 7, 8, 9, 12})
TEXTBOOK_CORE = frozenset({1, 8, 9})
HOLIDAY_MONTHS = frozenset({10, 11, 12})
HOLIDAY_CORE = frozenset({11, 12})

NOT_ENOUGH = "not enough history"
DASH = "\u2013"  # an en dash between the months of a run: "Aug-Sep"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(keepa_minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=keepa_minute + KEEPA_EPOCH_MINUTES)


def _points(series: Sequence[Any] | None, csv_type: int) -> list[tuple[int, int]]:
    """(Keepa minute, value) pairs of one csv history; shipping added for triplet types."""
    if not series:
        return []
    step = 3 if csv_type in SHIPPING_PRICE_TYPES else 2
    points = []
    for i in range(0, len(series) - step + 1, step):
        t, value = series[i], series[i + 1]
        if not isinstance(t, int) or not isinstance(value, int):
            continue
        if step == 3 and value >= 0 and isinstance(series[i + 2], int) and series[i + 2] > 0:
            value += series[i + 2]
        points.append((t, value))
    points.sort(key=lambda p: p[0])
    return points


def _grid(points: list[tuple[int, int]], times: Sequence[int]) -> list[int]:
    """The value holding at each time (-1: no offer, or nothing recorded yet)."""
    values = []
    i = -1
    for t in times:
        while i + 1 < len(points) and points[i + 1][0] <= t:
            i += 1
        values.append(points[i][1] if i >= 0 else -1)
    return values


def _rank_points(raw: Mapping[str, Any]) -> list[tuple[int, int]]:
    csv = raw.get("csv") or []
    points = _points(csv[SALES_RANK] if len(csv) > SALES_RANK else None, SALES_RANK)
    if points:
        return points
    # Older answers keep the main rank only under salesRanks (by category id).
    ranks = raw.get("salesRanks") or {}
    reference = raw.get("salesRankReference")
    series = ranks.get(str(reference)) or ranks.get(reference) if reference is not None else None
    return _points(series, SALES_RANK)


def digest(raw: Mapping[str, Any], price_type: int) -> dict[str, Any] | None:
    """The bounded history kept in the product snapshot, or None when Keepa sent none."""
    csv = raw.get("csv")
    if not csv:
        return None
    price = _points(csv[price_type] if len(csv) > price_type else None, price_type)
    box = _points(
        csv[BUY_BOX_USED_SHIPPING] if len(csv) > BUY_BOX_USED_SHIPPING else None,
        BUY_BOX_USED_SHIPPING,
    )
    rank = _rank_points(raw)
    latest = [s[-1][0] for s in (price, box, rank) if s]
    if not latest:
        return None
    end = max([*latest, raw.get("lastUpdate") or 0])
    times = [end - (CHART_DAYS - k) * GRID_MINUTES for k in range(CHART_DAYS + 1)]
    return {
        "end": end,
        "step": GRID_MINUTES,
        "type": price_type,
        "price": _grid(price, times),
        "box": _grid(box, times) if price_type != BUY_BOX_USED_SHIPPING else [],
        "rank": _grid(rank, times),
        "months": monthly_ranks(rank, end),
    }


def monthly_ranks(points: list[tuple[int, int]], end: int) -> dict[str, list[int]]:
    """{"YYYY-MM": [time-weighted average rank, days covered]} for the last `MONTHS_KEPT`
    months; a rank holds from its time until the next point (or `end`)."""
    weighted: dict[str, float] = {}
    covered: dict[str, int] = {}
    for i, (t, rank) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else end
        if rank <= 0 or until <= t:
            continue
        start = t
        while start < until:
            at = to_datetime(start)
            month_end = (at.replace(day=1) + timedelta(days=32)).replace(day=1)
            stop = min(until, start + int((month_end - at).total_seconds() // 60) or 1)
            key = f"{at:%Y-%m}"
            weighted[key] = weighted.get(key, 0.0) + rank * (stop - start)
            covered[key] = covered.get(key, 0) + (stop - start)
            start = stop
    keys = sorted(covered)[-MONTHS_KEPT:]
    return {k: [round(weighted[k] / covered[k]), covered[k] // 1440] for k in keys}


def _month_list(months: Sequence[int], first: int) -> str:
    """Calendar months as runs, from the run holding `first` on, wrapping round the year:
    [1, 8, 9] from 8 -> "Aug-Sep, Jan" (with an en dash)."""
    chosen = set(months)
    runs: list[list[int]] = []
    # Start a run where the previous month is not chosen, so Dec-Jan stays one run.
    starts = [m for m in range(1, 13) if m in chosen and ((m - 2) % 12 + 1) not in chosen]
    for first in starts:
        run = [first]
        while (run[-1] % 12) + 1 in chosen and len(run) < 12:
            run.append(run[-1] % 12 + 1)
        runs.append(run)
    if not runs:  # every month chosen
        return f"Jan{DASH}Dec"
    lead = next(r[0] for r in runs if first in r)
    runs.sort(key=lambda r: (r[0] - lead) % 12)
    parts = [
        MONTH_NAMES[r[0] - 1]
        if len(r) == 1
        else f"{MONTH_NAMES[r[0] - 1]}{DASH}{MONTH_NAMES[r[-1] - 1]}"
        for r in runs
    ]
    return ", ".join(parts)


def season(months: Mapping[str, Sequence[int]] | None) -> tuple[str, int | None]:
    """(label, expected peak month 1-12 or None) from the monthly average sales ranks."""
    by_month: dict[int, list[float]] = {}
    for key, (rank, days) in (months or {}).items():
        if days >= MIN_MONTH_COVERAGE_DAYS and rank > 0:
            by_month.setdefault(int(key[5:7]), []).append(math.log(rank))
    if len(by_month) < MIN_MONTHS:
        return NOT_ENOUGH, None
    # The typical rank of each calendar month over the years seen (geometric mean).
    typical = {m: sum(v) / len(v) for m, v in by_month.items()}
    ordered = sorted(typical.values())
    median = (ordered[5] + ordered[6]) / 2
    peaks = sorted(m for m, v in typical.items() if v <= median - math.log(PEAK_FACTOR))
    if not peaks:
        return "Year-round", None
    best = min(peaks, key=lambda m: (typical[m], m))
    chosen = set(peaks)
    if chosen <= TEXTBOOK_MONTHS and chosen & TEXTBOOK_CORE and best in TEXTBOOK_CORE:
        kind = "Textbook"
    elif chosen <= HOLIDAY_MONTHS and chosen & HOLIDAY_CORE:
        kind = "Holiday"
    else:
        kind = "Seasonal"
    return f"{kind}: {_month_list(peaks, best)} · peak {MONTH_NAMES[best - 1]}", best


def season_label(snapshot: Mapping[str, Any] | None) -> str:
    """The `season` column: empty until a /product answer with history is stored."""
    history = (snapshot or {}).get("history")
    if not history:
        return ""
    return season(history.get("months"))[0]
