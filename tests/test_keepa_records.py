"""Record checks at the Keepa boundary: real responses from tests/fixtures/keepa/, made hostile."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from keepa_client.models import DealPage, Products, Seller
from keepa_client.records import clean_image, describe_rejected, is_asin

FIXTURES = Path(__file__).parent / "fixtures" / "keepa"
DEAL_PAGE = "deal_response__timemery-keepa-deals__4e25862b.json"
PRODUCT = "product_object_with_offers_055299068X__timemery-AgentArbitrage__diag_no_seller_log.json"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_every_asin_in_the_real_responses_passes_the_check():
    asins = [
        match
        for path in FIXTURES.glob("*.json")
        for match in _values(json.loads(path.read_text()), "asin")
    ]
    assert len(asins) > 400
    assert all(is_asin(a) for a in asins), [a for a in asins if not is_asin(a)]
    # And every record of a real page is kept, whole.
    page = DealPage.from_json(load(DEAL_PAGE), 0)
    assert len(page.deals) == 150 and page.rejected == ()


def _values(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _values(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v, key)


@pytest.mark.parametrize(
    ("asin", "reason"),
    [
        ("ab/c", "not an ASIN (4 characters)"),
        ("<b>X</b>1", "not an ASIN (9 characters)"),
        ("B" * 40, "not an ASIN (40 characters)"),
        ("B0ABCDEFGHIJKLMNO", "not an ASIN (17 characters)"),
        ("B0ÄBCDEFGH", "not an ASIN"),
        ("b0abcdefgh", "not an ASIN"),
        ("B0ABCDEF\x00H", "not an ASIN"),
        (None, "missing"),
        (1234567890, "not text (int)"),
    ],
)
def test_a_deal_whose_asin_is_not_an_asin_is_dropped_with_its_reason(asin, reason):
    body = load(DEAL_PAGE)
    body["deals"]["dr"][3]["asin"] = asin
    page = DealPage.from_json(body, 0)
    assert len(page.deals) == 149
    assert [r.reason for r in page.rejected] == [reason]
    assert "\x00" not in str(page.rejected[0])
    # Still a full page: the records after it are on page 1, not missing.
    assert not page.is_last


def test_an_unreadable_deal_is_dropped_and_the_page_kept():
    body = load(DEAL_PAGE)
    body["deals"]["dr"][0]["current"] = "not a list of prices"
    body["deals"]["dr"][1] = ["not", "an", "object"]
    page = DealPage.from_json(body, 0)
    assert len(page.deals) == 148
    assert [r.reason for r in page.rejected] == ["unreadable (ValueError)", "not an object"]


def test_a_deals_strings_are_cleaned_and_its_raw_json_holds_no_nul():
    body = load(DEAL_PAGE)
    record = body["deals"]["dr"][0]
    record["title"] = "  A\x00 title\x07 with\ncontrol characters " + "x" * 5000
    record["warehouseConditionComment"] = "worn\x00"
    record["image"] = [ord(c) for c in "javascript:alert(1)"]
    deal = DealPage.from_json(body, 0).deals[0]
    assert deal.title.startswith("A title  with control characters xxx")
    assert len(deal.title) == 2000
    assert deal.warehouse_condition_comment == "worn"
    assert deal.image is None and deal.image_url is None
    assert "\\u0000" not in json.dumps(deal.raw)


def test_bad_image_codes_cost_the_image_not_the_deal():
    body = load(DEAL_PAGE)
    body["deals"]["dr"][0]["image"] = [-5, 2**40]
    page = DealPage.from_json(body, 0)
    assert len(page.deals) == 150 and page.deals[0].image is None


def test_a_real_image_name_is_kept():
    deal = DealPage.from_json(load(DEAL_PAGE), 0).deals[0]
    assert deal.image_url.startswith("https://m.media-amazon.com/images/I/")
    assert clean_image("51yBZ3ocI+L.jpg") == "51yBZ3ocI+L.jpg"
    assert clean_image("61V-5K-qdNL.jpg") == "61V-5K-qdNL.jpg"


def test_a_product_answer_drops_malformed_products_and_cleans_the_others():
    good = load(PRODUCT)
    bad = copy.deepcopy(good)
    bad["asin"] = "ab/c"
    good["title"] = "Title\x00 with NUL"
    good["offers"][0]["sellerId"] = "A" * 40  # longer than the column holds

    products = Products.from_json({"products": [bad, good]})

    assert [p.asin for p in products] == [good["asin"]]
    assert [str(r) for r in products.rejected] == ["ASIN 'ab/c' not an ASIN (4 characters)"]
    assert products[0].title == "Title with NUL"
    assert products[0].offers[0].seller_id is None  # the offer kept, unnamed
    assert products[0].offers[1].seller_id == good["offers"][1]["sellerId"]
    assert "\\u0000" not in json.dumps(products[0].raw)


def test_a_sellers_name_is_cleaned_and_capped():
    seller = Seller.from_json({"sellerId": "A1B2C3D4E5F6G7", "sellerName": "Shop\x00" + "y" * 300})
    assert seller.seller_name == "Shop" + "y" * 196


def test_the_note_names_a_few_rejected_records_and_counts_them_all():
    body = load(DEAL_PAGE)
    for i, asin in enumerate(["ab/c", "<b>X</b>1", "B" * 40, "B0ÄBCDEFGH"]):
        body["deals"]["dr"][i]["asin"] = asin
    note = describe_rejected(list(DealPage.from_json(body, 0).rejected), "deal")
    assert note == (
        "4 malformed deals skipped: ASIN 'ab/c' not an ASIN (4 characters); "
        "ASIN '<b>X</b>1' not an ASIN (9 characters); "
        "ASIN 'BBBBBBBBBBBBBBBBBBBBBBB…' not an ASIN (40 characters); 1 more"
    )
