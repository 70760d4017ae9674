"""A logged-in reader for the dashboard's tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def user(db):
    return User.objects.create_user("reseller", password="s3cret-pass")


@pytest.fixture
def client(user):
    client = Client()
    client.force_login(user)
    return client
