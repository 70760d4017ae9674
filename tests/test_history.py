"""Keepa's own history kept per deal (deals/history.py): the bounded digest, and the season."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deals import history
from deals.snapshots import product_snapshot
from keepa_client.wire import datetime_to_keepa_minute

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keepa"


def _months(ranks: dict[int, int], years: tuple[int, ...] = (2024, 2025), days: int = 30):
    """Monthly digest entries: the same rank for each calendar month in each year."""
    return {f"{y}-{m:02d}": [ranks[m], days] for y in years for m in range(1, 13)}


def _flat(rank: int = 100_000) -> dict[int, int]:
    return dict.fromkeys(range(1, 13), rank)


# -- season: worked examples --------------------------------------------------------------


def test_a_textbook_sells_in_august_september_and_january():
    ranks = _flat(200_000) | {8: 40_000, 9: 60_000, 1: 90_000}
    assert history.season(_months(ranks)) == ("Textbook: Aug\u2013Sep, Jan · peak Aug", 8)


def test_a_gift_book_sells_in_november_and_december():
    ranks = _flat(300_000) | {11: 120_000, 12: 50_000}
    assert history.season(_months(ranks)) == ("Holiday: Nov\u2013Dec · peak Dec", 12)


def test_a_steady_seller_is_year_round():
    # Within 40 % of the typical month everywhere: no month stands out.
    ranks = _flat(100_000) | {3: 80_000, 10: 120_000}
    assert history.season(_months(ranks)) == ("Year-round", None)


def test_a_peak_outside_school_and_holiday_months_is_just_seasonal():
    ranks = _flat(500_000) | {5: 100_000, 6: 150_000}  # gardening, graduation…
    assert history.season(_months(ranks)) == ("Seasonal: May\u2013Jun · peak May", 5)


def test_a_peak_across_new_year_reads_as_one_run():
    ranks = _flat(500_000) | {12: 150_000, 1: 100_000}
    label, peak = history.season(_months(ranks))
    assert label == "Textbook: Dec\u2013Jan · peak Jan" and peak == 1


def test_less_than_a_year_of_rank_history_says_so():
    # About 100 days, as Keepa's recent history of a new product: no season can be told.
    months = {"2025-09": [50_000, 30], "2025-10": [60_000, 31], "2025-11": [70_000, 30]}
    assert history.season(months) == ("not enough history", None)


def test_months_with_little_rank_data_do_not_count():
    months = _months(_flat(100_000) | {8: 10_000}, years=(2025,), days=30)
    months["2025-08"] = [10_000, 5]  # five days of August: not a month's evidence
    assert history.season(months) == ("not enough history", None)


# -- the digest of a real /product answer -----------------------------------------------------


# A real /product answer for a used paperback with ten years of history and offers.
REAL_PRODUCT = (
    "product_object_with_offers_055299068X__timemery-AgentArbitrage__diag_no_seller_log.json"
)


def _real_product() -> dict:
    body = json.loads((FIXTURES / REAL_PRODUCT).read_text())
    return (body.get("products") or [body])[0]


def test_a_real_answers_history_is_kept_as_one_value_a_day_within_the_budget():
    raw = _real_product()
    full = len(json.dumps(raw.get("csv"))) + len(json.dumps(raw.get("salesRanks")))

    snap = product_snapshot(raw, 2)
    digest = snap["history"]

    assert len(digest["price"]) == len(digest["rank"]) == history.CHART_DAYS + 1
    assert any(v > 0 for v in digest["rank"])  # the sales rank is there, day by day
    assert len(digest["months"]) <= history.MONTHS_KEPT
    # Bounded whatever the length of the product's history, and far smaller than Keepa's.
    assert len(json.dumps(digest)) < 3500 < full
    # Its last two years by month: it sold best in July and August.
    assert history.season(digest["months"]) == ("Seasonal: Jul\u2013Aug · peak Jul", 7)


def test_the_value_held_on_each_day_and_minus_one_without_an_offer():
    day = 1440
    end = datetime_to_keepa_minute(datetime(2026, 1, 5, 12, tzinfo=UTC))
    start = end - history.CHART_DAYS * day
    csv: list = [None] * 36
    # USED: 20.00 from before the window, no offer for days 40-49, then 15.00 from day 90.
    csv[2] = [start - 5 * day, 2000, start + 40 * day, -1, start + 50 * day, 2500]
    csv[2] += [start + 90 * day, 1500]
    # Buy Box Used is stored as (time, price, shipping): shown with shipping.
    csv[32] = [start, 1800, 399]
    csv[3] = [start, 50_000, start + 10 * day, 40_000]

    digest = history.digest({"csv": csv, "lastUpdate": end}, 2)

    assert digest["price"][0] == 2000 and digest["price"][45] == -1
    assert digest["price"][60] == 2500 and digest["price"][-1] == 1500
    assert set(digest["box"]) == {2199}
    assert digest["rank"][5] == 50_000 and digest["rank"][20] == 40_000


def test_monthly_ranks_weigh_each_rank_by_how_long_it_held():
    def minute(*ymd: int) -> int:
        return datetime_to_keepa_minute(datetime(*ymd, tzinfo=UTC))

    points = [(minute(2025, 1, 1), 10_000), (minute(2025, 1, 11), 40_000)]
    months = history.monthly_ranks(points, minute(2025, 2, 1))
    # 10 days at 10,000 and 21 days at 40,000.
    assert months == {"2025-01": [round((10 * 10_000 + 21 * 40_000) / 31), 31]}


def test_no_history_in_the_answer_keeps_no_digest():
    assert history.digest({"asin": "B000000001"}, 2) is None
    assert history.season_label({"offers": []}) == ""
