"""What a caller hears when the line is closed, built from the schedule rather than a fixed recording.

The guidance is a few sentences, each a sequence of *prompt names* that Asterisk plays one after
the other (prompts/manifest.yaml holds their Danish texts):

1. why it is closed: a holiday or closing day by name, a closure by its reason, or just "now";
2. the phone hours: "Vi har telefontid mandag til onsdag fra klokken 10 til 12, torsdag ...";
3. when it opens next: "Vi har telefontid igen torsdag klokken 15" (i dag / i morgen / a weekday /
   a date further ahead);
4. where to go instead: e-mail, and Mit Betalingsoverblik.

Pure: a Decision and the schedule in, prompt names out. `render()` turns them into the Danish text,
for logs and tests. A punctuation piece ("," or ".") is silent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from router.schedule.localtime import wall
from router.schedule.model import WEEKDAYS, Decision, Line, Reason
from router.schedule.timeline import Schedule

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
Sentence = tuple[str, ...]


@dataclass(frozen=True)
class Guidance:
    sentences: tuple[Sentence, ...]

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every prompt to play, in order, without the silent punctuation pieces."""
        return tuple(p for sentence in self.sentences for p in sentence if p not in (",", "."))


def slug(name: str) -> str:
    """A prompt name for a holiday, closing day or closure name: 'Anden påskedag' -> 'anden-paaskedag'."""
    text = name.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def closed_guidance(
    schedule: Schedule, line_id: str, decision: Decision, known_prompts: Mapping[str, str] | None = None
) -> Guidance:
    """The guidance for a caller who reached `line_id` while it is closed.

    `known_prompts` (the manifest) lets a closure's own message be used where one exists; without
    it, or without a message for that reason, the general "closed now" is said.
    """
    line = schedule.line(line_id)
    sentences = [_why(decision, line, known_prompts or {})]
    hours = _hours(schedule, line, decision)
    if hours:
        sentences.append(hours)
    sentences.append(_next_opening(schedule, decision))
    if line.email:
        sentences.append(("write-email", f"email-{slug(line.id)}"))
    if line.self_service:
        sentences.append(("self-service",))
    return Guidance(tuple(sentences))


def _why(decision: Decision, line: Line, known: Mapping[str, str]) -> Sentence:
    if decision.reason in (Reason.PUBLIC_HOLIDAY, Reason.CLOSING_DAY) and decision.label:
        return ("closed-today-because", f"name-{slug(decision.label)}")
    if decision.reason in (Reason.CLOSURE, Reason.OVERRIDE) and decision.cause:
        specific = f"closure-{decision.cause}"
        if specific in known:
            return (specific,)
    return ("closed-now",)


def _hours(schedule: Schedule, line: Line, decision: Decision) -> Sentence:
    """The weekly hours in force when the line next opens (or now, if no opening is known)."""
    when = decision.next_open or decision.instant
    version = line.version_on(wall(when, schedule.tz).date())
    if version is None:
        return ()
    day = 24 * 60
    # An overnight window ends the next day; one that ends at midnight ends "24".
    week = [[(w.start, w.end - day if w.overnight else w.end) for w in windows] for windows in version.hours]
    return hours_sentence(week)


def hours_sentence(week: Sequence[Sequence[tuple[int, int]]]) -> Sentence:
    """ "Vi har telefontid mandag til onsdag fra klokken 10 til 12, ..." for windows in minutes, Monday first."""
    groups: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []  # first day, last day, windows
    for day, windows in enumerate(tuple(w) for w in week):
        if not windows:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == windows:
            groups[-1] = (groups[-1][0], day, windows)
        else:
            groups.append((day, day, windows))
    if not groups:
        return ()
    pieces: list[str] = ["hours-intro"]
    for i, (first, last, windows) in enumerate(groups):
        if i:
            pieces.append("and" if i == len(groups) - 1 else ",")
        pieces.append(f"day-{WEEKDAYS[first]}")
        if last > first:
            pieces.extend(("to" if last > first + 1 else "and", f"day-{WEEKDAYS[last]}"))
        for j, (start, end) in enumerate(windows):
            if j:
                pieces.append("and")
            pieces.extend(("from-clock", *_clock(start), "to", *_clock(end)))
    return tuple(pieces)


def _next_opening(schedule: Schedule, decision: Decision) -> Sentence:
    if decision.next_open is None:
        return ("no-hours-planned",)
    today = wall(decision.instant, schedule.tz).date()
    opens = wall(decision.next_open, schedule.tz)
    return ("open-again", *_day(opens.date(), today), "at-clock", *_clock(opens.hour * 60 + opens.minute))


def _day(day: date, today: date) -> Sentence:
    if day == today:
        return ("today",)
    if day == today + timedelta(days=1):
        return ("tomorrow",)
    if day < today + timedelta(days=7):
        return (f"day-{WEEKDAYS[day.weekday()]}",)
    return (f"day-{WEEKDAYS[day.weekday()]}", "the", f"ordinal-{day.day}", f"month-{MONTHS[day.month - 1]}")


def _clock(minutes: int) -> Sentence:
    """'klokken 10' is said as 10; 10:30 as 10 and 30 ("ti tredive")."""
    hours, rest = divmod(minutes, 60)
    return (f"num-{hours}",) if rest == 0 else (f"num-{hours}", f"min-{rest:02d}")


def render(guidance: Guidance | Sequence[Sentence], texts: Mapping[str, str]) -> str:
    """The Danish text of the guidance: for logs, tests and the people who record the prompts."""
    sentences = guidance.sentences if isinstance(guidance, Guidance) else guidance
    out = []
    for sentence in sentences:
        words: list[str] = []
        for piece in sentence:
            if piece in (",", "."):
                words[-1] += piece
            elif piece.startswith("min-") and words:
                words[-1] += "." + texts[piece]  # 10.30
            else:
                words.append(texts[piece])
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + ".")
    return " ".join(out)
