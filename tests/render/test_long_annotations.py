"""One long annotation is shortened in the default templates, so the alert's labels, times and
links still fit the message: cutting the whole message at the cap would drop them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import fixture_json

from bridge.model import Webhook
from bridge.render.renderer import Renderer
from bridge.render.whatsapp import text_length
from bridge.routing.router import Route
from bridge.sources.alertmanager import parse_alertmanager
from bridge.sources.grafana import parse_grafana

ROUTE = Route("phone", None, (), (), None, None, 0.0, True, False)
RUNBOOK = "https://runbooks.example.com/disk-full"
RULE = "http://prometheus:9090/graph?g0.expr=disk_used_percent+%3E+95"
WORDS = "The volume /var/lib/postgresql is at 99% and growing; writes will fail soon. "
LONG_TEXTS = {"words": WORDS * 80, "one-word": "x" * 6000, "emoji": "🔥" * 3000}


def alertmanager_webhook(annotations: dict[str, str]) -> Webhook:
    alert = am_alert("db-1", annotations=annotations | {"runbook_url": RUNBOOK})
    alert["generatorURL"] = RULE
    return parse_alertmanager(am_webhook(alert), datetime.now(UTC))


@pytest.mark.parametrize("max_length", [4096, 1000], ids=["api-limit", "configured-1000"])
@pytest.mark.parametrize("long_text", LONG_TEXTS.values(), ids=LONG_TEXTS.keys())
@pytest.mark.parametrize("field", ["summary", "description"], ids=["summary", "description"])
def test_alertmanager_alert_with_a_long_annotation_keeps_its_labels_and_links(
    field: str, long_text: str, max_length: int
) -> None:
    annotations = {"summary": "disk full on db-1"} | {field: long_text}
    webhook = alertmanager_webhook(annotations)
    rendered = Renderer(None, max_length).render(ROUTE, webhook.events, webhook)
    text = rendered.text
    assert not rendered.fell_back and text_length(text) <= max_length
    assert text.startswith("🔥 *FIRING* · CRITICAL\n*Disk*\n")
    assert text.endswith(
        f"\ninstance: db-1\nsince 2026-11-25 10:00 UTC\nrunbook: {RUNBOOK}\n{RULE}"
    ), text[-300:]
    [shortened] = [line for line in text.splitlines() if line.startswith(long_text[:20])]
    assert shortened.endswith("…") and text_length(shortened) <= max_length // 3
    kept = shortened.removesuffix("…")
    assert long_text.startswith(kept)
    if long_text.startswith(WORDS):
        assert long_text[len(kept)] == " "  # cut after a whole word


def test_two_alerts_with_long_summaries_both_keep_their_links() -> None:
    alerts = [am_alert(f"db-{i}", annotations={"summary": WORDS * 30}) for i in (1, 2)]
    for i, alert in enumerate(alerts, 1):
        alert["generatorURL"] = f"{RULE}&i={i}"
    webhook = parse_alertmanager(am_webhook(*alerts), datetime.now(UTC))
    rendered = Renderer(None).render(ROUTE, webhook.events, webhook)
    assert rendered.omitted == 0 and text_length(rendered.text) <= 4096
    assert f"\n{RULE}&i=1\n" in rendered.text and rendered.text.endswith(f"\n{RULE}&i=2")


def test_grafana_alert_with_a_long_summary_keeps_its_values_and_links() -> None:
    payload = fixture_json("grafana", "zulip-alert_values_v11-values-image.json")
    alert = payload["alerts"][0]
    alert["annotations"]["summary"] = WORDS * 80
    webhook = parse_grafana(json.dumps(payload).encode(), datetime.now(UTC))
    rendered = Renderer(None).render(ROUTE, webhook.events, webhook)
    assert not rendered.fell_back and text_length(rendered.text) <= 4096
    assert "\nvalues: A=2473545728 · B=0 · C=1 · minute=9\n" in rendered.text
    assert rendered.text.endswith(f"\n{alert['panelURL']}\nSilence: {alert['silenceURL']}")
