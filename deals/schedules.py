"""Create or update the django-q2 Schedules from settings.json, idempotently (keyed on name)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from deals import tasks
from deals.config import DealSettings

UPDATE = "update_recent_deals"
PRUNE = "prune_stale_deals"
HEARTBEAT = "worker_heartbeat"
HEARTBEAT_EVERY_MINUTES = 1


def ensure_schedules(config: DealSettings, using: str = "default") -> list[str]:
    """Make the schedules match `config`; return a line per schedule saying what happened."""
    wanted = {
        UPDATE: (tasks.UPDATE_TASK, config.update_every_minutes),
        PRUNE: (tasks.PRUNE_TASK, config.prune_every_hours * 60),
        HEARTBEAT: (tasks.HEARTBEAT_TASK, HEARTBEAT_EVERY_MINUTES),
    }
    report = []
    for name, (func, minutes) in wanted.items():
        # django-q2's Schedule.name is not unique: remove any duplicates a bare schedule() made.
        rows = list(Schedule.objects.using(using).filter(name=name).order_by("pk"))
        for extra in rows[1:]:
            extra.delete()
        defaults = {
            "func": func,
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
            # A heartbeat that worked leaves no Task row (one a minute would push the jobs'
            # results out of the admin's list); one that failed does.
            "kwargs": "q_options={'save': False}" if name == HEARTBEAT else None,
        }
        schedule, created = Schedule.objects.using(using).update_or_create(
            name=name, defaults=defaults
        )
        # A shorter interval takes effect now, not after the old, longer wait.
        soonest = timezone.now() + timedelta(minutes=minutes)
        if schedule.next_run and schedule.next_run > soonest:
            schedule.next_run = soonest
            schedule.save(update_fields=["next_run"])
        verb = "created" if created else "updated"
        report.append(
            f"{verb} schedule {name}: every {minutes} min, "
            f"next run {schedule.next_run:%Y-%m-%d %H:%M} UTC"
        )
    return report
