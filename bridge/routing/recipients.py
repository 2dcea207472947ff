"""Recipients from the config: people (a phone or WhatsApp JID) and groups of them, validated."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

import phonenumbers

from bridge.config.schema import PersonConfig, RecipientConfig
from bridge.errors import ConfigError, ConfigErrors
from bridge.model import Recipient

# WhatsApp chat ids Blueticks accepts as they are: a person, a group (old ids carry
# "-<timestamp>"), a channel.
_JID = re.compile(r"\d+@c\.us|\d+(?:-\d+)?@g\.us|\d+@newsletter")
_PERSON_JID = re.compile(r"(\d+)@c\.us")


def normalise_address(text: str) -> str:
    """A phone number in E.164 (`+...`), or a WhatsApp JID as is; ValueError says what is wrong."""
    value = text.strip()
    if _JID.fullmatch(value):
        return value
    if not value.startswith("+"):
        raise ValueError(
            f"{text!r} is not a phone number in E.164: start with + and the country code "
            "(e.g. +14155550123), or give a WhatsApp id such as 14155550123@c.us"
        )
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{text!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{text!r} is not a valid phone number (wrong length or unassigned range)")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def is_address(text: str) -> bool:
    """Whether a `to` entry is written as a number or JID rather than a recipient name."""
    value = text.strip()
    return value.startswith("+") or _JID.fullmatch(value) is not None


def unknown_recipient(name: str, known: Sequence[str]) -> str:
    """The message for a name that is not configured, with a suggestion when one is close."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown recipient {name!r}{hint}"


def resolve_recipients(
    recipients: Mapping[str, RecipientConfig],
) -> dict[str, tuple[Recipient, ...]]:
    """Every configured name to the people it reaches, groups flattened and deduplicated.

    Raises ConfigErrors with every problem found (paths such as `recipients.sre[1]`; the caller
    fills in the file).
    """
    resolver = _GroupResolver(recipients)
    resolved = {name: resolver.resolve(name) for name in recipients}
    if resolver.errors:
        raise ConfigErrors(resolver.errors)
    return resolved


def unique_by_phone(people: Sequence[Recipient]) -> tuple[Recipient, ...]:
    """People in order, each phone once (the first name that reached it wins).

    `+972501234567` and `972501234567@c.us` are the same chat, so they count as one.
    """
    seen: set[str] = set()
    unique: list[Recipient] = []
    for person in people:
        chat = _chat_of(person.phone)
        if chat not in seen:
            seen.add(chat)
            unique.append(person)
    return tuple(unique)


def _chat_of(phone: str) -> str:
    """The WhatsApp chat an address reaches: a person's JID compares as their E.164 number."""
    person = _PERSON_JID.fullmatch(phone)
    return f"+{person.group(1)}" if person else phone


class _GroupResolver:
    """Depth-first resolution of names with memoisation and cycle detection."""

    def __init__(self, config: Mapping[str, RecipientConfig]) -> None:
        self.config = config
        self.errors: list[ConfigError] = []
        self._done: dict[str, tuple[Recipient, ...]] = {}
        self._visiting: list[str] = []

    def resolve(self, name: str) -> tuple[Recipient, ...]:
        if name in self._done:
            return self._done[name]
        entry = self.config[name]
        if isinstance(entry, list):
            self._visiting.append(name)
            result = self._resolve_group(name, entry)
            self._visiting.pop()
        else:
            result = self._resolve_person(name, entry)
        self._done[name] = result
        return result

    def _resolve_person(self, name: str, entry: str | PersonConfig) -> tuple[Recipient, ...]:
        phone, path = (entry, name) if isinstance(entry, str) else (entry.phone, f"{name}.phone")
        try:
            return (Recipient(name=name, phone=normalise_address(phone)),)
        except ValueError as exc:
            self.errors.append(ConfigError(str(exc), path=f"recipients.{path}"))
            return ()

    def _resolve_group(self, name: str, members: list[str]) -> tuple[Recipient, ...]:
        if not members:
            self.errors.append(ConfigError("a group needs at least one member", path=_at(name)))
            return ()
        people: list[Recipient] = []
        for index, member in enumerate(members):
            path = _at(name, index)
            if member in self._visiting:
                cycle = [*self._visiting[self._visiting.index(member) :], member]
                message = f"groups include each other in a cycle: {' -> '.join(cycle)}"
                self.errors.append(ConfigError(message, path=path))
            elif member in self.config:
                people.extend(self.resolve(member))
            elif is_address(member):
                try:
                    phone = normalise_address(member)
                except ValueError as exc:
                    self.errors.append(ConfigError(str(exc), path=path))
                else:
                    people.append(Recipient(name=phone, phone=phone))
            else:
                message = unknown_recipient(member, list(self.config))
                self.errors.append(ConfigError(message, path=path))
        return unique_by_phone(people)


def _at(name: str, index: int | None = None) -> str:
    return f"recipients.{name}" + ("" if index is None else f"[{index}]")
