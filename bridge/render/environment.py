"""The Jinja environment messages are rendered in: sandboxed, strict, WhatsApp-escaping."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import BaseLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bridge.render.whatsapp import FormattedText, finalize_value

DEFAULT_TEMPLATES_DIR = Path(__file__).parent / "templates"

# The labels worth a line on a phone, in display order; the rest stay in the source UI.
KEY_LABELS = ("instance", "job", "namespace", "service", "env", "environment", "cluster")


def create_environment(loader: BaseLoader | None = None) -> ImmutableSandboxedEnvironment:
    """A sandbox (templates come from config authors) that cannot modify the shared events.

    Every `{{ value }}` goes through `finalize_value`, so values are WhatsApp-escaped unless a
    template marks them with the `raw` filter.
    """
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        finalize=finalize_value,
        autoescape=False,  # not HTML: escaping for WhatsApp is done by finalize
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # compiled once; a reload builds a new Renderer
        cache_size=-1,
    )
    env.filters["raw"] = raw
    env.filters["key_labels"] = key_labels
    env.filters["timestamp"] = timestamp
    return env


def raw(value: object) -> FormattedText:
    """Mark a value as WhatsApp markup to insert as is (use it last in a filter chain)."""
    return FormattedText("" if value is None else str(value))


def key_labels(
    labels: Mapping[str, str], names: tuple[str, ...] = KEY_LABELS
) -> list[tuple[str, str]]:
    """The (name, value) pairs of the key labels present and non-empty, in display order."""
    return [(name, labels[name]) for name in names if labels.get(name)]


def timestamp(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A time in UTC for reading on a phone; empty when there is none."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt)
