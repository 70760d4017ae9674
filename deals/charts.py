"""Price charts as inline SVG: the 30-day sparkline of a table row and the deal page's chart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from deals.formatting import money
from deals.models import DealEvent


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
