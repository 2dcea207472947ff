"""Label matchers in Alertmanager's syntax and with its semantics, parsed and compiled once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

MatchOp = Literal["=", "!=", "=~", "!~"]
MATCH_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")  # longest first, for parsing

# Unquoted label names: word characters and : . - / (e.g. `service.name`); any other name
# (spaces, punctuation) must be quoted, as with Alertmanager's UTF-8 matchers.
_UNQUOTED_NAME = re.compile(r"[\w:.\-/]+")
# Names that print without quotes (Prometheus' classic label name charset).
_CLASSIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_EXAMPLE = 'e.g. severity="critical" or env=~"prod|staging"'

# RE2 is what Alertmanager (Go's regexp) matches with: its syntax and meaning (POSIX classes,
# ASCII `\d`, no look-arounds or back-references), and time linear in the label value, so a
# crafted value (a branch name, say) cannot stall the event loop as Python's backtracking can.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised, with its message; not printed too


def compile_re2(pattern: str) -> Any:
    """Compile a matcher regex with RE2; ValueError says what is wrong."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression {pattern!r}: {reason}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label; a missing label reads as "" (as in Alertmanager)."""

    name: str
    op: MatchOp
    value: str
    _regex: Any = field(default=None, init=False, repr=False, compare=False)  # an re2 pattern

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPS:
            raise ValueError(f"unknown operator {self.op!r} (expected one of =, !=, =~, !~)")
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", compile_re2(self.value))

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


def parse_matchers(text: str) -> list[Matcher]:
    """Parse one or more matchers, comma-separated and optionally in braces, as Alertmanager.

    `team!=infra, severity=critical` and `{team!="infra", severity="critical"}` are two matchers;
    a trailing comma is allowed, and `{}` is no matchers (it matches everything).
    ValueError says what is wrong.
    """
    source = text.strip()
    if source.startswith("{"):
        if not source.endswith("}"):
            raise ValueError(f"missing closing brace '}}' in {text!r}")
        source = source[1:-1]
        if not source.strip():
            return []
    elif source.endswith("}"):
        raise ValueError(
            f"closing brace '}}' without an opening one in {text!r} (quote a value that ends"
            " with '}')"
        )
    pieces = _split_on_commas(source)
    if len(pieces) == 1:
        return [_parse_one(pieces[0], text)]
    if not pieces[-1].strip():
        pieces.pop()  # one trailing comma
    matchers = []
    for index, piece in enumerate(pieces):
        if not piece.strip():
            where = "before the first comma" if index == 0 else "between two commas"
            raise ValueError(f"empty matcher {where} in {text!r}")
        try:
            matchers.append(_parse_one(piece, text))
        except ValueError as exc:
            raise ValueError(
                f"matcher {index + 1} of {len(pieces)}: {exc}; matchers are separated by commas,"
                " so quote a value that holds one"
            ) from None
    return matchers


def parse_matcher(text: str) -> Matcher:
    """Parse exactly one matcher such as `env=~"prod|production"`; ValueError otherwise."""
    matchers = parse_matchers(text)
    if not matchers:
        raise ValueError(f"expected one matcher, found none in {text!r} ({_EXAMPLE})")
    if len(matchers) > 1:
        listed = ", ".join(str(matcher) for matcher in matchers)
        raise ValueError(
            f"expected one matcher, found {len(matchers)} ({listed}) in {text!r}: give each as"
            " its own entry, or quote a value that holds a comma"
        )
    return matchers[0]


def _split_on_commas(text: str) -> list[str]:
    """Split at commas outside double quotes, as Alertmanager's tokenizer.

    A backslash escapes the next quote, inside quotes or not (so `a=b\\",c=d` is two matchers);
    a comma neither ends nor starts an escape.
    """
    pieces: list[str] = []
    start, quoted, escaped = 0, False, False
    for pos, char in enumerate(text):
        if char == "," and not quoted:
            pieces.append(text[start:pos])
            start = pos + 1
        elif char == '"':
            quoted = quoted if escaped else not quoted
            escaped = False
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
    pieces.append(text[start:])
    return pieces


def _parse_one(piece: str, text: str) -> Matcher:
    """Parse the single matcher `piece`, a part of `text` (named in errors)."""
    source = piece.strip()
    if not source:
        raise ValueError(f"empty matcher: expected a label, an operator and a value ({_EXAMPLE})")

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
    else:
        value = _read_unquoted(value_text, text)
    return Matcher(name, op, value)


def _read_quoted(text: str, start: int, what: str) -> tuple[str, int]:
    """Read the quoted string at text[start] (a `"`); return its value and the index after it."""
    value, end = _read_escaped(text, start + 1)
    if end == len(text):
        raise ValueError(f"unterminated quoted {what} (missing closing double quote) in {text!r}")
    return value, end + 1


def _read_unquoted(value_text: str, text: str) -> str:
    """An unquoted value: Alertmanager decodes the same escapes as in quotes."""
    value, end = _read_escaped(value_text, 0)
    if end < len(value_text):
        raise ValueError(f'value contains an unescaped double quote in {text!r} (write it as \\")')
    return value


def _read_escaped(text: str, pos: int) -> tuple[str, int]:
    """The text from `pos` up to the first unescaped `"` (or the end), escapes decoded, and
    where it stopped; a last lone backslash stays."""
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(_unescape(text[pos + 1]))
            pos += 2
            continue
        if char == '"':
            break
        out.append(char)
        pos += 1
    return "".join(out), pos


def _unescape(char: str) -> str:
    """A backslash then `char`, as Alertmanager: \\" \\\\ and \\n are escapes, and any other
    backslash stays literal, so regexes such as \\d+ need no double escaping.
    """
    return {"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
