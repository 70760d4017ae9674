"""Figures kept for every web process (deals/kept.py): one process works a figure out, the
others use it until the deals change, whichever cache CACHE_URL names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.services import require_redis

ROOT = Path(__file__).resolve().parent.parent

# A web process asking for a figure kept under one version of the deals (the latest
# DealEvent): it prints what it was given, and whether it had to work it out itself.
ASK = """
import sys, django
django.setup()
from deals.kept import kept
worked = []
def work():
    worked.append(1)
    return int(sys.argv[2])
value = kept("deals:test-figure", int(sys.argv[1]), work, every=0, max_age=60)
print(value, "worked out" if worked else "from the cache")
"""


def python(env: dict[str, str], code: str, *args: str) -> str:
    """What `code` prints, run in a process of its own (a web process, as far as the cache
    goes)."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def ask(env: dict[str, str], version: int, would_work_out: int) -> str:
    return python(env, ASK, str(version), str(would_work_out))


def process_env(tmp_path: Path, cache_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DJANGO_DEBUG="true",
        # A database of this test's own: the cache keys start with its identity.
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CACHE_URL=cache_url,
    )
    return env


def check_shared(env: dict[str, str]) -> None:
    assert ask(env, version=7, would_work_out=41) == "41 worked out"
    # Another process, same deals: the first one's figure, not worked out again.
    assert ask(env, version=7, would_work_out=99) == "41 from the cache"
    # The deals changed: worked out again, and that is what the next process gets.
    assert ask(env, version=8, would_work_out=42) == "42 worked out"
    assert ask(env, version=8, would_work_out=99) == "42 from the cache"


def test_processes_on_one_host_share_figures_through_the_cache_directory(tmp_path):
    check_shared(process_env(tmp_path, f"file://{tmp_path / 'cache'}"))


def test_processes_share_figures_through_redis(tmp_path):
    import redis

    url = require_redis()
    env = process_env(tmp_path, url)
    try:
        check_shared(env)
    finally:
        client = redis.from_url(url)
        for key in client.scan_iter(match="*deals:test-figure*"):
            client.delete(key)


def test_a_figure_of_another_database_is_never_used(tmp_path):
    shared = f"file://{tmp_path / 'cache'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert ask(process_env(tmp_path / "a", shared), version=7, would_work_out=41) == (
        "41 worked out"
    )
    assert ask(process_env(tmp_path / "b", shared), version=7, would_work_out=5) == "5 worked out"


def test_a_figure_kept_by_an_earlier_release_is_worked_out_afresh(tmp_path):
    # The cache folder outlives a release; an entry laid out the old way is not read.
    env = process_env(tmp_path, f"file://{tmp_path / 'cache'}")
    python(
        env,
        "import django; django.setup(); from django.core.cache import cache; "
        "cache.set('deals:test-figure', (7, None, 41), 60)",
    )
    assert ask(env, version=7, would_work_out=42) == "42 worked out"
