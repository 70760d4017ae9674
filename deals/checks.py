from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

REAL_KEEPA_URL = "https://api.keepa.com"


@register()
def keepa_key_configured(app_configs: object, **kwargs: object) -> list[CheckMessage]:
    if settings.KEEPA_API_URL == REAL_KEEPA_URL and not settings.KEEPA_API_KEY:
        return [
            Warning(
                "KEEPA_API_KEY is not set, but KEEPA_API_URL points at the real Keepa API.",
                hint="Set KEEPA_API_KEY, or point KEEPA_API_URL at the simulator "
                "(make run does this for you).",
                id="deals.W001",
            )
        ]
    return []
