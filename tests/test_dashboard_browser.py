"""The live dashboard in a real browser (Debian's Chromium driven by Playwright).

Django serves the page from a thread of this process (pytest-django's `live_server`, on the
test database); the upserter runs from the test against the Keepa simulator, and the page
must follow without a reload.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from deals import formatting, ingest
from deals.models import Deal, DealEvent, SyncRun
from tests.deals_fixtures import fast_client, next_cycle

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One live poll is 5 s; a change shows within one poll plus the request.
LIVE_WAIT_MS = 15_000
# Chromium's own report of a refused resource, and the one the page's listener logs.
CSP_MESSAGE = r"Content Security Policy|CSP violation"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


def sync(keepa) -> SyncRun:
    next_cycle(keepa)  # past Keepa's 120 s /deal cache, or the sweep is skipped
    run = ingest.run(trigger="test", client=fast_client(keepa))
    assert run.status == SyncRun.Status.OK, run.summary()
    return run


def test_the_dashboard_follows_the_database_without_a_reload(live_server, keepa, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary blocking calls, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    keepa.quiet(True)  # only the changes this test makes
    first = ingest.run(trigger="test", client=fast_client(keepa))
    assert first.status == SyncRun.Status.OK and first.inserted > 50, first.summary()
    User.objects.create_user("reseller", password="a-long-test-password")
    total = Deal.objects.count()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            # The Content-Security-Policy must refuse nothing the page uses: every violation,
            # and every script error (htmx refused an eval, say), is collected; none may occur.
            refused: list[str] = []
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => console.error("
                "`CSP violation: ${e.violatedDirective} ${e.blockedURI}`))"
            )
            page.on(
                "console",
                lambda m: refused.append(m.text) if re.search(CSP_MESSAGE, m.text) else None,
            )
            page.on("pageerror", lambda error: refused.append(f"script error: {error}"))
            # Offline like the reseller's laptop on a train: only our server answers
            # (product images from Amazon's CDN are not fetched).
            page.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )

            # Log in through the form; land on the "what moved last" view.
            page.goto(f"{live_server.url}/?sort=-price_changed_at", wait_until="domcontentloaded")
            assert "/login/" in page.url
            page.fill("#id_username", "reseller")
            page.fill("#id_password", "a-long-test-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/?sort=-price_changed_at")
            rows = page.locator("#deal-rows tr")
            expect(rows).to_have_count(50)
            expect(page.locator("#total-deals")).to_have_text(f"{total:,}")
            # Offline, a product image cannot load: it is hidden, not a broken-image icon.
            expect(rows.first.locator("td.img img")).to_be_hidden()
            assert refused == [], refused
            page.evaluate("window.notReloaded = true")

            # A price drop on a deal shown on page 1 reaches its row by itself.
            shown = [i.removeprefix("deal-") for i in rows.evaluate_all("r => r.map(e => e.id)")]
            # One that still matches the shipped query after a $3 drop (Now >= $20, and
            # average - Now <= $99: `currentRange` and `deltaRange` in settings.json).
            deal = (
                Deal.objects.filter(asin__in=shown, now_price__gte=2300)
                .filter(avg_price__lte=F("now_price") + 9900 - 300)
                .order_by("asin")
                .first()
            )
            new_price = deal.now_price - 300
            keepa.set_offer(deal.asin, "ABROWSERTEST01", price=new_price, shipping=0, condition=2)
            sync(keepa)
            assert Deal.objects.get(asin=deal.asin).now_price == new_price
            expect(page.locator(f"#deal-{deal.asin} .now-price")).to_have_text(
                formatting.money(new_price), timeout=LIVE_WAIT_MS
            )
            assert page.evaluate("window.notReloaded") is True

            # A new deal appears where the sort puts it (its price is the newest: first row).
            created = keepa.post("/_sim/product", {"root_category": 283155})
            sync(keepa)
            assert Deal.objects.filter(asin=created["asin"]).exists()
            new_row = page.locator(f"#deal-{created['asin']}")
            expect(new_row).to_be_visible(timeout=LIVE_WAIT_MS)
            expect(new_row).to_have_class(re.compile(r"\bis-new\b"))
            expect(new_row.locator(".badge")).to_have_text("new")
            assert rows.first.get_attribute("id") == f"deal-{created['asin']}"
            expect(page.locator("#total-deals")).to_have_text(f"{total + 1:,}")
            assert page.evaluate("window.notReloaded") is True

            # Refresh: a spinner, then the run's outcome.
            next_cycle(keepa)
            page.click("#refresh-button")
            expect(page.locator("#refresh-status .spinner")).to_be_visible(timeout=10_000)
            expect(page.locator("#refresh-status")).to_contain_text(
                "Sync finished: Read Keepa", timeout=20_000
            )
            expect(page.locator("#refresh-status .spinner")).to_have_count(0)
            assert SyncRun.objects.filter(trigger="manual", status="ok").count() == 1
            assert refused == [], refused

            # A deal pruned (its "left" event and the delete in one transaction, as prune
            # does) leaves the table, and the count drops.
            gone = page.locator("#deal-rows tr").nth(3).get_attribute("id").removeprefix("deal-")
            with transaction.atomic():
                DealEvent.objects.create(asin=gone, kind=DealEvent.Kind.LEFT, reason="test")
                Deal.objects.filter(asin=gone).delete()
            expect(page.locator(f"#deal-{gone}")).to_have_count(0, timeout=LIVE_WAIT_MS)
            expect(page.locator("#total-deals")).to_have_text(f"{total:,}")
            expect(rows).to_have_count(50)  # the next deal moved up into the page
            assert page.evaluate("window.notReloaded") is True

            # The deal page: its price chart (the price drop above) under the same policy.
            page.click(f"#deal-{deal.asin} td.title a")
            page.wait_for_url(f"{live_server.url}/deal/{deal.asin}")
            expect(page.locator("svg.chart")).to_be_visible()
            expect(page.locator("svg.chart path")).to_have_count(1)
            assert refused == [], refused

            if os.environ.get("DASHBOARD_SCREENSHOT"):
                page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"])
        finally:
            browser.close()


def test_a_deal_that_leaves_disappears_from_the_page_and_the_count(live_server, keepa, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    keepa.quiet(True)
    first = ingest.run(trigger="test", client=fast_client(keepa))
    assert first.status == SyncRun.Status.OK, first.summary()
    User.objects.create_user("reseller", password="a-long-test-password")
    total = Deal.objects.count()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            page.goto(f"{live_server.url}/", wait_until="domcontentloaded")
            page.fill("#id_username", "reseller")
            page.fill("#id_password", "a-long-test-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            expect(page.locator("#total-deals")).to_have_text(f"{total:,}")
            page.evaluate("window.notReloaded = true")

            # The top row sells out: every copy is taken off the market.
            top = page.locator("#deal-rows tr").first.get_attribute("id").removeprefix("deal-")
            for seller in keepa.market_offers(top):
                keepa.post("/_sim/remove_offer", {"asin": top, "seller_id": seller})
            # Three runs five minutes apart: the third is a complete sweep, which misses it,
            # and its check finds it sold out.
            for _ in range(3):
                sync(keepa)
            deal = Deal.objects.get(asin=top)
            assert (deal.status, deal.status_reason) == ("left", "no used offer: sold out")

            expect(page.locator(f"#deal-{top}")).to_have_count(0, timeout=LIVE_WAIT_MS)
            expect(page.locator("#total-deals")).to_have_text(f"{total - 1:,}")
            assert page.evaluate("window.notReloaded") is True

            # Kept, and listed on request with the reason.
            page.goto(f"{live_server.url}/?status=left", wait_until="domcontentloaded")
            status = page.locator(f"#deal-{top} td.deal-status")
            expect(status.locator(".chip-bad")).to_have_text("\u2715 left")
            expect(status.locator(".status-reason")).to_have_text("no used offer: sold out")
            expect(status.locator(".status-reason")).to_be_visible()
            # Its greyed prices are the deal's old ones, and the row says so.
            expect(status.locator(".status-note")).to_have_text(
                "prices and profit shown as when it was last a deal"
            )
        finally:
            browser.close()


def test_saved_costs_reach_an_open_dashboard_without_a_reload(live_server, keepa, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    from deals.views import TABLE_COLUMNS

    keepa.quiet(True)
    first = ingest.run(trigger="test", client=fast_client(keepa))
    assert first.status == SyncRun.Status.OK and first.enriched > 0, first.summary()
    User.objects.create_user("reseller", password="a-long-test-password", is_staff=True)
    # The profit cell: after the image cell, in the table's column order.
    profit_cell = 1 + [c.name for c in TABLE_COLUMNS].index("profit")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            context.route(
                re.compile(r"^(?!" + re.escape(live_server.url) + ").*"),
                lambda route: route.abort(),
            )
            page = context.new_page()
            page.goto(f"{live_server.url}/", wait_until="domcontentloaded")
            page.fill("#id_username", "reseller")
            page.fill("#id_password", "a-long-test-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            rows = page.locator("#deal-rows tr")
            expect(rows).to_have_count(50)
            shown = [i.removeprefix("deal-") for i in rows.evaluate_all("r => r.map(e => e.id)")]
            deal = Deal.objects.filter(asin__in=shown, profit__isnull=False).order_by("asin")[0]
            cell = page.locator(f"#deal-{deal.asin} td").nth(profit_cell)
            expect(cell).to_contain_text(formatting.money(deal.profit))
            page.evaluate("window.notReloaded = true")

            # The reseller raises their prep fee in another tab (the same login).
            costs = context.new_page()
            costs.goto(f"{live_server.url}/costs", wait_until="domcontentloaded")
            costs.fill("#id_prep_fee", "4.50")
            costs.click("button:has-text('Save costs')")
            expect(costs.locator("body")).to_contain_text("being recomputed")
            now = Deal.objects.get(asin=deal.asin).profit
            assert now is not None and now < deal.profit  # $4 more prep: $4 less profit
            assert deal.profit - now == 400

            # The dashboard tab shows the new profit by itself.
            expect(cell).to_contain_text(formatting.money(now), timeout=LIVE_WAIT_MS)
            assert page.evaluate("window.notReloaded") is True
            expect(page.locator(f"#deal-{deal.asin}")).not_to_have_class(re.compile(r"\bflash\b"))
        finally:
            browser.close()
