"""Several workers on the Redis broker: two real `manage.py qcluster` processes with different host
names pull from one Redis queue and write to one PostgreSQL database; of several update runs
queued at once exactly one runs at a time, the others record "already running", and no deal is
lost or stored twice. The health report names every worker host it has seen.

The end-to-end test needs PostgreSQL and Redis (tests/services.py: skipped without them, except
in CI); everything listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from bench.workers import (
    HOSTS,
    beat_until_all_seen,
    claim_redis_database,
    open_queue,
    wait_for,
    workers,
)
from deals import health, tasks
from deals.models import WorkerHeartbeat
from tests.deals_fixtures import ROOT, SECRET, app_database_url
from tests.services import fresh_postgres_database, require_postgres, require_redis

UPDATES = 6


@pytest.mark.slow
def test_two_workers_on_redis_run_one_update_at_a_time_and_lose_no_deal(keepa, tmp_path):

    redis_url = require_redis()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres_database(require_postgres()))
        # A database of this test's own on the shared Redis server (the queue's name is fixed).
        redis_url = claim_redis_database(redis_url, stack)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="dealsite.settings",
            DJANGO_DEBUG="true",
            DJANGO_SECRET_KEY=django_settings.SECRET_KEY,  # the queue's payloads are signed
            DATABASE_URL=database_url,
            Q_BROKER_URL=redis_url,
            KEEPA_API_URL=keepa.url,
            KEEPA_API_KEY=SECRET,
            KEEPA_MAX_TOKEN_WAIT_S="0",
            DEALS_SETTINGS_FILE=str(django_settings.DEALS_SETTINGS_FILE),
        )
        db, queue = open_queue(env, database_url, redis_url, stack)

        def hosts_beating() -> set[str]:
            return {name for (name,) in db.execute("SELECT name FROM deals_workerheartbeat")}

        def update_runs() -> list[tuple]:
            return db.execute(
                "SELECT status, host, started_at, finished_at, inserted, deals_seen, note "
                "FROM deals_syncrun WHERE kind = 'update' ORDER BY started_at"
            ).fetchall()

        with workers(env, tmp_path):
            # Both workers are up and taking tasks once each has run a heartbeat.
            assert beat_until_all_seen(queue, hosts_beating, 90), (
                f"workers seen: {hosts_beating()}; logs in {tmp_path}"
            )

            for _ in range(UPDATES):
                queue(tasks.UPDATE_TASK, "schedule")
            done = wait_for(
                lambda: (
                    len(runs := update_runs()) == UPDATES
                    and all(run[0] != "running" for run in runs)
                ),
                300,
            )
            assert done, f"runs: {update_runs()}; logs in {tmp_path}"

        runs = update_runs()
        ran = [run for run in runs if run[0] != "skipped"]
        skipped = [run for run in runs if run[0] == "skipped"]
        # Every queued run is recorded once: none lost, none run twice.
        assert len(runs) == UPDATES
        # Several ran into the lock, and said so.
        assert skipped and all(run[6] == "already running" for run in skipped)
        assert all(run[0] == "ok" for run in ran), ran
        # One at a time: no two runs that did run overlap.
        spans = sorted((run[2], run[3]) for run in ran)
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
        # Both workers took update tasks off the queue.
        assert {run[1] for run in runs} == set(HOSTS)

        (deals,) = db.execute("SELECT count(*) FROM deals_deal").fetchone()
        (distinct,) = db.execute("SELECT count(DISTINCT asin) FROM deals_deal").fetchone()
        (entered,) = db.execute(
            "SELECT count(*) FROM deals_dealevent WHERE kind = 'entered'"
        ).fetchone()
        # Each deal stored once and entered once, as many as the runs inserted; every deal
        # the first sweep saw is there.
        assert deals == distinct == entered == sum(run[4] for run in ran) > 150
        assert deals >= ran[0][5]


@pytest.mark.django_db
def test_the_health_report_lists_every_worker_seen_and_judges_by_the_newest_beat():
    now = timezone.now()
    WorkerHeartbeat.objects.create(name="worker-a", beat_at=now - timedelta(minutes=30))
    WorkerHeartbeat.objects.create(name="worker-b", beat_at=now - timedelta(seconds=20))

    healthy, body = health.report(worker_only=True)

    # worker-a has not beaten for half an hour, but worker-b takes the tasks: healthy.
    assert healthy and body["worker"]["ok"]
    assert body["worker"]["age_seconds"] < 60
    assert [(w["host"], w["age_seconds"] // 60) for w in body["worker"]["workers"]] == [
        ("worker-b", 0),
        ("worker-a", 30),
    ]


@pytest.mark.django_db
def test_a_heartbeat_is_written_under_the_worker_host_name(monkeypatch):
    monkeypatch.setenv("DEALS_HOSTNAME", "worker-c")
    tasks.worker_heartbeat()
    beat = WorkerHeartbeat.latest()
    assert beat.name == "worker-c" and beat.owner.startswith("worker-c:")
    assert beat.pid == os.getpid()


def _broker_settings(url: str) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "from django_q.brokers import get_broker; "
        "print(settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER.get('redis'), "
        "type(get_broker()).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_", "Q_"))}
    env.update(DJANGO_SETTINGS_MODULE="dealsite.settings", DJANGO_DEBUG="true")
    if url:
        env["Q_BROKER_URL"] = url
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_q_broker_url_switches_django_q2_to_redis_and_its_absence_keeps_the_database_queue():
    assert _broker_settings("").stdout.split() == ["default", "None", "ORM"]
    url = "redis://127.0.0.1:6379/3"
    assert _broker_settings(url).stdout.split() == ["None", url, "Redis"]


def test_a_q_broker_url_that_is_not_redis_is_refused_without_echoing_it():
    result = _broker_settings("amqp://guest:hunter2@rabbit:5672/")
    assert result.returncode != 0
    assert "Q_BROKER_URL must be a Redis URL" in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_refresh_clicked_twice_queues_one_update_on_the_redis_broker():
    redis_url = require_redis()
    with contextlib.ExitStack() as stack:
        redis_url = claim_redis_database(redis_url, stack)
        code = (
            "import django; django.setup(); from deals import tasks; "
            "print(tasks.request_refresh()[1]); print(tasks.request_refresh()[1]); "
            "print(tasks._redis_queued_funcs())"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="dealsite.settings",
            DJANGO_DEBUG="true",
            DATABASE_URL=app_database_url(),
            Q_BROKER_URL=redis_url,
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
    assert result.returncode == 0, result.stderr[-2000:]
    first, second, queued = result.stdout.splitlines()
    assert first == "Starting the sync…"
    # The claim names a task that waits in Redis: the second click sees it, queues nothing.
    assert second == tasks.ALREADY_QUEUED
    assert queued == repr([tasks.UPDATE_TASK])
