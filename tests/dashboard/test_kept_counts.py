"""A filtered count while a sweep keeps writing: served as it stands while a thread of the web
process counts again, then the new count (deals/kept.py, `in_background`)."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from deals.dashboard import COUNT_CHANGES_EVERY_SECONDS
from tests.dashboard.helpers import make_deal

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def shows_within_seconds(read, expected: int) -> bool:
    """Whether `read()` gives `expected` within 10 s (a thread works it out meanwhile; sleep
    is not frozen)."""
    for _ in range(200):
        if read() == expected:
            return True
        time.sleep(0.05)
    return False


def matches(client: Client) -> int:
    html = client.get("/", {"q": "calculus"}).content.decode()
    return int(re.search(r"<strong>(\d+)</strong> match", html).group(1))


@pytest.mark.django_db(transaction=True)  # the counting thread reads what the test committed
def test_a_search_count_follows_a_sweep_without_a_page_waiting_for_it(client, settings):
    settings.DEALS_KEPT_IN_BACKGROUND = True
    with freeze_time(NOW) as clock:
        for n in range(3):
            make_deal(f"B00000000{n}", title=f"Calculus, edition {n}", entered=True)
        assert matches(client) == 3
        # The first change after a quiet spell: counted on the request.
        make_deal("B000000003", title="Calculus, edition 3", entered=True)
        assert matches(client) == 4
        # Changes keep coming: within the window the count lags, as it always has.
        make_deal("B000000004", title="Calculus, edition 4", entered=True)
        assert matches(client) == 4
        # Past it, the page gets the count as it stands and a thread counts again.
        clock.tick(COUNT_CHANGES_EVERY_SECONDS + 1)
        make_deal("B000000005", title="Calculus, edition 5", entered=True)
        assert matches(client) == 4
        assert shows_within_seconds(lambda: matches(client), 6)


def test_a_count_due_during_a_request_starts_once_the_response_has_gone(settings):
    """A count takes a core for some 100 ms at 50,000 deals: started while the page that
    found it due was still being drawn, it slowed that page. The page gets the figure as it
    stands, and the count starts when the response has been sent."""
    from django.core.signals import request_finished, request_started

    from deals.kept import kept

    settings.DEALS_KEPT_IN_BACKGROUND = True
    counted = threading.Event()

    def count() -> int:
        counted.set()
        return 7

    with freeze_time(NOW) as clock:
        assert kept("test:count", 1, lambda: 5, every=10, max_age=600) == 5
        clock.tick(1)
        assert kept("test:count", 2, lambda: 6, every=10, max_age=600) == 6  # after a quiet spell
        clock.tick(11)
        request_started.send(sender=None)
        assert kept("test:count", 3, count, every=10, max_age=600, in_background=True) == 6
        assert not counted.wait(0.3), "counted while the response was still being drawn"
        request_finished.send(sender=None)
        assert counted.wait(10)
        assert shows_within_seconds(
            lambda: kept("test:count", 3, lambda: -1, every=10, max_age=600), 7
        )


def waiting_for_a_check(client: Client) -> int:
    line = client.get("/status").content.decode()
    found = re.search(r"Sellers: (\d+) deals? waits? for a check", line)
    return int(found.group(1)) if found else 0


@pytest.mark.django_db(transaction=True)  # the thread reads what the test committed
def test_the_token_plan_follows_the_deals_between_runs_without_a_page_waiting(client, settings):
    from deals.models import SyncRun
    from deals.token_plan import CACHE_SECONDS

    def run_ends() -> None:
        SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            status=SyncRun.Status.OK,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            refill_rate=20,
        )

    settings.DEALS_KEPT_IN_BACKGROUND = True
    with freeze_time(NOW) as clock:
        run_ends()
        make_deal("B000000001")  # never looked up: waits for a check
        assert waiting_for_a_check(client) == 1
        # A deal entered meanwhile, with no run starting or ending: the figures as they
        # stand until the minute is out.
        make_deal("B000000002")
        assert waiting_for_a_check(client) == 1
        # Then the page is not kept waiting: it shows them as they stand while a thread
        # works them out again after the response.
        clock.tick(CACHE_SECONDS + 1)
        assert waiting_for_a_check(client) == 1
        assert shows_within_seconds(lambda: waiting_for_a_check(client), 2)
        # A run ending shows at once.
        make_deal("B000000003")
        run_ends()
        assert waiting_for_a_check(client) == 3
