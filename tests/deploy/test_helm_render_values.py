"""Values the chart carries into the pod unchanged: custom template texts, extra volumes for
`*_file` secrets; and the alerts about the Blueticks key say what the metrics can tell."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from chart_render import Render

from bridge.config.schema import BridgeConfig

TEMPLATES_ON = {"config": {"templates": {"directory": "/etc/alertbridge/templates"}}}

TEXTS = [
    ("leading_spaces", "  {{ event.title }}\n    indented more\n"),
    ("leading_tab", "\t{{ event.title }}\n"),
    ("leading_newline", "\n{{ event.title }}\n"),
    ("trailing_newlines", "{{ event.title }}\n\n\n"),
    ("no_trailing_newline", "{{ event.title }}"),
    ("trailing_spaces", "{{ event.title }}  \nnext  \n"),
    ("leading_spaces_and_trailing_newlines", "   *{{ event.title }}*\n\n"),
    ("looks_like_yaml", "key: value\n- item\n---\n# not a comment\n"),
    ("crlf", "{{ event.title }}\r\nline\r\n"),
    ("emoji", "🚨 *{{ event.title }}* — {{ event.severity }}\n"),
    ("only_spaces", "   "),
]


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[t[0] for t in TEXTS])
async def test_custom_template_text_round_trips(render: Render, name: str, text: str) -> None:
    rendered = await render({**TEMPLATES_ON, "templates": {"alert.j2": text}})
    assert rendered.get("ConfigMap", "-templates")["data"] == {"alert.j2": text}


async def test_several_templates_round_trip_together(render: Render) -> None:
    texts = {f"{name}.j2": text for name, text in TEXTS}
    rendered = await render({**TEMPLATES_ON, "templates": texts})
    assert rendered.get("ConfigMap", "-templates")["data"] == texts


async def test_template_names_yaml_would_retype_stay_strings(render: Render) -> None:
    texts = {"true": "a\n", "1.5": "b\n", "null": "c\n"}
    rendered = await render({**TEMPLATES_ON, "templates": texts})
    assert rendered.get("ConfigMap", "-templates")["data"] == texts


async def test_extra_volumes_carry_a_secret_to_a_file_key_of_the_config(render: Render) -> None:
    """DESIGN: `*_file` keys read Kubernetes secrets; extraVolumes/extraVolumeMounts put them
    where the config says, and `api_key: null` drops the default `${BLUETICKS_API_KEY}`."""
    key_file = "/run/secrets/blueticks/api-key"
    rendered = await render(
        {
            "extraVolumes": [{"name": "blueticks", "secret": {"secretName": "bt-key"}}],
            "extraVolumeMounts": [
                {"name": "blueticks", "mountPath": "/run/secrets/blueticks", "readOnly": True}
            ],
            "config": {"blueticks": {"api_key": None, "api_key_file": key_file}},
        }
    )
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in rendered.container["volumeMounts"]}
    mounted_at = str(PurePosixPath(key_file).parent)
    assert volumes[mounts[mounted_at]]["secret"] == {"secretName": "bt-key"}
    # The chart's own volumes are all still there.
    assert {"config", "rules", "data", "tmp"} <= volumes.keys()
    blueticks = rendered.config()["blueticks"]
    assert "api_key" not in blueticks and blueticks["api_key_file"] == key_file
    BridgeConfig.model_validate({**rendered.config(), "blueticks": {"api_key": "from-the-file"}})


async def key_alerts(render: Render) -> dict[str, dict[str, Any]]:
    rendered = await render(
        {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}}
    )
    (group,) = rendered.get("PrometheusRule")["spec"]["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


REFUSAL = re.compile(r'alertbridge_blueticks_responses_total\{[^}]*status=~"401\|403"\}')


async def test_key_alerts_tell_a_refused_key_from_a_missing_one(render: Render) -> None:
    """alertbridge_sender_ready is 0 with no key configured as well as with a refused one; only
    a 401/403 counted in alertbridge_blueticks_responses_total shows Blueticks refused the key.
    The two alerts split sender_ready == 0 on that: one or the other fires, never both."""
    alerts = await key_alerts(render)
    rejected = alerts["AlertbridgeBlueticksKeyRejected"]
    not_ready = alerts["AlertbridgeSenderNotReady"]
    ready, _, refused = rejected["expr"].partition(" and on() ")
    assert (ready, refused) == tuple(not_ready["expr"].partition(" unless on() ")[::2])
    assert "alertbridge_sender_ready" in ready and ready.rstrip().endswith("== 0")
    assert REFUSAL.search(refused) and refused.rstrip().endswith("> 0")
    assert "answered 401" in rejected["annotations"]["description"]
    assert "no Blueticks API key is configured" in not_ready["annotations"]["description"]
    assert not_ready["labels"]["severity"] == rejected["labels"]["severity"] == "critical"


SERIES = 'alertbridge_{}{{job="r-alertbridge",namespace="monitoring"{}}}'
KEY_CASES = [
    ("no_key_configured", {"sender_ready": "0x20"}, "AlertbridgeSenderNotReady"),
    (
        "key_refused_401",
        {"sender_ready": "1 0x19", 'blueticks_responses_total|,status="401"': "0 1x19"},
        "AlertbridgeBlueticksKeyRejected",
    ),
    (
        "scope_refused_403",
        {"sender_ready": "0x20", 'blueticks_responses_total|,status="403"': "1x20"},
        "AlertbridgeBlueticksKeyRejected",
    ),
    (
        "key_accepted",
        {"sender_ready": "1x20", 'blueticks_responses_total|,status="200"': "1x20"},
        None,
    ),
]


@pytest.mark.parametrize(("name", "series", "firing"), KEY_CASES, ids=[k[0] for k in KEY_CASES])
async def test_promtool_evaluates_the_key_alerts(
    render: Render, tmp_path: Path, name: str, series: dict[str, str], firing: str | None
) -> None:
    """Prometheus' own rule evaluation (promtool test rules) over the series each case exports."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    alerts = await key_alerts(render)
    key_alert_names = ("AlertbridgeBlueticksKeyRejected", "AlertbridgeSenderNotReady")
    rules = [alerts[a] for a in key_alert_names]
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "k", "rules": rules}]})
    )
    input_series = []
    for key, values in series.items():
        metric, _, extra = key.partition("|")
        input_series.append({"series": SERIES.format(metric, extra), "values": values})
    expected = [
        {
            "eval_time": "15m",
            "alertname": alert,
            "exp_alerts": [
                {
                    "exp_labels": alerts[alert]["labels"],
                    "exp_annotations": alerts[alert]["annotations"],
                }
            ]
            if alert == firing
            else [],
        }
        for alert in key_alert_names
    ]
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": expected}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    process = await asyncio.create_subprocess_exec(
        promtool,
        "test",
        "rules",
        "test.yaml",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, output.decode()
