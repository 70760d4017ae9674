"""Every dashboard endpoint refuses anonymous readers."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.dashboard.helpers import make_deal

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/"),
        ("get", "/live?cursor=0"),
        ("get", "/status"),
        ("post", "/refresh"),
        ("get", f"/refresh/{'0' * 32}"),
        ("get", "/deal/B000000001"),
        ("get", "/deals.csv"),
    ],
)
def test_pages_send_anonymous_readers_to_the_login_form(method, url):
    make_deal("B000000001")
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
