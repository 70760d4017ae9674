from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dealsite.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("Yes", True), ("on", True),
     ("false", False), ("0", False), ("NO", False), ("off", False)],
)  # fmt: skip
def test_env_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG") is expected


@pytest.mark.parametrize("raw", ["ture", "2", "y", "enabled"])
def test_env_bool_refuses_anything_else_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_bool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert env_bool("X_FLAG", True) is True


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_NUM", "12")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env_int("X_NUM", 1) == 12
    assert env_list("X_LIST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_NUM", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_NUM"):
        env_int("X_NUM", 1)


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    # The defaults are under test: nothing of the running suite's own database either.
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "KEEPA_")) and k != "DATABASE_URL"
    }
    full_env.update({"DJANGO_SETTINGS_MODULE": "dealsite.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True
    )


def test_a_secret_key_is_required_when_debug_is_off():
    result = _settings_in_subprocess({"DJANGO_DEBUG": "false"}, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_bad_debug_value_stops_the_app_with_its_name():
    result = _settings_in_subprocess({"DJANGO_DEBUG": "maybe"}, "settings.DEBUG")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be one of" in result.stderr


def test_sqlite_is_tuned_for_a_reader_beside_a_writer():
    result = _settings_in_subprocess(
        {"DJANGO_DEBUG": "true"},
        "settings.DATABASES['default']['OPTIONS']",
    )
    assert result.returncode == 0, result.stderr
    assert "'transaction_mode': 'IMMEDIATE'" in result.stdout
    assert "journal_mode=WAL" in result.stdout
    assert "synchronous=NORMAL" in result.stdout


def test_database_url_selects_postgresql():
    result = _settings_in_subprocess(
        {"DJANGO_DEBUG": "true", "DATABASE_URL": "postgres://u:p@db.example:5432/deals"},
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "deals"]


@pytest.mark.parametrize(
    ("url", "given", "kept"),
    [
        ("postgres://u:p@db.example:5432/deals", None, "60"),
        ("postgres://u:p@db.example:5432/deals", "0", "0"),
        ("", None, "0"),
        ("", "30", "30"),
    ],
)
def test_postgresql_keeps_its_connections_between_requests(url, given, kept):
    env = {"DJANGO_DEBUG": "true", "DATABASE_URL": url}
    if given is not None:
        env["DATABASE_CONN_MAX_AGE"] = given
    result = _settings_in_subprocess(
        env,
        "settings.DATABASES['default']['CONN_MAX_AGE'], "
        "settings.DATABASES['default']['CONN_HEALTH_CHECKS']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [kept, "True"]


def test_wal_is_on_for_a_real_database_file(tmp_path):
    db = tmp_path / "wal.sqlite3"
    code = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]); "
        "c.execute('PRAGMA synchronous'); print(c.fetchone()[0]); "
        "c.execute('PRAGMA busy_timeout'); print(c.fetchone()[0])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=f"sqlite:///{db}",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "1", "30000"]


CACHE = "settings.CACHES['default']['BACKEND'], settings.CACHES['default'].get('LOCATION')"


@pytest.mark.parametrize(
    ("url", "backend", "location"),
    [
        # Unset: a directory every process on this host shares (gunicorn's workers).
        ("", "filebased.FileBasedCache", str(ROOT / "var" / "cache")),
        ("file:///srv/deals/cache", "filebased.FileBasedCache", "/srv/deals/cache"),
        ("redis://127.0.0.1:6379/1", "redis.RedisCache", "redis://127.0.0.1:6379/1"),
        ("locmem://", "locmem.LocMemCache", "None"),
    ],
)
def test_cache_url_picks_the_cache_the_web_processes_share(url, backend, location):
    result = _settings_in_subprocess({"DJANGO_DEBUG": "true", "CACHE_URL": url}, CACHE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"django.core.cache.backends.{backend}", location]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://user:hunter2@cache.example:11211", "CACHE_URL must be redis://"),
        ("file://relative/dir", "CACHE_URL file:// needs an absolute path"),
    ],
)
def test_a_cache_url_that_cannot_be_used_stops_the_app_without_echoing_it(url, message):
    result = _settings_in_subprocess({"DJANGO_DEBUG": "true", "CACHE_URL": url}, CACHE)
    assert result.returncode != 0
    assert message in result.stderr
    assert "hunter2" not in result.stderr


def test_two_databases_never_share_a_cached_figure():
    def prefix(database_url: str) -> str:
        result = _settings_in_subprocess(
            {"DJANGO_DEBUG": "true", "DATABASE_URL": database_url, "CACHE_URL": ""},
            "settings.CACHES['default']['KEY_PREFIX']",
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    first = prefix("postgres://u@db.example:5432/deals")
    assert first == prefix("postgres://u@db.example:5432/deals")
    assert first != prefix("postgres://u@db.example:5432/deals_staging")
    assert first != prefix("sqlite:////srv/deals/db.sqlite3")
