"""What `GET/POST /channels/{id}/variable` reads and writes besides a channel's own variables: Asterisk's
built-in variables and some of its dialplan functions, as Asterisk 22 answered them for a channel in
Stasis (tests/test_sim_fidelity.py, `dialplan_functions_and_builtin_variables`).

Asterisk reads a name that ends in `)` as a function (main/pbx_functions.c): one it does not have, or
one that fails, is 500 "Unable to read provided function". Any other name is a variable: first the
built-in ones (main/pbx_variables.c: EXTEN, CONTEXT, PRIORITY, UNIQUEID, CHANNEL, HANGUPCAUSE, EPOCH),
then the channel's, then the dialplan's globals; none of those is 404. Writing a function Asterisk
does not have, or a field it does not know, does nothing and answers 204 all the same (it only logs).

Modelled: CALLERID (all, name, num and the fields a call from the harness leaves empty), CONNECTEDLINE,
CHANNEL (the fields below), GLOBAL, LEN, TOUPPER and TOLOWER. Every other function reads as one Asterisk
does not have; the README says so.
"""

from __future__ import annotations

import time

from asterisk_sim.answers import AriFault
from asterisk_sim.objects import Channel

UNREADABLE = "Unable to read provided function"
PRESENTATION = "allowed_not_screened"  # CALLERID(name-pres) and (num-pres) of a call the harness placed
PRESENTATION_CODE, PRESENTATION_TEXT = 0, "Presentation Allowed, Not Screened"  # ChannelCallerId's fields


def is_function(name: str) -> bool:
    return name.endswith(")")


def read_builtin(channel: Channel, name: str) -> str | None:
    """One of Asterisk's built-in variables for `channel`, or None if `name` is not one."""
    dialplan = channel.json()["dialplan"]
    values = {
        "EXTEN": str(dialplan["exten"]),
        "CONTEXT": str(dialplan["context"]),
        "PRIORITY": str(dialplan["priority"]),
        "UNIQUEID": channel.id,
        "CHANNEL": channel.name,
        "HANGUPCAUSE": "0",  # the channel is up: nothing has hung it up
        "EPOCH": str(int(time.time())),
    }
    return values.get(name)


def read_function(channel: Channel, name: str, globals_: dict[str, str]) -> str:
    """FUNCTION(argument) for `channel`, as Asterisk reads it; AriFault(500) where Asterisk cannot."""
    function, _, argument = name[:-1].partition("(")
    argument = argument.strip()
    if function == "CALLERID":
        return _caller_field(channel.caller, argument)
    if function == "CONNECTEDLINE":
        return _connected_field(channel.connected, argument)
    if function == "CHANNEL":
        return _channel_field(channel, argument)
    if function == "GLOBAL":
        return globals_.get(argument, "")
    if function == "LEN":
        return str(len(argument))
    if function == "TOUPPER":
        return argument.upper()
    if function == "TOLOWER":
        return argument.lower()
    raise AriFault(500, UNREADABLE)


def write_function(channel: Channel, name: str, value: str) -> bool:
    """Set FUNCTION(argument) on `channel`; True if its caller id changed (Asterisk then sends
    ChannelCallerId). A function or field not modelled is ignored, as Asterisk ignores one it lacks."""
    function, _, argument = name[:-1].partition("(")
    argument = argument.strip()
    if function == "CALLERID" and argument in ("name", "num", "number"):
        field = "name" if argument == "name" else "number"
        channel.caller = {**channel.caller, field: value}
        return True
    if function == "CHANNEL" and argument == "language":
        channel.language = value
    return False


def _caller_field(caller: dict[str, str], field: str) -> str:
    if not field:
        raise AriFault(500, UNREADABLE)  # CALLERID(): Asterisk needs a field
    name, number = caller.get("name", ""), caller.get("number", "")
    if field == "all":
        return _merged(name, number)
    if field == "name":
        return name
    if field in ("num", "number"):
        return number
    if field in ("name-pres", "num-pres", "pres"):
        return PRESENTATION
    return ""  # ani, dnid, rdnis, ... and a field Asterisk does not know (it logs, and reads nothing)


def _connected_field(connected: dict[str, str], field: str) -> str:
    if not field:
        raise AriFault(500, UNREADABLE)
    if field == "all":
        return _merged(connected.get("name", ""), connected.get("number", ""))
    return {"name": connected.get("name", ""), "num": connected.get("number", "")}.get(field, "")


def _merged(name: str, number: str) -> str:
    """A party's `all`, as main/callerid.c's ast_callerid_merge writes it."""
    return f'"{name}" <{number}>' if name and number else name or number


def _channel_field(channel: Channel, field: str) -> str:
    dialplan = channel.json()["dialplan"]
    values = {
        "name": channel.name,
        "uniqueid": channel.id,
        "linkedid": channel.id,  # a call's first channel is its own linked id
        "state": channel.state,
        "channeltype": channel.name.partition("/")[0],
        "language": channel.language,
        "musicclass": "",
        "accountcode": "",
        "peeraccount": "",
        "context": str(dialplan["context"]),
        "exten": str(dialplan["exten"]),
        "callgroup": "",
        "pickupgroup": "",
    }
    if field not in values:
        raise AriFault(500, UNREADABLE)  # func_channel.c fails a field it does not know
    return values[field]
