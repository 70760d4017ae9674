"""Refresh Deals: starting a manual run and watching it."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from deals import ingest, tasks
from deals.formatting import SWEEP_SKIPPED
from deals.models import JobLock, SyncRun, WorkerHeartbeat

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
    assert (
        "Sync finished: Read Keepa&#x27;s deal list: 3 new deals, 12 deals changed (1 price drop);"
        " 5 sellers checked, 40 tokens used." in done.content.decode()
    )
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


def test_a_waiting_refresh_says_so_when_the_worker_stops_meanwhile(client):
    task_id = uuid.uuid4().hex
    since = int(timezone.now().timestamp())
    beat = WorkerHeartbeat.objects.create(beat_at=timezone.now())
    waiting = client.get(f"/refresh/{task_id}?since={since}")
    assert "Queued, waiting for the background worker" in waiting.content.decode()

    # The worker's last task was 4 minutes ago: the queued sync will not start without it.
    WorkerHeartbeat.objects.filter(pk=beat.pk).update(beat_at=timezone.now() - timedelta(minutes=4))
    stopped = client.get(f"/refresh/{task_id}?since={since}")
    html = stopped.content.decode()
    assert stopped.status_code == 286  # the box stops polling and says why
    assert "The sync is queued, but the background worker has not run a task for 4 min" in html
    assert "restart it (manage.py qcluster)" in html and "Queued, waiting" not in html


# -- after a worker died mid-run ----------------------------------------------------------


def _dead_owner() -> str:
    """An owner token of a process on this machine that has exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:deadbeef0000"


def _update_row(task_id: str, *, taken_seconds_ago: float | None) -> OrmQ:
    """The queue row of an update task: waiting, or handed to a worker some time ago."""
    payload = SignedPackage.dumps(
        {"id": task_id, "name": "manual", "func": tasks.UPDATE_TASK, "args": ("manual",)}
        | {"kwargs": {}}
    )
    now = timezone.now()
    lock = now
    if taken_seconds_ago is not None:  # django-q2 marks a taken row until `retry` later
        lock = now + timedelta(seconds=settings.Q_CLUSTER["retry"] - taken_seconds_ago)
    return OrmQ.objects.create(key="deals", payload=payload, lock=lock)


def _fake_update_run(monkeypatch) -> list[str]:
    calls = []

    def fake_run(*, trigger: str = "schedule", **kwargs) -> SyncRun:
        calls.append(trigger)
        return SyncRun.objects.create(kind=SyncRun.Kind.UPDATE, trigger=trigger, status="ok")

    monkeypatch.setattr(ingest, "run", fake_run)
    return calls


def test_a_lock_held_by_a_dead_process_is_not_held():
    assert JobLock.acquire(ingest.LOCK_NAME, _dead_owner(), timedelta(minutes=10))
    assert not JobLock.is_held(ingest.LOCK_NAME)
    assert JobLock.acquire("other", JobLock.owner_token(), timedelta(minutes=10))
    assert JobLock.is_held("other")  # this process is alive


