from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from deals import ingest
from deals.columns import BY_NAME, COLUMNS, SORTABLE
from deals.forms import FILTER_LOOKUPS
from deals.models import Deal, DealEvent, JobLock, Seller, SyncRun

pytestmark = pytest.mark.django_db

FAKE_KEY = "fk" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


@pytest.fixture
def user(db):
    return User.objects.create_user("reseller", password="s3cret-pass")


@pytest.fixture
def client(user):
    client = Client()
    client.force_login(user)
    return client


def make_deal(asin: str, *, entered: bool = False, **fields) -> Deal:
    now = timezone.now()
    values = {
        "title": f"Book {asin}",
        "price_type": 2,
        "now_price": 1000,
        "avg_price": 3000,
        "delta_percent": 50,
        "sales_rank": 10_000,
        "root_category": 283155,
        "first_seen_utc": now,
        "last_seen_utc": now,
        "changed_at": now,
        "price_changed_at": now - timedelta(hours=1),
    }
    deal = Deal.objects.create(asin=asin, **(values | fields))
    if entered:
        DealEvent.objects.create(
            asin=asin, kind=DealEvent.Kind.ENTERED, field="now_price", new_value=deal.now_price
        )
    return deal


def many_deals(count: int) -> list[Deal]:
    """`count` deals with distinct % below average (highest first = the default order)."""
    return [make_deal(f"B{i:09d}", delta_percent=1000 - i) for i in range(count)]


def shown_asins(response) -> list[str]:
    return re.findall(r'<tr id="deal-([A-Z0-9]+)"', response.content.decode())


def live_url(response) -> str:
    match = re.search(r'id="live-poller"[^>]*hx-get="([^"]+)"', response.content.decode())
    assert match, "the page has no live poller"
    return unescape(match.group(1))


def live(client: Client, url: str):
    return client.get(url, headers={"HX-Request": "true"})


# -- sorting, filters, search, paging --------------------------------------------------------


def _sample_values(kind: str) -> list:
    now = timezone.now()
    if kind == "text":
        return ["Alpha", "Beta", "Gamma"]
    if kind == "datetime":
        return [now - timedelta(days=3), now - timedelta(days=2), now - timedelta(days=1)]
    if kind == "category":
        return [5174, 283155, 2625373011]
    return [100, 200, 300]


@pytest.mark.parametrize("name", sorted(SORTABLE))
def test_every_sortable_column_sorts_both_ways_with_empty_values_last(client, name):
    low, mid, high = _sample_values(BY_NAME[name].kind)
    # ASINs in another order than the values, so the tie-break cannot fake the result.
    asins = {"low": "B0000000C3", "mid": "B0000000A1", "high": "B0000000B2", "none": "B0000000A0"}
    if name == "asin":
        asins = {"low": "A000000001", "mid": "B000000002", "high": "C000000003"}
        for asin in asins.values():
            make_deal(asin)
    else:
        for key, value in (("low", low), ("mid", mid), ("high", high)):
            make_deal(asins[key], **{name: value})
        if Deal._meta.get_field(name).null:
            make_deal(asins["none"], **{name: None})
        else:
            asins.pop("none")
    rest = [asins["none"]] if "none" in asins else []

    ascending = shown_asins(client.get(f"/?sort={name}"))
    descending = shown_asins(client.get(f"/?sort=-{name}"))

    assert ascending == [asins["low"], asins["mid"], asins["high"], *rest]
    assert descending == [asins["high"], asins["mid"], asins["low"], *rest]


def test_the_default_order_is_most_below_average_first_with_ties_broken_by_asin(client):
    make_deal("B00000000C", delta_percent=60)
    make_deal("B00000000B", delta_percent=70)
    make_deal("B00000000A", delta_percent=60)

    assert shown_asins(client.get("/")) == ["B00000000B", "B00000000A", "B00000000C"]


def test_a_column_heading_links_to_its_sort_and_keeps_the_filters(client):
    make_deal("B000000001")
    html = client.get("/?delta_percent_min=40").content.decode()
    assert 'href="?delta_percent_min=40&amp;sort=sales_rank"' in html
    # The current sort column links to the reverse direction.
    assert 'href="?delta_percent_min=40&amp;sort=delta_percent"' in html


