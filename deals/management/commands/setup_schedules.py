from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from deals.config import ConfigError, load_config
from deals.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules from settings.json (safe to re-run)."

    def handle(self, *args: object, **options: object) -> None:
        try:
            config = load_config()
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        for line in ensure_schedules(config):
            self.stdout.write(line)
