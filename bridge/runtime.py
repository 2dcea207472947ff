"""The compiled configuration: sources, routes and templates ready to run, built once per load."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bridge.config.loader import LoadedConfig, load_config
from bridge.config.schema import BridgeConfig
from bridge.errors import ConfigError, ConfigErrors
from bridge.render.renderer import Renderer
from bridge.routing.recipients import resolve_recipients
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
        try:
            renderer.check(route)
        except ConfigError as exc:
            field = "template" if route.template else "message"
            errors.append(
                ConfigError(exc.message, file=located.file, path=f"{located.path}.{field}")
            )
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
