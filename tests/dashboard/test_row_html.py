"""Rows kept per process (deals/row_html.py): a row is drawn again whenever anything it shows
changed, so no reader ever sees a stale Profit, cue, column, time, mark or token."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from freezegun import freeze_time

from deals import row_html, triage
from deals.models import Deal
from tests.dashboard.helpers import make_deal
from tests.deals_fixtures import write_settings

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def row(client: Client, asin: str, **params) -> str:
    html = client.get("/", params).content.decode()
    return re.search(rf'<tr id="deal-{asin}".*?</tr>', html, re.S).group(0)


def test_identical_pages_draw_their_rows_once(client):
    make_deal("B000000001")
    make_deal("B000000002")
    first = client.get("/").content.decode()
    kept = len(row_html.CACHE)
    assert kept == 2
    assert client.get("/").content.decode().count('<tr id="deal-') == 2
    assert len(row_html.CACHE) == kept
    assert re.search(r'<tr id="deal-B000000001".*?</tr>', first, re.S)


def test_a_deal_changed_without_a_keepa_change_shows_its_new_profit(client):
    make_deal("B000000001", profit=500, roi_percent=60)
    assert "$5.00" in row(client, "B000000001")
    # What a recompute after a Costs save writes: the figures, not changed_at.
    Deal.objects.filter(asin="B000000001").update(profit=-250, roi_percent=-10)
    shown = row(client, "B000000001")
    assert "$5.00" not in shown and "\u2212$2.50" in shown
    assert "loss" in shown


def test_a_new_target_markup_marks_the_kept_rows_again(client, settings, tmp_path):
    make_deal("B000000001", profit=500, roi_percent=40)
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    data = json.loads(settings.DEALS_SETTINGS_FILE.read_text())
    data["seller_costs"]["target_markup_percent"] = 50
    settings.DEALS_SETTINGS_FILE.write_text(json.dumps(data))
    assert "below target" in row(client, "B000000001")

    data["seller_costs"]["target_markup_percent"] = 30
    settings.DEALS_SETTINGS_FILE.write_text(json.dumps(data))
    assert "below target" not in row(client, "B000000001")


def test_a_column_switched_on_or_off_is_drawn_so_on_the_kept_row(client):
    make_deal("B000000001", sales_rank=4321)
    assert "4,321" in row(client, "B000000001")
    client.cookies["deal_columns"] = "title%2Cnow_price%2Casin%2Cprice_changed_at"
    shown = row(client, "B000000001")
    assert "4,321" not in shown
    assert '<a href="/deal/B000000001">B000000001</a>' in shown
    del client.cookies["deal_columns"]
    assert "4,321" in row(client, "B000000001")


def test_relative_times_on_a_kept_row_follow_the_clock(client):
    client.cookies["deal_columns"] = "title%2Cnow_price%2Cprice_changed_at%2Cverified_at"
    with freeze_time(NOW):
        make_deal(
            "B000000001",
            price_changed_at=NOW - timedelta(minutes=5),
            verified_at=NOW - timedelta(hours=3),
        )
        shown = row(client, "B000000001")
        assert ">5 min ago</time>" in shown and ">3 h ago</time>" in shown
    # The row is kept (the clock alone changed) and its times are written for this minute.
    with freeze_time(NOW + timedelta(minutes=2)):
        shown = row(client, "B000000001")
        assert ">7 min ago</time>" in shown and ">3 h ago</time>" in shown
        assert 'title="2026-01-05 11:55:00 UTC">7 min ago</time>' in shown
    assert len(row_html.CACHE) == 1


def test_a_row_a_sweep_reads_again_unchanged_is_kept_and_shows_its_new_times(client):
    """A sweep stamps every row it reads; the row is not drawn again for that, but its "Last
    listed" and "Last checked" cells say when the sweep read it."""
    client.cookies["deal_columns"] = "title%2Cnow_price%2Clast_seen_utc%2Cverified_at"
    with freeze_time(NOW):
        make_deal(
            "B000000001",
            last_seen_utc=NOW - timedelta(hours=2),
            verified_at=NOW - timedelta(hours=3),
        )
        shown = row(client, "B000000001")
        assert ">2 h ago</time>" in shown and ">3 h ago</time>" in shown
    with freeze_time(NOW + timedelta(minutes=4)):
        Deal.objects.filter(asin="B000000001").update(
            last_seen_utc=NOW + timedelta(minutes=3), verified_at=NOW + timedelta(minutes=3)
        )
        shown = row(client, "B000000001")
        assert shown.count(">1 min ago</time>") == 2
        assert 'title="2026-01-05 12:03:00 UTC"' in shown
        assert ">2 h ago<" not in shown and ">3 h ago<" not in shown
    assert len(row_html.CACHE) == 1


