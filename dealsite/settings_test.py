"""Test settings: tasks run in-process (django-q2 reads Q_CLUSTER once, at import)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from dealsite.settings import *  # noqa: F403
from dealsite.settings import DATABASES, Q_CLUSTER, VAR_DIR

Q_CLUSTER = {**Q_CLUSTER, "sync": True}

# A file, not memory: tests that start a worker or a web server in another process
# must see the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per pytest process, so parallel runs never share a test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    # On a server too: two suites on one server (two checkouts, CI beside a developer) must
    # not create, flush and drop the same test database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_deals_{os.getpid()}"}

# A connection per request, as before DATABASE_CONN_MAX_AGE: a live server's threads must
# not keep the test database open when the suite drops it.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# pytest-django turns DEBUG off, where the hashed names would need a `collectstatic` first;
# the production server's test collects and serves them for real (tests/test_serve.py).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
KEEPA_API_KEY = ""
KEEPA_API_URL = "http://127.0.0.1:8765"
