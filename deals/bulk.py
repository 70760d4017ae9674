"""Bulk writes through one prepared statement and executemany.

Django 5.2's bulk_create and bulk_update compile SQL for every ~30 rows (SQLite's 999-parameter
cap) and prepare each value through several layers; on the upserter's hot path that was three
quarters of the time (bench/RESULTS.md, scenario 2). These helpers build one statement and hand
the rows to the driver. Values are prepared by the field (`get_db_prep_save`), except on SQLite
and PostgreSQL, where the few types the deals tables use are converted directly, the same way
Django does (on PostgreSQL, psycopg pipelines executemany: one round trip per batch, not per row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connections, models

Prep = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    # As django.db.backends.sqlite3.operations.adapt_datetimefield_value: naive UTC text.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value)


def _sqlite_json(value: Any) -> str | None:
    if value is None:
        return None
    # orjson is several times faster on the 2-3 KB deal snapshots, and its output is
    # ordinary JSON that Django's JSONField reads back.
    return _orjson_text(value)


def _orjson_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # not plain JSON data (orjson is stricter): let json decide
        return json.dumps(value)


def _postgres_json(value: Any) -> Any:
    # As Django's adapt_json_value (a psycopg Jsonb), with orjson's faster text.
    from psycopg.types.json import Jsonb

    return None if value is None else Jsonb(value, dumps=_orjson_text)


def _identity(value: Any) -> Any:
    return value


_PLAIN = models.IntegerField | models.CharField | models.TextField | models.FloatField


def preparers(fields: Sequence[models.Field], using: str) -> list[Prep]:
    connection = connections[using]
    result: list[Prep] = []
    for field in fields:
        if connection.vendor == "sqlite" and isinstance(field, models.JSONField):
            result.append(_sqlite_json)
        elif connection.vendor == "sqlite" and isinstance(field, models.DateTimeField):
            result.append(_sqlite_datetime)
        elif connection.vendor == "postgresql" and isinstance(field, models.JSONField):
            if field.encoder is None:
                result.append(_postgres_json)
            else:
                result.append(lambda value, f=field: f.get_db_prep_save(value, connection))
        elif connection.vendor == "postgresql" and isinstance(field, models.DateTimeField):
            result.append(_identity)  # psycopg sends aware datetimes as timestamptz
        elif connection.vendor in ("sqlite", "postgresql") and isinstance(field, _PLAIN):
            result.append(_identity)
        else:
            result.append(lambda value, f=field: f.get_db_prep_save(value, connection))
    return result


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: str = "",
    update_fields: Sequence[str] = (),
    using: str = "default",
) -> None:
    """INSERT dict rows (attname -> value; missing fields take their defaults), optionally
    ON CONFLICT (`conflict`) DO UPDATE SET `update_fields`."""
    if not rows:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    preps = preparers(fields, using)
    defaults = {f.attname: f.get_default() for f in fields if f.has_default() or f.null}
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if conflict:
        columns = [model._meta.get_field(name).column for name in update_fields]
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
        sql += (
            f" ON CONFLICT ({quote(model._meta.get_field(conflict).column)}) DO UPDATE SET {sets}"
        )
    params = [
        [
            prep(row[f.attname] if f.attname in row else defaults[f.attname])
            for f, prep in zip(fields, preps, strict=True)
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(
    model: type[models.Model],
    rows: Sequence[models.Model],
    update_fields: Sequence[str],
    using: str = "default",
) -> None:
    """UPDATE `update_fields` of model instances by primary key, one prepared statement."""
    if not rows:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in update_fields]
    preps = preparers(fields, using)
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    pk = model._meta.pk
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(pk.column)} = %s"
    params = [
        [
            *(prep(getattr(row, f.attname)) for f, prep in zip(fields, preps, strict=True)),
            row.pk,
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
