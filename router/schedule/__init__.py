"""When a line is open: the schedule's model, `decide()`, local time, and the operator's YAML file.

The pure part (model, timeline, localtime) reads no clock and touches no file; `yaml_reader` reads
the operator's file, `ics` writes phone hours as iCalendar, and `reload` keeps the schedule in
service up to date while the router runs (it is the one module here that uses asyncio, and it is
not imported by this package's top).
"""

from router.schedule.model import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    WHOLE_DAY,
    DayPlan,
    Days,
    Decision,
    DialOut,
    HolidayCalendar,
    Line,
    Occasion,
    Override,
    QueueCallback,
    QueueConfig,
    Reason,
    Recurrence,
    Segment,
    Span,
    Special,
    Strategy,
    TimeRange,
    UnknownLineError,
    Version,
    WhenClosed,
    clock,
)
from router.schedule.timeline import HORIZON_DAYS, Schedule, day_plan, decide
from router.schedule.yaml_nodes import FIRST_YEAR, LAST_YEAR, ScheduleError
from router.schedule.yaml_reader import load_schedule, parse_schedule

__all__ = [
    "FIRST_YEAR",
    "HORIZON_DAYS",
    "LAST_YEAR",
    "MINUTES_PER_DAY",
    "WEEKDAYS",
    "WHOLE_DAY",
    "DayPlan",
    "Days",
    "Decision",
    "DialOut",
    "HolidayCalendar",
    "Line",
    "Occasion",
    "Override",
    "QueueCallback",
    "QueueConfig",
    "Reason",
    "Recurrence",
    "Schedule",
    "ScheduleError",
    "Segment",
    "Span",
    "Special",
    "Strategy",
    "TimeRange",
    "UnknownLineError",
    "Version",
    "WhenClosed",
    "clock",
    "day_plan",
    "decide",
    "load_schedule",
    "parse_schedule",
]
