"""KeepaClient against `responses`: retries, token waits, error mapping, paging and key hygiene."""

from __future__ import annotations

import gzip
import json
import logging
import traceback
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from keepa_client import (
    ApiError,
    BadRequest,
    InvalidKey,
    KeepaClient,
    KeepaConnectionError,
    KeepaError,
    KeepaTimeout,
    MalformedResponse,
    PaymentRequired,
    ServerError,
    TokensExhausted,
)

BASE = "https://api.keepa.com"
DEAL_URL = f"{BASE}/deal"
PRODUCT_URL = f"{BASE}/product"
KEY = "SECRETkeepaKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
assert len(KEY) == 64

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
FIXTURES = Path(__file__).parent / "fixtures" / "keepa"
REAL_DEAL_PAGE = FIXTURES / "deal_response__timemery-keepa-deals__4e25862b.json"


def envelope(tokens_left=100, refill_in=30_000, refill_rate=20, consumed=0, timestamp=NOW_MS):
    return {
        "timestamp": timestamp,
        "tokensLeft": tokens_left,
        "refillIn": refill_in,
        "refillRate": refill_rate,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": consumed,
        "processingTimeInMs": 3,
    }


def deal_body(count: int, first: int = 0, tokens_left: int = 100) -> dict:
    deals = [{"asin": f"B{first + i:09d}", "current": [-1, 2499]} for i in range(count)]
    return {
        **envelope(tokens_left=tokens_left, consumed=5),
        "dealsCached": False,
        "deals": {
            "dr": deals,
            "drDateIndex": [],
            "categoryIds": [283155],
            "categoryNames": ["Books"],
            "categoryCount": [count],
        },
    }


def product_body(asins: list[str]) -> dict:
    return {
        **envelope(consumed=len(asins)),
        "products": [{"asin": a, "title": f"Title {a}"} for a in asins],
    }


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def echo_products(request):
    asins = query_of(request.url)["asin"].split(",")
    return (200, {}, json.dumps(product_body(asins)))


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> KeepaClient:
    return KeepaClient(KEY, sleep=sleeps.append, clock=lambda: NOW.timestamp())


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# Deals


def test_deals_posts_the_selection_with_the_page_and_keeps_the_key_in_the_query(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(150))
    selection = {"priceTypes": [2], "dateRange": 3}

    page = client.deals(selection, page=4)

    request = mocked.calls[0].request
    assert json.loads(request.body) == {"domainId": 1, "priceTypes": [2], "dateRange": 3, "page": 4}
    assert query_of(mocked.calls[0].request.url) == {"key": KEY}
    assert request.headers["Accept-Encoding"] == "gzip"
    assert selection == {"priceTypes": [2], "dateRange": 3}  # the caller's dict is untouched
    assert page.page == 4
    assert len(page.deals) == 150
    assert page.deals[0].current_value(1) == 2499
    assert page.category_names == {283155: "Books"}


def test_a_deal_answer_without_results_may_omit_deals_and_is_an_empty_last_page(client, mocked):
    # Keepa leaves "deals" out when nothing matches (docs/keepa.md §4.3).
    mocked.post(DEAL_URL, json={**envelope(consumed=5), "dealsCached": False})

    pages = list(client.iter_deal_pages({"priceTypes": [2]}))

    assert len(pages) == 1 and pages[0].deals == () and pages[0].is_last
    assert pages[0].category_counts == {}
    assert client.tokens.tokens_consumed == 5


def test_a_product_whose_offers_keepa_could_not_collect_says_so(client, mocked):
    body = {
        **envelope(consumed=1),
        "products": [
            {"asin": "B000000001", "offersSuccessful": False, "offers": []},
            {"asin": "B000000002", "offersSuccessful": True, "offers": []},
            {"asin": "B000000003"},
        ],
    }
    mocked.get(PRODUCT_URL, json=body)

    failed, collected, unasked = client.products(
        ["B000000001", "B000000002", "B000000003"], offers=20
    )

    assert failed.offers_successful is False and failed.offers == ()
    assert collected.offers_successful is True
    assert unasked.offers_successful is None


def test_it_decodes_gzip_encoded_bodies_as_keepa_sends_them(client, mocked):
    mocked.post(
        DEAL_URL,
        body=gzip.compress(REAL_DEAL_PAGE.read_bytes()),
        headers={"Content-Encoding": "gzip"},
        content_type="application/json",
    )

    page = client.deals({"priceTypes": [2]})

    assert page.deals[0].asin == "B0916T3WFJ"
    assert len(page.deals) == 150
    assert client.tokens.tokens_left == 295


