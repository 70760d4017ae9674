"""Parse every real Keepa response in tests/fixtures/keepa/ and check values read from the JSON."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from keepa_client import (
    ApiError,
    BadRequest,
    Deal,
    KeepaClient,
    Product,
    TokensExhausted,
    wire,
)
from keepa_client.models import DealPage, Offer

FIXTURES = Path(__file__).parent / "fixtures" / "keepa"
BASE = "https://api.keepa.com"
KEY = "WIREtestKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"

DEALS_APR_2025 = "deal_response__timemery-keepa-deals__4e25862b.json"
DEALS_MAY_2025 = "deal_response_page0__timemery-keepa-deals__e5e4a4fd.json"
DEALS_SEP_2025 = "deal_response_2025-09__timemery-AgentArbitrage__static_logs_keepa_scan.log.json"
PRODUCT_NO_OFFERS = "product_response_B0F7XPYCSJ__cuNuo-Keepa-cli__evidence-runtime-logs.json"
PRODUCT_BUY_BOX = "product_response_B0D8W1YVBX__cuNuo-Keepa-cli__evidence-runtime-logs.json"
PRODUCT_ONE_LIVE_OFFER = (
    "product_object_with_offers_1886940606__timemery-AgentArbitrage__raw_asin_dump.json"
)
PRODUCT_TWO_LIVE_OFFERS = (
    "product_object_with_offers_055299068X__timemery-AgentArbitrage__diag_no_seller_log.json"
)
ERROR_DATE_RANGE = "error_400_deal_invalid_dateRange__timemery-keepa-deals__API_Dev_Log_v2.txt.json"
ERROR_PRICE_TYPES = (
    "error_400_deal_invalid_priceTypes__timemery-keepa-deals__API_Dev_Log_v2.txt.json"
)
ERROR_QUERY_JSON = (
    "error_400_deal_queryJSON_missing_or_invalid__timemery-keepa-deals__debug_log.txt.json"
)
ERROR_429 = (
    "error_429_deal_not_enough_tokens__timemery-AgentArbitrage__static_logs_keepa_scan.log.json"
)
ERROR_200_OFFERS = "error_HTTP200_product_offers_lt_20__timemery-keepa-deals__debug_log-1.txt.json"
NOTIFICATION = (
    "notification_webhook_test_payload__timemery-AgentArbitrage__Keepa-Endpoint-Notification.json"
)

EXERCISED = {
    DEALS_APR_2025,
    DEALS_MAY_2025,
    DEALS_SEP_2025,
    PRODUCT_NO_OFFERS,
    PRODUCT_BUY_BOX,
    PRODUCT_ONE_LIVE_OFFER,
    PRODUCT_TWO_LIVE_OFFERS,
    ERROR_DATE_RANGE,
    ERROR_PRICE_TYPES,
    ERROR_QUERY_JSON,
    ERROR_429,
    ERROR_200_OFFERS,
    NOTIFICATION,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def deal_page(name: str) -> DealPage:
    return DealPage.from_json(load(name), page=0)


def served_client(method: str, path: str, fixture: str, status: int, **client_kwargs):
    responses.add(method, f"{BASE}/{path}", body=(FIXTURES / fixture).read_bytes(), status=status)
    return KeepaClient(KEY, **client_kwargs)


def test_every_fixture_file_is_exercised_here():
    on_disk = {p.name for p in FIXTURES.glob("*.json")}
    assert on_disk == EXERCISED


# Keepa time and sentinels


def test_keepa_minutes_convert_to_exact_utc_datetimes_and_back():
    assert wire.keepa_minute_to_datetime(7535870) == datetime(2025, 4, 30, 5, 50, tzinfo=UTC)
    assert wire.datetime_to_keepa_minute(datetime(2025, 4, 30, 5, 50, tzinfo=UTC)) == 7535870
    assert wire.keepa_minute_to_datetime(1) == datetime(2011, 1, 1, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize("never", [None, -1, 0, -5])
def test_keepa_minutes_that_mean_never_become_none(never):
    assert wire.keepa_minute_to_datetime(never) is None


def test_a_naive_datetime_is_refused_rather_than_guessed():
    with pytest.raises(ValueError):
        wire.datetime_to_keepa_minute(datetime(2025, 4, 30, 5, 50))


def test_minus_one_and_minus_two_mean_no_value():
    assert wire.price_or_none(-1) is None
    assert wire.price_or_none(-2) is None
    assert wire.price_or_none(None) is None
    assert wire.price_or_none(0) == 0
    assert wire.price_or_none(2499) == 2499


def test_latest_history_value_reads_pairs_and_sums_price_and_shipping_triplets():
    assert wire.latest_history_value([7554276, 2599, 7930604, -1, 7933390, 2599]) == 2599
    assert wire.latest_history_value([7554276, 2599, 7930604, -1]) is None
    assert wire.latest_history_value([7817554, 1827, 399, 7825626, 2100, 399], True) == 2499
    assert wire.latest_history_value([7779272, 10810, 0, 7786304, -1, -1], True) is None
    assert wire.latest_history_value(None) is None
    assert wire.latest_history_value([]) is None


def test_condition_names_follow_keepa_numbering():
    assert wire.CONDITION_NAMES[1] == "New"
    assert wire.CONDITION_NAMES[4] == "Used - Good"
    assert wire.CONDITION_NAMES[7] == "Collectible - Like New"


# /deal responses


def test_the_april_2025_deal_page_reads_the_first_deal_field_by_field():
    page = deal_page(DEALS_APR_2025)
    deal = page.deals[0]

    assert len(page.deals) == 150
    assert not page.is_last
    assert page.cached is False
    assert deal.asin == "B0916T3WFJ"
    assert deal.title.startswith("VENO 4 Pack Moving and Storage Bags")
    assert deal.image == "41vzhAICFdL.jpg"
    assert deal.image_url == "https://m.media-amazon.com/images/I/41vzhAICFdL.jpg"
    assert deal.root_cat == 1055398
    assert deal.categories == (3743931, 118688596011, 13900821)
    assert deal.current_value(wire.USED) == 2024
    assert deal.current_value(wire.NEW) == 2499
    assert deal.current_value(wire.RATING) == 47
    assert deal.current_value(wire.AMAZON) is None  # -1: no Amazon offer
    assert deal.creation_date == datetime(2025, 4, 30, 5, 50, tzinfo=UTC)
    assert deal.lightning_start == datetime(2022, 10, 19, 18, 40, tzinfo=UTC)
    assert deal.current_since[wire.AMAZON] == datetime(2021, 5, 2, 5, 44, tzinfo=UTC)
    assert deal.current_since[wire.COLLECTIBLE] is None  # -1
    assert deal.sales_rank_drops30 == 34
    assert deal.sales_rank_drops365 == 581
    assert deal.warehouse_condition == 0
    assert deal.warehouse_condition_comment is None
    assert deal.parent_asin is None
    assert deal.raw["asin"] == "B0916T3WFJ"


def test_deal_averages_are_indexed_by_date_range_then_price_type():
    deal = deal_page(DEALS_APR_2025).deals[0]

    assert len(deal.avg) == 4
    assert len(deal.avg[0]) == 34
    # Warehouse (9) had no offer over the last day but averaged 22.23 over 90 days.
    assert deal.avg_value(wire.DAY, wire.WAREHOUSE) is None
    assert deal.avg_value(wire.NINETY_DAYS, wire.WAREHOUSE) == 2223
    assert deal.avg_value(wire.NINETY_DAYS, wire.USED) == 2174
    assert deal.avg_value(wire.DAY, wire.AMAZON) is None  # -2: never tracked
    assert deal.delta_percent_value(wire.DAY, wire.USED) == 16
    assert deal.delta_percent_value(wire.NINETY_DAYS, wire.SALES_RANK) == 53


def test_delta_is_the_average_minus_the_current_value():
    deal = deal_page(DEALS_APR_2025).deals[0]

    assert deal.delta_value(wire.DAY, wire.USED) == 398
    assert (
        deal.delta_value(wire.DAY, wire.USED)
        == deal.avg_value(wire.DAY, wire.USED) - deal.current_value(wire.USED)
        == 2422 - 2024
    )


@pytest.mark.parametrize("fixture", [DEALS_APR_2025, DEALS_MAY_2025, DEALS_SEP_2025])
def test_delta_equals_avg_minus_current_on_every_cell_where_both_are_known(fixture):
    checked = 0
    for deal in deal_page(fixture).deals:
        for date_range in range(4):
            for price_type in range(len(deal.current)):
                if price_type in (wire.LIGHTNING_DEAL, wire.WAREHOUSE, wire.PRIME_EXCL):
                    continue  # Keepa compares these with the Amazon or New price instead.
                avg = deal.avg_value(date_range, price_type)
                current = deal.current_value(price_type)
                # Negative values other than -1/-2 are counts with a meaning (e.g. -14 offers
                # fetched of more), not prices; Keepa leaves their delta at 0.
                if avg is None or current is None or avg < 0 or current < 0:
                    continue
                assert deal.delta_value(date_range, price_type) == avg - current
                checked += 1
    assert checked > 5000


def test_the_deal_envelope_becomes_the_token_status():
    page = deal_page(DEALS_APR_2025)

    assert page.tokens.tokens_left == 295
    assert page.tokens.tokens_consumed == 5
    assert page.tokens.refill_rate == 5
    assert page.tokens.refill_in_ms == 27893
    assert page.tokens.timestamp == datetime(2025, 4, 30, 22, 48, 27, 585000, tzinfo=UTC)
    assert page.tokens.refill_at == datetime(2025, 4, 30, 22, 48, 55, 478000, tzinfo=UTC)
    # Keepa stamps lastUpdate with the minute of the response for the freshest deal.
    newest = max(d.raw["lastUpdate"] for d in page.deals)
    assert wire.datetime_to_keepa_minute(page.tokens.timestamp) == newest == 7536888


def test_the_category_summary_covers_the_whole_result():
    page = deal_page(DEALS_APR_2025)

    assert len(page.category_names) == 30
    assert sum(page.category_counts.values()) == 1_074_469


def test_the_filtered_may_2025_page_honours_its_books_query():
    page = deal_page(DEALS_MAY_2025)
    first = page.deals[0]

    assert first.asin == "1954966032"
    assert first.title == "Airick Flies High"
    assert first.image == "416tG9PTXjL.jpg"
    assert first.current_value(wire.USED) == 2099
    assert first.delta_value(wire.NINETY_DAYS, wire.USED) == 8861
    assert first.delta_percent_value(wire.NINETY_DAYS, wire.USED) == 81
    assert all(d.root_cat == 283155 for d in page.deals)
    ranked = [d.delta_percent_value(wire.NINETY_DAYS, wire.USED) for d in page.deals]
    assert ranked == sorted(ranked, reverse=True)
    assert sum(page.category_counts.values()) == 3148


def test_the_september_2025_page_omits_null_fields_and_they_read_as_none():
    page = deal_page(DEALS_SEP_2025)
    first = page.deals[0]

    assert "warehouseConditionComment" not in first.raw
    assert "flags" not in first.raw
    assert first.asin == "0824802063"
    assert first.image == "5100hXt8PRL.jpg"
    assert first.warehouse_condition_comment is None
    assert first.lightning_start is None  # 0 means no lightning deal
    assert first.creation_date == datetime(2025, 9, 13, 20, 48, tzinfo=UTC)
    assert first.avg_value(wire.NINETY_DAYS, wire.USED) == 10522
    assert first.delta_value(wire.NINETY_DAYS, wire.USED) == 8183
    assert page.category_names[283155] == "Books"
    assert page.category_counts[283155] == 767
    assert page.tokens.tokens_left == 142

    commented = [d for d in page.deals if d.warehouse_condition_comment]
    assert [d.asin for d in commented] == ["1098139186", "1610022602"]
    assert commented[0].warehouse_condition == 2


def test_a_deal_with_only_an_asin_reads_every_other_field_as_empty():
    deal = Deal.from_json({"asin": "B000000000", "someFutureField": 1})

    assert deal.title is None
    assert deal.image is None
    assert deal.image_url is None
    assert deal.current_value(wire.USED) is None
    assert deal.avg_value(wire.NINETY_DAYS, wire.USED) is None
    assert deal.delta_percent_value(wire.DAY, wire.USED) is None
    assert deal.last_update is None
    assert deal.back_in_stock == ()


def test_price_types_beyond_a_short_array_read_as_none():
    deal = deal_page(DEALS_APR_2025).deals[0]

    assert deal.current_value(wire.COUNT_NEW_FBM) is None  # deals carry 34 entries, not 36
    assert deal.avg_value(7, wire.USED) is None


# /product responses


@responses.activate
def test_a_product_without_offers_reads_stats_and_history():
    client = served_client("GET", "product", PRODUCT_NO_OFFERS, 200)
    [product] = client.products(["B0F7XPYCSJ"], stats=180)

    assert product.asin == "B0F7XPYCSJ"
    assert product.title.startswith("10 pcs Lab-Grade Borosilicate Glass")
    # 2026 responses have no imagesCSV and this image only in medium size.
    assert product.image == "51AbyoYJunL.jpg"
    assert product.root_category == 16310091
    assert product.current_value(wire.NEW) == 2599
    assert product.current_value(wire.LIST_PRICE) == 3599
    assert product.current_value(wire.AMAZON) is None
    assert product.sales_rank is None  # history ends with -1: no current rank
    assert len(product.csv) == 36
    assert product.offers == ()
    assert product.cheapest_live_offer() is None
    assert product.fba_fees == {"lastUpdate": 8047688, "pickAndPackFee": 435}
    assert product.referral_fee_percentage == 12.0
    assert product.last_update == datetime(2026, 5, 10, 4, 16, tzinfo=UTC)
    assert product.product_type == 0
    assert client.tokens.tokens_consumed == 1
    assert client.tokens.refill_rate == 60


@responses.activate
def test_a_product_with_buy_box_data_reads_rank_and_buy_box_price():
    client = served_client("GET", "product", PRODUCT_BUY_BOX, 200)
    [product] = client.products(["B0D8W1YVBX"], buybox=True)

    assert product.sales_rank == 23
    assert product.current_value(wire.BUY_BOX_SHIPPING) == 1499
    assert product.image == "614vlOIc8YL.jpg"
    assert product.referral_fee_percentage == 15.01
    assert client.tokens.tokens_consumed == 4


def test_the_live_offer_is_found_through_live_offers_order_among_121_offers():
    product = Product.from_json(load(PRODUCT_ONE_LIVE_OFFER))

    assert len(product.offers) == 121
    assert product.live_offers_order == (38,)
    [live] = product.live_offers
    assert live is product.offers[38]
    assert live.is_live
    assert sum(o.is_live for o in product.offers) == 1
    assert live.seller_id == "A2LAZA9IUFPA4W"
    assert live.offer_id == 7
    assert live.condition == 4
    assert live.condition_name == "Used - Good"
    assert live.price == 2243
    assert live.shipping == 0
    assert live.total == 2243
    assert live.last_seen == product.last_offers_update
    assert product.last_offers_update == datetime(2025, 11, 22, 16, 4, tzinfo=UTC)
    assert product.cheapest_live_offer() is live
    assert product.cheapest_live_offer(conditions={1}) is None
    # history=0: no csv, so no rank from history; stats still carry the used price.
    assert product.csv is None
    assert product.sales_rank is None
    assert product.current_value(wire.USED) == 2243
    assert product.image == "61hZSqbBYwL.jpg"


def test_cheapest_live_offer_compares_price_plus_shipping_and_respects_conditions():
    product = Product.from_json(load(PRODUCT_TWO_LIVE_OFFERS))
    used, new = product.offers[4], product.offers[12]

    assert product.live_offers == (used, new)
    assert (used.seller_id, used.condition, used.price, used.shipping) == (
        "A66REUIM3OMP6",
        4,
        2100,
        399,
    )
    assert used.total == 2499
    assert (new.seller_id, new.condition, new.price, new.shipping) == (
        "A2LAZA9IUFPA4W",
        1,
        46101,
        0,
    )
    assert product.cheapest_live_offer() is used
    assert product.cheapest_live_offer(conditions={1}) is new
    assert product.sales_rank == 1297709
    assert product.image == "81sJzGmoKkL.jpg"


def test_live_offers_follow_amazons_order_once_each_even_if_keepa_repeats_an_index():
    raw = load(PRODUCT_TWO_LIVE_OFFERS)
    raw["liveOffersOrder"] = [12, 4, 12, 999]
    product = Product.from_json(raw)

    assert [o.offer_id for o in product.live_offers] == [34, 17]


def test_current_value_falls_back_to_the_history_including_shipping_without_stats():
    raw = load(PRODUCT_TWO_LIVE_OFFERS)
    with_stats = Product.from_json(raw)
    without_stats = Product.from_json({k: v for k, v in raw.items() if k != "stats"})

    assert with_stats.current_value(wire.USED_GOOD_SHIPPING) == 2499
    assert without_stats.current_value(wire.USED_GOOD_SHIPPING) == 2499  # 2100 + 399 shipping
    assert without_stats.current_value(wire.USED) == 2100
    assert without_stats.last_offers_update is None


def test_an_offer_whose_latest_price_is_unknown_is_never_the_cheapest():
    raw = load(PRODUCT_TWO_LIVE_OFFERS)
    raw = copy.deepcopy(raw)
    raw["offers"][4]["offerCSV"][-2] = -2  # price now unknown
    product = Product.from_json(raw)

    assert product.offers[4].price is None
    assert product.offers[4].total is None
    assert product.cheapest_live_offer() is product.offers[12]


def test_an_offer_cut_to_its_latest_price_and_shipping_reads_like_the_full_one():
    full_json = load(PRODUCT_TWO_LIVE_OFFERS)["offers"][4]
    csv = full_json["offerCSV"]
    latest = {k: v for k, v in full_json.items() if k != "offerCSV"}
    latest |= {"price": csv[-2], "shipping": csv[-1]}

    full, cut = Offer.from_json(full_json), Offer.from_latest(latest)

    assert (cut.price, cut.shipping, cut.total) == (full.price, full.shipping, full.total)
    assert (cut.price, cut.shipping, cut.total) == (2100, 399, 2499)
    assert (cut.seller_id, cut.condition, cut.is_fba) == (full.seller_id, 4, full.is_fba)
    assert cut.raw == latest


@pytest.mark.parametrize(
    ("price", "shipping", "expected"),
    [
        (1250, -1, (1250, None, 1250)),  # shipping unknown: the total is the price
        (1250, None, (1250, None, 1250)),  # shipping not kept
        (-1, 0, (None, 0, None)),  # no price: no total
        (None, 399, (None, None, None)),
    ],
)
def test_an_offer_cut_to_its_latest_price_reads_keepas_unknowns(price, shipping, expected):
    latest = {"sellerId": "A1BOOKS", "price": price, "shipping": shipping}
    latest = {k: v for k, v in latest.items() if v is not None}

    offer = Offer.from_latest(latest)

    assert (offer.price, offer.shipping, offer.total) == expected


# Error bodies, served as Keepa served them


@responses.activate
@pytest.mark.parametrize(
    ("fixture", "message", "details"),
    [
        (ERROR_DATE_RANGE, "The queryJSON is of invalid format.", "dateRange"),
        (ERROR_PRICE_TYPES, "The queryJSON is of invalid format.", "priceTypes"),
        (ERROR_QUERY_JSON, "The queryJSON is missing or invalid.", ""),
    ],
)
def test_keepas_400_bodies_raise_bad_request_naming_the_parameter(fixture, message, details):
    client = served_client("POST", "deal", fixture, 400)

    with pytest.raises(BadRequest) as caught:
        client.deals({"priceTypes": [2], "dateRange": 7})

    assert caught.value.status == 400
    assert caught.value.message == message
    assert caught.value.details == details
    assert caught.value.error_type == "invalidParameter"
    assert caught.value.endpoint == "/deal"
    assert caught.value.tokens.tokens_left == 300
    assert message in str(caught.value)


@responses.activate
def test_keepas_429_body_raises_tokens_exhausted_with_the_computed_wait():
    body = load(ERROR_429)
    sleeps: list[float] = []
    client = served_client(
        "POST", "deal", ERROR_429, 429, sleep=sleeps.append, clock=lambda: body["timestamp"] / 1000
    )

    with pytest.raises(TokensExhausted) as caught:
        client.deals({"priceTypes": [2]})

    # 45.592 s to the next refill + 249 tokens owed at 5/min (2988 s) + 1 s margin.
    assert caught.value.wait_s == pytest.approx(45.592 + 2988 + 1)
    assert caught.value.tokens.tokens_left == -249
    assert client.tokens.tokens_left == -249
    assert sleeps == []
    assert len(responses.calls) == 1


@responses.activate
def test_keepas_http_200_error_for_too_few_offers_raises_api_error():
    client = served_client("GET", "product", ERROR_200_OFFERS, 200)

    with pytest.raises(ApiError) as caught:
        client.products(["055299068X"], offers=20)

    assert caught.value.status == 200
    assert caught.value.error_type == "invalidParameter"
    assert caught.value.message == "Either no or a minimum of 20 offers must be requested."
    assert caught.value.details is None
    assert client.tokens.tokens_left == 295


# Webhook notification (not a client response, but the same encodings)


def test_the_notification_payload_uses_the_same_keepa_time_and_price_encodings():
    notification = load(NOTIFICATION)

    assert wire.keepa_minute_to_datetime(notification["createDate"]) == datetime(
        2025, 7, 5, 18, 44, tzinfo=UTC
    )
    prices = notification["currentPrices"]
    assert wire.value_at(prices, wire.AMAZON) == 1984
    assert wire.value_at(prices, wire.COLLECTIBLE) is None
    assert wire.value_at(prices, wire.COUNT_NEW_FBA) is None  # only 28 entries
    assert (
        wire.image_url(wire.decode_image(notification["image"]))
        == "https://m.media-amazon.com/images/I/51RXC8YhjPL.jpg"
    )


def test_every_deal_price_type_says_which_offer_conditions_make_it():
    # A price type missing here would make the cheapest-offer look-up fall back to any
    # condition: a New offer shown as the price of a used-books deal.
    assert set(wire.CONDITIONS_FOR_PRICE_TYPE) == set(wire.DEAL_PRICE_TYPES)
    assert wire.CONDITIONS_FOR_PRICE_TYPE[wire.USED] == {2, 3, 4, 5}
    assert wire.CONDITIONS_FOR_PRICE_TYPE[wire.USED_GOOD_SHIPPING] == {4}
    assert {wire.CONDITION_NAMES[c] for c in wire.USED_CONDITIONS} == {
        "Used - Like New",
        "Used - Very Good",
        "Used - Good",
        "Used - Acceptable",
    }
