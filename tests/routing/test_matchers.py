"""Matchers: Alertmanager's syntax and semantics (RE2 regexes), one or more per string."""

from __future__ import annotations

import re

import pytest

from bridge.routing.matchers import Matcher, parse_matcher, parse_matchers

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
    ('{a="b"', "missing closing brace", "unclosed-brace"),
    ("a=b}", "closing brace '}' without an opening one", "closing-brace-only"),
    ('a="x", b="y"', "expected one matcher, found 2", "two-where-one-is-expected"),
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


SEVERAL_CASES = [
    (
        "team!=infra, severity=critical",
        [Matcher("team", "!=", "infra"), Matcher("severity", "=", "critical")],
        "unquoted",
    ),
    (
        '{team!="infra", severity="critical"}',
        [Matcher("team", "!=", "infra"), Matcher("severity", "=", "critical")],
        "braces",
    ),
    ('{a="b"}', [Matcher("a", "=", "b")], "braces-one"),
    ('a="x, y",b=~"p|q"', [Matcher("a", "=", "x, y"), Matcher("b", "=~", "p|q")], "comma-quoted"),
    ('a="say \\",", b=c', [Matcher("a", "=", 'say ",'), Matcher("b", "=", "c")], "escaped-quote"),
    ('"x,y"=z', [Matcher("x,y", "=", "z")], "comma-in-quoted-name"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for text, expected, _ in SEVERAL_CASES],
    ids=[case_id for _, _, case_id in SEVERAL_CASES],
)
def test_several_matchers_in_one_string_are_split_at_commas_outside_quotes(
    text: str, expected: list[Matcher]
) -> None:
    assert parse_matchers(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",a=b", "empty matcher before the first comma"),
        ("a=b,,c=d", "empty matcher between two commas"),
        ("a=b,,", "empty matcher between two commas"),
        ("{,}", "empty matcher before the first comma"),
        ("a=b, severity", "matcher 2 of 2: no operator after label 'severity'"),
    ],
    ids=["leading-comma", "double-comma", "two-trailing-commas", "only-a-comma", "second-broken"],
)
def test_empty_or_broken_matchers_in_a_list_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_matchers(text)


RE2_CASES = [
    ("[[:digit:]]+", "123", True, "posix-digit"),
    ("[[:digit:]]+", ":]", False, "posix-digit-not-nested-set"),
    ("[^[:space:]]+", "a-b", True, "negated-bracket-posix"),
    ("[[:^alpha:]]+", "12-3", True, "negated-posix-alone"),
    ("[[:^alpha:]]+", "ab", False, "negated-posix-alone-refuses"),
    ("[x[:^digit:]]", "y", True, "negated-posix-with-shorthand"),
    ("[[:alnum:]_-]+", "api_v2-x", True, "posix-with-others"),
    ("[[:upper:]][[:lower:]]+", "Api", True, "posix-case"),
    ("[[:punct:]]+", "[]\\^`", True, "posix-punct-brackets"),
    ("[[:xdigit:]]+", "fF09", True, "posix-xdigit"),
    ("\\d+", "\u0663\u0664", False, "digit-is-ascii"),
    ("\\w+", "caf\u00e9", False, "word-is-ascii"),
    ("a{,3}", "a{,3}", True, "brace-without-low-bound-is-text"),
    ("a{,3}", "aa", False, "brace-without-low-bound-is-no-repeat"),
    ("a{2,3}", "aaa", True, "repeat"),
    ("[[]+", "[[", True, "bracket-in-class"),
    ("\\Qa.b\\E", "a.b", True, "quoted-literal"),
    ("\\Qa.b\\E", "axb", False, "quoted-literal-dot"),
    ("(?<v>x)y", "xy", True, "named-group"),
]


@pytest.mark.parametrize(
    ("regex", "value", "expected"),
    [(regex, value, expected) for regex, value, expected, _ in RE2_CASES],
    ids=[case_id for *_, case_id in RE2_CASES],
)
def test_regexes_mean_what_they_mean_in_re2(regex: str, value: str, expected: bool) -> None:
    assert Matcher("x", "=~", regex).matches({"x": value}) is expected


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("[[:foo:]]", "invalid character class range: [:foo:]"),
        ("[abc", "missing ]"),
        ("(?=x)", "invalid perl operator: (?="),
        ("(a)\\1", "invalid escape sequence: \\1"),
        ("x{2,1}", "invalid repetition size"),
    ],
    ids=["unknown-posix", "unclosed-class", "lookahead", "backreference", "bad-repeat"],
)
def test_regexes_re2_does_not_accept_are_refused_naming_the_problem(
    regex: str, message: str
) -> None:
    # Python's `re` takes look-arounds and back-references; Alertmanager (RE2) does not.
    with pytest.raises(ValueError, match=re.escape(f"invalid regular expression {regex!r}")):
        Matcher("x", "=~", regex)
    with pytest.raises(ValueError, match=re.escape(message)):
        Matcher("x", "=~", regex)


@pytest.mark.parametrize("regex", ["(release-.*)*-hotfix", "(a+)+$", "((a|b)*)*c", "(\\w+\\s?)+!"])
def test_regexes_that_backtrack_in_python_match_in_linear_time(regex: str) -> None:
    # Each takes exponential time in Python's `re` on these values (minutes at 40 repeats):
    # a label value such as a branch name must not be able to stall the event loop.
    value = {"(release-.*)*-hotfix": "release-" * 40}.get(regex, "ab" * 40)
    assert Matcher("x", "=~", regex).matches({"x": value}) is False
    assert Matcher("x", "!~", regex).matches({"x": value}) is True


@pytest.mark.parametrize(
    "regex",
    [
        ".*",
        "prod|staging",
        "(prod|staging)-.*",
        ".+-(eu|us)-[0-9]+",
        "(.*)?",
        "(\\w+\\.)+example\\.com",
        "api(-[a-z0-9]+)*",
        "(?i)critical|warning",
        "(?:foo|bar)+",
    ],
)
def test_common_alertmanager_regexes_are_accepted(regex: str) -> None:
    Matcher("x", "=~", regex)
