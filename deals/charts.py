"""Price charts as inline SVG: the 30-day sparkline of a table row and the deal page's charts.

Colours and dashes come from classes in static/css/site.css: the strict CSP allows no
inline style."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from deals.formatting import money
from deals.models import DealEvent
from keepa_client.wire import datetime_to_keepa_minute, keepa_minute_to_datetime


def price_points(
    events: Iterable[tuple[datetime, Any, Any, str]],
    current: int | None,
    start: datetime,
    now: datetime,
) -> list[tuple[datetime, int]]:
    """(time, price) steps from Now-price events (at, old, new, kind), ending at `now`."""
    points: list[tuple[datetime, int]] = []
    for at, old, new, kind in events:
        if not points and kind == DealEvent.Kind.CHANGED and isinstance(old, int):
            points.append((start, old))  # the price held before the window's first change
        if isinstance(new, int):
            points.append((at, new))
    if points and current is not None:
        points.append((now, current))
    return points


def price_svg(
    points: Sequence[tuple[datetime, int]],
    *,
    width: int,
    height: int,
    css_class: str,
    axes: bool = False,
) -> SafeString:
    """A step chart of prices over time as inline SVG (a price holds until it changes)."""
    pad_x, pad_y = (58, 14) if axes else (2, 3)
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    low = min(p for _, p in points)
    high = max(p for _, p in points)
    inner_w, inner_h = width - pad_x - 4, height - 2 * pad_y

    def x(at: datetime) -> float:
        return pad_x + (at - t0).total_seconds() / span * inner_w

    def y(price: int) -> float:
        if high == low:
            return pad_y + inner_h / 2
        return pad_y + (high - price) / (high - low) * inner_h

    path = [f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"]
    for at, price in points[1:]:
        path.append(f"H{x(at):.1f}V{y(price):.1f}")
    first, last = points[0][1], points[-1][1]
    trend = "down" if last < first else "up" if last > first else "flat"
    summary = f"Now price {money(first)} → {money(last)} since {t0:%Y-%m-%d}"
    parts = [
        format_html(
            '<svg class="{} {}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
            'aria-label="{}"><title>{}</title>',
            css_class,
            trend,
            width,
            height,
            width,
            height,
            summary,
            summary,
        ),
        format_html('<path d="{}" fill="none" stroke="currentColor"/>', "".join(path)),
        format_html(
            '<circle cx="{}" cy="{}" r="2" fill="currentColor"/>', f"{x(t1):.1f}", f"{y(last):.1f}"
        ),
    ]
    if axes:
        parts.append(
            format_html(
                '<g class="axis"><text x="0" y="{}">{}</text><text x="0" y="{}">{}</text>'
                '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text></g>',
                f"{y(high) + 4:.1f}",
                money(high),
                f"{y(low) + 4:.1f}",
                money(low),
                pad_x,
                height - 1,
                f"{t0:%Y-%m-%d}",
                width - 4,
                height - 1,
                f"{t1:%Y-%m-%d %H:%M}",
            )
        )
        for at, price in points[:-1]:
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="2.5" fill="currentColor"><title>{} UTC: {}</title>'
                    "</circle>",
                    f"{x(at):.1f}",
                    f"{y(price):.1f}",
                    f"{at.astimezone(UTC):%Y-%m-%d %H:%M}",
                    money(price),
                )
            )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))


def sparkline(points: Sequence[tuple[datetime, int]]) -> SafeString:
    """The small chart in a table row."""
    return price_svg(points, width=80, height=24, css_class="spark")


def price_chart(points: Sequence[tuple[datetime, int]]) -> SafeString:
    """The deal page's chart, with prices and dates on its axes."""
    return price_svg(points, width=720, height=180, css_class="chart", axes=True)


# -- Keepa's own history (deals/history.py) -----------------------------------------------

HISTORY_WIDTH, HISTORY_HEIGHT = 720, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 70, 16, 20


def _step_path(points: Sequence[tuple[datetime, int]], x: Any, y: Any, gap_after: float) -> str:
    """A step line through (time, value) points; a jump longer than `gap_after` seconds
    (days without a value) lifts the pen."""
    path: list[str] = []
    previous: datetime | None = None
    for at, value in points:
        if previous is None or (at - previous).total_seconds() > gap_after:
            path.append(f"M{x(at):.1f},{y(value):.1f}")
        else:
            path.append(f"H{x(at):.1f}V{y(value):.1f}")
        previous = at
    return "".join(path)