def _filter_values(param: str) -> tuple[list, str, set[int]]:
    """Stored values for three deals, the query value, and which of them should match."""
    column, lookup = FILTER_LOOKUPS[param]
    stored = _sample_values(column.kind)
    if column.kind == "money":
        query = "2.00"  # dollars in the form, cents in the database
    elif column.kind == "datetime":
        query = stored[1].isoformat()
    else:
        query = str(stored[1])
    matches = {1, 2} if lookup.endswith("__gte") else {0, 1} if lookup.endswith("__lte") else {1}
    return stored, query, matches


@pytest.mark.parametrize("param", sorted(FILTER_LOOKUPS))
def test_every_declared_filter_narrows_the_table(client, param):
    column, _lookup = FILTER_LOOKUPS[param]
    stored, query, matches = _filter_values(param)
    asins = [f"B00000000{i}" for i in range(3)]
    for asin, value in zip(asins, stored, strict=True):
        make_deal(asin, **{column.name: value})

    response = client.get("/", {param: query})

    assert response.status_code == 200
    assert "could not be used" not in response.content.decode()
    assert set(shown_asins(response)) == {asins[i] for i in matches}


def test_the_price_range_is_in_dollars_and_the_filters_combine(client):
    make_deal("B000000001", now_price=1049, delta_percent=80)
    make_deal("B000000002", now_price=1050, delta_percent=80)
    make_deal("B000000003", now_price=2000, delta_percent=80)
    make_deal("B000000004", now_price=2001, delta_percent=80)
    make_deal("B000000005", now_price=1500, delta_percent=40)
    make_deal("B000000006", now_price=1500, delta_percent=80, sales_rank=900_000)

    response = client.get(
        "/",
        {
            "now_price_min": "10.50",
            "now_price_max": "20",
            "delta_percent_min": "50",
            "sales_rank_max": "500000",
        },
    )

    assert set(shown_asins(response)) == {"B000000002", "B000000003"}
    assert "<strong>2</strong> matches" in response.content.decode()


def test_the_category_filter_offers_the_categories_present(client):
    make_deal("B000000001", root_category=283155)
    make_deal("B000000002", root_category=468642)

    html = client.get("/").content.decode()
    assert '<option value="468642">Video Games</option>' in html
    assert '<option value="283155">Books</option>' in html
    assert "Toys &amp; Games" not in html  # no such deal, no such choice

    assert shown_asins(client.get("/?root_category=468642")) == ["B000000002"]


def test_search_finds_deals_by_title_words_or_by_asin(client):
    make_deal("0312850123", title="The Left Hand of Darkness")
    make_deal("0441013597", title="Dune")
    make_deal("B000000003", title="Darkness Visible")

    assert set(shown_asins(client.get("/?q=darkness"))) == {"0312850123", "B000000003"}
    assert shown_asins(client.get("/?q=0441013597")) == ["0441013597"]
    assert shown_asins(client.get("/?q=nothing+like+this")) == []


def test_invalid_filter_input_shows_the_error_and_the_unfiltered_table(client):
    make_deal("B000000001", delta_percent=10)
    make_deal("B000000002", delta_percent=90)

    response = client.get("/?delta_percent_min=lots&now_price_max=-5&sort=price_changed_at")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters could not be used, so all deals are shown" in html
    assert "Enter a whole number." in html
    assert set(shown_asins(response)) == {"B000000001", "B000000002"}


def test_an_unknown_sort_is_an_error_not_a_crash(client):
    make_deal("B000000001")
    response = client.get("/?sort=-password")
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert shown_asins(response) == ["B000000001"]


def test_the_table_pages_by_fifty(client):
    deals = many_deals(120)
    asins = [d.asin for d in deals]

    assert shown_asins(client.get("/")) == asins[:50]
    second = client.get("/?page=2")
    assert shown_asins(second) == asins[50:100]
    assert "page 2 of 3" in second.content.decode()
    assert shown_asins(client.get("/?page=3")) == asins[100:]
    assert shown_asins(client.get("/?page=99")) == asins[100:]  # past the end: the last page
    assert shown_asins(client.get("/?page=abc")) == asins[:50]


