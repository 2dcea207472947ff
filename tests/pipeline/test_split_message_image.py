"""A Grafana screenshot goes with the first part of a split message only: WhatsApp would show
the same image once per part otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fixture_files import load_fixture_json

from bridge.metrics import Metrics
from bridge.model import Recipient
from bridge.pipeline.notifications import build_notifications
from bridge.render.renderer import Renderer
from bridge.routing.router import Route
from bridge.sources.grafana import parse_grafana

SCREENSHOT = "https://grafana.com/assets/img/blog/mixed_styles.png"


def test_a_split_message_carries_its_image_on_the_first_part_only() -> None:
    data = load_fixture_json("grafana", "zulip-alert_values_v11-values-image.json")
    [alert] = data["alerts"]
    data["alerts"] = [  # twenty hosts: too long for one part of 400 characters
        {**alert, "labels": {**alert["labels"], "instance": f"host-{i}"}, "fingerprint": f"f{i}"}
        for i in range(20)
    ]
    webhook = parse_grafana(json.dumps(data).encode(), datetime.now(UTC))
    route = Route("dash", None, (), (), None, None, 0.0, True, False, overflow="split", max_parts=4)
    notifications, error = build_notifications(
        Renderer(None, max_length=400),
        Metrics(),
        route,
        Recipient("alice", "+14155550123"),
        webhook.events,
        webhook,
        0.0,
    )
    assert error is None and len(notifications) > 1
    assert [n.image_url for n in notifications] == [SCREENSHOT] + [None] * (len(notifications) - 1)
