"""The chart's rendered manifests agree with the app: ports, probes, paths, config, secrets.

Rendered through chart_render.py (Helm's own install into a stand-in Kubernetes API).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CONFIG_DIR, CONFIG_PATH, PIP_HINT, SECRET_KEYS, Render, Rendered
from metric_series import exported_series

from bridge.config.schema import BridgeConfig, RouteConfig

helm = pytest.importorskip("helm_sdkpy", reason=PIP_HINT)


EVERYTHING_ON: dict[str, Any] = {
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "networkPolicy": {"enabled": True},
    "podDisruptionBudget": {"enabled": True},
    "dashboards": {"enabled": True},
    "rules": {
        "prod.yaml": [
            {
                "name": "prod-critical",
                "source": "alertmanager",
                "matchers": ['severity="critical"'],
                "to": ["sre"],
            },
        ],
        "ci.yaml": [{"name": "ci", "source": "github", "to": ["sre"], "template": "alert.j2"}],
    },
    "templates": {"alert.j2": "{{ event.title }}\n"},
    "config": {"templates": {"directory": "/etc/alertbridge/templates"}},
}


async def test_default_release_has_the_core_objects_only(render: Render) -> None:
    rendered = await render(None)
    core = "ServiceAccount Secret ConfigMap PersistentVolumeClaim Service Deployment"
    assert rendered.kinds() == set(core.split())


async def test_probes_hit_healthz_and_readyz_on_the_port_the_bridge_listens_on(
    render: Render,
) -> None:
    rendered = await render(None)
    container = rendered.container
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert BridgeConfig.model_validate(rendered.config()).server.port == port["containerPort"]


async def test_container_serves_the_config_file_from_a_directory_mount(render: Render) -> None:
    """The kubelet refreshes a ConfigMap mounted as a directory, never one mounted with subPath:
    an edited config must reach the running pod for POST /-/reload to see it."""
    rendered = await render(EVERYTHING_ON)
    container = rendered.container
    assert container["args"] == ["serve", "--config", CONFIG_PATH]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == CONFIG_DIR)
    volume = next(v for v in rendered.pod_spec["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "r-alertbridge"
    assert Path(CONFIG_PATH).name in rendered.get("ConfigMap")["data"]
    assert [m for m in container["volumeMounts"] if "subPath" in m] == []


async def test_pod_runs_as_non_root_with_read_only_root_and_no_capabilities(
    render: Render,
) -> None:
    rendered = await render(None)
    pod = rendered.pod_spec["securityContext"]
    container = rendered.container["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    assert rendered.pod_spec["automountServiceAccountToken"] is False


async def test_default_config_is_valid_once_the_secrets_are_expanded(render: Render) -> None:
    rendered = await render({"secrets": {"blueticksApiKey": "bt-key"}})
    text = rendered.get("ConfigMap")["data"]["config.yaml"]
    env = rendered.secret_env()
    referenced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    assert referenced <= env.keys()
    expanded = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], text)
    config = BridgeConfig.model_validate(yaml.safe_load(expanded))
    assert config.blueticks.api_key is not None
    assert config.blueticks.api_key.get_secret_value() == "bt-key"
    assert config.rule_files == ["/etc/alertbridge/rules/*.yaml"]


async def test_secret_holds_every_variable_and_generates_the_missing_tokens(
    render: Render,
) -> None:
    rendered = await render({"secrets": {"alertmanagerToken": "am-token"}})
    env = rendered.secret_env()
    assert env.keys() == SECRET_KEYS
    assert env["ALERTMANAGER_TOKEN"] == "am-token"
    assert env["BLUETICKS_API_KEY"] == ""
    generated = [env[k] for k in SECRET_KEYS - {"ALERTMANAGER_TOKEN", "BLUETICKS_API_KEY"}]
    assert all(len(token) == 32 for token in generated)
    assert len(set(generated)) == len(generated)
    secret_ref = rendered.container["envFrom"][0]["secretRef"]["name"]
    assert secret_ref == "r-alertbridge"


async def test_existing_secret_replaces_the_chart_secret(render: Render) -> None:
    rendered = await render({"secrets": {"existingSecret": "alertbridge-secrets"}})
    assert "Secret" not in rendered.kinds()
    assert rendered.container["envFrom"] == [{"secretRef": {"name": "alertbridge-secrets"}}]


async def test_store_file_is_on_the_persistent_volume(render: Render) -> None:
    rendered = await render(None)
    store_dir = str(Path(BridgeConfig.model_validate(rendered.config()).store.path).parent)
    mount = next(m for m in rendered.container["volumeMounts"] if m["mountPath"] == store_dir)
    volume = next(v for v in rendered.pod_spec["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == "r-alertbridge"
    assert rendered.get("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert rendered.get("Deployment")["spec"]["replicas"] == 1
    assert rendered.get("Deployment")["spec"]["strategy"] == {"type": "Recreate"}


async def test_service_targets_the_container_port(render: Render) -> None:
    service = (await render(None)).get("Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]


async def test_config_change_rolls_the_pods(render: Render) -> None:
    def checksum(rendered: Rendered) -> str:
        annotations = rendered.get("Deployment")["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    before = await render(None)
    same = await render(None)
    changed = await render({"config": {"defaults": {"dedupe_window": "2h"}}})
    assert checksum(before) == checksum(same)
    assert checksum(before) != checksum(changed)


async def test_rules_and_templates_are_mounted_where_the_config_reads_them(
    render: Render,
) -> None:
    rendered = await render(EVERYTHING_ON)
    config = BridgeConfig.model_validate(rendered.config())
    mounts = {m["mountPath"]: m["name"] for m in rendered.container["volumeMounts"]}
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    rules_dir = str(Path(config.rule_files[0]).parent)
    assert volumes[mounts[rules_dir]]["configMap"]["name"] == "r-alertbridge-rules"
    assert volumes[mounts[str(config.templates.directory)]]["configMap"]["name"] == (
        "r-alertbridge-templates"
    )
    rule_files = rendered.get("ConfigMap", "-rules")["data"]
    assert set(rule_files) == {"prod.yaml", "ci.yaml"}
    for text in rule_files.values():
        for route in yaml.safe_load(text):
            RouteConfig.model_validate(route)
    templates = rendered.get("ConfigMap", "-templates")["data"]
    assert templates == {"alert.j2": "{{ event.title }}\n"}


async def test_prometheus_rule_alerts_on_metrics_the_bridge_exports(render: Render) -> None:
    rendered = await render(EVERYTHING_ON)
    (group,) = rendered.get("PrometheusRule")["spec"]["groups"]
    alerts = {rule["alert"]: rule["expr"] for rule in group["rules"]}
    used = {name for expr in alerts.values() for name in re.findall(r"alertbridge_\w+", expr)}
    assert used and used <= exported_series()
    needed = "outbox_depth whatsapp_session_up config_last_reload_successful sender_ready"
    for name in needed.split():
        assert any(u.startswith(f"alertbridge_{name}") for u in used), name
    # The gauge exists at 0 from the start: the first dead letter fires it too.
    assert 'state="dead"' in alerts["AlertbridgeNotificationsDeadLettered"]
    assert all('job="r-alertbridge",namespace="monitoring"' in e for e in alerts.values())


async def test_service_monitor_scrapes_metrics_on_the_http_port(render: Render) -> None:
    monitor = (await render(EVERYTHING_ON)).get("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")


async def test_network_policy_lets_webhooks_in_and_blueticks_out(render: Render) -> None:
    policy = (await render(EVERYTHING_ON)).get("NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 443}


async def test_dashboard_configmap_carries_the_sidecar_label(render: Render) -> None:
    dashboard = (await render(EVERYTHING_ON)).get("ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["alertbridge.json"])["uid"] == "alertbridge"


async def test_notes_show_the_webhook_urls_and_the_alertmanager_receiver(
    render: Render,
) -> None:
    notes = (await render(None)).notes
    base = "http://r-alertbridge.monitoring.svc:8080"
    for path in ("/webhook/alertmanager", "/webhook/grafana", "/webhook/github", "/metrics"):
        assert base + path in notes
    assert "send_resolved: true" in notes
    assert "type: Bearer" in notes
    assert "no Blueticks API key is set" in notes


@pytest.mark.parametrize(
    "secrets",
    [{}, {"existingSecret": "alertbridge-secrets"}],
    ids=["chart_secret", "existing_secret"],
)
async def test_notes_give_alertmanager_only_its_token(
    render: Render, secrets: dict[str, Any]
) -> None:
    """The bridge's Secret also holds the Blueticks key and the admin and callback tokens:
    Alertmanager gets a Secret of its own holding only ALERTMANAGER_TOKEN."""
    notes = (await render({"secrets": secrets})).notes
    bridge_secret = secrets.get("existingSecret", "r-alertbridge")
    (credentials_file,) = re.findall(r"credentials_file: (\S+)", notes)
    assert credentials_file == (
        "/etc/alertmanager/secrets/alertmanager-alertbridge/ALERTMANAGER_TOKEN"
    )
    assert f"/etc/alertmanager/secrets/{bridge_secret}" not in notes
    assert f"secrets: [{bridge_secret}]" not in notes
    assert "create secret generic alertmanager-alertbridge" in notes


async def test_notes_say_github_does_not_retry(render: Render) -> None:
    notes = (await render(None)).notes
    assert "GitHub does not retry" in notes
    assert "Recent Deliveries" in notes


UNWORKABLE = [
    (
        "no_image_repository",
        {"image": {"repository": ""}},
        "set image.repository to the image you built: see docs/deploy.md",
    ),
    ("several_replicas_on_sqlite", {"replicaCount": 2}, "several replicas would each send"),
    (
        "alert_rules_without_a_scrape_job",
        {"prometheusRule": {"enabled": True}},
        "set prometheusRule.job",
    ),
    (
        "the_redis_backend_not_built_yet",
        {"config": {"store": {"backend": "redis", "url": "redis://redis:6379/0"}}},
        "does not have yet",
    ),
    ("listen_port_differs_from_container_port", {"containerPort": 9090}, "must use containerPort"),
    (
        "sqlite_file_outside_the_volume",
        {"config": {"store": {"path": "/tmp/alertbridge.db"}}},
        "must be inside persistence.mountPath",
    ),
    (
        "rules_without_their_rule_files_glob",
        {"rules": {"a.yaml": []}, "config": {"rule_files": ["rules/*.yaml"]}},
        "does not list /etc/alertbridge/rules/*.yaml",
    ),
    (
        "templates_without_templates_directory",
        {"templates": {"alert.j2": "x"}},
        "config.templates.directory is not",
    ),
]


@pytest.mark.parametrize(("name", "values", "message"), UNWORKABLE, ids=[u[0] for u in UNWORKABLE])
async def test_values_that_cannot_work_are_refused(
    render: Render, name: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.InstallError, match=re.escape(message)):
        await render(values)


async def test_alert_rules_watch_the_job_given_when_something_else_scrapes(render: Render) -> None:
    rendered = await render({"prometheusRule": {"enabled": True, "job": "kubernetes-pods"}})
    (group,) = rendered.get("PrometheusRule")["spec"]["groups"]
    assert all('job="kubernetes-pods"' in rule["expr"] for rule in group["rules"])
