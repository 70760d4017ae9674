"""`manage.py alert_receiver`: a webhook on this machine that prints the alerts it receives.

For the demo and for trying rules out without a real channel: point a rule at
`json://127.0.0.1:8025/` and each message appears here as the reseller would read it.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandParser


def make_server(port: int, out: TextIO, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server that prints each JSON message Apprise posts (title, then body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            try:
                message = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            out.write(f"=== {message.get('title', '')}\n{message.get('message', '')}\n\n")
            out.flush()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the messages are the output; the access lines are noise

    return ThreadingHTTPServer((host, port), Handler)


class Command(BaseCommand):
    help = "Print the alerts posted to json://127.0.0.1:PORT/ (a local stand-in for a channel)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8025)

    def handle(self, *args: object, port: int, **options: object) -> None:
        server = make_server(port, self.stdout)
        self.stdout.write(
            f"Listening: add json://127.0.0.1:{port}/ to a rule's destinations (Ctrl-C stops)."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
