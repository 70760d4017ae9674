from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from deals import ingest
from deals.models import Deal, SyncRun
from tests.deals_fixtures import ROOT, SECRET, app_database_url, next_cycle


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_leaves_whole_rows_and_the_next_run_succeeds(keepa, settings):
    keepa.quiet(True)
    keepa.fault(delay_s=0.7, count=200)  # slow Keepa down so the kill lands mid-sweep
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=app_database_url(),
        KEEPA_API_URL=keepa.url,
        KEEPA_API_KEY=SECRET,
        DEALS_SETTINGS_FILE=str(settings.DEALS_SETTINGS_FILE),
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "refresh_deals"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while Deal.objects.count() < 150 and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()
            time.sleep(0.1)
        assert Deal.objects.count() >= 150, "the worker never wrote its first page"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    # Every row is either absent or whole: the values agree with the stored deal object.
    assert Deal.objects.count() % 150 == 0
    for deal in Deal.objects.all():
        assert deal.title and deal.deal_snapshot["asin"] == deal.asin
        assert deal.now_price == deal.deal_snapshot["current"][2]
    assert SyncRun.objects.get().status == SyncRun.Status.RUNNING  # it died holding the lock

    keepa.fault(clear=True)
    next_cycle(keepa, minutes=3)
    sync = ingest.run(trigger="test")

    assert sync.status == SyncRun.Status.OK, sync.summary()
    assert sync.full_sweep and sync.sweep_complete
    dead = SyncRun.objects.exclude(pk=sync.pk).get()
    assert dead.status == SyncRun.Status.FAILED and "interrupted" in dead.error
    assert Deal.objects.count() == sync.deals_seen, sync.summary()
