"""Label matchers in Alertmanager's syntax and with its semantics, parsed and compiled once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MatchOp = Literal["=", "!=", "=~", "!~"]
MATCH_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")  # longest first, for parsing

# Unquoted label names: word characters and : . - / (e.g. `service.name`); any other name
# (spaces, punctuation) must be quoted, as with Alertmanager's UTF-8 matchers.
_UNQUOTED_NAME = re.compile(r"[\w:.\-/]+")
# Names that print without quotes (Prometheus' classic label name charset).
_CLASSIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_EXAMPLE = 'e.g. severity="critical" or env=~"prod|staging"'


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label; a missing label reads as "" (as in Alertmanager)."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPS:
            raise ValueError(f"unknown operator {self.op!r} (expected one of =, !=, =~, !~)")
        if self.op in ("=~", "!~"):
            try:
                regex = re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
            object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher; regexes must match the whole value."""
        actual = labels.get(self.name, "")
        if self._regex is not None:
            found = self._regex.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) if self.op == "=" else (actual != self.value)

    def __str__(self) -> str:
        name = self.name if _CLASSIC_NAME.fullmatch(self.name) else _quote(self.name)
        return f"{name}{self.op}{_quote(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `env=~"prod|production"`; ValueError says what is wrong."""
    source = text.strip()
    if not source:
        raise ValueError(f"empty matcher: expected a label, an operator and a value ({_EXAMPLE})")
    if source.startswith("{") or source.endswith("}"):
        raise ValueError(f"write one matcher per string, without braces: {text!r}")

    if source.startswith('"'):
        name, pos = _read_quoted(source, 0, "label name")
        if not name:
            raise ValueError(f"empty label name in {text!r}")
    else:
        found = _UNQUOTED_NAME.match(source)
        if found is None:
            raise ValueError(f"missing label name before {source[0]!r} in {text!r} ({_EXAMPLE})")
        name, pos = found.group(), found.end()

    while pos < len(source) and source[pos].isspace():
        pos += 1
    op = next((candidate for candidate in MATCH_OPS if source.startswith(candidate, pos)), None)
    if op is None:
        rest = source[pos:]
        if not rest:
            raise ValueError(f"no operator after label {name!r} in {text!r} ({_EXAMPLE})")
        raise ValueError(
            f"expected an operator (=, !=, =~, !~) after label {name!r}, found {rest[:10]!r}"
            f" in {text!r}"
        )

    value_text = source[pos + len(op) :].strip()
    if value_text.startswith('"'):
        value, end = _read_quoted(value_text, 0, "value")
        trailing = value_text[end:].strip()
        if trailing:
            raise ValueError(f"unexpected text {trailing!r} after the quoted value in {text!r}")
    elif '"' in value_text:
        raise ValueError(f"value contains an unescaped double quote in {text!r}")
    else:
        value = value_text
    return Matcher(name, op, value)


def _read_quoted(text: str, start: int, what: str) -> tuple[str, int]:
    """Read the quoted string at text[start] (a `"`); return its value and the index after it.

    Escapes as Alertmanager: \\" \\\\ and \\n; any other backslash stays literal, so regexes
    such as "\\d+" need no double escaping.
    """
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            nxt = text[pos + 1]
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise ValueError(f"unterminated quoted {what} (missing closing double quote) in {text!r}")


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
