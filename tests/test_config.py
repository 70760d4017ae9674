from __future__ import annotations

import json
from pathlib import Path

import pytest

from deals.config import ConfigError, load_config

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
