"""`helm lint` of helm/alertbridge through helm-sdkpy (Helm's own library, no cluster needed).

helm-sdkpy lints a chart with its own values.yaml only, so every case lints a copy of the chart
with the values (or a template) changed. Lint renders the templates, validates values.yaml
against values.schema.json. Helm 4's lint only logs the chart's own `fail` checks (values that
cannot work together), so test_helm_render.py covers those through a real install render.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import deep_merge

CHART = Path(__file__).resolve().parents[2] / "helm" / "alertbridge"
PIP_HINT = "install it with: .venv/bin/pip install --ignore-requires-python helm-sdkpy"

# Keep Helm's cache and config directories out of $HOME (read when the library loads).
for _var, _sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config")):
    os.environ.setdefault(_var, f"/tmp/alertbridge-helm-test/{_sub}")
os.environ.setdefault("HELM_DATA_HOME", "/tmp/alertbridge-helm-test/data")

helm = pytest.importorskip("helm_sdkpy", reason=PIP_HINT)

# Helm's support.Severity: 1 info, 2 warning, 3 error.
WARNING = 2
ERROR = 3


def lint(chart: Path) -> list[tuple[int, str]]:
    """(severity, path) of each message above info; helm-sdkpy drops the message text."""
    result = asyncio.run(helm.Lint(helm.Configuration()).run(str(chart)))
    assert result["TotalChartsLinted"] == 1
    return [(m["Severity"], m["Path"]) for m in result["Messages"] if m["Severity"] >= WARNING]


def chart_copy(tmp_path: Path, **values: Any) -> Path:
    """A copy of the chart whose values.yaml has `values` merged over the top-level keys."""
    copy = tmp_path / "alertbridge"
    shutil.copytree(CHART, copy)
    doc = yaml.safe_load((copy / "values.yaml").read_text())
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = deep_merge(doc[key], value)
        else:
            doc[key] = value
    (copy / "values.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


EVERYTHING_ON: dict[str, Any] = {
    "image": {"repository": "registry.example.com/alertbridge"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "additionalLabels": {"team": "sre"}},
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
    },
    "podDisruptionBudget": {"enabled": True},
    "dashboards": {"enabled": True},
    "rules": {"prod.yaml": [{"name": "prod", "matchers": ['severity="critical"'], "to": ["sre"]}]},
    "templates": {"alert.j2": "{{ event.title }}\n"},
    "config": {"templates": {"directory": "/etc/alertbridge/templates"}},
    "secrets": {"blueticksApiKey": "bt-key"},
    "extraArgs": ["--log-format", "json"],
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "extraVolumes": [{"name": "bt", "secret": {"secretName": "bt-key"}}],
    "extraVolumeMounts": [{"name": "bt", "mountPath": "/run/secrets/bt", "readOnly": True}],
}


def test_chart_lints_clean_with_default_values() -> None:
    assert lint(CHART) == []


def test_chart_lints_clean_with_every_optional_resource_enabled(tmp_path: Path) -> None:
    assert lint(chart_copy(tmp_path, **EVERYTHING_ON)) == []


BROKEN_TEMPLATES = [
    ("unknown_function", "{{ .Values.containerPort | nosuchfunction }}\n"),
    ("unclosed_action", "{{ if .Values.containerPort }}\n"),
    ("invalid_yaml_output", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n"),
]


@pytest.mark.parametrize(("name", "text"), BROKEN_TEMPLATES, ids=[b[0] for b in BROKEN_TEMPLATES])
def test_broken_template_fails_lint(tmp_path: Path, name: str, text: str) -> None:
    copy = chart_copy(tmp_path)
    (copy / "templates" / "broken.yaml").write_text(text)
    errors = [path for severity, path in lint(copy) if severity == ERROR]
    assert errors and all(path.startswith("templates/") for path in errors)


BAD_VALUES = [
    ("replica_count_not_a_number", {"replicaCount": "two"}),
    ("port_out_of_range", {"service": {"port": 70000}}),
    ("unknown_pull_policy", {"image": {"pullPolicy": "Sometimes"}}),
    ("misspelt_top_level_key", {"persistance": {"enabled": True}}),
    ("runs_as_root", {"securityContext": {"runAsNonRoot": False}}),
    ("unknown_store_backend", {"config": {"store": {"backend": "postgres"}}}),
    ("rule_file_not_yaml", {"rules": {"prod.txt": []}}),
    ("bad_scrape_interval", {"serviceMonitor": {"interval": "often"}}),
    ("extra_volume_mount_without_path", {"extraVolumeMounts": [{"name": "bt"}]}),
    ("extra_volumes_not_a_list", {"extraVolumes": {"name": "bt"}}),
]


@pytest.mark.parametrize(("name", "values"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_values_refused_by_schema(tmp_path: Path, name: str, values: dict[str, Any]) -> None:
    assert (ERROR, "values.yaml") in lint(chart_copy(tmp_path, **values))
