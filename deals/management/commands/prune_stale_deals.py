from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deals import prune
from deals.models import SyncRun


class Command(BaseCommand):
    help = "Delete deals that successful full sweeps stopped seeing (guarded; see --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be removed; remove nothing"
        )

    def handle(self, *args: object, dry_run: bool, **options: object) -> None:
        sync = prune.run(dry_run=dry_run, trigger="command")
        if sync.status == SyncRun.Status.FAILED:
            raise CommandError(sync.summary())
        self.stdout.write(sync.summary())
