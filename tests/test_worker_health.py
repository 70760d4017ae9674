"""End to end: a real qcluster whose idle worker is killed stops running tasks for good
(django-q2's replacement worker waits forever on the task queue's lock), and /healthz says so."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task

from deals import health, tasks
from deals.models import WorkerHeartbeat
from tests.deals_fixtures import ROOT, app_database_url


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _probe() -> None:
    """Queue a heartbeat for the real worker (the tests otherwise run tasks in-process)."""
    async_task(tasks.HEARTBEAT_TASK, sync=False)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_idle_worker_freezes_the_cluster_and_healthz_reports_it(monkeypatch):
    Schedule.objects.update(repeats=0)  # nothing but the probes below runs
    monkeypatch.setattr(health, "WORKER_STALE_AFTER", timedelta(seconds=3))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY=django_settings.SECRET_KEY,  # the queue's payloads are signed
        DATABASE_URL=app_database_url(),
    )
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the cleanup ends all of it
    )
    try:
        _probe()
        assert _wait_for(lambda: WorkerHeartbeat.latest() is not None, 40), "no worker started"
        assert Client().get("/healthz/worker").status_code == 200
        first = WorkerHeartbeat.latest()
        worker_pid = first.pid
        assert worker_pid and worker_pid != cluster.pid

        os.kill(worker_pid, signal.SIGKILL)  # idle: it dies blocked on the task queue
        time.sleep(2)  # django-q2's guard starts a replacement within a second
        _probe()

        # The probe is taken off the database queue but never run, however long we wait.
        time.sleep(5)
        assert cluster.poll() is None
        assert WorkerHeartbeat.latest().beat_at == first.beat_at
        assert OrmQ.objects.filter(key="deals").count() == 1

        response = Client().get("/healthz/worker")
        body = json.loads(response.content)
        assert response.status_code == 503
        assert body["worker"]["ok"] is False
        assert body["problems"][0].startswith("worker: the background worker has not run a task")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)  # SIGTERM does not stop a frozen cluster
        cluster.wait(timeout=10)
