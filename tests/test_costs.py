from __future__ import annotations

import json
import re
import stat
from dataclasses import asdict, replace
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import django_q.tasks
import pytest
import responses
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from deals import backfill, economics, formatting, tasks
from deals.columns import BY_NAME, COMPUTED
from deals.config import COST_LIMITS, load_config, parse_seller_costs
from deals.costs import ECONOMICS_COLUMNS
from deals.forms import SellerCostsForm
from deals.models import Deal, DealEvent
from tests.dashboard.helpers import live, live_url, shown_asins
from tests.deals_fixtures import write_settings

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def change_costs_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="deals", codename="change_seller_costs")


@pytest.fixture
def client():
    """A user the admin has allowed to change the costs."""
    user = User.objects.create_user("reseller", password="pw-for-tests-1")
    user.user_permissions.add(change_costs_permission())
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer():
    """A user without the permission: may look at the costs, not change them."""
    client = Client()
    client.force_login(User.objects.create_user("viewer", password="pw-for-tests-2"))
    return client


@pytest.fixture
def deals(settings, tmp_path):
    settings.DEALS_SETTINGS_FILE = write_settings(tmp_path)
    Deal.objects.bulk_create(
        Deal(
            asin=f"B{i:09d}",
            price_type=2,
            now_price=1500 + i,
            now_total=1500 + i,
            avg_price=4000,
            profit=-1,
            product_snapshot={"fbaFees": {"pickAndPackFee": 344}, "referralFeePercentage": 15.0},
            first_seen_utc=NOW,
            last_seen_utc=NOW,
            changed_at=NOW,
        )
        for i in range(120)
    )
    # A new deal still waiting for its first offers look-up: nothing to compute from yet.
    Deal.objects.create(
        asin="B999999999",
        price_type=2,
        now_price=2000,
        avg_price=5000,
        first_seen_utc=NOW,
        last_seen_utc=NOW,
        changed_at=NOW,
    )
    return settings.DEALS_SETTINGS_FILE


FORM = {
    "prep_fee": "0.75",
    "inbound_shipping": "0.60",
    "closing_fee": "1.80",
    "sales_tax_percent": "0",
    "tax_exempt": "on",
    "target_markup_percent": "40",
}


def test_the_costs_page_leads_back_to_the_deals(client, deals):
    html = client.get("/costs").content.decode()
    assert '<a href="/">← All deals</a>' in html
    assert '<a href="/">Deals</a>' in html  # and the top bar, on every page


def test_the_form_shows_the_current_costs(client, deals):
    html = client.get("/costs").content.decode()
    assert 'value="0.50"' in html and 'value="8.25"' in html


def test_saving_costs_writes_settings_and_recomputes_every_row_without_keepa(client, deals):
    before = json.loads(deals.read_text())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as keepa:
        response = client.post("/costs", FORM)
        assert len(keepa.calls) == 0
    assert response.status_code == 200
    assert "being recomputed" in response.content.decode()

    after = json.loads(deals.read_text())
    assert after["seller_costs"] == {
        "prep_fee_cents": 75,
        "inbound_shipping_cents": 60,
        "closing_fee_cents": 180,
        "sales_tax_percent": 0.0,
        "tax_exempt": True,
        "target_markup_percent": 40.0,
    }
    assert after["deal_query"] == before["deal_query"]  # the rest of the file is kept
    costs = load_config().seller_costs
    assert Deal.objects.get(asin="B999999999").profit is None  # waits; no token spent on it
    for deal in Deal.objects.exclude(asin="B999999999"):
        assert deal.profit == economics.for_deal(deal, costs).profit != -1
    # Tax-exempt, so the all-in cost is the offer plus prep and inbound only.
    assert Deal.objects.get(asin="B000000000").all_in_cost == 1500 + 75 + 60


def test_an_open_dashboard_shows_the_recomputed_profit_on_its_next_poll(client, deals):
    page = client.get("/")
    shown = shown_asins(page)
    assert len(shown) == 50
    url = live_url(page)
    changed_at = dict(Deal.objects.values_list("asin", "changed_at"))

    client.post("/costs", FORM)  # the recompute runs in the request (the test worker is sync)
    poll = live(client, url)

    assert poll.status_code == 200
    html = poll.content.decode()
    # The shown rows come back as they are, in place, with the new profit; no row flashes
    # (no deal changed in Keepa) and the page is not redrawn.
    assert shown_asins(poll) == shown
    assert 'id="deal-rows"' not in html and "flash" not in html
    for asin in shown:
        row = re.search(rf'<tr id="deal-{asin}".*?</tr>', html, re.S).group(0)
        profit = Deal.objects.get(asin=asin).profit
        assert profit != -1 and formatting.money(profit) in row
    # One event for the whole chunk of 121 deals, none per deal, and "changed" still
    # means a change in Keepa's data.
    assert DealEvent.objects.filter(kind=DealEvent.Kind.RECOMPUTED).count() == 1
    assert DealEvent.objects.exclude(kind=DealEvent.Kind.RECOMPUTED).count() == 0
    assert dict(Deal.objects.values_list("asin", "changed_at")) == changed_at
    # The next poll starts after the recompute: nothing more to send.
    assert live(client, live_url(poll)).status_code == 204


