"""The deal page and the admin in a real browser (Debian's Chromium driven by Playwright), at a
phone's 390 px and a laptop's 1366 px: nothing scrolls sideways, the panels stack on the
phone, the chart scales, and long history keeps its numbers. Screenshots are saved under
var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deals.models import DealEvent, DealStatus, Seller
from keepa_client.wire import KEEPA_EPOCH_MINUTES
from tests.dashboard.helpers import make_deal
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
PASSWORD = "a-long-test-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


def a_deal_with_everything() -> str:
    asin = "0312850123"
    offers = [
        {
            "sellerId": f"A{i}SELLERWITHALONGID",
            "condition": 2 + i % 4,
            "isFBA": i % 2 == 0,
            "price": 2000 + 150 * i,
            "shipping": 399,
        }
        for i in range(8)
    ]
    make_deal(
        asin,
        title="The Left Hand of Darkness: 50th Anniversary Edition, with a very long subtitle "
        "that a publisher would never shorten",
        now_price=2191,
        now_total=2191,
        now_seller_id="A0SELLERWITHALONGID",
        now_seller_name="Granite State Media and More Books Wholesale",
        now_condition=3,
        now_is_fba=True,
        avg_price=6000,
        enriched_at=timezone.now(),
        max_buy_total=2100,
        status=DealStatus.UNVERIFIED,
        status_reason="missing from the complete sweep",
        status_at=timezone.now(),
        product_snapshot={
            "fbaFees": {"pickAndPackFee": 344},
            "referralFeePercentage": 15,
            "offers": offers,
            "history": {
                "end": int(timezone.now().timestamp() // 60) - KEEPA_EPOCH_MINUTES,
                "step": 1440, "type": 2, "months": {},
                "price": [3000 - 10 * i for i in range(101)],
                "box": [3200 - 10 * i for i in range(101)],
                "rank": [90_000 + 500 * (i % 7) for i in range(101)],
            },
        },
    )  # fmt: skip
    Seller.objects.create(seller_id="A0SELLERWITHALONGID", name="Granite State Media and More")
    start = timezone.now() - timedelta(days=20)
    DealEvent.objects.create(asin=asin, kind="entered", field="now_price", new_value=3000, at=start)
    price = 3000
    for i in range(14):  # more than 9 history items: two-digit numbers must stay readable
        new = price - 37 if i % 3 else price + 21
        DealEvent.objects.create(
            asin=asin,
            kind="changed",
            field="now_price",
            old_value=price,
            new_value=new,
            at=start + timedelta(days=1 + i),
        )
        price = new
    return asin


def login(page, base_url: str) -> None:
    page.goto(f"{base_url}/login/", wait_until="domcontentloaded")
    page.fill("#id_username", "reseller")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scroll)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


@pytest.mark.parametrize("width", [390, 1366])
def test_the_deal_page_fits_the_window_and_reads_top_down_on_a_phone(
    live_server, monkeypatch, width
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    asin = a_deal_with_everything()
    User.objects.create_user("reseller", password=PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            login(page, live_server.url)
            page.goto(f"{live_server.url}/deal/{asin}", wait_until="load")
            page.screenshot(path=str(SCREENSHOTS / f"deal-page-{width}.png"), full_page=True)

            assert overflow(page) <= 0
            buy = page.locator(".buy-box").bounding_box()
            fees = page.locator(".fee-box").bounding_box()
            chart = page.locator("svg.chart").bounding_box()
            assert buy["x"] >= 0 and buy["x"] + buy["width"] <= width
            assert chart["x"] + chart["width"] <= width  # the 720 px chart scales down
            if width == 390:
                assert fees["y"] >= buy["y"] + buy["height"]  # stacked, buy box first
                assert buy["y"] < 900  # the buy box starts on the first screen
                assert chart["width"] < 720
            else:
                assert abs(fees["y"] - buy["y"]) < 1  # side by side
            # Keepa's history chart: its labels stay readable (on a phone the chart scrolls
            # sideways inside its own box rather than shrinking them to 5 px).
            label = page.locator("svg.history-chart .axis text").first.bounding_box()
            assert label["height"] >= 9
            history = page.locator("figure.history").bounding_box()
            assert history["x"] >= 0 and history["x"] + history["width"] <= width
            # Today's end of the chart (the buy price's label, right) is on screen as it opens.
            buy_mark = page.locator("svg.history-chart .mark.buy text").bounding_box()
            assert history["x"] <= buy_mark["x"] and buy_mark["x"] + buy_mark["width"] <= width
            # The Buy button and the seller's full name are visible.
            assert page.locator("a.buy-button").is_visible()
            seller = page.locator(".buy-facts dd").first
            assert seller.inner_text().startswith("Granite State Media and More")
            assert seller.evaluate("e => e.scrollWidth <= e.clientWidth")
            # The 15 history items keep their numbers: the list leaves room for "15.".
            items = page.locator("ol.history li")
            assert items.count() == 15
            room = page.evaluate(
                "() => { const ol = document.querySelector('ol.history');"
                " const li = ol.querySelector('li');"
                " return li.getBoundingClientRect().left - ol.getBoundingClientRect().left; }"
            )
            digits = page.evaluate(
                "() => { const s = document.createElement('span'); s.textContent = '500. ';"
                " document.querySelector('ol.history li').append(s);"
                " const w = s.getBoundingClientRect().width; s.remove(); return w; }"
            )
            assert room >= digits
            # The internals are folded away until asked for.
            assert not page.locator("details.internals table").is_visible()
            page.locator("details.internals summary").click()
            assert page.locator("details.internals table").is_visible()
            assert overflow(page) <= 0
        finally:
            browser.close()


def test_the_admin_deal_list_fits_a_laptop(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    a_deal_with_everything()
    for i in range(20):
        make_deal(f"B{i:09d}", now_condition=2 + i % 4, now_total=1500 + i, root_category=283155)
    User.objects.create_superuser("reseller", password=PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            login(page, live_server.url)
            page.goto(f"{live_server.url}/admin/deals/deal/", wait_until="load")
            page.screenshot(path=str(SCREENSHOTS / "admin-deals-1366.png"), full_page=True)

            table = page.locator("#result_list").bounding_box()
            assert table["x"] + table["width"] <= 1366
            # The admin scrolls a too-wide list inside its box: every column must be in view.
            clipped = page.locator("#changelist .results").evaluate(
                "e => e.scrollWidth - e.clientWidth"
            )
            assert clipped <= 0
            assert overflow(page) <= 0
            assert page.locator("#changelist-filter").is_visible()
        finally:
            browser.close()
