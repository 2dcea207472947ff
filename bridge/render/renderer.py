"""Rendering a route's events into one WhatsApp message: templates, ordering, length cap.

Lengths are counted as Blueticks counts them (UTF-16 code units, `text_length`), so a message
full of emoji that fits here also fits the API's 4096.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, Template, TemplateNotFound, TemplateSyntaxError

from bridge.errors import ConfigError
from bridge.model import SOURCE_NAMES, Event, Webhook
from bridge.render.environment import (
    DEFAULT_TEMPLATES_DIR,
    create_environment,
    create_trusted_environment,
)
from bridge.render.whatsapp import (
    WHATSAPP_MAX_LENGTH,
    cut_to_length,
    escape_whatsapp,
    text_length,
)
from bridge.routing.router import Route

ELLIPSIS = "…"
_MIN_LENGTH = 64


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The text(s) to send, and how they came about (for metrics and logs)."""

    parts: tuple[str, ...]  # one message, or numbered parts when the route splits
    fell_back: bool  # the route's own template failed; the source's default was used
    error: str | None  # why it fell back
    included: int  # events in the text(s)
    omitted: int  # events left out by the length cap (summarised in the "+N more" line)

    @property
    def text(self) -> str:
        """Every part, in order (one message unless the route splits)."""
        return "\n\n".join(self.parts)


def more_line(omitted: Sequence[Event], link: str = "") -> str:
    """The closing line of a message that had to leave events out: counts and where to look."""
    counts: dict[str, int] = {}
    for event in order_events(omitted):
        label = "resolved" if event.status == "resolved" else (event.severity.lower() or "other")
        counts[label] = counts.get(label, 0) + 1
    summary = ", ".join(f"{n} {label}" for label, n in counts.items())
    line = f"+{len(omitted)} more ({summary})"
    return f"{line}\n{link}" if link else line


def flap_line(event: Event, changes: int) -> str:
    name = escape_whatsapp(event.title or event.labels.get("alertname", "") or event.fingerprint)
    return f"🔁 {name} flapped: {changes} status changes, now {event.status}"


def _link(webhook: Webhook, events: Sequence[Event]) -> str:
    """Where to see everything: the Alertmanager (or Grafana) URL, else the first event's link."""
    if webhook.external_url:
        return webhook.external_url
    return next((e.url for e in events if e.url), "")


def order_events(events: Sequence[Event]) -> list[Event]:
    """Firing before resolved, then most severe first, then newest first."""
    if len(events) < 2:
        return list(events)

    def newest_first(event: Event) -> float:
        started: datetime = event.starts_at or event.received_at
        return -started.timestamp()

    return sorted(events, key=lambda e: (e.status != "firing", e.severity_rank, newest_first(e)))


