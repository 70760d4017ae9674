"""The dashboard's query parameters (search, sort, filters), validated.

The filters are generated from `deals.columns.COLUMNS`: a column declared with
`filter="min"`, `"max"`, `"range"` or `"exact"` gets its fields here, and the dashboard, the
JSON API and the CSV export all accept them, without further code.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q

from deals.columns import COLUMNS, SORTABLE, Column, category_name
from deals.config import SellerCosts

DEFAULT_SORT = "-delta_percent"

SORT_CHOICES = [
    (f"{prefix}{name}", f"{prefix}{name}") for name in sorted(SORTABLE) for prefix in ("-", "")
]


def filter_params(column: Column) -> list[tuple[str, str]]:
    """(query parameter, ORM lookup) pairs a column's `filter` declaration asks for."""
    name = column.name
    if column.filter == "min":
        return [(f"{name}_min", f"{name}__gte")]
    if column.filter == "max":
        return [(f"{name}_max", f"{name}__lte")]
    if column.filter == "range":
        return [(f"{name}_min", f"{name}__gte"), (f"{name}_max", f"{name}__lte")]
    if column.filter == "exact":
        return [(name, name)]
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
    if column.kind in ("percent", "int"):
        return forms.IntegerField(label=label, required=False)
    if column.kind == "datetime":
        return forms.DateTimeField(label=f"{label} (UTC)", required=False)
    if column.kind == "bool":
        return forms.NullBooleanField(
            label=label,
            required=False,
            widget=forms.Select(choices=[("", "any"), ("true", "yes"), ("false", "no")]),
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


class DealFilterForm(forms.Form):
    q = forms.CharField(label="Search title or ASIN", required=False, max_length=200)
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)

    def __init__(self, *args: Any, categories: Iterable[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        categories = list(categories) if categories is not None else None
        for param, (column, _lookup) in FILTER_LOOKUPS.items():
            self.fields[param] = _filter_field(column, param, categories)

    def filter_fields(self) -> list[forms.BoundField]:
        return [self[param] for param in FILTER_LOOKUPS]

    @property
    def ordering(self) -> str:
        """The requested sort if it is a sortable column, else the default."""
        self.is_valid()  # cleans every field; a valid sort is kept even if a filter is not
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def filters(self) -> Q:
        """The search and filters as one Q; empty when the input is invalid (unfiltered table)."""
        if not self.is_valid():
            return Q()
        query = Q()
        for param, (column, lookup) in FILTER_LOOKUPS.items():
            value = self.cleaned_data.get(param)
            if value is None or value == "":
                continue
            if column.kind == "money":
                value = int((value * 100).to_integral_value())  # dollars -> cents
            query &= Q(**{lookup: value})
        text = self.cleaned_data["q"].strip()
        if text:
            query &= Q(title__icontains=text) | Q(asin__iexact=text)
        return query

    def params(self) -> dict[str, str]:
        """The effective query parameters (valid, non-empty), for links and the live poll."""
        params: dict[str, str] = {}
        if self.is_valid():
            for name, value in self.cleaned_data.items():
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


class SellerCostsForm(forms.Form):
    """The seller's costs, in dollars and percent as a reseller thinks of them."""

    prep_fee = forms.DecimalField(
        label="Prep fee per item ($)", min_value=0, max_value=100, decimal_places=2
    )
    inbound_shipping = forms.DecimalField(
        label="Inbound shipping per item ($)", min_value=0, max_value=100, decimal_places=2
    )
    closing_fee = forms.DecimalField(
        label="Amazon closing fee per item ($)", min_value=0, max_value=100, decimal_places=2
    )
    sales_tax_percent = forms.DecimalField(
        label="Sales tax (%)", min_value=0, max_value=30, decimal_places=3
    )
    tax_exempt = forms.BooleanField(label="I buy tax-exempt", required=False)
    target_markup_percent = forms.DecimalField(
        label="Target markup / ROI (%)", min_value=0, max_value=1000, decimal_places=1
    )

    @classmethod
    def initial_from(cls, costs: SellerCosts) -> dict[str, Any]:
        return {
            "prep_fee": _dollars(costs.prep_fee_cents),
            "inbound_shipping": _dollars(costs.inbound_shipping_cents),
            "closing_fee": _dollars(costs.closing_fee_cents),
            "sales_tax_percent": costs.sales_tax_percent,
            "tax_exempt": costs.tax_exempt,
            "target_markup_percent": costs.target_markup_percent,
        }

    def to_costs(self) -> SellerCosts:
        data = self.cleaned_data
        return SellerCosts(
            prep_fee_cents=int(data["prep_fee"] * 100),
            inbound_shipping_cents=int(data["inbound_shipping"] * 100),
            closing_fee_cents=int(data["closing_fee"] * 100),
            sales_tax_percent=float(data["sales_tax_percent"]),
            tax_exempt=data["tax_exempt"],
            target_markup_percent=float(data["target_markup_percent"]),
        )
