"""Configuring alerts: the rule form (per-field checks, saved destinations kept masked), the
test button, pausing, the history page, the admin, and `manage.py alert_rule`; a destination's
secret never shows in any of them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from deals import alerts
from deals.alert_models import AlertDelivery, AlertRule
from tests.alert_receiver import receiver, refused_url

pytestmark = pytest.mark.django_db

HOOK_SECRET = "hooksecretXq7v9Zp3"
DISCORD = f"discord://112233445566/{HOOK_SECRET}"


@pytest.fixture
def hook():
    with receiver() as box:
        yield box


def secret_url(hook) -> str:
    return hook.url(userinfo=f"bot:{HOOK_SECRET}")


def test_the_form_says_what_is_wrong_beside_each_field_and_saves_nothing(admin_client):
    response = admin_client.post(
        reverse("alert_rule_new"),
        {
            "name": "Big",
            "search": "profit_min=abc&profti_min=20",
            "destinations": f"https://example.com/{HOOK_SECRET}\n{DISCORD}",
            "rearm_dollars": "1.00",
            "cap_per_hour": "20",
            "quiet_start": "22:00",
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "“profti_min” is not a dashboard filter" in html
    assert "profit_min (Profit from ($)): Enter a number." in html
    assert "line 1: https://…/**** is not a URL Apprise understands" in html
    assert "Give both ends of the quiet hours, or neither." in html
    # What was typed is not sent back: it may hold a secret (like a password field).
    assert "type the new destinations again" in html
    assert HOOK_SECRET not in html
    assert not AlertRule.objects.exists()


def test_a_saved_search_link_fills_the_new_rule_form(admin_client):
    url = reverse("alert_rule_new") + "?search=profit_min%3D20%26sales_rank_max%3D500000&name=Big"
    html = admin_client.get(url).content.decode()
    assert 'value="profit_min=20&amp;sales_rank_max=500000"' in html
    assert 'value="Big"' in html


def test_a_rule_is_saved_shown_masked_and_kept_when_edited(admin_client, hook):
    data = {
        "name": "Big",
        "search": "?profit_min=20",
        "destinations": f"{DISCORD}\n{secret_url(hook)}",
        "drop_percent": "10",
        "rearm_dollars": "2.50",
        "cap_per_hour": "5",
    }
    response = admin_client.post(reverse("alert_rule_new"), data)
    rule = AlertRule.objects.get()
    assert response.status_code == 302
    assert (rule.search, rule.destinations) == ("profit_min=20", [DISCORD, secret_url(hook)])
    assert (rule.rearm_cents, rule.drop_percent, rule.cap_per_hour) == (250, 10, 5)

    page = admin_client.get(reverse("alert_rule_edit", args=[rule.pk])).content.decode()
    assert HOOK_SECRET not in page
    assert "discord://…/**** #1\njson://…/**** #2" in page

    # Saved unchanged (the masked lines as shown), with one more destination: both kept.
    edited = {**data, "name": "Bigger", "destinations": "discord://…/**** #1\njson://…/**** #2"}
    edited["destinations"] += "\nntfy://my-deals-topic"
    response = admin_client.post(reverse("alert_rule_edit", args=[rule.pk]), edited)
    rule.refresh_from_db()
    assert response.status_code == 302
    assert rule.name == "Bigger"
    assert rule.destinations == [DISCORD, secret_url(hook), "ntfy://my-deals-topic"]
    listing = admin_client.get(reverse("alert_rules")).content.decode()
    assert "Bigger" in listing and "ntfy://…/****" in listing and HOOK_SECRET not in listing


def test_send_a_test_reaches_the_destination_and_a_failure_shows_its_error_without_secrets(
    admin_client, hook, caplog
):
    down = refused_url(userinfo=f"bot:{HOOK_SECRET}")
    rule = AlertRule.objects.create(name="Big", destinations=[secret_url(hook), down])
    response = admin_client.post(reverse("alert_rule_test", args=[rule.pk]))
    html = response.content.decode()

    assert len(hook.messages) == 1
    assert hook.messages[0]["title"] == "Big: test message"
    assert "Deals matching now: 0" in hook.messages[0]["message"]
    assert "json://…/****</code>: sent" in html
    assert 'json://…/****</code>: <span class="error">failed: ' in html
    statuses = sorted(AlertDelivery.objects.values_list("status", flat=True))
    assert statuses == ["failed", "sent"]

    history = admin_client.get(reverse("alert_history")).content.decode()
    assert "Failed" in history and "Sent" in history
    assert AlertDelivery.objects.get(status="failed").error in history
    for text in (
        html,
        history,
        caplog.text,
        *AlertDelivery.objects.values_list("error", flat=True),
    ):
        assert HOOK_SECRET not in text


def test_the_admin_lists_rules_and_history_with_destinations_masked(admin_client, hook):
    rule = AlertRule.objects.create(name="Big", destinations=[secret_url(hook)])
    admin_client.post(reverse("alert_rule_test", args=[rule.pk]))
    AlertRule.objects.filter(pk=rule.pk).update(destinations=[DISCORD, secret_url(hook)])
    pages = [
        reverse("admin:deals_alertrule_changelist"),
        reverse("admin:deals_alertrule_change", args=[rule.pk]),
        reverse("admin:deals_alertdelivery_changelist"),
        reverse("admin:deals_alertdelivery_change", args=[AlertDelivery.objects.first().pk]),
        reverse("admin:deals_alertrule_delete", args=[rule.pk]),
    ]
    for url in pages:
        response = admin_client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert HOOK_SECRET not in html, url
        if "delete" not in url:
            assert "****" in html, url


def test_a_paused_rule_says_so_and_resumes(admin_client):
    rule = AlertRule.objects.create(name="Big", destinations=["ntfy://topic"])
    admin_client.post(reverse("alert_rule_pause", args=[rule.pk]), {"paused": "true"})
    assert AlertRule.objects.get().paused
    assert "resume" in admin_client.get(reverse("alert_rules")).content.decode()
    admin_client.post(reverse("alert_rule_pause", args=[rule.pk]), {"paused": "false"})
    assert not AlertRule.objects.get().paused


def test_the_pages_need_a_login(client):
    for name in ("alert_rules", "alert_rule_new", "alert_history"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


# -- manage.py alert_rule ---------------------------------------------------------------


def command(*args: str) -> str:
    out = StringIO()
    call_command("alert_rule", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_the_command_adds_lists_tests_and_removes_a_rule(hook):
    out = command(
        "add", "--name", "Big", "--search", "profit_min=20&sales_rank_max=500000",
        "--notify", secret_url(hook), "--notify", DISCORD, "--rearm-cents", "300",
    )  # fmt: skip
    rule = AlertRule.objects.get()
    assert rule.destinations == [secret_url(hook), DISCORD]
    assert (rule.search, rule.rearm_cents) == ("profit_min=20&sales_rank_max=500000", 300)
    assert out.startswith("Added “Big” (active): search “profit_min=20&sales_rank_max=500000”")
    assert "json://…/****, discord://…/****" in out and "re-arm $3.00" in out

    listed = command("list")
    assert "“Big” (active)" in listed

    AlertRule.objects.filter(pk=rule.pk).update(destinations=[secret_url(hook)])
    tested = command("test", "Big")
    assert tested == "json://…/****: sent\n"
    assert hook.messages[0]["title"] == "Big: test message"

    assert command("remove", "Big") == "Removed “Big”.\n"
    assert not AlertRule.objects.exists()
    assert command("list") == "No alert rules.\n"
    for text in (out, listed, tested):
        assert HOOK_SECRET not in text


def test_the_command_explains_what_it_refuses(hook):
    with pytest.raises(CommandError) as bad:
        command("add", "--name", "Big", "--search", "profit_min=x", "--notify", "nope://x")
    message = str(bad.value)
    assert "--search: profit_min (Profit from ($)): Enter a number." in message
    assert "--notify: line 1: nope://…/**** is not a URL Apprise understands" in message
    assert not AlertRule.objects.exists()

    command("add", "--name", "Big", "--notify", "ntfy://topic")
    with pytest.raises(CommandError, match=r"--name: A rule with this name exists already\."):
        command("add", "--name", "Big", "--notify", "ntfy://topic")
    with pytest.raises(CommandError, match="no alert rule named “Small” \\(rules: Big\\)"):
        command("test", "Small")
    with pytest.raises(CommandError, match="no alert rule named “Small”"):
        command("remove", "Small")


def test_a_failing_test_from_the_command_is_an_error_without_secrets():
    AlertRule.objects.create(name="Down", destinations=[refused_url(f"bot:{HOOK_SECRET}")])
    out = StringIO()
    with pytest.raises(CommandError, match="the test of “Down” failed"):
        call_command("alert_rule", "test", "Down", stdout=out)
    assert out.getvalue().startswith("json://…/****: ")
    assert HOOK_SECRET not in out.getvalue()


@pytest.mark.parametrize("trouble", ["answers 500", "answers too slowly"])
def test_a_destination_in_trouble_is_recorded_as_failed_with_its_error(hook, settings, trouble):
    settings.ALERT_TIMEOUT_S = 1
    if trouble == "answers 500":
        hook.status = 500
    else:
        hook.delay_s = 3
    rule = AlertRule.objects.create(name="Big", destinations=[secret_url(hook)])
    [delivery] = alerts.send_test(rule)
    assert delivery.status == "failed"
    assert delivery.error and HOOK_SECRET not in delivery.error
    assert delivery.destination == "json://…/****"


def test_the_demo_receiver_prints_the_messages_a_rule_sends():
    import threading

    from deals.management.commands.alert_receiver import make_server

    out = StringIO()
    server = make_server(0, out)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        rule = AlertRule.objects.create(name="Demo", destinations=[f"json://127.0.0.1:{port}/"])
        [delivery] = alerts.send_test(rule)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert delivery.status == "sent"
    assert out.getvalue().startswith("=== Demo: test message\nThis is a test of the alert rule")
