"""A filtered count while a sweep keeps writing: served as it stands while a thread of the web
process counts again, then the new count (deals/kept.py, `in_background`)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from django.test import Client
from freezegun import freeze_time

from deals.dashboard import COUNT_CHANGES_EVERY_SECONDS
from tests.dashboard.helpers import make_deal

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


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
        for _ in range(200):  # up to 10 s of waiting (sleep is not frozen)
            if (shown := matches(client)) == 6:
                break
            time.sleep(0.05)
        assert shown == 6
