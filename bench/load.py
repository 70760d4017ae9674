"""A bounded HTTP load on the dashboard: N logged-in users for S seconds (no Django here).

    python -m bench.load --url http://127.0.0.1:PORT --user U --password P \
        --threads 16 --seconds 30 [--paced] --json out.json
    python -m bench.load --url ... --sessions sessions.json ...   # already signed in

Closed loop (default): each user sends its next request as soon as the last one is answered.
Paced: each user behaves like an open dashboard tab (a live poll every 5 s, a page view every
12 s). Every request is timed; the JSON holds latencies by kind and counts by status. A
request that meets a closed connection is sent again once, as a browser does ("retried").

With `--sessions` (JSON: {"cookie": name, "keys": [session keys]}) each user starts with a
session made beforehand instead of posting the login form: a login's password hash costs the
server about as much CPU as several pages, so a hundred users signing in at once would measure
the sign-in storm instead of the open tabs.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

POLLER = re.compile(r'id="live-poller"[^>]*hx-get="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MAX_REQUESTS_PER_USER = 20_000  # a bound besides the time
POLL_EVERY_S = 5.0
PAGE_EVERY_S = 12.0


def login(session: requests.Session, url: str, user: str, password: str) -> None:
    page = session.get(f"{url}/login/", timeout=30)
    token = CSRF.search(page.text)
    if not token:
        raise RuntimeError("no CSRF token on the login page")
    response = session.post(
        f"{url}/login/",
        data={"username": user, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{url}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {response.status_code}")


class User(threading.Thread):
    def __init__(self, n: int, args: argparse.Namespace, pages: dict[str, str], deadline: float):
        super().__init__(name=f"user-{n}", daemon=True)
        self.n = n
        self.args = args
        self.pages = pages
        self.deadline = deadline
        self.samples: list[tuple[str, float, int]] = []
        self.errors: list[str] = []
        self.retried = 0
        self.session = requests.Session()
        self.live_url = ""

    def get(self, kind: str, path: str, **headers: str) -> requests.Response | None:
        start = time.perf_counter()
        try:
            try:
                response = self.session.get(f"{self.args.url}{path}", headers=headers, timeout=60)
            except requests.ConnectionError:
                # What a browser does when a kept-alive connection was closed under the
                # request (the server's keep-alive ran out as the tab polled): send it again,
                # once, on a new connection. Counted, and timed from the first attempt.
                self.retried += 1
                response = self.session.get(f"{self.args.url}{path}", headers=headers, timeout=60)
        except requests.RequestException as exc:
            self.samples.append((kind, time.perf_counter() - start, 0))
            self.errors.append(f"{kind}: {type(exc).__name__}")
            return None
        self.samples.append((kind, time.perf_counter() - start, response.status_code))
        if response.status_code >= 400:
            self.errors.append(f"{kind}: HTTP {response.status_code}")
        return response

    def page(self, kind: str) -> None:
        response = self.get(kind, self.pages[kind])
        if kind == "page_default" and response is not None and response.status_code == 200:
            found = POLLER.search(response.text)
            if found:
                self.live_url = html.unescape(found.group(1))

    def poll(self) -> None:
        if not self.live_url:
            self.page("page_default")
            return
        response = self.get("live_poll", self.live_url, **{"HX-Request": "true"})
        if response is not None and response.status_code == 200:
            found = POLLER.search(response.text)
            if found:
                self.live_url = html.unescape(found.group(1))

    def run(self) -> None:
        if self.args.paced:
            # Tabs opened at different moments over the first poll interval.
            time.sleep(self.n * POLL_EVERY_S / self.args.threads)
        try:
            if self.args.session_keys:
                keys = self.args.session_keys
                self.session.cookies.set(self.args.session_cookie, keys[self.n % len(keys)])
            else:
                login(self.session, self.args.url, self.args.user, self.args.password)
        except Exception as exc:
            self.errors.append(f"login: {exc}")
            return
        self.page("page_default")
        if self.args.paced:
            self.run_paced()
        else:
            self.run_closed()

    def run_closed(self) -> None:
        # Polls dominate, as on a real dashboard; every kind of page comes round regularly.
        mix = [
            "poll",
            "page_default",
            "poll",
            "poll",
            "page_deep",
            "poll",
            "total",
            "page_filter",
            "poll",
            "page_search",
            "poll",
            "poll",
        ]
        i = self.n  # users start at different points of the mix
        while time.monotonic() < self.deadline and len(self.samples) < MAX_REQUESTS_PER_USER:
            kind = mix[i % len(mix)]
            i += 1
            if kind == "poll":
                self.poll()
            elif kind == "total":
                self.get("total", "/api/total_deals")
            else:
                self.page(kind)

    def run_paced(self) -> None:
        kinds = ["page_deep", "page_filter", "page_search", "page_default"]
        start = time.monotonic()
        next_poll = start + POLL_EVERY_S
        next_page = start + PAGE_EVERY_S
        page_i = self.n
        while time.monotonic() < self.deadline and len(self.samples) < MAX_REQUESTS_PER_USER:
            now = time.monotonic()
            if now >= next_page:
                self.page(kinds[page_i % len(kinds)])
                page_i += 1
                next_page += PAGE_EVERY_S
            elif now >= next_poll:
                self.poll()
                next_poll += POLL_EVERY_S
            else:
                time.sleep(min(next_poll, next_page, self.deadline) - now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument(
        "--sessions", type=Path, help='JSON {"cookie": name, "keys": [...]}: signed in already'
    )
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--pages", required=True, help="JSON: kind -> path")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    pages = json.loads(args.pages)
    args.session_cookie, args.session_keys = "", []
    if args.sessions:
        sessions = json.loads(args.sessions.read_text())
        args.session_cookie, args.session_keys = sessions["cookie"], sessions["keys"]
    elif not (args.user and args.password):
        parser.error("give --user and --password, or --sessions")
    started = time.monotonic()
    deadline = started + args.seconds
    users = [User(n, args, pages, deadline) for n in range(args.threads)]
    for user in users:
        user.start()
    for user in users:
        user.join(timeout=args.seconds + 120)
    elapsed = time.monotonic() - started
    samples: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    for user in users:
        for kind, seconds, status in user.samples:
            key = kind
            if kind == "live_poll":
                key = "live_poll_idle" if status == 204 else "live_poll_changed"
            samples.setdefault(key, []).append(seconds)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    out: dict[str, Any] = {
        "seconds": elapsed,
        "requests": sum(len(u.samples) for u in users),
        "samples": samples,
        "statuses": statuses,
        "errors": [e for u in users for e in u.errors][:50],
        "error_count": sum(len(u.errors) for u in users),
        "retried": sum(u.retried for u in users),
        "alive": sum(1 for u in users if u.is_alive()),
    }
    args.json.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
