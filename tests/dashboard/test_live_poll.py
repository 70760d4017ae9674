"""The live poll: what changed since the reader's cursor, as out-of-band swaps."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import Deal, DealEvent, SyncRun
from tests.dashboard.helpers import live, live_url, make_deal, many_deals, shown_asins

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def a_first_sync_has_finished(request, db):
    """Most tests here read the table as it lives after its first fill: new deals are marked."""
    if "first_fill" not in request.node.name:
        SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.OK, finished_at=timezone.now()
        )


def test_the_live_poll_answers_204_after_one_query_when_nothing_changed(
    client, django_assert_num_queries
):
    many_deals(3)
    DealEvent.objects.create(asin="B000000000", kind=DealEvent.Kind.ENTERED)
    url = live_url(client.get("/"))

    # Two queries are the login (session, user); the poll itself is one indexed MAX(id).
    with django_assert_num_queries(3):
        response = live(client, url)

    assert response.status_code == 204
    assert response.content == b""


def test_a_changed_row_comes_back_alone_as_an_out_of_band_swap(client):
    many_deals(3)
    url = live_url(client.get("/"))
    with transaction.atomic():
        Deal.objects.filter(asin="B000000001").update(now_price=777)
        DealEvent.objects.create(
            asin="B000000001",
            kind=DealEvent.Kind.CHANGED,
            field="now_price",
            old_value=1000,
            new_value=777,
        )

    response = live(client, url)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<template><tr id="deal-B000000001" class="flash" hx-swap-oob="true">' in html
    assert "$7.77" in html
    assert shown_asins(response) == ["B000000001"]  # only the changed row is sent
    assert 'id="deal-rows"' not in html
    # The next poll asks from the new cursor.
    cursor = DealEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert f"cursor={cursor}&" in unescape(live_url(response))
    assert live(client, live_url(response)).status_code == 204


def test_a_deal_that_left_disappears_and_the_count_drops(client):
    many_deals(3)
    url = live_url(client.get("/"))
    with transaction.atomic():  # as prune does it
        DealEvent.objects.create(asin="B000000001", kind=DealEvent.Kind.LEFT, old_value=1000)
        Deal.objects.filter(asin="B000000001").delete()

    response = live(client, url)

    html = response.content.decode()
    assert '<tbody id="deal-rows" hx-swap-oob="true">' in html
    assert shown_asins(response) == ["B000000000", "B000000002"]
    assert '<strong id="total-deals">2</strong>' in html


def test_a_new_deal_appears_where_the_sort_puts_it_marked_new(client):
    make_deal("B000000001", delta_percent=60)
    make_deal("B000000002", delta_percent=50)
    make_deal("B000000003", delta_percent=40)
    url = live_url(client.get("/"))

    with transaction.atomic():
        make_deal("B000000009", delta_percent=55, entered=True)
    response = live(client, url)

    html = response.content.decode()
    assert shown_asins(response) == ["B000000001", "B000000009", "B000000002", "B000000003"]
    row = re.search(r'<tr id="deal-B000000009".*?</tr>', html, re.S).group(0)
    assert 'class="is-new flash"' in row and ">new</span>" in row
    assert 'class=""' in re.search(r'<tr id="deal-B000000001"[^>]*>', html).group(0)
    assert '<strong id="total-deals">4</strong>' in html
    assert "shown=B000000001%2CB000000009%2CB000000002%2CB000000003" in live_url(response)


def test_a_new_deal_stays_marked_new_when_the_page_is_redrawn_later(client):
    make_deal("B000000001", delta_percent=60)
    make_deal("B000000002", delta_percent=50)
    first = live_url(client.get("/"))
    make_deal("B000000009", delta_percent=55, entered=True)
    second = live_url(live(client, first))

    with transaction.atomic():
        DealEvent.objects.create(asin="B000000002", kind=DealEvent.Kind.LEFT)
        Deal.objects.filter(asin="B000000002").delete()
    response = live(client, second)

    html = response.content.decode()
    assert shown_asins(response) == ["B000000001", "B000000009"]
    row = re.search(r'<tr id="deal-B000000009"[^>]*>', html).group(0)
    assert 'class="is-new"' in row  # still new since the page was opened, no second flash


def test_the_live_poll_keeps_the_filters_a_new_deal_outside_them_only_raises_the_count(client):
    make_deal("B000000001", delta_percent=60)
    make_deal("B000000002", delta_percent=50)
    url = live_url(client.get("/?delta_percent_min=45&sort=-delta_percent"))
    assert "delta_percent_min=45" in url

    make_deal("B000000009", delta_percent=30, entered=True)
    response = live(client, url)

    html = response.content.decode()
    assert response.status_code == 200
    assert shown_asins(response) == []  # the page is unchanged: no row is sent
    assert '<strong id="total-deals">3</strong>' in html
    assert "<strong>2</strong> matches" in html


def test_a_new_deal_on_another_page_only_raises_the_count(client):
    many_deals(60)
    url = live_url(client.get("/"))
    make_deal("C000000001", delta_percent=-5, entered=True)  # sorts last: page 2

    response = live(client, url)

    assert shown_asins(response) == []
    assert '<strong id="total-deals">61</strong>' in response.content.decode()


def test_an_anonymous_live_poll_reloads_the_page_instead_of_swapping_in_the_login_form():
    response = Client().get("/live?cursor=0", headers={"HX-Request": "true"})
    assert response.headers["HX-Refresh"] == "true"


def test_the_first_fill_comes_in_calmly_without_every_row_marked_new(client):
    url = live_url(client.get("/"))  # an empty table: no sync has finished yet
    with transaction.atomic():
        for i in range(3):
            make_deal(f"B00000000{i}", delta_percent=60 - i, entered=True)

    response = live(client, url)

    html = response.content.decode()
    assert shown_asins(response) == ["B000000000", "B000000001", "B000000002"]
    assert "is-new" not in html and "flash" not in html and ">new</span>" not in html
    # The status line comes along: the reader learns the first sync is under way or done.
    assert 'id="status-line"' in html and 'hx-swap-oob="true"' in html
    # Once the first sync is over, what the reader saw during the fill is not new either.
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.OK, finished_at=timezone.now()
    )
    with transaction.atomic():
        Deal.objects.filter(asin="B000000002").update(delta_percent=70)
        DealEvent.objects.create(
            asin="B000000002", kind=DealEvent.Kind.CHANGED, field="delta_percent", new_value=70
        )
    redrawn = live(client, live_url(response))
    row = re.search(r'<tr id="deal-B000000002"[^>]*>', redrawn.content.decode()).group(0)
    assert 'class="flash"' in row  # changed since: highlighted, but not called new


def change_price(asin: str, cents: int) -> None:
    with transaction.atomic():
        Deal.objects.filter(asin=asin).update(now_price=cents)
        DealEvent.objects.create(
            asin=asin, kind=DealEvent.Kind.CHANGED, field="now_price", new_value=cents
        )


def test_tabs_polling_after_the_same_write_share_one_read_of_the_page(client):
    many_deals(3)
    first_tab = live_url(client.get("/"))
    second_tab = live_url(client.get("/"))
    change_price("B000000001", 777)

    first = live(client, first_tab)
    assert "$7.77" in first.content.decode()
    # The second tab gets the same row without the page's ids and deals read again.
    with CaptureQueriesContext(connection) as queries:
        second = live(client, second_tab)
    assert "$7.77" in second.content.decode()
    assert shown_asins(second) == shown_asins(first) == ["B000000001"]
    read = [q["sql"] for q in queries.captured_queries if 'FROM "deals_deal"' in q["sql"]]
    assert not [sql for sql in read if '"deals_deal"."now_price"' in sql], read

    # A hide writes no DealEvent: the next poll after another write reads the page afresh.
    client.post("/triage/B000000002", {"action": "hide"})
    change_price("B000000000", 555)
    html = live(client, live_url(second)).content.decode()
    assert "$5.55" in html and 'id="deal-B000000002"' not in html


def _reads_of_hidden_marks(queries: CaptureQueriesContext) -> int:
    return sum(
        'FROM "deals_triage" WHERE ("deals_triage"."hidden"' in q["sql"]
        for q in queries.captured_queries
    )


def test_a_poll_reads_the_hidden_deals_once_and_the_next_request_reads_a_new_hide(client):
    many_deals(3)
    tab = live_url(client.get("/"))
    change_price("B000000001", 777)
    # Its page, its count and its cache key all leave out the same hidden deals, read once.
    with CaptureQueriesContext(connection) as queries:
        first = live(client, tab)
    assert _reads_of_hidden_marks(queries) == 1
    assert shown_asins(first) == ["B000000001"]

    # Read once per request, not once per process: a hide shows on the next poll and page.
    client.post("/triage/B000000002", {"action": "hide"})
    change_price("B000000000", 555)
    with CaptureQueriesContext(connection) as queries:
        html = live(client, live_url(first)).content.decode()
    assert _reads_of_hidden_marks(queries) == 1
    assert "$5.55" in html and 'id="deal-B000000002"' not in html
    assert "B000000002" not in shown_asins(client.get("/"))
