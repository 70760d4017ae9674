"""The dashboard's layout in a real browser at a phone's, a laptop's and a desktop's width.

Filled by a real sync against the Keepa simulator, served by pytest-django's `live_server`,
looked at by Debian's Chromium through Playwright. Screenshots land in var/screenshots/ for a
person to look at (`dashboard-390.png`, ...).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from deals import ingest
from deals.config import load_config
from deals.models import Deal, SyncRun
from tests.deals_fixtures import ROOT, fast_client
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = ROOT / "var" / "screenshots"
PHONE, LAPTOP, DESKTOP = 390, 1366, 1920
# The fields a reseller decides on, in the order a phone's card shows them.
DECISION_CELLS = [
    "td.title",
    "td.now",
    'td[data-col="profit"]',
    'td[data-col="roi_percent"]',
    'td[data-col="sales_rank"]',
    "td.deal-status",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def filled(live_server, keepa, monkeypatch):
    """A logged-in browser page on a table filled by one sync (enriched: sellers known)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    run = ingest.run(trigger="test", client=fast_client(keepa))
    assert run.status == SyncRun.Status.OK and run.inserted > 50, run.summary()
    User.objects.create_user("reseller", password="a-long-test-password")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            # Offline: only our server answers (no product images from Amazon's CDN).
            context.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            page = context.new_page()
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "reseller")
            page.fill("#id_password", "a-long-test-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            yield live_server.url, page
        finally:
            browser.close()


def open_at(page, url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url)
    page.wait_for_selector("#deal-rows tr")


def page_overflow(page) -> int:
    """How far the document is wider than the window (0: no sideways scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [PHONE, LAPTOP, DESKTOP])
def test_neither_the_dashboard_nor_the_deal_page_scrolls_sideways(filled, width):
    base, page = filled
    open_at(page, f"{base}/", width)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{width}.png"))
    assert page_overflow(page) <= 0

    asin = page.locator("#deal-rows tr").first.get_attribute("id").removeprefix("deal-")
    page.goto(f"{base}/deal/{asin}")
    page.screenshot(path=str(SCREENSHOTS / f"deal-{width}.png"), full_page=True)
    assert page_overflow(page) <= 0


def test_on_a_phone_the_first_deal_reads_as_a_card_in_decision_order(filled):
    base, page = filled
    open_at(page, f"{base}/", PHONE)
    first = page.locator("#deal-rows tr").first
    first.scroll_into_view_if_needed()
    boxes = []
    for selector in DECISION_CELLS:
        cell = first.locator(selector)
        assert cell.is_visible(), selector
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE, (selector, box)
        boxes.append(box)
    # Title, then the buy price and its seller, then Profit, ROI and rank side by side,
    # then the status: top to bottom, left to right.
    title, now, profit, roi, rank, status = boxes
    assert title["y"] < now["y"] < profit["y"] < status["y"]
    assert profit["y"] == roi["y"] == rank["y"] and profit["x"] < roi["x"] < rank["x"]
    # Each value says what it is (the column headings are not shown on a phone).
    label = "e => getComputedStyle(e, '::before').content"
    assert first.locator('td[data-col="profit"]').evaluate(label) == '"Profit"'
    assert first.locator('td[data-col="roi_percent"]').evaluate(label) == '"ROI %"'
    first.screenshot(path=str(SCREENSHOTS / "dashboard-390-first-card.png"))


def test_on_a_laptop_the_table_fits_and_the_seller_is_not_cut_off(filled):
    base, page = filled
    open_at(page, f"{base}/", LAPTOP)
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth - e.clientWidth") <= 0  # no column clipped
    sellers = page.locator("#deal-rows td.now .offer .seller")
    assert sellers.count() > 0, "the sync checked no seller"
    longest = max(
        range(sellers.count()), key=lambda i: len(sellers.nth(i).inner_text())
    )  # the hardest case on the page
    seller = sellers.nth(longest)
    cell = seller.locator("xpath=ancestor::td[1]")
    assert seller.evaluate("e => e.scrollWidth <= e.clientWidth")
    seller_box, cell_box = seller.bounding_box(), cell.bounding_box()
    assert seller_box["x"] + seller_box["width"] <= cell_box["x"] + cell_box["width"] + 0.5
    assert "…" not in seller.inner_text()
    name = Deal.objects.filter(now_seller_name=seller.inner_text()).exists()
    assert name, "the seller's whole name is on the screen"


def test_a_deal_below_the_target_is_marked_in_colour_and_words(filled):
    base, page = filled
    target = load_config().seller_costs.target_markup_percent
    below = Deal.objects.filter(roi_percent__lt=target, profit__gte=0).order_by("roi_percent")
    assert below.exists(), "the simulated market has no deal below the target"
    # Lowest ROI first: the first row is below the target or a loss.
    open_at(page, f"{base}/?sort=roi_percent", LAPTOP)
    first = page.locator("#deal-rows tr").first
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1366-lowest-roi.png"))
    assert re.search(r"\bmisses\b", first.get_attribute("class"))
    cue = first.locator('td[data-col="roi_percent"] .cue')
    assert cue.is_visible()
    assert cue.inner_text().strip() in ("▼ below target", "✕ loss")
    colour = cue.evaluate("e => getComputedStyle(e).color")
    assert colour != first.locator("td.title a").evaluate("e => getComputedStyle(e).color")
    # The legend says what the marks mean.
    legend = page.locator(".legend")
    assert legend.is_visible()
    assert f"ROI under your {target:g} % target markup" in legend.inner_text()
    # A row that meets the target carries no such mark.
    open_at(page, f"{base}/?sort=-roi_percent", LAPTOP)
    best = page.locator("#deal-rows tr").first
    assert best.locator('td[data-col="roi_percent"] .cue').count() == 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1366-best-roi.png"))


def test_on_a_phone_the_columns_shown_follow_on_the_card_labelled(filled):
    base, page = filled
    open_at(page, f"{base}/", PHONE)
    first = page.locator("#deal-rows tr").first
    label = "e => getComputedStyle(e, '::before').content"
    # Shown by default beyond the decision cells: on the card, after them, each labelled.
    max_buy = first.locator('td[data-col="max_buy_total"]')
    assert max_buy.is_visible() and max_buy.evaluate(label) == '"Max buy"'
    rank, status = first.locator('td[data-col="sales_rank"]'), first.locator("td.deal-status")
    assert rank.bounding_box()["y"] < max_buy.bounding_box()["y"] < status.bounding_box()["y"]
    # Switched on in the Columns menu: on the card too (it did nothing on a phone).
    asin = first.get_attribute("id").removeprefix("deal-")
    assert not first.locator('td[data-col="asin"]').is_visible()
    page.click("#column-menu summary")
    page.check('#column-choice input[value="asin"]')
    from playwright.sync_api import expect

    expect(page.locator(f'#deal-{asin} td[data-col="asin"]')).to_have_text(asin)
    expect(page.locator(f'#deal-{asin} td[data-col="asin"]')).to_be_visible()
    assert page_overflow(page) <= 0
    first.screenshot(path=str(SCREENSHOTS / "dashboard-390-card-with-columns.png"))


def test_on_a_phone_a_search_shows_its_first_match_not_the_filter_form(filled):
    base, page = filled
    open_at(page, f"{base}/?delta_percent_min=10", PHONE)
    # The filters fold away once applied (all twenty fields filled the first screen).
    summary = page.locator("details.filters-box > summary")
    assert summary.inner_text() == "Filters (in use)"
    assert not page.locator("form.filters").is_visible()
    first = page.locator("#deal-rows tr").first
    assert first.bounding_box()["y"] < 900  # on the first screen (the window is 900 high)
    summary.click()
    assert page.locator("form.filters").is_visible()


def test_a_column_switched_on_stays_on_after_a_reload(filled):
    base, page = filled
    open_at(page, f"{base}/", DESKTOP)
    asin_cells = page.locator('#deals [data-col="asin"]')
    assert not asin_cells.first.is_visible()  # less-used: off by default
    page.click("#column-menu summary")
    page.check('#column-choice input[value="asin"]')
    assert asin_cells.first.is_visible()
    # The server drew only the chosen columns: the table is drawn again with this one filled.
    from playwright.sync_api import expect

    first = page.locator("#deal-rows tr").first
    asin = first.get_attribute("id").removeprefix("deal-")
    expect(page.locator(f'#deal-{asin} td[data-col="asin"]')).to_have_text(asin)
    expect(page.locator('#deals th[data-col="asin"]')).to_be_visible()
    page.reload()
    page.wait_for_selector("#deal-rows tr")
    assert page.locator('#deal-rows [data-col="asin"]').first.is_visible()
    assert page_overflow(page) <= 0
    page.click("#column-menu summary")
    page.click("#column-defaults")
    assert not page.locator('#deal-rows [data-col="asin"]').first.is_visible()


def test_the_refresh_spinner_shows_while_the_request_is_out(filled):
    base, page = filled
    open_at(page, f"{base}/", PHONE)
    spinner = page.locator("#refresh-spinner")
    assert not spinner.is_visible()
    # What htmx does to the indicator while the POST is out (site.css carries its rules,
    # since the Content-Security-Policy refuses htmx's injected style).
    spinner.evaluate("e => e.classList.add('htmx-request')")
    from playwright.sync_api import expect

    expect(spinner).to_be_visible()
    expect(spinner).to_have_css("opacity", "1")  # after its 200 ms fade-in
    box = spinner.bounding_box()
    assert box["width"] >= 12 and box["x"] + box["width"] <= PHONE


def test_on_a_phone_an_unverified_unchecked_deal_says_so_in_its_card(filled):
    base, page = filled
    open_at(page, f"{base}/", PHONE)
    asin = page.locator("#deal-rows tr").first.get_attribute("id").removeprefix("deal-")
    # What the verifier and a price change leave: in doubt, and its seller not checked since.
    Deal.objects.filter(asin=asin).update(
        status="unverified", status_reason="missing from the complete sweep", enriched_at=None
    )
    # An unverified deal ranks after every listed one, so it leaves the first page: find it.
    page.goto(f"{base}/?q={asin}")
    card = page.locator(f"#deal-{asin}")
    chips = card.locator("td.deal-status .chip")
    assert [c.strip() for c in chips.all_inner_texts()] == ["? unverified", "≈ seller not checked"]
    for i in range(chips.count()):
        box = chips.nth(i).bounding_box()
        assert box["x"] + box["width"] <= PHONE
    assert "missing from the complete sweep" in chips.first.get_attribute("title")
    # The reason is written out too: a phone has no hover.
    reason = card.locator("td.deal-status .status-reason")
    assert reason.inner_text().strip() == "missing from the complete sweep"
    box = reason.bounding_box()
    assert box["height"] > 0 and box["x"] + box["width"] <= PHONE
    card.screenshot(path=str(SCREENSHOTS / "dashboard-390-unverified-card.png"))
