"""A webhook on 127.0.0.1 for Apprise's json:// scheme: the tests' real destination.

It records every message it receives (the JSON Apprise posts: title, message, type) and the
Authorization header, and answers with the status the test asks for.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    host: str
    port: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0  # how long it takes to answer (a slow destination)

    def url(self, userinfo: str = "", path: str = "hook") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"json://{at}{self.host}:{self.port}/{path}"


@contextmanager
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    box = Receiver("127.0.0.1", server.server_address[1])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            box.messages.append(json.loads(body or b"{}"))
            box.headers.append(dict(self.headers))
            if box.delay_s:
                time.sleep(box.delay_s)
            self.send_response(box.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def refused_url(userinfo: str = "") -> str:
    """A json:// URL at a port where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    at = f"{userinfo}@" if userinfo else ""
    return f"json://{at}127.0.0.1:{port}/hook"
