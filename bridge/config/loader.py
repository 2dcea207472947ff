"""Reading the YAML config: ${VAR} expansion, *_file secrets, rule files, duplicate keys refused,
located errors."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bridge.config.schema import BridgeConfig, RouteConfig
from bridge.errors import ConfigError, ConfigErrors

# `$$`, `${VAR}` or `${VAR:-default}`, and (last) any other `${...}`, which is an error.
_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\{[^}]*\}?)")


@dataclass(frozen=True, slots=True)
class LocatedRoute:
    """A route with where it was written, so errors found later can point at it."""

    config: RouteConfig
    file: str
    path: str


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The validated config file plus the routes of its rule files, in order."""

    file: str
    config: BridgeConfig
    routes: tuple[LocatedRoute, ...]
    # Every secret value, so the logs can redact them wherever they show up.
    secrets: frozenset[str]


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('routes', 3, 'matchers', 0) -> 'routes[3].matchers[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def expand_env(value: str, path: str, file: str, env: dict[str, str]) -> str:
    """Expand ${VAR} and ${VAR:-default}; `$$` is a literal `$`. An unset VAR is an error.

    So is any other `${...}` (`${ VAR }`, `${VAR-x}`, `${VAR:=x}`, nesting): used as it is, it
    would become a literal API key or secret.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None or (default is not None and "${" in default):
            nested = " (a default cannot hold another reference)" if name else ""
            raise ConfigError(
                f"malformed variable reference {match.group(0)!r}{nested}: write ${{VAR}} or"
                " ${VAR:-default} (names are letters, digits and _; $$ is a literal $)",
                file=file,
                path=path,
            )
        if name in env and (env[name] != "" or default is None):
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set", file=file, path=path)

    return _VAR.sub(replace, value)


def _resolve(node: Any, path: str, file: str, env: dict[str, str], base: Path) -> Any:
    """Walk the parsed YAML: expand variables in strings and read `*_file` secrets."""
    if isinstance(node, str):
        return expand_env(node, path, file, env)
    if isinstance(node, list):
        return [_resolve(v, f"{path}[{i}]", file, env, base) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[Any, Any] = {}
    for key, value in node.items():
        child = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
            target = key.removesuffix("_file")
            if target in node:
                raise ConfigError(f"set either {target} or {key}, not both", file=file, path=child)
            secret_path = base / expand_env(value, child, file, env)
            try:
                out[target] = secret_path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read {secret_path}: {exc.strerror}", file=file, path=child
                ) from exc
            continue
        out[key] = _resolve(value, child, file, env, base)
    return out


def _read_yaml(file: Path) -> Any:
    """Parse one YAML document; a syntax error is a ConfigError, duplicate keys ConfigErrors."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(file)) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates: list[ConfigError] = []
        _find_duplicate_keys(loader, node, "", str(file), duplicates, set())
        if duplicates:
            raise ConfigErrors(duplicates)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=str(file), path=where) from exc
    finally:
        loader.dispose()


def _find_duplicate_keys(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: str,
    file: str,
    found: list[ConfigError],
    seen: set[int],
) -> None:
    """Report every key written twice in one mapping.

    PyYAML keeps the last silently, so a second `matchers:` would quietly change a route;
    Alertmanager refuses such a config, and so do we. Merge keys (`<<`) may still be overridden.
    """
    if id(node) in seen:  # an alias of a node already walked (or of one of its parents)
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicate_keys(loader, item, f"{path}[{i}]", file, found, seen)
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                # `<<: *base` then `key: x` overrides on purpose; the merged keys are this path's.
                _find_duplicate_keys(loader, value_node, path, file, found, seen)
                continue
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                earlier = first_line.get(key)
            except TypeError:  # an unhashable key: constructing the document reports it
                continue
            if earlier is None:
                first_line[key] = line
            else:
                found.append(
                    ConfigError(
                        f"duplicate key {key!r} (first on line {earlier})",
                        file=file,
                        path=f"line {line}: {path}" if path else f"line {line}",
                    )
                )
            child = f"{path}.{key}" if path else str(key)
            _find_duplicate_keys(loader, value_node, child, file, found, seen)


def _pydantic_errors(exc: ValidationError, file: str, prefix: str = "") -> list[ConfigError]:
    errors = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        # Unions add the member's type name to the location; keep only document keys.
        loc = [p for p in loc if isinstance(p, int) or p not in _UNION_TAGS]
        path = format_path(loc)
        if prefix:
            path = f"{prefix}{'' if path.startswith('[') or not path else '.'}{path}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(ConfigError(message, file=file, path=path or None))
    return errors


_UNION_TAGS = {"str", "list[str]", "PersonConfig", "float", "list", "function-before"}


def _collect_secrets(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and _is_secret_key(str(key)) and len(value) >= 4:
                found.add(value)
            else:
                _collect_secrets(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_secrets(value, found)


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in ("key", "token", "password", "secret"))


def _load_rule_file(file: Path, env: dict[str, str]) -> list[LocatedRoute]:
    doc = _read_yaml(file)
    name = str(file)
    if doc is None:
        return []
    prefix = ""
    if isinstance(doc, dict) and "routes" in doc:
        doc, prefix = doc["routes"], "routes"
    if not isinstance(doc, list):
        raise ConfigError(
            "a rule file holds a list of routes (or a mapping with routes:)", file=name
        )
    routes, errors = [], []
    for i, item in enumerate(doc):
        path = f"{prefix}[{i}]"
        try:
            resolved = _resolve(item, path, name, env, file.parent)
            routes.append(LocatedRoute(RouteConfig.model_validate(resolved), name, path))
        except ConfigError as exc:
            errors.append(exc)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(exc, name, path))
    if errors:
        raise ConfigErrors(errors)
    return routes


def load_config(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> LoadedConfig:
    """Read and validate a config file and its rule files; ConfigErrors names each problem."""
    env = dict(os.environ) if env is None else env
    file = Path(path)
    name = str(file)
    try:
        doc = _read_yaml(file)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from exc
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigErrors([ConfigError("the config file must be a YAML mapping", file=name)])
    try:
        resolved = _resolve(doc, "", name, env, file.parent)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from exc
    try:
        config = BridgeConfig.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigErrors(_pydantic_errors(exc, name)) from exc

    routes = [LocatedRoute(r, name, f"routes[{i}]") for i, r in enumerate(config.routes)]
    errors: list[ConfigError] = []
    for i, pattern in enumerate(config.rule_files):
        full = pattern if os.path.isabs(pattern) else str(file.parent / pattern)
        matches = sorted(glob.glob(full))
        if not matches and not glob.has_magic(pattern):
            errors.append(ConfigError(f"no such file: {full}", file=name, path=f"rule_files[{i}]"))
        for match in matches:
            try:
                routes.extend(_load_rule_file(Path(match), env))
            except ConfigErrors as exc:
                errors.extend(exc.errors)
            except ConfigError as exc:
                errors.append(exc)
    if errors:
        raise ConfigErrors(errors)
    secrets: set[str] = set()
    _collect_secrets(resolved, secrets)
    return LoadedConfig(name, config, tuple(routes), frozenset(secrets))
