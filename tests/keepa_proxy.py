"""A fault-injecting stand-in for Keepa: forwards every request to the simulator and lets a test
rewrite the JSON answers on their way back (hostile records the simulator would never send).

The app talks to it over real HTTP through the real client, exactly as it talks to Keepa.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# (endpoint path such as "/deal", parsed JSON body) -> the body to send instead.
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]


class KeepaProxy:
    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream_host = urlsplit(upstream).netloc
        self.rewrite = rewrite
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            def do_POST(self) -> None:
                proxy.forward(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request lines carry the key; nothing is printed

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {"Content-Type": handler.headers.get("Content-Type", "application/json")}
        # http.client, not requests: urllib3 would log each URL, and the URL carries the key.
        connection = http.client.HTTPConnection(self.upstream_host, timeout=60)
        try:
            connection.request(handler.command, handler.path, body=body, headers=headers)
            upstream = connection.getresponse()
            status, content = upstream.status, upstream.read()
            if upstream.getheader("Content-Encoding") == "gzip":  # as Keepa, the simulator gzips
                content = gzip.decompress(content)
        finally:
            connection.close()
        if status == 200:
            try:
                parsed = json.loads(content)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                with self.lock:  # rewrites keep state (what they injected): one at a time
                    parsed = self.rewrite(urlsplit(handler.path).path, parsed)
                content = json.dumps(parsed).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json;charset=UTF-8")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)


@contextmanager
def keepa_proxy(upstream: str, rewrite: Rewrite) -> Iterator[KeepaProxy]:
    """Serve a rewriting proxy in front of `upstream` for the block's duration."""
    proxy = KeepaProxy(upstream, rewrite)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


class HostileDeals:
    """Rewrites the first /deal page once: the first records get the given ASINs (their real
    ASINs are remembered, as the deals Keepa "lost"), and the next ones a title with a NUL."""

    def __init__(self, asins: list[str], nul_titles: int = 1) -> None:
        self.asins = asins
        self.nul_titles = nul_titles
        self.done = False
        self.replaced: list[str] = []  # real ASINs whose records were made hostile
        self.nul_titled: list[str] = []
        self.page: list[str] = []  # every ASIN the rewritten page held, as sent

    def __call__(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path != "/deal" or self.done:
            return body
        records = body["deals"]["dr"]
        for record, asin in zip(records, self.asins, strict=False):
            self.replaced.append(record["asin"])
            record["asin"] = asin
        for record in records[len(self.asins) : len(self.asins) + self.nul_titles]:
            record["title"] = "Nul\x00 in the\x00 title"
            self.nul_titled.append(record["asin"])
        self.page = [r["asin"] for r in records]
        self.done = True
        return body
