"""A storm of 200 Alertmanager alerts (20 alertnames in 10 namespaces, 50 critical) to a paced
recipient, through the real server, pipeline, SQLite file and worker, with the stand-in taking
the first message: the digest that waits for the next token lists critical alerts first, says
how many critical ones fire, names every alertname it carries, and accounts for each critical
alert it cannot show, whether Alertmanager sent one alert per webhook or one per alertname."""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import BridgeHarness, StartBridge, am_headers, outbox_state_count, wait_until

from bridge.model import Notification
from bridge.render.whatsapp import text_length

NAMES = [
    "KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentReplicasMismatch",
    "KubeContainerWaiting", "KubeJobFailed", "KubeHpaMaxedOut", "KubeMemoryOvercommit",
    "KubeCPUThrottlingHigh", "KubePersistentVolumeFillingUp", "TargetDown",
    "NodeFilesystemAlmostOutOfSpace", "HighErrorRate", "HighLatencyP99",
    "PostgresReplicationLag", "RedisDown", "KafkaConsumerLag", "CertificateExpiringSoon",
    "IngressHigh5xx", "DiskPressure", "OOMKilled",
]  # fmt: skip
NAMESPACES = [f"team-{i}" for i in range(10)]
TO_ALICE = """\
routes:
  - name: k8s
    source: alertmanager
    to: [alice]
"""
# One message to alice, then nothing for a minute: the rest of the storm waits in one digest.
PACED = """\
pacing:
  global_rate: {per_minute: 60000, burst: 1000}
  per_recipient: {per_minute: 1, burst: 1}
  digest_after: 5
"""


def severity_of(name: str) -> str:
    return "critical" if NAMES.index(name) % 4 == 0 else "warning"


def storm_alert(name: str, namespace: str) -> dict[str, Any]:
    pod = f"{name.lower()[:10]}-{namespace}-7d9f8"
    alert = am_alert(
        pod,
        alertname=name,
        fingerprint=f"{name}-{namespace}",
        annotations={
            "summary": f"{name} in {namespace}",
            "description": f"{name} has been active for pod {pod} for more than 5 minutes.",
        },
        generatorURL=f"http://prometheus:9090/graph?g0.expr={name}",
    )
    alert["labels"] |= {"namespace": namespace, "pod": pod, "severity": severity_of(name)}
    return alert


def storm_webhooks(per_alertname: bool) -> list[bytes]:
    """As Alertmanager grouping by alertname and namespace (one alert per webhook) or by
    alertname (ten per webhook) would post the storm, in an order that is no order."""
    if per_alertname:
        groups = [[(name, ns) for ns in NAMESPACES] for name in NAMES]
    else:
        groups = [[(name, ns)] for name in NAMES for ns in NAMESPACES]
    random.Random(1).shuffle(groups)
    return [
        am_webhook(*(storm_alert(name, ns) for name, ns in group), groupKey=repr(group))
        for group in groups
    ]


async def the_waiting_digest(h: BridgeHarness, storm: list[bytes]) -> Notification:
    """Post the storm; the digest once every message but the one sent is merged into it."""
    for body in storm:
        reply = await h.post("/webhook/alertmanager", body, am_headers())
        assert reply.status == 202, reply.body

    async def all_merged() -> bool:
        sent = len(h.standin.state.messages)
        return sent == 1 and await outbox_state_count(h, "merged") == len(storm) - sent

    await wait_until(all_merged, 10.0, "the storm merged into one digest but its first message")
    [digest] = await h.bridge.store.list_notifications("pending")
    assert digest.source == "digest"
    return digest


def alerts_in(notifications: list[Notification]) -> list[tuple[str, str]]:
    """(alertname, severity) of each alert the notifications carry, from their fingerprints."""
    fingerprints = {fp for n in notifications for fp, _ in n.event_keys}
    return [(fp.split("-")[0], severity_of(fp.split("-")[0])) for fp in fingerprints]


def accounted(text: str, severity: str) -> int:
    """Alerts of this severity the digest shows ("🔥 *FIRING* · CRITICAL") or counts among
    those it leaves out ("… +8 more alerts: 8 critical", "… and 185 more: 47 critical")."""
    shown = text.count(f"🔥 *FIRING* · {severity.upper()}\n")
    cut_lines = [line for line in text.split("\n") if line.startswith("… ")]
    counted = [re.search(rf"(\d+) {severity}\b", line) for line in cut_lines]
    return shown + sum(int(match.group(1)) for match in counted if match)


@pytest.mark.parametrize("per_alertname", [False, True], ids=["alert-per-webhook", "per-alertname"])
async def test_a_storm_digest_leads_with_critical_alerts_and_accounts_for_every_one(
    start_bridge: StartBridge, per_alertname: bool
) -> None:
    h = await start_bridge(TO_ALICE, extra=PACED)
    digest = await the_waiting_digest(h, storm_webhooks(per_alertname))
    text = digest.text
    assert text_length(text) <= 4096

    carried = await h.bridge.store.list_notifications("merged", limit=1000)
    alerts = alerts_in(carried)
    severities = Counter(severity for _, severity in alerts)
    assert text.split("\n")[0] == (
        f"📋 *{len(carried)} updates in one digest* — {len(alerts)} firing "
        f"({severities['critical']} critical, {severities['warning']} warning), 0 resolved"
    )
    first_alert = next(line for line in text.split("\n") if line.startswith("🔥 *FIRING*"))
    assert first_alert == "🔥 *FIRING* · CRITICAL"
    # Every alertname the digest carries is in it, and every alert is shown or counted.
    assert all(name in text for name, _ in alerts), text
    assert accounted(text, "critical") == severities["critical"], text
    assert accounted(text, "warning") == severities["warning"], text
    assert "more lines" not in text
