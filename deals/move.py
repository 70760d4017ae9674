"""Move the app's data from one database (the SQLite file it started on) to PostgreSQL, and
prove the copy: row count and checksum per table, computed the same way on both sides.

What is copied is derived, not listed: every table of every installed app (the deals app
whatever models it gains, users and their permissions, django-q2's schedules and task results,
the admin's history), in foreign-key order, except `SKIPPED` below.

One transaction on the target: its tables are emptied, filled in batches, their sequences moved
past the copied ids, then read back and checked, and only a copy whose every table matches is
committed. Killed at any point, PostgreSQL rolls the whole copy back, so the target is as it was
before the run (its schema migrated, its tables empty), and the same line run again starts over
and finishes. The source is only read, inside one read transaction (on SQLite a consistent
snapshot even beside a writer; stop the worker and the web server first all the same, or what
they write after the snapshot stays behind).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import dj_database_url
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, transaction
from django.db.migrations.executor import MigrationExecutor

SOURCE = "move_source"
TARGET = "move_target"
POSTGRESQL = "django.db.backends.postgresql"
BATCH_SIZE = 2000

# Tables left behind, and why (model label, lower case).
SKIPPED = {
    # The ORM broker's queue: stop the worker before moving; the schedules queue work again.
    "django_q.ormq": "the task queue (the schedules queue the work again)",
    # Sign-ins: everyone signs in once more on the new database.
    "sessions.session": "sign-in sessions (everyone signs in again)",
}
# Tables `migrate` itself fills on an empty database: their rows do not count as the target
# already holding data (they are replaced by the source's).
FILLED_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission", "django_q.schedule"}


class MoveError(Exception):
    """The move cannot start or did not verify; the target keeps nothing of this run."""


@dataclass(frozen=True)
class TableResult:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_checksum) == (self.target_rows, self.target_checksum)


def models_in_order() -> list[type[models.Model]]:
    """Every table to copy, each after the tables its foreign keys point to."""
    candidates = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed
        and not model._meta.proxy
        and not model._meta.swapped
        and model._meta.label_lower not in SKIPPED
    ]
    remaining = {model: _parents(model) & set(candidates) for model in candidates}
    ordered: list[type[models.Model]] = []
    while remaining:
        ready = [model for model, parents in remaining.items() if not parents - set(ordered)]
        if not ready:  # a cycle of foreign keys: deferred constraints let any order commit
            ready = list(remaining)[:1]
        for model in ready:
            ordered.append(model)
            del remaining[model]
    return ordered


def _parents(model: type[models.Model]) -> set[type[models.Model]]:
    return {
        field.related_model
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model not in (None, model)
    }


def database_from_url(url: str, what: str) -> dict[str, Any]:
    try:
        config = dj_database_url.parse(url)
    except (ValueError, KeyError) as exc:
        raise MoveError(f"{what} is not a database URL ({exc})") from None
    if not config.get("ENGINE"):
        raise MoveError(f"{what} is not a database URL")
    return config


def move(
    target_url: str,
    source_url: str = "",
    *,
    replace: bool = False,
    batch_size: int = BATCH_SIZE,
    say: Callable[[str], None] = print,
) -> list[TableResult]:
    """Copy every table of the source (default: the app's database) into the PostgreSQL
    database at `target_url`, and verify it; see the module for the rules."""
    target = database_from_url(target_url, "--to")
    if target["ENGINE"] != POSTGRESQL:
        raise MoveError("--to must be a PostgreSQL URL (postgres://user:password@host:5432/name)")
    source = (
        database_from_url(source_url, "--from")
        if source_url
        else {k: v for k, v in settings.DATABASES["default"].items() if k != "TEST"}
    )
    _same = ("ENGINE", "HOST", "PORT", "NAME")
    if all(str(source.get(k) or "") == str(target.get(k) or "") for k in _same):
        raise MoveError("--to names the source database itself")
    if source["ENGINE"] == "django.db.backends.sqlite3":
        if not Path(source["NAME"]).is_file():
            raise MoveError(f"the source database {source['NAME']} does not exist")
        # A plain deferred read transaction: a snapshot beside any writer, no write lock taken.
        source["OPTIONS"] = {"timeout": 30}
    with _aliases({SOURCE: source, TARGET: target}):
        _connect(TARGET, "the target database", target.get("PASSWORD"))
        _connect(SOURCE, "the source database", source.get("PASSWORD"))
        if MigrationExecutor(connections[SOURCE]).migration_plan(_leaf_nodes()):
            raise MoveError(
                "the source database is behind the code: run `python manage.py migrate` on it "
                "first (with the app's usual settings), then move"
            )
        say("migrating the target database…")
        call_command("migrate", database=TARGET, interactive=False, verbosity=0)
        ordered = models_in_order()
        if not replace and (filled := _tables_with_rows(ordered)):
            raise MoveError(
                f"the target database already holds data ({', '.join(filled[:5])}): "
                "add --replace to overwrite it with the source's"
            )
        return _copy(ordered, batch_size, say)


def _copy(
    ordered: list[type[models.Model]], batch_size: int, say: Callable[[str], None]
) -> list[TableResult]:
    target = connections[TARGET]
    copied: list[tuple[type[models.Model], int, str]] = []
    everything = [m for m in apps.get_models(include_auto_created=True) if _is_table(m)]
    with transaction.atomic(using=TARGET), transaction.atomic(using=SOURCE):
        with target.cursor() as cursor:
            tables = ", ".join(target.ops.quote_name(m._meta.db_table) for m in everything)
            cursor.execute(f"TRUNCATE {tables}")
        for model in ordered:
            say(f"copying {model._meta.db_table}…")
            try:
                rows, checksum = _copy_table(model, batch_size)
            except DatabaseError as exc:
                raise MoveError(f"{model._meta.db_table}: {_one_line(exc)}") from None
            copied.append((model, rows, checksum))
        with target.cursor() as cursor:
            for sql in target.ops.sequence_reset_sql(no_style(), ordered):
                cursor.execute(sql)
        say("verifying…")
        results = []
        for model, rows, checksum in copied:
            target_rows, target_checksum = table_checksum(_rows(model, TARGET, batch_size))
            results.append(
                TableResult(model._meta.db_table, rows, target_rows, checksum, target_checksum)
            )
        if bad := [r.table for r in results if not r.ok]:
            say(results_table(results))
            raise MoveError(f"the copy does not match the source in {', '.join(bad)}")
    return results


def _copy_table(model: type[models.Model], batch_size: int) -> tuple[int, str]:
    """Copy one table's rows in batches; its row count and checksum as read from the source."""
    target = connections[TARGET]
    fields = model._meta.concrete_fields
    quote = target.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    checksum = Checksum()
    batch: list[list[Any]] = []
    with target.cursor() as cursor:
        for row in _rows(model, SOURCE, batch_size):
            checksum.add(row)
            # The field's own conversion to the target's column (JSON, decimals, datetimes),
            # without pre_save: auto_now columns keep the source's time.
            pairs = zip(fields, row, strict=True)
            batch.append([f.get_db_prep_save(v, connection=target) for f, v in pairs])
            if len(batch) >= batch_size:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
    return checksum.rows, checksum.hexdigest()


def _rows(model: type[models.Model], alias: str, batch_size: int) -> Iterator[tuple[Any, ...]]:
    """A table's rows as Python values (primary key and every column), read the same way
    from either database."""
    names = [f.attname for f in model._meta.concrete_fields]
    rows = model._base_manager.using(alias).order_by("pk").values_list(*names)
    return rows.iterator(chunk_size=batch_size)


class Checksum:
    """An order-independent checksum of a table's rows: the sum of each row's SHA-256 (mod
    2**128) over a canonical text of its values. Order-independent because the two databases
    sort text primary keys differently; a sum, not a XOR, so nothing cancels out."""

    MODULUS = 2**128

    def __init__(self) -> None:
        self.rows = 0
        self.total = 0

    def add(self, row: Iterable[Any]) -> None:
        text = "\x1f".join(canonical(value) for value in row)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        self.total = (self.total + int.from_bytes(digest[:16], "big")) % self.MODULUS
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self.total:032x}"