def test_a_recompute_resends_only_the_shown_rows_in_its_range(client, deals):
    url = live_url(client.get("/"))
    rows = list(Deal.objects.filter(asin__in=["B000000003", "B000000004"]))
    with transaction.atomic():
        Deal.objects.filter(pk__in=[d.pk for d in rows]).update(profit=4321)
        backfill.announce_recomputed(rows, ["profit"])

    poll = live(client, url)

    assert shown_asins(poll) == ["B000000003", "B000000004"]
    assert poll.content.decode().count("$43.21") == 2


def test_invalid_costs_are_named_and_change_nothing(client, deals):
    before = deals.read_text()
    response = client.post("/costs", FORM | {"sales_tax_percent": "45"})
    assert response.status_code == 200
    assert "less than or equal to 30" in response.content.decode()
    assert deals.read_text() == before
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1, None}


def test_costs_need_a_login(deals):
    response = Client().get("/costs")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"deal_query": {"domainId": 1}, "token_reserve": 1' + "0" * 4999 + "}", "too long"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_broken_settings_file_is_named_on_the_costs_page(client, deals, content, problem, method):
    deals.write_text(content)
    response = getattr(client, method)("/costs", FORM)
    assert response.status_code == 503
    page = response.content.decode()
    assert "settings.json cannot be read: settings.json: invalid JSON" in page
    assert problem in page
    assert deals.read_text() == content  # a broken file is never overwritten
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1, None}


def test_saving_unchanged_costs_writes_nothing_and_recomputes_nothing(client, deals):
    client.post("/costs", FORM)
    Deal.objects.update(profit=-1)  # any recompute would overwrite this
    inode, text, tasks = deals.stat().st_ino, deals.read_text(), Task.objects.count()

    response = client.post("/costs", FORM)

    assert response.status_code == 200
    assert "Nothing to save" in response.content.decode()
    assert deals.stat().st_ino == inode and deals.read_text() == text
    assert Task.objects.count() == tasks
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1}


def test_saving_costs_keeps_a_world_readable_file_world_readable(client, deals):
    # The worker may run as another user: a 0600 file would stop every job.
    deals.chmod(0o644)
    client.post("/costs", FORM)
    assert json.loads(deals.read_text())["seller_costs"]["prep_fee_cents"] == 75
    assert stat.S_IMODE(deals.stat().st_mode) == 0o644


def test_a_settings_file_that_cannot_be_written_is_named_and_nothing_is_recomputed(
    client, deals, monkeypatch
):
    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("deals.config.tempfile.mkstemp", refuse)
    before = deals.read_text()
    response = client.post("/costs", FORM)
    assert response.status_code == 503
    assert "settings.json: cannot be written (Permission denied)" in response.content.decode()
    assert 'value="0.75"' in response.content.decode()  # what the user typed is kept
    assert deals.read_text() == before
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1, None}


@pytest.mark.parametrize("key", [k for k, limit in COST_LIMITS.items() if limit[0] is not bool])
def test_the_form_takes_up_to_what_settings_json_takes_and_no_more(key):
    kind, _low, high = COST_LIMITS[key]
    field = key.removesuffix("_cents")  # the form asks for dollars
    top = Decimal(high) / (100 if kind is int else 1)
    form = SellerCostsForm(FORM | {field: str(top)})
    assert form.is_valid(), form.errors
    assert getattr(parse_seller_costs(asdict(form.to_costs())), key) == high
    too_much = SellerCostsForm(FORM | {field: str(top + Decimal("0.01"))})
    assert not too_much.is_valid()
    assert f"less than or equal to {top}" in str(too_much.errors[field])


def test_saving_costs_recomputes_every_column_the_costs_change(client, deals):
    # Found by computing each column under the old and the new costs, not by its declaration.
    old = load_config()
    form = SellerCostsForm(FORM)
    assert form.is_valid()
    new = replace(old, seller_costs=form.to_costs())
    deal = Deal.objects.get(asin="B000000007")
    moved = {c.name for c in COMPUTED if c.compute(deal, old) != c.compute(deal, new)}
    assert moved == set(ECONOMICS_COLUMNS)

    client.post("/costs", FORM)

    deal.refresh_from_db()
    for name in moved:
        assert getattr(deal, name) == BY_NAME[name].compute(deal, new)


# -- who may change the costs ----------------------------------------------------------------