def test_iter_deal_pages_stops_after_the_first_short_page(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(150))
    mocked.post(DEAL_URL, json=deal_body(40, first=150))
    mocked.post(DEAL_URL, json=deal_body(150))  # must never be requested

    pages = list(client.iter_deal_pages({"priceTypes": [2]}))

    assert [p.page for p in pages] == [0, 1]
    assert [len(p.deals) for p in pages] == [150, 40]
    assert pages[-1].is_last
    assert len(mocked.calls) == 2


def test_iter_deal_pages_stops_at_page_66_where_keepas_10000_result_cap_ends(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(150))

    pages = list(client.iter_deal_pages({"priceTypes": [2]}, start_page=64))

    assert [p.page for p in pages] == [64, 65, 66]
    assert [json.loads(c.request.body)["page"] for c in mocked.calls] == [64, 65, 66]


def test_iter_deal_pages_sends_nothing_more_when_the_caller_breaks_out(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(150))

    for page in client.iter_deal_pages({"priceTypes": [2]}):
        assert page.page == 0
        break

    assert len(mocked.calls) == 1


def test_iter_deal_pages_honours_max_pages(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(150))

    pages = list(client.iter_deal_pages({"priceTypes": [2]}, start_page=3, max_pages=2))

    assert [p.page for p in pages] == [3, 4]
    assert len(mocked.calls) == 2


# Products, sellers, token status


def test_products_splits_150_asins_into_requests_of_100_and_50(client, mocked):
    mocked.add_callback(responses.GET, PRODUCT_URL, callback=echo_products)
    asins = [f"B{i:09d}" for i in range(150)]

    products = client.products(asins, stats=90)

    sent = [query_of(c.request.url)["asin"].split(",") for c in mocked.calls]
    assert [len(chunk) for chunk in sent] == [100, 50]
    assert sent[0] + sent[1] == asins
    assert [p.asin for p in products] == asins
    assert all(query_of(c.request.url)["stats"] == "90" for c in mocked.calls)


def test_products_sends_each_option_under_keepas_parameter_name(client, mocked):
    mocked.add_callback(responses.GET, PRODUCT_URL, callback=echo_products)

    client.products(
        ["B000000001"],
        offers=20,
        only_live_offers=True,
        stats=180,
        history=False,
        days=30,
        buybox=True,
        rating=True,
        update=0,
    )

    assert query_of(mocked.calls[0].request.url) == {
        "key": KEY,
        "domain": "1",
        "asin": "B000000001",
        "offers": "20",
        "only-live-offers": "1",
        "stats": "180",
        "history": "0",
        "days": "30",
        "buybox": "1",
        "rating": "1",
        "update": "0",
    }


@pytest.mark.parametrize("offers", [10, 19, 101, 0])
def test_products_refuses_an_offers_count_keepa_would_reject_before_sending(client, mocked, offers):
    with pytest.raises(ValueError, match="between 20 and 100"):
        client.products(["B000000001"], offers=offers)

    assert len(mocked.calls) == 0


def test_products_returns_nothing_when_keepa_omits_the_products_list(client, mocked):
    mocked.get(PRODUCT_URL, json=envelope())

    assert client.products(["NOTANASIN0"]) == []


def test_products_with_no_asins_sends_no_request(client, mocked):
    assert client.products([]) == []
    assert len(mocked.calls) == 0


def test_products_raises_api_error_when_keepa_answers_200_with_an_error(client, mocked):
    error = {"type": "invalidParameter", "message": "Bad ASIN.", "details": "asin"}
    mocked.get(PRODUCT_URL, json={**envelope(tokens_left=77), "error": error})

    with pytest.raises(ApiError) as caught:
        client.products(["B000000001"])

    assert caught.value.details == "asin"
    assert caught.value.error_type == "invalidParameter"
    assert caught.value.status == 200
    assert client.tokens.tokens_left == 77


