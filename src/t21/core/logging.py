"""Structured logs: JSON in production, readable lines in development, secrets always redacted.

Every record (ours through structlog, and libraries' through the standard `logging` module)
goes through the same processors, so the request or job id and the redaction apply everywhere.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from t21.core.settings import Environment, Settings

_SENSITIVE_KEY = re.compile(
    r"(password|passwd|secret|token|authorization|api_?key|cookie|signature|credentials?"
    r"|private_?key|dsn)$",
    re.IGNORECASE,
)
_SENSITIVE_VALUES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"\bt21_[A-Za-z0-9_-]{8,}"), "t21_[redacted]"),
    (re.compile(r"\b(sk|rk|whsec|re)_[A-Za-z0-9_]{8,}"), r"\1_[redacted]"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s/]+@"), r"\1[redacted]@"),
    (
        re.compile(
            r"([?&](?:code|state|login_code|code_verifier|key|api_key|signature|password"
            r"|\w*token|\w*secret)=)[^&\s#]+",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
]
REDACTED = "[redacted]"
_MAX_DEPTH = 6


def redact_text(text: str) -> str:
    """`text` with bearer tokens, keys, JWTs, URL passwords and secret query values hidden."""
    for pattern, replacement in _SENSITIVE_VALUES:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and _is_sensitive_key(key) and item is not None
                else _redact(item, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, depth + 1) for item in value)
    return value


def _is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key.replace("-", "_")))


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide secrets by key name and by shape, however they got in."""
    for key in list(event_dict):
        value = event_dict[key]
        if _is_sensitive_key(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


def _drop_duplicates(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn attaches an ANSI-coloured copy of its message, and a record formatted by another
    # handler first carries `message`: the event already says both.
    event_dict.pop("color_message", None)
    if event_dict.get("message") == event_dict.get("event"):
        event_dict.pop("message", None)
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record (test capture included)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The current span's trace and span ids, when tracing is on and a span is current."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def use_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return settings.env is Environment.PRODUCTION
    return settings.log_format == "json"


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one handler on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Redacted before any handler sees the event, then again after tracebacks are rendered.
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            # First: an event below the level costs no more than this check (the access log
            # line of every request, at WARNING), not the whole chain before the handler drops it.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any
    if use_json(settings):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_duplicates,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("t21")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "t21":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Our middleware writes the access log (with the route template and no query secrets).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Libraries that narrate every message at INFO.
    for name in ("taskiq", "httpx", "aiosqlite", "mail.log", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Which migrations ran is worth a line; the rest of Alembic's narration is not.
    logging.getLogger("alembic.runtime.migration").setLevel(root.level)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def current_request_id() -> str | None:
    """The id of the request being served (bound by the request middleware), if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
