"""The dashboard's default order is read from an index, on whichever database runs the suite.

Sorting the whole table for every page is what turns page 500 of 50,000 deals from
milliseconds into a fraction of a second. The planner is told to avoid sorts and sequential
scans, so the plan shows whether an index can give the rows in order at all, whatever the
table's size.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q

from deals.dashboard import SHOWN_STATUSES, deals_for_dashboard
from deals.models import DealStatus

pytestmark = pytest.mark.django_db

DEFAULT_SORT = "-delta_percent"


def plan(filters: Q) -> str:
    ids = deals_for_dashboard(filters, DEFAULT_SORT).values_list("pk", flat=True)[500:550]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_seqscan = off")
        return ids.explain()
    return ids.explain()


@pytest.mark.parametrize(
    "filters",
    [Q(status__in=SHOWN_STATUSES), Q(status=DealStatus.LEFT)],
    ids=["default view", "status filter"],
)
def test_the_default_sort_walks_the_status_index_without_sorting(filters):
    text = plan(filters)

    assert "deal_status_delta_pct_idx" in text, text
    # SQLite says "USE TEMP B-TREE FOR ORDER BY", PostgreSQL "Sort" or "Incremental Sort".
    assert "TEMP B-TREE" not in text and "Sort" not in text, text
