"""Structured logs: every line is one JSON object with a constant event name and its fields.

    log = EventLogger("zkseq.hashdb")
    log.info("flush_stored", flush_id=7, nodes=120)
    → {"ts": "2026-11-21T20:54:07.123Z", "level": "info", "logger": "zkseq.hashdb",
       "event": "flush_stored", "flush_id": 7, "nodes": 120}

Event names are constants (snake_case, grep-able, usable as alert keys); everything variable goes in
fields. `configure_logging` installs the JSON formatter on the root logger once per process.
"""

import json
import logging
import sys
import time
from typing import Any, Final

_FIELDS_ATTR: Final = "zkseq_fields"
_EVENT_ATTR: Final = "zkseq_event"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, _EVENT_ATTR, None) or record.getMessage(),
        }
        line.update(getattr(record, _FIELDS_ATTR, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class EventLogger:
    """A logger whose calls take an event name and keyword fields."""

    __slots__ = ("_logger",)

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(
                level, event, exc_info=exc_info, extra={_EVENT_ATTR: event, _FIELDS_ATTR: fields}
            )

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._log(logging.ERROR, event, fields, exc_info=True)
