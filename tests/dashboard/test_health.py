"""GET /healthz: the database, the last successful sync and the worker's heartbeat."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

from deals import ingest
from deals.models import JobLock, SyncRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db

FAKE_KEY = "hk" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


@pytest.fixture
def scheduled():
    Schedule.objects.update_or_create(
        name="update_recent_deals",
        defaults={
            "func": "deals.tasks.update_recent_deals",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=3),
        },
    )


def _state(*, sync_minutes_ago: float, beat_minutes_ago: float | None) -> None:
    now = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        started_at=now - timedelta(minutes=sync_minutes_ago, seconds=20),
        finished_at=now - timedelta(minutes=sync_minutes_ago),
    )
    if beat_minutes_ago is not None:
        WorkerHeartbeat.objects.create(beat_at=now - timedelta(minutes=beat_minutes_ago))


def _get(path: str = "/healthz") -> tuple[int, dict]:
    response = Client().get(path)  # no login: a process manager has none
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_a_healthy_app_answers_200(scheduled):
    _state(sync_minutes_ago=2, beat_minutes_ago=0.5)

    status, body = _get()

    assert status == 200
    assert body["ok"] is True and body["problems"] == []
    assert body["database"]["ok"] and body["worker"]["ok"] and body["sync"]["ok"]
    assert body["worker"]["age_seconds"] == 30 and body["worker"]["limit_seconds"] == 180
    assert body["sync"]["limit_seconds"] == 17 * 60  # 3 intervals of 5 min + 2 min


def test_a_stale_heartbeat_is_503_with_the_reason_on_both_endpoints(scheduled, settings):
    settings.KEEPA_API_KEY = FAKE_KEY
    _state(sync_minutes_ago=2, beat_minutes_ago=5)
    SyncRun.objects.create(kind="update", status="failed", error=f"InvalidKey {FAKE_KEY}")

    for path in ("/healthz", "/healthz/worker"):
        response = Client().get(path)
        status, body = response.status_code, json.loads(response.content)
        assert status == 503 and body["ok"] is False
        assert body["worker"]["ok"] is False
        assert body["problems"] == [
            "worker: the background worker has not run a task for 5 min"
            " — restart it (manage.py qcluster)"
        ]
        assert FAKE_KEY not in response.content.decode()


def test_a_worker_that_never_ran_a_task_is_503(scheduled):
    status, body = _get("/healthz/worker")
    assert status == 503
    assert "never run a task" in body["problems"][0]


def test_stale_syncs_with_a_live_worker_fail_healthz_but_not_the_worker_check(scheduled):
    _state(sync_minutes_ago=25, beat_minutes_ago=0.5)

    status, body = _get()
    assert status == 503 and body["problems"] == ["sync: no successful sync for 25 min"]

    status, body = _get("/healthz/worker")
    assert status == 200 and body["worker"]["ok"]  # restarting the worker would not help


def test_a_worker_busy_with_a_live_run_is_healthy_though_its_heartbeat_waits(scheduled):
    _state(sync_minutes_ago=9, beat_minutes_ago=8)
    assert JobLock.acquire(ingest.LOCK_NAME, JobLock.owner_token(), timedelta(minutes=15))

    status, body = _get("/healthz/worker")

    assert status == 200 and body["worker"]["busy_with"] == "update_recent_deals"


def test_healthz_is_get_only():
    assert Client().post("/healthz").status_code == 405
