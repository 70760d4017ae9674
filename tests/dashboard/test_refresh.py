"""Refresh Deals: starting a manual run and watching it."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from deals import ingest
from deals.models import JobLock, SyncRun

pytestmark = pytest.mark.django_db


def test_refresh_starts_one_manual_run_and_shows_its_outcome(client, monkeypatch):
    calls = []

    def fake_run(*, trigger: str = "schedule", **kwargs) -> SyncRun:
        calls.append(trigger)
        return SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            trigger=trigger,
            status=SyncRun.Status.OK,
            updated=12,
            inserted=3,
            price_drops=1,
            enriched=5,
            tokens_spent=40,
        )

    monkeypatch.setattr(ingest, "run", fake_run)

    response = client.post("/refresh", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert calls == ["manual"]  # tests run tasks in-process (sync): it has already run
    assert 'class="spinner"' in html and 'hx-trigger="every 1s"' in html
    status_url = unescape(re.search(r'hx-get="([^"]+)"', html).group(1))
    done = client.get(status_url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert "ok: 12 updated, 3 new, 1 price drop, 5 enriched, 40 tokens" in done.content.decode()
    assert 'id="status-line"' in done.content.decode()  # the status line is brought up to date


def test_refresh_while_a_sync_runs_starts_nothing(client):
    assert JobLock.acquire(ingest.LOCK_NAME, "elsewhere:1:x", timedelta(minutes=5))
    tasks = Task.objects.count()

    response = client.post("/refresh", headers={"HX-Request": "true"})

    assert "A sync is already running" in response.content.decode()
    assert "every 1s" not in response.content.decode()
    assert Task.objects.count() == tasks and not SyncRun.objects.exists()


def test_refresh_while_a_sync_is_queued_starts_nothing(client):
    payload = SignedPackage.dumps(
        {
            "id": uuid.uuid4().hex,
            "name": "scheduled",
            "func": "deals.tasks.update_recent_deals",
            "args": (),
            "kwargs": {},
        }
    )
    OrmQ.objects.create(key="deals", payload=payload, lock=timezone.now())

    response = client.post("/refresh", headers={"HX-Request": "true"})

    assert "A sync is already queued" in response.content.decode()
    assert OrmQ.objects.count() == 1 and not Task.objects.exists()
    assert not SyncRun.objects.exists()


def test_refresh_needs_a_csrf_token(user):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    JobLock.acquire(ingest.LOCK_NAME, "elsewhere:1:x", timedelta(minutes=5))

    assert csrf_client.post("/refresh").status_code == 403

    csrf_client.get("/")  # sets the CSRF cookie, as the page does for htmx's header
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post("/refresh", headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_refresh_is_post_only(client):
    assert client.get("/refresh").status_code == 405


def test_a_refresh_whose_task_has_not_finished_keeps_polling_then_gives_up(client):
    task_id = uuid.uuid4().hex

    pending = client.get(f"/refresh/{task_id}?since={int(timezone.now().timestamp())}")
    assert pending.status_code == 200 and 'hx-trigger="every 1s"' in pending.content.decode()

    stale = client.get(f"/refresh/{task_id}?since=1")
    assert stale.status_code == 286
    assert "is the background worker (qcluster) running?" in stale.content.decode()
