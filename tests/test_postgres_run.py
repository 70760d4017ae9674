"""`make test`'s second run, on PostgreSQL (scripts/test_postgres.py): without a server it is
skipped and says why, except under CI=true, where it fails; a password never shows."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.deals_fixtures import ROOT
from tests.test_run_script import free_port


def run_script(**env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
    # A port nothing listens on: no server answers.
    url = f"postgres://postgres:s3cret-pw@127.0.0.1:{free_port()}/test"
    full_env.update(TEST_POSTGRES_SUITE_URL=url, **env)
    return subprocess.run(
        [sys.executable, "scripts/test_postgres.py", "--collect-only", "-q"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_server_the_postgresql_run_is_skipped_and_says_why():
    result = run_script()

    assert result.returncode == 0
    assert result.stdout.startswith("SKIPPED the suite on PostgreSQL: PostgreSQL not reachable")
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "postgres:***@127.0.0.1" in result.stdout


def test_under_ci_a_missing_server_fails_the_postgresql_run():
    result = run_script(CI="true")

    assert result.returncode == 1
    assert "cannot run" in result.stdout and "CI=true" in result.stdout
