from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from deals.config import ConfigError, SellerCosts, load_config, write_seller_costs

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def shipped() -> dict:
    return json.loads((ROOT / "settings.json").read_text())


def test_the_shipped_settings_file_is_valid_and_asks_for_used_books():
    config = load_config(ROOT / "settings.json")
    assert config.price_type == 2  # used
    assert config.deal_query["includeCategories"] == [283155]  # Books
    assert config.stale_after_hours == 48
    assert config.update_every_minutes <= config.full_sweep_every_minutes


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"settings\.json: file not found"):
        load_config(tmp_path / "settings.json")


def test_invalid_json_says_where(tmp_path):
    path = write(tmp_path, '{"deal_query": {"domainId": 1,,}}')
    with pytest.raises(ConfigError, match=r"invalid JSON at line 1, column \d+"):
        load_config(path)


def test_an_unknown_field_is_named(tmp_path):
    data = shipped() | {"update_every_minute": 5}
    with pytest.raises(ConfigError, match="unknown field 'update_every_minute'"):
        load_config(write(tmp_path, data))


def test_an_unknown_deal_query_field_is_named(tmp_path):
    data = shipped()
    data["deal_query"]["priceType"] = [2]
    with pytest.raises(ConfigError, match=r"'deal_query\.priceType' is not a Keepa /deal query"):
        load_config(write(tmp_path, data))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("update_every_minutes", "5", "must be a whole number, got string '5'"),
        ("stale_after_hours", True, "must be a whole number, got true/false"),
        ("token_reserve", 1.5, "must be a whole number, got number 1.5"),
    ],
)
def test_a_wrong_type_is_named(tmp_path, field, value, message):
    data = shipped() | {field: value}
    with pytest.raises(ConfigError, match=f"field '{field}' {message}"):
        load_config(write(tmp_path, data))


@pytest.mark.parametrize(
    ("field", "value"),
    [("update_every_minutes", 0), ("stale_after_hours", 2), ("prune_every_hours", 1000)],
)
def test_an_out_of_range_value_is_named(tmp_path, field, value):
    data = shipped() | {field: value}
    with pytest.raises(ConfigError, match=f"field '{field}' must be between .* got {value}"):
        load_config(write(tmp_path, data))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("priceTypes", [2, 1], "priceTypes' must be a list of exactly one"),
        ("priceTypes", [4], "priceTypes' must be a list of exactly one"),
        ("dateRange", 7, "dateRange' must be 0"),
        ("currentRange", [2000], "currentRange' must be a list of two whole numbers"),
        ("isLowest", "no", "isLowest' must be true or false"),
        ("domainId", 7, "domainId' must be one of"),
    ],
)
def test_the_deal_query_is_checked_the_way_keepa_checks_it(tmp_path, key, value, message):
    data = shipped()
    data["deal_query"][key] = value
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, data))


def test_numbers_sent_as_strings_are_accepted_like_keepa_does(tmp_path):
    data = shipped()
    data["deal_query"].update(domainId="1", dateRange="3")
    config = load_config(write(tmp_path, data))
    assert config.domain_id == 1
    assert config.date_range == 3


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    config = load_config(write(tmp_path, {"deal_query": {"domainId": 1, "priceTypes": [2]}}))
    assert config.update_every_minutes == 5
    assert config.stale_after_hours == 48
    assert config.date_range == 0


HOSTILE = {
    # Python refuses to turn more than 4,300 digits into an int (a ValueError, not JSON's).
    "a 5,000-digit number": (
        '{"deal_query": {"domainId": 1, "priceTypes": [2]}, "token_reserve": 1' + "0" * 4999 + "}",
        "invalid JSON: a number is too long (Exceeds the limit (4300 digits)",
    ),
    # The decoder recurses once per level: a RecursionError, not a JSONDecodeError.
    "lists nested 100,000 deep": (
        "[" * 100_000,
        "invalid JSON: lists or objects nested too deeply",
    ),
    "a domain id in superscript digits": (
        '{"deal_query": {"domainId": "\u00b2", "priceTypes": [2]}}',
        "'deal_query.domainId' must be one of",
    ),
    "a 5,000-digit domain id string": (
        '{"deal_query": {"domainId": "' + "1" * 5000 + '", "priceTypes": [2]}}',
        "'deal_query.domainId' must be one of",
    ),
    "a nested minRating": (
        '{"deal_query": {"domainId": 1, "priceTypes": [2], "minRating": [[[1]]]}}',
        "'deal_query.minRating' must be a whole number from -1 to 50, got a list",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_is_a_config_error_with_a_message(tmp_path, name):
    content, message = HOSTILE[name]
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, content))
    assert str(raised.value).startswith("settings.json: ")
    assert message in str(raised.value)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"deal_query": {"titleSearch": "caf\xe9"}}')
    with pytest.raises(ConfigError, match=r"settings\.json: not UTF-8 text \(byte 35 "):
        load_config(path)


