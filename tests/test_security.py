"""Login throttling, the Content-Security-Policy and the caching of signed-in pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from freezegun import freeze_time

from deals.models import Deal, DealEvent
from dealsite.security import PrivateNoStoreMiddleware, client_ip

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
PASSWORD = "a-long-test-password"
ATTACKER = "203.0.113.5"
NEIGHBOUR = "198.51.100.20"
LOCKED = "Too many failed logins"


@pytest.fixture
def reseller(db) -> User:
    return User.objects.create_user("reseller", password=PASSWORD)


def log_in(client: Client, username: str, password: str, **meta: str) -> HttpResponse:
    return client.post("/login/", {"username": username, "password": password}, **meta)


def signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def fail_to_the_limit(client: Client, username: str = "reseller", **meta: str) -> HttpResponse:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = log_in(client, username, "wrong-guess", **meta)
        assert response.status_code == 200 and LOCKED not in response.content.decode()
    return log_in(client, username, "wrong-guess", **meta)


# -- login throttling ------------------------------------------------------------------------


def test_the_default_limit_is_a_handful_within_a_cool_off_of_minutes():
    assert 5 <= settings.AXES_FAILURE_LIMIT <= 10
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_after_the_limit_even_the_right_password_is_refused_until_the_cool_off_ends(reseller):
    client = Client(REMOTE_ADDR=ATTACKER)
    with freeze_time(NOW):
        last = fail_to_the_limit(client)
        assert last.status_code == 429
        assert LOCKED in last.content.decode() and "15 minutes" in last.content.decode()

    with freeze_time(NOW + timedelta(minutes=1)):
        refused = log_in(client, "reseller", PASSWORD)
        assert refused.status_code == 429
        html = refused.content.decode()
        assert LOCKED in html and 'name="password"' in html  # the login page, with its form
        assert not signed_in(client)

    # Every attempt during the lock starts it again: 15 minutes after the last one it lifts.
    with freeze_time(NOW + timedelta(minutes=15, seconds=30)):
        assert log_in(client, "reseller", PASSWORD).status_code == 429
    with freeze_time(NOW + timedelta(minutes=30, seconds=31)):
        response = log_in(client, "reseller", PASSWORD)
        assert response.status_code == 302 and response["Location"] == "/"
        assert signed_in(client)


def test_a_lock_leaves_other_users_and_other_addresses_alone(reseller):
    User.objects.create_user("partner", password=PASSWORD)
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert fail_to_the_limit(attacker).status_code == 429

    same_address_other_user = Client(REMOTE_ADDR=ATTACKER)
    assert log_in(same_address_other_user, "partner", PASSWORD).status_code == 302
    same_user_elsewhere = Client(REMOTE_ADDR=NEIGHBOUR)
    assert log_in(same_user_elsewhere, "reseller", PASSWORD).status_code == 302
    assert signed_in(same_user_elsewhere)


def test_a_good_login_clears_the_count_of_earlier_mistakes(reseller):
    client = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "reseller", "typo")
    assert log_in(client, "reseller", PASSWORD).status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "reseller", "typo")
    assert log_in(client, "reseller", PASSWORD).status_code == 302


def test_without_a_declared_proxy_a_forged_forwarded_for_does_not_lift_the_lock(reseller):
    client = Client(REMOTE_ADDR=ATTACKER)
    assert fail_to_the_limit(client).status_code == 429
    forged = log_in(client, "reseller", PASSWORD, HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert forged.status_code == 429


@override_settings(BEHIND_PROXY=True)
def test_behind_a_declared_proxy_the_address_the_proxy_wrote_is_the_client(reseller):
    proxy = "10.0.0.2"
    # Proxies append the address they saw; the client may have sent anything before it.
    attacker = Client(REMOTE_ADDR=proxy)
    meta = {"HTTP_X_FORWARDED_FOR": f"192.0.2.77, {ATTACKER}"}
    assert fail_to_the_limit(attacker, **meta).status_code == 429
    forged = {"HTTP_X_FORWARDED_FOR": f"192.0.2.99, {ATTACKER}"}
    assert log_in(attacker, "reseller", PASSWORD, **forged).status_code == 429

    # Another reader behind the same proxy signs in as the same user.
    neighbour = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert log_in(neighbour, "reseller", PASSWORD).status_code == 302


def test_the_client_address_comes_from_the_configured_header_and_proxy_count():
    factory = RequestFactory()
    request = factory.get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="198.51.100.1", HTTP_X_FORWARDED_FOR="a, b"
    )
    assert client_ip(request) == "10.0.0.2"  # no proxy declared
    with override_settings(BEHIND_PROXY=True):
        # A header that is no address (or absent) counts against the proxy, never lets through.
        assert client_ip(request) == "10.0.0.2"
        with override_settings(CLIENT_IP_HEADER="X-Real-IP"):
            assert client_ip(request) == "198.51.100.1"
    two_hops = factory.get(
        "/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9, 10.0.0.2"
    )
    with override_settings(BEHIND_PROXY=True, PROXY_COUNT=2):
        assert client_ip(two_hops) == "203.0.113.9"


# -- proxy and settings ----------------------------------------------------------------------


def _settings_in_subprocess(env: dict[str, str], expr: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    full_env.update({"DJANGO_SETTINGS_MODULE": "dealsite.settings", "DJANGO_DEBUG": "true", **env})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_x_forwarded_proto_is_trusted_only_when_a_proxy_is_declared():
    assert _settings_in_subprocess({}, "settings.SECURE_PROXY_SSL_HEADER") == "None"
    assert _settings_in_subprocess(
        {"DJANGO_BEHIND_PROXY": "true"}, "settings.SECURE_PROXY_SSL_HEADER"
    ) == str(("HTTP_X_FORWARDED_PROTO", "https"))


def test_a_client_saying_https_is_not_believed_without_a_proxy():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
    assert not request.is_secure()


def test_the_login_limit_and_cool_off_are_read_from_the_environment():
    out = _settings_in_subprocess(
        {"DJANGO_LOGIN_FAILURE_LIMIT": "8", "DJANGO_LOGIN_COOLOFF_MINUTES": "60"},
        "settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds()",
    )
    assert out == "8 3600.0"


# -- Content-Security-Policy -----------------------------------------------------------------


@pytest.fixture
def reader(reseller) -> Client:
    client = Client()
    client.force_login(reseller)
    return client


@pytest.fixture
def deal_with_history(db) -> Deal:
    now = timezone.now()
    deal = Deal.objects.create(
        asin="B000000001",
        title="A book",
        image_url="https://m.media-amazon.com/images/I/41abc.jpg",
        price_type=2,
        now_price=900,
        avg_price=3000,
        delta_percent=50,
        root_category=283155,
        first_seen_utc=now,
        last_seen_utc=now,
        changed_at=now,
        price_changed_at=now - timedelta(hours=1),
    )
    DealEvent.objects.create(
        asin=deal.asin, kind=DealEvent.Kind.ENTERED, field="now_price", new_value=1500,
        at=now - timedelta(days=3),
    )  # fmt: skip
    DealEvent.objects.create(
        asin=deal.asin, kind=DealEvent.Kind.CHANGED, field="now_price", old_value=1500,
        new_value=900, at=now - timedelta(days=1),
    )  # fmt: skip
    return deal


def policy(response: HttpResponse) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_every_page_carries_a_strict_policy(reader, deal_with_history):
    for url in ("/", "/deal/B000000001", "/costs", "/restrictions", "/api/deals"):
        directives = policy(reader.get(url))
        assert directives["default-src"] == ["'self'"], url
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["frame-ancestors"] == ["'none'"], url
        assert "https://m.media-amazon.com" in directives["img-src"]
    assert policy(Client().get("/login/"))["script-src"] == ["'self'"]


# What the policy would refuse: a script without src, a style element or attribute, an
# event-handler attribute, and htmx's own evaluated attributes (hx-on, js: values, filters).
INLINE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|<style[\s>]|\sstyle=|\son[a-z]+=|\shx-on|\"js:|"
    r"hx-trigger=\"[^\"]*\[",
    re.IGNORECASE,
)


def test_no_page_has_inline_script_style_or_event_handlers(reader, deal_with_history):
    pages = {
        url: reader.get(url).content.decode()
        for url in (
            "/",
            "/?sort=-price_changed_at",
            "/deal/B000000001",
            "/costs",
            "/restrictions",
            "/status",
        )
    }
    pages["/login/"] = Client().get("/login/").content.decode()
    # The rows the live poll sends: ask with an old cursor so every row comes back.
    pages["/live"] = reader.get("/live", {"cursor": "0"}).content.decode()
    assert '<svg class="spark' in pages["/"] and "<img" in pages["/"]  # the risky parts are there
    assert "<svg" in pages["/deal/B000000001"]
    for url, html in pages.items():
        assert not INLINE.findall(html), f"{url}: {INLINE.findall(html)}"


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(reader):
    html = reader.get("/").content.decode()
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html
    css = (ROOT / "static/css/site.css").read_text()
    assert ".htmx-request .htmx-indicator" in css  # the rule htmx would have injected


# -- Cache-Control ---------------------------------------------------------------------------


def test_signed_in_pages_api_and_csv_are_private_and_never_stored(reader, deal_with_history):
    for url in ("/", "/api/deals", "/deals.csv", "/deal/B000000001", "/api/total_deals"):
        response = reader.get(url)
        assert response.status_code == 200, url
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, (url, directives)


def test_static_files_stay_cacheable_for_a_signed_in_user(reseller):
    request = RequestFactory().get(f"{settings.STATIC_URL}css/site.css")
    request.user = reseller
    response = PrivateNoStoreMiddleware(lambda r: HttpResponse("body{}"))(request)
    assert not response.has_header("Cache-Control")
    page = RequestFactory().get("/")
    page.user = reseller
    assert "no-store" in PrivateNoStoreMiddleware(lambda r: HttpResponse())(page)["Cache-Control"]
