"""Files the loader cannot use as written: not UTF-8, endless aliases, unknown rule-file keys,
unset variables (every one), and unquoted ${VAR} inside { }; each a located error, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.errors import ConfigErrors
from bridge.runtime import load_runtime

ROOT = Path(__file__).parents[2]
LATIN1 = "caf\xe9".encode("latin-1")  # byte 0xe9: not UTF-8
NOT_UTF8 = "not valid UTF-8 (byte 0xe9 on line 2): save the file as UTF-8"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def runtime_errors_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    """The errors of the whole load (config, rule files, templates), as `check` runs it."""
    with pytest.raises(ConfigErrors) as caught:
        load_runtime(str(path), env or {})
    return [str(e) for e in caught.value.errors]


def test_a_config_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", b"server:\n  public_url: 'https://" + LATIN1 + b".example'\n")
    assert runtime_errors_of(cfg) == [f"{cfg}: {NOT_UTF8}"]


def test_a_rule_file_that_is_not_utf8_names_the_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", b"- name: r\n  message: " + LATIN1 + b"\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert runtime_errors_of(cfg) == [f"{rules}: {NOT_UTF8}"]


def test_a_secret_file_that_is_not_utf8_names_the_key_and_the_file(tmp_path: Path) -> None:
    write(tmp_path / "secrets" / "github", b"line one\n" + LATIN1)
    cfg = write(tmp_path / "c.yaml", "sources:\n  github: {secret_file: secrets/github}\n")
    assert runtime_errors_of(cfg) == [
        f"{cfg}: sources.github.secret_file: cannot read {tmp_path / 'secrets' / 'github'}: "
        + NOT_UTF8
    ]


def test_a_template_that_is_not_utf8_names_the_route_and_the_template(tmp_path: Path) -> None:
    write(tmp_path / "templates" / "alert.j2", b"{{ route }}\n" + LATIN1)
    cfg = write(
        tmp_path / "c.yaml",
        "templates: {directory: templates}\n"
        "routes:\n  - {name: r, to: ['+14155550123'], template: alert.j2}\n",
    )
    assert runtime_errors_of(cfg) == [
        f"{cfg}: routes[0].template: template {tmp_path / 'templates' / 'alert.j2'}: {NOT_UTF8}"
    ]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("routes: &x [*x]\n", "routes[0]"),
        ("recipients: &r\n  alice: '+14155550123'\n  sre: *r\n", "recipients.sre"),
        ("defaults: &d {<<: *d}\n", "defaults"),
    ],
    ids=["list", "mapping", "merge-key"],
)
def test_an_alias_inside_its_own_anchor_is_an_error_not_a_recursion(
    tmp_path: Path, text: str, path: str
) -> None:
    cfg = write(tmp_path / "c.yaml", text)
    [error] = runtime_errors_of(cfg)
    assert error == (
        f"{cfg}: {path}: an alias refers to its own anchor (line 1): the value would be endless"
    )


def test_an_endless_alias_in_a_rule_file_names_the_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", "- &r {name: r, to: ['+14155550123'], x: *r}\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    [error] = runtime_errors_of(cfg)
    assert error.startswith(f"{rules}: [0].x: an alias refers to its own anchor")


def test_nesting_too_deep_for_the_parser_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "routes: " + "[" * 5000 + "]" * 5000 + "\n")
    assert runtime_errors_of(cfg) == [f"{cfg}: invalid YAML: nested too deeply"]


@pytest.mark.parametrize(
    "content",
    [
        b"routes:\n  - {name: r, to: ['+1415555" + LATIN1 + b"']}\n",
        b"routes: &x [*x]\n",
    ],
    ids=["not-utf8", "endless-alias"],
)
def test_check_prints_one_line_per_error_and_no_traceback(tmp_path: Path, content: bytes) -> None:
    cfg = write(tmp_path / "c.yaml", content)
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "check", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {cfg}: ")


def test_every_key_of_a_rule_file_but_routes_is_refused(tmp_path: Path) -> None:
    """Only routes: is read: `groups:` (Prometheus' rule format) would be ignored silently."""
    rules = write(
        tmp_path / "rules" / "a.yaml",
        "routes:\n  - {name: r, to: ['+14155550123']}\ngroups: []\nrule_files: [more.yaml]\n",
    )
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert runtime_errors_of(cfg) == [
        f"{rules}: groups: unknown field (a rule file holds only routes:)",
        f"{rules}: rule_files: unknown field (a rule file holds only routes:)",
    ]


def test_a_rule_file_mapping_without_routes_names_its_keys_too(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", "groups: []\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert runtime_errors_of(cfg) == [
        f"{rules}: groups: unknown field (a rule file holds only routes:)",
        f"{rules}: a rule file holds a list of routes (or a mapping with routes:)",
    ]


def test_every_unset_variable_is_reported_at_once(tmp_path: Path) -> None:
    """A new deployment missing five secrets learns all five from one check."""
    cfg = write(
        tmp_path / "c.yaml",
        "server: {admin_token: '${ADMIN_TOKEN}'}\n"
        "blueticks: {api_key: '${BLUETICKS_API_KEY}'}\n"
        "sources:\n"
        "  alertmanager: {auth: {bearer_token: '${AM_TOKEN}'}}\n"
        "  grafana: {auth: {basic: {username: g, password: '${GRAFANA_PASSWORD}'}}}\n"
        "  github: {secret_file: '${SECRETS}/github'}\n"
        "recipients: {alice: '${ALICE_PHONE:-+14155550123}', bob: '${BOB}${ BOB }'}\n",
    )
    assert runtime_errors_of(cfg) == [
        f"{cfg}: server.admin_token: environment variable ADMIN_TOKEN is not set",
        f"{cfg}: blueticks.api_key: environment variable BLUETICKS_API_KEY is not set",
        f"{cfg}: sources.alertmanager.auth.bearer_token: environment variable AM_TOKEN is not set",
        f"{cfg}: sources.grafana.auth.basic.password: environment variable GRAFANA_PASSWORD is "
        "not set",
        f"{cfg}: sources.github.secret_file: environment variable SECRETS is not set",
        f"{cfg}: recipients.bob: environment variable BOB is not set",
        f"{cfg}: recipients.bob: malformed variable reference '${{ BOB }}': write ${{VAR}} or "
        "${VAR:-default} (names are letters, digits and _; $$ is a literal $)",
    ]


def test_every_unset_variable_of_a_rule_file_route_is_reported(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules" / "a.yaml", "- {name: r, to: ['${ONCALL}', '${BACKUP}']}\n")
    cfg = write(tmp_path / "c.yaml", "rule_files: [rules/*.yaml]\n")
    assert runtime_errors_of(cfg) == [
        f"{rules}: [0].to[0]: environment variable ONCALL is not set",
        f"{rules}: [0].to[1]: environment variable BACKUP is not set",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "sources:\n  alertmanager: {auth: {bearer_token: ${AM_TOKEN}}}\n",
        "routes:\n  - {name: r, to: [${ONCALL}]}\n",
    ],
    ids=["flow-mapping", "flow-sequence"],
)
def test_an_unquoted_variable_inside_braces_gets_a_hint_to_quote_it(
    tmp_path: Path, text: str
) -> None:
    """DESIGN.md's example writes `{bearer_token: ${AM_TOKEN}}`: in a flow mapping `{` starts
    another mapping, and PyYAML's own message ("expected ',' or '}'") does not say why."""
    cfg = write(tmp_path / "c.yaml", text)
    [error] = runtime_errors_of(cfg, {"AM_TOKEN": "t0ken", "ONCALL": "+14155550123"})
    assert error.startswith(f"{cfg}: line 2, column ")
    assert 'inside { } or [ ] a ${VAR} must be quoted (bearer_token: "${TOKEN}")' in error


def test_an_unquoted_variable_in_block_style_needs_no_quotes(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "blueticks:\n  api_key: ${BLUETICKS_API_KEY}\n")
    loaded = load_config(cfg, {"BLUETICKS_API_KEY": "bt_live_abc"})
    assert loaded.config.blueticks.api_key is not None
    assert loaded.config.blueticks.api_key.get_secret_value() == "bt_live_abc"
