"""The alert pages: the rules (list, new, edit, pause, delete, send a test) and the history.

Destinations are shown masked everywhere here (deals/alert_urls.py); the test button sends
at once, bounded by the alert timeout, and shows what each destination answered.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deals import alerts
from deals.alert_forms import AlertRuleForm
from deals.alert_models import AlertDelivery, AlertRule

HISTORY_ROWS = 200


@login_required
def alert_rules(request: HttpRequest) -> HttpResponse:
    return render(request, "deals/alert_rules.html", {"rules": AlertRule.objects.all()})


@login_required
def alert_rule_new(request: HttpRequest) -> HttpResponse:
    """A new rule; `?search=<query string>&name=<name>` fills the form (a saved search links
    here with its own query string)."""
    if request.method == "POST":
        form = AlertRuleForm(request.POST)
        if form.is_valid():
            rule = form.save()
            return redirect("alert_rule_edit", pk=rule.pk)
        form.forget_typed_destinations()
        return render(request, "deals/alert_rule_form.html", _new_context(form), status=400)
    initial = {
        "name": request.GET.get("name", "")[:100],
        "search": request.GET.get("search", "").lstrip("?")[:2000],
    }
    context = _new_context(AlertRuleForm(initial=initial))
    return render(request, "deals/alert_rule_form.html", context)


def _new_context(form: AlertRuleForm) -> dict[str, object]:
    return {"form": form, "time_zone": settings.TIME_ZONE}


@login_required
def alert_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    status = 200
    if request.method == "POST":
        form = AlertRuleForm(request.POST, instance=rule)
        if form.is_valid():
            form.save()
            return redirect("alert_rule_edit", pk=rule.pk)
        form.forget_typed_destinations()
        status = 400
    else:
        form = AlertRuleForm(instance=rule)
    return render(request, "deals/alert_rule_form.html", _rule_context(rule, form), status=status)


def _rule_context(rule: AlertRule, form: AlertRuleForm, **extra: object) -> dict[str, object]:
    return {
        "form": form,
        "rule": rule,
        "matching": alerts.matching_count(rule),
        "recent": rule.deliveries.all()[:10],
        "time_zone": settings.TIME_ZONE,
        **extra,
    }


@login_required
@require_POST
def alert_rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    results = alerts.send_test(rule)
    context = _rule_context(rule, AlertRuleForm(instance=rule), tested=results)
    return render(request, "deals/alert_rule_form.html", context)


@login_required
@require_POST
def alert_rule_pause(request: HttpRequest, pk: int) -> HttpResponse:
    paused = request.POST.get("paused") == "true"
    AlertRule.objects.filter(pk=pk).update(paused=paused)
    return redirect("alert_rules")


@login_required
@require_POST
def alert_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    AlertRule.objects.filter(pk=pk).delete()
    return redirect("alert_rules")


@login_required
def alert_history(request: HttpRequest) -> HttpResponse:
    """Every message of the rules, newest first: sent, held back (and in which summary), or
    failed with the destination's error (scrubbed of secrets when it was recorded)."""
    deliveries = AlertDelivery.objects.select_related("summarised_in")
    status = request.GET.get("status", "")
    if status in AlertDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    context = {
        "deliveries": deliveries[:HISTORY_ROWS],
        "statuses": AlertDelivery.Status.values,
        "status": status,
    }
    return render(request, "deals/alert_history.html", context)
