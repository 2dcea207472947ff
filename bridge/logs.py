"""Structured logging: structlog JSON lines (console when a TTY) with secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(api_?key|token|password|secret|authorization)", re.IGNORECASE)
REDACTED = "[REDACTED]"
_MAX_KNOWN_KEYS = 4096  # bounds the key cache if a caller logs data-derived keys
# A message can carry hundreds of alerts: its log lines name the first few (and how many).
LOGGED_FINGERPRINTS = 10
# Values with nothing inside to redact (most of a log line's values).
_PLAIN = frozenset({int, float, bool, type(None)})


class SecretRedactor:
    """A processor that masks secret-named keys and any known secret value inside strings."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        # Key -> whether its name says secret: log calls reuse a handful of keys.
        self._secret_key: dict[str, bool] = {}

    def set_secrets(self, values: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._values = tuple(sorted({v for v in values if len(v) >= 4}, key=len, reverse=True))

    def _scrub_text(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub_text(value)
        if isinstance(value, dict):
            return {k: self._scrub_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value

    def _scrub_item(self, key: Any, value: Any) -> Any:
        if isinstance(value, str) and isinstance(key, str) and self._is_secret_key(key):
            return REDACTED
        return self._scrub(value)

    def _is_secret_key(self, key: str) -> bool:
        known = self._secret_key.get(key)
        if known is None:
            if len(self._secret_key) >= _MAX_KNOWN_KEYS:
                self._secret_key.clear()
            known = self._secret_key[key] = _SECRET_KEYS.search(key) is not None
        return known

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        # The common cases inline (this runs for every log line): plain strings and numbers.
        for key, value in list(event_dict.items()):
            kind = type(value)
            if kind is str and type(key) is str:
                if self._is_secret_key(key):
                    event_dict[key] = REDACTED
                elif self._values:
                    event_dict[key] = self._scrub_text(value)
            elif kind not in _PLAIN:
                event_dict[key] = self._scrub_item(key, value)
        return event_dict


redactor = SecretRedactor()


def first_fingerprints(event_keys: Sequence[tuple[str, str]]) -> list[str]:
    """The fingerprints of a notification's first LOGGED_FINGERPRINTS events, for its log lines,
    so a message can be traced back to its alerts."""
    return [fingerprint for fingerprint, _ in event_keys[:LOGGED_FINGERPRINTS]]


class StderrLogger:
    """Writes each rendered line to whatever sys.stderr is at that moment, so a replaced stream
    (tests, daemons) is honoured; one instance serves every logger (no object per log call)."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


_STDERR = StderrLogger()
# Level, time and traceback text: for structlog's own lines and the standard library's alike.
_PRE_RENDER: tuple[Any, ...] = (
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
)


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once, at start; JSON unless writing to a terminal."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *_PRE_RENDER,
            # After format_exc_info, so a traceback's text is scrubbed too.
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=lambda *args: _STDERR,
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(renderer, level)


def reset_logging() -> None:
    """Back to structlog's defaults, and the standard library's records no longer routed (tests)."""
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)


class _StderrHandler(logging.Handler):
    """A logging handler writing to whatever sys.stderr is at that moment (as StderrLogger)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _STDERR.msg(self.format(record))
        except Exception:
            self.handleError(record)


def _route_standard_logging(renderer: Any, level: str) -> None:
    """Send the standard library's log records (aiohttp's, asyncio's) through the same chain,
    so they are JSON lines too and a secret inside them (a token in a malformed request's
    headers, quoted by aiohttp) is redacted."""
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_PRE_RENDER],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(max(logging.getLevelNamesMapping()[level.upper()], logging.INFO))
