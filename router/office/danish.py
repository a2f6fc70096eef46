"""Dates, times and lengths written as a Danish office writes them: `torsdag den 4. januar 2024 kl. 12.30`.

For the e-mails and the web console; what callers *hear* is built from prompts (calls/guidance.py).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
MONTHS = (
    "januar", "februar", "marts", "april", "maj", "juni",
    "juli", "august", "september", "oktober", "november", "december",
)  # fmt: skip


def day(value: date) -> str:
    """`torsdag den 4. januar 2024`."""
    return f"{WEEKDAYS[value.weekday()]} den {value.day}. {MONTHS[value.month - 1]} {value.year}"


def clock(instant: datetime, tz: tzinfo) -> str:
    """`12.30`, in `tz`."""
    return f"{instant.astimezone(tz):%H.%M}"


def moment(instant: datetime, tz: tzinfo) -> str:
    """`torsdag den 4. januar 2024 kl. 12.30`, in `tz`."""
    return f"{day(instant.astimezone(tz).date())} kl. {clock(instant, tz)}"


def seconds(count: int | float | None) -> str:
    """A message's length or a wait: `42 sekunder`, `1 min. 15 sek.`, or `ukendt`."""
    if count is None:
        return "ukendt"
    whole = int(count)
    if whole < 60:
        return f"{whole} sekund" + ("" if whole == 1 else "er")
    return f"{whole // 60} min. {whole % 60} sek."
