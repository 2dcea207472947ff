"""Matcher strings read exactly as Alertmanager 0.25 reads them: escapes in unquoted values,
the comma tokenizer, a trailing comma and `{}`.

Every expected value below was checked against Alertmanager 0.25 (amtool check-config and its
own labels.ParseMatchers), not derived from our parser.
"""

from __future__ import annotations

import re

import pytest

from bridge.config.schema import DefaultsConfig, RouteConfig
from bridge.model import Event, Recipient
from bridge.routing.matchers import Matcher, parse_matcher, parse_matchers
from bridge.routing.router import compile_routes, match_routes

PEOPLE = {"alice": (Recipient("alice", "+14155550123"),)}

# (matcher string, the matchers Alertmanager 0.25 parses it into, id)
PARSED = [
    # Unquoted values decode \\ \" and \n as quoted ones do; other backslashes stay literal.
    (r"a=~b\\.c", [Matcher("a", "=~", r"b\.c")], "unquoted-escaped-backslash"),
    (r"a=~b\.c", [Matcher("a", "=~", r"b\.c")], "unquoted-other-escape-kept"),
    (r"a=b\nc", [Matcher("a", "=", "b\nc")], "unquoted-newline"),
    (r"a=b\"c", [Matcher("a", "=", 'b"c')], "unquoted-escaped-quote"),
    (r"a=\"", [Matcher("a", "=", '"')], "unquoted-only-a-quote"),
    (r"trickier==\\=\=\"", [Matcher("trickier", "=", '=\\=\\="')], "unquoted-trickier"),
    (r"a=~\d+", [Matcher("a", "=~", r"\d+")], "unquoted-regex-class-kept"),
    (r"a=~\\d+", [Matcher("a", "=~", r"\d+")], "unquoted-regex-class-double-escaped"),
    (r"a=b\tc", [Matcher("a", "=", r"b\tc")], "unquoted-tab-escape-is-literal"),
    ("a=b\\", [Matcher("a", "=", "b\\")], "unquoted-last-backslash-literal"),
    (r"a=b\\", [Matcher("a", "=", "b\\")], "unquoted-escaped-last-backslash"),
    (r"a=\\\\", [Matcher("a", "=", r"\\")], "unquoted-two-escaped-backslashes"),
    # The tokenizer: a backslash escapes a quote outside quotes too; commas split outside quotes.
    (r"a=b\",c=d", [Matcher("a", "=", 'b"'), Matcher("c", "=", "d")], "escaped-quote-then-comma"),
    (r"a=\,b=c", [Matcher("a", "=", "\\"), Matcher("b", "=", "c")], "backslash-then-comma"),
    (r"a=b\\,c=d", [Matcher("a", "=", "b\\"), Matcher("c", "=", "d")], "escaped-backslash-comma"),
    (
        r'a="x\,y",b=c',
        [Matcher("a", "=", r"x\,y"), Matcher("b", "=", "c")],
        "quoted-backslash-comma",
    ),
    (r"{a=b\"}", [Matcher("a", "=", 'b"')], "braces-escaped-quote"),
    # One trailing comma is allowed; `{}` is no matchers at all.
    ('a="b",', [Matcher("a", "=", "b")], "trailing-comma"),
    ("a=b, ", [Matcher("a", "=", "b")], "trailing-comma-and-space"),
    ('a="b" ,', [Matcher("a", "=", "b")], "space-then-trailing-comma"),
    ('{a="b",}', [Matcher("a", "=", "b")], "trailing-comma-in-braces"),
    ('{a="b", }', [Matcher("a", "=", "b")], "trailing-comma-space-in-braces"),
    ("{}", [], "empty-braces"),
    ("{ }", [], "blank-braces"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for text, expected, _ in PARSED],
    ids=[case_id for *_, case_id in PARSED],
)
def test_matchers_parse_as_in_alertmanager(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


# (matcher string, labels, whether Alertmanager 0.25 matches them, id)
MATCHES = [
    (r"a=~b\\.c", {"a": "b.c"}, True, "escaped-backslash-regex-matches-dot"),
    (r"a=~b\\.c", {"a": r"b\.c"}, False, "escaped-backslash-regex-not-backslash"),
    (r"a=~b\.c", {"a": "b.c"}, True, "escaped-dot-regex-matches-dot"),
    (r"a=~b\.c", {"a": "bxc"}, False, "escaped-dot-regex-is-not-any"),
    (r"a=b\nc", {"a": "b\nc"}, True, "newline-value"),
    (r"a=b\nc", {"a": r"b\nc"}, False, "newline-value-not-backslash-n"),
    (r"a=~\d+", {"a": "123"}, True, "digit-regex"),
    ("{}", {}, True, "empty-braces-match-no-labels"),
    ("{}", {"a": "b"}, True, "empty-braces-match-any-labels"),
]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [(text, labels, expected) for text, labels, expected, _ in MATCHES],
    ids=[case_id for *_, case_id in MATCHES],
)
def test_matchers_match_labels_as_in_alertmanager(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    assert all(matcher.matches(labels) for matcher in parse_matchers(text)) is expected


# (matcher string, part of our message, id): Alertmanager 0.25 refuses each as well.
REFUSED = [
    (r"a=b\\\"c" + '"', "unescaped double quote", "unquoted-stray-quote-after-escapes"),
    (r"a=b\\" + '"', "unescaped double quote", "unquoted-quote-after-escaped-backslash"),
    (r'a="x\,",b=c', "unexpected text", "quoted-backslash-comma-escapes-the-quote"),
    (",", "empty matcher before the first comma", "only-a-comma"),
    ('{a="b",,}', "empty matcher between two commas", "two-trailing-commas-in-braces"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [(text, message) for text, message, _ in REFUSED],
    ids=[case_id for *_, case_id in REFUSED],
)
def test_matchers_alertmanager_refuses_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_matchers(text)


@pytest.mark.parametrize("text", ['a="b"}', '{a="b"', "a=b}"], ids=["close", "open", "close-2"])
def test_one_sided_brace_stays_refused(text: str) -> None:
    # Alertmanager 0.25 trims each brace on its own and accepts these; we refuse them on purpose
    # (a value ending in `}` must be quoted).
    with pytest.raises(ValueError, match="brace"):
        parse_matchers(text)


def test_single_matcher_refuses_empty_braces() -> None:
    with pytest.raises(ValueError, match=re.escape("expected one matcher, found none")):
        parse_matcher("{}")


@pytest.mark.parametrize(
    "matcher",
    [Matcher("a", "=", 'b"c\nd\\e'), Matcher("a", "=~", r"\d+\.x")],
    ids=["escapes", "regex"],
)
def test_printed_matcher_reads_back_unquoted_too(matcher: Matcher) -> None:
    # str() quotes; the same text without the quotes is the same matcher, as in Alertmanager.
    printed = str(matcher)
    name, _, quoted = printed.partition(matcher.op)
    assert parse_matcher(f"{name}{matcher.op}{quoted[1:-1]}") == matcher


def test_route_entries_with_empty_braces_and_unquoted_escapes_route_as_alertmanager() -> None:
    # The same route in Alertmanager 0.25 (amtool) matches exactly these label sets.
    config = RouteConfig.model_validate(
        {"name": "r", "to": ["alice"], "matchers": ["{}", r"a=~b\\.c,", r"q=x\"y"]}
    )
    [route] = compile_routes([(config, "rules.yaml", "[0]")], PEOPLE, DefaultsConfig())

    def routed(**labels: str) -> bool:
        event = Event(source="alertmanager", fingerprint="f", status="firing", labels=labels)
        return bool(match_routes([route], event))

    assert routed(a="b.c", q='x"y')
    assert not routed(a=r"b\.c", q='x"y')
    assert not routed(a="b.c", q=r"x\"y")
