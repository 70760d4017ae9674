from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from keepa_simulator import cli


class Command(BaseCommand):
    help = "Serve the local Keepa simulator (the API at 127.0.0.1:8765 by default) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        cli.serve(options, write=write)