def test_sellers_are_fetched_100_per_request_and_keyed_by_id(client, mocked):
    def callback(request):
        ids = query_of(request.url)["seller"].split(",")
        sellers = {
            sid: {"sellerId": sid, "sellerName": f"Shop {sid}", "currentRating": 97, "hasFBA": True}
            for sid in ids
            if sid != "UNKNOWN"
        }
        return (200, {}, json.dumps({**envelope(), "sellers": sellers}))

    mocked.add_callback(responses.GET, f"{BASE}/seller", callback=callback)
    ids = [f"A{i:012d}" for i in range(120)] + ["UNKNOWN"]

    sellers = client.sellers(ids)

    assert [len(query_of(c.request.url)["seller"].split(",")) for c in mocked.calls] == [100, 21]
    assert len(sellers) == 120
    assert sellers["A000000000007"].seller_name == "Shop A000000000007"
    assert sellers["A000000000007"].current_rating == 97
    assert sellers["A000000000007"].has_fba is True


def test_token_status_reads_the_free_token_endpoint(client, mocked):
    mocked.get(f"{BASE}/token", json=envelope(tokens_left=1200, refill_rate=20))

    status = client.token_status()

    assert status.tokens_left == 1200
    assert status.refill_rate == 20
    assert status.timestamp == NOW
    assert client.tokens == status


def test_the_token_status_follows_every_response_success_or_failure(client, mocked):
    mocked.post(DEAL_URL, json=deal_body(10, tokens_left=250))
    mocked.post(
        DEAL_URL,
        status=400,
        json={**envelope(tokens_left=245), "error": {"type": "invalidParameter", "details": "x"}},
    )
    mocked.post(DEAL_URL, status=429, json=envelope(tokens_left=-40, refill_rate=5))

    client.deals({"priceTypes": [2]})
    assert client.tokens.tokens_left == 250
    with pytest.raises(BadRequest):
        client.deals({"priceTypes": [2]})
    assert client.tokens.tokens_left == 245
    with pytest.raises(TokensExhausted):
        client.deals({"priceTypes": [2]})
    assert client.tokens.tokens_left == -40


# Token waits (HTTP 429)


def test_it_waits_for_the_refill_keepa_announces_then_retries(sleeps, mocked):
    # The 429 left Keepa 500 ms before our clock reads it: 19.5 s remain, plus a 1 s margin.
    client = KeepaClient(KEY, sleep=sleeps.append, clock=lambda: NOW.timestamp() + 0.5)
    mocked.post(DEAL_URL, status=429, json=envelope(tokens_left=0, refill_in=20_000))
    mocked.post(DEAL_URL, json=deal_body(12))

    page = client.deals({"priceTypes": [2]})

    assert sleeps == [pytest.approx(20.5)]
    assert len(page.deals) == 12
    assert len(mocked.calls) == 2


def test_it_also_waits_out_a_negative_balance_when_the_budget_allows(sleeps, mocked):
    client = KeepaClient(
        KEY, sleep=sleeps.append, clock=lambda: NOW.timestamp(), max_token_wait_s=120
    )
    mocked.post(DEAL_URL, status=429, json=envelope(tokens_left=-10, refill_in=30_000))
    mocked.post(DEAL_URL, json=deal_body(3))

    client.deals({"priceTypes": [2]})

    # 30 s to the refill + 10 tokens owed at 20/min (30 s) + 1 s margin.
    assert sleeps == [pytest.approx(61.0)]


def test_it_raises_tokens_exhausted_at_once_when_the_wait_exceeds_its_budget(
    client, sleeps, mocked
):
    mocked.post(DEAL_URL, status=429, json=envelope(tokens_left=-10, refill_in=30_000))

    with pytest.raises(TokensExhausted) as caught:
        client.deals({"priceTypes": [2]})

    assert sleeps == []
    assert len(mocked.calls) == 1
    assert caught.value.wait_s == pytest.approx(61.0)
    assert caught.value.status == 429
    assert caught.value.tokens.tokens_left == -10


def test_total_token_waiting_in_one_call_never_exceeds_max_token_wait_s(client, sleeps, mocked):
    # Keepa keeps answering 429 with a 20 s refill ahead (21 s with the margin).
    mocked.get(PRODUCT_URL, status=429, json=envelope(tokens_left=0, refill_in=20_000))

    with pytest.raises(TokensExhausted):
        client.products(["B000000001"])

    assert sleeps == [pytest.approx(21.0), pytest.approx(21.0)]
    assert sum(sleeps) <= client.max_token_wait_s
    assert len(mocked.calls) == 3


def test_a_local_clock_that_disagrees_with_keepa_falls_back_to_refill_in(sleeps, mocked):
    an_hour_fast = KeepaClient(KEY, sleep=sleeps.append, clock=lambda: NOW.timestamp() + 3600)
    mocked.post(DEAL_URL, status=429, json=envelope(tokens_left=0, refill_in=20_000))
    mocked.post(DEAL_URL, json=deal_body(1))

    an_hour_fast.deals({"priceTypes": [2]})

    assert sleeps == [pytest.approx(21.0)]  # not 1 s, which would hammer Keepa


