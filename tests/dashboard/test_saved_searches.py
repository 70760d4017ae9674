"""Saved searches: the dashboard's view kept under a name, opened from a menu, edited, deleted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from deals.models import SavedSearch
from tests.dashboard.helpers import make_deal, shown_asins

pytestmark = pytest.mark.django_db


def test_saving_the_current_view_keeps_its_filters_and_sort_without_the_page(client):
    make_deal("0312850123", delta_percent=60)
    make_deal("0312850124", delta_percent=10)
    page = client.get("/", {"delta_percent_min": "50", "sort": "-sales_rank"}).content.decode()
    # The save form carries the view's own query string.
    assert 'name="query" value="delta_percent_min=50&amp;sort=-sales_rank"' in page

    response = client.post(
        "/searches/new",
        {"name": "  Deep   discounts ", "query": "delta_percent_min=50&q=&page=3&sort=-sales_rank"},
    )

    search = SavedSearch.objects.get()
    assert search.name == "Deep discounts"
    assert search.query == "delta_percent_min=50&sort=-sales_rank"
    assert response.status_code == 302
    assert response.url == "/?delta_percent_min=50&sort=-sales_rank"
    # One click on the menu opens it.
    menu = client.get("/").content.decode()
    assert 'href="/?delta_percent_min=50&amp;sort=-sales_rank"' in menu and "Deep discounts" in menu
    assert shown_asins(client.get(response.url)) == ["0312850123"]


def test_a_pasted_address_is_kept_as_its_query_string(client):
    client.post(
        "/searches/new",
        {"name": "Pasted", "query": "http://deals.local/?profit_min=20&cursor=9&shown=A,B"},
    )
    assert SavedSearch.objects.get().query == "profit_min=20"


def test_an_empty_query_is_every_deal(client):
    client.post("/searches/new", {"name": "Everything", "query": ""})
    search = SavedSearch.objects.get()
    assert (search.query, search.get_absolute_url()) == ("", "/")


def test_a_second_search_under_the_same_name_is_refused(client):
    SavedSearch.objects.create(name="Textbooks", query="q=textbook")
    response = client.post("/searches/new", {"name": "Textbooks", "query": "profit_min=5"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert SavedSearch.objects.get().query == "q=textbook"


def test_a_query_the_dashboard_would_ignore_is_refused_with_the_reason(client):
    response = client.post("/searches/new", {"name": "Oops", "query": "profit_min=lots"})
    assert response.status_code == 400
    assert "The dashboard would ignore profit_min" in response.content.decode()
    assert not SavedSearch.objects.exists()


def test_a_saved_search_is_renamed_and_its_query_edited(client):
    search = SavedSearch.objects.create(name="Textbooks", query="q=textbook")
    prefix = f"s{search.pk}"

    response = client.post(
        f"/searches/{search.pk}",
        {
            f"{prefix}-name": "Cheap textbooks",
            f"{prefix}-query": "q=textbook&page=2&now_price_max=15",
        },
    )

    assert response.status_code == 302 and response.url == "/searches"
    search.refresh_from_db()
    assert (search.name, search.query) == ("Cheap textbooks", "q=textbook&now_price_max=15")
    assert search.updated_at > search.created_at
    page = client.get("/searches").content.decode()
    assert "Cheap textbooks" in page and 'href="/?q=textbook&amp;now_price_max=15"' in page


def test_renaming_onto_another_search_is_refused(client):
    SavedSearch.objects.create(name="A", query="q=a")
    b = SavedSearch.objects.create(name="B", query="q=b")
    response = client.post(f"/searches/{b.pk}", {f"s{b.pk}-name": "A", f"s{b.pk}-query": "q=b"})
    assert response.status_code == 400 and "already exists" in response.content.decode()
    b.refresh_from_db()
    assert b.name == "B"


def test_a_saved_search_is_deleted(client):
    search = SavedSearch.objects.create(name="Old", query="q=old")
    response = client.post(f"/searches/{search.pk}/delete")
    assert response.status_code == 302
    assert not SavedSearch.objects.exists()
    assert "Old" not in client.get("/").content.decode()
    assert client.post(f"/searches/{search.pk}/delete").status_code == 404


def test_saved_searches_need_a_login_a_post_and_a_csrf_token(client, user):
    search = SavedSearch.objects.create(name="Mine", query="q=x")
    anonymous = Client()
    assert anonymous.get("/searches").status_code == 302
    assert anonymous.post("/searches/new", {"name": "X", "query": ""}).status_code == 302
    assert anonymous.post(f"/searches/{search.pk}/delete").status_code == 302
    assert client.get("/searches/new").status_code == 405
    assert client.get(f"/searches/{search.pk}/delete").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/searches/new", {"name": "X", "query": ""}).status_code == 403
    assert strict.post(f"/searches/{search.pk}/delete").status_code == 403
    assert list(SavedSearch.objects.values_list("name", flat=True)) == ["Mine"]


def test_each_saved_search_offers_an_alert_rule_on_it(client):
    SavedSearch.objects.create(name="Big & cheap", query="profit_min=20&sales_rank_max=500000")
    for url in ("/", "/searches"):
        html = client.get(url).content.decode()
        start = html.index('href="/alerts/new?') + len('href="')
        link = html[start : html.index('"', start)].replace("&amp;", "&")
        params = parse_qs(urlsplit(link).query)
        assert params == {
            "search": ["profit_min=20&sales_rank_max=500000"],
            "name": ["Big & cheap"],
        }
        assert "Alert me" in html


def test_the_admin_edits_saved_searches_and_normalises_the_query(admin_client):
    response = admin_client.post(
        "/admin/deals/savedsearch/add/", {"name": "From admin", "query": "?page=2&profit_min=9"}
    )
    assert response.status_code == 302
    assert SavedSearch.objects.get().query == "profit_min=9"
    assert "From admin" in admin_client.get("/admin/deals/savedsearch/").content.decode()
