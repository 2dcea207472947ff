"""The Grafana dashboard shipped in the chart queries the metrics the bridge really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from metric_series import exported_series

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "helm" / "alertbridge" / "dashboards" / "alertbridge.json"
)


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p["targets"]]


def test_every_query_uses_a_metric_the_bridge_exports(dashboard: dict[str, Any]) -> None:
    used = {name for expr in exprs(dashboard) for name in re.findall(r"alertbridge_\w+", expr)}
    assert used <= exported_series()


AREAS = [
    ("ingest", "alertbridge_webhooks_received_total"),
    ("routing", "alertbridge_route_matches_total"),
    ("sends_by_outcome", "alertbridge_notifications_total"),
    ("latency", "alertbridge_delivery_latency_seconds_bucket"),
    ("outbox_depth", "alertbridge_outbox_depth"),
    ("dead_letters", 'state="dead"'),
    ("session_state", "alertbridge_whatsapp_session_up"),
    ("not_sent_by_reason", "by (route, reason) (rate(alertbridge_suppressed_total{"),
    (
        "failed_deliveries",
        'alertbridge_delivery_statuses_total{namespace=~"$namespace",job=~"$job",status="failed"}',
    ),
]


@pytest.mark.parametrize(("area", "needle"), AREAS, ids=[a[0] for a in AREAS])
def test_dashboard_covers(dashboard: dict[str, Any], area: str, needle: str) -> None:
    assert any(needle in expr for expr in exprs(dashboard))


def test_every_query_is_filtered_by_the_namespace_and_job_variables(
    dashboard: dict[str, Any],
) -> None:
    selectors = re.compile(r'alertbridge_\w+\{namespace=~"\$namespace",job=~"\$job"[,}]')
    for expr in exprs(dashboard):
        for metric in re.findall(r"alertbridge_\w+[{\[]?", expr):
            assert metric.endswith("{"), f"unfiltered metric in {expr}"
        assert selectors.search(expr), expr
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "job"} <= variables


def test_panels_have_unique_ids_and_use_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "alertbridge"
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
