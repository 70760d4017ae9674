"""What `make run` prints: one line per job run and per page load, not one per live poll."""

from __future__ import annotations

import logging

import pytest

from deals import tasks
from deals.log_filters import QuietPolls, QuietWorker


def server_record(request_line: str, status: int) -> logging.LogRecord:
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (request_line, str(status), "0"),
        None,
    )
    record.status_code = status
    return record


@pytest.mark.parametrize(
    ("request_line", "status", "printed"),
    [
        ("GET /live?cursor=9&opened=9&shown=B000000001,B000000002 HTTP/1.1", 204, False),
        ("GET /live?cursor=9 HTTP/1.1", 200, False),
        ("GET /status HTTP/1.1", 200, False),
        ("GET /refresh/abc123?since=1 HTTP/1.1", 200, False),
        ("GET /static/css/site.css HTTP/1.1", 304, False),
        ("GET /favicon.ico HTTP/1.1", 301, False),
        ("GET /?sort=-profit HTTP/1.1", 200, True),
        ("POST /refresh HTTP/1.1", 200, True),
        ("GET /live?cursor=9 HTTP/1.1", 500, True),  # a failing poll is worth a line
        ("GET /deal/B000000001 HTTP/1.1", 404, True),
    ],
)
def test_the_access_log_drops_successful_polls_only(request_line, status, printed):
    assert QuietPolls().filter(server_record(request_line, status)) is printed


@pytest.mark.parametrize(
    ("message", "level", "printed"),
    [
        ("Enqueued [deals] 4", logging.INFO, False),
        ("Process-1 created task lion-queen from schedule [worker_heartbeat]", logging.INFO, False),
        ("Process-1 processing lion-queen 'deals.tasks.update_recent_deals'", logging.INFO, False),
        ("Processed 'deals.tasks.worker_heartbeat' (lion-queen)", logging.INFO, False),
        ("Q Cluster lion-queen [deals] running.", logging.INFO, True),
        ("Failed 'deals.tasks.update_recent_deals' (lion-queen) - boom", logging.ERROR, True),
    ],
)
def test_the_worker_log_keeps_start_stop_and_failures_not_per_task_chatter(message, level, printed):
    record = logging.LogRecord("django-q", level, __file__, 1, message, None, None)
    assert QuietWorker().filter(record) is printed


def test_each_job_run_logs_one_summary_line(caplog, monkeypatch):
    class Run:
        def summary(self) -> str:
            return "ok: 3 updated, 1 new, 1 price drop, 2 enriched, 40 tokens"

    monkeypatch.setattr(tasks.prune, "run", lambda: Run())
    with caplog.at_level(logging.INFO, logger="deals.tasks"):
        tasks.prune_stale_deals()
    assert [r.getMessage() for r in caplog.records if r.name == "deals.tasks"] == [
        "prune: ok: 3 updated, 1 new, 1 price drop, 2 enriched, 40 tokens"
    ]


def test_the_settings_put_the_filters_on_the_server_and_worker_loggers():
    assert any(
        isinstance(f, QuietPolls) for f in logging.getLogger("django.server").filters
    ) or any(
        isinstance(f, QuietPolls)
        for h in logging.getLogger("django.server").handlers
        for f in h.filters
    )
    assert any(isinstance(f, QuietWorker) for f in logging.getLogger("django-q").filters)
