"""Keepa's csv (price type) indices and arithmetic on csv-encoded history (docs/keepa.md §3.3).

A history is Keepa's flat csv list: ``[t0, v0, t1, v1, ...]``, or ``[t0, price0, ship0, ...]`` for
the types stored with shipping. A value holds from its time until the next point's time; -1 means
"no offer" and is left out of averages.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Sequence
from datetime import datetime, timedelta

Point = tuple[int, int] | None

AMAZON = 0
NEW = 1
USED = 2
SALES = 3
LISTPRICE = 4
NEW_FBM_SHIPPING = 7
WAREHOUSE = 9
NEW_FBA = 10
COUNT_NEW = 11
COUNT_USED = 12
EXTRA_INFO_UPDATES = 15
RATING = 16
COUNT_REVIEWS = 17
BUY_BOX_SHIPPING = 18
USED_NEW_SHIPPING = 19
USED_VERY_GOOD_SHIPPING = 20
USED_GOOD_SHIPPING = 21
USED_ACCEPTABLE_SHIPPING = 22
BUY_BOX_USED_SHIPPING = 32
PRIME_EXCL = 33
COUNT_NEW_FBA = 34
COUNT_NEW_FBM = 35

CSV_LENGTH = 36  # product csv / stats arrays, as in the 2026 sample
DEAL_LENGTH = 34  # deal arrays, as in the 2025 samples

USED_TYPE_BY_CONDITION = {
    2: USED_NEW_SHIPPING,
    3: USED_VERY_GOOD_SHIPPING,
    4: USED_GOOD_SHIPPING,
    5: USED_ACCEPTABLE_SHIPPING,
}
# Types whose history is stored as (time, price, shipping) triplets.
TRIPLET_TYPES = frozenset((7, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 32))
# Types computed from the live offers.
OFFER_TYPES = (0, 1, 2, 7, 9, 10, 11, 12, 15, 18, 19, 20, 21, 22, 32, 34, 35)
# Counts: 0 is a real value, and a change of count is not a price change.
COUNT_TYPES = frozenset((11, 12, 13, 14, 15, 34, 35))
# Types only delivered with the offers parameter (docs/keepa.md §3.3, the "extra" types); 16 and 17
# also come with rating=1, 18 with buybox=1.
EXTRA_TYPES = frozenset((7, 9, 10, 15, 16, 17, 18, 19, 20, 21, 22, 32, 33, 34, 35))
# Price types a /deal query may ask for (DOC).
DEAL_PRICE_TYPES = frozenset((0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 18, 19, 20, 21, 22, 32, 33))

DAY = 1440
# Deal averaging windows per dateRange: "day" is the last 48 h (JAVA Deal doc), week, month (31 d),
# 90 days.
DEAL_WINDOWS = (2 * DAY, 7 * DAY, 31 * DAY, 90 * DAY)
# History kept per type; points older than this are dropped (one earlier point is kept so the
# value at the window start stays known).
KEEP_MINUTES = 100 * DAY
_KEEPA_EPOCH = datetime(2011, 1, 1)


def history(values: list[int] | tuple[int, ...] = ()) -> array:
    """A compact history: 8 bytes a number instead of a Python int object's 40."""
    return array("q", values)


def step_of(csv_type: int) -> int:
    return 3 if csv_type in TRIPLET_TYPES else 2


def java_round(x: float) -> int:
    """Java's Math.round: floor(x + 0.5), so -12.5 -> -12 and 12.5 -> 13."""
    return math.floor(x + 0.5)


def delta_percent(delta: int, current: int) -> int:
    """Keepa's deltaPercent: round(100 * delta / reference), clamped to [-1000, 99]."""
    if delta == 0:
        return 0
    reference = current + delta
    if reference <= 0:
        return -1000 if delta < 0 else 99
    return max(-1000, min(99, java_round(100.0 * delta / reference)))


def value_of(hist: list[int], i: int, step: int) -> int:
    price = hist[i + 1]
    if step == 3 and price >= 0:
        return price + max(hist[i + 2], 0)
    return price


def averages(hist: list[int], step: int, end: int, windows: tuple[int, ...]) -> list[int]:
    """Time-weighted averages of the values >= 0 over ``[end - w, end]`` for each window.

    ``windows`` must be ascending. -1 where a window holds no value >= 0. One backward pass:
    the running integral is read off as each window's start is crossed.
    """
    n = len(hist)
    if hist[n - step] <= end - windows[-1]:
        # The last value holds over every window (a list price, a long-unchanged offer).
        v = value_of(hist, n - step, step)
        return [v if v >= 0 else -1] * len(windows)
    starts = [end - w for w in windows]
    count = len(starts)
    result = [-1] * count
    total = 0
    covered = 0
    seg_end = end
    j = 0
    next_start = starts[0]
    triplet = step == 3
    i = n - step
    while i >= 0:
        t = hist[i]
        if t < seg_end:
            v = hist[i + 1]
            if triplet and v >= 0 and hist[i + 2] > 0:
                v += hist[i + 2]
            if next_start >= t:
                while j < count and starts[j] >= t:
                    part = seg_end - starts[j] if v >= 0 and seg_end > starts[j] else 0
                    c = covered + part
                    result[j] = java_round((total + v * part) / c) if c else -1
                    j += 1
                if j == count:
                    return result
                next_start = starts[j]
            if v >= 0:
                total += v * (seg_end - t)
                covered += seg_end - t
            seg_end = t
        i -= step
    while j < count:
        result[j] = java_round(total / covered) if covered else -1
        j += 1
    return result


