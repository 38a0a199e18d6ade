"""JSON logs for ``serve --log-format json``: one JSON object per line on stderr.

Why: a hospital's log collector (journald, Fluent Bit, Loki, Elastic) parses one object per line
without a custom pattern, and fields such as the access log's ``status`` become searchable. Each
line has ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and ``message``, then
the record's extra fields (``logger.info("...", extra={"bed_id": ...})``), the access log's
``client``, ``method``, ``path``, ``http_version`` and ``status``, and ``exc`` with the traceback
when there is one.

Tokens stay out: the handler carries :class:`~kmc_monitor.service.auth.RedactTokens` (a handler
filter sees every record, those propagated from any logger too), and the formatter redacts the
final message, every text field and the traceback once more, since extra fields and tracebacks are
not the filter's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Final

from kmc_monitor.service.auth import redact

__all__ = ["JsonFormatter", "json_log_config"]

#: Attributes every LogRecord has: not "extra" fields.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    # uvicorn's copy of the message with terminal colours: noise in a log collector.
    "color_message",
}


def _field(value: object) -> object:
    """An extra field as JSON: text redacted, numbers and booleans as they are, the rest as text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON; see the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            out |= {
                "client": _field(client),
                "method": _field(method),
                "path": _field(path),
                "http_version": _field(version),
                "status": status if isinstance(status, int) else _field(status),
            }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = _field(value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, allow_nan=False, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` configuration (uvicorn's ``log_config`` takes it too):
    uvicorn's loggers and the root logger, so the service's own loggers, write JSON to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"redact": {"()": "kmc_monitor.service.auth.RedactTokens"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
