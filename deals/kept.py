"""Figures kept in Django's cache, shared by the web processes (settings, CACHE_URL), and
worked out again when the deals change, but not on every change while changes keep coming.

Keyed by the latest DealEvent, an expensive figure (a filtered count, the token plan's
backlog) was worked out again on every page and poll while a sweep wrote, one write every few
seconds. Here the first change after a quiet spell is followed at once; while changes keep
coming, the figure is worked out again at most once every `every` seconds, so it lags the
writes by that much at most. The clock is the wall clock: the processes sharing the cache
may be on several hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache


def kept(key: str, version: Any, work: Callable[[], Any], *, every: float, max_age: int) -> Any:
    """`work()`, kept under `key` for `max_age` seconds and while `version` stays the same;
    after a change, worked out again unless a change already had it worked out again in the
    last `every` seconds."""
    now = time.time()
    found = cache.get(key)
    if found is not None:
        seen, changed_at, value = found
        if seen == version or (changed_at is not None and now - changed_at < every):
            return value
    value = work()
    cache.set(key, (version, now if found is not None else None, value), max_age)
    return value
