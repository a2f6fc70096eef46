"""The simulated Asterisk's built-in variables and dialplan functions (asterisk_sim/dialplan_functions.py),
for what the fidelity tier cannot show with its Local callers (`dialplan_functions_and_builtin_variables`
there compares the rest with a real Asterisk 22): a SIP caller without a name, a connected line."""

from __future__ import annotations

import pytest

from asterisk_sim.answers import AriFault
from asterisk_sim.dialplan_functions import read_builtin, read_function, write_function
from asterisk_sim.objects import Channel


def sip_caller(name: str = "", number: str = "12345678") -> Channel:
    return Channel(
        "call-1", "PJSIP/12345678-00000001", {"name": name, "number": number}, "from-citizens", "1818", False
    )


def test_callerid_all_is_merged_as_asterisk_merges_it() -> None:
    assert read_function(sip_caller("Borger"), "CALLERID(all)", {}) == '"Borger" <12345678>'
    assert read_function(sip_caller(), "CALLERID(all)", {}) == "12345678", "no name: the number alone"
    assert read_function(sip_caller("Borger", ""), "CALLERID(all)", {}) == "Borger"


def test_a_sip_callers_connected_line_is_empty_until_someone_answers() -> None:
    caller = sip_caller("Borger")
    assert read_function(caller, "CONNECTEDLINE(num)", {}) == ""
    caller.connected = {"name": "Agent", "number": "8959"}
    assert read_function(caller, "CONNECTEDLINE(all)", {}) == '"Agent" <8959>'


def test_what_asterisk_cannot_read_is_a_500_and_what_it_does_not_know_reads_empty() -> None:
    caller = sip_caller("Borger")
    for name in ("NOSUCHFUNC(x)", "CALLERID()", "CHANNEL(bogus)"):
        with pytest.raises(AriFault, match="Unable to read provided function") as refused:
            read_function(caller, name, {})
        assert refused.value.status == 500
    assert read_function(caller, "CALLERID(bogus)", {}) == ""
    assert read_function(caller, "CHANNEL(channeltype)", {}) == "PJSIP"
    assert read_function(caller, "GLOBAL(G)", {"G": "1"}) == "1"


def test_builtin_variables_come_from_the_channel() -> None:
    caller = sip_caller()
    assert read_builtin(caller, "EXTEN") == "1818"
    assert read_builtin(caller, "PRIORITY") == "2", "an inbound call is at Stasis(), its second priority"
    assert read_builtin(caller, "CHANNEL") == caller.name
    assert read_builtin(caller, "FID_NOT_BUILTIN") is None


def test_writing_the_caller_id_changes_the_caller_and_anything_unknown_changes_nothing() -> None:
    caller = sip_caller("Borger")
    assert write_function(caller, "CALLERID(num)", "87654321")
    assert caller.caller == {"name": "Borger", "number": "87654321"}
    before = (dict(caller.caller), caller.language, dict(caller.variables))
    for name in ("CALLERID(bogus)", "NOSUCHFUNC(x)", "LEN(x)"):
        assert not write_function(caller, name, "x")
    assert (caller.caller, caller.language, caller.variables) == before
    assert not write_function(caller, "CHANNEL(language)", "da")
    assert caller.language == "da"
