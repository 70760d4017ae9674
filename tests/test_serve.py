"""`make serve` end to end: scripts/serve.sh collects the static files, migrates and starts
gunicorn with debug off; the login page, htmx and the stylesheet answer, static files with
long-lived caching and pages with the Content-Security-Policy; SIGTERM stops it cleanly.

A real server on a free 127.0.0.1 port with its own SQLite file and static folder; its process
group is killed at the end whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.test_run_script import ROOT, Output, free_port

pytestmark = pytest.mark.slow

START_WITHIN_S = 90  # collectstatic and migrate on a fresh database first, on a busy box
YEAR_S = 365 * 24 * 3600


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        KEEPA_API_URL="http://127.0.0.1:9",  # not the real API: no missing-key warning
        PORT=str(free_port()),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, Output, str]]:
    process = subprocess.Popen(
        ["./scripts/serve.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(process)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + START_WITHIN_S
        while True:
            assert process.poll() is None, f"serve.sh exited:\n{output.text[-3000:]}"
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{base}/login/", timeout=5)
                break
            assert time.monotonic() < deadline, f"not serving:\n{output.text[-3000:]}"
            time.sleep(0.3)
        yield process, output, base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_make_serve_serves_pages_and_static_files_with_debug_off(tmp_path):
    with serving(serve_env(tmp_path)) as (process, output, base):
        workers = psutil.Process(process.pid).children()
        page = requests.get(f"{base}/login/", timeout=10)

        assert page.status_code == 200
        assert page.headers["Server"] == "gunicorn"  # the production server, not runserver
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert 'name="username"' in page.text
        # Hashed names: a deploy that changes a file changes its URL.
        static = dict(
            re.findall(r'(?:href|src)="(/static/([\w./-]+?)\.[0-9a-f]{12}\.(?:css|js))"', page.text)
        )
        assert {"css/site", "django_htmx/htmx-2.min", "js/site"} <= set(static.values())
        for url in static:
            response = requests.get(f"{base}{url}", headers={"Accept-Encoding": "gzip"}, timeout=10)
            assert response.status_code == 200, url
            assert response.headers["Content-Encoding"] == "gzip", url
            cache = response.headers["Cache-Control"]
            assert "public" in cache and "immutable" in cache, url
            assert int(re.search(r"max-age=(\d+)", cache)[1]) >= YEAR_S, url
            assert "Set-Cookie" not in response.headers, url
        assert requests.get(f"{base}/static/no-such-file.css", timeout=10).status_code == 404
        assert len(workers) == 2  # WEB_CONCURRENCY
        # An uptime monitor's HEAD answers as its GET would, without a warning.
        head = requests.head(f"{base}/login/", timeout=10)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["Content-Length"]) == len(requests.get(f"{base}/login/").content)
        health = requests.get(f"{base}/healthz", timeout=10).status_code
        assert requests.head(f"{base}/healthz", timeout=10).status_code == health
        # A request for another host is refused with one warning line (no traceback below).
        refused = requests.get(f"{base}/login/", headers={"Host": "scanner.example"}, timeout=10)
        assert refused.status_code == 400

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, output.text[-3000:]
        assert not [w for w in workers if w.is_running() and w.status() != "zombie"]
    assert "Traceback" not in output.text
    assert "Method Not Allowed" not in output.text
    assert "no-body response" not in output.text  # gunicorn's warning for a HEAD with a body
    assert re.search(r"WARNING django\.security\.DisallowedHost: .*'scanner\.example'", output.text)


def test_make_serve_without_a_secret_key_says_how_to_make_one(tmp_path):
    env = serve_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        ["./scripts/serve.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY" in result.stderr and "secrets.token_urlsafe" in result.stderr


def readme_environment() -> dict[str, str]:
    """The example environment file of the README's "Deploying" steps."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("3. **Environment**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    pairs = (line.strip().split("=", 1) for line in block.splitlines() if line.strip())
    return dict(pairs)


def test_the_readme_deploy_settings_pass_check_deploy():
    documented = readme_environment()
    assert {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"} <= set(documented)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.pop("DATABASE_URL", None)
    env.update(documented, DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    result = subprocess.run(
        [".venv/bin/python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_with_the_readme_deploy_settings_the_health_checks_answer_on_the_machine_itself():
    # The README's cron line asks http://127.0.0.1:8000/healthz/worker: with the deploy's own
    # host name and the HTTPS redirect on, it got 400 (restarting a healthy worker every 5
    # minutes) or a redirect (which `curl -f` takes for a healthy answer).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEEPA_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        readme_environment(),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="sqlite:///:memory:",
        DJANGO_SETTINGS_MODULE="dealsite.settings",
    )
    code = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.test import Client\n"
        "call_command('migrate', verbosity=0)\n"
        "for host in ('127.0.0.1:8000', 'localhost:8000', 'deals.example.com'):\n"
        "    for path in ('/healthz', '/healthz/worker', '/login/'):\n"
        "        print(host, path, Client(HTTP_HOST=host).get(path).status_code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answers = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    for host in ("127.0.0.1:8000", "localhost:8000"):
        # No worker runs here: 503, the answer that restarts one.
        assert answers[f"{host} /healthz/worker"] == "503", answers
        assert answers[f"{host} /healthz"] == "503", answers
        # The pages themselves still go to HTTPS.
        assert answers[f"{host} /login/"] == "301", answers
    assert answers["deals.example.com /login/"] == "301", answers


def test_a_served_worker_sets_the_loaded_app_aside_from_the_garbage_collector(tmp_path):
    """A full collection in a worker looks at what requests made, not at the app's own
    objects again: over them, it stalled the request it fell in by 60-70 ms."""
    script = (
        "import gc, runpy, sys\n"
        "from dealsite.wsgi import application\n"
        "hooks = runpy.run_path('gunicorn.conf.py')\n"
        "hooks['post_worker_init'](None)\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    env = serve_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    frozen, left = map(int, done.stdout.split())
    assert frozen > 20_000 and left < 1_000
