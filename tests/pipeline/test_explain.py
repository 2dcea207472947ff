"""`alertbridge explain`: per route and recipient, what would happen to a payload now."""

from __future__ import annotations

import subprocess
import sys

from alertmanager_webhooks import am_alert, am_webhook
from conftest import StartBridge, am_headers

from bridge.commands.explain import explain, format_explain

ROUTES = """\
routes:
  - name: now
    source: alertmanager
    matchers: ['instance="db-1"']
    continue: true
    to: [alice]
  - name: grouped
    source: alertmanager
    group_by: [alertname]
    group_wait: 1h
    to: [bob]
"""


async def test_explain_shows_sent_deduped_and_grouped_without_changing_state(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(ROUTES)
    body = am_webhook(am_alert("db-1"))
    runtime, store = h.bridge.runtime, h.bridge.store

    before = await explain(runtime, store, "alertmanager", body)
    verdicts = {r["route"]: r["verdicts"][0]["verdict"] for r in before["routes"]}
    assert verdicts == {"now": "sent", "grouped": "grouped"}
    assert await store.list_records("group", 0) == []  # explaining wrote nothing

    assert (await h.post("/webhook/alertmanager", body, am_headers())).status == 202
    sent_id = (await store.list_notifications())[0].id
    after = await explain(runtime, store, "alertmanager", body)
    now, grouped = after["routes"]
    assert now["verdicts"][0]["verdict"] == "deduped" and now["verdicts"][0]["by"] == sent_id
    assert grouped["verdicts"][0]["verdict"] == "grouped"
    assert grouped["verdicts"][0]["group"] == "grouped{alertname='Disk'}"
    text = format_explain(after)
    assert f"deduped by notification {sent_id}" in text
    assert "in group grouped{alertname='Disk'}, flush at" in text


async def test_explain_command_line_prints_the_verdicts(start_bridge: StartBridge) -> None:
    h = await start_bridge(ROUTES)
    payload = h.config_path.parent / "payload.json"
    payload.write_bytes(am_webhook(am_alert("db-1")))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bridge", "explain", "--config", str(h.config_path)),
            *("--source", "alertmanager", str(payload)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "route now:" in done.stdout and "sent" in done.stdout
    assert "route grouped:" in done.stdout and "grouped" in done.stdout
