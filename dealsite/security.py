"""Login throttling glue for django-axes, and the Cache-Control of signed-in pages."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuse logins from a locked-out client; pass calls that carry no request through.

    Every login a person makes (the login page, the admin's) carries its request and is
    throttled. Code that calls `authenticate()` without one (Django's test `Client.login()`)
    has no client to throttle, where axes would raise instead.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address failed logins are counted against.

    Without a declared proxy it is the socket's peer (`REMOTE_ADDR`): any forwarding header
    may be written by the client itself, and trusting one would let an attacker pick a fresh
    address for every guess. Behind a declared proxy it is the entry the nearest proxy wrote:
    proxies append the address they saw, so with N proxies the Nth entry from the right is
    the first one no client can forge.
    """
    remote = request.META.get("REMOTE_ADDR")
    if not settings.BEHIND_PROXY:
        return remote
    header = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
    hops = [hop for hop in request.META.get(header, "").split(",") if hop.strip()]
    if len(hops) >= settings.PROXY_COUNT:
        forwarded = _valid_ip(hops[-settings.PROXY_COUNT])
        if forwarded:
            return forwarded
    # The proxy did not write the header: count against the peer rather than let it through.
    return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The login page again, saying the sign-in is locked and for how long (HTTP 429)."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "next": request.POST.get("next", request.GET.get("next", "")),
        "locked_out": True,
        "cooloff_minutes": minutes,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/login.html", context, status=429)


class PrivateNoStoreMiddleware:
    """Mark every response to a signed-in user `Cache-Control: private, no-store`.

    Deal lists, prices and the CSV are the user's business data: no shared cache may keep
    them, and the browser must not keep them on disk after a logout. Static files (served
    by the static handler or a web server, not by views) are left cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(settings.STATIC_URL)
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response
