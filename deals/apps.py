from __future__ import annotations

from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        from deals import checks  # noqa: F401  (registers the system checks)
