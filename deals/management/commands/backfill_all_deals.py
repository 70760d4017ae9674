from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deals import backfill
from deals.models import SyncRun


def _bar(state: backfill.Progress, width: int = 30) -> str:
    share = state.rows_done / state.total if state.total else 1.0
    filled = int(share * width)
    eta = f"{state.eta_s:,.0f} s" if state.eta_s is not None else "-"
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {state.rows_done:,}/{state.total:,} rows "
        f"{state.rate:,.0f} rows/s  ETA {eta}  tokens {state.tokens_spent:,} spent, "
        f"~{max(0, state.tokens_needed - state.tokens_spent):,} more"
    )


class Command(BaseCommand):
    help = (
        "Fill computed columns for every existing deal: recomputed from stored snapshots "
        "(0 tokens) or, where a snapshot lacks the data, fetched from Keepa within the budget."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--columns", help="comma-separated column names (default: all)")
        parser.add_argument(
            "--only-missing", action="store_true", help="only rows where a column is empty"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report changes and the token cost; write nothing",
        )
        parser.add_argument("--limit", type=int, help="stop after this many rows")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, *args: object, **options: object) -> None:
        names = [n.strip() for n in (options["columns"] or "").split(",") if n.strip()]
        tty = sys.stderr.isatty()

        def show(state: backfill.Progress) -> None:
            line = _bar(state)
            if tty:
                self.stderr.write("\r" + line, ending="")
            elif state.rows_done == state.total or state.rows_done % 10_000 < options["batch_size"]:
                self.stderr.write(line)

        try:
            sync = backfill.run(
                names,
                only_missing=options["only_missing"],
                dry_run=options["dry_run"],
                limit=options["limit"],
                batch_size=options["batch_size"],
                progress=show,
                trigger="command",
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if tty:
            self.stderr.write("")
        if sync.status == SyncRun.Status.FAILED:
            raise CommandError(sync.summary())
        prefix = "dry run: " if options["dry_run"] else ""
        self.stdout.write(f"{prefix}{sync.status}: {sync.note}")
