"""django-q2 entry points: one-line callers of the jobs."""

from __future__ import annotations

from deals import backfill, ingest, prune


def update_recent_deals(trigger: str = "schedule") -> str:
    try:
        return ingest.run(trigger=trigger).summary()
    finally:
        if trigger == "manual":
            ingest.release_run_request()


def prune_stale_deals() -> str:
    return prune.run().summary()


def backfill_all_deals(columns: list[str] | None = None, only_missing: bool = False) -> str:
    return backfill.run(columns, only_missing=only_missing, trigger="task").summary()


def recompute_columns(columns: list[str]) -> str:
    return f"{backfill.recompute_all(columns)} rows recomputed"