def test_page_links_keep_the_sort_and_filters(client):
    many_deals(60)
    html = client.get("/?sort=sales_rank&delta_percent_min=1").content.decode()
    assert 'href="?delta_percent_min=1&amp;sort=sales_rank&amp;page=2"' in html


def test_the_page_does_not_query_per_row(client):
    many_deals(5)
    with CaptureQueriesContext(connection) as few:
        assert len(shown_asins(client.get("/"))) == 5
    many_deals_extra = [make_deal(f"C{i:09d}", entered=True) for i in range(45)]
    assert many_deals_extra
    with CaptureQueriesContext(connection) as full:
        assert len(shown_asins(client.get("/"))) == 50
    assert len(full) == len(few), [q["sql"] for q in full]


# -- what a row shows ------------------------------------------------------------------------


def test_a_row_shows_each_column_formatted_and_the_cheapest_offer_under_now(client):
    make_deal(
        "B000000001",
        title="Gödel, Escher, Bach",
        image_url="https://m.media-amazon.com/images/I/41abc.jpg",
        now_price=2149,
        avg_price=5399,
        delta_percent=57,
        sales_rank=1_234_567,
        now_total=2149,
        now_seller_name="BookBarn",
        now_condition=3,
        now_is_fba=True,
        enriched_at=timezone.now(),
        price_changed_at=timezone.now() - timedelta(minutes=12),
    )

    html = client.get("/").content.decode()

    assert 'href="https://www.amazon.com/dp/B000000001" target="_blank"' in html
    assert '<a href="/deal/B000000001">B000000001</a>' in html
    assert 'src="https://m.media-amazon.com/images/I/41abc.jpg"' in html
    assert "$21.49 · BookBarn · Very Good · FBA" in html
    assert "$53.99" in html and "57 %" in html and "1,234,567" in html and "Books" in html
    assert re.search(
        r'<time class="rel" datetime="[^"]+" title="[^"]+ UTC">12 min ago</time>', html
    )
    assert "updating…" not in html


def test_a_row_whose_new_price_waits_for_its_seller_says_updating(client):
    make_deal("B000000001", enrich_priority=2, now_total=1500, now_seller_name="Old Seller")
    assert "updating…" in client.get("/").content.decode()


def test_a_row_with_price_history_has_a_sparkline_drawn_from_its_events(client):
    make_deal("B000000001", now_price=900)
    make_deal("B000000002")
    DealEvent.objects.create(
        asin="B000000001",
        kind=DealEvent.Kind.ENTERED,
        field="now_price",
        new_value=1500,
        at=timezone.now() - timedelta(days=3),
    )
    DealEvent.objects.create(
        asin="B000000001",
        kind=DealEvent.Kind.CHANGED,
        field="now_price",
        old_value=1500,
        new_value=900,
        at=timezone.now() - timedelta(days=1),
    )

    html = client.get("/").content.decode()
    row = re.search(r'<tr id="deal-B000000001".*?</tr>', html, re.S).group(0)
    other = re.search(r'<tr id="deal-B000000002".*?</tr>', html, re.S).group(0)

    assert '<svg class="spark down"' in row
    assert "Now price $15.00 → $9.00" in row
    assert "<svg" not in other


# -- the live poll ---------------------------------------------------------------------------


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


# -- counts, API and CSV ---------------------------------------------------------------------


def test_the_total_deal_count_endpoint(client):
    many_deals(7)
    response = client.get("/api/total_deals")
    assert response.status_code == 200
    assert response.json() == {"total_deals": 7}


def test_the_api_returns_raw_values_with_the_same_filters_sort_and_paging(client):
    many_deals(60)
    make_deal("C000000001", delta_percent=10, now_price=1234)

    response = client.get("/api/deals", {"page": 2, "delta_percent_min": 0})

    data = response.json()
    assert (data["count"], data["page"], data["pages"]) == (61, 2, 2)
    assert len(data["results"]) == 11
    last = data["results"][-1]
    assert set(last) == {c.name for c in COLUMNS}
    assert last["asin"] == "C000000001" and last["now_price"] == 1234
    assert last["price_changed_at"].endswith("Z")  # ISO 8601, UTC


