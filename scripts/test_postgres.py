"""The whole test suite again, on PostgreSQL: the second half of `make test`.

The first run uses SQLite; this one points DATABASE_URL at a PostgreSQL server, where
pytest-django creates (and drops) a test database of its own. Without a reachable server the
run is skipped and says why, except under CI=true, where the server is part of the
environment and its absence fails (the rule of tests/services.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import in_ci, postgres_probe, unreachable  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def main(args: list[str]) -> int:
    url = os.environ.get("TEST_POSTGRES_SUITE_URL") or DEFAULT_URL
    reason = unreachable("PostgreSQL", shown(url), postgres_probe(url))
    if reason is not None:
        if in_ci():
            print(f"The suite on PostgreSQL cannot run: {reason} (CI=true: required)", flush=True)
            return 1
        print(f"SKIPPED the suite on PostgreSQL: {reason}", flush=True)
        return 0
    print(f"The suite again, on PostgreSQL ({shown(url)}):", flush=True)
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
