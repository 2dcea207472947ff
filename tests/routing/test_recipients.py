"""Recipients: people, nested groups, cycles and number validation, with config paths."""

from __future__ import annotations

import pytest

from bridge.config.schema import BridgeConfig, PersonConfig, RecipientConfig
from bridge.errors import ConfigErrors
from bridge.model import Recipient
from bridge.routing.recipients import normalise_address, resolve_recipients

ALICE = "+14155550123"
BOB = "+447911123456"
CAROL = "+972502345678"


def errors_of(config: dict[str, RecipientConfig]) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigErrors) as caught:
        resolve_recipients(config)
    return [(error.path, error.message) for error in caught.value.errors]


def test_person_as_string_or_phone_mapping_resolves_to_itself() -> None:
    resolved = resolve_recipients({"alice": ALICE, "bob": PersonConfig(phone=BOB)})
    assert resolved == {
        "alice": (Recipient("alice", ALICE),),
        "bob": (Recipient("bob", BOB),),
    }


def test_config_as_loaded_from_yaml_resolves() -> None:
    config = BridgeConfig.model_validate(
        {"recipients": {"alice": ALICE, "bob": {"phone": BOB}, "sre": ["alice", "bob"]}}
    )
    assert resolve_recipients(config.recipients)["sre"] == (
        Recipient("alice", ALICE),
        Recipient("bob", BOB),
    )


def test_nested_groups_flatten_in_order_and_each_phone_once() -> None:
    resolved = resolve_recipients(
        {
            "alice": ALICE,
            "bob": BOB,
            "carol": CAROL,
            "alice-work": ALICE,
            "sre": ["alice", "bob"],
            "everyone": ["sre", "carol", "alice-work", "bob"],
        }
    )
    assert resolved["everyone"] == (
        Recipient("alice", ALICE),
        Recipient("bob", BOB),
        Recipient("carol", CAROL),
    )


def test_group_may_list_a_number_directly() -> None:
    resolved = resolve_recipients({"alice": ALICE, "oncall": ["alice", "+1 415 555 0199"]})
    assert resolved["oncall"] == (
        Recipient("alice", ALICE),
        Recipient("+14155550199", "+14155550199"),
    )


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("+1 (415) 555-0123", ALICE),
        ("+44 7911 123456", BOB),
        (" +972-50-234-5678 ", CAROL),
        ("14155550123@c.us", "14155550123@c.us"),
        ("120363426216988013@g.us", "120363426216988013@g.us"),
        ("972501234567-1600000000@g.us", "972501234567-1600000000@g.us"),
        ("120363401234567890@newsletter", "120363401234567890@newsletter"),
    ],
    ids=[
        "us-formatted",
        "uk-spaces",
        "il-dashes",
        "person-jid",
        "group-jid",
        "old-group-jid",
        "channel",
    ],
)
def test_addresses_are_normalised_to_e164_or_kept_as_jid(written: str, normalised: str) -> None:
    assert normalise_address(written) == normalised


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("14155550123", "start with + and the country code"),
        ("+1415", "not a valid phone number"),
        ("+972501234567", "not a valid phone number"),
        ("+hello", "not a phone number"),
        ("alice@c.us", "start with +"),
    ],
    ids=["no-plus", "too-short", "unassigned-range", "letters", "bad-jid"],
)
def test_bad_number_is_reported_with_its_path(phone: str, message: str) -> None:
    [(path, text)] = errors_of({"alice": phone})
    assert path == "recipients.alice"
    assert message in text


def test_bad_number_in_phone_mapping_names_the_phone_field() -> None:
    assert errors_of({"bob": PersonConfig(phone="12")})[0][0] == "recipients.bob.phone"


def test_unknown_member_names_the_group_index_and_suggests_a_name() -> None:
    [(path, message)] = errors_of({"alice": ALICE, "bob": BOB, "sre": ["alice", "bobb"]})
    assert path == "recipients.sre[1]"
    assert message == "unknown recipient 'bobb' (did you mean 'bob'?)"


@pytest.mark.parametrize(
    ("config", "path", "cycle"),
    [
        ({"a": ["a"]}, "recipients.a[0]", "a -> a"),
        ({"a": ["b"], "b": ["a"]}, "recipients.b[0]", "a -> b -> a"),
        (
            {"x": ALICE, "a": ["x", "b"], "b": ["c"], "c": ["x", "a"]},
            "recipients.c[1]",
            "a -> b -> c -> a",
        ),
    ],
    ids=["self", "pair", "three-with-people"],
)
def test_group_cycle_is_reported_once_with_the_chain(
    config: dict[str, RecipientConfig], path: str, cycle: str
) -> None:
    [(error_path, message)] = errors_of(config)
    assert error_path == path
    assert message.endswith(cycle)


def test_empty_group_is_an_error() -> None:
    assert errors_of({"nobody": []}) == [("recipients.nobody", "a group needs at least one member")]


def test_every_problem_is_reported_in_one_pass() -> None:
    errors = errors_of({"alice": "0501234567", "bob": "+1", "sre": ["alice", "carol"]})
    assert [path for path, _ in errors] == [
        "recipients.alice",
        "recipients.bob",
        "recipients.sre[1]",
    ]


def test_a_number_and_its_whatsapp_id_are_one_recipient() -> None:
    resolved = resolve_recipients(
        {
            "carol": CAROL,
            "carol-wa": f"{CAROL[1:]}@c.us",
            "oncall": ["carol", "carol-wa", "bob"],
            "bob": BOB,
            "wa-first": ["carol-wa", "carol"],
        }
    )
    assert resolved["oncall"] == (Recipient("carol", CAROL), Recipient("bob", BOB))
    # What is sent stays as written: the first name that reached the chat wins.
    assert resolved["wa-first"] == (Recipient("carol-wa", f"{CAROL[1:]}@c.us"),)
