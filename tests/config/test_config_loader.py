"""Config loading: variable expansion, *_file secrets, rule files, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.errors import ConfigErrors


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, env or {})
    return [str(e) for e in caught.value.errors]


def test_env_variables_and_defaults_are_expanded(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.yaml",
        "blueticks: {api_key: '${KEY}', base_url: '${URL:-http://x}'}\n"
        "server: {public_url: 'https://x/cost-$$5'}\n",
    )
    loaded = load_config(cfg, {"KEY": "bt_live_abc"})
    assert loaded.config.blueticks.api_key is not None
    assert loaded.config.blueticks.api_key.get_secret_value() == "bt_live_abc"
    assert loaded.config.blueticks.base_url == "http://x"
    assert loaded.config.server.public_url == "https://x/cost-$5"
    assert "bt_live_abc" in loaded.secrets


def test_unset_variable_is_an_error_naming_file_and_path(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "sources:\n  github: {secret: '${GH_SECRET}'}\n")
    assert errors_of(cfg) == [
        f"{cfg}: sources.github.secret: environment variable GH_SECRET is not set"
    ]


def test_file_secrets_are_read_and_trailing_newline_dropped(tmp_path: Path) -> None:
    write(tmp_path / "secrets" / "key", "bt_live_from_file\n")
    cfg = write(tmp_path / "c.yaml", "blueticks: {api_key_file: secrets/key}\n")
    loaded = load_config(cfg, {})
    assert loaded.config.blueticks.api_key is not None
    assert loaded.config.blueticks.api_key.get_secret_value() == "bt_live_from_file"


def test_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "blueticks: {api_key_file: /nonexistent/key}\n")
    (error,) = errors_of(cfg)
    assert error.startswith(f"{cfg}: blueticks.api_key_file: cannot read /nonexistent/key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {listen: nope}\n", "server.listen: 'nope' is not host:port"),
        ("blueticks: {timeout: 5q}\n", "blueticks.timeout: '5q' is not a duration"),
        ("routes:\n  - {name: a, to: [x], bogus: 1}\n", "routes[0].bogus: unknown field"),
        ("routes:\n  - {name: a}\n", "routes[0].to: Field required"),
        ("store: {backend: mongo}\n", "store.backend: Input should be 'memory', 'sqlite'"),
        ("store: {retention: 0s}\n", "store.retention: must be longer than 0s"),
        ("templates: {max_length: 5000}\n", "templates.max_length: Input should be less than"),
        ("routes:\n  - {name: a, to: [x], template: a.j2, message: hi}\n", "routes[0].message"),
        ("key: [unclosed\n", "line 2, column 1: invalid YAML"),
        (
            "sources:\n  alertmanager: {auth: {bearer_token: ''}}\n",
            "sources.alertmanager.auth.bearer_token: must not be empty",
        ),
        (
            "sources:\n  grafana: {auth: {basic: {username: g, password: ''}}}\n",
            "sources.grafana.auth.basic.password: must not be empty",
        ),
        (
            "sources:\n  grafana: {hmac: {secret: ' '}}\n",
            "sources.grafana.hmac.secret: must not be empty",
        ),
        ("sources:\n  github: {secret: ''}\n", "sources.github.secret: must not be empty"),
        ("server: {admin_token: ''}\n", "server.admin_token: must not be empty"),
        ("blueticks: {webhook_secret: ''}\n", "blueticks.webhook_secret: must not be empty"),
    ],
    ids=[
        "listen",
        "duration",
        "unknown-field",
        "missing-field",
        "enum",
        "retention",
        "max-length-over-blueticks-limit",
        "template-and-message",
        "yaml-syntax",
        "empty-bearer-token",
        "empty-basic-password",
        "blank-hmac-secret",
        "empty-github-secret",
        "empty-admin-token",
        "empty-webhook-secret",
    ],
)
def test_errors_name_the_file_and_the_path(tmp_path: Path, text: str, expected: str) -> None:
    cfg = write(tmp_path / "c.yaml", text)
    found = errors_of(cfg)
    assert any(e.startswith(f"{cfg}: ") and expected in e for e in found), found


def test_empty_secret_from_a_default_or_an_empty_file_is_refused(tmp_path: Path) -> None:
    """`${TOKEN:-}` or an empty file would accept `Authorization: Bearer ` with no token."""
    write(tmp_path / "empty", "")
    cfg = write(
        tmp_path / "c.yaml",
        "sources:\n"
        "  alertmanager: {auth: {bearer_token: '${AM_TOKEN:-}'}}\n"
        "  github: {secret_file: empty}\n",
    )
    assert errors_of(cfg) == [
        f"{cfg}: sources.alertmanager.auth.bearer_token: must not be empty",
        f"{cfg}: sources.github.secret: must not be empty",
    ]


def test_rule_files_are_appended_in_order_with_their_locations(tmp_path: Path) -> None:
    write(tmp_path / "rules" / "b.yaml", "- {name: b1, to: [x]}\n")
    write(tmp_path / "rules" / "a.yaml", "- {name: a1, to: [x]}\n- {name: a2, to: [x]}\n")
    cfg = write(
        tmp_path / "c.yaml", "rule_files: ['rules/*.yaml']\nroutes:\n  - {name: top, to: [x]}\n"
    )
    loaded = load_config(cfg, {})
    assert [r.config.name for r in loaded.routes] == ["top", "a1", "a2", "b1"]
    assert loaded.routes[2].file == str(tmp_path / "rules" / "a.yaml")
    assert loaded.routes[2].path == "[1]"


def test_rule_file_errors_name_the_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "x.yaml", "- {name: ok, to: [x]}\n- {name: bad, to: 3}\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: ['rules/*.yaml']\n")
    (error,) = errors_of(cfg)
    assert error.startswith(f"{rules}: [1].to: ")


def test_a_named_rule_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "rule_files: ['rules/missing.yaml']\n")
    (error,) = errors_of(cfg)
    assert "rule_files[0]: no such file" in error


@pytest.mark.parametrize(
    ("value", "reference"),
    [
        ("${ BLUETICKS_API_KEY }", "${ BLUETICKS_API_KEY }"),
        ("${BLUETICKS_API_KEY-x}", "${BLUETICKS_API_KEY-x}"),
        ("${BLUETICKS_API_KEY:=x}", "${BLUETICKS_API_KEY:=x}"),
        ("bt_${BLUETICKS_API_KEY", "${BLUETICKS_API_KEY"),
        ("${}", "${}"),
        ("${A:-${BLUETICKS_API_KEY}}", "${A:-${BLUETICKS_API_KEY}"),
    ],
    ids=["spaces", "dash-default", "assign-default", "unclosed", "empty", "nested"],
)
def test_malformed_variable_reference_is_an_error_not_a_literal(
    tmp_path: Path, value: str, reference: str
) -> None:
    cfg = write(tmp_path / "c.yaml", f"blueticks:\n  api_key: '{value}'\n")
    [error] = errors_of(cfg, {"BLUETICKS_API_KEY": "bt_live_abc", "A": ""})
    assert error.startswith(f"{cfg}: blueticks.api_key: malformed variable reference {reference!r}")
    assert "write ${VAR} or ${VAR:-default}" in error


def test_escaped_and_substituted_dollar_braces_are_not_errors(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.yaml",
        "blueticks: {api_key: '${KEY}'}\nserver: {public_url: 'http://x/$${ literal }'}\n",
    )
    loaded = load_config(cfg, {"KEY": "has ${ inside"})
    assert loaded.config.blueticks.api_key is not None
    assert loaded.config.blueticks.api_key.get_secret_value() == "has ${ inside"
    assert loaded.config.server.public_url == "http://x/${ literal }"


def test_malformed_reference_in_a_rule_file_names_the_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", "- {name: r, to: ['${ ONCALL }']}\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    [error] = errors_of(cfg, {"ONCALL": "+14155550123"})
    assert error.startswith(f"{rules}: [0].to[0]: malformed variable reference '${{ ONCALL }}'")


def test_a_key_written_twice_is_an_error_naming_file_line_and_path(tmp_path: Path) -> None:
    """PyYAML keeps the last silently: a second `matchers:` would quietly reroute alerts."""
    cfg = write(
        tmp_path / "c.yaml",
        "routes:\n"
        "  - name: a\n"
        "    to: [x]\n"
        "    matchers: ['severity=\"critical\"']\n"
        "    matchers: ['team=\"db\"']\n"
        "sources:\n"
        "  grafana: {auth: {basic: {username: g, password: p, username: h}}}\n"
        "routes: []\n",
    )
    assert errors_of(cfg) == [
        f"{cfg}: line 5: routes[0]: duplicate key 'matchers' (first on line 4)",
        f"{cfg}: line 7: sources.grafana.auth.basic: duplicate key 'username' (first on line 7)",
        f"{cfg}: line 8: duplicate key 'routes' (first on line 1)",
    ]


def test_a_key_written_twice_in_a_rule_file_names_the_rule_file(tmp_path: Path) -> None:
    """A merge key (`<<: *base`) followed by a key of the base overrides it on purpose."""
    rules = write(
        tmp_path / "rules" / "a.yaml",
        "routes:\n"
        "  - &base {name: a, to: [x], matchers: ['team=\"db\"']}\n"
        "  - <<: *base\n"
        "    name: b\n"
        "  - {name: c, to: [x], to: [y]}\n",
    )
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert errors_of(cfg) == [f"{rules}: line 5: routes[2]: duplicate key 'to' (first on line 5)"]
    write(rules, rules.read_text().replace("to: [x], to: [y]", "to: [y]"))
    loaded = load_config(cfg, {})
    assert [r.config.name for r in loaded.routes] == ["a", "b", "c"]
    assert loaded.routes[1].config.matchers == loaded.routes[0].config.matchers
