"""Figures kept in Django's cache, shared by the web processes (settings, CACHE_URL), and
worked out again when the deals change, but not on every change while changes keep coming.

Keyed by the latest DealEvent, an expensive figure (a filtered count, the token plan's
backlog) was worked out again on every page and poll while a sweep wrote, one write every few
seconds. Here the first change after a quiet spell is followed at once; while changes keep
coming, the figure is worked out again at most once every `every` seconds, so it lags the
writes by that much at most. The clock is the wall clock: the processes sharing the cache
may be on several hosts.

With `in_background`, while changes keep coming, a figure due to be worked out again is
served as it stands while a thread of this process works out the new one (one at a time for
a key, across the processes sharing the cache); the first change after a quiet spell is still
followed on the request. A search's count scans every row (170 ms at 50,000 deals on SQLite
beside a writer): worked out on the request, every search page viewed more than `every`
seconds after the last one was slow while a sweep wrote. The thread starts once the response
has been sent: it takes a core for 100 ms or more, and started at once it slowed the very
page that found the count due (up to 120 ms of a 220 ms page spent waiting for a core). A
figure older than STALE_AT_MOST seconds is never served: it is worked out on the request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import connections

log = logging.getLogger(__name__)

STALE_AT_MOST = 120
# The layout of a kept entry. The cache outlives a release (a folder, Redis): a new layout
# takes a new number, and entries of the old one are never read.
LAYOUT = 2
# How long one process's claim to work out a key lasts, should its thread die unseen.
CLAIM_SECONDS = 60

_working: set[str] = set()
_working_lock = threading.Lock()
# Threads to start when the request this thread serves has been answered (None: not serving
# a request, so a thread starts at once).
_after_response = threading.local()


def kept(
    key: str,
    version: Any,
    work: Callable[[], Any],
    *,
    every: float,
    max_age: int,
    in_background: bool = False,
    clock: bool = False,
) -> Any:
    """`work()`, kept under `key` for `max_age` seconds and while `version` stays the same;
    after a change, worked out again unless a change already had it worked out again in the
    last `every` seconds (`in_background`, while changes keep coming: by a thread, while the
    value as it stands is served). `clock`: the version is the time, not a change, so there
    is no first change after a quiet spell to follow at once."""
    now = time.time()
    found = cache.get(key, version=LAYOUT)
    if found is not None:
        seen, worked_at, after_change, value = found
        if seen == version or (after_change and now - worked_at < every):
            return value
        if (
            in_background
            and (after_change or clock)
            and settings.DEALS_KEPT_IN_BACKGROUND
            and now - worked_at < STALE_AT_MOST
            and _work_in_background(key, version, work, max_age)
        ):
            return value
    value = work()
    cache.set(key, (version, now, found is not None, value), max_age, version=LAYOUT)
    return value


def _work_in_background(key: str, version: Any, work: Callable[[], Any], max_age: int) -> bool:
    """Start a thread that works `key` out again, unless one is at it already (here or in
    another process sharing the cache). True: the figure will be worked out."""
    with _working_lock:
        if key in _working:
            return True
        if not cache.add(f"{key}:working", True, CLAIM_SECONDS):
            return True
        _working.add(key)

    def run() -> None:
        try:
            started = time.time()
            cache.set(key, (version, started, True, work()), max_age, version=LAYOUT)
        except Exception:
            log.exception("could not work out %s", key)
        finally:
            cache.delete(f"{key}:working")
            with _working_lock:
                _working.discard(key)
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=run, name=f"kept {key}", daemon=True)
    waiting = getattr(_after_response, "threads", None)
    if waiting is None:
        thread.start()
    else:
        waiting.append(thread)
    return True


def _request_started(**kwargs: Any) -> None:
    _request_finished()  # any left by a request whose end was never signalled
    _after_response.threads = []


def _request_finished(**kwargs: Any) -> None:
    """Start the threads the request queued, now that its response has been sent."""
    waiting = getattr(_after_response, "threads", None)
    _after_response.threads = None
    for thread in waiting or ():
        thread.start()


request_started.connect(_request_started, dispatch_uid="deals.kept.request_started")
request_finished.connect(_request_finished, dispatch_uid="deals.kept.request_finished")
