"""Rendering the chart for tests: a stand-in Kubernetes API and Helm's own install, through
helm-sdkpy.

helm-sdkpy has no `helm template`; its Install renders the chart for real, so the tests install
into a stand-in Kubernetes API (aiohttp) that answers discovery and accepts every object, and read
the manifest and NOTES Helm returns. Install also runs the chart's `fail` checks, which Helm 4's
lint only logs. The `render` fixture (tests/deploy/conftest.py) wraps `rendering`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

CHART = Path(__file__).resolve().parents[2] / "helm" / "alertbridge"
PIP_HINT = "install it with: .venv/bin/pip install --ignore-requires-python helm-sdkpy"
CONFIG_DIR = "/etc/alertbridge/config"
CONFIG_PATH = f"{CONFIG_DIR}/config.yaml"
# The chart publishes no image and refuses to render without one: every render sets it.
BUILT_IMAGE = {"image": {"repository": "registry.example.com/alertbridge"}}
SECRET_KEYS = {
    "BLUETICKS_API_KEY",
    "ALERTMANAGER_TOKEN",
    "GRAFANA_PASSWORD",
    "GITHUB_WEBHOOK_SECRET",
    "ADMIN_TOKEN",
    "BLUETICKS_CALLBACK_TOKEN",
}

for _var, _sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config")):
    os.environ.setdefault(_var, f"/tmp/alertbridge-helm-test/{_sub}")
os.environ.setdefault("HELM_DATA_HOME", "/tmp/alertbridge-helm-test/data")

# The API groups the chart uses, as discovery reports them: group -> version -> (plural, kind).
API_GROUPS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "": {
        "v1": [
            ("configmaps", "ConfigMap"),
            ("secrets", "Secret"),
            ("services", "Service"),
            ("serviceaccounts", "ServiceAccount"),
            ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ]
    },
    "apps": {"v1": [("deployments", "Deployment")]},
    "policy": {"v1": [("poddisruptionbudgets", "PodDisruptionBudget")]},
    "networking.k8s.io": {"v1": [("networkpolicies", "NetworkPolicy")]},
    "monitoring.coreos.com": {
        "v1": [("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule")]
    },
}

NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound"}


def _resource_list(group_version: str, resources: list[tuple[str, str]]) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": True,
                "kind": kind,
                "verbs": verbs,
            }
            for plural, kind in resources
        ],
    }


async def _fake_kube_api(request: web.Request) -> web.Response:
    """Just enough of the Kubernetes API for `helm install --wait=false` to succeed."""
    path, method = request.path, request.method
    if path == "/version":
        return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
    if path == "/api":
        return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
    if path == "/apis":
        groups = [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"},
            }
            for group, versions in API_GROUPS.items()
            if group
        ]
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    if path == "/api/v1":
        return web.json_response(_resource_list("v1", API_GROUPS[""]["v1"]))
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 3:
        return web.json_response(
            _resource_list(f"{parts[1]}/{parts[2]}", API_GROUPS[parts[1]][parts[2]])
        )
    if method in ("POST", "PUT"):
        body = await request.read()
        # Helm keeps its release record as a protobuf Secret: acknowledge it, unread.
        obj = {} if "protobuf" in request.content_type else json.loads(body)
        obj.setdefault("kind", "Secret")
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("metadata", {}).update(resourceVersion="1", uid="0")
        return web.json_response(obj, status=201 if method == "POST" else 200)
    if method == "GET" and "labelSelector" in request.query:
        return web.json_response(
            {"kind": "List", "apiVersion": "v1", "items": [], "metadata": {"resourceVersion": "1"}}
        )
    return web.json_response(NOT_FOUND, status=404)


@dataclass
class Rendered:
    """The objects of one rendered release, and its NOTES."""

    objects: list[dict[str, Any]]
    notes: str

    def get(self, kind: str, suffix: str = "") -> dict[str, Any]:
        name = "r-alertbridge" + suffix
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    @property
    def container(self) -> dict[str, Any]:
        containers = self.get("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.get("Deployment")["spec"]["template"]["spec"]

    def config(self) -> dict[str, Any]:
        return yaml.safe_load(self.get("ConfigMap")["data"]["config.yaml"])

    def secret_env(self) -> dict[str, str]:
        data = self.get("Secret")["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}


Render = Callable[[dict[str, Any] | None], Awaitable[Rendered]]


@asynccontextmanager
async def rendering() -> AsyncIterator[Render]:
    """Install the chart with the given values into the stand-in API; return what Helm rendered.

    Every install sets BUILT_IMAGE under the values given (which may override it).
    """
    helm = pytest.importorskip("helm_sdkpy", reason=PIP_HINT)
    server = TestServer(_app())
    await server.start_server()
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": str(server.make_url(""))}}],
            "users": [{"name": "fake", "user": {"token": "unused"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
    )

    async def install(values: dict[str, Any] | None = None) -> Rendered:
        config = helm.Configuration(namespace="monitoring", kubeconfig=kubeconfig)
        release = await helm.Install(config).run(
            "r", str(CHART), values=deep_merge(BUILT_IMAGE, values or {}), wait=False, timeout=30
        )
        objects = [doc for doc in yaml.safe_load_all(release["manifest"]) if doc]
        return Rendered(objects, release["info"].get("notes", ""))

    try:
        yield install
    finally:
        await server.close()


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _fake_kube_api)
    return app
