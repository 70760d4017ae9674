"""How the dashboard shows values: money, times, conditions, stored fields and CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deals import formatting

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cents", "shown"),
    [(2149, "$21.49"), (0, "$0.00"), (123_456_789, "$1,234,567.89"), (-350, "\u2212$3.50")],
)
def test_money_is_dollars_with_a_typographic_minus_for_a_loss(cents, shown):
    assert formatting.money(cents) == shown


def test_a_missing_amount_is_a_dash_on_screen_and_empty_in_a_spreadsheet():
    assert formatting.money(None) == "\u2013"
    assert formatting.dollars(None) == ""


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=12, seconds=30), "12 min ago"),
        (timedelta(hours=47, minutes=59), "47 h ago"),
        (timedelta(days=3, hours=5), "3 d ago"),
        # Keepa's clock (whole minutes) may run ahead of ours: still a past event.
        (-timedelta(minutes=5), "just now"),
    ],
)
def test_relative_times_read_as_a_person_would_say_them(ago, shown):
    assert formatting.relative(NOW - ago, NOW) == shown


def test_a_future_time_reads_in_so_long_or_in_under_a_minute():
    assert formatting.relative(NOW + timedelta(minutes=3, seconds=10), NOW, future=True) == (
        "in 3 min"
    )
    assert formatting.relative(NOW + timedelta(seconds=20), NOW, future=True) == (
        "in under a minute"
    )
    assert formatting.relative(None, NOW) == "\u2013"


def test_a_time_shows_relative_with_the_exact_utc_time_on_hover():
    html = formatting.when_html(NOW - timedelta(minutes=12), NOW)
    assert html == (
        '<time class="rel" datetime="2026-01-05T11:48:00+00:00" '
        'title="2026-01-05 11:48:00 UTC">12 min ago</time>'
    )


def test_a_long_overdue_run_asks_whether_the_worker_runs():
    assert "overdue by 2 h (is qcluster running?)" in formatting.due_html(
        NOW - timedelta(hours=2), NOW
    )
    # Just past due: the scheduler and the worker take up to a minute, nothing is wrong yet.
    assert ">starting now<" in formatting.due_html(NOW - timedelta(seconds=30), NOW)
    assert ">in under a minute<" in formatting.due_html(NOW + timedelta(seconds=30), NOW)
    assert ">in 4 min<" in formatting.due_html(NOW + timedelta(minutes=4, seconds=30), NOW)
    assert "not scheduled" in formatting.due_html(None, NOW)


def test_a_stored_field_is_shown_by_its_kind():
    assert formatting.field_display("avg_price", 5399) == "$53.99"
    assert formatting.field_display("delta_percent", 57) == "57 %"
    # A loss reads the same in ROI as in Profit: a minus sign, not a hyphen.
    assert formatting.field_display("roi_percent", -12) == "\u221212 %"
    assert formatting.field_display("sales_rank", 1_234_567) == "1,234,567"
    assert formatting.field_display("root_category", 283155) == "Books"
    assert formatting.field_display("now_condition", 3) == "Very Good"
    assert formatting.field_display("now_total", -100) == "\u2212$1.00"
    assert formatting.field_display("title", "<b>Dune</b>") == "&lt;b&gt;Dune&lt;/b&gt;"
    assert "\u2013" in formatting.field_display("sales_rank", None)


@pytest.mark.parametrize(
    ("value", "kind", "cell"),
    [
        (1000, "money", "10.00"),
        (-5, "money", "-0.05"),  # spreadsheets need ASCII minus to read a number
        (datetime(2026, 1, 5, 7, 30, tzinfo=UTC), "datetime", "2026-01-05T07:30:00+00:00"),
        (468642, "category", "Video Games"),
        (12, "percent", 12),
        (None, "money", ""),
        (-1250, "money", "-12.50"),  # a negative amount is a number, not text to neutralise
        (-3, "percent", -3),
        ("Dune", "text", "Dune"),
        ("A = B + C", "text", "A = B + C"),  # only a leading sign starts a formula
    ],
)
def test_csv_cells_are_plain_values_a_spreadsheet_reads(value, kind, cell):
    assert formatting.csv_value(value, kind) == cell


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x.example","Dune")', "+1+cmd", "-2+3", "@SUM(A1)", "\tTab", "\rCR"],
)
def test_csv_text_that_a_spreadsheet_would_run_as_a_formula_is_quoted(text):
    assert formatting.csv_value(text, "text") == "'" + text


class _Run:
    """The fields of an update SyncRun that a Refresh's sentence reads."""

    def __init__(self, **fields) -> None:
        defaults = {"status": "ok", "note": "", "error": "", "updated": 0, "inserted": 0}
        defaults |= {"price_drops": 0, "enriched": 0, "tokens_spent": 0}
        self.__dict__.update(defaults | fields)