def test_refresh_right_after_a_worker_died_mid_run_queues_a_new_run(client, monkeypatch):
    # What a worker killed during a Refresh's run leaves behind: its task's queue row still
    # marked taken (for 12 minutes), the run's lock held by the dead process, the run left
    # "running", and the Refresh claim naming that task.
    dead_task = uuid.uuid4().hex
    _update_row(dead_task, taken_seconds_ago=40)
    dead = _dead_owner()
    assert JobLock.acquire(ingest.LOCK_NAME, dead, timedelta(minutes=10))
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        trigger="manual",
        started_at=timezone.now() - timedelta(seconds=39),
    )
    assert JobLock.acquire(tasks.REFRESH_CLAIM, f"task:{dead_task}", tasks.REFRESH_CLAIM_TTL)
    calls = _fake_update_run(monkeypatch)

    response = client.post("/refresh", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "already" not in html and 'hx-trigger="every 1s"' in html
    assert calls == ["manual"]  # the new run ran (in-process in tests)
    # The dead task's row is gone: it will not rerun the update 12 minutes from now.
    assert not any(row.task_id() == dead_task for row in OrmQ.objects.all())


def test_refresh_after_the_web_process_died_holding_the_claim_queues_a_new_run(client, monkeypatch):
    assert JobLock.acquire(tasks.REFRESH_CLAIM, _dead_owner(), tasks.REFRESH_CLAIM_TTL)
    calls = _fake_update_run(monkeypatch)

    client.post("/refresh", headers={"HX-Request": "true"})

    assert calls == ["manual"]


def test_refresh_while_a_claim_names_a_task_that_is_gone_queues_a_new_run(client, monkeypatch):
    # The task ran (or was lost) without giving the claim back; nothing is queued or running.
    assert JobLock.acquire(tasks.REFRESH_CLAIM, f"task:{uuid.uuid4().hex}", tasks.REFRESH_CLAIM_TTL)
    calls = _fake_update_run(monkeypatch)

    client.post("/refresh", headers={"HX-Request": "true"})

    assert calls == ["manual"]


def test_a_task_taken_by_the_worker_but_not_started_still_counts_as_queued(client, monkeypatch):
    # Handed to the worker after the last run began: it waits behind another task.
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE, status="ok", started_at=timezone.now() - timedelta(minutes=2)
    )
    waiting = uuid.uuid4().hex
    _update_row(waiting, taken_seconds_ago=30)
    assert JobLock.acquire(tasks.REFRESH_CLAIM, f"task:{waiting}", tasks.REFRESH_CLAIM_TTL)
    calls = _fake_update_run(monkeypatch)

    response = client.post("/refresh", headers={"HX-Request": "true"})

    assert "A sync is already queued" in response.content.decode()
    assert calls == [] and OrmQ.objects.count() == 1


def test_refresh_queued_behind_a_worker_that_stopped_says_to_restart_it(client):
    WorkerHeartbeat.objects.create(beat_at=timezone.now() - timedelta(minutes=9))
    _update_row(uuid.uuid4().hex, taken_seconds_ago=None)

    response = client.post("/refresh", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "A sync is queued, but the background worker has not run a task for 9 min" in html
    assert "restart it (manage.py qcluster)" in html


def test_a_refresh_inside_keepas_cache_says_when_a_refresh_will_bring_prices(client, monkeypatch):
    # A scheduled sweep read Keepa's deal pages 40 s ago: Keepa serves the same list for 120 s.
    SyncRun.objects.create(
        kind=SyncRun.Kind.UPDATE,
        status=SyncRun.Status.OK,
        pages=3,
        started_at=timezone.now() - timedelta(seconds=40),
        finished_at=timezone.now() - timedelta(seconds=30),
    )

    def cached_run(*, trigger: str = "schedule", **kwargs) -> SyncRun:
        return SyncRun.objects.create(
            kind=SyncRun.Kind.UPDATE,
            trigger=trigger,
            status=SyncRun.Status.OK,
            enriched=4,
            tokens_spent=28,
            note=SWEEP_SKIPPED,
        )

    monkeypatch.setattr(ingest, "run", cached_run)

    started = client.post("/refresh", headers={"HX-Request": "true"}).content.decode()
    assert re.search(
        r"can check sellers but not fetch new prices; that is possible again in 1 min \d+ s\.",
        started,
    )
    status_url = unescape(re.search(r'hx-get="([^"]+)"', started).group(1))
    done = unescape(client.get(status_url, headers={"HX-Request": "true"}).content.decode())

    assert "Sync finished: No new prices: Keepa refreshes its deal list only every 2 minutes" in (
        done
    )
    assert "4 sellers checked, 28 tokens used." in done
    assert re.search(
        r"Refresh again in 1 min \d+ s \(after \d\d:\d\d:\d\d UTC\) for new prices", done
    )
    assert SWEEP_SKIPPED not in done


def test_the_screen_and_the_update_run_agree_on_keepas_cache_time():
    from deals import dashboard

    assert dashboard.DEAL_CACHE == ingest.DEAL_CACHE
