"""The dashboard's query parameters (search, sort, filters), validated.

The filters are generated from `deals.columns.COLUMNS`: a column declared with
`filter="min"`, `"max"`, `"range"`, `"exact"` or `"contains"` gets its fields here, and the
dashboard, the JSON API and the CSV export all accept them, without further code.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from deals.columns import COLUMNS, SORTABLE, Column, category_name
from deals.config import COST_LIMITS, SellerCosts
from deals.gating import normalize as normalize_restriction
from deals.models import DealStatus, Restriction, SavedSearch
from deals.triage import CHOICES as TRIAGE_CHOICES
from deals.triage import filter_for as triage_filter
from deals.triage import normalise_query
from keepa_client.records import is_asin
from keepa_client.wire import CONDITION_NAMES

DEFAULT_SORT = "-delta_percent"

SORT_CHOICES = [
    (f"{prefix}{name}", f"{prefix}{name}") for name in sorted(SORTABLE) for prefix in ("-", "")
]


def filter_params(column: Column) -> list[tuple[str, str]]:
    """(query parameter, ORM lookup) pairs a column's `filter` declaration asks for."""
    name, field = column.name, column.field
    if column.filter == "min":
        return [(f"{name}_min", f"{field}__gte")]
    if column.filter == "max":
        return [(f"{name}_max", f"{field}__lte")]
    if column.filter == "range":
        return [(f"{name}_min", f"{field}__gte"), (f"{name}_max", f"{field}__lte")]
    if column.filter == "exact":
        return [(name, field)]
    if column.filter == "contains":
        return [(name, f"{field}__icontains")]
    return []


FILTER_COLUMNS = [c for c in COLUMNS if c.filter]
# query parameter -> (column, ORM lookup)
FILTER_LOOKUPS = {
    param: (column, lookup) for column in FILTER_COLUMNS for param, lookup in filter_params(column)
}


def _filter_field(column: Column, param: str, categories: Iterable[int] | None) -> forms.Field:
    bound = "min" if param.endswith("_min") else "max" if param.endswith("_max") else ""
    label = {"min": f"{column.label} from", "max": f"{column.label} up to"}.get(bound, column.label)
    if column.kind == "money":
        return forms.DecimalField(
            label=f"{label} ($)", required=False, min_value=0, max_digits=9, decimal_places=2
        )
    if column.kind == "int":
        # Ranks and counts are never negative: "up to -3" would silently match nothing.
        return forms.IntegerField(label=label, required=False, min_value=0)
    if column.kind == "percent":
        return forms.IntegerField(label=label, required=False)
    if column.kind == "datetime":
        return forms.DateTimeField(label=f"{label} (UTC)", required=False)
    if column.kind == "bool":
        return forms.NullBooleanField(
            label=label,
            required=False,
            widget=forms.Select(choices=[("", "any"), ("true", "yes"), ("false", "no")]),
        )
    if column.choices:
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "any"), *column.choices]
        )
    if column.kind == "condition":
        return forms.TypedChoiceField(
            label=label,
            required=False,
            coerce=int,
            empty_value=None,
            choices=[
                ("", "any"),
                *(
                    (number, name.removeprefix("Used - "))
                    for number, name in CONDITION_NAMES.items()
                ),
            ],
        )
    if column.kind == "category":
        if categories is None:
            # The live poll and the API skip the choices query; a made-up id just matches nothing.
            return forms.IntegerField(label=label, required=False)
        choices = sorted(((c, category_name(c)) for c in categories), key=lambda c: c[1])
        return forms.TypedChoiceField(
            label=label,
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "all"), *choices],
        )
    return forms.CharField(label=label, required=False, max_length=200)


# What a view lists without `?status=`: every deal that may still be one. Left deals are kept
# with their history and listed only when asked for.
SHOWN_STATUSES = (DealStatus.LISTED, DealStatus.UNVERIFIED)


