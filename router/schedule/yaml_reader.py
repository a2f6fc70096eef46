"""Read a schedule from YAML, with errors that name the file, line, column and field.

We walk PyYAML's node tree instead of its constructed Python objects, for three
reasons: every node carries its position, so every error can point at it; we
see duplicate keys, which the constructor silently lets the last one win; and
scalars arrive as the text the operator typed, so `10:00` is not YAML 1.1's
sexagesimal 600 and `1818` is a line name, not an integer.

This module reads the schedule's structure (lines, hours, closures, openings, queues); the values in it
(times, dates, yes and no, sets of keys, lists) and ScheduleError are yaml_nodes.py's.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import yaml
from dateutil.rrule import rrule, rrulestr

from router.schedule.model import (
    DEFAULT_PLANNED_MAX_DAYS,
    MINUTES_PER_DAY,
    WEEKDAYS,
    WHOLE_DAY,
    CalendarFeed,
    Days,
    HolidayCalendar,
    Line,
    Occasion,
    QueueConfig,
    Recurrence,
    Span,
    Special,
    Strategy,
    TimeRange,
    Version,
)
from router.schedule.timeline import Schedule
from router.schedule.yaml_callbacks import CallbackReader
from router.schedule.yaml_nodes import DATE, FALSE, ScheduleError

DEFAULT_TIMEZONE = "Europe/Copenhagen"
MAX_SPAN_DAYS = 10 * 365  # a closure or opening longer than ten years is surely a mistake
# A recurrence that has not happened within this many years of its start is surely a mistake.
_RULE_LOOKAHEAD_YEARS = 30

_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")
_LINE_ID = re.compile(r"^[A-Za-z0-9_+-]+$")


_ENDPOINT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_-]{1,79}$")

_ADDRESS_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _address_problem(address: str) -> str | None:
    """Why `address` is not a deliverable plain address (RFC 5321's dot-atom form), or None."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "it has no @, or nothing before it"
    if not _ADDRESS_LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return f"{local!r} before the @ has a character an address cannot have"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return f"the domain {domain!r} is not a name like kommune.dk"
    if labels[-1].isdigit():
        return f"the domain {domain!r} ends in a number"
    return None


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule file. Raises ScheduleError, never anything else for bad input."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleError(filename, None, None, "", "no such file") from None
    except UnicodeDecodeError as e:
        raise ScheduleError(filename, None, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ScheduleError(filename, None, None, "", f"cannot read: {e.strerror}") from None
    return parse_schedule(text, filename)


def parse_schedule(text: str, filename: str = "<schedule>") -> Schedule:
    """Validate schedule YAML given as text."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = f"{e.context}, {e.problem}" if e.context and e.problem else (e.problem or e.context or "")
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ScheduleError(filename, line, column, "", f"not valid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise ScheduleError(filename, None, None, "", f"not valid YAML: {e}") from None
    finally:
        loader.dispose()
    if root is None:
        raise ScheduleError(filename, None, None, "", "the file is empty; it needs at least `lines:`")
    return _Reader(filename, loader).schedule(root)


@dataclass
class _Window:
    time: TimeRange
    node: yaml.Node
    path: str


class _Reader(CallbackReader):
    """The schedule's structure: lines, their hours, closures, openings, queues; the values in it are read
    by NodeReader."""

    # -- the document ------------------------------------------------------

    def schedule(self, root: yaml.Node) -> Schedule:
        top = self.mapping(root, "", required=("lines",), optional=("timezone", "closing_days"))
        timezone = DEFAULT_TIMEZONE
        if "timezone" in top:
            timezone = self.scalar(top["timezone"], "timezone")
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.fail(
                    top["timezone"], "timezone", f"unknown time zone {timezone!r}; expected e.g. Europe/Copenhagen"
                )
        closing_days = tuple(
            self.special(node, path, is_open=False, default_reason="closing_day")
            for node, path in self.items(top.get("closing_days"), "closing_days")
        )
        lines_node = top["lines"]
        entries = self.mapping(lines_node, "lines", open_keys=True)
        if not entries:
            self.fail(lines_node, "lines", 'no lines; expected at least one, e.g. `"1818":`')
        lines = {line_id: self.line(line_id, node) for line_id, node in entries.items()}
        return Schedule(timezone=timezone, lines=lines, closing_days=closing_days)

    def line(self, line_id: str, node: yaml.Node) -> Line:
        path = f"lines.{line_id}"
        if not _LINE_ID.match(line_id):
            self.fail(node, path, "a line's name is its number or a short name (letters, digits, _ + -)")
        fields = self.mapping(
            node,
            path,
            required=("versions",),
            optional=(
                "name",
                "public_holidays",
                "closing_days",
                "closures",
                "openings",
                "email",
                "self_service",
                "notify",
                "queue",
                "open_context",
                "planned_closure_max_days",
                "calendar",
                "callback",
            ),
        )
        if "queue" in fields and "open_context" in fields:
            self.fail(
                fields["open_context"], f"{path}.open_context", "a line has a `queue:` or an `open_context:`, not both"
            )
        open_to: QueueConfig | str | None = None
        if "queue" in fields:
            open_to = self.queue(fields["queue"], f"{path}.queue")
        elif "open_context" in fields:
            open_to = self.scalar(fields["open_context"], f"{path}.open_context")
            if not _CONTEXT.match(open_to):
                self.fail(fields["open_context"], f"{path}.open_context", f"{open_to!r} is not a dialplan context name")
        if isinstance(open_to, QueueConfig) and open_to.callback is not None and "callback" not in fields:
            queue_node = fields["queue"]
            assert isinstance(queue_node, yaml.MappingNode)
            self.fail(
                next(value for key, value in queue_node.value if key.value == "callback"),
                f"{path}.queue.callback",
                "the queue offers callbacks, but the line has no `callback:` (its dial target and caller id)",
            )
        versions = self.versions(fields["versions"], f"{path}.versions")
        specials = [
            self.special(n, p, is_open=False) for n, p in self.items(fields.get("closures"), f"{path}.closures")
        ] + [self.special(n, p, is_open=True) for n, p in self.items(fields.get("openings"), f"{path}.openings")]
        return Line(
            id=line_id,
            name=self.scalar(fields["name"], f"{path}.name") if "name" in fields else line_id,
            versions=versions,
            public_holidays=self.public_holidays(fields.get("public_holidays"), f"{path}.public_holidays"),
            closing_days=self.boolean(fields["closing_days"], f"{path}.closing_days")
            if "closing_days" in fields
            else True,
            specials=tuple(specials),
            email=self.scalar(fields["email"], f"{path}.email") if "email" in fields else None,
            self_service=self.scalar(fields["self_service"], f"{path}.self_service")
            if "self_service" in fields
            else None,
            notify=self.addresses(fields.get("notify"), f"{path}.notify"),
            open_to=open_to,
            planned_closure_max_days=self.max_days(fields.get("planned_closure_max_days"), path),
            calendar=self.calendar(fields["calendar"], f"{path}.calendar") if "calendar" in fields else None,
            callback=self.callback(fields["callback"], f"{path}.callback", line_id) if "callback" in fields else None,
        )

    def calendar(self, node: yaml.Node, path: str) -> CalendarFeed:
        """`calendar: {url: https://..., mark: telefon, reason: staff_shortage, every_minutes: 5}`."""
        fields = self.mapping(node, path, required=("url", "mark"), optional=("reason", "every_minutes"))
        url = self.scalar(fields["url"], f"{path}.url")
        if not re.match(r"^https?://[^\s/]+\S*$", url):
            self.fail(
                fields["url"], f"{path}.url", f"expected the calendar's address, http:// or https://; got {url!r}"
            )
        mark = self.scalar(fields["mark"], f"{path}.mark").strip()
        if not mark or len(mark) > 64:
            self.fail(fields["mark"], f"{path}.mark", "expected the category or word that marks an event for the phone")
        reason = "calendar"
        if "reason" in fields:
            reason = self.scalar(fields["reason"], f"{path}.reason")
            if not re.match(r"^[a-z][a-z0-9_]*$", reason):
                self.fail(
                    fields["reason"], f"{path}.reason", f"a reason is a token like staff_shortage; got {reason!r}"
                )
        every = 5
        if "every_minutes" in fields:
            text = self.scalar(fields["every_minutes"], f"{path}.every_minutes")
            if not text.isdigit() or not 1 <= int(text) <= 60:
                self.fail(fields["every_minutes"], f"{path}.every_minutes", f"expected 1 to 60 minutes; got {text!r}")
            every = int(text)
        return CalendarFeed(url, mark, reason, every)

    def max_days(self, node: yaml.Node | None, path: str) -> int:
        """How many days in a row the console and `callrouter closures` may close the line."""
        if node is None:
            return DEFAULT_PLANNED_MAX_DAYS
        text = self.scalar(node, f"{path}.planned_closure_max_days")
        if not text.isdigit() or not 1 <= int(text) <= 366:
            self.fail(
                node, f"{path}.planned_closure_max_days", f"expected a whole number of days from 1 to 366; got {text!r}"
            )
        return int(text)

    def addresses(self, node: yaml.Node | None, path: str) -> tuple[str, ...]:
        """E-mail addresses, one or a list. Only the plain form (name@domain.tld): a display name or a
        comment would be easy to get subtly wrong, and the staff's mailboxes need neither."""
        found: list[str] = []
        for item, item_path in self.items(node, path, allow_single=True):
            address = self.scalar(item, item_path)
            problem = _address_problem(address)
            if problem:
                self.fail(
                    item, item_path, f"{address!r} is not an e-mail address like opkraevning@kommune.dk: {problem}"
                )
            if address.lower() in (a.lower() for a in found):
                self.fail(item, item_path, f"{address!r} is listed twice")
            found.append(address)
        return tuple(found)

    def queue(self, node: yaml.Node, path: str) -> QueueConfig:
        fields = self.mapping(
            node,
            path,
            required=("agents",),
            optional=(
                "strategy",
                "ring_seconds",
                "retry_seconds",
                "max_wait_seconds",
                "announce_seconds",
                "after_close",
                "callback",
            ),
        )
        agents = []
        for item, item_path in self.items(fields["agents"], f"{path}.agents"):
            agent = self.scalar(item, item_path)
            if not _ENDPOINT.match(agent):
                self.fail(item, item_path, f"{agent!r} is not a PJSIP endpoint name (letters, digits, _ - .)")
            if agent in agents:
                self.fail(item, item_path, f"agent {agent!r} is listed twice")
            agents.append(agent)
        if not agents:
            self.fail(fields["agents"], f"{path}.agents", "no agents; list the PJSIP endpoints that take the calls")
        strategy = Strategy.RING_ALL
        if "strategy" in fields:
            strategy = Strategy(
                self.choice(fields["strategy"], f"{path}.strategy", [s.value for s in Strategy], "strategy")
            )
        after_close = "serve"
        if "after_close" in fields:
            after_close = self.scalar(fields["after_close"], f"{path}.after_close")
            if after_close not in ("serve", "answering_machine"):
                self.fail(fields["after_close"], f"{path}.after_close", "expected serve or answering_machine")

        def seconds(key: str, default: int, low: int, high: int) -> int:
            if key not in fields:
                return default
            text = self.scalar(fields[key], f"{path}.{key}")
            if not text.isdigit() or not low <= int(text) <= high:
                self.fail(
                    fields[key],
                    f"{path}.{key}",
                    f"expected a whole number of seconds from {low} to {high}; got {text!r}",
                )
            return int(text)

        return QueueConfig(
            agents=tuple(agents),
            strategy=strategy,
            ring_seconds=seconds("ring_seconds", 20, 5, 120),
            retry_seconds=seconds("retry_seconds", 5, 1, 60),
            max_wait_seconds=seconds("max_wait_seconds", 600, 30, 3600),
            announce_seconds=seconds("announce_seconds", 60, 0, 600),
            serve_after_close=after_close == "serve",
            callback=self.queue_callback(fields["callback"], f"{path}.callback") if "callback" in fields else None,
        )

    def versions(self, node: yaml.Node, path: str) -> tuple[Version, ...]:
        items = list(self.items(node, path))
        if not items:
            self.fail(node, path, "no versions; expected at least one with `valid_from:` and `hours:`")
        seen: dict[date, str] = {}
        versions = []
        for item, item_path in items:
            fields = self.mapping(item, item_path, required=("valid_from", "hours"))
            valid_from = self.date(fields["valid_from"], f"{item_path}.valid_from")
            if valid_from in seen:
                self.fail(
                    fields["valid_from"],
                    f"{item_path}.valid_from",
                    f"valid_from {valid_from} is already used by {seen[valid_from]}",
                )
            seen[valid_from] = item_path
            versions.append(Version(valid_from, self.hours(fields["hours"], f"{item_path}.hours")))
        return tuple(sorted(versions, key=lambda v: v.valid_from))

    def hours(self, node: yaml.Node, path: str) -> tuple[tuple[TimeRange, ...], ...]:
        week: list[list[_Window]] = [[] for _ in WEEKDAYS]
        fields = self.mapping(node, path, open_keys=True)
        key_nodes = {str(k.value): k for k, _ in node.value}
        for key, value in fields.items():
            days = self.weekdays(key, key_nodes[key], f"{path}.{key}")
            for window_node, window_path in self.items(value, f"{path}.{key}", allow_single=True):
                window = _Window(self.window(window_node, window_path), window_node, window_path)
                for day in days:
                    week[day].append(window)
        self.check_overlaps(week)
        return tuple(tuple(sorted((w.time for w in day), key=lambda t: t.start)) for day in week)

    def weekdays(self, key: str, node: yaml.Node, path: str) -> list[int]:
        names = [part.strip().lower() for part in key.split("-")]
        for name in names:
            if name not in WEEKDAYS:
                hint = self.did_you_mean(name, WEEKDAYS)
                self.fail(
                    node,
                    path,
                    f"unknown weekday {name!r}{hint}; expected one of {', '.join(WEEKDAYS)}, or a range like mon-wed",
                )
        if len(names) == 1:
            return [WEEKDAYS.index(names[0])]
        if len(names) != 2 or WEEKDAYS.index(names[0]) > WEEKDAYS.index(names[1]):
            self.fail(node, path, f"a range of weekdays runs forward within a week, like mon-wed; got {key!r}")
        return list(range(WEEKDAYS.index(names[0]), WEEKDAYS.index(names[1]) + 1))

    def window(self, node: yaml.Node, path: str) -> TimeRange:
        """A weekly window: "10:00-12:00", or {time: "22:00-02:00", overnight: yes}."""
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, path, required=("time",), optional=("overnight",))
            overnight = self.boolean(fields["overnight"], f"{path}.overnight") if "overnight" in fields else False
            return self.time_range(fields["time"], f"{path}.time", overnight=overnight)
        return self.time_range(node, path, overnight=False)

    def check_overlaps(self, week: list[list[_Window]]) -> None:
        for day, windows in enumerate(week):
            # Yesterday's overnight window continues into today after midnight.
            spill = [
                _Window(TimeRange(0, w.time.end - MINUTES_PER_DAY), w.node, w.path)
                for w in week[day - 1]
                if w.time.overnight
            ]
            ordered = sorted(spill + windows, key=lambda w: w.time.start)
            for before, after in itertools.pairwise(ordered):
                if after.time.start < before.time.end:
                    self.fail(
                        after.node,
                        after.path,
                        f"{WEEKDAYS[day]}: window {after.time} overlaps {before.time} ({before.path}); "
                        "windows of one day must not overlap",
                    )

    # -- closures, openings and closing days ----------------------------------

    def special(self, node: yaml.Node, path: str, *, is_open: bool, default_reason: str | None = None) -> Special:
        fields = self.mapping(
            node,
            path,
            required=() if default_reason else ("reason",),
            optional=("reason", "name", "date", "from", "to", "rule", "starts", "ends", "time"),
        )
        if "reason" in fields:
            reason = self.scalar(fields["reason"], f"{path}.reason")
            if not _TOKEN.match(reason):
                self.fail(
                    fields["reason"],
                    f"{path}.reason",
                    f"a reason is a short token of a-z, 0-9 and _, like staff_shortage; got {reason!r}",
                )
        else:
            assert default_reason is not None
            reason = default_reason
        name = self.scalar(fields["name"], f"{path}.name") if "name" in fields else None
        if default_reason and name is None:
            self.fail(node, path, "a closing day needs a `name:` (e.g. Juleaftensdag)")
        return Special(open=is_open, reason=reason, when=self.occasion(node, fields, path), name=name)

    def occasion(self, node: yaml.Node, fields: dict[str, yaml.Node], path: str) -> Occasion:
        shapes = [k for k in ("date", "from", "rule") if k in fields]
        if len(shapes) != 1:
            self.fail(node, path, "say when with exactly one of: `date:`, `from:` and `to:`, or `rule:`")
        time_range = self.time_range(fields["time"], f"{path}.time", overnight=False) if "time" in fields else WHOLE_DAY
        for key in ("starts", "ends"):
            if key in fields and shapes != ["rule"]:
                self.fail(fields[key], f"{path}.{key}", f"`{key}:` goes with `rule:`")
        if "to" in fields and shapes != ["from"]:
            self.fail(fields["to"], f"{path}.to", "`to:` goes with `from:`")
        if shapes == ["date"]:
            day = self.date(fields["date"], f"{path}.date")
            return Days(day, day, time_range)
        if shapes == ["rule"]:
            return self.recurrence(fields, path, time_range)
        if "to" not in fields:
            self.fail(node, path, "`from:` needs a `to:`")
        start_text = self.scalar(fields["from"], f"{path}.from")
        if DATE.match(start_text):
            first = self.date(fields["from"], f"{path}.from")
            last = self.date(fields["to"], f"{path}.to")
            if last < first:
                self.fail(fields["to"], f"{path}.to", f"{last} is before from: {first}")
            self.not_too_long(last - first, fields["to"], f"{path}.to")
            return Days(first, last, time_range)
        if "time" in fields:
            self.fail(
                fields["time"],
                f"{path}.time",
                "`time:` goes with dates; with `from:`/`to:` date and time, leave it out",
            )
        start = self.datetime(fields["from"], f"{path}.from")
        end = self.datetime(fields["to"], f"{path}.to")
        if end <= start:
            self.fail(fields["to"], f"{path}.to", f"{end:%Y-%m-%d %H:%M} is not after from: {start:%Y-%m-%d %H:%M}")
        self.not_too_long(end - start, fields["to"], f"{path}.to")
        return Span(start, end)

    def not_too_long(self, length: timedelta, node: yaml.Node, path: str) -> None:
        if length > timedelta(days=MAX_SPAN_DAYS):
            self.fail(
                node,
                path,
                f"this lasts more than {MAX_SPAN_DAYS // 365} years; for a line out of service, "
                "end its hours with a new version instead",
            )

    def recurrence(self, fields: dict[str, yaml.Node], path: str, time_range: TimeRange) -> Recurrence:
        node = fields["rule"]
        text = self.scalar(node, f"{path}.rule").strip()
        text = text.removeprefix("RRULE:")
        starts = self.date(fields["starts"], f"{path}.starts") if "starts" in fields else date(2000, 1, 1)
        if re.search(r"DTSTART|UNTIL|COUNT", text, re.IGNORECASE):
            self.fail(node, f"{path}.rule", "write the rule without DTSTART, UNTIL or COUNT; use `starts:` and `ends:`")
        if re.search(r"FREQ=(HOURLY|MINUTELY|SECONDLY)|BYHOUR|BYMINUTE|BYSECOND", text, re.IGNORECASE):
            self.fail(node, f"{path}.rule", "a rule picks days; put the time of day in `time:`")
        try:
            rule = rrulestr(text, dtstart=datetime.combine(starts, time()))
        except (ValueError, TypeError) as e:
            self.fail(node, f"{path}.rule", f"not a valid recurrence rule ({e}); expected e.g. FREQ=MONTHLY;BYDAY=1FR")
        assert isinstance(rule, rrule)
        if "ends" in fields:
            ends = self.date(fields["ends"], f"{path}.ends")
            if ends < starts:
                self.fail(fields["ends"], f"{path}.ends", f"{ends} is before starts: {starts}")
            rule = rule.replace(until=datetime.combine(ends, time()))
        horizon = datetime.combine(starts, time()) + timedelta(days=366 * _RULE_LOOKAHEAD_YEARS)
        if rule.between(datetime.combine(starts, time()), horizon, inc=True, count=1) == []:
            self.fail(node, f"{path}.rule", f"this rule gives no day between {starts} and {horizon:%Y}")
        return Recurrence(text=str(rule), rule=rule, time=time_range)

    def public_holidays(self, node: yaml.Node | None, path: str) -> HolidayCalendar | None:
        country_node: yaml.Node
        subdivision_node: yaml.Node
        language_node: yaml.Node
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node, path)
            if value.lower() in FALSE | {"none"}:
                return None
            country, subdivision, language = value, None, "da"
            country_node = subdivision_node = language_node = node
        else:
            fields = self.mapping(node, path, required=("country",), optional=("subdivision", "language"))
            country_node = fields["country"]
            subdivision_node = fields.get("subdivision", node)
            language_node = fields.get("language", node)
            country = self.scalar(country_node, f"{path}.country")
            subdivision = self.scalar(fields["subdivision"], f"{path}.subdivision") if "subdivision" in fields else None
            language = self.scalar(fields["language"], f"{path}.language") if "language" in fields else "da"
        supported = holidays_lib.list_supported_countries()
        if country not in supported:
            self.fail(country_node, path, f"unknown holiday country {country!r}; expected an ISO 3166 code such as DK")
        if subdivision is not None and subdivision not in supported[country]:
            self.fail(subdivision_node, f"{path}.subdivision", f"{country} has no subdivision {subdivision!r}")
        languages = holidays_lib.country_holidays(country).supported_languages
        if language not in languages:
            self.fail(
                language_node,
                f"{path}.language",
                f"holiday names for {country} come in {', '.join(languages)}; not {language!r}",
            )
        return HolidayCalendar(country, subdivision, language)
