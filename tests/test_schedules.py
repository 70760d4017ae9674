from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils.timezone import now
from django_q.models import Schedule

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def test_migrate_leaves_exactly_one_schedule_per_job():
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    names = sorted(Schedule.objects.values_list("name", flat=True))
    assert names == ["prune_stale_deals", "update_recent_deals", "worker_heartbeat"]
    update = Schedule.objects.get(name="update_recent_deals")
    assert update.func == "deals.tasks.update_recent_deals"
    assert (update.schedule_type, update.minutes) == (Schedule.MINUTES, 5)
    assert Schedule.objects.get(name="prune_stale_deals").minutes == 6 * 60


def test_editing_settings_and_rerunning_updates_the_schedules(settings, tmp_path):
    data = json.loads((ROOT / "settings.json").read_text())
    data.update(update_every_minutes=15, prune_every_hours=12)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    settings.DEALS_SETTINGS_FILE = path
    Schedule.objects.create(name="update_recent_deals", func="deals.tasks.update_recent_deals")

    out = StringIO()
    call_command("setup_schedules", stdout=out)
    call_command("setup_schedules", stdout=out)

    assert Schedule.objects.filter(name="update_recent_deals").count() == 1
    # From once a day to every 15 minutes: the next run comes within 15 minutes.
    data.update(update_every_minutes=1440, full_sweep_every_minutes=1440)
    path.write_text(json.dumps(data))
    call_command("setup_schedules", stdout=out)
    Schedule.objects.filter(name="update_recent_deals").update(next_run=now() + timedelta(days=1))
    data.update(update_every_minutes=15)
    path.write_text(json.dumps(data))
    call_command("setup_schedules", stdout=out)
    assert Schedule.objects.get(name="update_recent_deals").next_run <= now() + timedelta(
        minutes=15
    )
    assert Schedule.objects.get(name="update_recent_deals").minutes == 15
    assert Schedule.objects.get(name="prune_stale_deals").minutes == 12 * 60
    assert "every 15 min" in out.getvalue()


def test_a_bad_settings_file_stops_setup_schedules_with_the_field_named(settings, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"deal_query": {"domainId": 1, "priceTypes": [2]}, "prune_every_hours": 0}')
    settings.DEALS_SETTINGS_FILE = path
    with pytest.raises(Exception, match="prune_every_hours"):
        call_command("setup_schedules")


def test_the_scheduled_task_runs_the_upserter(keepa):
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler
    from django_q.tasks import result

    from deals.models import Deal, SyncRun

    Schedule.objects.filter(name="update_recent_deals").update(
        next_run=Schedule.objects.get(name="update_recent_deals").next_run.replace(year=2020)
    )
    scheduler(broker=get_broker())
    run = SyncRun.objects.get(kind="update")
    assert run.trigger == "schedule" and run.status == "ok"
    assert Deal.objects.count() == run.inserted > 0
    task_id = Schedule.objects.get(name="update_recent_deals").task
    assert result(task_id).startswith("ok:")


def test_the_heartbeat_schedule_records_that_the_worker_ran_a_task_and_saves_no_task_row():
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.scheduler import scheduler

    from deals.models import WorkerHeartbeat

    heartbeat = Schedule.objects.get(name="worker_heartbeat")
    assert (heartbeat.schedule_type, heartbeat.minutes) == (Schedule.MINUTES, 1)
    Schedule.objects.exclude(pk=heartbeat.pk).update(repeats=0)  # only the heartbeat is due
    Schedule.objects.filter(pk=heartbeat.pk).update(next_run=now() - timedelta(seconds=5))

    scheduler(broker=get_broker())

    beat = WorkerHeartbeat.latest()
    assert beat is not None and now() - beat.beat_at < timedelta(seconds=30)
    assert beat.pid is not None
    assert not Task.objects.exists()  # a working heartbeat leaves no row in the admin's list


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"deal_query": {"domainId": 1}, "token_reserve": 1' + "0" * 4999 + "}", "too long"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_migrate_survives_a_broken_settings_file_with_a_warning(
    settings, tmp_path, caplog, content, problem
):
    call_command("migrate", verbosity=0)
    before = sorted(Schedule.objects.values_list("name", "minutes"))
    path = tmp_path / "settings.json"
    path.write_text(content)
    settings.DEALS_SETTINGS_FILE = path

    with caplog.at_level("WARNING", logger="deals.apps"):
        call_command("migrate", verbosity=0)

    assert sorted(Schedule.objects.values_list("name", "minutes")) == before
    warning = [r.getMessage() for r in caplog.records if r.name == "deals.apps"]
    assert len(warning) == 1
    assert warning[0].startswith("schedules not updated: settings.json: invalid JSON")
    assert problem in warning[0]