def test_a_refresh_says_what_it_did_in_a_sentence():
    run = _Run(updated=12, inserted=1, price_drops=2, enriched=5, tokens_spent=40)
    assert formatting.refresh_sentence(run, None, NOW) == (
        "Read Keepa's deal list: 1 new deal, 12 deals changed (2 price drops); "
        "5 sellers checked, 40 tokens used."
    )


def test_a_refresh_inside_keepas_cache_says_when_one_will_bring_prices():
    run = _Run(note=formatting.SWEEP_SKIPPED, tokens_spent=0)
    text = formatting.refresh_sentence(run, NOW + timedelta(seconds=75), NOW)
    assert text.startswith("No new prices: Keepa refreshes its deal list only every 2 minutes")
    assert "Refresh again in 1 min 15 s (after 12:01:15 UTC) for new prices." in text
    assert formatting.SWEEP_SKIPPED not in text  # the run note is translated, not repeated


def test_a_failed_refresh_says_nothing_changed_and_why():
    run = _Run(status="failed", error="Keepa answered HTTP 500")
    assert formatting.refresh_sentence(run, None, NOW) == (
        "The sync failed, so nothing changed: Keepa answered HTTP 500."
    )


def test_a_status_chip_reads_without_colour_and_carries_the_reason():
    from deals.models import Deal

    deal = Deal(status="unverified", status_reason="missing from the complete sweep")
    html = formatting.status_chips(deal)
    assert '<span aria-hidden="true">?</span> unverified' in html
    assert "missing from the complete sweep" in html
    # No offers look-up yet: the buy price is an estimate, and the row says so.
    assert "seller not checked" in html
    checked = Deal(status="listed", now_total=2000, enriched_at=NOW)
    assert "\u2713</span> listed" in formatting.status_chips(checked)
    assert "seller not checked" not in formatting.status_chips(checked)
    # The reason is written out, not only in a tooltip: a phone has no hover.
    assert '<span class="status-reason">missing from the complete sweep</span>' in html
    assert "status-reason" not in formatting.status_chips(checked)


def test_profit_before_the_seller_check_says_it_waits_for_it_not_a_bare_dash():
    from django.utils import timezone

    from deals.columns import BY_FIELD
    from deals.models import Deal

    unchecked = Deal(asin="6663976753", now_price=2317, est_landed=2716, profit=None)
    checked_without_fees = Deal(asin="2753704295", enriched_at=timezone.now(), profit=None)

    for field in ("profit", "roi_percent", "max_buy_total"):
        assert "after check" in formatting.column_cell(unchecked, BY_FIELD[field])
        assert formatting.column_cell(checked_without_fees, BY_FIELD[field]) == formatting.display(
            None, "money"
        )
    assert "after check" not in formatting.column_cell(unchecked, BY_FIELD["sales_rank"])


def test_a_wait_is_never_told_shorter_than_it_is():
    assert formatting.wait(0.2) == "1 s"
    assert formatting.wait(44.1) == "45 s"
    assert formatting.wait(111) == "1 min 51 s"
    assert formatting.wait(120) == "2 min"
    assert formatting.wait(3 * 3600) == "3 h"


def test_a_left_deal_says_its_figures_are_from_when_it_was_last_a_deal():
    from deals.models import Deal

    # The reason quotes today's price; the row beside it still shows the deal's old Now and
    # profit, greyed: the cell says which is which.
    left = Deal(status="left", status_reason="price $125.38 no longer below its average $122.24")
    html = formatting.status_chips(left)
    assert "price $125.38 no longer below its average $122.24" in html
    assert "prices and profit shown as when it was last a deal" in html
    listed = Deal(status="listed", now_total=2000, enriched_at=NOW)
    assert "when it was last a deal" not in formatting.status_chips(listed)
