"""docs/deploy.md's Grafana HMAC recipe works with the chart's defaults: a delivery signed as its
contact point says is accepted by the bridge configured as it says (the chart's default basic
auth would otherwise be required as well, and every Grafana alert answered 401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from chart_render import SECRET_KEYS, Render
from conftest import fixture_bytes, serving

from bridge.runtime import load_runtime
from bridge.service import Bridge

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
ENV = {key: f"{key.lower()}-value" for key in SECRET_KEYS | {"GRAFANA_HMAC_SECRET"}}


def yaml_blocks() -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)]


def mappings(node: Any) -> list[dict[str, Any]]:
    """Every mapping in a parsed YAML document."""
    if isinstance(node, dict):
        return [node, *(m for v in node.values() for m in mappings(v))]
    if isinstance(node, list):
        return [m for v in node for m in mappings(v)]
    return []


def grafana_settings(key: str) -> dict[str, Any]:
    """The `settings` of the doc's contact point provisioning that has `key`."""
    (settings,) = [
        m["settings"]
        for block in yaml_blocks()
        for m in mappings(block)
        if isinstance(m.get("settings"), dict) and key in m["settings"]
    ]
    return dict(settings)


def bridge_values() -> dict[str, Any]:
    """The doc's chart values that turn the signature on."""
    (values,) = [
        block
        for block in yaml_blocks()
        if isinstance(block, dict)
        and "hmac" in block.get("config", {}).get("sources", {}).get("grafana", {})
    ]
    return dict(values)


def without_basic_null(values: dict[str, Any]) -> dict[str, Any]:
    """The doc's values minus `auth: {basic: null}`: the chart's default basic auth stays."""
    grafana = {k: v for k, v in values["config"]["sources"]["grafana"].items() if k != "auth"}
    return {"config": {"sources": {"grafana": grafana}}}


def signed_headers(settings: dict[str, Any], body: bytes) -> dict[str, str]:
    """What Grafana sends with these contact point settings ($VAR from its environment)."""
    signing = settings["hmacConfig"]
    secret = ENV[signing["secret"].removeprefix("$")]
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        signing["header"]: signature.hexdigest(),
        signing["timestampHeader"]: timestamp,
    }
    if "username" in settings:
        password = ENV[settings["password"].removeprefix("$")]
        basic = base64.b64encode(f"{settings['username']}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    return headers


@pytest.mark.parametrize(
    "keep_basic_auth",
    [False, True],
    ids=["signature-alone", "basic-auth-kept-in-the-contact-point"],
)
async def test_a_signed_grafana_delivery_made_as_the_doc_says_is_accepted(
    render: Render, tmp_path: Path, keep_basic_auth: bool
) -> None:
    settings = grafana_settings("hmacConfig")
    values = bridge_values()
    if keep_basic_auth:
        basic = grafana_settings("username")
        settings |= {"username": basic["username"], "password": basic["password"]}
        values = without_basic_null(values)
    rendered = await render(values)
    text = rendered.get("ConfigMap")["data"]["config.yaml"]
    config = yaml.safe_load(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: ENV[m[1]], text))
    # Everything else as deployed; here nothing is kept or sent.
    config["store"] = {"backend": "memory"}
    config["blueticks"] = {"dry_run": True}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))

    body = fixture_bytes("grafana", "zulip-alert-9-resolved.json")
    async with (
        serving(Bridge(load_runtime(str(path)))) as url,
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/webhook/grafana", data=body, headers=signed_headers(settings, body)
        ) as response,
    ):
        assert response.status == 202, await response.text()
