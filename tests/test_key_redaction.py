"""The Keepa key, in any case or URL encoding, never reaches an exception, a log or a stored error.

Hostile responses are staged with `responses` at the client's seam: redirects whose `Location`
holds the key (requests lower-cases a URL's scheme, so an exact-text mask missed it), and
a 400 whose error object echoes the key back.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
import requests
import responses

from deals.keepa import redact_error
from deals.log_filters import RedactKeepaKey
from keepa_client import BadRequest, InvalidKey, KeepaClient, KeepaError, redact
from tests.deals_fixtures import SECRET, write_settings

BASE = "https://api.keepa.com"
ANY_KEEPA_URL = re.compile(rf"{re.escape(BASE)}/.*")


def percent_encoded(text: str, lower_hex: bool = False) -> str:
    """Every character %-escaped, as some encoders (and hostile servers) write it."""
    escaped = "".join(f"%{ord(c):02X}" for c in text)
    return escaped.lower() if lower_hex else escaped


# The key as it can come back: in another case, or encoded the ways URLs encode it.
KEY_FORMS = {
    "exact": SECRET,
    "lower": SECRET.lower(),
    "upper": SECRET.upper(),
    "mixed": SECRET.swapcase(),
    "percent-encoded": percent_encoded(SECRET),
    "percent-encoded, lower hex": percent_encoded(SECRET.upper(), lower_hex=True),
    "encoded twice": quote(percent_encoded(SECRET), safe=""),
    "half encoded": SECRET[:32] + percent_encoded(SECRET[32:].lower()),
}


def leaks_key(text: str) -> bool:
    """An independent check: the key, case folded, after undoing up to three URL encodings."""
    for _ in range(4):
        if SECRET.lower() in text.lower():
            return True
        text = unquote_plus(text)
    return False


def assert_no_key_in(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), *map(str, exc.args), "".join(traceback.format_exception(exc))]
    for name in ("message", "details", "error_type"):
        texts.append(str(getattr(exc, name, "")))
    for text in texts:
        assert not leaks_key(text), text
    assert exc.__context__ is None and exc.__cause__ is None


@pytest.fixture
def client() -> KeepaClient:
    return KeepaClient(SECRET, sleep=lambda s: None, max_token_wait_s=0)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def django_key(settings):
    settings.KEEPA_API_KEY = SECRET


# The masking itself


@pytest.mark.parametrize("form", KEY_FORMS)
def test_redact_masks_the_key_in_any_case_and_url_encoding(form):
    text = f"No connection adapters were found for '{KEY_FORMS[form]}://evil.example/x'"

    assert redact(text, SECRET) == "No connection adapters were found for '***://evil.example/x'"


def test_redact_masks_a_space_encoded_as_plus_and_leaves_other_text_alone():
    secret = "my secret key"

    assert redact(f"a={quote_plus(secret)}&b=1 my secret", secret) == "a=***&b=1 my secret"


def test_redact_masks_a_key_parameter_inside_an_encoded_url_without_knowing_the_key():
    nested = "next=" + quote("https://api.keepa.com/deal?key=abc123&page=2", safe="")

    masked = redact(nested)

    assert "abc123" not in masked
    assert masked.endswith("%26page%3D2")  # the parameters after the key survive


# Redirects: never followed, and Location never quoted


@pytest.mark.parametrize("status", [301, 302, 307])
@pytest.mark.parametrize("form", KEY_FORMS)
def test_a_redirect_whose_location_holds_the_key_is_not_followed_and_not_quoted(
    client, mocked, caplog, django_key, status, form
):
    key = KEY_FORMS[form]
    location = f"{key}://evil.example/?key={key}&k={key}"
    mocked.post(f"{BASE}/deal", status=status, headers={"Location": location})
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KeepaError) as caught:
        client.deals({"priceTypes": [2]})

    exc = caught.value
    assert exc.status == status
    assert f"HTTP {status}" in str(exc) and "redirect" in str(exc)
    assert len(mocked.calls) == 1  # the key was not sent on to wherever Location points
    assert_no_key_in(exc)
    assert not leaks_key(caplog.text)
    assert not leaks_key(redact_error(exc))


def test_a_redirect_to_another_host_does_not_carry_the_key_there(client, mocked):
    mocked.get(f"{BASE}/token", status=302, headers={"Location": "https://evil.example/steal"})
    stolen = mocked.get("https://evil.example/steal", json={})

    with pytest.raises(KeepaError, match="HTTP 302"):
        client.token_status()

    assert stolen.call_count == 0


# Keepa's error object echoing the key


@pytest.mark.parametrize("form", KEY_FORMS)
def test_a_400_whose_error_object_echoes_the_key_is_masked_in_every_attribute(
    client, mocked, caplog, django_key, form
):
    key = KEY_FORMS[form]
    error = {
        "type": f"invalidParameter {key}",
        "message": f"The queryJSON is of invalid format: {key}",
        "details": key,
    }
    mocked.post(f"{BASE}/deal", status=400, json={"tokensLeft": 5, "error": error})
    caplog.set_level(logging.DEBUG)

    with pytest.raises(BadRequest) as caught:
        client.deals({"priceTypes": [2]})

    exc = caught.value
    assert exc.message == "The queryJSON is of invalid format: ***"
    assert exc.details == "***"
    assert "The queryJSON is of invalid format" in str(exc)
    assert_no_key_in(exc)
    assert not leaks_key(caplog.text)
    assert not leaks_key(redact_error(exc))


def test_a_bad_key_message_quoting_the_key_is_masked(client, mocked):
    error = {"type": "invalidKey", "message": f"Unknown access key {SECRET.upper()}"}
    mocked.get(f"{BASE}/token", status=400, json={"error": error})

    with pytest.raises(InvalidKey) as caught:
        client.token_status()

    assert caught.value.message == "Unknown access key ***"
    assert_no_key_in(caught.value)


def test_a_200_whose_products_are_not_a_list_but_the_key_is_masked(client, mocked):
    body = {"tokensLeft": 5, "products": {"B000000001": SECRET.lower()}}
    mocked.get(f"{BASE}/product", json=body)

    with pytest.raises(KeepaError, match="unexpected shape") as caught:
        client.products(["B000000001"])

    assert_no_key_in(caught.value)


def test_a_product_quoting_the_key_in_a_bad_field_is_dropped_and_its_report_has_no_key(
    client, mocked, caplog
):
    body = {"tokensLeft": 5, "products": [{"asin": "B000000001", "lastUpdate": SECRET.lower()}]}
    mocked.get(f"{BASE}/product", json=body)

    products = client.products(["B000000001"])

    # One unreadable record costs itself, not the answer (keepa_client/records.py).
    assert list(products) == []
    assert [r.reason for r in products.rejected] == ["unreadable (TypeError)"]
    assert not leaks_key(f"{products.rejected} {[str(r) for r in products.rejected]}")
    assert not leaks_key(caplog.text)


# Exceptions from requests that are made of the URL


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (f"{SECRET}://api.keepa.com", "InvalidSchema"),
        ("api.keepa.com", "MissingSchema"),
        ("https://", "InvalidURL"),
    ],
)
def test_a_url_requests_refuses_raises_a_keepa_error_without_the_url(caplog, base_url, expected):
    client = KeepaClient(SECRET, base_url=base_url, sleep=lambda s: None)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KeepaError) as caught:
        client.token_status()

    assert expected in str(caught.value)
    assert "/token?" not in str(caught.value)
    assert_no_key_in(caught.value)
    assert not leaks_key(caplog.text)


def test_a_connection_error_names_the_failure_but_not_the_url(client, mocked):
    mocked.get(
        f"{BASE}/token",
        body=requests.ConnectionError(
            f"HTTPSConnectionPool(host='api.keepa.com', port=443): Max retries exceeded with "
            f"url: /token?key={SECRET.lower()} (Caused by NewConnectionError('Connection "
            f"refused'))"
        ),
    )

    with pytest.raises(KeepaError) as caught:
        client.token_status()

    text = str(caught.value)
    assert "Connection refused" in text and "host='api.keepa.com'" in text
    assert "url: <url>" in text
    assert_no_key_in(caught.value)


# What the app stores and logs


def test_redact_error_masks_a_requests_exception_that_bypassed_the_client(django_key):
    exc = requests.exceptions.InvalidSchema(
        f"No connection adapters were found for '{SECRET.lower()}://evil.example/?q=1'"
    )

    stored = redact_error(exc)

    assert stored == "InvalidSchema: No connection adapters were found for '<url>'"


@pytest.mark.parametrize("form", KEY_FORMS)
def test_the_log_filter_masks_the_key_in_any_case_or_encoding(django_key, form):
    record = logging.LogRecord(
        "deals", logging.ERROR, __file__, 1, "refresh failed: %s", (KEY_FORMS[form],), None
    )

    RedactKeepaKey().filter(record)

    assert record.getMessage() == "refresh failed: ***"


@pytest.mark.django_db
def test_a_run_that_meets_a_redirect_holding_the_key_stores_an_error_without_it(
    settings, tmp_path, mocked, django_key
):
    from deals import ingest
    from deals.models import SyncRun

    settings.KEEPA_API_URL = BASE
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    location = f"{SECRET.swapcase()}://evil.example/{quote(SECRET)}"
    for method in (responses.GET, responses.POST):
        mocked.add(method, ANY_KEEPA_URL, status=302, headers={"Location": location})

    sync = ingest.run(trigger="test", client=KeepaClient(SECRET, sleep=lambda s: None))

    assert sync.status == SyncRun.Status.FAILED
    assert "HTTP 302" in sync.error
    stored = SyncRun.objects.get(pk=sync.pk)
    assert not leaks_key(f"{stored.error} {stored.note}")