# Transient failures


def test_it_retries_a_server_error_then_succeeds(client, sleeps, mocked):
    mocked.post(DEAL_URL, status=503, body="Service Unavailable")
    mocked.post(DEAL_URL, json=deal_body(5))

    page = client.deals({"priceTypes": [2]})

    assert len(page.deals) == 5
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= client.backoff_base_s


def test_it_raises_server_error_after_max_retries_plus_one_attempts(client, sleeps, mocked):
    mocked.post(DEAL_URL, status=500, json=envelope(tokens_left=90))

    with pytest.raises(ServerError) as caught:
        client.deals({"priceTypes": [2]})

    assert len(mocked.calls) == client.max_retries + 1 == 4
    assert caught.value.status == 500
    # Exponential backoff with full jitter: each pause is at most base * 2**n.
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.5 * 2**n for n, s in enumerate(sleeps))
    assert client.tokens.tokens_left == 90


def test_a_timeout_is_retried_then_raised_as_keepa_timeout(client, sleeps, mocked):
    mocked.post(DEAL_URL, body=requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)"))

    with pytest.raises(KeepaTimeout) as caught:
        client.deals({"priceTypes": [2]})

    assert len(mocked.calls) == 4
    assert len(sleeps) == 3
    assert caught.value.endpoint == "/deal"
    assert "timed out" in str(caught.value)


def test_a_connection_error_is_retried_then_raised_as_keepa_connection_error(
    client, sleeps, mocked
):
    # Nothing registered: responses refuses the connection, naming the full URL like requests.
    with pytest.raises(KeepaConnectionError) as caught:
        client.token_status()

    assert len(sleeps) == 3
    assert caught.value.endpoint == "/token"
    assert caught.value.status is None


def test_a_retry_that_succeeds_after_a_timeout_returns_the_result(client, sleeps, mocked):
    mocked.get(f"{BASE}/token", body=requests.exceptions.ConnectTimeout("connect timeout"))
    mocked.get(f"{BASE}/token", json=envelope(tokens_left=55))

    assert client.token_status().tokens_left == 55
    assert len(sleeps) == 1


# Malformed bodies and status mapping


def test_a_body_that_is_not_json_raises_malformed_response_naming_the_endpoint(client, mocked):
    mocked.post(DEAL_URL, body="<html><body>Bad gateway</body></html>")

    with pytest.raises(MalformedResponse, match="Keepa /deal returned malformed JSON"):
        client.deals({"priceTypes": [2]})

    assert len(mocked.calls) == 1  # not retried: Keepa may already have charged tokens


def test_a_truncated_gzip_body_raises_malformed_response(client, mocked):
    whole = REAL_DEAL_PAGE.read_bytes()
    mocked.post(
        DEAL_URL,
        body=gzip.compress(whole[: len(whole) // 2]),
        headers={"Content-Encoding": "gzip"},
    )

    with pytest.raises(MalformedResponse, match="Keepa /deal returned malformed JSON"):
        client.deals({"priceTypes": [2]})


def test_json_of_the_wrong_shape_raises_malformed_response(client, mocked):
    mocked.post(DEAL_URL, json={**envelope(), "deals": [1, 2, 3]})

    with pytest.raises(MalformedResponse, match="Keepa /deal"):
        client.deals({"priceTypes": [2]})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"error": {"type": "invalidParameter", "message": "Bad", "details": "dateRange"}},
            BadRequest,
        ),
        (401, {}, InvalidKey),
        (
            400,
            {"error": {"type": "invalidParameter", "message": "Invalid API key.", "details": ""}},
            InvalidKey,
        ),
        (400, {"error": {"type": "invalidKey", "message": "Nope"}}, InvalidKey),
        (402, {}, PaymentRequired),
        (404, {}, KeepaError),
        (405, {}, KeepaError),
    ],
)
def test_http_statuses_map_to_exceptions_without_retrying(
    client, sleeps, mocked, status, body, expected
):
    mocked.post(DEAL_URL, status=status, json={**envelope(), **body})

    with pytest.raises(KeepaError) as caught:
        client.deals({"priceTypes": [2]})

    assert type(caught.value) is expected
    assert caught.value.status == status
    assert sleeps == []
    assert len(mocked.calls) == 1


