"""The compiled configuration: sources, routes and templates ready to run, built once per load."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bridge.config.loader import LoadedConfig, load_config, not_utf8
from bridge.config.schema import BridgeConfig
from bridge.delivery.blueticks_legacy import is_group_or_channel, legacy_recipient
from bridge.errors import ConfigError, ConfigErrors
from bridge.render.renderer import Renderer
from bridge.routing.recipients import is_address, normalise_address, resolve_recipients
from bridge.routing.router import Route, compile_routes
from bridge.routing.time_intervals import TimeInterval, compile_time_intervals
from bridge.sources import build_sources
from bridge.sources.base import Source


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a request needs, swapped as a whole on reload."""

    loaded: LoadedConfig
    sources: dict[str, Source]
    routes: list[Route]
    renderer: Renderer
    # Named time intervals (mute/active windows), by name.
    time_intervals: dict[str, TimeInterval] = field(default_factory=dict)

    @property
    def config(self) -> BridgeConfig:
        return self.loaded.config


def build_runtime(loaded: LoadedConfig) -> Runtime:
    """Compile a validated config: recipients, matchers and templates; raise ConfigErrors."""
    config = loaded.config
    if config.store.backend == "redis":
        # Named in the contract for the shared backend, which is not built yet: refuse it at
        # check time rather than at start.
        raise ConfigErrors(
            [
                ConfigError(
                    "the redis backend is not available yet: use sqlite (one replica) or memory",
                    file=loaded.file,
                    path="store.backend",
                )
            ]
        )
    try:
        recipients = resolve_recipients(config.recipients)
    except ConfigErrors as exc:
        raise ConfigErrors([_in_file(e, loaded.file) for e in exc.errors]) from exc
    time_intervals = _compile_time_intervals(loaded)
    routes = compile_routes(
        [(r.config, r.file, r.path) for r in loaded.routes], recipients, config.defaults
    )
    if config.blueticks.api == "legacy":
        _check_legacy_recipients(loaded)
    templates_dir = config.templates.directory
    if templates_dir and not os.path.isabs(templates_dir):
        templates_dir = os.path.join(os.path.dirname(loaded.file), templates_dir)
    if templates_dir and not os.path.isdir(templates_dir):
        raise ConfigErrors(
            [
                ConfigError(
                    f"no such directory: {templates_dir}",
                    file=loaded.file,
                    path="templates.directory",
                )
            ]
        )
    renderer = Renderer(templates_dir, config.templates.max_length)
    errors = []
    for route, located in zip(routes, loaded.routes, strict=True):
        field = "template" if route.template else "message"
        try:
            renderer.check(route)
        except ConfigError as exc:
            errors.append(
                ConfigError(exc.message, file=located.file, path=f"{located.path}.{field}")
            )
        except UnicodeDecodeError as exc:  # Jinja reads template files as UTF-8
            where = os.path.join(templates_dir or "", route.template or "")
            message = f"template {where}: {not_utf8(exc)}"
            errors.append(ConfigError(message, file=located.file, path=f"{located.path}.{field}"))
    if errors:
        raise ConfigErrors(errors)
    return Runtime(
        loaded,
        dict(build_sources(config.sources).items()),
        routes,
        renderer,
        time_intervals=time_intervals,
    )


def load_runtime(path: str, env: dict[str, str] | None = None) -> Runtime:
    return build_runtime(load_config(path, env))


def _in_file(error: ConfigError, file: str) -> ConfigError:
    return error if error.file else ConfigError(error.message, file=file, path=error.path)


def _check_legacy_recipients(loaded: LoadedConfig) -> None:
    """The legacy API sends only to `+<country><number>` (blueticks.md §A.1, §D): refuse a group
    or channel now, rather than dead-letter every message sent to it."""
    recipients = loaded.config.recipients
    # (the name the config gives it, its address, the file and path it is written at)
    addresses: list[tuple[str, str, str, str]] = []
    for name, entry in recipients.items():
        if isinstance(entry, list):
            addresses += [
                (member, member, loaded.file, f"recipients.{name}[{i}]")
                for i, member in enumerate(entry)
                if member not in recipients and is_address(member)
            ]
        elif isinstance(entry, str):
            addresses.append((name, entry, loaded.file, f"recipients.{name}"))
        else:
            addresses.append((name, entry.phone, loaded.file, f"recipients.{name}.phone"))
    for located in loaded.routes:
        addresses += [
            (member, member, located.file, f"{located.path}.to[{i}]")
            for i, member in enumerate(located.config.to)
            if member not in recipients and is_address(member)
        ]
    errors = []
    for name, address, file, path in addresses:
        problem = _legacy_problem(address)
        if problem:
            who = repr(name) if name == address else f"{name!r} ({address})"
            errors.append(ConfigError(f"recipient {who} {problem}", file=file, path=path))
    if errors:
        raise ConfigErrors(errors)


def _legacy_problem(address: str) -> str | None:
    """Why the legacy API cannot send to `address`, or None when it can."""
    if is_group_or_channel(address.strip()):
        return (
            "is a WhatsApp group or channel: blueticks.api: legacy sends only to phone numbers "
            "(+<country><number>); groups and channels need blueticks.api: v1"
        )
    try:
        normalise_address(legacy_recipient(address.strip()))  # `<digits>@c.us` goes as +digits
    except ValueError:
        return (
            "is not a valid phone number, and blueticks.api: legacy sends only to phone "
            "numbers in E.164 (+<country><number>); use the number, or blueticks.api: v1"
        )
    return None


def _compile_time_intervals(loaded: LoadedConfig) -> dict[str, TimeInterval]:
    """Compile time_intervals and check that every name a route uses is defined."""
    try:
        intervals = compile_time_intervals(loaded.config.time_intervals)
    except ConfigErrors as exc:
        raise ConfigErrors([_in_file(e, loaded.file) for e in exc.errors]) from exc
    errors = [
        ConfigError(
            f"unknown time interval {name!r}"
            + (f" (defined: {', '.join(sorted(intervals))})" if intervals else " (none defined)"),
            file=located.file,
            path=f"{located.path}.{kind}[{i}]",
        )
        for located in loaded.routes
        for kind, names in (
            ("active_time_intervals", located.config.active_time_intervals),
            ("mute_time_intervals", located.config.mute_time_intervals),
        )
        for i, name in enumerate(names)
        if name not in intervals
    ]
    if errors:
        raise ConfigErrors(errors)
    return intervals
