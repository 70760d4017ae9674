from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deals import ingest
from deals.models import SyncRun


class Command(BaseCommand):
    help = "Run the upserter now, in the foreground, and print a one-line summary."

    def add_arguments(self, parser: CommandParser) -> None:
        sweep = parser.add_mutually_exclusive_group()
        sweep.add_argument("--full", action="store_true", help="read every /deal page")
        sweep.add_argument(
            "--incremental", action="store_true", help="stop at the watermark even if due"
        )

    def handle(self, *args: object, full: bool, incremental: bool, **options: object) -> None:
        choice = True if full else False if incremental else None
        sync = ingest.run(trigger="command", full=choice)
        if sync.status == SyncRun.Status.FAILED:
            raise CommandError(sync.summary())
        self.stdout.write(sync.summary())