def test_the_api_rejects_invalid_filters_with_400(client):
    response = client.get("/api/deals?sales_rank_max=many")
    assert response.status_code == 400
    assert "sales_rank_max" in response.json()["errors"]


def test_the_csv_streams_every_filtered_row_under_a_header_of_column_labels(client):
    deals = many_deals(130)
    make_deal("C000000001", delta_percent=-1)  # filtered out

    response = client.get("/deals.csv?delta_percent_min=0&sort=-delta_percent")

    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [c.label for c in COLUMNS]
    assert [r[1] for r in rows[1:]] == [d.asin for d in deals]
    now = rows[1][[c.name for c in COLUMNS].index("now_price")]
    assert now == "10.00"


# -- Refresh Deals ---------------------------------------------------------------------------


def test_refresh_starts_one_manual_run_and_shows_its_outcome(client, monkeypatch):
    calls = []

    def fake_run(*, trigger: str = "schedule", **kwargs) -> SyncRun:
        calls.append(trigger)
        return SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            trigger=trigger,
            status=SyncRun.Status.OK,
            updated=12,
            inserted=3,
            price_drops=1,
            enriched=5,
            tokens_spent=40,
        )

    monkeypatch.setattr(ingest, "run", fake_run)

    response = client.post("/refresh", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert calls == ["manual"]  # tests run tasks in-process (sync): it has already run
    assert 'class="spinner"' in html and 'hx-trigger="every 1s"' in html
    status_url = unescape(re.search(r'hx-get="([^"]+)"', html).group(1))
    done = client.get(status_url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert "ok: 12 updated, 3 new, 1 price drop, 5 enriched, 40 tokens" in done.content.decode()
    assert 'id="status-line"' in done.content.decode()  # the status line is brought up to date


def test_refresh_while_a_sync_runs_starts_nothing(client):
    assert JobLock.acquire(ingest.LOCK_NAME, "elsewhere:1:x", timedelta(minutes=5))
    tasks = Task.objects.count()

    response = client.post("/refresh", headers={"HX-Request": "true"})

    assert "A sync is already running" in response.content.decode()
    assert "every 1s" not in response.content.decode()
    assert Task.objects.count() == tasks and not SyncRun.objects.exists()


def test_refresh_while_a_sync_is_queued_starts_nothing(client):
    payload = SignedPackage.dumps(
        {
            "id": uuid.uuid4().hex,
            "name": "scheduled",
            "func": "deals.tasks.update_recent_deals",
            "args": (),
            "kwargs": {},
        }
    )
    OrmQ.objects.create(key="deals", payload=payload, lock=timezone.now())

    response = client.post("/refresh", headers={"HX-Request": "true"})

    assert "A sync is already queued" in response.content.decode()
    assert OrmQ.objects.count() == 1 and not Task.objects.exists()
    assert not SyncRun.objects.exists()


def test_refresh_needs_a_csrf_token(user):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    JobLock.acquire(ingest.LOCK_NAME, "elsewhere:1:x", timedelta(minutes=5))

    assert csrf_client.post("/refresh").status_code == 403

    csrf_client.get("/")  # sets the CSRF cookie, as the page does for htmx's header
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post("/refresh", headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_refresh_is_post_only(client):
    assert client.get("/refresh").status_code == 405


def test_a_refresh_whose_task_has_not_finished_keeps_polling_then_gives_up(client):
    task_id = uuid.uuid4().hex

    pending = client.get(f"/refresh/{task_id}?since={int(timezone.now().timestamp())}")
    assert pending.status_code == 200 and 'hx-trigger="every 1s"' in pending.content.decode()

    stale = client.get(f"/refresh/{task_id}?since=1")
    assert stale.status_code == 286
    assert "is the background worker (qcluster) running?" in stale.content.decode()


# -- the status line -------------------------------------------------------------------------


def test_the_status_line_shows_last_sync_next_run_and_tokens(client):
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=7, seconds=30),
        finished_at=now - timedelta(minutes=7),
        tokens_left=1234,
        refill_rate=20,
    )
    Schedule.objects.update_or_create(
        name="update_recent_deals",
        defaults={
            "func": "deals.tasks.update_recent_deals",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "next_run": now + timedelta(minutes=3, seconds=10),
        },
    )

    html = client.get("/status").content.decode()

    assert "Last successful sync:" in html and "7 min ago" in html
    assert "Next run:" in html and "in 3 min" in html
    assert "1,234 left · +20/min" in html
    assert "failing" not in html


def test_the_status_line_warns_when_syncs_have_been_failing_with_the_key_redacted(client, settings):
    settings.KEEPA_API_KEY = FAKE_KEY
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.OK, started_at=now - timedelta(hours=1)
    )
    for minutes, error in (
        (30, "KeepaTimeout: read timed out"),
        (20, f"InvalidKey: Keepa refused key {FAKE_KEY}"),
    ):
        SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            status=SyncRun.Status.FAILED,
            started_at=now - timedelta(minutes=minutes),
            error=error,
        )

    for html in (client.get("/status").content.decode(), client.get("/").content.decode()):
        assert "Syncs are failing:" in html
        assert "the last 2 syncs since the last good one failed" in html
        assert "InvalidKey: Keepa refused key ***" in html
        assert FAKE_KEY not in html


