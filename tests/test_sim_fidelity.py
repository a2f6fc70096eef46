"""The differential tier: each scenario run on the simulated Asterisk and on the real Asterisk 22,
their transcripts compared (tests/fidelity.py). A difference fails the scenario unless
tests/sim_known_differences.txt lists it with its reason. The real Asterisk is the oracle: no
expectation here is written by hand; the real transcript is the expectation.

At the end of the run, `simulator fidelity: N/M`: the scenarios whose transcripts are the same, of
those run on both (tests/conftest.py prints it).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fidelity import Transcript
from tests.fidelity_parameters import generated_scenarios
from tests.sip_callers import SipCaller, agent_phone, busy_now, sip_caller
from tests.test_ari_contract import Backend, SimBackend, backend  # noqa: F401  (the fixture)

KNOWN = Path(__file__).with_name("sim_known_differences.txt")
DUMP = "CALLROUTER_FIDELITY_DUMP"  # a directory: each transcript is written there
Scenario = Callable[[Transcript, Backend], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}
RESULTS: dict[str, bool] = {}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


# -- the scenarios -----------------------------------------------------------------------------


@scenario
async def unknown_resources(t: Transcript, b: Backend) -> None:
    await t.request("GET", "/channels/no-such-channel")
    await t.request("POST", "/channels/no-such-channel/answer")
    await t.request("DELETE", "/channels/no-such-channel")
    await t.request("GET", "/bridges/no-such-bridge")
    await t.request("DELETE", "/bridges/no-such-bridge")
    await t.request("GET", "/playbacks/no-such-playback")
    await t.request("GET", "/recordings/stored/no-such-recording")
    await t.request("GET", "/recordings/live/no-such-recording")
    await t.request("GET", "/applications/no-such-application")
    await t.request("GET", "/no-such-resource")


LOCAL_AGENT = "Local/answer@agents"  # the real tier's dialplan answers it at once; the simulator is told so
LONG = "sound:tt-monkeys"  # one of Asterisk's core sounds, 16 s: it plays until stopped


def long_sounds(b: Backend) -> None:
    """The harness's setup, not an expectation: the simulator plays LONG long enough to be stopped (the
    real one lasts 16 s); other sounds play as briefly as the fixture has them."""
    if isinstance(b, SimBackend):
        b.sim.world.sounds.add("tt-monkeys", seconds=5.0)


async def answered_caller(t: Transcript, b: Backend) -> str:
    """A scenario's opening: a caller calls and is answered (each request written as any other)."""
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/answer")
    return call


async def answered_in_a_bridge(t: Transcript, b: Backend, bridge_id: str, kind: str) -> str:
    """A scenario's opening: a caller, answered, put into a new bridge (each request written as any)."""
    call = await answered_caller(t, b)
    await t.request("POST", "/bridges", bridgeId=bridge_id, type=kind)
    await t.request("POST", f"/bridges/{bridge_id}/addChannel", channel=call)
    return call


@scenario
async def answer_play_stop_and_hang_up_with_a_reason(t: Transcript, b: Backend) -> None:
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-play-1", media=LONG)
    await t.request("GET", "/playbacks/fid-play-1")
    await t.request("DELETE", "/playbacks/fid-play-1")
    await t.request("GET", "/playbacks/fid-play-1")
    await t.request("DELETE", f"/channels/{call}", reason="busy")


