"""Routes: compiled once from the config, then matched against each event in order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.config.schema import DefaultsConfig, RouteConfig
from bridge.errors import ConfigError, ConfigErrors
from bridge.model import Event, Recipient
from bridge.routing.matchers import Matcher, parse_matchers
from bridge.routing.recipients import (
    is_address,
    normalise_address,
    unique_by_phone,
    unknown_recipient,
)

# group_by: ["..."] groups by every label (Alertmanager's spelling).
GROUP_BY_ALL = "..."

# GitHub events a catch-all route is meant for. A repository hook set to "send me everything"
# also delivers stars, forks, wiki edits, member changes and kinds GitHub adds later; those only
# reach a route that asks for them with `event="..."` or `event=~"..."`, so nobody is paged for a
# star (`event!="push"` excludes one kind; it does not ask for every other).
WELL_KNOWN_GITHUB_EVENTS = frozenset(
    {
        "workflow_run",
        "workflow_job",
        "check_run",
        "check_suite",
        "deployment_status",
        "push",
        "pull_request",
        "issues",
        "release",
        "status",
        "dependabot_alert",
        "code_scanning_alert",
        "secret_scanning_alert",
        "repository_vulnerability_alert",
        "security_advisory",
    }
)


@dataclass(frozen=True, slots=True)
class Route:
    """A compiled routing rule: which events it takes and who gets them, how."""

    name: str
    sources: frozenset[str] | None  # None: any source
    matchers: tuple[Matcher, ...]
    recipients: tuple[Recipient, ...]
    template: str | None
    message: str | None
    dedupe_window: float
    send_resolved: bool
    continue_: bool
    # Grouping (Alertmanager's meaning); None: one message per webhook, sent at once.
    group_by: tuple[str, ...] | None = None
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0
    # firing -> resolved -> firing within this many seconds is reported once, as flapping.
    flap_window: float = 600.0
    overflow: Literal["digest", "split"] = "digest"
    max_parts: int = 3
    active_time_intervals: tuple[str, ...] = ()
    mute_time_intervals: tuple[str, ...] = ()
    when_muted: Literal["drop", "defer"] = "drop"

    @property
    def grouped(self) -> bool:
        return self.group_by is not None

    def group_labels(self, event: Event) -> dict[str, str]:
        """The labels that make up the event's group on this route (all with `...`)."""
        if self.group_by is None:
            return {}
        if GROUP_BY_ALL in self.group_by:
            return dict(sorted(event.labels.items()))
        return {name: event.labels.get(name, "") for name in sorted(self.group_by)}

    @property
    def names_github_event(self) -> bool:
        """Whether an `=` or `=~` matcher on `event` lists the GitHub event kinds it wants."""
        return any(
            matcher.name == "event" and matcher.op in ("=", "=~") for matcher in self.matchers
        )

    def matches(self, event: Event) -> bool:
        """Whether this route takes the event: source fits and every matcher matches."""
        if self.sources is not None and event.source not in self.sources:
            return False
        if (
            event.source == "github"
            and event.labels.get("event", "") not in WELL_KNOWN_GITHUB_EVENTS
            and not self.names_github_event
        ):
            return False
        return all(matcher.matches(event.labels) for matcher in self.matchers)


def match_routes(routes: Sequence[Route], event: Event) -> list[Route]:
    """The routes an event goes to, in order: the first match, and more while `continue` is set."""
    matched: list[Route] = []
    for route in routes:
        if route.matches(event):
            matched.append(route)
            if not route.continue_:
                break
    return matched


