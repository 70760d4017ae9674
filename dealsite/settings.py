"""Django settings, read from the environment (see the README's configuration table)."""

from __future__ import annotations

from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from dealsite.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(set DJANGO_DEBUG=true for local development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

# The machine's own names are always allowed: the health checks are asked on the machine
# itself (a cron line, a process manager: README, "Keeping the worker alive"), and a request
# naming them cannot point anyone's browser elsewhere.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", LOOPBACK_HOSTS)
ALLOWED_HOSTS += [host for host in LOOPBACK_HOSTS if host not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "axes",
    "csp",
    "deals",
]

MIDDLEWARE = [
    "dealsite.head.HeadWithoutBody",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself (no nginx needed for them): before everything
    # else, so a stylesheet costs no session or database work.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dealsite.security.PrivateNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dealsite.urls"
WSGI_APPLICATION = "dealsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite, tuned for one web process reading while one worker writes:
# WAL lets readers run beside the writer; IMMEDIATE makes a transaction take the
# write lock at BEGIN, so it waits up to `timeout` instead of failing at once with
# "database is locked" when a read-then-write transaction meets another writer.
# No mmap_size: it halves a count over every row for a connection that stays open, but a
# connection is opened per request here, and each one mapping the file afresh made pages
# between sweeps 4x slower under gunicorn.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        _db = dj_database_url.parse(_database_url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
else:
    VAR_DIR.mkdir(exist_ok=True)
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
# Seconds a web thread keeps its database connection between requests. Opening one costs
# PostgreSQL a new server process and a login on every page and poll; a SQLite file opens
# in well under a millisecond, so it is opened per request unless asked otherwise.
_db["CONN_MAX_AGE"] = env_int(
    "DATABASE_CONN_MAX_AGE",
    60 if _db["ENGINE"] == "django.db.backends.postgresql" else 0,
    minimum=0,
)
# A kept connection the server has closed (a restart, an idle timeout) is opened afresh.
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Figures worked out once for every web process: the filtered counts, the total and the token
# plan (deals/kept.py). gunicorn runs several worker processes; with a cache each of its own,
# every worker worked each figure out again, so a tab's page was often the first its worker
# drew since the deals changed. CACHE_URL: redis://… (several hosts), file:///path (one host),
# locmem:// (one process). Unset, a directory under var/ serves every process on this host.
# Keys start with the database's identity, so two databases on one cache never mix figures.
CACHE_URL = env_str("CACHE_URL")


def _cache_from_url(url: str) -> dict[str, object]:
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ImproperlyConfigured("CACHE_URL file:// needs an absolute path: file:///path")
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": parts.path,
        }
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    raise ImproperlyConfigured(
        "CACHE_URL must be redis://host:6379/1 (or rediss://, unix://), file:///path or "
        f"locmem://; got one starting {url.split(':', 1)[0]!r}"
    )


# A kept figure due to be worked out again is served as it stands while a thread works out
# the new one (deals/kept.py). Tests turn it off: a thread's own database connection does not
# see a test's uncommitted rows.
DEALS_KEPT_IN_BACKGROUND = True
# The status line is read once every 2 s for all the requests of a process (deals/dashboard.py
# `status`). Tests turn it off: they change a run and read the line again in the same second.
DEALS_STATUS_SHARED = True

_cache = _cache_from_url(CACHE_URL or f"file://{VAR_DIR / 'cache'}")
_cache["KEY_PREFIX"] = (
    "deals-"
    + sha256(
        f"{_db['ENGINE']}|{_db.get('HOST', '')}|{_db.get('PORT', '')}|{_db['NAME']}".encode()
    ).hexdigest()[:12]
)
_cache["OPTIONS"] = {"MAX_ENTRIES": 2000} if "redis" not in _cache["BACKEND"] else {}
CACHES = {"default": _cache}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes counts failed logins per (username, client address) pair and refuses that pair
# for a cool-off once the limit is reached: a guesser is stopped, while the same user on
# another address and other users on the same address can still sign in. Its tables are
# created by `migrate`.
AUTHENTICATION_BACKENDS = [
    "dealsite.security.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DJANGO_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "dealsite.security.client_ip"
AXES_LOCKOUT_CALLABLE = "dealsite.security.lockout_response"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` gathers the files WhiteNoise serves.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
# WhiteNoise warns on every start when the folder is missing (before the first collectstatic,
# and always under `make run`, where the development server serves the files itself).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Each collected file gets a content hash in its name (css/site.<hash>.css) and a gzip/brotli
# copy: WhiteNoise sends hashed names with a year of `immutable` caching, and a deploy that
# changes a file changes its URL. Under DEBUG the templates keep the plain names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# ... and answered over plain HTTP there: a redirect would read as healthy to `curl -f`.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/worker)?$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0

# Behind a reverse proxy (declared, never guessed) the client's scheme and address come from
# headers the proxy writes; without one, those headers come from the client and mean nothing.
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
CLIENT_IP_HEADER = env_str("DJANGO_CLIENT_IP_HEADER", "X-Forwarded-For")
PROXY_COUNT = env_int("DJANGO_PROXY_COUNT", 1, minimum=1)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None

# Content-Security-Policy (django-csp): every script and style is a file of this site (htmx
# included, from django-htmx's static files), so nothing inline runs and nothing is eval'ed.
# Deal images come from Amazon's image CDN (the URLs Keepa gives).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "https://m.media-amazon.com"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Keepa. The key is a secret: it is read here and handed to KeepaClient, nothing else.
KEEPA_API_KEY = env_str("KEEPA_API_KEY")
KEEPA_API_URL = env_str("KEEPA_API_URL", "https://api.keepa.com").rstrip("/")
KEEPA_TIMEOUT_S = env_int("KEEPA_TIMEOUT_S", 30, minimum=1)
# Longest a job waits for Keepa's token refill after a 429 before it ends the run as partial.
KEEPA_MAX_TOKEN_WAIT_S = env_int("KEEPA_MAX_TOKEN_WAIT_S", 60, minimum=0)
# Alerts: the site's address as a reseller's browser reaches it, for the deal-page links in
# alert messages (a message is read outside the site, so its links must be absolute).
DEALS_BASE_URL = env_str("DEALS_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Longest an alert destination may take to accept or answer a message (seconds, each way).
ALERT_TIMEOUT_S = env_int("ALERT_TIMEOUT_S", 10, minimum=1)
DEALS_SETTINGS_FILE = Path(env_str("DEALS_SETTINGS_FILE", str(BASE_DIR / "settings.json")))
if not DEALS_SETTINGS_FILE.is_absolute():
    DEALS_SETTINGS_FILE = BASE_DIR / DEALS_SETTINGS_FILE

# django-q2 on the ORM broker. One worker: SQLite has one writer anyway, and the
# upserter holds its own lock. `retry` must exceed `timeout`, or the broker hands a
# still-running task to another worker; failed tasks are acknowledged, not replayed:
# the next scheduled run is the retry.
Q_CLUSTER = {
    "name": "deals",
    "orm": "default",
    "workers": 1,
    "timeout": 600,
    "retry": 720,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "queue_limit": 2,
    "bulk": 1,
    "poll": 1.0,
    "label": "Background jobs",
}

# Redis as the broker instead (Q_BROKER_URL, e.g. redis://127.0.0.1:6379/0): the queue leaves
# the database, so several workers, on one host or several, pull from it without polling the
# database. The one-run-at-a-time lock is in the database either way (JobLock). Redis has no
# delivery receipts: a task taken by a worker that dies is gone, and the next scheduled run
# is the retry (the same as a failed task here).
Q_BROKER_URL = env_str("Q_BROKER_URL")
if Q_BROKER_URL:
    if urlsplit(Q_BROKER_URL).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(
            "Q_BROKER_URL must be a Redis URL (redis://host:6379/0, rediss://... or "
            f"unix:///path.sock); got one starting {Q_BROKER_URL.split(':', 1)[0]!r}"
        )
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = Q_BROKER_URL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_keepa_key": {"()": "deals.log_filters.RedactKeepaKey"},
        "quiet_polls": {"()": "deals.log_filters.QuietPolls"},
        "quiet_worker": {"()": "deals.log_filters.QuietWorker"},
        "refused_host": {"()": "deals.log_filters.RefusedHost"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_keepa_key"],
        },
        # The development server's access log, as Django prints it, less the polls.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_keepa_key", "quiet_polls"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # One line per job run (deals.tasks logs it), not four per task and one a minute.
        "django-q": {"filters": ["quiet_worker"]},
        # A request for another host: one warning line, not an ERROR with a traceback.
        "django.security.DisallowedHost": {"filters": ["refused_host"]},
        # Failed logins and lockouts are warnings; axes's per-login INFO lines are noise.
        "axes": {"level": "WARNING"},
        # Apprise's own lines may quote a destination URL, secrets included: the alerts task
        # captures them per message and logs them scrubbed (deals/alerts.py), never raw.
        "apprise": {"handlers": [], "propagate": False, "level": "CRITICAL"},
    },
}