def table_checksum(rows: Iterable[tuple[Any, ...]]) -> tuple[int, str]:
    checksum = Checksum()
    for row in rows:
        checksum.add(row)
    return checksum.rows, checksum.hexdigest()


def canonical(value: Any) -> str:
    """One text per value whichever database it came from (JSON keys sorted: PostgreSQL's
    jsonb reorders them; datetimes in UTC; decimals without trailing zeros)."""
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else f"naive {value.isoformat()}"
    if isinstance(value, date | time | timedelta):
        return repr(value)
    if isinstance(value, Decimal):
        return f"D{value.normalize()}"
    if isinstance(value, bytes | memoryview | bytearray):
        return "b" + bytes(value).hex()
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, dict | list):
        return "j" + json.dumps(value, sort_keys=True, default=canonical)
    return repr(value)


def results_table(results: list[TableResult]) -> str:
    width = max([len("table"), *(len(r.table) for r in results)])
    lines = [
        f"{'table':<{width}}  {'rows':>9}  {'copied':>9}  {'checksum':<32}  match",
    ]
    for r in results:
        same = "ok" if r.ok else f"DIFFERS (copy has {r.target_checksum})"
        lines.append(
            f"{r.table:<{width}}  {r.source_rows:>9}  {r.target_rows:>9}  "
            f"{r.source_checksum:<32}  {same}"
        )
    return "\n".join(lines)


def _is_table(model: type[models.Model]) -> bool:
    return model._meta.managed and not model._meta.proxy and not model._meta.swapped


def _tables_with_rows(ordered: list[type[models.Model]]) -> list[str]:
    return [
        model._meta.db_table
        for model in ordered
        if model._meta.label_lower not in FILLED_BY_MIGRATE
        and model._base_manager.using(TARGET).exists()
    ]


def _leaf_nodes() -> list[tuple[str, str]]:
    return MigrationExecutor(connections[SOURCE]).loader.graph.leaf_nodes()


def _connect(alias: str, what: str, password: str | None) -> None:
    try:
        connections[alias].ensure_connection()
    except DatabaseError as exc:
        message = _one_line(exc)
        if password:
            message = message.replace(password, "***")
        raise MoveError(f"cannot connect to {what}: {message}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _aliases:
    """Two extra database connections for the length of the move, gone afterwards."""

    def __init__(self, databases: dict[str, dict[str, Any]]) -> None:
        self.databases = databases

    def __enter__(self) -> None:
        for alias, config in self.databases.items():
            connections.settings[alias] = config
        connections.configure_settings(connections.settings)

    def __exit__(self, *exc: object) -> None:
        for alias in self.databases:
            with suppress(AttributeError):  # never opened
                connections[alias].close()
                del connections[alias]
            connections.settings.pop(alias, None)