class DealFilterForm(forms.Form):
    q = forms.CharField(label="Search title or ASIN", required=False, max_length=200)
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "listed and unverified"),
            (DealStatus.LISTED, "listed only"),
            (DealStatus.UNVERIFIED, "unverified only"),
            (DealStatus.LEFT, "left (hidden by default)"),
        ],
    )
    # The reader's own marks (deals/triage.py): hidden deals are left out unless asked for.
    triage = forms.ChoiceField(label="Yours", required=False, choices=TRIAGE_CHOICES)

    def __init__(self, *args: Any, categories: Iterable[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        categories = list(categories) if categories is not None else None
        for param, (column, _lookup) in FILTER_LOOKUPS.items():
            self.fields[param] = _filter_field(column, param, categories)

    def filter_fields(self) -> list[forms.BoundField]:
        return [self["status"], self["triage"], *(self[param] for param in FILTER_LOOKUPS)]

    @property
    def ordering(self) -> str:
        """The requested sort if it is a sortable column, else the default."""
        self.is_valid()  # cleans every field; a valid sort is kept even if a filter is not
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def valid_data(self) -> dict[str, Any]:
        """The fields that validated: an invalid one is reported beside its field (its
        errors) and left out, and every other filter still applies."""
        self.is_valid()  # cleans every field; cleaned_data keeps only the valid ones
        return getattr(self, "cleaned_data", {})  # an unbound form filters nothing

    def filters(self) -> Q:
        """The search and the valid filters as one Q (an invalid filter is ignored)."""
        data = self.valid_data()
        status = data.get("status")
        query = Q(status=status) if status else Q(status__in=SHOWN_STATUSES)
        query &= triage_filter(data.get("triage") or "")
        for param, (column, lookup) in FILTER_LOOKUPS.items():
            value = data.get(param)
            if value is None or value == "":
                continue
            if column.kind == "money":
                value = int((value * 100).to_integral_value())  # dollars -> cents
            query &= Q(**{lookup: value})
        text = (data.get("q") or "").strip()
        if text:
            query &= Q(title__icontains=text) | Q(asin__iexact=text)
        return query

    def params(self) -> dict[str, str]:
        """The effective query parameters (valid, non-empty), for links and the live poll."""
        params: dict[str, str] = {}
        for name, value in self.valid_data().items():
            if value is None or value == "" or name == "sort":
                continue
            if isinstance(value, Decimal):
                value = f"{value.normalize():f}"
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            params[name] = str(value)
        if self.ordering != DEFAULT_SORT:
            params["sort"] = self.ordering
        return params


def _dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


# The Costs form's labels, by settings.json key; its fields and bounds come from COST_LIMITS.
COST_LABELS = {
    "prep_fee_cents": "Prep fee per item ($)",
    "inbound_shipping_cents": "Inbound shipping per item ($)",
    "closing_fee_cents": "Amazon closing fee per item ($)",
    "sales_tax_percent": "Sales tax (%)",
    "tax_exempt": "I buy tax-exempt",
    "target_markup_percent": "Target markup / ROI (%)",
}
# Decimal places a percentage may have (money has cents).
_PERCENT_PLACES = {"sales_tax_percent": 3, "target_markup_percent": 1}


def _cost_field_name(key: str) -> str:
    """The form shows dollars where the file stores cents: "prep_fee_cents" -> "prep_fee"."""
    return key.removesuffix("_cents")


def _cost_field(key: str) -> forms.Field:
    kind, low, high = COST_LIMITS[key]
    label = COST_LABELS[key]
    if kind is bool:
        return forms.BooleanField(label=label, required=False)
    if kind is int:  # cents, entered in dollars
        return forms.DecimalField(
            label=label,
            min_value=Decimal(low) / 100,
            max_value=Decimal(high) / 100,
            decimal_places=2,
        )
    return forms.DecimalField(
        label=label,
        min_value=Decimal(low),
        max_value=Decimal(high),
        decimal_places=_PERCENT_PLACES[key],
    )


class SellerCostsForm(forms.Form):
    """The seller's costs, in dollars and percent as a reseller thinks of them."""

    def __init__(self, *args: Any, read_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key in COST_LIMITS:
            field = _cost_field(key)
            field.disabled = read_only  # shown, greyed out, and never taken from a POST
            self.fields[_cost_field_name(key)] = field

    @classmethod
    def initial_from(cls, costs: SellerCosts) -> dict[str, Any]:
        initial = {}
        for key, (kind, _low, _high) in COST_LIMITS.items():
            value = getattr(costs, key)
            initial[_cost_field_name(key)] = _dollars(value) if kind is int else value
        return initial

    def to_costs(self) -> SellerCosts:
        values = {}
        for key, (kind, _low, _high) in COST_LIMITS.items():
            value = self.cleaned_data[_cost_field_name(key)]
            if kind is int:
                value = int(value * 100)  # at most two decimal places: exact
            elif kind is float:
                value = float(value)
            values[key] = value
        return SellerCosts(**values)


class RestrictionForm(forms.Form):
    """One line of the restricted list, added by hand."""

    kind = forms.ChoiceField(choices=Restriction.Kind.choices)
    value = forms.CharField(
        max_length=200, help_text="an ASIN, a brand or publisher, or a category name or id"
    )
    gated = forms.TypedChoiceField(
        choices=[("yes", "gated"), ("no", "sellable (ASIN only)")],
        coerce=lambda v: v == "yes",
        initial="yes",
        required=False,
        empty_value=True,
    )
    note = forms.CharField(max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            data["value"] = normalize_restriction(kind, value)
            if not data["value"]:
                self.add_error("value", "Enter a value.")
            if kind == Restriction.Kind.ASIN and not is_asin(data["value"]):
                self.add_error("value", "An ASIN is 10 letters and digits.")
            if data.get("gated") is False and kind != Restriction.Kind.ASIN:
                self.add_error("gated", "Only an ASIN can be marked sellable.")
        return data


class RestrictionImportForm(forms.Form):
    """A CSV of restricted-list lines (deals/gating.py parse_csv says what it may hold)."""

    MAX_BYTES = 2_000_000

    file = forms.FileField(
        help_text="CSV with a header kind,value[,gated][,note], or one value a line"
    )
    kind = forms.ChoiceField(
        choices=[("", "as the file says"), *Restriction.Kind.choices],
        required=False,
        help_text="what the lines are, for a file without a header",
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc


class SavedSearchForm(forms.ModelForm):
    """A saved search: its name and the dashboard query string it opens (a pasted address
    works too; the page and empty parameters are dropped)."""

    class Meta:
        model = SavedSearch
        fields = ["name", "query"]
        labels = {"query": "Query string"}
        help_texts = {"query": "the part of the dashboard's address after ?, e.g. profit_min=20"}

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the search a name.")
        return name

    def clean_query(self) -> str:
        query = normalise_query(self.cleaned_data.get("query") or "")
        if len(query) > SavedSearch._meta.get_field("query").max_length:
            raise forms.ValidationError("The query string is too long.")
        filters = DealFilterForm(QueryDict(query))
        if not filters.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in filters.errors.items()
            )
            raise forms.ValidationError(f"The dashboard would ignore {problems}")
        return query

    def save(self, commit: bool = True) -> SavedSearch:
        self.instance.updated_at = timezone.now()
        return super().save(commit=commit)
