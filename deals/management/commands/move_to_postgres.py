from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deals import move


class Command(BaseCommand):
    help = (
        "Copy every table of the app's database (or --from) into the PostgreSQL database "
        "--to, in one transaction, and verify each table by row count and checksum."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--to", required=True, help="the PostgreSQL database: postgres://user@host:5432/name"
        )
        parser.add_argument(
            "--from",
            dest="source",
            default="",
            help="the database to copy (default: the app's own, DATABASE_URL or var/db.sqlite3)",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="overwrite a target that already holds data (refused without it)",
        )
        parser.add_argument("--batch-size", type=int, default=move.BATCH_SIZE)

    def handle(
        self, *args: object, to: str, source: str, replace: bool, batch_size: int, **options: object
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            results = move.move(to, source, replace=replace, batch_size=batch_size, say=say)
        except move.MoveError as exc:
            raise CommandError(f"{exc}. Nothing was copied.") from None
        say(move.results_table(results))
        total = sum(r.source_rows for r in results)
        say(f"moved {total} rows in {len(results)} tables; every table verified")