def history_chart(
    history: Mapping[str, Any],
    *,
    price_label: str,
    average: int | None,
    buy: int | None,
    now: datetime,
    current: int | None = None,
) -> SafeString | str:
    """The deal page's chart of Keepa's own history: the query's price type, the used buy
    box and the sales rank (its own scale, right), with the average and the buy price marked.
    `current` (the latest Now) extends the price line to `now`. "" when there is nothing to
    draw."""
    price = history_series(history, "price")
    box = history_series(history, "box")
    rank = history_series(history, "rank")
    if current is not None and price and now > price[-1][0]:
        price.append((now, current))
    if not price and not box and not rank:
        return ""
    times = [p[0] for s in (price, box, rank) for p in s]
    t0, t1 = min(times), max(max(times), now)
    span = max((t1 - t0).total_seconds(), 1.0)
    inner_w = HISTORY_WIDTH - _LEFT - _RIGHT
    inner_h = HISTORY_HEIGHT - _TOP - _BOTTOM
    prices = [v for s in (price, box) for _, v in s] + [v for v in (average, buy) if v]
    low, high = (min(prices), max(prices)) if prices else (0, 1)
    if high == low:
        low, high = low - 100 if low >= 100 else 0, high + 100

    def x(at: datetime) -> float:
        return _LEFT + (at - t0).total_seconds() / span * inner_w

    def y(cents: int) -> float:
        return _TOP + (high - cents) / (high - low) * inner_h

    ranks = [v for _, v in rank if v > 0]
    r_low, r_high = (min(ranks), max(ranks)) if ranks else (1, 2)
    log_low, log_high = math.log(r_low), math.log(max(r_high, r_low + 1))

    def y_rank(value: int) -> float:
        # Log scale: a rank moving from 10,000 to 20,000 matters as much as 1M to 2M. The
        # best rank is at the top: up means selling faster, as for a price rise.
        return _TOP + (math.log(max(value, 1)) - log_low) / (log_high - log_low) * inner_h

    gap = 2 * 86400  # the stored series has a value a day
    summary = (
        f"{price_label}, Buy Box Used and sales rank from {t0:%Y-%m-%d} to {t1:%Y-%m-%d}"
        f"{f'; average {money(average)}' if average else ''}"
        f"{f'; buy price {money(buy)}' if buy else ''}"
    )
    parts = [
        format_html(
            '<svg class="history-chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
            'aria-label="{}"><title>{}</title>',
            HISTORY_WIDTH,
            HISTORY_HEIGHT,
            HISTORY_WIDTH,
            HISTORY_HEIGHT,
            summary,
            summary,
        )
    ]
    if rank:
        parts.append(
            format_html(
                '<path class="series rank" d="{}" fill="none"/>', _step_path(rank, x, y_rank, gap)
            )
        )
    if box:
        parts.append(
            format_html('<path class="series box" d="{}" fill="none"/>', _step_path(box, x, y, gap))
        )
    if price:
        parts.append(
            format_html(
                '<path class="series price" d="{}" fill="none"/>', _step_path(price, x, y, gap)
            )
        )
    # The average is labelled at the left end, the buy price at the right: close values
    # never print over each other.
    marks = ((average, "avg", "average", _LEFT + 2, "start"),
             (buy, "buy", "buy", HISTORY_WIDTH - _RIGHT - 2, "end"))  # fmt: skip
    for value, css, label, text_x, anchor in marks:
        if value:
            parts.append(
                format_html(
                    '<g class="mark {}"><line x1="{}" x2="{}" y1="{}" y2="{}"/>'
                    '<text x="{}" y="{}" text-anchor="{}">{} {}</text></g>',
                    css,
                    _LEFT,
                    HISTORY_WIDTH - _RIGHT,
                    f"{y(value):.1f}",
                    f"{y(value):.1f}",
                    text_x,
                    f"{y(value) - 3:.1f}",
                    anchor,
                    label,
                    money(value),
                )
            )
    parts.append(
        format_html(
            '<g class="axis"><text x="0" y="{}">{}</text><text x="0" y="{}">{}</text>'
            '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>',
            f"{_TOP + 4:.1f}",
            money(high),
            f"{_TOP + inner_h + 4:.1f}",
            money(low),
            _LEFT,
            HISTORY_HEIGHT - 2,
            f"{t0:%Y-%m-%d}",
            HISTORY_WIDTH - _RIGHT,
            HISTORY_HEIGHT - 2,
            f"{t1:%Y-%m-%d}",
        )
    )
    if ranks:
        parts.append(
            format_html(
                '<text class="rank" x="{}" y="{}">#{}</text><text class="rank" x="{}" y="{}">#{}'
                "</text>",
                HISTORY_WIDTH - _RIGHT + 4,
                f"{_TOP + 4:.1f}",
                f"{r_low:,}",
                HISTORY_WIDTH - _RIGHT + 4,
                f"{_TOP + inner_h + 4:.1f}",
                f"{r_high:,}",
            )
        )
    parts.append(mark_safe("</g></svg>"))
    return mark_safe("".join(parts))


def history_series(
    history: Mapping[str, Any], key: str, since: datetime | None = None
) -> list[tuple[datetime, int]]:
    """(time, value) points of one stored daily series, without the days it had no value;
    from `since` on when given."""
    values = history.get(key) or []
    if not values:
        return []
    end, step = history["end"], history.get("step", 1440)
    first = end - (len(values) - 1) * step
    start = 0
    if since is not None:
        # Only the days from `since` are turned into datetimes: a row's sparkline reads the
        # last 30 of a year's stored days.
        start = max(0, -(-(datetime_to_keepa_minute(since) - first) // step))
    points = [
        (keepa_minute_to_datetime(first + k * step), values[k])
        for k in range(start, len(values))
        if isinstance(values[k], int) and values[k] >= 0
    ]
    return points if since is None else [(at, v) for at, v in points if at >= since]


def history_sparkline(
    history: Mapping[str, Any], current: int | None, now: datetime, days: int
) -> SafeString | str:
    """The row's sparkline from Keepa's own daily prices over the last `days` days, ending at
    the latest Now; "" when the stored history has no price in that window."""
    since = now - timedelta(days=days)
    points = history_series(history, "price", since)
    if not points:
        return ""
    if current is not None:
        points.append((now, current))
    return sparkline(points)
