"""docs/deploy.md's recipes do what they say: the example values render, Alertmanager is given only
its token and sees every namespace, and nothing claims GitHub retries a failed delivery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import Render

from bridge.config.schema import BridgeConfig

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
BRIDGE_SECRET_KEYS = {"BLUETICKS_API_KEY", "ADMIN_TOKEN", "BLUETICKS_CALLBACK_TOKEN"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in blocks("yaml")]


def created_secrets() -> dict[str, set[str]]:
    """The Secrets the doc's shell recipes create: name -> keys."""
    secrets: dict[str, set[str]] = {}
    for block in blocks("sh"):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if match := re.match(r"kubectl .*create secret generic (\S+)", line):
                secrets[match.group(1)] = set(re.findall(r"--from-literal=([A-Z_]+)=", line))
    return secrets


def walk(node: Any) -> list[dict[str, Any]]:
    """Every mapping in a parsed YAML document."""
    if isinstance(node, dict):
        return [node, *(m for v in node.values() for m in walk(v))]
    if isinstance(node, list):
        return [m for v in node for m in walk(v)]
    return []


def test_the_bridge_secret_recipe_holds_every_variable() -> None:
    assert created_secrets()["alertbridge-secrets"] >= BRIDGE_SECRET_KEYS


def test_alertmanager_is_given_only_its_token() -> None:
    """Every Secret the Alertmanager recipes read holds ALERTMANAGER_TOKEN alone: the bridge's
    Secret also holds the Blueticks key and the admin and callback tokens."""
    secrets = created_secrets()
    used: set[str] = set()
    for mapping in (m for doc in yaml_blocks() for m in walk(doc)):
        if path := mapping.get("credentials_file"):
            match = re.fullmatch(r"/etc/alertmanager/secrets/([^/]+)/ALERTMANAGER_TOKEN", path)
            assert match, path
            used.add(match.group(1))
        if isinstance(credentials := mapping.get("credentials"), dict):
            assert credentials["key"] == "ALERTMANAGER_TOKEN"
            used.add(credentials["name"])
    used |= {
        name.strip()
        for names in re.findall(
            r"alertmanagerSpec\.secrets:\s*\[([^\]]*)\]", DOC.replace("\n", " ")
        )
        for name in names.split(",")
    }
    assert used
    for name in used:
        assert secrets.get(name) == {"ALERTMANAGER_TOKEN"}, name


def test_alertmanager_config_recipe_comes_with_the_namespace_matcher_turned_off() -> None:
    """The operator adds namespace="<the AlertmanagerConfig's namespace>" to its route unless the
    Alertmanager's matcher strategy is None: alerts from other namespaces would never arrive."""
    docs = yaml_blocks()
    assert any(isinstance(d, dict) and d.get("kind") == "AlertmanagerConfig" for d in docs)
    strategies = [
        m["alertmanagerConfigMatcherStrategy"]
        for d in docs
        for m in walk(d)
        if "alertmanagerConfigMatcherStrategy" in m
    ]
    assert {"type": "None"} in strategies
    assert "only sees alerts from its own namespace" in DOC


def test_no_text_says_github_retries() -> None:
    text = " ".join(DOC.split())
    for claim in re.findall(r"\bGitHub\b[\w ,]*?\bretr(?:y|ies)\b", text):
        assert " not " in claim, claim
    assert "GitHub does not retry" in text
    assert "Recent Deliveries" in text


async def test_rule_and_notes_say_github_does_not_retry(render: Render) -> None:
    rendered = await render({"prometheusRule": {"enabled": True, "job": "alertbridge"}})
    (group,) = rendered.get("PrometheusRule")["spec"]["groups"]
    rules = {rule["alert"]: rule for rule in group["rules"]}
    description = rules["AlertbridgeStoreUnavailable"]["annotations"]["description"]
    assert "GitHub does not retry" in description and "Recent Deliveries" in description
    assert "GitHub does not retry" in " ".join(rendered.notes.split())


def my_values() -> dict[str, Any]:
    (values,) = [d for d in yaml_blocks() if isinstance(d, dict) and "secrets" in d]
    return values


async def test_the_example_values_render_a_valid_config(render: Render) -> None:
    values = my_values()
    rendered = await render(values)
    repository = values["image"]["repository"]
    assert rendered.container["image"] == f"{repository}:{values['image']['tag']}"
    env = {
        key: "x" * 24
        for key in BRIDGE_SECRET_KEYS
        | {"ALERTMANAGER_TOKEN", "GRAFANA_PASSWORD", "GITHUB_WEBHOOK_SECRET"}
    }
    text = rendered.get("ConfigMap")["data"]["config.yaml"]
    expanded = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], text)
    BridgeConfig.model_validate(yaml.safe_load(expanded))
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert rendered.get(kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_gitops_users_are_told_to_use_an_existing_secret() -> None:
    text = " ".join(DOC.split())
    assert re.search(r"GitOps \(Argo CD[^)]*\)\*\*: use `secrets\.existingSecret`", text)


@pytest.mark.parametrize("keyword", ["extraVolumes", "extraVolumeMounts", "api_key_file"])
def test_secrets_from_files_recipe(keyword: str) -> None:
    (recipe,) = [d for d in yaml_blocks() if isinstance(d, dict) and "extraVolumes" in d]
    assert keyword in yaml.safe_dump(recipe)
