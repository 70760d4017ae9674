"""Saved searches and triage in a real browser: save the view, hide and watch from a row, the
buy list page, a phone's width.

Filled by a real sync against the Keepa simulator and served by `live_server`, like the
layout tests (tests/test_dashboard_layout_browser.py, whose logged-in page this reuses).
"""

from __future__ import annotations

import re

import pytest

from deals.models import Triage
from tests.test_dashboard_browser import CHROMIUM, CSP_MESSAGE
from tests.test_dashboard_layout_browser import (
    LAPTOP,
    PHONE,
    SCREENSHOTS,
    filled,  # noqa: F401 (the fixture)
    open_at,
    page_overflow,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


def wider_than_the_window(page) -> list[str]:
    """The first elements that stick out to the right (what to fix when a page scrolls)."""
    return page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
    )


def test_save_a_search_hide_and_watch_from_a_row_and_the_buy_list_shows_it(filled):  # noqa: F811
    from playwright.sync_api import expect

    base, page = filled
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if re.search(CSP_MESSAGE, m.text) else None
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    # Save the view on screen under a name; the menu opens it with one click.
    open_at(page, f"{base}/?sort=-roi_percent", LAPTOP)
    page.click("#saved-menu summary")
    page.fill("#saved-menu input[name=name]", "Best ROI")
    page.click("#saved-menu button[type=submit]")
    page.wait_for_url(f"{base}/?sort=-roi_percent")
    page.goto(f"{base}/")
    page.click("#saved-menu summary")
    page.click("#saved-menu >> text=Best ROI")
    page.wait_for_url(f"{base}/?sort=-roi_percent")

    rows = page.locator("#deal-rows tr")
    first, second = (rows.nth(i).get_attribute("id").removeprefix("deal-") for i in range(2))
    total = int(page.locator("#total-deals").inner_text().replace(",", ""))

    # Hide: the row gives way to one line with an Undo, and the count drops, without a reload.
    page.click(f"#deal-{first} button[value=hide]")
    expect(page.locator(f"#deal-{first}")).to_have_class("triage-gone")
    expect(page.locator(f"#deal-{first}")).to_contain_text("hidden")
    expect(page.locator("#total-deals")).to_have_text(f"{total - 1:,}")
    assert Triage.objects.get(asin=first).hidden

    # Watch: the row comes back marked as on the buy list.
    page.click(f"#deal-{second} button[value=watch]")
    expect(page.locator(f"#deal-{second} button[value=unwatch]")).to_be_visible()
    expect(page.locator(f"#deal-{second}")).to_have_class(re.compile(r"\bis-watched\b"))

    # After a reload the hidden deal is gone from the deals.
    page.reload()
    page.wait_for_selector("#deal-rows tr")
    expect(page.locator(f"#deal-{first}")).to_have_count(0)
    expect(page.locator("#total-deals")).to_have_text(f"{total - 1:,}")

    # The buy list holds the watched deal, with the same live row.
    page.click("header nav >> text=Buy list")
    page.wait_for_url(f"{base}/buy-list")
    expect(page.locator("#deal-rows tr")).to_have_count(1)
    expect(page.locator(f"#deal-{second} .now-price")).to_be_visible()
    expect(page.locator("#live-poller")).to_have_attribute("hx-get", re.compile("triage=watched"))

    # On a phone the buy list reads as cards and does not scroll sideways.
    open_at(page, f"{base}/buy-list", PHONE)
    page.screenshot(path=str(SCREENSHOTS / "buy-list-390.png"), full_page=True)
    assert page_overflow(page) <= 0, wider_than_the_window(page)
    expect(page.locator(f"#deal-{second} td.triage button[value=unwatch]")).to_be_visible()

    # Nor does the saved searches page, or the deal page with its triage panel.
    page.goto(f"{base}/searches")
    assert page_overflow(page) <= 0, wider_than_the_window(page)
    page.goto(f"{base}/deal/{second}")
    expect(page.locator("#triage-note")).to_be_visible()
    assert page_overflow(page) <= 0, wider_than_the_window(page)
    assert problems == [], problems