@scenario
async def the_caller_talks_where_the_application_detects_it(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/variable", variable="TALK_DETECT(set)", value="1000")
    await b.caller_talks(call, 1.0)
    await t.until_event("ChannelTalkingFinished", within=5)
    await t.request("POST", f"/channels/{call}/variable", variable="TALK_DETECT(remove)")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_local_callers_hold_is_no_event(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await b.caller_holds(call, True)
    await t.settle()
    await b.caller_holds(call, False)
    await t.settle()
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def hung_up_during_a_playback(t: Transcript, b: Backend) -> None:
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-play-2", media=f"{LONG},sound:beep")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_missing_sound_in_a_list_is_skipped(t: Transcript, b: Backend) -> None:
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-play-3", media=f"sound:no-such-sound,{LONG}")
    await t.request("DELETE", "/playbacks/fid-play-3")
    await t.request("POST", f"/channels/{call}/play/fid-play-4", media="sound:no-such-sound")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_bridge_deleted_after_its_caller_left(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", "/bridges", bridgeId="fid-bridge-3", type="holding")
    await t.request("POST", "/bridges/fid-bridge-3/addChannel", channel=call)
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-bridge-3")


@scenario
async def an_empty_bridge_deleted(t: Transcript, b: Backend) -> None:
    await t.request("POST", "/bridges", bridgeId="fid-bridge-2", type="holding", name="queue")
    await t.request("POST", "/bridges/fid-bridge-2", type="mixing")
    await t.request("GET", "/bridges/fid-bridge-2")
    await t.request("DELETE", "/bridges/fid-bridge-2")
    await t.request("GET", "/bridges/fid-bridge-2")


@scenario
async def hangup_reasons_are_checked(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("DELETE", f"/channels/{call}", reason="not-a-reason")
    await t.request("DELETE", f"/channels/{call}", reason_code="17")


@scenario
async def continue_into_a_context_that_does_not_exist(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/continue", context="no-such-context", extension="s", priority=1)
    await t.request("GET", f"/channels/{call}")


@scenario
async def a_bridge_deleted_with_a_channel_in_it(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", "/bridges/fid-bridge-1", type="mixing")
    await t.request("POST", "/bridges/fid-bridge-1/addChannel", channel=call)
    await t.request("DELETE", "/bridges/fid-bridge-1")
    await t.request("GET", f"/channels/{call}")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def bad_parameters(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/play")
    await t.request("POST", "/bridges", type="not-a-type")
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-1", format="not-a-format")
    await t.request("POST", f"/channels/{call}/continue", priority="first")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def channel_and_global_variables(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("GET", f"/channels/{call}/variable", variable="CALLERID(num)")
    await t.request("GET", f"/channels/{call}/variable", variable="FID_NOT_SET")
    await t.request("GET", f"/channels/{call}/variable")
    await t.request("POST", f"/channels/{call}/variable", variable="FID_SET", value="ja tak")
    await t.request("GET", f"/channels/{call}/variable", variable="FID_SET")
    await t.request("GET", "/channels/no-such-channel/variable", variable="FID_SET")
    await t.request("POST", "/asterisk/variable", variable="FID_GLOBAL", value="1")
    await t.request("GET", "/asterisk/variable", variable="FID_GLOBAL")
    await t.request("GET", "/asterisk/variable", variable="FID_GLOBAL_NOT_SET")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def applications(t: Transcript, b: Backend) -> None:
    # Not GET /applications/router: the real tier's Asterisk is shared by the whole run, and the bridges
    # earlier tests left there are in the answer. The error paths are this scenario's own.
    await t.request("GET", "/applications/no-such-application")
    await t.request("POST", "/applications/no-such-application/subscription", eventSource="bridge:x")
    await t.request("POST", "/applications/router/subscription", eventSource="endpoint:PJSIP/no-such-endpoint")
    await t.request("POST", "/applications/router/subscription", eventSource="nonsense")
    await t.request("POST", "/applications/router/subscription")


@scenario
async def dtmf_sent_to_the_caller(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/dtmf", dtmf="1#")
    await t.request("POST", f"/channels/{call}/answer")
    await t.request("POST", f"/channels/{call}/dtmf", dtmf="1#", duration=100)
    await t.request("POST", f"/channels/{call}/dtmf")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_media_scheme_asterisk_does_not_know(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-play-5", media="nosuch:thing")
    await t.request("GET", "/playbacks/fid-play-5")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_recording_stopped_kept_and_deleted(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-2", format="wav", beep=False, settle=False)
    await t.until_event("RecordingStarted")  # it answers the channel first
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-2", format="wav", beep=False)
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-2", format="wav")
    await t.request("GET", "/recordings/live/fid-rec-2")
    await t.request("POST", "/recordings/live/fid-rec-2/stop")
    await t.request("GET", "/recordings/stored/fid-rec-2")
    await t.request("DELETE", "/recordings/stored/fid-rec-2")
    await t.request("GET", "/recordings/stored/fid-rec-2")
    await t.request("DELETE", "/recordings/stored/fid-rec-2")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def playback_control(t: Transcript, b: Backend) -> None:
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-play-6", media=LONG)
    for operation in ("pause", "pause", "unpause", "forward", "reverse", "restart", "sideways"):
        await t.request("POST", "/playbacks/fid-play-6/control", operation=operation)
    await t.request("POST", "/playbacks/fid-play-6/control")
    await t.request("POST", "/playbacks/no-such-playback/control", operation="pause")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def event_filters(t: Transcript, b: Backend) -> None:
    # The application's own answer lists the channels and bridges earlier tests left on the shared real
    # Asterisk: only the filter's two lists are compared. The filter is the application's until it is
    # gone, so the scenario ends by clearing it, whatever happened.
    app, kept = b.config.app, ("events_allowed", "events_disallowed")
    filter_path = f"/applications/{app}/eventFilter"
    try:
        await t.request("PUT", "/applications/no-such-application/eventFilter", body="{}")
        await t.request("PUT", filter_path, body='{"disallowed": [{"type": "PlaybackContinuing"}]}', fields=kept)
        call = await b.call()
        await t.settle()
        await t.request("POST", f"/channels/{call}/answer")
        await t.request("POST", f"/channels/{call}/play/fid-play-7", media="sound:beep,sound:beep", settle=False)
        await t.until_event("PlaybackFinished")
        only = '{"allowed": [{"type": "StasisEnd"}, {"type": "PlaybackContinuing", "why": "kept as given"}]}'
        await t.request("PUT", filter_path, body=only, fields=kept)  # the disallowed list stays
        await t.request("PUT", filter_path, body='{"allowed": "StasisEnd"}', fields=kept)
        await t.request("PUT", filter_path, body='{"disallowed": [], "allowed": [{"kind": "x"}]}', fields=kept)
        await t.request("PUT", filter_path, body='["not", "objects"]', fields=kept)
        await t.request("PUT", filter_path, body='"a string"', fields=kept)
        await t.request("PUT", filter_path, body="{not json", fields=kept)
        await t.request("PUT", filter_path, body='{"allowed": [{"type": "StasisEnd"}]}', fields=kept)
        await t.request("DELETE", f"/channels/{call}")  # only its StasisEnd comes
    finally:
        await t.request("PUT", filter_path, body="{}", fields=kept)


FRESH = ("name", "channel_ids", "bridge_ids", "endpoint_ids", "device_names", "events_allowed", "events_disallowed")


@scenario
async def applications_on_their_own_websockets(t: Transcript, b: Backend) -> None:
    # Applications of this scenario's own (fid-*), on WebSockets of its own beside the backend's.
    both = await t.open_events("both", "app=fid-a, fid-b")  # names are trimmed
    await t.request("GET", "/applications/fid-a", fields=FRESH)
    await t.request("GET", "/applications/fid-b", fields=FRESH)
    only_b = await t.open_events("only-b", "app=fid-b")  # takes fid-b over from the first
    if both is None or only_b is None:
        return  # refused: the transcript says so, and the other side's shows what it should have been
    await t.frames(both)
    await t.request("POST", "/applications/fid-a/subscription", eventSource="channel:no-such-channel")
    await t.close_events(only_b)
    await t.request("GET", "/applications/fid-b")
    await t.request("GET", "/applications/fid-a", fields=FRESH)
    await t.close_events(both)
    await t.request("GET", "/applications/fid-a")
    await t.request("GET", "/events", app="fid-x")  # not a WebSocket upgrade
    await t.request("POST", "/events", app="fid-x")
    await t.open_events("none", "")
    await t.open_events("empty", "app=")
    await t.open_events("a-gap", "app=fid-c,,fid-d")
    await t.request("GET", "/applications/fid-c")
    await t.open_events("too-long", "app=" + "x" * 74)
    every = await t.open_events("all", "app=fid-e&subscribeAll=true")
    if every is not None:
        await t.request("GET", "/applications/fid-e", fields=("name", "events_allowed", "events_disallowed"))
        await t.close_events(every)


SUBSCRIBED = ("channel_ids", "device_names")  # of the router's application: what a subscription changed


@scenario
async def device_states(t: Transcript, b: Backend) -> None:
    app, desk = b.config.app, "Stasis:fid-desk"
    try:
        await t.request("GET", f"/deviceStates/{desk}")
        await t.request(
            "POST", f"/applications/{app}/subscription", eventSource=f"deviceState:{desk}", fields=SUBSCRIBED
        )
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="BUSY")
        await t.request("GET", f"/deviceStates/{desk}")
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="BUSY")  # the same again
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="ringinuse")  # any case
        await t.request("GET", "/deviceStates/STASIS:fid-desk")
        await t.request("PUT", "/deviceStates/stasis:fid-phone", deviceState="ONHOLD")  # so is the scheme
        await t.request("GET", "/deviceStates")
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="UNKNOWN")
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="nonsense")
        await t.request("PUT", f"/deviceStates/{desk}")
        await t.request("PUT", "/deviceStates/Stasis:", deviceState="BUSY")
        await t.request("PUT", "/deviceStates/PJSIP:fid-desk", deviceState="BUSY")
        await t.request("GET", "/deviceStates/PJSIP:fid-desk")
        await t.request("DELETE", f"/deviceStates/{desk}")
        await t.request("GET", f"/deviceStates/{desk}")
        await t.request("DELETE", f"/deviceStates/{desk}")
        await t.request("DELETE", "/deviceStates/Stasis:")
        await t.request("DELETE", "/deviceStates/PJSIP:fid-desk")
        await t.request(
            "DELETE", f"/applications/{app}/subscription", eventSource=f"deviceState:{desk}", fields=SUBSCRIBED
        )
        await t.request("DELETE", f"/applications/{app}/subscription", eventSource=f"deviceState:{desk}")
        await t.request("PUT", f"/deviceStates/{desk}", deviceState="BUSY")  # no longer told
        await t.request("POST", f"/applications/{app}/subscription", eventSource="deviceState:", fields=SUBSCRIBED)
        await t.request("PUT", "/deviceStates/Stasis:fid-phone", deviceState="INUSE")  # told: all devices
        await t.request("DELETE", f"/applications/{app}/subscription", eventSource="deviceState:", fields=SUBSCRIBED)
        await t.request("GET", "/deviceStates/PJSIP%2Ffid-nobody")
        await t.request("GET", "/deviceStates/Foo:bar")
        await t.request("GET", "/deviceStates/no-technology")
    finally:
        for device in (desk, "Stasis:fid-phone"):
            await t.request("DELETE", f"/deviceStates/{device}", settle=False)


@scenario
async def subscriptions_taken_back(t: Transcript, b: Backend) -> None:
    app = b.config.app
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/applications/{app}/subscription", eventSource=f"channel:{call}", fields=SUBSCRIBED)
    await t.request("DELETE", f"/applications/{app}/subscription", eventSource=f"channel:{call}", fields=SUBSCRIBED)
    await t.request("DELETE", f"/applications/{app}/subscription", eventSource=f"channel:{call}", fields=SUBSCRIBED)
    await t.request("DELETE", f"/applications/{app}/subscription", eventSource="channel:no-such-channel")
    await t.request("DELETE", f"/applications/{app}/subscription", eventSource="bridge:no-such-bridge")
    await t.request("DELETE", f"/applications/{app}/subscription", eventSource="nonsense:x")
    await t.request("DELETE", f"/applications/{app}/subscription")
    await t.request("DELETE", "/applications/no-such-application/subscription", eventSource=f"channel:{call}")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def user_events(t: Transcript, b: Backend) -> None:
    app = b.config.app
    call = await b.call()
    await t.settle()
    await t.request("POST", "/events/user/fid-plain", application=app)
    await t.request("POST", "/events/user/fid-on-a-call", application=app, source=f"channel:{call}")
    await t.request("POST", "/events/user/fid-body", application=app, body='{"variables": {"case": "42", "n": 1}}')
    await t.request("POST", "/events/user/fid-bad-body", application=app, body='{"variables": "not an object"}')
    await t.request("POST", "/events/user/fid-none")
    await t.request("POST", "/events/user/fid-none", application="no-such-application")
    await t.request("POST", "/events/user/fid-none", application=app, source="channel:no-such-channel")
    await t.request("POST", "/events/user/fid-none", application=app, source="nonsense:x")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def asterisk_info(t: Transcript, b: Backend) -> None:
    await t.request("GET", "/asterisk/info")
    await t.request("GET", "/asterisk/info", only="system")
    await t.request("GET", "/asterisk/info", only="build,status")
    await t.request("GET", "/asterisk/info", only="nonsense")
    await t.request("GET", "/asterisk/ping")


@scenario
async def endpoints_that_do_not_exist(t: Transcript, b: Backend) -> None:
    # The real tier's endpoints are its configuration, not the simulator's: only what is not there.
    await t.request("GET", "/endpoints/Nope")
    await t.request("GET", "/endpoints/pjsip")  # a technology's name is as registered
    await t.request("GET", "/endpoints/Local")
    await t.request("GET", "/endpoints/PJSIP/fid-nobody")
    # `from` is a word of Python's: these queries are written out.
    await t.request("PUT", "/endpoints/sendMessage?from=fid")
    await t.request("PUT", "/endpoints/sendMessage?to=pjsip:fid-nobody&from=fid")
    await t.request("PUT", "/endpoints/sendMessage?to=fid-nobody&from=fid")
    await t.request("PUT", "/endpoints/PJSIP/fid-nobody/sendMessage?from=fid")
    await t.request("POST", "/endpoints/refer?from=fid&refer_to=fid-elsewhere")
    await t.request("POST", "/endpoints/refer?to=pjsip:fid-nobody&from=fid&refer_to=fid-elsewhere")
    await t.request("POST", "/endpoints/PJSIP/fid-nobody/refer?from=fid&refer_to=fid-elsewhere")


@scenario
async def mailboxes_are_not_in_this_build(t: Transcript, b: Backend) -> None:
    # Debian builds Asterisk without res_mwi_external, and so without ARI's mailboxes.
    await t.request("GET", "/mailboxes")
    await t.request("PUT", "/mailboxes/fid-box", oldMessages=1, newMessages=2)
    await t.request("GET", "/mailboxes/fid-box")
    await t.request("DELETE", "/mailboxes/fid-box")


@scenario
async def hold_mute_silence_and_ringing(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/ring")
    await t.request("DELETE", f"/channels/{call}/ring")
    await t.request("POST", f"/channels/{call}/progress")
    await t.request("POST", f"/channels/{call}/answer")
    await t.request("POST", f"/channels/{call}/hold")
    await t.request("DELETE", f"/channels/{call}/hold")
    await t.request("POST", f"/channels/{call}/mute")
    await t.request("DELETE", f"/channels/{call}/mute", direction="in")
    await t.request("POST", f"/channels/{call}/mute", direction="sideways")
    await t.request("DELETE", f"/channels/{call}/mute", direction="sideways")
    await t.request("POST", f"/channels/{call}/silence")
    await t.request("DELETE", f"/channels/{call}/silence")
    await t.request("POST", f"/channels/{call}/moh", mohClass="no-such-class")
    await t.request("DELETE", f"/channels/{call}/moh")
    for action in ("ring", "progress", "hold", "mute", "silence"):
        await t.request("POST", f"/channels/no-such-channel/{action}")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("POST", f"/channels/{call}/hold")


@scenario
async def a_recording_paused_muted_and_cancelled(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-3", format="wav", beep=False, settle=False)
    await t.until_event("RecordingStarted")
    live = "/recordings/live/fid-rec-3"
    await t.request("POST", f"{live}/pause")
    await t.request("GET", live)
    await t.request("POST", f"{live}/pause")
    await t.request("DELETE", f"{live}/pause")
    await t.request("DELETE", f"{live}/pause")
    await t.request("POST", f"{live}/mute")
    await t.request("GET", live)
    await t.request("DELETE", f"{live}/mute")
    await t.request("DELETE", live)  # cancelled: nothing is kept
    await t.request("GET", live)
    await t.request("GET", "/recordings/stored/fid-rec-3")
    for action in ("pause", "mute", "stop"):
        await t.request("POST", f"/recordings/live/no-such-recording/{action}")
    await t.request("DELETE", "/recordings/live/no-such-recording")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_stored_recording_copied(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/record", name="fid-rec-4", format="wav", beep=False, settle=False)
    await t.until_event("RecordingStarted")
    await t.request("POST", "/recordings/live/fid-rec-4/stop")
    try:
        await t.request("POST", "/recordings/stored/fid-rec-4/copy", destinationRecordingName="fid-rec-5")
        await t.request("POST", "/recordings/stored/fid-rec-4/copy", destinationRecordingName="fid-rec-5")
        await t.request("POST", "/recordings/stored/fid-rec-4/copy")
        await t.request("POST", "/recordings/stored/no-such-recording/copy", destinationRecordingName="fid-rec-6")
        await t.request("GET", "/recordings/stored/fid-rec-5")
        # The whole list holds what earlier tests left on the shared real Asterisk: only these two.
        await t.request("GET", "/recordings/stored", listed=("fid-rec-4", "fid-rec-5"))
        await t.request("GET", "/recordings/stored/fid-rec-5/file")
        await t.request("GET", "/recordings/stored/no-such-recording/file")
    finally:
        for name in ("fid-rec-4", "fid-rec-5"):
            await t.request("DELETE", f"/recordings/stored/{name}")
        await t.request("DELETE", f"/channels/{call}")


@scenario
async def variables_of_channels_and_bridges(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("GET", f"/channels/{call}/variables", variables="CALLERID(num),FID_NOT_SET")
    await t.request("GET", f"/channels/{call}/variables")
    await t.request("POST", f"/channels/{call}/variables", body='{"variables": {"FID_A": "1", "FID_B": "to"}}')
    await t.request("GET", f"/channels/{call}/variables", variables="FID_A,FID_B")
    await t.request("POST", f"/channels/{call}/variables")
    await t.request("POST", f"/channels/{call}/variables", body='{"variables": {"FID_C": 3}}')
    await t.request("POST", "/bridges/fid-bridge-v")
    await t.request("GET", "/bridges/fid-bridge-v/variable", variable="FID_X")
    await t.request("GET", "/bridges/fid-bridge-v/variable")
    await t.request("POST", "/bridges/fid-bridge-v/variable", variable="FID_X", value="ja")
    await t.request("GET", "/bridges/fid-bridge-v/variable", variable="FID_X")
    await t.request("POST", "/bridges/fid-bridge-v/variables", body='{"variables": {"FID_Y": "nej"}}')
    await t.request("GET", "/bridges/fid-bridge-v/variables", variables="FID_X,FID_Y")
    await t.request("GET", "/bridges/no-such-bridge/variable", variable="FID_X")
    await t.request("DELETE", "/bridges/fid-bridge-v")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_bridge_plays_without_an_id(t: Transcript, b: Backend) -> None:
    await t.request("POST", "/bridges/fid-bridge-p")
    answer = await t.request("POST", "/bridges/fid-bridge-p/play", media="sound:beep", settle=False)
    await t.until_event("PlaybackFinished")
    if isinstance(answer, dict):
        await t.request("GET", f"/playbacks/{answer.get('id')}")
    await t.request("POST", "/bridges/fid-bridge-p/play")
    await t.request("POST", "/bridges/no-such-bridge/play", media="sound:beep")
    await t.request("DELETE", "/bridges/fid-bridge-p")


@scenario
async def a_channel_moved_to_another_application(t: Transcript, b: Backend) -> None:
    other = await t.open_events("other", "app=fid-other")
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/move", app="fid-no-such-application")
    # Not `move` without an app: Asterisk 22.10.1 crashes on it (strlen of a NULL name in
    # stasis_app_control_move); tests/test_sim_standalone.py has what the simulator does instead.
    await t.request("POST", f"/channels/{call}/move", app="fid-other", appArgs="a,b")
    if other is not None:
        await t.frames(other)
    await t.request("POST", f"/channels/{call}/answer")
    await t.request("DELETE", f"/channels/{call}")
    if other is not None:
        await t.close_events(other)
    await t.request("POST", "/channels/no-such-channel/move", app="fid-other")


@scenario
async def a_channel_snooped(t: Transcript, b: Backend) -> None:
    app = b.config.app
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/snoop")
    await t.request("POST", f"/channels/{call}/snoop", spy="both")
    await t.request("POST", f"/channels/{call}/snoop", spy="sideways", app=app)
    await t.request("POST", f"/channels/{call}/snoop/fid-snoop-1", spy="in", app=app, appArgs="listening")
    await t.request("POST", f"/channels/{call}/snoop/fid-snoop-1", spy="in", app=app)
    await t.request("POST", "/channels/no-such-channel/snoop", spy="in", app=app)
    await t.request("DELETE", "/channels/fid-snoop-1")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def what_a_local_channel_cannot_do(t: Transcript, b: Backend) -> None:
    call = await b.call()
    await t.settle()
    await t.request("GET", f"/channels/{call}/rtp_statistics")
    await t.request("GET", "/channels/no-such-channel/rtp_statistics")
    await t.request("POST", f"/channels/{call}/transfer_progress")
    await t.request("POST", f"/channels/{call}/transfer_progress", states="nonsense")
    await t.request("POST", f"/channels/{call}/transfer_progress", states="channel_answered")
    await t.request("POST", "/channels/no-such-channel/transfer_progress", states="channel_answered")
    await t.request("POST", f"/channels/{call}/redirect")
    await t.request("POST", f"/channels/{call}/redirect", endpoint="nonsense")
    await t.request("POST", f"/channels/{call}/redirect", endpoint="PJSIP/")
    await t.request("POST", f"/channels/{call}/redirect", endpoint="PJSIP/fid-nobody")
    await t.request("POST", "/events/claim")
    await t.request("POST", "/events/claim", channelId=call)
    await t.request("POST", "/events/claim", channelId=call, application=b.config.app)
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def modules_logging_and_dynamic_configuration(t: Transcript, b: Backend) -> None:
    # Nothing here changes the shared real Asterisk but a log channel of the scenario's own, which no
    # request can delete again (see asterisk_sim/administration.py); one per run: each run's Asterisk is new.
    for name in ("app_stasis.so", "res_ari_sounds.so", "res_ari_mailboxes.so", "no_such_module.so"):
        await t.request("GET", f"/asterisk/modules/{name}")
    # The whole list is the real tier's modules.conf: ARI's own modules, which both have.
    modules = ("app_stasis.so", "res_ari.so", "res_ari_bridges.so", "res_ari_channels.so", "res_stasis.so")
    # A module's use_count is how many use it now, on the real tier: left out.
    await t.request(
        "GET", "/asterisk/modules", listed=modules, fields=("name", "description", "status", "support_level")
    )
    await t.request("POST", "/asterisk/modules/res_ari_sounds.so")
    await t.request("PUT", "/asterisk/modules/res_ari_sounds.so")
    for method in ("POST", "PUT", "DELETE"):
        await t.request(method, "/asterisk/modules/no_such_module.so")
    await t.request("POST", "/asterisk/logging/fid-log")
    await t.request("POST", "/asterisk/logging/fid-log", configuration="error,Debug,nonsense")
    await t.request("POST", "/asterisk/logging/fid-log", configuration="warning")
    await t.request("GET", "/asterisk/logging")
    await t.request("PUT", "/asterisk/logging/fid-log/rotate")
    await t.request("PUT", "/asterisk/logging/no-such-log/rotate")
    await t.request("DELETE", "/asterisk/logging/fid-log")
    await t.request("DELETE", "/asterisk/logging/no-such-log")
    await t.request("GET", "/asterisk/config/dynamic/res_pjsip/endpoint/fid-nobody")
    await t.request("GET", "/asterisk/config/dynamic/res_pjsip/aor/fid-nobody")
    await t.request("PUT", "/asterisk/config/dynamic/res_pjsip/endpoint/fid-nobody")
    await t.request("DELETE", "/asterisk/config/dynamic/res_pjsip/endpoint/fid-nobody")
    await t.request("GET", "/asterisk/config/dynamic/res_pjsip/no_such_type/fid-nobody")
    await t.request("GET", "/asterisk/config/dynamic/no_such_class/endpoint/fid-nobody")


@scenario
async def channels_created_and_media_sent_out_refused(t: Transcript, b: Backend) -> None:
    # What is refused (a created channel that is dialled: a_created_channel_dialled).
    app = b.config.app
    await t.request("POST", "/channels/create", app=app)
    await t.request("POST", "/channels/no-such-channel/dial")
    call = await b.call()
    await t.settle()
    await t.request("POST", "/channels/create", endpoint="PJSIP/fid-nobody", app=app, channelId=call)
    await t.request("POST", f"/channels/{call}", endpoint="PJSIP/fid-nobody", app=app)
    await t.request("POST", "/channels", endpoint="PJSIP/fid-nobody", app=app, channelId=call)
    await t.request("POST", f"/channels/{call}/dial")  # not created: it is not Down
    await t.request("POST", "/channels/externalMedia")
    await t.request("POST", "/channels/externalMedia", app=app)
    await t.request("POST", "/channels/externalMedia", app=app, external_host="127.0.0.1")
    await t.request("POST", "/channels/externalMedia", app=app, external_host="127.0.0.1:40000")
    await t.request("POST", "/channels/externalMedia", app=app, external_host="127.0.0.1:40000", format="ulaw",
                    direction="sideways")  # fmt: skip
    await t.request("POST", "/channels/externalMedia", app=app, transport="tcp", external_host="127.0.0.1:40000")
    await t.request("POST", "/channels/externalMedia", app=app, encapsulation="audiosocket",
                    external_host="127.0.0.1:40000")  # fmt: skip
    await t.request("POST", "/channels/externalMedia", app=app, connection_type="server", external_host="x:1")
    await t.request("POST", "/bridges/fid-bridge-video")
    await t.request("POST", f"/bridges/fid-bridge-video/videoSource/{call}")
    await t.request("POST", "/bridges/fid-bridge-video/videoSource/no-such-channel")
    await t.request("POST", f"/bridges/no-such-bridge/videoSource/{call}")
    await t.request("DELETE", "/bridges/fid-bridge-video/videoSource")
    await t.request("DELETE", "/bridges/fid-bridge-video")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_bridge_recorded(t: Transcript, b: Backend) -> None:
    call = await answered_caller(t, b)
    await t.request("POST", "/bridges/fid-bridge-r")
    await t.request("POST", "/bridges/fid-bridge-r/addChannel", channel=call)
    await t.request("POST", "/bridges/fid-bridge-r/record", format="wav")
    await t.request("POST", "/bridges/fid-bridge-r/record", name="fid-rec-b", format="nonsense")
    await t.request("POST", "/bridges/no-such-bridge/record", name="fid-rec-b", format="wav")
    await t.request("POST", "/bridges/fid-bridge-r/record", name="fid-rec-b", format="wav", settle=False)
    await t.until_event("RecordingStarted")
    await t.request("GET", "/recordings/live/fid-rec-b")
    await t.request("POST", "/recordings/live/fid-rec-b/stop", settle=False)
    await t.until_event("RecordingFinished")
    await t.request("GET", "/recordings/stored/fid-rec-b")
    await t.request("DELETE", "/recordings/stored/fid-rec-b")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-bridge-r")


@scenario
async def an_application_taken_over_then_its_first_websocket_closed(t: Transcript, b: Backend) -> None:
    first = await t.open_events("first", "app=fid-g")
    second = await t.open_events("second", "app=fid-g")
    if first is None or second is None:
        return
    await t.frames(first)
    await t.close_events(first)
    await t.request("GET", "/applications/fid-g", fields=FRESH)
    await t.request("POST", "/events/user/fid-after", application="fid-g")
    await t.frames(second)
    await t.close_events(second)
    await t.request("GET", "/applications/fid-g", fields=FRESH)


@scenario
async def a_call_watched_by_another_application(t: Transcript, b: Backend) -> None:
    # fid-watch, on a WebSocket of its own, subscribes to the router's call and to a bridge: it hears
    # their events too (not the router's StasisStart and StasisEnd: those are the router's own).
    watch = await t.open_events("watch", "app=fid-watch")
    if watch is None:
        return
    call = await b.call()
    await t.settle()
    await t.request("POST", "/applications/fid-watch/subscription", eventSource=f"channel:{call}", fields=SUBSCRIBED)
    await t.request("POST", f"/channels/{call}/answer")
    await t.request("POST", f"/channels/{call}/variable", variable="FID_W", value="1")
    await t.request("POST", f"/channels/{call}/play/fid-play-w", media="sound:beep", settle=False)
    await t.until_event("PlaybackFinished")
    await t.frames(watch)
    await t.request("POST", "/bridges/fid-bridge-w")
    await t.request("POST", "/applications/fid-watch/subscription", eventSource="bridge:fid-bridge-w",
                    fields=("bridge_ids",))  # fmt: skip
    await t.request("POST", "/bridges/fid-bridge-w/addChannel", channel=call)
    await t.frames(watch)
    await t.request("DELETE", f"/channels/{call}")
    await t.frames(watch)
    await t.request("DELETE", "/bridges/fid-bridge-w")
    await t.close_events(watch)


@scenario
async def lists_of_what_a_scenario_made(t: Transcript, b: Backend) -> None:
    # The lists as a client reads them back: of what this scenario made (the rest is earlier tests').
    bridges = ("fid-list-a", "fid-list-b")
    await t.request("POST", "/bridges", bridgeId=bridges[1], type="mixing")
    await t.request("POST", "/bridges", bridgeId=bridges[0], type="holding", name="queue")
    await t.request("GET", "/bridges", listed=bridges)
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/bridges/{bridges[1]}/addChannel", channel=call)
    await t.request("GET", "/channels", listed=(call,))
    await t.request("GET", "/bridges", listed=bridges)
    await t.request("PUT", "/deviceStates/Stasis:fid-list-desk", deviceState="ONHOLD")
    await t.request("GET", "/deviceStates", listed=("Stasis:fid-list-desk",))
    await t.request("DELETE", "/deviceStates/Stasis:fid-list-desk")
    await t.request("GET", "/deviceStates", listed=("Stasis:fid-list-desk",))
    # An application of the scenario's own: the router's lists what earlier tests left on the real one.
    lister = await t.open_events("lister", "app=fid-list")
    if lister is not None:
        await t.request("POST", "/applications/fid-list/subscription", eventSource=f"bridge:{bridges[0]}")
        await t.request("GET", "/applications", listed=("fid-list",))
        await t.close_events(lister)
    await t.request("DELETE", f"/channels/{call}")
    await t.request("GET", "/channels", listed=(call,))
    for bridge in bridges:
        await t.request("DELETE", f"/bridges/{bridge}")
    await t.request("GET", "/bridges", listed=bridges)


@scenario
async def every_bridge_device_and_global(t: Transcript, b: Backend) -> None:
    # subscribeAll, and an event source without a name: every one of its kind (res/stasis/app.c's "all"
    # topics). Without calls: on a real Asterisk a call's dialplan has events of its own that such an
    # application hears too (docs/simulator.md, "Modelled but partly").
    every = await t.open_events("all", "app=fid-all&subscribeAll=true")
    if every is None:
        return
    await t.request("GET", "/applications/fid-all")
    await t.request("POST", "/bridges", bridgeId="fid-all-b", type="mixing")
    await t.frames(every)
    await t.request("PUT", "/deviceStates/Stasis:fid-all-desk", deviceState="BUSY")
    await t.frames(every)
    await t.request("POST", "/asterisk/variable", variable="FID_ALL", value="1")
    await t.frames(every)
    await t.request("DELETE", "/deviceStates/Stasis:fid-all-desk")
    await t.request("DELETE", "/bridges/fid-all-b")
    await t.frames(every)
    await t.request("POST", "/applications/fid-all/subscription", eventSource="bridge:")
    await t.request("DELETE", "/applications/fid-all/subscription", eventSource="channel:")
    await t.close_events(every)
    some = await t.open_events("some", "app=fid-all")  # without subscribeAll: an application anew
    if some is None:
        return
    await t.request("GET", "/applications/fid-all")
    await t.request("DELETE", "/applications/fid-all/subscription", eventSource="bridge:")
    await t.request("POST", "/applications/fid-all/subscription", eventSource="bridge:")
    await t.request("POST", "/bridges", bridgeId="fid-all-c", type="holding")
    await t.frames(some)
    await t.request("POST", "/applications/fid-all/subscription", eventSource="bridge:fid-all-c")
    await t.request("DELETE", "/applications/fid-all/subscription", eventSource="bridge:fid-all-c")
    await t.request("POST", "/asterisk/variable", variable="FID_ALL", value="2")  # not of a bridge
    await t.request("DELETE", "/bridges/fid-all-c")
    await t.frames(some)
    await t.request("POST", "/applications/fid-all/subscription", eventSource="endpoint:")
    await t.request("DELETE", "/applications/fid-all/subscription", eventSource="bridge:")
    await t.close_events(some)


@scenario
async def sounds_by_language_and_format(t: Transcript, b: Backend) -> None:
    # The tier's sounds: Debian's English core sounds, and the router's Danish prompts (.wav files).
    await t.request("GET", "/sounds/hello-world")
    await t.request("GET", "/sounds/callrouter%2Fgoodbye")
    await t.request("GET", "/sounds/callrouter%2Fno-such-prompt")
    await t.request("GET", "/sounds", lang="da", listed=("callrouter/goodbye", "callrouter/welcome", "hello-world"))
    await t.request("GET", "/sounds", lang="da", format="slin", listed=("callrouter/goodbye",))
    await t.request("GET", "/sounds", lang="da", format="gsm")
    await t.request("GET", "/sounds", lang="no-such-language")
    await t.request("GET", "/sounds", format="no-such-format")
    await t.request("GET", "/sounds", format="gsm", listed=("callrouter/goodbye", "hello-world"))


@scenario
async def a_prompt_played_in_a_language(t: Transcript, b: Backend) -> None:
    # A play looks for its sound in its language (`lang`, else the channel's), then English.
    call = await answered_caller(t, b)
    plays = [("callrouter/goodbye", "da"), ("callrouter/goodbye", ""), ("callrouter/goodbye", "en")]
    plays += [("callrouter/goodbye", "da_DK"), ("beep", "da")]
    for n, (sound, lang) in enumerate(plays, 1):
        path, media = f"/channels/{call}/play/fid-lang-{n}", f"sound:{sound}"
        if lang:
            await t.request("POST", path, settle=False, media=media, lang=lang)
        else:
            await t.request("POST", path, settle=False, media=media)
        await t.until_event("PlaybackFinished")  # one after another, each to its end
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_bridge_with_a_caller_plays(t: Transcript, b: Backend) -> None:
    # Asterisk plays to a bridge through an announcer channel of its own, which joins the bridge.
    call = await answered_in_a_bridge(t, b, "fid-announce", "mixing")
    await t.request("POST", "/bridges/fid-announce/play/fid-announce-1", settle=False, media="sound:beep")
    await t.until_event("PlaybackFinished")
    await t.request("GET", "/bridges/fid-announce")
    await t.request("POST", "/bridges/fid-announce/play/fid-announce-2", settle=False, media="sound:beep")
    await t.until_event("PlaybackFinished")
    await t.request("GET", "/bridges/fid-announce")
    await t.request("POST", "/bridges/fid-announce/removeChannel", channel=call)
    await t.request("GET", "/bridges/fid-announce")
    await t.request("DELETE", "/bridges/fid-announce")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def two_callers_talk_in_a_mixing_bridge(t: Transcript, b: Backend) -> None:
    # What the router does with a caller and the agent who answered: each has the other as BRIDGEPEER.
    first = await b.call()
    await t.settle()
    second = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{first}/answer")
    await t.request("POST", f"/channels/{second}/answer")
    await t.request("POST", "/bridges/fid-talk", type="mixing")
    await t.request("POST", "/bridges/fid-talk/addChannel", channel=f"{first},{second}")
    await t.request("GET", f"/channels/{first}/variable", variable="BRIDGEPEER")
    await t.request("GET", f"/channels/{second}/variable", variable="BRIDGEPEER")
    await t.request("GET", "/bridges/fid-talk")
    await t.request("DELETE", f"/channels/{first}")
    await t.request("GET", f"/channels/{second}/variable", variable="BRIDGEPEER")
    await t.request("GET", "/bridges/fid-talk")
    await t.request("DELETE", f"/channels/{second}")
    await t.request("DELETE", "/bridges/fid-talk")


@scenario
async def three_callers_in_a_mixing_bridge_then_a_holding_one(t: Transcript, b: Backend) -> None:
    # In a bridge of three, each has the other two as BRIDGEPEER; in a holding bridge, nobody has one.
    calls = []
    for _ in range(3):
        calls.append(await b.call())
        await t.settle()
    await t.request("POST", "/bridges/fid-three", type="mixing")
    await t.request("POST", "/bridges/fid-three/addChannel", channel=",".join(calls[:2]))
    await t.request("POST", "/bridges/fid-three/addChannel", channel=calls[2])
    await t.request("GET", "/bridges/fid-three")
    for call in calls:
        await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("POST", "/bridges/fid-three/removeChannel", channel=calls[0])
    await t.request("GET", "/bridges/fid-three")
    await t.request("GET", f"/channels/{calls[0]}/variable", variable="BRIDGEPEER")
    await t.request("POST", "/bridges/fid-hold", type="holding")
    await t.request("POST", "/bridges/fid-hold/addChannel", channel=",".join(calls[1:]))
    for call in calls:
        await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    # Hung up one by one: a bridge deleted with two in it lets them go in either order (each channel's
    # own thread sends its ChannelLeftBridge).
    for call in calls:
        await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-three")
    await t.request("DELETE", "/bridges/fid-hold")


@scenario
async def a_created_channel_dialled(t: Transcript, b: Backend) -> None:
    # A channel made with /channels/create, then dialled: an agent's phone that answers at once (on
    # the real Asterisk a Local channel into the tier's dialplan, whose [agents] answer does so).
    app = b.config.app
    await t.request("POST", "/channels/create", endpoint=LOCAL_AGENT, app=app, channelId="fid-created-1")
    await t.request("GET", "/channels/fid-created-1")
    await t.request("POST", "/channels/fid-created-1/dial", timeout=5)
    await t.request("GET", "/channels/fid-created-1")
    await t.request("POST", "/channels/fid-created-1/dial")
    await t.request("DELETE", "/channels/fid-created-1")


@scenario
async def media_sent_out_to_a_host(t: Transcript, b: Backend) -> None:
    # An external media channel (RTP to a host on loopback; nothing needs to listen there).
    app = b.config.app
    await t.request("POST", "/channels/externalMedia", app=app, external_host="127.0.0.1:40000", format="ulaw",
                    channelId="fid-media-1")  # fmt: skip
    await t.request("GET", "/channels/fid-media-1")
    await t.request("GET", "/channels/fid-media-1/variable", variable="UNICASTRTP_LOCAL_ADDRESS")
    await t.request("POST", "/channels/externalMedia", app=app, external_host="127.0.0.1:40000", format="ulaw",
                    channelId="fid-media-1")  # fmt: skip
    await t.request("DELETE", "/channels/fid-media-1")


@scenario
async def a_holding_bridge_with_a_caller_plays(t: Transcript, b: Backend) -> None:
    # A holding bridge's play (without music on hold, which makes it fail): what its announcer does there.
    call = await answered_in_a_bridge(t, b, "fid-hold-play", "holding")
    await t.request("POST", "/bridges/fid-hold-play/play/fid-hold-play-1", settle=False, media="sound:beep")
    await t.until_event("PlaybackFinished")
    await t.request("GET", "/bridges/fid-hold-play")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-hold-play")


@scenario
async def music_on_hold_in_bridges(t: Transcript, b: Backend) -> None:
    # Asterisk plays a bridge's music through a channel of its own that joins the bridge.
    call = await answered_in_a_bridge(t, b, "fid-moh-mix", "mixing")
    await t.request("DELETE", "/bridges/fid-moh-mix/moh")  # none playing
    await t.request("POST", "/bridges/fid-moh-mix/moh")
    await t.request("POST", "/bridges/fid-moh-mix/moh", mohClass="default")  # again: the same channel
    await t.request("GET", "/bridges/fid-moh-mix")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("DELETE", "/bridges/fid-moh-mix/moh")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("DELETE", "/bridges/fid-moh-mix/moh")
    await t.request("POST", "/bridges/no-such-bridge/moh")
    await t.request("DELETE", "/bridges/no-such-bridge/moh")
    await t.request("POST", "/bridges", bridgeId="fid-moh-hold", type="holding")
    await t.request("POST", "/bridges/fid-moh-hold/addChannel", channel=call)
    await t.request("POST", "/bridges/fid-moh-hold/moh")
    await t.request("GET", "/bridges/fid-moh-hold")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-moh-hold/moh")
    await t.request("DELETE", "/bridges/fid-moh-hold")
    await t.request("DELETE", "/bridges/fid-moh-mix")


@scenario
async def plays_queued_on_a_channel(t: Transcript, b: Backend) -> None:
    # A channel plays one thing at a time: the others wait their turn, queued, and can be stopped there.
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-queued-1", settle=False, media=LONG)
    await t.request("POST", f"/channels/{call}/play/fid-queued-2", settle=False, media="sound:beep")
    await t.request("POST", f"/channels/{call}/play/fid-queued-3", media="sound:beep")
    await t.request("GET", "/playbacks/fid-queued-2")
    await t.request("DELETE", "/playbacks/fid-queued-2")
    await t.request("GET", "/playbacks/fid-queued-2")
    await t.request("DELETE", "/playbacks/fid-queued-2")
    for operation in ("pause", "unpause", "restart", "forward", "reverse"):
        await t.request("POST", "/playbacks/fid-queued-3/control", operation=operation)
    await t.request("POST", "/playbacks/fid-queued-2/control", operation="pause")
    await t.request("POST", "/playbacks/no-such-playback/control", operation="sideways")
    await t.request("DELETE", "/playbacks/fid-queued-1", settle=False)
    await t.until_event("PlaybackFinished", count=3)
    await t.request("POST", f"/channels/{call}/play/fid-queued-4", settle=False, media=LONG)
    await t.request("POST", f"/channels/{call}/play/fid-queued-5", media="sound:beep,sound:beep")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("GET", "/playbacks/fid-queued-5")


@scenario
async def a_bridge_plays_over_its_music_then_its_caller_leaves(t: Transcript, b: Backend) -> None:
    # Asterisk's own channels in a bridge (music on hold, a play's announcer, a recorder) are members:
    # they count for BRIDGEPEER and the bridge's technology, and all leave when nobody else is left.
    long_sounds(b)
    call = await answered_in_a_bridge(t, b, "fid-over-music", "mixing")
    # Subscribed by name: the events after the caller leaves (the lonely ones' going) then reach the
    # application for sure; through its channel alone, Asterisk may take the subscription back first.
    app = b.config.app
    await t.request("POST", f"/applications/{app}/subscription", eventSource="bridge:fid-over-music", fields=("name",))
    await t.request("POST", "/bridges/fid-over-music/moh")
    await t.request("POST", "/bridges/fid-over-music/play/fid-over-1", settle=False, media=LONG)
    await t.request("POST", "/bridges/fid-over-music/play/fid-over-2", media="sound:beep")
    await t.request("GET", "/bridges/fid-over-music")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("POST", "/bridges/fid-over-music/removeChannel", channel=call)
    await t.request("GET", "/playbacks/fid-over-1")
    await t.request("GET", "/bridges/fid-over-music")
    await t.request("DELETE", "/bridges/fid-over-music/moh")
    await t.request("POST", "/bridges/fid-over-music/addChannel", channel=call)
    await t.request("POST", "/bridges/fid-over-music/record", name="fid-over-rec-1", format="wav")
    await t.request("POST", "/bridges/fid-over-music/removeChannel", channel=call)
    await t.request("GET", "/recordings/live/fid-over-rec-1")
    await t.request("POST", "/bridges/fid-over-music/addChannel", channel=call)
    await t.request("POST", "/bridges/fid-over-music/record", name="fid-over-rec-2", format="wav")
    await t.request("POST", "/recordings/live/fid-over-rec-2/stop")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("POST", "/bridges/fid-over-music/moh")
    await t.request("POST", "/bridges/fid-over-music/play/fid-over-3", settle=False, media="sound:beep")
    await t.until_event("PlaybackFinished")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("DELETE", "/bridges/fid-over-music")
    await t.request("GET", f"/channels/{call}/variable", variable="BRIDGEPEER")
    await t.request("POST", "/bridges", bridgeId="fid-held-music", type="holding")
    await t.request("POST", "/bridges/fid-held-music/addChannel", channel=call)
    await t.request("POST", "/bridges/fid-held-music/moh")
    await t.request("POST", "/bridges/fid-held-music/play/fid-over-4", settle=False, media="sound:beep")
    await t.until_event("PlaybackFinished")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-held-music")
    for name in ("fid-over-rec-1", "fid-over-rec-2"):
        await t.request("DELETE", f"/recordings/stored/{name}")


@scenario
async def dialplan_functions_and_builtin_variables(t: Transcript, b: Backend) -> None:
    # Read and written through a channel's variable: what Asterisk computes. Not EPOCH (the clock), nor
    # CHANNEL(linkedid) and CONNECTEDLINE (the real tier's callers are Local halves: the other half's).
    call = await b.call()
    await t.settle()
    functions = ["CALLERID(all)", "CALLERID(name)", "CALLERID(num)", "CALLERID(ani)", "CALLERID(dnid)",
                 "CALLERID(rdnis)", "CALLERID(bogus)", "CALLERID()", "CALLERID(name-pres)", "CALLERID(num-pres)",
                 "CHANNEL(name)", "CHANNEL(uniqueid)", "CHANNEL(state)", "CHANNEL(channeltype)", "CHANNEL(bogus)",
                 "CHANNEL(musicclass)", "CHANNEL(accountcode)", "CHANNEL(context)", "CHANNEL(exten)",
                 "CHANNEL(callgroup)", "LEN(hello)", "TOUPPER(abc)", "TOLOWER(ABC)", "NOSUCHFUNC(x)",
                 "GLOBAL(FID_G)"]  # fmt: skip
    builtins = ["CALLERID", "CALLERID(num", "EXTEN", "CONTEXT", "PRIORITY", "UNIQUEID", "CHANNEL", "HANGUPCAUSE",
                "DIALSTATUS", "FID_G"]  # fmt: skip
    for name in functions + builtins:
        await t.request("GET", f"/channels/{call}/variable", variable=name)
    await t.request("POST", "/asterisk/variable", variable="FID_G", value="global")
    await t.request("GET", f"/channels/{call}/variable", variable="FID_G")  # a global, through the channel
    await t.request("GET", f"/channels/{call}/variable", variable="GLOBAL(FID_G)")
    await t.request("POST", f"/channels/{call}/variable", variable="FID_G", value="the channel's")
    await t.request("GET", f"/channels/{call}/variable", variable="FID_G")
    await t.request("POST", f"/channels/{call}/variable", variable="CALLERID(name)", value="Ny Borger")
    await t.request("POST", f"/channels/{call}/variable", variable="CALLERID(num)", value="87654321")
    await t.request("GET", f"/channels/{call}/variable", variable="CALLERID(all)")
    await t.request("GET", f"/channels/{call}", fields=("caller",))
    for name in ("CALLERID(bogus)", "NOSUCHFUNC(x)", "LEN(x)"):
        await t.request("POST", f"/channels/{call}/variable", variable=name, value="x")
    await t.request("POST", f"/channels/{call}/variable", variable="CHANNEL(language)", value="da")
    await t.request("GET", f"/channels/{call}/variable", variable="CHANNEL(language)")
    await t.request("GET", f"/channels/{call}/variables", variables="CALLERID(all),CHANNEL(name)")
    await t.request("GET", f"/channels/{call}/variables", variables="CALLERID(all),NOSUCHFUNC(x)")
    await t.request("DELETE", f"/channels/{call}")


@scenario
async def commands_wait_their_turn_on_a_channel(t: Transcript, b: Backend) -> None:
    # Asterisk runs a channel's commands one at a time on the channel's thread (res/stasis/control.c): a
    # recording or a play asked for meanwhile starts when the one before ends, and answer, a variable
    # set and a bridge joined are answered only then (their requests are `start`ed, then `finish`ed).
    long_sounds(b)
    call = await b.call()
    await t.settle()
    await t.request("POST", f"/channels/{call}/play/fid-turn-1", settle=False, media=LONG)  # early media
    await t.until_event("PlaybackStarted")
    answering = t.start("POST", f"/channels/{call}/answer")
    await t.request("DELETE", "/playbacks/fid-turn-1", settle=False)
    await t.finish(answering)
    await t.settle()
    await t.request("POST", f"/channels/{call}/play/fid-turn-2", settle=False, media=LONG)
    await t.until_event("PlaybackStarted")
    await t.request("POST", f"/channels/{call}/record", name="fid-turn-rec", format="wav", beep=False, settle=False)
    await t.request("POST", f"/channels/{call}/play/fid-turn-3", settle=False, media="sound:beep")
    await t.request("DELETE", "/playbacks/fid-turn-2", settle=False)
    await t.until_event("RecordingStarted")
    await t.request("POST", "/recordings/live/fid-turn-rec/stop", settle=False)
    await t.until_event("PlaybackFinished", count=2)
    await t.request("POST", "/bridges", bridgeId="fid-turn", type="mixing")
    await t.request("POST", f"/channels/{call}/play/fid-turn-4", settle=False, media=LONG)
    await t.until_event("PlaybackStarted")
    setting = t.start("POST", f"/channels/{call}/variable", variable="FID_TURN", value="1")
    await asyncio.sleep(0.2)  # so that the two wait in this order
    joining = t.start("POST", "/bridges/fid-turn/addChannel", channel=call)
    await asyncio.sleep(0.2)
    await t.request("DELETE", "/playbacks/fid-turn-4", settle=False)
    await t.finish(setting)
    await t.finish(joining)
    await t.settle()
    # Hung up during its own play in the bridge: the play fails, then the channel leaves the bridge. (Not a
    # recording queued behind it: Asterisk fails it or starts and ends it, from run to run.)
    await t.request("POST", f"/channels/{call}/play/fid-turn-5", settle=False, media=LONG)
    await t.until_event("PlaybackStarted")
    await t.request("DELETE", f"/channels/{call}")
    await t.request("DELETE", "/bridges/fid-turn")
    await t.request("DELETE", "/recordings/stored/fid-turn-rec")


@scenario
async def continue_and_move_wait_their_turn(t: Transcript, b: Backend) -> None:
    # `continue` and `move` are commands like a play: queued behind a recording or a play, they are
    # answered at once and carried out when it ends (res/stasis/control.c).
    long_sounds(b)
    call = await answered_caller(t, b)
    await t.request("POST", f"/channels/{call}/play/fid-wait-1", settle=False, media=LONG)
    await t.until_event("PlaybackStarted")
    await t.request("POST", f"/channels/{call}/move", app="fid-nobody-listens")
    await t.request("DELETE", "/playbacks/fid-wait-1")
    await t.request("POST", f"/channels/{call}/record", name="fid-wait-rec", format="wav", beep=False, settle=False)
    await t.until_event("RecordingStarted")
    await t.request("POST", f"/channels/{call}/continue", context="fid-no-such-context")
    await t.request("POST", "/recordings/live/fid-wait-rec/stop")
    await t.request("DELETE", "/recordings/stored/fid-wait-rec")


def rest(method: str, uri: str, **more: Any) -> dict[str, Any]:
    """A RESTRequest, as an application sends one on its WebSocket."""
    return {"type": "RESTRequest", "method": method, "uri": uri, **more}


NO_ANSWERS = '{"disallowed": [{"type": "RESTResponse"}]}'  # an event filter: RESTResponse is an event too


@scenario
async def rest_over_the_websocket(t: Transcript, b: Backend) -> None:
    """Asterisk 22's REST requests on the events WebSocket: answered as over HTTP (status, Asterisk's phrase,
    the body as a JSON text), what it cannot read refused, the events a request causes after its answer,
    and the answer itself an event the application's filter can disallow."""
    socket = await t.open_events("rest", "app=fid-rest, fid-rest-2")
    assert socket is not None
    call = await b.call()
    await t.settle()
    as_json = {"content_type": "application/json"}
    for message in [
        rest("GET", "asterisk/ping", request_id="r1", transaction_id="t1"),
        rest("GET", f"channels/{call}"),
        rest("POST", f"channels/{call}/answer"),
        rest("GET", "channels/no-such-channel"),
        rest("GET", "bridges/no-such-bridge"),
        rest("DELETE", "bridges/no-such-bridge"),
        rest("DELETE", f"channels/{call}?reason=bogus"),
        "not JSON",
        [1, 2],
        {"type": "Nonsense", "uri": "asterisk/ping"},
        {"uri": "asterisk/ping", "method": "GET"},
        {"type": "RESTRequest", "method": "GET"},
        {"type": "RESTRequest", "uri": "asterisk/ping"},
        rest("get", "asterisk/ping"),
        rest("GET", "asterisk/ping", request_id=5, query_strings="not a list"),
        rest("GET", "asterisk/ping", query_strings=[{"name": "a"}]),
        rest("POST", "bridges?bridgeId=fid-ws-bridge", query_strings=[{"name": "type", "value": "holding"}]),
        rest(
            "POST", "bridges/fid-ws-bridge", message_body="name=again", content_type="application/x-www-form-urlencoded"
        ),
        rest("POST", "events/user/fid-ws?application=fid-rest", message_body='{"variables": {"a": "b"}}', **as_json),
        rest("POST", "events/user/fid-ws?application=fid-rest", message_body='{"variables"'),
        rest("POST", "events/user/fid-ws?application=fid-rest", message_body="{bad", **as_json),
        rest("POST", "events/user/fid-ws?application=fid-rest", message_body="x", content_type="text/plain"),
        rest("DELETE", "bridges/fid-ws-bridge"),
        rest("GET", "/asterisk/ping"),
        rest("GET", "asterisk/ping/"),
        rest("GET", "ari/asterisk/ping"),
        rest("PUT", "asterisk/ping"),
        rest("GET", "events"),
        rest("GET", "api-docs/no-such-file.json"),
        rest("GET", "recordings/stored/no-such-recording/file"),
        rest("PUT", "applications/fid-rest/eventFilter", message_body=NO_ANSWERS, **as_json),
        rest("GET", "asterisk/ping"),
        rest("PUT", "applications/fid-rest/eventFilter", message_body="{}", **as_json),
        rest("DELETE", f"channels/{call}"),
    ]:
        await t.over_websocket(socket, message)
    await t.settle()
    await t.close_events(socket)


# -- SIP calls: a baresip phone on the real Asterisk, the control API's phone on the simulator ---------


@contextlib.asynccontextmanager
async def a_sip_call(t: Transcript, b: Backend, *, answered: bool = True) -> AsyncIterator[tuple[SipCaller, str]]:
    """A scenario's opening: a SIP phone on the endpoint `citizen` calls 1818, and (unless not `answered`)
    the application answers. The phone, and the call's channel."""
    t.sip_calls()
    async with sip_caller(b) as phone:
        call = await phone.dial()
        await t.settle()
        if answered:
            await t.request("POST", f"/channels/{call}/answer")
        yield phone, call


@scenario
async def a_sip_call_answered_then_hung_up_by_the_phone(t: Transcript, b: Backend) -> None:
    async with a_sip_call(t, b) as (phone, call):
        await t.request("GET", f"/channels/{call}")
        t.note("the phone hangs up")
        await phone.hang_up()
        await t.until_event("StasisEnd")
        await t.request("GET", f"/channels/{call}")


@scenario
async def a_sip_call_hung_up_by_the_application(t: Transcript, b: Backend) -> None:
    async with a_sip_call(t, b) as (_, call):
        await t.request("DELETE", f"/channels/{call}")


@scenario
async def a_sip_call_hung_up_by_the_phone_before_it_is_answered(t: Transcript, b: Backend) -> None:
    async with a_sip_call(t, b, answered=False) as (phone, call):
        await t.request("POST", f"/channels/{call}/ring")
        t.note("the phone gives up")
        await phone.hang_up()
        await t.until_event("StasisEnd")


@scenario
async def a_sip_caller_presses_keys(t: Transcript, b: Backend) -> None:
    async with a_sip_call(t, b) as (phone, call):
        t.note("the phone sends 1 and #")
        await phone.press("1#")
        await t.until_event("ChannelDtmfReceived", count=2)
        await t.request("DELETE", f"/channels/{call}")


@scenario
async def an_agent_phone_answers_then_hangs_up(t: Transcript, b: Backend) -> None:
    t.sip_calls()
    async with agent_phone(b, "agent1", "answer") as phone:
        await t.request(
            "POST", "/channels", endpoint="PJSIP/agent1", app="router", channelId="fid-sip-1", callerId="1818 <1818>",
            settle=False,
        )  # fmt: skip
        await t.until_event("StasisStart")
        await t.request("GET", "/channels/fid-sip-1")
        t.note("the agent hangs up")
        if phone is not None:
            await phone.send("/hangup\n")
        else:
            await b.caller_hangs_up("fid-sip-1")
        await t.until_event("ChannelDestroyed")


@scenario
async def an_agent_phone_on_a_call_is_busy(t: Transcript, b: Backend) -> None:
    t.sip_calls()
    async with agent_phone(b, "agent1", "answer", one_call=True):
        await t.request("POST", "/channels", endpoint="PJSIP/agent1", app="router", channelId="fid-sip-3", settle=False)
        await t.until_event("StasisStart")
        await busy_now(b, "agent1")
        t.note("a second call to the agent, on a call")
        await t.request("POST", "/channels", endpoint="PJSIP/agent1", app="router", channelId="fid-sip-4", settle=False)
        await t.until_event("ChannelDestroyed")
        await t.request("DELETE", "/channels/fid-sip-3")


@scenario
async def an_agent_phone_rings_unanswered(t: Transcript, b: Backend) -> None:
    t.sip_calls()
    async with agent_phone(b, "agent2", "no-answer"):
        await t.request("POST", "/channels", endpoint="PJSIP/agent2", app="router", channelId="fid-sip-2", timeout=2)
        await t.until_event("ChannelDestroyed")


SCENARIOS.update(generated_scenarios())  # every operation's parameters, from the API description


# -- the tier ------------------------------------------------------------------------------------


def known_differences() -> dict[str, list[str]]:
    """scenario -> the lines of the simulator's transcript allowed to differ (`scenario: line  # why`)."""
    known: dict[str, list[str]] = {}
    for raw in KNOWN.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        name, _, rest = raw.partition(": ")
        line, hash_, why = rest.rpartition("  # ")
        assert hash_, f"{KNOWN.name}: every known difference says why: {raw!r}"
        assert why.strip(), f"{KNOWN.name}: every known difference says why: {raw!r}"
        known.setdefault(name, []).append(line)
    return known


def dump(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def transcripts() -> dict[str, dict[str, list[str]]]:
    """Each scenario's transcripts, by backend, until both are there (conftest prints the figure)."""
    return {}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario(name: str, backend: Backend, transcripts: dict[str, dict[str, list[str]]]) -> None:  # noqa: F811
    transcript = Transcript(backend.session, backend.config, backend.arrived)
    await SCENARIOS[name](transcript, backend)
    await transcript.settle()
    taken = transcripts.setdefault(name, {})
    taken[backend.name] = transcript.normalised()
    if os.environ.get(DUMP):  # for whoever works on the simulator: both transcripts, as compared
        dump(Path(os.environ[DUMP]) / f"{name}.{backend.name}.txt", taken[backend.name])
    if len(taken) < 2:
        return  # the other side runs next
    real, sim = taken["real"], taken["sim"]
    allowed = set(known_differences().get(name, []))
    diff = [d for d in difflib.unified_diff(real, sim, "real Asterisk 22", "simulator", lineterm="", n=1)]
    changed = [d[1:] for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    unexplained = [line for line in changed if line not in allowed]
    RESULTS[name] = not changed
    assert not unexplained, "the simulator differs from the real Asterisk:\n" + "\n".join(diff)
