"""The /deal selection check: what Keepa would refuse is refused here, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keepa_client.query import InvalidDealQuery, product_mismatch, validate_deal_query

ROOT = Path(__file__).resolve().parent.parent


def shipped_query() -> dict:
    return json.loads((ROOT / "settings.json").read_text())["deal_query"]


def test_the_shipped_query_passes_unchanged():
    query = shipped_query()
    assert validate_deal_query(query) == query


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("priceTypes", [2, 1], "must be a list of exactly one of"),
        ("priceTypes", [4], "must be a list of exactly one of"),  # list price: not a deal type
        ("dateRange", 7, "must be 0 (day), 1 (week), 2 (month) or 3 (90 days), got 7"),
        ("domainId", 7, "must be one of [1, 2, 3, 4, 5, 6, 8, 9, 10, 11], got 7"),
        ("sortType", 5, "must be between -4 and 4, got 5"),
        ("salesRankRange", [1, 2, 3], "must be a list of two whole numbers [min, max]"),
        ("brand", ["a", 1], "must be a list of strings"),
        ("isLowest", 0, "must be true or false, got number 0"),
        ("priceType", [2], "is not a Keepa /deal query field"),
    ],
)
def test_a_query_keepa_would_refuse_is_refused_naming_the_field(key, value, problem):
    query = shipped_query() | {key: value}
    with pytest.raises(InvalidDealQuery) as raised:
        validate_deal_query(query)
    assert raised.value.field == key
    assert problem in raised.value.problem
    assert f"/deal selection field {key!r} {problem}" in str(raised.value)


def test_a_query_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidDealQuery, match="the /deal selection must be a JSON object"):
        validate_deal_query([{"domainId": 1}])


def test_numbers_sent_as_strings_are_normalised_like_keepa_reads_them():
    query = validate_deal_query({"domainId": "1", "priceTypes": [2], "dateRange": " 3"})
    assert query["domainId"] == 1 and query["dateRange"] == 3


def test_the_caller_s_query_is_not_modified():
    query = {"domainId": "1", "priceTypes": [2]}
    validate_deal_query(query)
    assert query == {"domainId": "1", "priceTypes": [2]}


# -- does a product still match? -------------------------------------------------------------

SHIPPED = shipped_query()
BOOKS = 283155


def mismatch(**changes):
    """Why a used book at $25 (average $60, rank 200,000, 4.5 stars) fails the shipped query."""
    product = {
        "current": 2500,
        "average": 6000,
        "sales_rank": 200_000,
        "rating": 45,
        "categories": [BOOKS, 1000],
    }
    return product_mismatch(SHIPPED, **(product | changes))


def test_a_product_inside_every_range_matches():
    assert mismatch() == ""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"current": None}, "no used offer: sold out"),
        ({"current": 31_550}, "price $315.50 above the query's $301 maximum"),
        ({"current": 1950}, "price $19.50 below the query's $20 minimum"),
        ({"sales_rank": 1_620_000}, "sales rank 1,620,000 outside 50,000-1,500,000"),
        ({"sales_rank": None}, "no sales rank"),
        ({"rating": 5}, "rating 0.5 below the query's 1.0 minimum"),
        ({"average": 2400}, "price $25 no longer below its average $24"),
        ({"average": 4000}, "drop of $15 outside the query's $19.50-$99 drop range"),
        ({"current": 2500, "average": 4500}, "44 % below average, under the query's 50 % minimum"),
        ({"categories": [1000]}, "no longer in the query's categories"),
        ({"average": None}, "no used average to compare with"),
    ],
)
def test_a_product_outside_a_range_says_which_in_a_resellers_words(changes, reason):
    assert mismatch(**changes) == reason


def test_switched_off_ranges_and_an_excluded_category():
    unranged = {**SHIPPED, "isRangeEnabled": False}
    assert (
        product_mismatch(
            unranged,
            current=90_000,
            average=100_000,
            sales_rank=None,
            rating=45,
            categories=[BOOKS],
        )
        == ""
    )
    excluding = {**SHIPPED, "excludeCategories": [1000]}
    assert (
        product_mismatch(
            excluding, current=2500, average=6000, sales_rank=200_000, rating=45,
            categories=[BOOKS, 1000],
        )
        == "now in an excluded category"
    )  # fmt: skip
