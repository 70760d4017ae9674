"""The admin speaks money and names: dollars, category and condition names, the status, and
filters on what an operator narrows the deals by."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deals.models import DealEvent, DealStatus
from tests.dashboard.helpers import make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("operator", password="x-long-password"))
    return client


def cells(html: str, asin: str) -> str:
    row = re.search(rf"<tr>(?:(?!</tr>).)*{asin}(?:(?!</tr>).)*</tr>", html, re.S)
    assert row, f"no row for {asin}"
    return re.sub(r"<[^>]+>", " ", row.group(0))


def test_the_deal_list_shows_dollars_category_and_condition_names_and_status(admin_client):
    make_deal(
        "0312850123",
        now_price=2191,
        now_total=2191,
        now_seller_name="Granite State Media",
        now_condition=3,
        now_is_fba=True,
        avg_price=4439,
        profit=1162,
        roi_percent=35.5,
        root_category=283155,
        status=DealStatus.UNVERIFIED,
    )

    html = admin_client.get("/admin/deals/deal/").content.decode()

    row = cells(html, "0312850123")
    assert "$21.91" in row and "$11.62" in row
    assert "2191" not in row  # no cents
    assert "Granite State Media · Very Good · FBA" in row
    assert "Books" in row and "283155" not in row
    assert "unverified" in row and "35.5 %" in row


def test_the_deal_list_filters_by_status_condition_category_fba_and_look_up(admin_client):
    make_deal("0000000001", now_condition=3, now_is_fba=True, enriched_at=timezone.now())
    make_deal("0000000002", now_condition=5, root_category=2625373011, status=DealStatus.LEFT)

    html = admin_client.get("/admin/deals/deal/").content.decode()
    for choice in ("Very Good", "Acceptable", "Books", "Movies &amp; TV", "not yet", "left"):
        assert f">{choice}</a>" in html, choice

    def listed(query: str) -> set[str]:
        page = admin_client.get(f"/admin/deals/deal/?{query}").content.decode()
        return set(re.findall(r">(\d{10})</a>", page))

    assert listed("now_condition=5") == {"0000000002"}
    assert listed("root_category=283155") == {"0000000001"}
    assert listed("status__exact=left") == {"0000000002"}
    assert listed("fba=yes") == {"0000000001"}
    assert listed("enriched=no") == {"0000000002"}


def test_history_values_read_as_money_and_names(admin_client):
    DealEvent.objects.create(
        asin="0312850123", kind="changed", field="now_total", old_value=2439, new_value=2191
    )
    DealEvent.objects.create(
        asin="0312850123", kind="changed", field="now_condition", old_value=2, new_value=3
    )

    html = admin_client.get("/admin/deals/dealevent/").content.decode()

    assert "$24.39" in html and "$21.91" in html and "Very Good" in html


def test_one_deal_reads_in_dollars_and_links_to_its_deal_page(admin_client):
    deal = make_deal(
        "0312850123",
        now_price=2191,
        max_buy_total=1688,
        avg_price=4439,
        list_at=4299,
        season="Back to school",
    )

    html = admin_client.get(f"/admin/deals/deal/{deal.pk}/change/").content.decode()

    assert "$21.91" in html and "$16.88" in html and "2191" not in html
    # What the laptop-wide list leaves out is here: the average, List at and the season.
    assert "$44.39" in html and "$42.99" in html and "Back to school" in html
    view_on_site = re.search(r'href="(/admin/r/[^"]+)"', html)
    assert view_on_site, "no View on site link"
    response = admin_client.get(view_on_site.group(1))
    assert response["Location"].endswith("/deal/0312850123")


def test_the_admin_index_spells_its_lists_in_plain_english(admin_client):
    html = admin_client.get("/admin/").content.decode()

    assert "Alert deliveries" in html and "deliverys" not in html
