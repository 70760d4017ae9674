"""Triage per deal: hide (for good, until the buy price drops below a sum, for some days), the
note and the buy list; on the rows, the deal page, the buy list page, the API and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from freezegun import freeze_time

from deals import triage
from deals.models import Deal, EnrichPriority, SellerLine, Triage
from tests.dashboard.helpers import make_deal, shown_asins

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
DASHBOARD = "http://testserver/"


@pytest.fixture(params=["listed first", "by subquery"])
def either_way(request, monkeypatch):
    """The deals hidden now decided from the marks first, and (past MAX_LISTED_HIDDEN marks)
    by a subquery the database decides: the same deals either way."""
    if request.param == "by subquery":
        monkeypatch.setattr(triage, "MAX_LISTED_HIDDEN", 0)


def click(client: Client, asin: str, action: str, page: str = DASHBOARD, **data):
    """A one-click triage button on a row of `page`, as htmx sends it."""
    return client.post(
        f"/triage/{asin}",
        {"action": action, **data},
        headers={"HX-Request": "true", "HX-Current-URL": page},
    )


def total(client: Client, **params) -> int:
    return client.get("/api/deals", params).json()["count"]


def api_row(client: Client, asin: str, **params) -> dict:
    results = client.get("/api/deals", {"q": asin, "triage": "all", **params}).json()["results"]
    assert len(results) == 1
    return results[0]


@pytest.mark.usefixtures("either_way")
def test_hiding_a_row_takes_it_off_the_dashboard_and_out_of_the_count(client):
    make_deal("0312850123")
    make_deal("0312850124")
    assert client.get("/api/total_deals").json() == {"total_deals": 2}

    response = click(client, "0312850123", "hide")

    html = response.content.decode()
    assert response.status_code == 200
    # The row gives way to one line with an Undo; the counts follow out of band.
    assert 'id="deal-0312850123" class="triage-gone"' in html
    assert 'value="unhide"' in html and "Undo" in html
    assert 'id="deal-counts" class="counts" hx-swap-oob="true"' in html
    assert '<strong id="total-deals">1</strong>' in html
    assert shown_asins(client.get("/")) == ["0312850124"]
    assert client.get("/api/total_deals").json() == {"total_deals": 1}
    # Asked for, hidden deals are there.
    assert shown_asins(client.get("/", {"triage": "hidden"})) == ["0312850123"]
    assert sorted(shown_asins(client.get("/", {"triage": "all"}))) == ["0312850123", "0312850124"]

    # Unhide from the "hidden" view: the deal is back in the deals.
    response = click(client, "0312850123", "unhide", page=f"{DASHBOARD}?triage=hidden")
    assert "shown again in the deals" in response.content.decode()
    assert sorted(shown_asins(client.get("/"))) == ["0312850123", "0312850124"]


def test_a_row_shown_where_hidden_deals_are_listed_comes_back_marked_hidden(client):
    make_deal("0312850123")

    response = click(client, "0312850123", "hide", page=f"{DASHBOARD}?triage=all")

    html = response.content.decode()
    assert html.startswith('<tr id="deal-0312850123"') and "is-hidden" in html
    assert 'value="unhide"' in html and "hidden" in html


def test_watching_puts_the_deal_on_the_buy_list_page(client):
    make_deal("0312850123", title="Calculus, 8th edition")
    make_deal("0312850124")

    response = click(client, "0312850123", "watch")

    html = response.content.decode()
    assert html.startswith('<tr id="deal-0312850123"') and "is-watched" in html
    assert 'value="unwatch"' in html and "★ buy list" in html
    page = client.get("/buy-list")
    assert page.status_code == 200
    assert shown_asins(page) == ["0312850123"]
    assert '<strong id="total-deals">1</strong> deal on your buy list' in page.content.decode()
    assert "Calculus, 8th edition" in page.content.decode()
    # The buy list's live poll asks for the buy list only.
    assert "triage=watched" in page.content.decode()
    assert shown_asins(client.get("/", {"triage": "watched"})) == ["0312850123"]

    # Taken off from the buy list page: the row gives way there, with an Undo.
    response = click(client, "0312850123", "unwatch", page="http://testserver/buy-list")
    assert "taken off the buy list" in response.content.decode()
    assert '<strong id="total-deals">0</strong> deals on your buy list' in response.content.decode()
    assert shown_asins(client.get("/buy-list")) == []


def test_a_hidden_deal_on_the_buy_list_stays_on_the_buy_list(client):
    make_deal("0312850123")
    click(client, "0312850123", "watch")
    click(client, "0312850123", "hide")
    assert shown_asins(client.get("/")) == []
    assert shown_asins(client.get("/buy-list")) == ["0312850123"]


@pytest.mark.usefixtures("either_way")
def test_hidden_until_the_buy_price_drops_below_a_sum_shows_again_when_it_does(client):
    # Not checked yet: the buy price is the higher of Now and the landed estimate.
    make_deal("0312850123", now_price=1500, est_landed=1600)
    response = client.post("/triage/0312850123", {"action": "hide", "below": "$12.00"})
    assert response.status_code == 302 and response.url == "/deal/0312850123"
    assert Triage.objects.get(asin="0312850123").hidden_below_cents == 1200
    assert shown_asins(client.get("/")) == []
    row = api_row(client, "0312850123")
    assert (row["hidden"], row["hidden_until_below"]) == (True, 1200)

    # Now drops below $12, but the estimate with shipping does not: still hidden.
    Deal.objects.filter(asin="0312850123").update(now_price=1100)
    assert shown_asins(client.get("/")) == []
    assert api_row(client, "0312850123")["hidden"] is True

    assert client.get("/api/total_deals").json() == {"total_deals": 0}

    # The buy price drops below $12: the deal shows again, marked so on its row, and counts.
    Deal.objects.filter(asin="0312850123").update(est_landed=1150)
    assert client.get("/api/total_deals").json() == {"total_deals": 1}
    html = client.get("/").content.decode()
    assert shown_asins(client.get("/")) == ["0312850123"]
    assert "shown again until below $12.00" in html
    assert api_row(client, "0312850123")["hidden"] is False
    assert total(client, triage="hidden") == 0


@pytest.mark.usefixtures("either_way")
def test_a_checked_offer_under_the_sum_shows_the_deal_whatever_the_old_estimate(client):
    # A seller look-up checked the copy: the buy price is the offer, the estimate no longer counts.
    make_deal(
        "0312850123",
        now_price=850,
        now_total=950,
        est_landed=2000,
        enriched_at=NOW,
        enrich_priority=EnrichPriority.NONE,
        seller_line=SellerLine.CHECKED,
    )
    client.post("/triage/0312850123", {"action": "hide", "below": "9.50"})
    assert shown_asins(client.get("/")) == []  # $9.50 is not below $9.50
    Deal.objects.filter(asin="0312850123").update(now_total=949)
    assert shown_asins(client.get("/")) == ["0312850123"]
    assert api_row(client, "0312850123")["hidden"] is False
    # A price change waiting for its look-up: the estimate counts again, and it hides again.
    Deal.objects.filter(asin="0312850123").update(enrich_priority=EnrichPriority.PRICE_CHANGED)
    assert shown_asins(client.get("/")) == []
    assert api_row(client, "0312850123")["hidden"] is True


@pytest.mark.usefixtures("either_way")
def test_a_hidden_deal_with_no_known_price_stays_hidden(client):
    make_deal("0312850123", now_price=None)
    client.post("/triage/0312850123", {"action": "hide", "below": "12"})
    assert shown_asins(client.get("/")) == []
    assert api_row(client, "0312850123")["hidden"] is True


@pytest.mark.usefixtures("either_way")
def test_hidden_for_some_days_shows_again_when_they_have_passed(client):
    make_deal("0312850123")
    with freeze_time(NOW):
        client.post("/triage/0312850123", {"action": "hide", "days": "3"})
        assert shown_asins(client.get("/")) == []
        assert api_row(client, "0312850123")["hidden_until"] == "2026-01-08T12:00:00Z"
    with freeze_time(NOW + timedelta(days=3) - timedelta(minutes=1)):
        assert shown_asins(client.get("/")) == []
        assert client.get("/api/total_deals").json() == {"total_deals": 0}
    # The total is kept between changes, and no deal changed: the days running out count.
    with freeze_time(NOW + timedelta(days=3, minutes=1)):
        assert client.get("/api/total_deals").json() == {"total_deals": 1}
        assert shown_asins(client.get("/")) == ["0312850123"]
        assert api_row(client, "0312850123")["hidden"] is False


def test_triage_survives_the_deal_being_pruned_and_coming_back(client):
    make_deal("0312850123")
    click(client, "0312850123", "hide", page=f"{DASHBOARD}?triage=all")
    click(client, "0312850123", "watch", page=f"{DASHBOARD}?triage=all")
    client.post("/triage/0312850123", {"action": "note", "note": "Check the edition"})

    Deal.objects.filter(asin="0312850123").delete()  # what prune does
    assert Triage.objects.filter(asin="0312850123").exists()
    make_deal("0312850123")  # the deal returns in a later sweep

    assert shown_asins(client.get("/")) == []
    assert shown_asins(client.get("/buy-list")) == ["0312850123"]
    assert "Check the edition" in client.get("/deal/0312850123").content.decode()
    row = api_row(client, "0312850123")
    assert (row["hidden"], row["watched"], row["note"]) == (True, True, "Check the edition")


def test_the_note_is_written_on_the_deal_page_and_shown_on_the_row(client):
    make_deal("0312850123")
    page = client.get("/deal/0312850123").content.decode()
    assert 'name="note"' in page and 'value="watch"' in page and 'name="below"' in page

    response = client.post(
        "/triage/0312850123",
        {"action": "note", "note": "  Signed copy <b>?</b>  ", "next": "/deal/0312850123"},
    )

    assert response.status_code == 302 and response.url == "/deal/0312850123"
    assert Triage.objects.get(asin="0312850123").note == "Signed copy <b>?</b>"
    page = client.get("/deal/0312850123").content.decode()
    assert "Signed copy &lt;b&gt;?&lt;/b&gt;</textarea>" in page
    assert "✎ Signed copy &lt;b&gt;?&lt;/b&gt;" in client.get("/").content.decode()
    assert shown_asins(client.get("/", {"triage": "noted"})) == ["0312850123"]


def test_the_deal_page_puts_the_deal_on_the_buy_list_and_back_off(client):
    make_deal("0312850123")
    client.post("/triage/0312850123", {"action": "watch"})
    assert "★ On your buy list" in client.get("/deal/0312850123").content.decode()
    client.post("/triage/0312850123", {"action": "unwatch"})
    assert "☆ Put on my buy list" in client.get("/deal/0312850123").content.decode()
    assert shown_asins(client.get("/buy-list")) == []


def test_a_plain_form_goes_back_only_to_this_site(client):
    make_deal("0312850123")
    response = client.post(
        "/triage/0312850123", {"action": "watch", "next": "https://evil.example/"}
    )
    assert response.url == "/deal/0312850123"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "explode"}, "action must be one of"),
        ({"action": "hide", "below": "cheap"}, "an amount in dollars"),
        ({"action": "hide", "below": "-3"}, "above $0"),
        ({"action": "hide", "days": "0"}, "from 1 to 3650"),
        ({"action": "hide", "days": "2.5"}, "from 1 to 3650"),
        ({"action": "note", "note": "x" * 5001}, "at most 5,000"),
    ],
)
def test_a_bad_triage_request_is_refused_and_changes_nothing(client, data, message):
    make_deal("0312850123")
    response = client.post("/triage/0312850123", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Triage.objects.exists()


def test_triage_needs_a_login_a_post_a_csrf_token_and_a_deal(client, user):
    make_deal("0312850123")
    assert Client().post("/triage/0312850123", {"action": "hide"}).status_code == 302
    anonymous = Client().post(
        "/triage/0312850123", {"action": "hide"}, headers={"HX-Request": "true"}
    )
    assert anonymous.headers["HX-Refresh"] == "true"
    assert client.get("/triage/0312850123").status_code == 405
    assert client.post("/triage/0000000000", {"action": "hide"}).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/triage/0312850123", {"action": "hide"}).status_code == 403
    assert not Triage.objects.exists()


def test_the_api_carries_triage_and_filters_by_it(client):
    make_deal("0312850123")
    make_deal("0312850124")
    make_deal("0312850125")
    client.post("/triage/0312850123", {"action": "hide", "below": "5", "days": "2"})
    client.post("/triage/0312850124", {"action": "watch"})
    client.post("/triage/0312850124", {"action": "note", "note": "buy two"})

    results = {r["asin"]: r for r in client.get("/api/deals").json()["results"]}
    assert sorted(results) == ["0312850124", "0312850125"]  # hidden left out by default
    watched = results["0312850124"]
    assert (watched["watched"], watched["note"], watched["hidden"]) == (True, "buy two", False)
    assert (watched["hidden_until"], watched["hidden_until_below"]) == (None, None)
    plain = results["0312850125"]
    assert (plain["watched"], plain["note"], plain["hidden"]) == (False, "", False)

    hidden = client.get("/api/deals", {"triage": "hidden"}).json()["results"]
    assert [r["asin"] for r in hidden] == ["0312850123"]
    assert hidden[0]["hidden"] is True and hidden[0]["hidden_until_below"] == 500
    assert hidden[0]["hidden_until"] is not None
    assert [
        r["asin"] for r in client.get("/api/deals", {"triage": "watched"}).json()["results"]
    ] == ["0312850124"]
    assert client.get("/api/deals", {"triage": "all"}).json()["count"] == 3
    bad = client.get("/api/deals", {"triage": "maybe"})
    assert bad.status_code == 400 and "triage" in bad.json()["errors"]


def test_the_csv_carries_triage(client):
    make_deal("0312850123")
    make_deal("0312850124")
    client.post("/triage/0312850123", {"action": "hide", "below": "7.5"})
    client.post("/triage/0312850123", {"action": "note", "note": "=HYPERLINK(1)"})
    client.post("/triage/0312850124", {"action": "watch"})

    response = client.get("/deals.csv", {"triage": "all", "sort": "asin"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    first, second = rows
    assert (first["Hidden"], first["Hidden until buy price below"]) == ("yes", "7.50")
    assert first["Note"] == "'=HYPERLINK(1)"  # inert in a spreadsheet
    assert (first["On buy list"], second["On buy list"]) == ("no", "yes")
    assert (second["Hidden"], second["Note"]) == ("no", "")
    # The buy list's CSV link gives the buy list.
    watched = client.get("/deals.csv", {"triage": "watched"})
    lines = b"".join(watched.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2 and "0312850124" in lines[1]


def test_the_dashboard_reads_triage_in_one_query_whatever_the_rows(
    client, django_assert_max_num_queries
):
    for i in range(30):
        make_deal(f"B{i:09d}", delta_percent=100 - i)
        Triage.objects.create(asin=f"B{i:09d}", watched=True, note=f"note {i}")
    client.get("/")  # warm caches (categories, settings)
    with django_assert_max_num_queries(25) as queries:
        html = client.get("/").content.decode()
    assert html.count("★ buy list") == 30
    # One read of the page's marks (the filter's read of the hide marks aside), not one per row.
    triage_reads = [
        q
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "deals_triage"') and '"deals_triage"."note"' in q["sql"]
    ]
    assert len(triage_reads) == 1


def test_the_admin_lists_triage_with_the_deal_title_even_after_a_prune(admin_client):
    make_deal("0312850123", title="Organic Chemistry")
    Triage.objects.create(asin="0312850123", hidden=True, hidden_below_cents=999)
    Triage.objects.create(asin="0312850999", watched=True)
    html = admin_client.get("/admin/deals/triage/").content.decode()
    assert "Organic Chemistry" in html and "$9.99" in html
    assert "(not in the database now)" in html


def test_a_filtered_count_follows_a_hide_at_once(client):
    make_deal("0312850123")
    make_deal("0312850124")
    assert total(client, delta_percent_min=10) == 2  # counted, and the count kept a while
    click(client, "0312850123", "hide", page=f"{DASHBOARD}?delta_percent_min=10")
    assert total(client, delta_percent_min=10) == 1
    Triage.objects.all().delete()  # the admin deletes the mark
    assert total(client, delta_percent_min=10) == 2


def test_undoing_a_hide_brings_the_row_and_the_count_back(client):
    make_deal("0312850123")
    make_deal("0312850124")
    gone = click(client, "0312850123", "hide").content.decode()
    assert '<strong id="total-deals">1</strong>' in gone

    # The Undo in the slim row: the row comes back, and so does the count, out of band (the
    # count stayed at one less until the page was reloaded).
    back = click(client, "0312850123", "unhide").content.decode()

    assert back.startswith('<tr id="deal-0312850123"') and "is-hidden" not in back
    assert 'id="deal-counts" class="counts" hx-swap-oob="true"' in back
    assert '<strong id="total-deals">2</strong>' in back
