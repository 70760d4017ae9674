"""The alert rule form: a name, a dashboard search, Apprise destinations and the hygiene.

Every value is checked where the reseller typed it: each destination line must be a URL Apprise
understands, and the search must be a query string the dashboard's own filter form accepts
(an unknown or misspelt filter is an error, not a rule that silently matches every deal).
Destinations already saved are shown masked, one per line; a masked line left as it is keeps
that destination, so a secret never has to be shown to be kept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.http import QueryDict

from deals.alert_models import DEFAULT_CAP_PER_HOUR, DEFAULT_REARM_CENTS, AlertRule
from deals.alert_urls import is_valid, mask
from deals.forms import DealFilterForm

# Parameters of a dashboard URL that are not filters but are harmless in a rule.
IGNORED_PARAMS = {"page"}


def search_errors(search: str) -> list[str]:
    """What is wrong with a dashboard query string, one sentence per problem."""
    data = QueryDict(search.strip().lstrip("?"))
    form = DealFilterForm(data)
    unknown = sorted(set(data) - set(form.fields) - IGNORED_PARAMS)
    errors = [f"“{name}” is not a dashboard filter" for name in unknown]
    form.is_valid()
    for name, messages in form.errors.items():
        label = form.fields[name].label or name
        errors += [f"{name} ({label}): {message}" for message in messages]
    return errors


def destination_errors(urls: list[str]) -> list[str]:
    return [
        f"line {number}: {mask(url)} is not a URL Apprise understands"
        for number, url in enumerate(urls, 1)
        if not is_valid(url)
    ]


def kept_line(url: str, index: int) -> str:
    """How a saved destination appears in the form (masked, numbered so each is told apart)."""
    return f"{mask(url)} #{index + 1}"


def _cents(value: Decimal | None) -> int | None:
    return None if value is None else int((value * 100).to_integral_value())


def _dollars(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(cents) / 100).quantize(Decimal("0.01"))


def _money(label: str, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(label=label, min_value=0, max_digits=9, decimal_places=2, **kwargs)


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    search = forms.CharField(
        label="Search (the dashboard's query string)",
        required=False,
        max_length=2000,
        help_text="As in the dashboard's address after “?”, e.g. "
        "profit_min=20&sales_rank_max=500000. Empty: every deal.",
    )
    destinations = forms.CharField(
        label="Send to (Apprise URLs, one a line)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="e.g. discord://webhook_id/webhook_token, tgram://bot_token/chat_id, "
        "ntfy://topic, mailtos://user:app_password@gmail.com. Saved ones are shown masked: "
        "leave such a line as it is to keep it.",
    )
    drop_dollars = _money("Also when the buy price drops by at least ($)", required=False)
    drop_percent = forms.IntegerField(
        label="…or by at least (%)", required=False, min_value=1, max_value=100
    )
    profit_min_dollars = _money("Also when Profit rises to at least ($)", required=False)
    roi_min_percent = forms.IntegerField(
        label="Also when ROI rises to at least (%)", required=False
    )
    rearm_dollars = _money(
        "Tell me of a deal again when its buy price falls by ($)",
        initial=_dollars(DEFAULT_REARM_CENTS),
        help_text="One alert per deal until its buy price is this much below the price "
        "last told of.",
    )
    cap_per_hour = forms.IntegerField(
        label="At most this many messages an hour per destination",
        min_value=1,
        max_value=1000,
        initial=DEFAULT_CAP_PER_HOUR,
    )
    quiet_start = forms.TimeField(label="Quiet from (HH:MM)", required=False)
    quiet_end = forms.TimeField(label="Quiet until (HH:MM)", required=False)
    paused = forms.BooleanField(label="Paused", required=False)

    def __init__(self, *args: Any, instance: AlertRule | None = None, **kwargs: Any) -> None:
        self.instance = instance or AlertRule()
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(instance)
        super().__init__(*args, **kwargs)

    @staticmethod
    def initial_from(rule: AlertRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "search": rule.search,
            "destinations": "\n".join(kept_line(u, i) for i, u in enumerate(rule.destinations)),
            "drop_dollars": _dollars(rule.drop_cents),
            "drop_percent": rule.drop_percent,
            "profit_min_dollars": _dollars(rule.profit_min_cents),
            "roi_min_percent": rule.roi_min_percent,
            "rearm_dollars": _dollars(rule.rearm_cents),
            "cap_per_hour": rule.cap_per_hour,
            "quiet_start": rule.quiet_start,
            "quiet_end": rule.quiet_end,
            "paused": rule.paused,
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = AlertRule.objects.filter(name=name).exclude(pk=self.instance.pk).exists()
        if taken:
            raise forms.ValidationError("A rule with this name exists already.")
        return name

    def clean_search(self) -> str:
        search = self.cleaned_data["search"].strip().lstrip("?")
        errors = search_errors(search)
        if errors:
            raise forms.ValidationError(errors)
        return search

    def clean_destinations(self) -> list[str]:
        kept = {kept_line(u, i): u for i, u in enumerate(self.instance.destinations or [])}
        lines = [line.strip() for line in self.cleaned_data["destinations"].splitlines()]
        urls = [kept.get(line, line) for line in lines if line]
        if not urls:
            raise forms.ValidationError("Give at least one destination.")
        errors = destination_errors(urls)
        if errors:
            raise forms.ValidationError(errors)
        return list(dict.fromkeys(urls))

    def forget_typed_destinations(self) -> None:
        """After a failed save, show back only the saved (masked) lines: a destination just
        typed is not stored yet and holds its secret in full, so it is not sent back to the
        page (like a password field); the field says to type it again."""
        kept = {kept_line(u, i) for i, u in enumerate(self.instance.destinations or [])}
        lines = [line.strip() for line in self.data.get("destinations", "").splitlines()]
        shown = [line for line in lines if line in kept]
        if len(shown) == len([line for line in lines if line]):
            return
        self.data = self.data.copy()
        self.data["destinations"] = "\n".join(shown)
        self.add_error(
            "destinations",
            "Not saved yet, so not shown again (they may hold secrets): "
            "type the new destinations again.",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", "Give both ends of the quiet hours, or neither.")
        return data

    def save(self) -> AlertRule:
        data = self.cleaned_data
        rule = self.instance
        rule.name = data["name"]
        rule.search = data["search"]
        rule.destinations = data["destinations"]
        rule.drop_cents = _cents(data["drop_dollars"])
        rule.drop_percent = data["drop_percent"]
        rule.profit_min_cents = _cents(data["profit_min_dollars"])
        rule.roi_min_percent = data["roi_min_percent"]
        rule.rearm_cents = _cents(data["rearm_dollars"]) or 0
        rule.cap_per_hour = data["cap_per_hour"]
        rule.quiet_start, rule.quiet_end = data["quiet_start"], data["quiet_end"]
        rule.paused = data["paused"]
        rule.save()
        return rule
