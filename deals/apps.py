from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

log = logging.getLogger(__name__)


def _ensure_schedules(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from deals.config import ConfigError, load_config
    from deals.schedules import ensure_schedules

    try:
        config = load_config()
    except ConfigError as exc:
        # migrate must not fail on a settings.json typo; the jobs themselves report it.
        log.warning("schedules not updated: %s", exc)
        return
    ensure_schedules(config, using=using)


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        from deals import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(_ensure_schedules, sender=self)