def extremes(
    hist: list[int], step: int, start: int, end: int
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(time, value) of the lowest and highest value >= 0 holding within ``[start, end]``."""
    low: tuple[int, int] | None = None
    high: tuple[int, int] | None = None
    n = len(hist)
    for i in range(0, n, step):
        t = hist[i]
        if t > end:
            break
        nxt = hist[i + step] if i + step < n else end + 1
        if nxt <= start and i + step < n:
            continue
        v = value_of(hist, i, step)
        if v < 0:
            continue
        if low is None or v < low[1]:
            low = (t, v)
        if high is None or v > high[1]:
            high = (t, v)
    return low, high


def scan(
    hist: Sequence[int], step: int, start: int, end: int, recent: int
) -> tuple[int, Point, Point, Point, Point, Point]:
    """One pass for the stats object: the value at ``start``, then (time, value) of the lowest
    and highest value ever, the lowest and highest within ``[start, end]``, and the lowest
    since ``recent``. Values < 0 are no value; a point holds until the next one."""
    at_start = -1
    low = high = low_in = high_in = low_recent = None
    n = len(hist)
    for i in range(0, n, step):
        t = hist[i]
        if t > end:
            break
        v = value_of(hist, i, step)
        if t <= start:
            at_start = v
        if v < 0:
            continue
        until = hist[i + step] if i + step < n else end + 1
        if low is None or v < low[1]:
            low = (t, v)
        if high is None or v > high[1]:
            high = (t, v)
        if until > start:
            if low_in is None or v < low_in[1]:
                low_in = (t, v)
            if high_in is None or v > high_in[1]:
                high_in = (t, v)
        if until > recent and (low_recent is None or v < low_recent[1]):
            low_recent = (t, v)
    return at_start, low, high, low_in, high_in, low_recent


def out_of_stock_percents(
    hist: Sequence[int], step: int, end: int, widths: Sequence[int]
) -> list[int]:
    """Share (0-100) of each window ``[end - width, end]`` with no value (-1); -1 without data."""
    starts = [end - w for w in widths]
    covered = [0] * len(widths)
    missing = [0] * len(widths)
    n = len(hist)
    for i in range(0, n, step):
        t = hist[i]
        if t >= end:
            break
        nxt = hist[i + step] if i + step < n else end
        b = nxt if nxt < end else end
        out = value_of(hist, i, step) < 0
        for k, start in enumerate(starts):
            a = t if t > start else start
            if b > a:
                covered[k] += b - a
                if out:
                    missing[k] += b - a
    return [java_round(100.0 * m / c) if c else -1 for m, c in zip(missing, covered, strict=True)]


def trim(hist: list[int], step: int, cutoff: int) -> list[int]:
    """Drop points before ``cutoff``, keeping the last one before it (its value still holds)."""
    keep_from = 0
    for i in range(0, len(hist), step):
        if hist[i] >= cutoff:
            break
        keep_from = i
    return hist[keep_from:] if keep_from else hist


# -- the sales rank before the kept window ---------------------------------------------------

# How far back a product's sales-rank history reaches (Keepa keeps years; the app asks for two).
RANK_PAST_DAYS = 730
RANK_PAST_STEP = 7 * DAY
# Seasonal shapes by calendar month (1-12): the factor the typical rank is multiplied by
# (below 1 sells faster). Textbooks peak when terms start, gift books before Christmas.
SEASONS = {
    "textbook": {1: 0.45, 8: 0.3, 9: 0.4},
    "holiday": {11: 0.5, 12: 0.3},
}


def season_of(asin: str) -> str:
    """The product's seasonal shape, a fixed draw from its ASIN: 30 % textbook, 15 % holiday,
    the rest year-round."""
    draw = zlib.crc32(f"season:{asin}".encode()) % 100
    return "textbook" if draw < 30 else "holiday" if draw < 45 else "year-round"


def month_of(minute: int) -> int:
    """Calendar month (1-12) of a Keepa minute (minutes since 2011-01-01 UTC)."""
    return (_KEEPA_EPOCH + timedelta(minutes=minute)).month


def rank_past(asin: str, first: int, rank: int) -> list[int]:
    """Weekly sales ranks for the `RANK_PAST_DAYS` before minute `first`, around `rank`, in
    the product's seasonal shape; csv layout ``[t0, r0, t1, r1, ...]``.

    Derived, not stored: a pure function of the ASIN, so the market keeps only its recent
    window in memory and every answer agrees with the last.
    """
    shape = SEASONS.get(season_of(asin), {})
    points: list[int] = []
    # On a fixed weekly grid, so the past stays the same as the recent window moves on.
    t = (first - RANK_PAST_DAYS * DAY) // RANK_PAST_STEP * RANK_PAST_STEP + RANK_PAST_STEP
    while t < first:
        noise = 0.85 + 0.3 * (zlib.crc32(f"{asin}:{t}".encode()) % 1000) / 1000
        points += [t, max(1, int(rank * shape.get(month_of(t), 1.0) * noise))]
        t += RANK_PAST_STEP
    return points
