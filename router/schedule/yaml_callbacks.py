"""The schedule file's callbacks, read with located errors: a line's `callback:` (how a citizen is dialled:
the console's "Ring op" and the queue's callbacks) and a queue's `callback:` (when the queue offers to call
a waiting caller back, and how often it tries)."""

from __future__ import annotations

import re

import yaml

from router.schedule.model import DialOut, QueueCallback, WhenClosed
from router.schedule.yaml_nodes import NodeReader

# A callback's dial target: one channel (no `&`), no Dial() options (no `,`), the number once.
_DIAL_PART = r"[A-Za-z0-9_.@/+-]*"
_DIAL = re.compile(rf"(PJSIP|IAX2|DAHDI|Local)/{_DIAL_PART}\{{number\}}{_DIAL_PART}", re.ASCII)
RING_DEFAULTS = {"ring_seconds": 45, "staff_ring_seconds": 30}  # a callback's, as DialOut has them
_NUMBER = re.compile(r"\+?[0-9]{1,15}", re.ASCII)
KEYS = "023456789"


class CallbackReader(NodeReader):
    def callback(self, node: yaml.Node, path: str, line_id: str) -> DialOut:
        """`callback:` of a line: how the console's "Ring op" and the queue's callbacks dial the citizen."""
        fields = self.mapping(
            node, path, required=("dial",), optional=("caller_id", "ring_seconds", "staff_ring_seconds")
        )
        dial = self.scalar(fields["dial"], f"{path}.dial")
        if not _DIAL.fullmatch(dial) or dial.count("{number}") != 1:
            self.fail(
                fields["dial"],
                f"{path}.dial",
                f"{dial!r} is not a dial target like PJSIP/{{number}}@trunk or Local/{{number}}@outbound: "
                "PJSIP, IAX2, DAHDI or Local, then letters, digits and _ . @ / + -, with {number} once",
            )
        if dial.startswith("Local/") and "@" not in dial:
            self.fail(
                fields["dial"], f"{path}.dial", f"{dial!r}: a Local target names its context, Local/{{number}}@ctx"
            )
        caller_id = line_id
        if "caller_id" in fields:
            caller_id = self.scalar(fields["caller_id"], f"{path}.caller_id")
        if "caller_id" not in fields and not _NUMBER.fullmatch(caller_id):
            self.fail(
                node, path, f"the line's name {line_id!r} is no number: give the number citizens see, `caller_id:`"
            )
        if not _NUMBER.fullmatch(caller_id):
            self.fail(
                fields["caller_id"], f"{path}.caller_id", f"{caller_id!r} is not a phone number (digits, a leading +)"
            )
        ring = {key: self.whole(fields, path, key, default, 10, 120) for key, default in RING_DEFAULTS.items()}
        return DialOut(dial, caller_id, **ring)

    def queue_callback(self, node: yaml.Node, path: str) -> QueueCallback:
        """`callback:` of a queue: {offer_after_seconds, key, attempts, retry_minutes, when_closed}."""
        fields = self.mapping(
            node, path, optional=("offer_after_seconds", "key", "attempts", "retry_minutes", "when_closed")
        )
        defaults = QueueCallback()
        key = defaults.key
        if "key" in fields:
            key = self.scalar(fields["key"], f"{path}.key")
            if len(key) != 1 or key not in KEYS:  # one spoken as a digit; 1 confirms a number
                self.fail(fields["key"], f"{path}.key", f"expected one digit, 0 or 2 to 9 (1 confirms); got {key!r}")
        when = defaults.when_closed
        if "when_closed" in fields:
            when = WhenClosed(self.choice(fields["when_closed"], f"{path}.when_closed", [w.value for w in WhenClosed]))
        return QueueCallback(
            offer_after_seconds=self.whole(fields, path, "offer_after_seconds", defaults.offer_after_seconds, 0, 3600),
            key=key,
            attempts=self.whole(fields, path, "attempts", defaults.attempts, 1, 10, "attempts"),
            retry_minutes=self.whole(fields, path, "retry_minutes", defaults.retry_minutes, 1, 240, "minutes"),
            when_closed=when,
        )

    def choice(self, node: yaml.Node, path: str, choices: list[str], what: str = "value") -> str:
        """One of `choices`, or a located error that suggests the nearest."""
        text = self.scalar(node, path)
        if text not in choices:
            self.fail(
                node, path, f"unknown {what} {text!r}{self.did_you_mean(text, choices)}; expected {', '.join(choices)}"
            )
        return text

    def whole(
        self, fields: dict[str, yaml.Node], path: str, key: str, default: int, low: int, high: int, unit: str = "s"
    ) -> int:
        unit = "seconds" if unit == "s" else unit
        if key not in fields:
            return default
        text = self.scalar(fields[key], f"{path}.{key}")
        if not text.isdigit() or not low <= int(text) <= high:
            expected = f"expected a whole number of {unit} from {low} to {high}"
            self.fail(fields[key], f"{path}.{key}", f"{expected}; got {text!r}")
        return int(text)
