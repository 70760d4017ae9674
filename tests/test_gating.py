"""Gated from the user's restricted list (deals/gating.py): unknown stays unknown."""

from __future__ import annotations

import pytest
from django.utils import timezone

from deals import backfill, gating
from deals.models import Deal, DealEvent, Gated, Restriction

pytestmark = pytest.mark.django_db


def make(asin: str, **snapshot: object) -> Deal:
    now = timezone.now()
    return Deal.objects.create(
        asin=asin,
        price_type=2,
        now_price=1000,
        root_category=283155,
        product_snapshot={
            "brand": "Pearson",
            "manufacturer": "Pearson Education",
            "categoryTree": [{"catId": 283155, "name": "Books"}, {"catId": 5, "name": "Medicine"}],
        }
        | snapshot,
        first_seen_utc=now,
        last_seen_utc=now,
        changed_at=now,
    )


def rule(kind: str, value: str, gated: bool = True) -> None:
    Restriction.objects.create(kind=kind, value=gating.normalize(kind, value), gated=gated)


def answer(deal: Deal) -> tuple[str, str]:
    return gating.status(deal, gating.Rules.load())


def test_without_a_rule_the_answer_is_unknown_never_no():
    deal = make("0312850123")
    assert answer(deal) == (Gated.UNKNOWN, "")
    rule("brand", "Penguin")
    assert answer(deal)[0] == Gated.UNKNOWN


def test_a_brand_or_publisher_on_the_list_gates_it_whatever_the_case():
    deal = make("0312850123")
    rule("brand", "  PEARSON education ")
    assert answer(deal) == (Gated.YES, "publisher 'pearson education' is on your restricted list")


def test_a_category_by_name_or_by_id_gates_it():
    deal = make("0312850123")
    rule("category", "medicine")
    assert answer(deal) == (Gated.YES, "category 'medicine' is on your restricted list")
    Restriction.objects.all().delete()
    rule("category", "5")
    assert answer(deal) == (Gated.YES, "category 5 is on your restricted list")


def test_the_users_mark_on_the_asin_wins_both_ways():
    deal = make("0312850123")
    rule("brand", "Pearson")
    rule("asin", "0312850123", gated=False)
    assert answer(deal) == (Gated.NO, "you marked it sellable")
    Restriction.objects.filter(kind="asin").update(gated=True)
    assert answer(deal) == (Gated.YES, "you marked it gated")


def test_a_one_click_mark_applies_at_once_and_forgetting_it_goes_back_to_unknown():
    make("0312850123")
    assert gating.mark("0312850123", "yes").gated == Gated.YES
    assert DealEvent.objects.filter(asin="0312850123", field="gated", new_value="yes").exists()
    assert gating.mark("0312850123", "no").gated == Gated.NO
    forgotten = gating.mark("0312850123", "unknown")
    assert (forgotten.gated, forgotten.gated_reason) == (Gated.UNKNOWN, "")
    assert not Restriction.objects.exists()


def test_apply_reevaluates_every_deal_and_counts_the_changes():
    for i in range(5):
        make(f"B00000000{i}", brand="Pearson" if i % 2 else "Penguin")
    rule("brand", "Pearson")
    assert gating.apply() == 2
    assert set(Deal.objects.filter(gated=Gated.YES).values_list("asin", flat=True)) == {
        "B000000001",
        "B000000003",
    }
    assert gating.apply() == 0  # nothing left to change


def test_the_upserters_recompute_and_the_backfill_fill_gated_from_the_list():
    make("0312850123")
    rule("brand", "Pearson")
    sync = backfill.run(["gated", "gated_reason"])
    assert sync.status == "ok"
    deal = Deal.objects.get()
    assert (deal.gated, deal.gated_reason) == (
        Gated.YES,
        "brand 'pearson' is on your restricted list",
    )


# -- the CSV import ------------------------------------------------------------------------


def test_a_csv_with_a_header_names_kind_value_gated_and_note():
    text = (
        "kind,value,gated,note\nasin,0312850123,no,checked in Seller Central\npublisher,Pearson,,\n"
    )
    assert gating.parse_csv(text) == [
        ("asin", "0312850123", False, "checked in Seller Central"),
        ("brand", "pearson", True, ""),
    ]


def test_a_plain_list_of_values_takes_the_kind_chosen():
    assert gating.parse_csv("b0d8w1yvbx\n\nB0F7XPYCSJ\n", "asin") == [
        ("asin", "B0D8W1YVBX", True, ""),
        ("asin", "B0F7XPYCSJ", True, ""),
    ]
    with pytest.raises(gating.RestrictedListError, match="choose what the lines are"):
        gating.parse_csv("B0D8W1YVBX\n")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("kind,value\nshoe,Nike\n", "line 2: kind must be asin, brand or category"),
        ("kind,value,gated\nbrand,Nike,maybe\n", "line 2: gated must be yes or no"),
        ("kind,value,gated\nbrand,Nike,no\n", "line 2: only an ASIN can be marked not gated"),
        ("kind,value\nbrand,\n", "line 2: a value of 1 to 200 characters is needed"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_saved(text, error):
    with pytest.raises(gating.RestrictedListError, match=error):
        gating.parse_csv(text)


def test_saving_a_line_twice_replaces_it():
    gating.save_rules([("asin", "0312850123", True, "first")])
    gating.save_rules([("asin", "0312850123", False, "second")])
    assert list(Restriction.objects.values_list("value", "gated", "note")) == [
        ("0312850123", False, "second")
    ]
