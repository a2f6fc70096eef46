"""The metric and label names a PromQL expression uses, for checking a site's rules and dashboard against
what the router exports. Not a PromQL parser: a tokenizer that knows where names stand.

    metric names   identifiers outside {...} matchers, [...] ranges and label lists, that are not a
                   function or aggregation being called, nor a keyword
    label names    the left side of each matcher in {...}, and the names in by/without/on/ignoring/
                   group_left/group_right (...) lists

String literals go first (a label value may hold anything, braces included), then Grafana's variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")  # not inside 1h30m or 1e3
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "by", "without", "on", "ignoring"}
_KEYWORDS |= {"group_left", "group_right"}  # these may stand without a list


@dataclass(frozen=True)
class Names:
    metrics: frozenset[str]
    labels: frozenset[str]


def names(expr: str) -> Names:
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("", text)
    labels: set[str] = set()
    for matchers in _MATCHERS.findall(text):
        labels |= {m.group(1) for m in re.finditer(r"(\w+)\s*(?:=~|!~|!=|=)", matchers)}
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for _, listed in _LABEL_LIST.findall(text):
        labels |= {name.strip() for name in listed.split(",") if name.strip()}
    text = _LABEL_LIST.sub(" ", text)
    metrics = set()
    for m in _IDENTIFIER.finditer(text):
        name, called = m.group(1), m.group(2)
        if called or name in _KEYWORDS:
            continue
        metrics.add(name)
    return Names(frozenset(metrics), frozenset(labels))
