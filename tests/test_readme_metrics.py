"""The README's metrics list names every metric the bridge exports, with its labels: a query
written from the README must select something."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from bridge.metrics import Metrics

README = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
PREFIX = "alertbridge_"


def exported() -> list[tuple[str, tuple[str, ...]]]:
    """Each metric's name as the README writes it (no prefix, counters with `_total`), labels."""
    found = []
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase):
            name = metric._name.removeprefix(PREFIX)
            if metric._type == "counter":
                name += "_total"
            found.append((name, tuple(metric._labelnames)))
    return found


@pytest.mark.parametrize(("name", "labels"), exported(), ids=[n for n, _ in exported()])
def test_readme_lists_the_metric_with_its_labels(name: str, labels: tuple[str, ...]) -> None:
    written = f"`{name}{{{','.join(labels)}}}`" if labels else f"`{name}`"
    assert written in README
