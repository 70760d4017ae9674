"""gunicorn's settings for `make serve`, read from the environment (README, "Deploying").

gunicorn loads this file from the working directory by itself. Threads in each worker keep a
page load from waiting behind another user's: most of a request is waiting on the database.
"""

from __future__ import annotations

import gc
import os

from dealsite.env import env_int, env_str

wsgi_app = "dealsite.wsgi:application"
bind = env_str("GUNICORN_BIND") or f"127.0.0.1:{env_int('PORT', 8000, minimum=1)}"
# One process a core (Python runs one thread of a process at a time), each with threads for
# the requests waiting on the database. Fewer, busier processes find their kept rows warm:
# each keeps the rows it has drawn, and at 2 x cores + 1 processes a tab's page was mostly a
# process's first view of it since its rows changed (bench scenario 7: with two tabs during a
# sweep, pages p95 166 ms with 5 processes of 4 threads, 83 ms with 2 of 8).
workers = env_int("WEB_CONCURRENCY", os.cpu_count() or 1, minimum=1)
worker_class = "gthread"
threads = env_int("GUNICORN_THREADS", 8, minimum=1)
# A request running longer than this is killed with its worker (gunicorn starts another).
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=1)
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 10, minimum=1)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=1)
# Errors and start/stop lines to stderr; access lines only on request (the dashboard polls
# every few seconds): GUNICORN_CMD_ARGS="--access-logfile -".
errorlog = "-"
# gunicorn 27's runtime control socket sits at one path per user (~/.gunicorn/gunicorn.ctl):
# a second server on the same machine (a staging copy, the benchmark) would take it over.
# Nothing here uses it; restarts and reloads go through signals (README, "Deploying").
control_socket_disable = True


def post_worker_init(worker: object) -> None:
    """Once a worker has loaded the app, its objects (Django's, the modules', some 70,000)
    are set aside from the garbage collector: a full collection then looks at what requests
    made since, not at them again. A full collection that did stalled the request it fell in
    by 60-70 ms, against 7-12 ms with them set aside (bench/RESULTS.md, scenario 7)."""
    gc.freeze()
