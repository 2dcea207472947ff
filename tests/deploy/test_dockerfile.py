"""The Dockerfile agrees with the app and the chart: user, command, port, probe, store volume.

No Docker engine runs in CI, so the Dockerfile is parsed, not built.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = "/etc/alertbridge/config.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON-array form of CMD, ENTRYPOINT and HEALTHCHECK CMD (shell form is refused)."""
        text = re.sub(r"^(--\S+\s+)*(CMD\s+)?", "", self.args)
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} must use the exec (JSON) form"
        return [str(v) for v in value]


def parse_stages(text: str) -> list[list[Instruction]]:
    """Instructions grouped by build stage; continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), " ".join(args.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_stages((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages: list[list[Instruction]]) -> list[Instruction]:
    return stages[-1]


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "helm" / "alertbridge" / "values.yaml").read_text())


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def test_parser_joins_continuations_and_skips_comments() -> None:
    stages = parse_stages("# c\nFROM a AS b\nRUN x \\\n  # inner\n\n  && y\nFROM b\nUSER 1\n")
    assert stages == [
        [Instruction("FROM", "a AS b"), Instruction("RUN", "x && y")],
        [Instruction("FROM", "b"), Instruction("USER", "1")],
    ]


def test_image_is_multi_stage_on_slim_python_311(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"python:3\.11-slim", text)
    assert any(i.keyword == "COPY" and i.args.startswith("--from=builder") for i in stages[-1])
    # The package is installed in the builder, never in the final stage.
    assert any(re.search(r"pip install (--no-deps )?\.", i.args) for i in stages[0])
    assert not any("pip" in i.args for i in stages[-1] if i.keyword == "RUN")


def locked_pins() -> dict[str, tuple[str, int]]:
    """requirements.lock as {canonical name: (version, number of hashes)}."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9._-]+)==(\S+) \\$", line):
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def test_the_image_installs_the_locked_dependencies_checked_by_hash(
    stages: list[list[Instruction]],
) -> None:
    runs = " && ".join(i.args for i in stages[0] if i.keyword == "RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert "pip install --no-deps ." in runs  # the package resolves nothing again
    assert any(i.keyword == "COPY" and "requirements.lock" in i.args for i in stages[0])


def test_the_lock_pins_with_hashes_what_pyproject_asks_for() -> None:
    pins = locked_pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["fast"]]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: regenerate it (see its header)"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, pyproject.toml asks for {text}"
        )
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert len(pins) > len(wanted) and not unhashed


def test_runs_as_the_numeric_non_root_user_the_chart_sets(
    final: list[Instruction], values: dict
) -> None:
    user, _, group = only(final, "USER").args.partition(":")
    assert user.isdigit() and int(user) != 0
    assert not group or group.isdigit()
    assert int(user) == values["podSecurityContext"]["runAsUser"]
    assert int(user) == values["securityContext"]["runAsUser"]


def test_entrypoint_serves_the_config_path_docker_run_mounts(final: list[Instruction]) -> None:
    command = only(final, "ENTRYPOINT").exec_form() + only(final, "CMD").exec_form()
    assert command == ["alertbridge", "serve", "--config", CONFIG_PATH]
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert f'-v "$PWD/config.yaml:{CONFIG_PATH}:ro"' in deploy


def test_the_chart_keeps_the_entrypoint_and_replaces_the_cmd(final: list[Instruction]) -> None:
    """The chart mounts its config as a directory (a subPath mount is never refreshed), so its
    container args (`serve --config <file in that directory>`, checked in test_helm_render.py)
    replace the image's CMD; ENTRYPOINT stays."""
    deployment = (ROOT / "helm" / "alertbridge" / "templates" / "deployment.yaml").read_text()
    assert only(final, "ENTRYPOINT").exec_form() == ["alertbridge"]
    assert "command:" not in deployment and "args:" in deployment


def test_alertbridge_is_the_packages_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["alertbridge"] == "bridge.cli:main"


def test_exposes_the_port_the_bridge_listens_on(final: list[Instruction], values: dict) -> None:
    exposed = {int(p.split("/")[0]) for p in only(final, "EXPOSE").args.split()}
    listen_port = int(values["config"]["server"]["listen"].rpartition(":")[2])
    assert exposed == {listen_port} == {values["containerPort"]}


def test_healthcheck_hits_healthz_with_python_urllib(
    final: list[Instruction], values: dict
) -> None:
    command = only(final, "HEALTHCHECK").exec_form()
    assert command[:2] == ["python", "-c"]
    assert "urllib.request.urlopen" in command[2]
    assert f"http://127.0.0.1:{values['containerPort']}/healthz" in command[2]


def test_store_directory_is_a_volume_owned_by_the_user(
    final: list[Instruction], values: dict
) -> None:
    (volume,) = only(final, "VOLUME").exec_form()
    assert volume == values["persistence"]["mountPath"]
    assert str(Path(values["config"]["store"]["path"]).parent) == volume
    user = only(final, "USER").args.split(":")[0]
    assert any(
        i.keyword == "RUN" and f"chown {user}:" in i.args and volume in i.args for i in final
    )


def test_final_image_has_oci_labels(final: list[Instruction]) -> None:
    labels = " ".join(i.args for i in final if i.keyword == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_build_context_excludes_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "*.db", "tests"):
        assert entry in ignored
