"""The audit log's details as the Log page shows them: Danish, in the office's local time.

The store keeps a detail as the console wrote it, which for an opening or a closing is
`1818 til 2024-01-04T16:00:00+00:00 (emergency)`: the line, the end in ISO 8601 (UTC on a server
in UTC) and the reason's token. Staff read `1818 til torsdag den 4. januar 2024 kl. 17.00, borgerne
hører: "Vi har desværre lukket for telefonen lige nu"`. Any other ISO 8601 instant in a detail is
written as a Danish local time too; the rest is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo

from router.office import danish

INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")
OVERRIDE = re.compile(r"(?P<line>\S+) til (?P<until>\S+) \((?P<reason>[^()]*)\)")
OPENING = "manual_opening"  # the console's "open now": callers queue, no message of its own


def detail(text: str, tz: tzinfo, prompts: Mapping[str, str]) -> str:
    """`text` for staff; `prompts` are the manifest's texts (closure-<reason>: what callers hear)."""
    override = OVERRIDE.fullmatch(text)
    if override and INSTANT.fullmatch(override["until"]):
        reason = override["reason"]
        said = f"{override['line']} til {_local(override['until'], tz)}"
        if reason == OPENING:
            return said
        hears = prompts.get(f"closure-{reason}")
        return f'{said}, borgerne hører: "{hears}"' if hears else f"{said}, årsag: {reason}"
    return INSTANT.sub(lambda found: _local(found[0], tz), text)


def _local(instant: str, tz: tzinfo) -> str:
    try:
        return danish.moment(datetime.fromisoformat(instant), tz)
    except ValueError:  # matched the pattern, yet no such time (month 13): shown as written
        return instant
