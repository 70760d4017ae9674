"""HEAD requests: answered as GET would be, headers only."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


class HeadWithoutBody:
    """Drop the body of a response to HEAD (the views answer HEAD as GET). gunicorn sends no
    body for HEAD anyway, but logs a warning for each one it is handed; an uptime monitor's
    HEAD every minute filled the log. Outermost, so Content-Length stays the GET's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            response.content = b""
        return response
