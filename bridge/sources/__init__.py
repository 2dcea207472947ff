"""Webhook sources: each authenticates a request and parses it into normalised events."""

from __future__ import annotations

from bridge.config.schema import SourcesConfig
from bridge.model import SourceName
from bridge.sources.alertmanager import AlertmanagerSource
from bridge.sources.base import Source
from bridge.sources.github import GithubSource
from bridge.sources.grafana import GrafanaSource

__all__ = ["AlertmanagerSource", "GithubSource", "GrafanaSource", "Source", "build_sources"]


def build_sources(config: SourcesConfig) -> dict[SourceName, Source]:
    """One source per sender, with its credentials compiled once from the config."""
    return {
        "alertmanager": AlertmanagerSource(config.alertmanager),
        "grafana": GrafanaSource(config.grafana),
        "github": GithubSource(config.github),
    }
