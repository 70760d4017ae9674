"""`manage.py alert_rule add|list|test|remove`: alert rules for operators, like the other jobs.

The same checks as the app's form (deals/alert_forms.py): every destination must be a URL
Apprise understands, the search a query string the dashboard accepts. Destinations are printed
masked, never in full.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deals import alerts
from deals.alert_forms import AlertRuleForm
from deals.alert_models import DEFAULT_REARM_CENTS, AlertDelivery, AlertRule
from deals.formatting import money


class Command(BaseCommand):
    help = "Add, list, test or remove alert rules (Apprise destinations, dashboard searches)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{add,list,test,remove}")
        add = sub.add_parser("add", help="add a rule")
        add.add_argument("--name", required=True)
        add.add_argument(
            "--search", default="", help="the dashboard's query string; empty: every deal"
        )
        add.add_argument(
            "--notify",
            action="append",
            required=True,
            metavar="APPRISE-URL",
            help="a destination (repeat for more)",
        )
        add.add_argument(
            "--rearm-cents",
            type=int,
            default=DEFAULT_REARM_CENTS,
            help="alert again when the buy price falls this much below the last alert's",
        )
        sub.add_parser("list", help="list the rules (destinations masked)")
        test = sub.add_parser("test", help="send a test message to a rule's destinations")
        test.add_argument("name")
        remove = sub.add_parser("remove", help="remove a rule")
        remove.add_argument("name")

    def handle(self, *args: object, action: str, **options: object) -> None:
        getattr(self, f"do_{action}")(**options)

    def do_add(
        self, name: str, search: str, notify: list[str], rearm_cents: int, **_: object
    ) -> None:
        if rearm_cents < 0:
            raise CommandError("--rearm-cents: give 0 or more cents.")
        form = AlertRuleForm(
            {
                "name": name,
                "search": search,
                "destinations": "\n".join(notify),
                "rearm_dollars": f"{rearm_cents / 100:.2f}",
                "cap_per_hour": AlertRule._meta.get_field("cap_per_hour").default,
            }
        )
        if not form.is_valid():
            problems = [
                f"--{_OPTION.get(field, field)}: {message}"
                for field, messages in form.errors.items()
                for message in messages
            ]
            raise CommandError("the rule was not added:\n  " + "\n  ".join(problems))
        rule = form.save()
        self.stdout.write(f"Added {_describe(rule)}")

    def do_list(self, **_: object) -> None:
        rules = list(AlertRule.objects.all())
        if not rules:
            self.stdout.write("No alert rules.")
        for rule in rules:
            self.stdout.write(_describe(rule))

    def do_test(self, name: str, **_: object) -> None:
        rule = _rule(name)
        results = alerts.send_test(rule)
        for delivery in results:
            said = "sent" if delivery.status == AlertDelivery.Status.SENT else delivery.error
            self.stdout.write(f"{delivery.destination}: {said}")
        if any(d.status == AlertDelivery.Status.FAILED for d in results):
            raise CommandError(f"the test of “{name}” failed for some destinations")

    def do_remove(self, name: str, **_: object) -> None:
        _rule(name).delete()
        self.stdout.write(f"Removed “{name}”.")


_OPTION = {"destinations": "notify", "rearm_dollars": "rearm-cents"}


def _rule(name: str) -> AlertRule:
    rule = AlertRule.objects.filter(name=name).first()
    if rule is None:
        known = ", ".join(AlertRule.objects.values_list("name", flat=True)) or "none"
        raise CommandError(f"no alert rule named “{name}” (rules: {known})")
    return rule


def _describe(rule: AlertRule) -> str:
    state = "paused" if rule.paused else "active"
    return (
        f"“{rule.name}” ({state}): search “{rule.search or '(every deal)'}”, "
        f"to {', '.join(rule.masked_destinations)}, re-arm {money(rule.rearm_cents)}, "
        f"at most {rule.cap_per_hour} an hour per destination"
    )