def test_a_user_without_the_permission_sees_the_costs_read_only(viewer, deals):
    response = viewer.get("/costs")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="0.50"' in html and 'value="8.25"' in html  # the costs in use are shown
    assert html.count(" disabled") == len(COST_LIMITS)  # every field greyed out
    assert "Save costs" not in html
    assert "may view the costs but not change them" in html


def test_a_save_without_the_permission_is_403_and_writes_nothing(viewer, deals):
    before, inode = deals.read_text(), deals.stat().st_ino

    response = viewer.post("/costs", FORM)

    assert response.status_code == 403
    assert "Not saved" in response.content.decode()
    assert 'value="0.50"' in response.content.decode()  # the costs still in use
    assert deals.read_text() == before and deals.stat().st_ino == inode
    assert not Task.objects.exists() and not OrmQ.objects.exists()
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1, None}


def test_staff_may_change_the_costs_without_being_given_the_permission(deals):
    client = Client()
    client.force_login(User.objects.create_user("boss", password="pw-for-tests-3", is_staff=True))
    response = client.post("/costs", FORM)
    assert response.status_code == 200 and "being recomputed" in response.content.decode()
    assert load_config().seller_costs.prep_fee_cents == 75


def test_the_admin_may_let_a_group_change_the_costs(viewer, deals):
    editors = Group.objects.create(name="Cost editors")
    editors.permissions.add(change_costs_permission())
    User.objects.get(username="viewer").groups.add(editors)

    response = viewer.post("/costs", FORM)

    assert response.status_code == 200
    assert load_config().seller_costs.prep_fee_cents == 75


def test_the_demo_login_may_change_the_costs(deals, tmp_path, monkeypatch):
    from deals.management.commands import ensure_demo_user

    monkeypatch.setattr(ensure_demo_user, "PASSWORD_FILE", tmp_path / "demo-login.txt")
    out = StringIO()
    call_command("ensure_demo_user", stdout=out)
    password = out.getvalue().strip().split(" / ")[1]
    client = Client()
    assert client.login(username="demo", password=password)

    response = client.post("/costs", FORM)

    assert response.status_code == 200 and "being recomputed" in response.content.decode()
    assert load_config().seller_costs.prep_fee_cents == 75


# -- recomputes are coalesced ----------------------------------------------------------------


def run_queued_task(row: OrmQ) -> None:
    """What a worker does with a queued task: take it off the queue, then run it."""
    task = SignedPackage.loads(row.payload)
    row.delete()
    assert task["func"] == tasks.RECOMPUTE_TASK
    tasks.recompute_columns(*task["args"], **task["kwargs"])


def test_twenty_saves_queue_at_most_two_recomputes_and_the_last_save_wins(
    client, deals, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)  # queue for a worker, as in production
    queued = []
    real_async_task = django_q.tasks.async_task

    def counting_async_task(*args, **kwargs):
        queued.append(args[0])
        return real_async_task(*args, **kwargs)

    monkeypatch.setattr(django_q.tasks, "async_task", counting_async_task)

    def save(i: int) -> None:
        # $0.10, $0.11, ...: every save changes the costs.
        response = client.post("/costs", FORM | {"prep_fee": f"0.{10 + i}"})
        assert response.status_code == 200 and "being recomputed" in response.content.decode()

    for i in range(10):  # while the worker is busy elsewhere
        save(i)
    assert len(queued) == 1 and OrmQ.objects.count() == 1
    assert set(Deal.objects.values_list("profit", flat=True)) == {-1, None}  # nothing ran yet

    real_recompute_all = backfill.recompute_all

    def saves_while_running(columns):
        for i in range(10, 20):  # this run may already have read the costs it got: one more
            save(i)
        return real_recompute_all(columns)

    monkeypatch.setattr(backfill, "recompute_all", saves_while_running)
    run_queued_task(OrmQ.objects.get())
    assert len(queued) == 2 and OrmQ.objects.count() == 1

    monkeypatch.setattr(backfill, "recompute_all", real_recompute_all)
    run_queued_task(OrmQ.objects.get())

    assert queued == [tasks.RECOMPUTE_TASK] * 2 and not OrmQ.objects.exists()
    costs = load_config().seller_costs
    assert costs.prep_fee_cents == 29  # the last save
    for deal in Deal.objects.exclude(asin="B999999999"):
        assert deal.profit == economics.for_deal(deal, costs).profit != -1
    # The next save after the queue drained queues again.
    save(20)
    assert len(queued) == 3


def test_a_recompute_whose_queueing_failed_does_not_block_the_next_save(client, deals, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    with pytest.raises(ConnectionError):
        client.post("/costs", FORM)
    monkeypatch.undo()

    response = client.post("/costs", FORM | {"prep_fee": "0.99"})

    assert response.status_code == 200
    assert Deal.objects.get(asin="B000000000").all_in_cost == 1500 + 99 + 60  # recomputed