def compile_routes(
    routes: Sequence[tuple[RouteConfig, str, str]],
    recipients: dict[str, tuple[Recipient, ...]],
    defaults: DefaultsConfig,
) -> list[Route]:
    """Compile route configs (each with its file and path prefix such as `routes[3]`).

    Raises ConfigErrors naming file and path for every bad matcher, recipient or duplicate name.
    """
    compiled: list[Route] = []
    errors: list[ConfigError] = []
    first_seen: dict[str, str] = {}
    for config, file, prefix in routes:
        where = f"{file}: {prefix}" if file else prefix
        if config.name in first_seen:
            message = (
                f"duplicate route name {config.name!r} (first used at {first_seen[config.name]})"
            )
            errors.append(ConfigError(message, file=file, path=f"{prefix}.name"))
        else:
            first_seen[config.name] = where
        matchers = _compile_matchers(config, file, prefix, errors)
        people = _compile_recipients(config, recipients, file, prefix, errors)
        compiled.append(
            Route(
                name=config.name,
                sources=_sources(config),
                matchers=matchers,
                recipients=people,
                template=config.template,
                message=config.message,
                dedupe_window=(
                    defaults.dedupe_window if config.dedupe_window is None else config.dedupe_window
                ),
                send_resolved=(
                    defaults.send_resolved if config.send_resolved is None else config.send_resolved
                ),
                continue_=config.continue_,
                group_by=_compile_group_by(config, file, prefix, errors),
                group_wait=_or(config.group_wait, defaults.group_wait),
                group_interval=_or(config.group_interval, defaults.group_interval),
                repeat_interval=_or(config.repeat_interval, defaults.repeat_interval),
                flap_window=defaults.flap_window,
                overflow=config.overflow,
                max_parts=config.max_parts,
                active_time_intervals=tuple(config.active_time_intervals),
                mute_time_intervals=tuple(config.mute_time_intervals),
                when_muted=config.when_muted,
            )
        )
    if errors:
        raise ConfigErrors(errors)
    return compiled


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _sources(config: RouteConfig) -> frozenset[str] | None:
    if config.source is None:
        return None
    if isinstance(config.source, str):
        return frozenset({config.source})
    return frozenset(config.source)


def _compile_matchers(
    config: RouteConfig, file: str, prefix: str, errors: list[ConfigError]
) -> tuple[Matcher, ...]:
    """Every matcher of every entry: one entry may hold several (`a="x", b="y"`)."""
    matchers: list[Matcher] = []
    for index, text in enumerate(config.matchers):
        try:
            matchers.extend(parse_matchers(text))
        except ValueError as exc:
            errors.append(ConfigError(str(exc), file=file, path=f"{prefix}.matchers[{index}]"))
    return tuple(matchers)


def _compile_group_by(
    config: RouteConfig, file: str, prefix: str, errors: list[ConfigError]
) -> tuple[str, ...] | None:
    """The route's group_by, refusing what Alertmanager refuses and what is surely a typo."""
    if config.group_by is None:
        return None
    path = f"{prefix}.group_by"
    if GROUP_BY_ALL in config.group_by and len(config.group_by) > 1:
        message = f"{GROUP_BY_ALL!r} (all labels) cannot be combined with other label names"
        errors.append(ConfigError(message, file=file, path=path))
    seen: set[str] = set()
    for index, name in enumerate(config.group_by):
        if not name.strip():
            message = "empty label name"
        elif "," in name or any(char.isspace() for char in name):
            names = [part for part in re.split(r"[,\s]+", name) if part]
            message = (
                f"{name!r} is not one label name: list each label as its own entry,"
                f" e.g. group_by: [{', '.join(names)}]"
            )
        elif name in seen:
            message = f"label {name!r} is listed twice"
        else:
            seen.add(name)
            continue
        errors.append(ConfigError(message, file=file, path=f"{path}[{index}]"))
    return tuple(config.group_by)


def _compile_recipients(
    config: RouteConfig,
    recipients: dict[str, tuple[Recipient, ...]],
    file: str,
    prefix: str,
    errors: list[ConfigError],
) -> tuple[Recipient, ...]:
    people: list[Recipient] = []
    for index, target in enumerate(config.to):
        path = f"{prefix}.to[{index}]"
        if target in recipients:
            people.extend(recipients[target])
        elif is_address(target):
            try:
                phone = normalise_address(target)
            except ValueError as exc:
                errors.append(ConfigError(str(exc), file=file, path=path))
            else:
                people.append(Recipient(name=phone, phone=phone))
        else:
            message = unknown_recipient(target, list(recipients))
            errors.append(ConfigError(message, file=file, path=path))
    return unique_by_phone(people)
