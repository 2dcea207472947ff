"""The Jinja environment messages are rendered in: sandboxed, strict, WhatsApp-escaping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import BaseLoader, Environment, StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bridge.render.whatsapp import FormattedText, cut_to_length, finalize_value, text_length

DEFAULT_TEMPLATES_DIR = Path(__file__).parent / "templates"
EnvironmentT = TypeVar("EnvironmentT", bound=Environment)

_MAX_VERDICTS = 10_000
ELLIPSIS = "…"
# The labels worth a line on a phone, in display order; the rest stay in the source UI.
KEY_LABELS = (
    "instance",
    "host",
    "job",
    "namespace",
    "pod",
    "service",
    "env",
    "environment",
    "cluster",
)


# What one render of a user template may build: a message is a few thousand characters, and a
# template runs on the event loop, so a slip like `'x' * 10**9` or nested range() loops must
# fail (the message falls back to the default template) rather than stall every alert.
MAX_REPEATED_LENGTH = 100_000  # items or characters of one `*` repetition
MAX_POWER_BITS = 4096  # an integer `**` may build (floats overflow by themselves)
MAX_RANGE_PER_RENDER = 100_000  # numbers produced by all range() calls of one render


class RangeBudget:
    """range() for one render, refusing once all its calls together pass MAX_RANGE_PER_RENDER
    (the sandbox bounds each call, not nested loops of them)."""

    def __init__(self) -> None:
        self.left = MAX_RANGE_PER_RENDER

    def __call__(self, *args: int) -> range:
        numbers = range(*args)
        self.left -= len(numbers)
        if self.left < 0:
            raise SecurityError(f"range() past {MAX_RANGE_PER_RENDER} numbers in one message")
        return numbers


class BudgetedTemplate(Template):
    """A user template: every render gets its own range() budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return super().render(*args, range=RangeBudget(), **kwargs)


class MessageSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, remembering its verdict per (type, attribute), with repetition,
    powers and range() bounded (see MAX_REPEATED_LENGTH).

    Jinja's checks look only at the object's type and the attribute's name, yet ran on every
    `e.status` of every event of every message: the larger part of rendering time.
    Intercepting `*` and `**` also stops Jinja folding constant ones while compiling, which
    would build `'x' * 10**9` at `check`, start and reload.
    """

    intercepted_binops = frozenset({"*", "**"})
    template_class = BudgetedTemplate

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._verdicts: dict[tuple[type, str], bool] = {}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and left.bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"a power past {MAX_POWER_BITS} bits in a template")
        elif operator == "*":
            for sequence, times in ((left, right), (right, left)):
                repeats = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if repeats and len(sequence) * times > MAX_REPEATED_LENGTH:
                    raise SecurityError(
                        f"a repetition longer than {MAX_REPEATED_LENGTH} in a template"
                    )
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._verdicts.get(key)
        if safe is None:
            safe = super().is_safe_attribute(obj, attr, value)
            if len(self._verdicts) < _MAX_VERDICTS:  # templates name few attributes
                self._verdicts[key] = safe
        return safe


_OPTIONS: dict[str, Any] = {
    "undefined": StrictUndefined,
    "finalize": finalize_value,
    "autoescape": False,  # not HTML: escaping for WhatsApp is done by finalize
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": False,
    "auto_reload": False,  # compiled once; a reload builds a new Renderer
    "cache_size": -1,
}


def create_environment(loader: BaseLoader | None = None) -> ImmutableSandboxedEnvironment:
    """A sandbox (templates come from config authors) that cannot modify the shared events.

    Every `{{ value }}` goes through `finalize_value`, so values are WhatsApp-escaped unless a
    template marks them with the `raw` filter.
    """
    return _add_filters(MessageSandbox(loader=loader, **_OPTIONS))


def create_trusted_environment(loader: BaseLoader) -> Environment:
    """The same environment without the sandbox, for the templates shipped in this package only.

    They are code we review, not config; the sandbox's check on every attribute access was a
    third of rendering time. Values are escaped exactly as in the sandbox (same finalize)."""
    return _add_filters(Environment(loader=loader, **_OPTIONS))  # noqa: S701 (WhatsApp, not HTML)


def _add_filters(env: EnvironmentT) -> EnvironmentT:
    env.filters["raw"] = raw
    env.filters["key_labels"] = key_labels
    env.filters["common_labels"] = common_labels
    env.filters["timestamp"] = timestamp
    env.filters["shorten"] = shorten
    return env


def raw(value: object) -> FormattedText:
    """Mark a value as WhatsApp markup to insert as is (use it last in a filter chain)."""
    return FormattedText("" if value is None else str(value))


def shorten(value: object, limit: int) -> str:
    """`value` at most `limit` long (UTF-16, as Blueticks counts), cut after a word and ending
    "…": one long annotation must not push an alert's labels and links out of the message."""
    text = "" if value is None else str(value)
    if text_length(text) <= limit:
        return value if isinstance(value, FormattedText) else text
    kept = cut_to_length(text, max(limit - len(ELLIPSIS), 0))
    # Back to the last space or line break, unless that would throw away most of what fits.
    word_end = max(kept.rfind(" "), kept.rfind("\n"))
    if word_end > len(kept) // 2:
        kept = kept[:word_end]
    short = kept.rstrip() + ELLIPSIS
    return FormattedText(short) if isinstance(value, FormattedText) else short


def key_labels(
    labels: Mapping[str, str], names: tuple[str, ...] = KEY_LABELS
) -> list[tuple[str, str]]:
    """The (name, value) pairs of the key labels present and non-empty, in display order."""
    return [(name, labels[name]) for name in names if labels.get(name)]


def common_labels(events: Sequence[Any]) -> list[tuple[str, str]]:
    """The alertname and key labels every event shares, in display order: what a message of
    several alerts is about (a group's labels, say), for its header."""
    if len(events) < 2:
        return []
    first = events[0].labels
    return [
        (name, first[name])
        for name in ("alertname", *KEY_LABELS)
        if first.get(name) and all(event.labels.get(name) == first[name] for event in events)
    ]


def timestamp(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A time in UTC for reading on a phone; empty when there is none."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt)