# -- the deal page ---------------------------------------------------------------------------


def test_the_deal_page_shows_every_column_offers_history_and_links(client):
    deal = make_deal(
        "0312850123",
        title="The Left Hand of Darkness",
        now_price=900,
        product_snapshot={
            "offers": [
                {
                    "sellerId": "A2SELLER",
                    "condition": 2,
                    "isFBA": False,
                    "price": 1250,
                    "shipping": 399,
                },
                {"sellerId": "A1BOOKS", "condition": 3, "isFBA": True, "price": 900, "shipping": 0},
            ]
        },
    )
    Seller.objects.create(seller_id="A1BOOKS", name="BookBarn")
    DealEvent.objects.create(
        asin=deal.asin, kind=DealEvent.Kind.ENTERED, field="now_price", new_value=1500
    )
    DealEvent.objects.create(
        asin=deal.asin,
        kind=DealEvent.Kind.CHANGED,
        field="now_price",
        old_value=1500,
        new_value=900,
    )

    DealEvent.objects.create(
        asin=deal.asin,
        kind=DealEvent.Kind.CHANGED,
        field="now_condition",
        old_value=2,
        new_value=3,
    )

    response = client.get("/deal/0312850123")

    html = response.content.decode()
    assert response.status_code == 200
    for column in COLUMNS:
        assert column.label in html
    assert "First seen utc" in html  # model fields without a column are listed too
    assert 'href="https://www.amazon.com/dp/0312850123"' in html
    assert 'href="https://keepa.com/#!product/1-0312850123"' in html
    assert '<svg class="chart' in html
    assert "BookBarn" in html and "A2SELLER" in html and "$16.49" in html  # 12.50 + 3.99
    assert html.index("BookBarn") < html.index("A2SELLER")  # cheapest offer first
    assert "entered</strong> the deals at $15.00" in html
    assert "Now: $15.00 → <strong>$9.00</strong>" in html
    assert "Now condition: Like New → <strong>Very Good</strong>" in html


def test_the_deal_page_is_404_for_an_unknown_asin(client):
    assert client.get("/deal/NOSUCHASIN").status_code == 404


# -- login -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/"),
        ("get", "/live?cursor=0"),
        ("get", "/status"),
        ("post", "/refresh"),
        ("get", f"/refresh/{'0' * 32}"),
        ("get", "/deal/B000000001"),
        ("get", "/deals.csv"),
    ],
)
def test_pages_send_anonymous_readers_to_the_login_form(method, url):
    make_deal("B000000001")
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", ["/api/deals", "/api/total_deals"])
def test_the_api_answers_401_to_anonymous_clients(url):
    response = Client().get(url)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}


def test_a_filtered_count_follows_the_next_entry(client):
    for i in range(3):
        make_deal(f"C{i:09d}", delta_percent=70, entered=True)
    assert client.get("/api/deals?delta_percent_min=60").json()["count"] == 3
    make_deal("C000000009", delta_percent=80, entered=True)
    assert client.get("/api/deals?delta_percent_min=60").json()["count"] == 4