class Renderer:
    """Renders messages with the route's template, or the default one for the event source."""

    def __init__(self, templates_dir: str | None, max_length: int = WHATSAPP_MAX_LENGTH) -> None:
        if max_length < _MIN_LENGTH:
            raise ValueError(f"max_length must be at least {_MIN_LENGTH}, got {max_length}")
        self.max_length = max_length
        self._templates_dir = templates_dir
        defaults_env = create_trusted_environment(FileSystemLoader(DEFAULT_TEMPLATES_DIR))
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

    def render(
        self,
        route: Route,
        events: Sequence[Event],
        webhook: Webhook,
        *,
        flaps: Mapping[str, int] | None = None,
    ) -> RenderedMessage:
        """The message(s) for these events; never raises (a broken template falls back).

        `flaps` maps fingerprints of flapping alerts to their status changes, for the note.
        """
        ordered = order_events(events)
        flapping = dict(flaps or {})
        error: str | None = None
        try:
            custom = self._route_template(route)
            if custom is not None:
                return self._compose(custom, route, ordered, webhook, flapping, None)
        # Anything a user template does wrong (undefined name, sandbox violation, a filter
        # raising) must not lose the alert: the default template still gets it out.
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        try:
            default = self._defaults[webhook.source]
            return self._compose(default, route, ordered, webhook, flapping, error)
        except Exception as exc:  # a default template bug must not lose the alert either
            error = f"{error}; default template: {exc}" if error else f"default template: {exc}"
        text = _plain_text(ordered, self.max_length)
        return RenderedMessage((text,), True, error, len(ordered), 0)

    def _compose(
        self,
        template: Template,
        route: Route,
        ordered: list[Event],
        webhook: Webhook,
        flaps: dict[str, int],
        error: str | None,
    ) -> RenderedMessage:
        if route.overflow == "split" and route.max_parts > 1:
            parts, included = self._split(template, route, ordered, webhook, flaps)
        else:
            text, included = self._fit(template, route, ordered, webhook, flaps, self.max_length)
            parts = [text]
        omitted = len(ordered) - included
        return RenderedMessage(tuple(parts), error is not None, error, included, omitted)

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
        self,
        template: Template,
        route: Route,
        events: list[Event],
        webhook: Webhook,
        flaps: dict[str, int],
        limit: int,
    ) -> tuple[str, int]:
        """A digest: as many whole events as fit in limit, then "+N more" with counts and a link.

        Returns (text, events included)."""
        total = len(events)
        text = self._render(template, route, events, total, webhook, flaps)
        length = text_length(text)
        if length <= limit:
            return text, total
        if total <= 1:
            return self._cut(text, [], webhook, limit), total
        best = largest_fitting(
            lambda count: self._render(template, route, events, count, webhook, flaps),
            high=total - 1,
            guess=total * limit // length,
            limit=limit,
        )
        if best is not None:
            return best
        # Even one event is too long: cut it hard rather than send nothing.
        single = self._render(template, route, events[:1], 1, webhook, flaps)
        return self._cut(single, events[1:], webhook, limit), 1

    def _split(
        self,
        template: Template,
        route: Route,
        events: list[Event],
        webhook: Webhook,
        flaps: dict[str, int],
    ) -> tuple[list[str], int]:
        """Numbered parts of whole events; the last allowed part is a digest of the rest."""
        limit = self.max_length - text_length(_part_prefix(route.max_parts, route.max_parts))
        chunks: list[str] = []
        rest, included = events, 0
        while rest and len(chunks) < route.max_parts - 1:
            text, count = self._chunk(template, route, rest, webhook, flaps, limit)
            chunks.append(text)
            rest, included = rest[count:], included + count
        if rest:
            text, count = self._fit(template, route, rest, webhook, flaps, limit)
            chunks.append(text)
            included += count
        if len(chunks) == 1:
            return chunks, included
        total = len(chunks)
        return [_part_prefix(i, total) + c for i, c in enumerate(chunks, 1)], included

    def _chunk(
        self,
        template: Template,
        route: Route,
        events: list[Event],
        webhook: Webhook,
        flaps: dict[str, int],
        limit: int,
    ) -> tuple[str, int]:
        """The longest run of leading events that renders whole within limit (at least one)."""
        whole = self._render(template, route, events, len(events), webhook, flaps)
        length = text_length(whole)
        if length <= limit:
            return whole, len(events)
        best = largest_fitting(
            lambda count: self._render(template, route, events[:count], count, webhook, flaps),
            high=len(events) - 1,
            guess=len(events) * limit // length,
            limit=limit,
        )
        if best is not None:
            return best
        single = self._render(template, route, events[:1], 1, webhook, flaps)
        return self._cut(single, [], webhook, limit), 1

    def _render(
        self,
        template: Template,
        route: Route,
        events: list[Event],
        count: int,
        webhook: Webhook,
        flaps: dict[str, int],
    ) -> str:
        included, omitted = events[:count], events[count:]
        more_text = more_line(omitted, _link(webhook, events)) if omitted else ""
        context = _context(route, included, events, more_text, webhook, flaps)
        text = template.render(context).strip()
        notes = [flap_line(e, flaps[e.fingerprint]) for e in included if e.fingerprint in flaps]
        if notes and "flapped" not in text:  # a template may say it itself
            text = text + "\n\n" + "\n".join(notes)
        if omitted and more_text not in text:  # a custom template may ignore `more`
            text = f"{text}\n\n{more_text}"
        return text

    def _cut(self, text: str, omitted: list[Event], webhook: Webhook, limit: int) -> str:
        tail = f"\n{more_line(omitted, _link(webhook, omitted))}" if omitted else ""
        keep = limit - text_length(tail) - len(ELLIPSIS)
        return cut_to_length(text, keep).rstrip() + ELLIPSIS + tail


def largest_fitting(
    render: Callable[[int], str], *, high: int, guess: int, limit: int
) -> tuple[str, int] | None:
    """The text and count of the largest count in [1, high] whose text fits in `limit` (UTF-16
    code units).

    Texts grow with the count. The search starts at `guess` (the count the whole text's length
    suggests) and steps outward in doubling steps until the answer is bracketed, then halves:
    a few renders near the answer instead of log2(high) renders of up to high/2 events.
    """
    best: tuple[str, int] | None = None
    low, step = 1, 1
    count = min(max(guess, low), high)
    fitted = overflowed = False
    while low <= high:
        text = render(count)
        if text_length(text) <= limit:
            best, low, fitted = (text, count), count + 1, True
            count += step
        else:
            high, overflowed = count - 1, True
            count -= step
        step *= 2
        if (fitted and overflowed) or not low <= count <= high:
            count = (low + high) // 2
    return best


def _part_prefix(index: int, total: int) -> str:
    return f"({index}/{total})\n"


def _context(
    route: Route,
    included: list[Event],
    everything: list[Event],
    more_text: str,
    webhook: Webhook,
    flaps: dict[str, int],
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
        "more": len(everything) - len(included),
        # "+N more (counts by severity)" and a link; empty when nothing was left out.
        "more_text": more_text,
        # Fingerprint -> status changes, for alerts that flapped since the last message.
        "flaps": flaps,
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
    if text_length(text) <= max_length:
        return text
    return cut_to_length(text, max_length - len(ELLIPSIS)) + ELLIPSIS
