"""An alert rule made and tested in a real browser (Debian's Chromium through Playwright):
the saved-search link fills the form, the rule saves, "Send a test" reaches a webhook on
127.0.0.1, and the page shows it sent, under the site's strict Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from deals.alert_models import AlertRule
from tests.alert_receiver import receiver
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_deal_page_browser import PASSWORD, login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]

HOOK_SECRET = "hooksecretXq7v9Zp3"


def test_a_rule_is_made_from_a_search_and_sends_a_test_from_its_page(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    User.objects.create_user("reseller", password=PASSWORD)
    with receiver() as hook, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            login(page, live_server.url)
            page.goto(
                f"{live_server.url}/alerts/new?search=profit_min%3D20&name=Twenty+profit",
                wait_until="load",
            )
            assert page.input_value("#id_search") == "profit_min=20"
            assert page.input_value("#id_name") == "Twenty profit"
            page.fill("#id_destinations", hook.url(path=f"hook/{HOOK_SECRET}"))
            page.click("button.primary")
            page.wait_for_url(re.compile(r".*/alerts/\d+$"))
            assert HOOK_SECRET not in page.content()
            assert page.input_value("#id_destinations") == "json://…/**** #1"

            page.click("text=Send a test")
            page.wait_for_selector(".test-results")
            assert "json://…/****: sent" in page.inner_text(".test-results")
            assert [m["title"] for m in hook.messages] == ["Twenty profit: test message"]
            # The rule's recent messages list the test, sent.
            assert page.locator(".alert-history tr.sent").count() == 1
            # On a phone the messages read as small cards, with no sideways scroll.
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(page.url.removesuffix("/test"), wait_until="load")
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            cell = page.locator(".alert-history tr.sent td").first
            assert cell.evaluate("e => getComputedStyle(e, '::before').content") == '"When: "'
            assert problems == []  # nothing the Content-Security-Policy refused
        finally:
            browser.close()
    assert AlertRule.objects.get().search == "profit_min=20"