def test_bad_request_carries_keepas_details(client, mocked):
    error = {"type": "invalidParameter", "message": "Bad", "details": "priceTypes"}
    mocked.post(DEAL_URL, status=400, json={**envelope(), "error": error})

    with pytest.raises(BadRequest) as caught:
        client.deals({"priceTypes": [4]})

    assert caught.value.details == "priceTypes"
    assert "priceTypes" in str(caught.value)


# Pricing


def test_deal_cost_is_five_tokens_a_page():
    assert KeepaClient.estimate_deal_cost() == 5
    assert KeepaClient.estimate_deal_cost(pages=67) == 335


def test_product_cost_follows_keepas_price_list(client):
    assert client.estimate_product_cost(10) == 10
    assert client.estimate_product_cost(10, offers=20) == 120  # 2 offer pages x 6 tokens
    assert client.estimate_product_cost(1, offers=25) == 18  # 3 pages, upper bound
    assert client.estimate_product_cost(10, buybox=True) == 30
    assert client.estimate_product_cost(10, offers=20, buybox=True) == 120  # buybox ignored
    assert client.estimate_product_cost(10, rating=True, update=0) == 30
    assert client.estimate_product_cost(10, update=1) == 10
    with pytest.raises(ValueError):
        client.estimate_product_cost(1, offers=10)


# The API key never leaks


def _timeout(mocked):
    mocked.post(
        DEAL_URL,
        body=requests.exceptions.ReadTimeout(
            f"HTTPSConnectionPool(host='api.keepa.com', port=443): Read timed out. "
            f"(url: /deal?key={KEY})"
        ),
    )


def _status(status, body=None):
    def serve(mocked):
        mocked.post(DEAL_URL, status=status, json={**envelope(tokens_left=-5), **(body or {})})

    return serve


def _garbage(mocked):
    mocked.post(DEAL_URL, body=f"oops key={KEY}")


FAILURES = {
    "timeout": (_timeout, KeepaTimeout),
    "connection": (lambda mocked: None, KeepaConnectionError),
    "server error": (_status(500), ServerError),
    "bad request": (
        _status(400, {"error": {"type": "invalidParameter", "message": "Bad", "details": ""}}),
        BadRequest,
    ),
    "invalid key": (_status(401), InvalidKey),
    "payment": (_status(402), PaymentRequired),
    "not found": (_status(404), KeepaError),
    "tokens": (_status(429), TokensExhausted),
    "malformed": (_garbage, MalformedResponse),
    "error object": (_status(200, {"error": {"type": "x", "message": "y"}}), ApiError),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_the_api_key_appears_in_no_exception_or_log_line(client, mocked, caplog, kind):
    serve, expected = FAILURES[kind]
    serve(mocked)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(expected) as caught:
        client.deals({"priceTypes": [2]})

    exc = caught.value
    assert type(exc) is expected
    assert KEY not in str(exc)
    assert KEY not in repr(exc)
    assert all(KEY not in str(arg) for arg in exc.args)
    assert KEY not in "".join(traceback.format_exception(exc))
    assert exc.__context__ is None or KEY not in str(exc.__context__)
    assert caplog.records  # the client did log this request
    assert KEY not in caplog.text
    assert KEY not in repr(client)


def test_each_request_logs_one_debug_line_with_endpoint_status_and_tokens(client, mocked, caplog):
    mocked.post(DEAL_URL, json=deal_body(2, tokens_left=140))
    caplog.set_level(logging.DEBUG, logger="keepa_client")

    client.deals({"priceTypes": [2]})

    lines = [r.getMessage() for r in caplog.records if r.name == "keepa_client"]
    assert lines == ["Keepa POST /deal -> HTTP 200 tokensConsumed=5 tokensLeft=140"]


def test_urllib3_request_lines_are_logged_without_the_key(client, caplog):
    caplog.set_level(logging.DEBUG)

    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "api.keepa.com",
        443,
        "GET",
        f"/product?key={KEY}&domain=1&asin=B000000001",
        "HTTP/1.1",
        200,
        1234,
    )

    assert "/product?key=***&domain=1" in caplog.text
    assert KEY not in caplog.text


def test_the_client_repr_shows_where_it_points_but_not_the_key(client):
    assert repr(client) == "KeepaClient(base_url='https://api.keepa.com', domain=1)"


def test_a_client_without_a_key_is_refused():
    with pytest.raises(ValueError):
        KeepaClient("")
