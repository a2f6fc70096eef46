"""The values an operator types into a schedule file, read from PyYAML's nodes: times, time ranges,
dates, yes and no, single values, sets of keys and lists, each with an error that names the file, line,
column and field (ScheduleError). The schedule's own structure is read on top of this (yaml_reader.py).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import NoReturn

import yaml

from router.schedule.model import MINUTES_PER_DAY, TimeRange

# The calendar a schedule may speak of; far-off dates are typing mistakes (and near year 9999 the
# date arithmetic of the standard library runs out).
FIRST_YEAR, LAST_YEAR = 1900, 2999
Day = date  # inside NodeReader, `date` names a method

_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_TIME_RANGE = re.compile(r"^\s*(\S+)\s*-\s*(\S+)\s*$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{1,2}[:.]\d{2})$")
TRUE = {"yes", "true", "on"}
FALSE = {"no", "false", "off"}


class ScheduleError(Exception):
    """A schedule file that cannot be used; says where and what was expected."""

    def __init__(self, filename: str, line: int | None, column: int | None, path: str, message: str) -> None:
        self.filename, self.line, self.column, self.path, self.message = filename, line, column, path, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class NodeReader:
    def __init__(self, filename: str, loader: yaml.SafeLoader) -> None:
        self.filename = filename
        self.loader = loader

    # -- scalars --------------------------------------------------------------

    def time_range(self, node: yaml.Node, path: str, *, overnight: bool) -> TimeRange:
        text = self.scalar(node, path)
        match = _TIME_RANGE.match(text)
        if not match:
            self.fail(node, path, f"expected a time range like 10:00-12:00; got {text!r}")
        start = self.minutes(match.group(1), node, path, allow_end_of_day=False)
        end = self.minutes(match.group(2), node, path, allow_end_of_day=True)
        if overnight:
            if end >= start:
                self.fail(node, path, f"an overnight window ends after midnight, before it starts; {text!r} does not")
            end += MINUTES_PER_DAY
        elif end <= start:
            self.fail(
                node,
                path,
                f"end {match.group(2)} is not after start {match.group(1)}; "
                f"for a window past midnight write {{time: {text}, overnight: yes}}",
            )
        return TimeRange(start, end)

    def minutes(self, text: str, node: yaml.Node, path: str, *, allow_end_of_day: bool) -> int:
        match = _TIME.match(text)
        if match:
            hours, minutes = int(match.group(1)), int(match.group(2))
            if minutes < 60 and (hours < 24 or (allow_end_of_day and hours == 24 and minutes == 0)):
                return hours * 60 + minutes
        latest = "24:00" if allow_end_of_day else "23:59"
        self.fail(node, path, f"bad time {text!r}; expected HH:MM from 00:00 to {latest}")

    def date(self, node: yaml.Node, path: str) -> date:
        text = self.scalar(node, path)
        try:
            if DATE.match(text):
                return self.in_years(date.fromisoformat(text), node, path)
        except ValueError:
            pass
        self.fail(node, path, f"expected a date like 2024-01-01; got {text!r}")

    def in_years(self, day: Day, node: yaml.Node, path: str) -> Day:
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.fail(node, path, f"{day} is outside the years {FIRST_YEAR} to {LAST_YEAR} that a schedule covers")
        return day

    def datetime(self, node: yaml.Node, path: str) -> datetime:
        text = self.scalar(node, path)
        match = _DATETIME.match(text)
        if match:
            minute = self.minutes(match.group(2), node, path, allow_end_of_day=False)
            try:
                day = self.in_years(date.fromisoformat(match.group(1)), node, path)
                return datetime.combine(day, time(minute // 60, minute % 60))
            except ValueError:
                pass
        self.fail(node, path, f"expected a date and time like 2024-03-14 10:00; got {text!r}")

    def boolean(self, node: yaml.Node, path: str) -> bool:
        text = self.scalar(node, path).lower()
        if text in TRUE | FALSE:
            return text in TRUE
        self.fail(node, path, f"expected yes or no; got {text!r}")

    def scalar(self, node: yaml.Node, path: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"expected a single value, got a {_kind(node)}")
        value = str(node.value)
        if value == "" or node.tag == "tag:yaml.org,2002:null":
            self.fail(node, path, "a value is missing here")
        return value

    # -- structure ------------------------------------------------------------

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        open_keys: bool = False,
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, f"expected keys and values, got a {_kind(node)}")
        try:
            self.loader.flatten_mapping(node)  # applies `<<:` merges
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or node.start_mark
            raise ScheduleError(
                self.filename, mark.line + 1, mark.column + 1, path or "(top)", f"bad merge (<<): {e.problem}"
            ) from None
        required, optional = tuple(required), tuple(optional)
        allowed = required + optional
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path or "(top)")
            key_path = f"{path}.{key}" if path else key
            if key in fields:
                self.fail(key_node, key_path, f"{key!r} appears twice; only one may stay")
            if not open_keys and key not in allowed:
                hint = self.did_you_mean(key, allowed)
                self.fail(key_node, key_path, f"unknown key {key!r}{hint}; expected {', '.join(allowed)}")
            fields[key] = value_node
        for key in required:
            if key not in fields:
                self.fail(node, path or "(top)", f"missing `{key}:`")
        return fields

    def items(self, node: yaml.Node | None, path: str, *, allow_single: bool = False) -> list[tuple[yaml.Node, str]]:
        if node is None:
            return []
        if isinstance(node, yaml.SequenceNode):
            return [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if allow_single:
            return [(node, f"{path}[0]")]
        self.fail(node, path, f"expected a list (lines starting with '- '), got a {_kind(node)}")

    def did_you_mean(self, word: str, choices: Iterable[str]) -> str:
        close = difflib.get_close_matches(word, list(choices), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def fail(self, node: yaml.Node, path: str, message: str) -> NoReturn:
        mark = node.start_mark
        raise ScheduleError(self.filename, mark.line + 1, mark.column + 1, path, message)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "set of keys"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"single value {node.value!r}"
