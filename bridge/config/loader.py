"""Reading the YAML config: ${VAR} expansion, *_file secrets, rule files, duplicate keys refused,
located errors."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bridge.config.field_types import UNION_TAGS
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


def expand_env(
    value: str, path: str, file: str, env: dict[str, str], errors: list[ConfigError]
) -> str:
    """Expand ${VAR} and ${VAR:-default}; `$$` is a literal `$`. An unset VAR is an error,
    added to `errors`.

    So is any other `${...}` (`${ VAR }`, `${VAR-x}`, `${VAR:=x}`, nesting): used as it is, it
    would become a literal API key or secret.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None or (default is not None and "${" in default):
            nested = " (a default cannot hold another reference)" if name else ""
            errors.append(
                ConfigError(
                    f"malformed variable reference {match.group(0)!r}{nested}: write ${{VAR}} or"
                    " ${VAR:-default} (names are letters, digits and _; $$ is a literal $)",
                    file=file,
                    path=path,
                )
            )
            return ""
        if name in env and (env[name] != "" or default is None):
            return env[name]
        if default is not None:
            return default
        errors.append(ConfigError(f"environment variable {name} is not set", file=file, path=path))
        return ""

    return _VAR.sub(replace, value)


@dataclass(frozen=True, slots=True)
class _Resolver:
    """Expands variables and reads `*_file` secrets in one parsed document, collecting every
    error, so a deployment missing five secrets learns all five at once."""

    file: str
    env: dict[str, str]
    base: Path
    errors: list[ConfigError]

    def resolve(self, node: Any, path: str) -> Any:
        if isinstance(node, str):
            return expand_env(node, path, self.file, self.env, self.errors)
        if isinstance(node, list):
            return [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                out[key.removesuffix("_file")] = self._read_secret(node, key, value, child)
            else:
                out[key] = self.resolve(value, child)
        return out

    def _read_secret(self, node: dict[Any, Any], key: str, value: str, path: str) -> str:
        target = key.removesuffix("_file")
        if target in node:
            self.errors.append(
                ConfigError(f"set either {target} or {key}, not both", file=self.file, path=path)
            )
            return ""
        before = len(self.errors)
        secret_path = self.base / expand_env(value, path, self.file, self.env, self.errors)
        if len(self.errors) > before:
            return ""
        try:
            return secret_path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            problem = f"cannot read {secret_path}: {exc.strerror}"
        except UnicodeDecodeError as exc:
            problem = f"cannot read {secret_path}: {not_utf8(exc)}"
        self.errors.append(ConfigError(problem, file=self.file, path=path))
        return ""


def _resolve(node: Any, path: str, file: str, env: dict[str, str], base: Path) -> Any:
    """Walk the parsed YAML: expand variables in strings and read `*_file` secrets; raises
    ConfigErrors with every problem found."""
    resolver = _Resolver(file, env, base, [])
    resolved = resolver.resolve(node, path)
    if resolver.errors:
        raise ConfigErrors(resolver.errors)
    return resolved


def not_utf8(exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8 (line and byte), so the bad spot can be found."""
    line = exc.object[: exc.start].count(b"\n") + 1
    return (
        f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} on line {line}): "
        "save the file as UTF-8"
    )


def _read_yaml(file: Path) -> Any:
    """Parse one YAML document (UTF-8); a syntax error is a ConfigError, duplicate keys and
    endless aliases ConfigErrors."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(file)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(exc), file=str(file)) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check = _DuplicateKeyCheck(loader, str(file))
        check.walk(node, "")
        if check.found:
            raise ConfigErrors(check.found)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        hint = _unquoted_variable_hint(exc, text)
        raise ConfigError(f"invalid YAML: {problem}{hint}", file=str(file), path=where) from exc
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=str(file)) from None
    finally:
        loader.dispose()


def _unquoted_variable_hint(exc: yaml.YAMLError, text: str) -> str:
    """`{token: ${TOKEN}}`: inside { } or [ ], `{` starts a mapping, so `${...}` needs quotes."""
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context", None) or ""
    if mark is None or not context.startswith("while parsing a flow"):
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if "${" not in line:
        return ""
    return (
        '; inside { } or [ ] a ${VAR} must be quoted (bearer_token: "${TOKEN}"), '
        "since YAML reads { as the start of a mapping"
    )


@dataclass
class _DuplicateKeyCheck:
    """Walks one document's nodes and reports every key written twice in one mapping, and an
    alias inside its own anchor.

    PyYAML keeps the last key silently, so a second `matchers:` would quietly change a route;
    Alertmanager refuses such a config, and so do we. Merge keys (`<<`) may still be overridden.
    An alias of one of its parents (`routes: &x [*x]`) is an endless document.
    """

    loader: yaml.SafeLoader
    file: str
    found: list[ConfigError] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)  # nodes walked (an alias of one: skipped)
    parents: set[int] = field(default_factory=set)  # nodes on the path from the root

    def walk(self, node: yaml.Node, path: str) -> None:
        if id(node) in self.parents:
            line = node.start_mark.line + 1
            self.found.append(
                ConfigError(
                    f"an alias refers to its own anchor (line {line}): the value would be endless",
                    file=self.file,
                    path=path or None,
                )
            )
            return
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        self.parents.add(id(node))
        self._below(node, path)
        self.parents.discard(id(node))

    def _below(self, node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, f"{path}[{i}]")
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    # `<<: *base` then `key: x` overrides on purpose; merged keys are this path's.
                    self.walk(value_node, path)
                    continue
                key = self.loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    earlier = first_line.get(key)
                except TypeError:  # an unhashable key: constructing the document reports it
                    continue
                if earlier is None:
                    first_line[key] = line
                else:
                    self.found.append(
                        ConfigError(
                            f"duplicate key {key!r} (first on line {earlier})",
                            file=self.file,
                            path=f"line {line}: {path}" if path else f"line {line}",
                        )
                    )
                self.walk(value_node, f"{path}.{key}" if path else str(key))


def _pydantic_errors(exc: ValidationError, file: str, prefix: str = "") -> list[ConfigError]:
    errors = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        # Unions add the member's tag to the location; keep only document keys.
        loc = [p for p in loc if isinstance(p, int) or p not in UNION_TAGS]
        path = format_path(loc)
        if prefix:
            path = f"{prefix}{'' if path.startswith('[') or not path else '.'}{path}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(ConfigError(message, file=file, path=path or None))
    return errors


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
    errors: list[ConfigError] = []
    if isinstance(doc, dict):
        # Nothing but routes: is read, so anything else would be ignored without a word.
        errors += [
            ConfigError("unknown field (a rule file holds only routes:)", file=name, path=str(key))
            for key in doc
            if key != "routes"
        ]
        if "routes" in doc:
            doc, prefix = doc["routes"], "routes"
    if not isinstance(doc, list):
        errors.append(
            ConfigError("a rule file holds a list of routes (or a mapping with routes:)", file=name)
        )
        raise ConfigErrors(errors)
    routes = []
    for i, item in enumerate(doc):
        path = f"{prefix}[{i}]"
        try:
            resolved = _resolve(item, path, name, env, file.parent)
            routes.append(LocatedRoute(RouteConfig.model_validate(resolved), name, path))
        except ConfigErrors as exc:
            errors.extend(exc.errors)
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
    resolved = _resolve(doc, "", name, env, file.parent)
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