def test_a_directory_in_place_of_the_file_is_named(tmp_path):
    (tmp_path / "settings.json").mkdir()
    with pytest.raises(ConfigError, match=r"settings\.json: cannot be read \(Is a directory\)"):
        load_config(tmp_path / "settings.json")


NEW_COSTS = SellerCosts(
    prep_fee_cents=75,
    inbound_shipping_cents=60,
    closing_fee_cents=180,
    sales_tax_percent=6.5,
    tax_exempt=True,
    target_markup_percent=40.0,
)
NEW_COSTS_JSON = {
    "prep_fee_cents": 75,
    "inbound_shipping_cents": 60,
    "closing_fee_cents": 180,
    "sales_tax_percent": 6.5,
    "tax_exempt": True,
    "target_markup_percent": 40,
}

# A file laid out by hand: four-space indents, a one-line query, odd spacing, keys in the
# user's order. Only the seller_costs value may change when the costs are saved.
HAND_MADE = """{
    "update_every_minutes" :  5,
    "deal_query": {"domainId": 1, "priceTypes": [2],   "dateRange": 3},
    "seller_costs": {
        "prep_fee_cents": 50,
        "tax_exempt": false
    },

    "stale_after_hours": 48
}
"""


def test_saving_costs_rewrites_only_their_value_and_keeps_the_layout(tmp_path):
    path = write(tmp_path, HAND_MADE)
    assert write_seller_costs(NEW_COSTS, path) is True
    text = path.read_text()
    head, tail = HAND_MADE.split('"seller_costs": ')[0], HAND_MADE.split("    },\n")[1]
    assert text.startswith(head + '"seller_costs": {\n        "prep_fee_cents": 75,\n')
    assert text.endswith('\n        "target_markup_percent": 40\n    },\n' + tail)
    assert json.loads(text)["seller_costs"] == NEW_COSTS_JSON
    assert load_config(path).seller_costs == NEW_COSTS


def test_saving_costs_keeps_a_one_line_file_on_one_line(tmp_path):
    path = write(tmp_path, shipped())
    before = path.read_text()
    write_seller_costs(NEW_COSTS, path)
    after = path.read_text()
    assert "\n" not in after
    assert after.split('"seller_costs": ')[0] == before.split('"seller_costs": ')[0]
    assert json.loads(after) == json.loads(before) | {"seller_costs": NEW_COSTS_JSON}


def test_saving_costs_into_a_file_without_them_appends_them_in_its_layout(tmp_path):
    original = (
        '{\r\n\t"deal_query": {"domainId": 1, "priceTypes": [2]},\r\n\t"token_reserve": 5\r\n}'
    )
    path = tmp_path / "settings.json"
    path.write_bytes(original.encode())
    write_seller_costs(NEW_COSTS, path)
    after = path.read_bytes().decode()
    assert after.startswith(
        original[: original.index("\r\n}")] + ',\r\n\t"seller_costs": {\r\n\t\t'
    )
    assert after.endswith("\r\n\t}\r\n}")
    assert json.loads(after)["seller_costs"] == NEW_COSTS_JSON
    assert json.loads(after)["token_reserve"] == 5


def test_saving_the_stored_costs_again_writes_nothing(tmp_path):
    path = write(tmp_path, HAND_MADE)
    write_seller_costs(NEW_COSTS, path)
    inode, text = path.stat().st_ino, path.read_text()
    assert write_seller_costs(NEW_COSTS, path) is False
    assert path.stat().st_ino == inode and path.read_text() == text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_saving_costs_keeps_the_file_s_permissions(tmp_path, mode):
    # A worker running as another user reads the file through its group or world bits.
    path = write(tmp_path, shipped())
    path.chmod(mode)
    write_seller_costs(NEW_COSTS, path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_saving_costs_through_a_symlink_keeps_the_link(tmp_path):
    real = write(tmp_path, shipped())
    (tmp_path / "conf").mkdir()
    link = tmp_path / "conf" / "settings.json"
    link.symlink_to(real)
    write_seller_costs(NEW_COSTS, link)
    assert link.is_symlink()
    assert load_config(real).seller_costs == NEW_COSTS
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".settings-")] == []


def test_a_broken_file_is_not_overwritten_by_a_save(tmp_path):
    path = write(
        tmp_path, '{"deal_query": {"domainId": 1, "priceTypes": [2]}, "prune_every_hours": 0}'
    )
    before = path.read_text()
    with pytest.raises(ConfigError, match="prune_every_hours"):
        write_seller_costs(NEW_COSTS, path)
    assert path.read_text() == before
