from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings


def test_django_system_checks_pass():
    call_command("check", fail_level="ERROR")


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_a_missing_key_with_the_real_api_is_warned_about():
    from deals.checks import keepa_key_configured

    with override_settings(KEEPA_API_URL="https://api.keepa.com", KEEPA_API_KEY=""):
        warnings = keepa_key_configured(None)
    assert [w.id for w in warnings] == ["deals.W001"]
    with override_settings(KEEPA_API_URL="http://127.0.0.1:8765", KEEPA_API_KEY=""):
        assert keepa_key_configured(None) == []


@pytest.mark.django_db
def test_the_login_page_is_served_and_styled(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert "css/site.css" in html
    assert "django_htmx/htmx" in html  # htmx from django-htmx's static files, not a CDN


@pytest.mark.django_db
def test_the_dashboard_asks_for_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_demo_login_is_created_once(tmp_path, monkeypatch):
    from django.contrib.auth.models import User

    from deals.management.commands import ensure_demo_user

    monkeypatch.setattr(ensure_demo_user, "PASSWORD_FILE", tmp_path / "demo-login.txt")
    first, second = StringIO(), StringIO()
    call_command("ensure_demo_user", stdout=first)
    call_command("ensure_demo_user", stdout=second)
    assert first.getvalue() == second.getvalue()
    password = first.getvalue().strip().split(" / ")[1]
    assert User.objects.get(username="demo").check_password(password)


@pytest.mark.django_db
def test_the_favicon_is_served_not_a_404(client):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.ico"
    icon = finders.find("favicon.ico")
    assert icon and Path(icon).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.ico"' in page
