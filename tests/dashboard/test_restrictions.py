"""The restricted list page, the one-click Gated mark on a row, and the new columns in the
API and the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from deals.models import Deal, Gated, Restriction
from tests.dashboard.helpers import make_deal, show_every_column
from tests.test_security import INLINE

pytestmark = pytest.mark.django_db

PEARSON = {"brand": "Pearson", "categoryTree": [{"catId": 283155, "name": "Books"}]}


def test_the_list_needs_a_login():
    assert Client().get("/restrictions").status_code == 302
    assert Client().post("/gated/0312850123", {"gated": "yes"}).status_code == 302


def test_adding_a_brand_gates_its_deals_at_once(client):
    make_deal("0312850123", product_snapshot=PEARSON)
    make_deal("0312850124", product_snapshot={"brand": "Tor"})

    response = client.post(
        "/restrictions", {"action": "add", "kind": "brand", "value": "pearson", "gated": "yes"}
    )

    assert response.status_code == 200
    assert "1 deals changed their Gated answer" in response.content.decode()
    assert Deal.objects.get(asin="0312850123").gated == Gated.YES
    assert Deal.objects.get(asin="0312850124").gated == Gated.UNKNOWN  # never "no"


def test_a_bad_line_is_refused_and_named(client):
    response = client.post(
        "/restrictions", {"action": "add", "kind": "brand", "value": "Pearson", "gated": "no"}
    )
    assert response.status_code == 400
    assert "Only an ASIN can be marked sellable." in response.content.decode()
    assert not Restriction.objects.exists()


def test_a_csv_import_adds_every_line_and_a_bad_file_adds_none(client):
    make_deal("0312850123")
    good = SimpleUploadedFile("list.csv", b"kind,value\nasin,0312850123\ncategory,Medicine\n")
    response = client.post("/restrictions", {"action": "import", "file": good})
    assert "Imported 2 lines; 1 deals changed" in response.content.decode()
    assert Deal.objects.get().gated == Gated.YES

    bad = SimpleUploadedFile("list.csv", b"kind,value\nbrand,Tor\nshoe,Nike\n")
    response = client.post("/restrictions", {"action": "import", "file": bad})
    assert response.status_code == 400
    assert "line 3: kind must be asin, brand or category" in response.content.decode()
    assert Restriction.objects.count() == 2


def test_deleting_a_line_takes_its_answer_back_to_unknown(client):
    make_deal("0312850123", product_snapshot=PEARSON)
    client.post("/restrictions", {"action": "add", "kind": "brand", "value": "Pearson"})
    rule = Restriction.objects.get()

    client.post("/restrictions", {"action": "delete", "pk": rule.pk})

    assert not Restriction.objects.exists()
    assert Deal.objects.get().gated == Gated.UNKNOWN


def test_one_click_on_a_row_marks_it_gated_and_htmx_gets_the_row_back(client):
    make_deal("0312850123")
    show_every_column(client)
    page = client.get("/").content.decode()
    assert 'hx-post="/gated/0312850123"' in page

    response = client.post("/gated/0312850123", {"gated": "yes"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and html.startswith('<tr id="deal-0312850123"')
    assert 'class="gated-yes"' in html and 'value="unknown"' in html  # "forget" is offered
    assert Restriction.objects.get().value == "0312850123"
    assert client.post("/gated/0312850123", {"gated": "maybe"}).status_code == 400
    assert client.get("/gated/0312850123").status_code == 405


def test_the_mark_needs_a_csrf_token(user):
    make_deal("0312850123")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/gated/0312850123", {"gated": "yes"}).status_code == 403
    assert strict.post("/restrictions", {"action": "add"}).status_code == 403
    assert not Restriction.objects.exists()


def test_the_list_page_has_no_inline_script_or_style(client):
    client.post("/restrictions", {"action": "add", "kind": "asin", "value": "0312850123"})
    html = client.get("/restrictions").content.decode()
    assert "0312850123" in html and not INLINE.findall(html)


def test_the_api_and_the_csv_carry_the_new_columns(client):
    make_deal(
        "0312850123",
        avg_price=4000,
        list_at=2450,
        list_at_rule="lowest FBA offer",
        min_list=3641,
        season="Textbook: Aug\u2013Sep, Jan · peak Aug",
        buy_url="https://www.amazon.com/gp/offer-listing/0312850123/?condition=used",
        gated=Gated.UNKNOWN,
    )
    result = client.get("/api/deals").json()["results"][0]
    assert result["list_at"] == 2450 and result["min_list"] == 3641
    assert result["season"].startswith("Textbook") and result["gated"] == "unknown"
    assert result["buy_url"].endswith("/0312850123/?condition=used")

    body = b"".join(client.get("/deals.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["List at"] == "24.50" and row["Min list"] == "36.41"
    assert row["Gated"] == "unknown" and row["Buy"].startswith("https://www.amazon.com/")

    show_every_column(client)
    page = client.get("/").content.decode()
    assert 'href="https://www.amazon.com/gp/offer-listing/0312850123/?condition=used"' in page
    assert 'title="lowest FBA offer"' in page


def test_gated_filters_the_table(client):
    make_deal("0312850123", gated=Gated.YES)
    make_deal("0312850124")
    html = client.get("/", {"gated": "unknown"}).content.decode()
    assert "deal-0312850124" in html and "deal-0312850123" not in html


def test_a_line_added_in_the_admin_applies_at_once(admin_client):
    make_deal("0312850123", product_snapshot=PEARSON)
    response = admin_client.post(
        "/admin/deals/restriction/add/",
        {"kind": "brand", "value": " PEARSON ", "gated": "on", "note": "",
         "created_at_0": "2026-01-05", "created_at_1": "12:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Restriction.objects.get().value == "pearson"
    assert Deal.objects.get().gated == Gated.YES
