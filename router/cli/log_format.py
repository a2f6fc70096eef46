"""How `callrouter run` writes its log (standard error): plain lines by default, or with
CALLROUTER_LOG_FORMAT=json one JSON object a line, for a site's log collector (journald, Loki, Elastic).

Each object has `time` (UTC, ISO 8601), `level`, `logger` and `message`, an `exception` with the traceback
when there is one, and the call's fields where the line is about a call: `call_id` (Asterisk's channel id of
the caller), and on the line that ends it `line` and `outcome`. The runtime names the call's fields
(`extra=`) on the outcome's line; the router's other lines about one call begin "call <id>" by convention,
and the id is taken from there. A message with a line break stays on its line, escaped, so nothing a
caller or a trunk sends can forge a line of the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from router.cli.common import UsageError

LOG_FORMAT_ENV = "CALLROUTER_LOG_FORMAT"
PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CALL_FIELDS = ("call_id", "line", "outcome")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if isinstance(record.msg, str) and record.msg.startswith("call %s") and isinstance(record.args, tuple):
            entry["call_id"] = str(record.args[0])
        entry.update({name: getattr(record, name) for name in CALL_FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(environ: Mapping[str, str]) -> None:
    """Send the log to standard error in the format CALLROUTER_LOG_FORMAT names (plain, or json)."""
    chosen = environ.get(LOG_FORMAT_ENV, "plain")
    if chosen not in ("plain", "json"):
        raise UsageError(f"{LOG_FORMAT_ENV} is plain or json, not {chosen!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if chosen == "json" else logging.Formatter(PLAIN))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