@pytest.mark.parametrize("shown_too", [True, False])
def test_a_kept_row_with_new_sweep_stamps_is_what_the_template_draws(db, shown_too):
    from django.template.loader import get_template

    from deals import dashboard

    deal = make_deal("B000000001", last_seen_utc=NOW - timedelta(hours=2), verified_at=None)
    shown = set(dashboard.shown_columns(None)) - set(row_html.SEEN_FIELDS)
    context = {
        "columns": dashboard.table_columns(),
        "shown": shown | (set(row_html.SEEN_FIELDS) if shown_too else set()),
        "target": None,
        "csrf_token": "a-token",
    }
    with freeze_time(NOW):
        for seen in (NOW - timedelta(hours=2), NOW - timedelta(minutes=1)):
            deal.last_seen_utc = deal.verified_at = seen
            (drawn_row,) = dashboard.rows_for([deal], new=set(), flash=set())
            kept = row_html.render_row(context, drawn_row, oob=False)
            drawn = get_template(row_html.TEMPLATE).render(
                {**context, "row": drawn_row, "oob": False}
            )
            assert kept == drawn
    assert ("1 min ago" in kept) == shown_too
    assert len(row_html.CACHE) == 1


def test_the_readers_marks_show_on_the_kept_row(client):
    make_deal("B000000001")
    assert "☆ buy list" in row(client, "B000000001")
    triage.watch("B000000001")
    assert "★ buy list" in row(client, "B000000001")
    triage.set_note("B000000001", "ask about the dust jacket")
    assert "ask about the dust jacket" in row(client, "B000000001")


@pytest.mark.parametrize("name", ["first", "second"])
def test_each_reader_posts_from_a_kept_row_with_their_own_token(user, name):
    make_deal("B000000001")
    readers = [Client(enforce_csrf_checks=True) for _ in range(2)]
    for reader in readers:
        reader.force_login(user)
    pages = [reader.get("/").content.decode() for reader in readers]
    reader = readers[0 if name == "first" else 1]
    page = pages[0 if name == "first" else 1]
    form = re.search(r'<tr id="deal-B000000001".*?</tr>', page, re.S).group(0)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = reader.post("/triage/B000000001", {"action": "watch", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert triage.for_asins(["B000000001"])["B000000001"].watched


def test_a_recorded_price_change_redraws_the_kept_sparkline(client):
    from deals.models import DealEvent

    make_deal("B000000001", now_price=1000, entered=True)
    before = re.search(r'<path d="([^"]+)"', row(client, "B000000001")).group(1)
    # Two changes that end at the same Now: only the recorded changes tell the lines apart.
    for old, new in ((1000, 1500), (1500, 1000)):
        DealEvent.objects.create(
            asin="B000000001",
            kind=DealEvent.Kind.CHANGED,
            field="now_price",
            old_value=old,
            new_value=new,
        )
    after = re.search(r'<path d="([^"]+)"', row(client, "B000000001")).group(1)
    assert after != before
    assert "V" in after  # the line rose and fell


@pytest.mark.parametrize("loss", [False, True])
def test_tabs_marking_a_row_new_or_changed_share_one_drawn_row(db, loss):
    """Each tab marks a row by when it last polled; the row is drawn once, unmarked, and each
    tab's marks are written in: exactly what the row's template draws with them."""
    from django.template.loader import get_template

    from deals import dashboard

    deal = make_deal("B000000001", **({"profit": -250, "roi_percent": -10} if loss else {}))
    context = {
        "columns": dashboard.table_columns(),
        "shown": dashboard.shown_columns(None),
        "target": None,
        "csrf_token": "a-token",
    }
    with freeze_time(NOW):
        for new, flash in [(False, False), (True, False), (False, True), (True, True)]:
            (marked,) = dashboard.rows_for(
                [deal], new={deal.asin} if new else set(), flash={deal.asin} if flash else set()
            )
            kept = row_html.render_row(context, marked, oob=True)
            drawn = get_template(row_html.TEMPLATE).render({**context, "row": marked, "oob": True})
            assert kept == drawn
            assert ('class="badge"' in kept) == new and ("flash" in kept.split(">", 1)[0]) == flash
    assert len(row_html.CACHE) == 1
