"""Rendering a route's events into one WhatsApp message: templates, ordering, length cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, Template, TemplateNotFound, TemplateSyntaxError

from bridge.errors import ConfigError
from bridge.model import SOURCE_NAMES, Event, Webhook
from bridge.render.environment import DEFAULT_TEMPLATES_DIR, create_environment
from bridge.render.whatsapp import escape_whatsapp
from bridge.routing.router import Route

ELLIPSIS = "…"
_MIN_LENGTH = 64


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The text to send, and how it came about (for metrics and logs)."""

    text: str
    fell_back: bool  # the route's own template failed; the source's default was used
    error: str | None  # why it fell back
    included: int  # events in the text
    omitted: int  # events left out by the length cap


def more_line(count: int) -> str:
    """The closing line of a message that had to leave events out."""
    return f"{ELLIPSIS} and {count} more"


def order_events(events: Sequence[Event]) -> list[Event]:
    """Firing before resolved, then most severe first, then newest first."""

    def newest_first(event: Event) -> float:
        started: datetime = event.starts_at or event.received_at
        return -started.timestamp()

    return sorted(events, key=lambda e: (e.status != "firing", e.severity_rank, newest_first(e)))


class Renderer:
    """Renders messages with the route's template, or the default one for the event source."""

    def __init__(self, templates_dir: str | None, max_length: int = 4096) -> None:
        if max_length < _MIN_LENGTH:
            raise ValueError(f"max_length must be at least {_MIN_LENGTH}, got {max_length}")
        self.max_length = max_length
        self._templates_dir = templates_dir
        defaults_env = create_environment(FileSystemLoader(DEFAULT_TEMPLATES_DIR))
        self._defaults = {
            source: defaults_env.get_template(f"{source}.j2") for source in SOURCE_NAMES
        }
        loader = FileSystemLoader(templates_dir) if templates_dir else None
        self._custom_env = create_environment(loader)
        self._files: dict[str, Template] = {}
        self._inline: dict[str, Template] = {}

    def check(self, route: Route) -> None:
        """Compile the route's own template now, so a broken one is refused with the config."""
        self._route_template(route)

    def render(self, route: Route, events: Sequence[Event], webhook: Webhook) -> RenderedMessage:
        """The message for these events; never raises (a broken template falls back)."""
        ordered = order_events(events)
        error: str | None = None
        try:
            custom = self._route_template(route)
            if custom is not None:
                text, included = self._fit(custom, route, ordered, webhook)
                return RenderedMessage(text, False, None, included, len(ordered) - included)
        # Anything a user template does wrong (undefined name, sandbox violation, a filter
        # raising) must not lose the alert: the default template still gets it out.
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        try:
            text, included = self._fit(self._defaults[webhook.source], route, ordered, webhook)
        except Exception as exc:  # a default template bug must not lose the alert either
            error = f"{error}; default template: {exc}" if error else f"default template: {exc}"
            text, included = _plain_text(ordered, self.max_length), len(ordered)
        fell_back = error is not None
        return RenderedMessage(text, fell_back, error, included, len(ordered) - included)

    def _route_template(self, route: Route) -> Template | None:
        if route.message is not None:
            if route.message not in self._inline:
                try:
                    self._inline[route.message] = self._custom_env.from_string(route.message)
                except TemplateSyntaxError as exc:
                    raise ConfigError(f"message: line {exc.lineno}: {exc.message}") from None
            return self._inline[route.message]
        if route.template is not None:
            if route.template not in self._files:
                self._files[route.template] = self._load_file(route.template)
            return self._files[route.template]
        return None

    def _load_file(self, name: str) -> Template:
        if self._templates_dir is None:
            raise ConfigError(
                f"template {name!r}: no templates directory is configured (templates.directory)"
            )
        try:
            return self._custom_env.get_template(name)
        except TemplateNotFound:
            where = Path(self._templates_dir) / name
            raise ConfigError(f"template {name!r} not found (looked for {where})") from None
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"template {exc.name or name!r}: line {exc.lineno}: {exc.message}"
            ) from None

    def _fit(
        self, template: Template, route: Route, events: list[Event], webhook: Webhook
    ) -> tuple[str, int]:
        """Render as many events as fit in max_length, whole; returns (text, events included)."""
        total = len(events)
        text = self._render(template, route, events, total, webhook)
        if len(text) <= self.max_length:
            return text, total
        if total <= 1:
            return self._cut(text, 0), total
        best: tuple[str, int] | None = None
        low, high = 1, total - 1
        while low <= high:  # the largest count whose text fits
            count = (low + high) // 2
            candidate = self._render(template, route, events, count, webhook)
            if len(candidate) <= self.max_length:
                best, low = (candidate, count), count + 1
            else:
                high = count - 1
        if best is not None:
            return best
        # Even one event is too long: cut it hard rather than send nothing.
        single = text if total == 1 else self._render(template, route, events, 1, webhook)
        return self._cut(single, total - 1), 1

    def _render(
        self, template: Template, route: Route, events: list[Event], count: int, webhook: Webhook
    ) -> str:
        included = events[:count]
        more = len(events) - count
        text = template.render(_context(route, included, events, more, webhook)).strip()
        if more and more_line(more) not in text:  # a custom template may ignore `more`
            text = f"{text}\n\n{more_line(more)}"
        return text

    def _cut(self, text: str, more: int) -> str:
        tail = f"\n{more_line(more)}" if more else ""
        keep = self.max_length - len(tail) - len(ELLIPSIS)
        return text[:keep].rstrip() + ELLIPSIS + tail


def _context(
    route: Route, included: list[Event], everything: list[Event], more: int, webhook: Webhook
) -> dict[str, Any]:
    firing = sum(1 for event in everything if event.status == "firing")
    return {
        "events": included,
        "alerts": included,
        "firing": [event for event in included if event.status == "firing"],
        "resolved": [event for event in included if event.status == "resolved"],
        # Counts over every event, including those the length cap left out.
        "counts": {
            "firing": firing,
            "resolved": len(everything) - firing,
            "total": len(everything),
        },
        "more": more,
        "webhook": webhook,
        "route": route.name,
        "source": webhook.source,
        "external_url": webhook.external_url,
    }


def _plain_text(events: list[Event], max_length: int) -> str:
    """Last resort when even the default template fails: status and title per event."""
    lines = [
        f"{event.status.upper()}: {escape_whatsapp(event.title or event.fingerprint)}"
        for event in events
    ]
    text = "\n".join(lines) or "alertbridge: (no events)"
    return text if len(text) <= max_length else text[: max_length - 1] + ELLIPSIS
