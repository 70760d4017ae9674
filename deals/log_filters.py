"""Logging filters for the site's handlers (named so as not to shadow the standard `logging`)."""

from __future__ import annotations

import logging
import re

from django.conf import settings

from keepa_client.redact import redact

_formatter = logging.Formatter()


class RedactKeepaKey(logging.Filter):
    """Mask the Keepa key in every record and traceback, whatever library formatted it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secret = getattr(settings, "KEEPA_API_KEY", "")
        message = record.getMessage()
        cleaned = redact(message, secret)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted copy is what prints.
            record.exc_text = redact(_formatter.formatException(record.exc_info), secret)
        return True


# Requests a page repeats by itself (the live poll every 5 s per tab, the status line, the
# Refresh watch) and static files: one line each would bury the worker's job lines.
POLL_PATHS = ("/live", "/status", "/refresh/", "/healthz", "/static/", "/favicon.ico")


class QuietPolls(logging.Filter):
    """Drop the development server's access lines for successful polls and static files;
    page loads, form posts and every 4xx/5xx still print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) >= 400 or not record.args:
            return True
        request_line = str(record.args[0]) if isinstance(record.args, tuple) else ""
        parts = request_line.split()
        path = parts[1] if len(parts) > 1 else ""
        return not path.startswith(POLL_PATHS)


# django-q2's INFO lines per task: queued, taken from the schedule, started, finished. The
# jobs log one summary line each (deals/tasks.py), and the minute heartbeat nothing.
_WORKER_CHATTER = re.compile(r"^Enqueued |created task |processing |^Processed ")


class QuietWorker(logging.Filter):
    """Keep one line per job run: drop django-q2's per-task INFO chatter (warnings, errors and
    the cluster's start and stop lines still print)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not _WORKER_CHATTER.search(record.getMessage())


class RefusedHost(logging.Filter):
    """A request for a host not in DJANGO_ALLOWED_HOSTS (a scanner, a stale DNS name) answers
    400; Django logs it as an ERROR with a traceback of its own code. One warning line naming
    the host says all there is: nothing in the app failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
