"""Matchers: Alertmanager's syntax and semantics, one matcher per string."""

from __future__ import annotations

import re

import pytest

from bridge.routing.matchers import Matcher, parse_matcher

LABELS = {"severity": "critical", "env": "production", "job": "api", "empty": ""}

MATCH_CASES = [
    ('severity="critical"', True, "equal"),
    ('severity="warning"', False, "equal-differs"),
    ('severity!="warning"', True, "not-equal"),
    ('severity!="critical"', False, "not-equal-same"),
    ('env=~"prod|production"', True, "regex-alternation"),
    ('env=~"prod"', False, "regex-anchored-no-prefix-match"),
    ('env=~"duction"', False, "regex-anchored-no-suffix-match"),
    ('env=~".*duction"', True, "regex-explicit-wildcard"),
    ('env!~"prod|production"', False, "negative-regex-matching"),
    ('env!~"staging"', True, "negative-regex-not-matching"),
    ("job=api", True, "unquoted-value"),
    ("job = api", True, "spaces-around-operator"),
    ('missing=""', True, "missing-label-equals-empty"),
    ('missing!=""', False, "missing-label-not-empty"),
    ('missing=~".*"', True, "missing-label-matches-any-regex"),
    ('missing=~".+"', False, "missing-label-not-one-or-more"),
    ('missing!~".+"', True, "missing-label-negative-regex"),
    ('missing="x"', False, "missing-label-not-equal-value"),
    ('missing!="x"', True, "missing-label-differs-from-value"),
    ('empty=""', True, "empty-label-equals-empty"),
    ('job=~"\\w+"', True, "regex-escape-kept-literal"),
    ('job=~"[a-z]{3}"', True, "regex-braces-in-value"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for text, expected, _ in MATCH_CASES],
    ids=[case_id for _, _, case_id in MATCH_CASES],
)
def test_matcher_matches_labels_like_alertmanager(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is expected


PARSE_CASES = [
    ('severity="critical"', Matcher("severity", "=", "critical"), "quoted"),
    ("severity=critical", Matcher("severity", "=", "critical"), "unquoted"),
    ('  a != "b"  ', Matcher("a", "!=", "b"), "surrounding-space"),
    ('a=~"x|y"', Matcher("a", "=~", "x|y"), "regex"),
    ('a!~"x"', Matcher("a", "!~", "x"), "negative-regex"),
    ('a="say \\"hi\\""', Matcher("a", "=", 'say "hi"'), "escaped-quote"),
    ('a="back\\\\slash"', Matcher("a", "=", "back\\slash"), "escaped-backslash"),
    ('a="two\\nlines"', Matcher("a", "=", "two\nlines"), "escaped-newline"),
    ('a="x=y"', Matcher("a", "=", "x=y"), "operator-inside-value"),
    ('a=""', Matcher("a", "=", ""), "empty-quoted-value"),
    ("a=", Matcher("a", "=", ""), "empty-unquoted-value"),
    ("service.name=api", Matcher("service.name", "=", "api"), "dotted-name-unquoted"),
    ('"service.name"="api"', Matcher("service.name", "=", "api"), "quoted-utf8-name"),
    ('"état du service"="ok"', Matcher("état du service", "=", "ok"), "quoted-name-with-space"),
    ('__name__="up"', Matcher("__name__", "=", "up"), "underscore-name"),
    ('a="✓ ok"', Matcher("a", "=", "✓ ok"), "utf8-value"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for text, expected, _ in PARSE_CASES],
    ids=[case_id for _, _, case_id in PARSE_CASES],
)
def test_parse_matcher_reads_alertmanager_syntax(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


ERROR_CASES = [
    ("", "empty matcher", "empty"),
    ("   ", "empty matcher", "blank"),
    ("severity", "no operator after label 'severity'", "no-operator"),
    ("severity>3", "expected an operator", "unknown-operator"),
    ('="x"', "missing label name", "no-name"),
    ('""="x"', "empty label name", "empty-quoted-name"),
    ('a="unterminated', "unterminated quoted value", "unterminated-value"),
    ('"a="x"', "expected an operator (=, !=, =~, !~) after label 'a='", "quote-in-name"),
    ('a="x" b', "unexpected text 'b' after the quoted value", "trailing-text"),
    ('a=x"y', "unescaped double quote", "stray-quote-in-unquoted"),
    ('a=~"("', "invalid regular expression '('", "bad-regex"),
    ('{a="b"}', "one matcher per string", "braces"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [(text, message) for text, message, _ in ERROR_CASES],
    ids=[case_id for _, _, case_id in ERROR_CASES],
)
def test_parse_matcher_rejects_bad_syntax_with_precise_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_matcher(text)


def test_matcher_with_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operator '=='"):
        Matcher("a", "==", "b")  # type: ignore[arg-type]


def test_regex_is_compiled_once_when_the_matcher_is_built() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        Matcher("a", "=~", "[unclosed")


@pytest.mark.parametrize(
    "text",
    ['severity="critical"', 'env=~"prod|\\\\d+"', 'a="say \\"hi\\"\\n"', '"service.name"!~"x"'],
    ids=["plain", "regex-with-backslash", "escapes", "quoted-name"],
)
def test_matcher_prints_back_to_the_same_matcher(text: str) -> None:
    matcher = parse_matcher(text)
    assert parse_matcher(str(matcher)) == matcher
