"""Values that parse but cannot work: zero intervals and timeouts, URLs without a scheme, and
recipients YAML read as numbers, each refused with one message that says what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.errors import ConfigErrors


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, {})
    return [str(e) for e in caught.value.errors]


ROUTE = "routes:\n  - {name: r, to: ['+14155550123'], group_by: [alertname], %s}\n"


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            "defaults: {group_interval: 0s}\n",
            "defaults.group_interval",
            "must be longer than 0s: 0 would send the group again without pause",
        ),
        (
            "defaults: {repeat_interval: 0}\n",
            "defaults.repeat_interval",
            "must be longer than 0s: to never repeat a notification, set a long "
            "repeat_interval (e.g. 1y), as in Alertmanager",
        ),
        (ROUTE % "group_interval: 0ms", "routes[0].group_interval", "must be longer than 0s"),
        (ROUTE % "repeat_interval: 0h", "routes[0].repeat_interval", "must be longer than 0s"),
        ("blueticks: {timeout: 0s}\n", "blueticks.timeout", "must be longer than 0s"),
        ("blueticks: {backoff_initial: 0}\n", "blueticks.backoff_initial", "must be longer"),
        (
            "blueticks: {backoff_initial: 10s, backoff_max: 5s}\n",
            "blueticks.backoff_max",
            "must be at least backoff_initial (10s)",
        ),
        ("blueticks: {webhook_tolerance: 0s}\n", "blueticks.webhook_tolerance", "at least 1s"),
        (
            "sources: {grafana: {hmac: {secret: s3cret, max_age: 0}}}\n",
            "sources.grafana.hmac.max_age",
            "at least 1s",
        ),
        ("defaults: {dedupe_window: .inf}\n", "defaults.dedupe_window", "not inf"),
        ("defaults: {flap_window: .nan}\n", "defaults.flap_window", "not nan"),
        (
            f"defaults: {{group_wait: {'9' * 400}s}}\n",
            "defaults.group_wait",
            "is longer than 100y",
        ),
        ("defaults: {repeat_interval: 101y}\n", "defaults.repeat_interval", "longer than 100y"),
    ],
    ids=[
        "default-group-interval",
        "default-repeat-interval",
        "route-group-interval",
        "route-repeat-interval",
        "blueticks-timeout",
        "backoff-initial",
        "backoff-max-below-initial",
        "webhook-tolerance",
        "grafana-max-age",
        "infinite",
        "not-a-number",
        "overflowing",
        "past-datetime-range",
    ],
)
def test_a_duration_that_would_loop_or_never_time_out_is_refused(
    tmp_path: Path, text: str, path: str, message: str
) -> None:
    """group_interval 0 flushed one group ~2,400 times a second, repeat_interval 0 queued
    repeats until memory ran out, and aiohttp reads a timeout of 0 as none."""
    cfg = write(tmp_path / "c.yaml", text)
    [error] = errors_of(cfg)
    assert error.startswith(f"{cfg}: {path}: "), error
    assert message in error


def test_a_zero_interval_in_a_rule_file_names_the_rule_file(tmp_path: Path) -> None:
    rules = write(
        tmp_path / "rules" / "a.yaml", "- {name: r, to: ['+14155550123'], repeat_interval: 0s}\n"
    )
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    [error] = errors_of(cfg)
    assert error.startswith(f"{rules}: [0].repeat_interval: must be longer than 0s")


def test_zero_where_it_means_now_or_never_is_accepted(tmp_path: Path) -> None:
    """group_wait 0 sends at once (as in Alertmanager); 0 turns off dedupe, flap holds and
    session checks."""
    cfg = write(
        tmp_path / "c.yaml",
        "defaults: {group_wait: 0s, dedupe_window: 0s, flap_window: 0s}\n"
        "blueticks: {session_check_interval: 0s}\n" + ROUTE % "group_wait: 0",
    )
    config = load_config(cfg, {}).config
    assert (config.defaults.group_wait, config.routes[0].group_wait) == (0, 0)
    assert config.blueticks.session_check_interval == 0


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            "blueticks: {base_url: api.blueticks.co}\n",
            "blueticks.base_url",
            "'api.blueticks.co' is not an absolute http(s) URL (e.g. https://api.blueticks.co)",
        ),
        (
            "server: {public_url: 'alertbridge.example.com/bridge'}\n",
            "server.public_url",
            "'alertbridge.example.com/bridge' is not an absolute http(s) URL "
            "(e.g. https://alertbridge.example.com/bridge)",
        ),
        (
            "server: {public_url: 'ftp://alertbridge.example.com'}\n",
            "server.public_url",
            "'ftp://alertbridge.example.com' is not an absolute http(s) URL",
        ),
        (
            "blueticks: {base_url: 'https://'}\n",
            "blueticks.base_url",
            "'https://' is not an absolute http(s) URL",
        ),
        (
            "blueticks: {base_url: 'https://api.blueticks.co:port'}\n",
            "blueticks.base_url",
            "'https://api.blueticks.co:port' has an invalid port",
        ),
        (
            "server: {public_url: 'https://ab.example/?x=1'}\n",
            "server.public_url",
            "'https://ab.example/?x=1' is a base URL: it cannot have a ?query or #fragment",
        ),
    ],
    ids=["no-scheme", "no-scheme-with-path", "not-http", "no-host", "bad-port", "query"],
)
def test_a_url_that_is_not_absolute_http_is_refused(
    tmp_path: Path, text: str, path: str, message: str
) -> None:
    """Without a scheme every send failed later as an outcome-unknown transient error."""
    cfg = write(tmp_path / "c.yaml", text)
    assert errors_of(cfg) == [f"{cfg}: {path}: {message}"]


def test_http_and_https_urls_with_ports_and_paths_are_accepted(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.yaml",
        "blueticks: {base_url: 'http://127.0.0.1:8099/blueticks'}\n"
        "server: {public_url: 'https://alertbridge.example.com:8443/'}\n",
    )
    config = load_config(cfg, {}).config
    assert config.blueticks.base_url == "http://127.0.0.1:8099/blueticks"
    assert config.server.public_url == "https://alertbridge.example.com:8443/"


QUOTE = (
    'quote it as written (e.g. "+14155550123"): YAML reads an unquoted number as an integer, '
    "and not always the one written (a leading 0 is octal)"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "recipients:\n  alice: +972501234567\n",
            [f"recipients.alice: {QUOTE}"],
        ),
        (
            "recipients:\n  bob: {phone: '+14155550123', name: Bob}\n",
            ["recipients.bob.name: unknown field"],
        ),
        (
            "recipients:\n  bob: {phone: +14155550123}\n",
            [f"recipients.bob.phone: {QUOTE}"],
        ),
        (
            "recipients:\n  sre: [alice, +14155550123]\n  alice: '+972501234567'\n",
            [f"recipients.sre[1]: {QUOTE}"],
        ),
        (
            "recipients:\n  alice:\n",
            [
                'recipients.alice: expected a phone number ("+E164"), {phone: "+E164"} or a '
                "list of names (a group)"
            ],
        ),
        (
            "routes:\n  - {name: r, to: [+14155550123]}\n",
            [f"routes[0].to[0]: {QUOTE}"],
        ),
        (
            "routes:\n  - {name: r, to: ['+14155550123'], source: [github, gitlab]}\n",
            ["routes[0].source[1]: Input should be 'alertmanager', 'grafana' or 'github'"],
        ),
        (
            "routes:\n  - {name: r, to: ['+14155550123'], source: {github: true}}\n",
            ["routes[0].source: expected a source (alertmanager, grafana or github) or a list"],
        ),
        (
            "routes:\n  - {name: r, to: ['+14155550123']}\n  - 5\n",
            ["routes[1]: expected a mapping (key: value), not the integer 5"],
        ),
        ("pacing: [20, 10]\n", ["pacing: expected a mapping (key: value), not a list"]),
    ],
    ids=[
        "unquoted-number",
        "person-with-unknown-key",
        "unquoted-phone",
        "unquoted-group-member",
        "empty-recipient",
        "unquoted-to",
        "unknown-source-in-list",
        "source-mapping",
        "route-not-a-mapping",
        "section-not-a-mapping",
    ],
)
def test_a_wrongly_written_value_gets_one_message_for_what_was_written(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    """Not one line per member of the union ("valid string", "valid dictionary or instance
    of PersonConfig", "valid list"), most of them about shapes the user never wrote."""
    cfg = write(tmp_path / "c.yaml", text)
    assert errors_of(cfg) == [f"{cfg}: {line}" for line in expected]


def test_a_route_in_a_rule_file_that_is_not_a_mapping_names_the_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", "- {name: r, to: ['+14155550123']}\n- oops\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert errors_of(cfg) == [f"{rules}: [1]: expected a mapping (key: value), not the text 'oops'"]
