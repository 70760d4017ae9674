"""Alert rules, what each rule last told about each deal, and the history of every message.

Kept apart from deals/models.py (which imports these, so Django finds them) because they are
one feature's tables: the rules a reseller sets, and what the alerts task did with them.
"""

from __future__ import annotations

from datetime import datetime, time

from django.db import models
from django.utils import timezone

from deals.alert_urls import mask

DEFAULT_REARM_CENTS = 100
DEFAULT_CAP_PER_HOUR = 20


class AlertRule(models.Model):
    """Tell me, on my channels, when a deal matching this dashboard search appears or drops."""

    name = models.CharField(max_length=100, unique=True)
    # The dashboard's own query string (`profit_min=20&sales_rank_max=500000`); empty matches
    # every shown deal. Read with the dashboard's form (deals/dashboard.py DashboardQuery).
    search = models.TextField(blank=True, default="")
    # Apprise URLs, as given. They hold secrets: shown only through `masked_destinations`.
    destinations = models.JSONField(default=list)
    # Optional: alert again when the buy price drops by at least this much since the last alert.
    drop_cents = models.IntegerField(null=True, blank=True)
    drop_percent = models.IntegerField(null=True, blank=True)
    # Optional: alert when Profit / ROI rises to at least this, from below.
    profit_min_cents = models.IntegerField(null=True, blank=True)
    roi_min_percent = models.IntegerField(null=True, blank=True)
    # One alert per deal until its buy price has moved this much from the last alerted one.
    rearm_cents = models.IntegerField(default=DEFAULT_REARM_CENTS)
    cap_per_hour = models.IntegerField(default=DEFAULT_CAP_PER_HOUR)
    # In the site's time zone (DJANGO_TIME_ZONE, UTC by default); may wrap midnight.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    paused = models.BooleanField(default=False)
    # The last DealEvent id this rule has looked at: a new rule starts at the newest one, so
    # it tells of changes from its creation on, not of every deal already in the database.
    cursor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if self._state.adding and not self.cursor:
            from deals.models import DealEvent

            newest = DealEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
            self.cursor = newest or 0
        super().save(*args, **kwargs)

    @property
    def masked_destinations(self) -> list[str]:
        return [mask(url) for url in self.destinations]

    def is_quiet(self, now: datetime) -> bool:
        """Whether `now` falls in the rule's quiet hours (site time zone)."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local: time = timezone.localtime(now).time()
        start, end = self.quiet_start, self.quiet_end
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # wraps midnight (22:00 to 07:00)


class AlertState(models.Model):
    """What a rule last alerted about one deal: the hygiene's memory (one alert per deal per
    rule until the buy price moves by the rule's re-arm amount)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    asin = models.CharField(max_length=16)
    alerted_price = models.IntegerField(null=True, blank=True)
    alerted_at = models.DateTimeField(default=timezone.now)
    # Profit and ROI when the deal was last looked at, for "crossed a threshold".
    seen_profit = models.IntegerField(null=True, blank=True)
    seen_roi = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            # Used by the alerts task: one memory per (rule, deal).
            models.UniqueConstraint(fields=["rule", "asin"], name="alertstate_rule_asin_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.asin} alerted at {self.alerted_price}"


class AlertDelivery(models.Model):
    """One message to one destination: sent, held back (cap or quiet hours), or failed."""

    class Status(models.TextChoices):
        SENT = "sent"
        HELD = "held"
        FAILED = "failed"

    class Kind(models.TextChoices):
        DEAL = "deal"
        SUMMARY = "summary"
        TEST = "test"

    rule = models.ForeignKey(
        AlertRule, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DEAL)
    status = models.CharField(max_length=8, choices=Status.choices)
    asin = models.CharField(max_length=16, blank=True, default="")
    # Masked (`discord://…/****`): the history never holds a secret.
    destination = models.CharField(max_length=120)
    # A keyed hash of the URL: the cap counts per destination without storing it twice.
    destination_key = models.CharField(max_length=64)
    reason = models.CharField(max_length=300, blank=True, default="")
    title = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    # A held-back message, once told of in a summary: which one.
    summarised_in = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="summarised"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "alert deliveries"  # Django's default would say "deliverys"
        indexes = [
            # Used by the hourly cap (messages sent to a destination in the last hour).
            models.Index(fields=["destination_key", "at"], name="alertdelivery_dest_at_idx"),
            # Used by the summaries (held messages not yet told of).
            models.Index(fields=["status", "summarised_in"], name="alertdelivery_held_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name} → {self.destination}: {self.status} {self.asin}".strip()
