"""Device states, as Asterisk 22 keeps them for ARI (res/res_stasis_device_state.c, main/devicestate.c).

Two kinds of device answer GET /deviceStates/{name}:
- the application's own, named `Stasis:<name>` (the scheme in any case): ARI sets and deletes them,
  Asterisk keeps them in its database (astdb), and only they are listed by GET /deviceStates, each
  under the canonical `Stasis:` spelling. One never set, or deleted, is UNKNOWN;
- every other name is a device of a channel technology (`PJSIP/agent1`, `Local/1818@ctx`), whose
  state its driver reports. The simulator knows its own endpoints (World.endpoints) and its dialplan's
  contexts; any other device, and any name that is not `TECH/resource`, is INVALID.

Setting or deleting anything but a `Stasis:` device is 409 "Uncontrolled device specified".
Setting one to a new state sends DeviceStateChanged to the applications subscribed to it
(`deviceState:<name>`) or to all devices (`deviceState:`); the same state again sends nothing (Asterisk's
cache sees no change), nor does deleting one.
"""

from __future__ import annotations

from collections.abc import Callable

from asterisk_sim.answers import AriFault, Json

SCHEME = "Stasis:"
ALL_DEVICES = "__AST_DEVICE_STATE_ALL_TOPIC"  # how a subscription to every device (`deviceState:`) is listed
# ast_devstate_val's names (case-insensitive): UNKNOWN is not among them, it is what a bad value reads as.
STATES = ("NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD")


def is_controlled(name: str) -> bool:
    return name[: len(SCHEME)].lower() == SCHEME.lower()


class DeviceStates:
    """The `Stasis:` devices an application set (by the name after the scheme), in the order first set."""

    def __init__(self) -> None:
        self.controlled: dict[str, str] = {}

    def state(self, name: str, driver_state: Callable[[str, str], str]) -> Json:
        """GET /deviceStates/{name}: the name as asked, and its state."""
        if is_controlled(name):
            return {"name": name, "state": self.controlled.get(name[len(SCHEME) :], "UNKNOWN")}
        technology, slash, resource = name.partition("/")
        state = driver_state(technology, resource) if slash and resource else "INVALID"
        return {"name": name, "state": state}

    def listed(self) -> list[Json]:
        return [{"name": SCHEME + device, "state": state} for device, state in self.controlled.items()]

    def update(self, name: str, value: str | None) -> tuple[str, str] | None:
        """PUT: the device's canonical name and its new state, for DeviceStateChanged; None if unchanged."""
        device = self._own(name)
        state = (value or "").upper()
        if state not in STATES:
            raise AriFault(500, "Unknown device")
        before = self.controlled.get(device)
        self.controlled[device] = state
        return None if state == before else (SCHEME + device, state)

    def delete(self, name: str) -> None:
        self.controlled.pop(self._own(name), None)  # one never set is deleted all the same

    @staticmethod
    def _own(name: str) -> str:
        if not is_controlled(name):
            raise AriFault(409, "Uncontrolled device specified")
        device = name[len(SCHEME) :]
        if not device:
            raise AriFault(404, "Device name is missing")
        return device
