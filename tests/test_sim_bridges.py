"""BRIDGEPEER and BRIDGEPVTCALLID on the simulated Asterisk, for SIP callers: what the differential
tier cannot check with its Local channels, as the SIP traces recorded from Asterisk 22 show it
(a caller bridged with an agent: each has the other's name and SIP Call-ID; hung up, neither)."""

from __future__ import annotations

from typing import Any

import pytest

from asterisk_sim.answers import AriFault
from asterisk_sim.world import World


def varsets(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["channel"]["name"], e["variable"], e["value"]) for e in events if e["type"] == "ChannelVarset"]


async def test_two_sip_callers_in_a_bridge_have_each_others_name_and_call_id() -> None:
    events: list[dict[str, Any]] = []
    world = World(lambda app, event: events.append(event))
    world.connected_apps.add("router")
    citizen = world.place_call("12345678", "1818", "router")
    agent = world.place_call("agent1", "1818", "router")
    world.create_bridge("talk", "mixing", "")
    events.clear()
    world.add_to_bridge("talk", [citizen.id, agent.id])
    peers = varsets(events)
    assert [(who, name) for who, name, _ in peers] == [
        (citizen.name, "BRIDGEPEER"),
        (citizen.name, "BRIDGEPVTCALLID"),
        (agent.name, "BRIDGEPEER"),
        (agent.name, "BRIDGEPVTCALLID"),
    ]
    assert peers[0][2] == agent.name
    assert peers[2][2] == citizen.name
    assert peers[1][2] != peers[3][2]
    assert all(len(value) == 16 for _, _, value in (peers[1], peers[3]))
    assert world.channel_variable(citizen.id, "BRIDGEPVTCALLID") == peers[1][2], "the agent's Call-ID"

    events.clear()
    world.caller_hangs_up(citizen.id)
    assert [e["type"] for e in events][:4] == [
        "ChannelHangupRequest",
        "ChannelVarset",
        "ChannelVarset",
        "ChannelLeftBridge",
    ]
    assert varsets(events) == [(citizen.name, "BRIDGEPEER", ""), (citizen.name, "BRIDGEPVTCALLID", "")]
    assert world.channel_variable(agent.id, "BRIDGEPEER") == citizen.name, "the one left keeps its peer"
    await world.close()


async def test_a_channel_moved_out_of_a_bridge_has_no_peer_variables_left() -> None:
    world = World(lambda app, event: None)
    world.connected_apps.add("router")
    first, second = world.place_call("1", "1818", "router"), world.place_call("2", "1818", "router")
    world.create_bridge("talk", "mixing", "")
    world.add_to_bridge("talk", [first.id, second.id])
    world.remove_from_bridge("talk", [first.id])
    for name in ("BRIDGEPEER", "BRIDGEPVTCALLID"):
        with pytest.raises(AriFault, match="Provided variable was not found"):
            world.channel_variable(first.id, name)
    await world.close()


async def test_music_on_hold_is_a_member_of_the_bridge_for_two_sip_callers() -> None:
    # Asterisk's own channel counts for BRIDGEPEER as a caller does (bridging.py): three members, so
    # each caller has the other two, and no Call-ID; when the music stops, two again.
    events: list[dict[str, Any]] = []
    world = World(lambda app, event: events.append(event))
    world.connected_apps.add("router")
    citizen, agent = world.place_call("12345678", "1818", "router"), world.place_call("agent1", "1818", "router")
    world.create_bridge("talk", "mixing", "")
    world.add_to_bridge("talk", [citizen.id, agent.id])
    world.start_bridge_moh("talk")
    music = world.bridges["talk"].own["moh"]
    assert music.startswith("Announcer/ARI_MOH-")
    assert music.endswith(";2")
    assert world.bridges["talk"].json()["channels"] == sorted([citizen.id, agent.id]), "never listed"
    assert world.bridges["talk"].json()["technology"] == "softmix"
    assert world.channel_variable(citizen.id, "BRIDGEPEER") == f"{music},{agent.name}"
    with pytest.raises(AriFault, match="Provided variable was not found"):
        world.channel_variable(citizen.id, "BRIDGEPVTCALLID")
    world.start_bridge_moh("talk")  # asked again: the same channel plays on
    assert world.bridges["talk"].own["moh"] == music
    events.clear()
    world.stop_bridge_moh("talk")
    assert world.channel_variable(citizen.id, "BRIDGEPEER") == agent.name
    assert len(world.channel_variable(citizen.id, "BRIDGEPVTCALLID")) == 16
    assert world.bridges["talk"].json()["technology"] == "simple_bridge"
    with pytest.raises(AriFault, match="Bridge isn't playing music") as no_music:
        world.stop_bridge_moh("talk")
    assert no_music.value.status == 409
    await world.close()


async def test_asterisks_own_channels_leave_with_the_last_caller() -> None:
    # LONELY: music on hold alone in a holding bridge stops, so stopping it then is a 409.
    world = World(lambda app, event: None)
    world.connected_apps.add("router")
    caller = world.place_call("12345678", "1818", "router")
    world.create_bridge("queue", "holding", "")
    world.add_to_bridge("queue", [caller.id])
    world.start_bridge_moh("queue")
    world.caller_hangs_up(caller.id)
    assert world.bridges["queue"].own == {}
    with pytest.raises(AriFault, match="Bridge isn't playing music"):
        world.stop_bridge_moh("queue")
    await world.close()
