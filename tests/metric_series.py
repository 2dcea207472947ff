"""The series names the bridge exports, for tests of what queries and alerts may use."""

from __future__ import annotations

from bridge.metrics import Metrics


def exported_series() -> set[str]:
    """Every series name the bridge exports, with the suffixes Prometheus adds."""
    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names
