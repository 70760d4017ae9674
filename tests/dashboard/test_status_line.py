"""The status line: last sync, next run, tokens and failing syncs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from deals.models import SyncRun

pytestmark = pytest.mark.django_db

FAKE_KEY = "fk" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


def test_the_status_line_shows_last_sync_next_run_and_tokens(client):
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=7, seconds=30),
        finished_at=now - timedelta(minutes=7),
        tokens_left=1234,
        refill_rate=20,
    )
    Schedule.objects.update_or_create(
        name="update_recent_deals",
        defaults={
            "func": "deals.tasks.update_recent_deals",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "next_run": now + timedelta(minutes=3, seconds=10),
        },
    )

    html = client.get("/status").content.decode()

    assert "Last successful sync:" in html and "7 min ago" in html
    assert "Next run:" in html and "in 3 min" in html
    assert "1,234 left · +20/min" in html
    assert "failing" not in html


def test_the_status_line_warns_when_syncs_have_been_failing_with_the_key_redacted(client, settings):
    settings.KEEPA_API_KEY = FAKE_KEY
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE, status=SyncRun.Status.OK, started_at=now - timedelta(hours=1)
    )
    for minutes, error in (
        (30, "KeepaTimeout: read timed out"),
        (20, f"InvalidKey: Keepa refused key {FAKE_KEY}"),
    ):
        SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            status=SyncRun.Status.FAILED,
            started_at=now - timedelta(minutes=minutes),
            error=error,
        )

    for html in (client.get("/status").content.decode(), client.get("/").content.decode()):
        assert "Syncs are failing:" in html
        assert "the last 2 syncs since the last good one failed" in html
        assert "InvalidKey: Keepa refused key ***" in html
        assert FAKE_KEY not in html
