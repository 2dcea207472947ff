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

from jinja2 import FileSystemLoader, Template, TemplateNotFound, TemplateSyntaxError, meta

from bridge.errors import ConfigError
from bridge.model import SOURCE_NAMES, Event, Webhook
from bridge.render.environment import (
    DEFAULT_TEMPLATES_DIR,
    create_environment,
    create_trusted_environment,
)
from bridge.render.whatsapp import (
    WHATSAPP_MAX_LENGTH,
    FormattedText,
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


class BlankMessageError(ValueError):
    """A template rendered no text: sending it would fail, so it counts as a broken template."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """What stays the same while the length cap tries event counts: the template, the route,
    the request, the flap counts, and every event of the message (for the counts it shows)."""

    template: Template
    route: Route
    webhook: Webhook
    flaps: dict[str, int]
    everything: list[Event]


def more_line(omitted: Sequence[Event], link: str = "") -> FormattedText:
    """The closing line of a message that had to leave events out: counts and where to look.

    Already escaped (a severity is the sender's text), so a template prints it as it is and the
    renderer finds it in the text to know the template printed it."""
    counts: dict[str, int] = {}
    for event in order_events(omitted):
        label = "resolved" if event.status == "resolved" else (event.severity.lower() or "other")
        counts[label] = counts.get(label, 0) + 1
    summary = ", ".join(f"{n} {escape_whatsapp(label)}" for label, n in counts.items())
    line = f"+{len(omitted)} more ({summary})"
    return FormattedText(f"{line}\n{escape_whatsapp(link)}" if link else line)


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
        """Compile the route's own template now, so a broken one is refused with the config,
        and refuse names no message has: with StrictUndefined they fail every render."""
        template = self._route_template(route)
        loader = self._custom_env.loader
        if route.message is not None:
            where, source = "message", route.message
        elif template is not None and route.template is not None and loader is not None:
            where = f"template {route.template!r}"
            source, _, _ = loader.get_source(self._custom_env, route.template)
        else:
            return
        names = meta.find_undeclared_variables(self._custom_env.parse(source))
        unknown = sorted(names - CONTEXT_NAMES - self._custom_env.globals.keys())
        if unknown:
            known = ", ".join(sorted(CONTEXT_NAMES))
            raise ConfigError(f"{where}: unknown variable {unknown[0]!r} (a message has: {known})")

    def render(
        self,
        route: Route,
        events: Sequence[Event],
        webhook: Webhook,
        *,
        flaps: Mapping[str, int] | None = None,
    ) -> RenderedMessage:
        """The message(s) for these events; never raises (a broken template falls back, as does
        one that renders blank text: no part is ever blank).

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
        layout = _Layout(template, route, webhook, flaps, ordered)
        if route.overflow == "split" and route.max_parts > 1:
            parts, included = self._split(layout)
        else:
            text, included = self._fit(layout, ordered, self.max_length)
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

    def _fit(self, layout: _Layout, events: list[Event], limit: int) -> tuple[str, int]:
        """A digest: as many whole events as fit in limit, then "+N more" with counts and a link.

        Returns (text, events included)."""
        total = len(events)
        text = self._render(layout, events, total)
        length = text_length(text)
        if length <= limit:
            return text, total
        if total <= 1:
            return self._cut(text, [], layout.webhook, limit), total
        best = largest_fitting(
            lambda count: self._render(layout, events, count),
            high=total - 1,
            guess=total * limit // length,
            limit=limit,
        )
        if best is not None:
            return best
        # Even one event is too long: cut it hard rather than send nothing.
        single = self._render(layout, events[:1], 1)
        return self._cut(single, events[1:], layout.webhook, limit), 1

    def _split(self, layout: _Layout) -> tuple[list[str], int]:
        """Numbered parts of whole events; the last allowed part is a digest of the rest."""
        max_parts = layout.route.max_parts
        limit = self.max_length - text_length(_part_prefix(max_parts, max_parts))
        chunks: list[str] = []
        rest, included = layout.everything, 0
        while rest and len(chunks) < max_parts - 1:
            text, count = self._chunk(layout, rest, limit)
            chunks.append(text)
            rest, included = rest[count:], included + count
        if rest:
            text, count = self._fit(layout, rest, limit)
            chunks.append(text)
            included += count
        if len(chunks) == 1:
            return chunks, included
        total = len(chunks)
        return [_part_prefix(i, total) + c for i, c in enumerate(chunks, 1)], included

    def _chunk(self, layout: _Layout, events: list[Event], limit: int) -> tuple[str, int]:
        """The longest run of leading events that renders whole within limit (at least one)."""
        whole = self._render(layout, events, len(events))
        length = text_length(whole)
        if length <= limit:
            return whole, len(events)
        best = largest_fitting(
            lambda count: self._render(layout, events[:count], count),
            high=len(events) - 1,
            guess=len(events) * limit // length,
            limit=limit,
        )
        if best is not None:
            return best
        single = self._render(layout, events[:1], 1)
        return self._cut(single, [], layout.webhook, limit), 1

    def _render(self, layout: _Layout, events: list[Event], count: int) -> str:
        """The first `count` of `events` in the template, "+N more" for the rest of `events`;
        counts are over every event of the message, so each part of a split one says the same.

        Raises BlankMessageError when the template itself says nothing."""
        included, omitted = events[:count], events[count:]
        webhook, flaps = layout.webhook, layout.flaps
        more_text = more_line(omitted, _link(webhook, events)) if omitted else FormattedText("")
        context = _context(layout, included, len(omitted), more_text, self.max_length)
        text = layout.template.render(context).strip()
        if not text:
            raise BlankMessageError("the template rendered no text (a blank message)")
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


# The names a template sees (`_context`); any other name fails every render.
CONTEXT_NAMES = frozenset(
    {
        "events",
        "alerts",
        "firing",
        "resolved",
        "counts",
        "more",
        "more_text",
        "flaps",
        "webhook",
        "route",
        "source",
        "external_url",
        "max_length",
    }
)


def _context(
    layout: _Layout,
    included: list[Event],
    omitted: int,
    more_text: FormattedText,
    max_length: int,
) -> dict[str, Any]:
    everything, webhook = layout.everything, layout.webhook
    firing = sum(1 for event in everything if event.status == "firing")
    return {
        "events": included,
        "alerts": included,
        "firing": [event for event in included if event.status == "firing"],
        "resolved": [event for event in included if event.status == "resolved"],
        # Counts over every event of the message (every part of a split one), including those
        # the length cap left out.
        "counts": {
            "firing": firing,
            "resolved": len(everything) - firing,
            "total": len(everything),
        },
        "more": omitted,
        # "+N more (counts by severity)" and a link; empty when nothing was left out.
        "more_text": more_text,
        # Fingerprint -> status changes, for alerts that flapped since the last message.
        "flaps": layout.flaps,
        "webhook": webhook,
        "route": layout.route.name,
        "source": webhook.source,
        "external_url": webhook.external_url,
        # The message's length cap, for templates that budget long values (`shorten`).
        "max_length": max_length,
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
