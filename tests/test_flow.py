"""The per-call state machine, fed events by hand: no network, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

from router.calls.flow import (
    AgentLeft,
    Answer,
    BridgeAgent,
    Call,
    Connected,
    ContinueInDialplan,
    Digit,
    DiscardRecording,
    EndBridge,
    EnterQueue,
    Failed,
    Finish,
    Hangup,
    HangupLeg,
    HungUp,
    LeaveQueue,
    MessageSaved,
    NoteMessage,
    Play,
    PlaybackDone,
    Position,
    Record,
    RecordingDone,
    RejoinQueue,
    Requeue,
    SaveMessage,
    StartTimer,
    StopPlayback,
    Timeout,
    playbacks_of,
    resume_queued,
    start_closed,
    start_open,
    start_queue,
    start_shed,
    start_unknown,
    step,
)

NEW = Call(id="c1", line="1818", caller="12345678", arrived=datetime(2024, 1, 4, 11, 30, tzinfo=UTC))
GUIDANCE = ("closed-now", "hours-intro")


def run(call: Call, *events: object) -> tuple[Call, list[object]]:
    commands: list[object] = []
    for event in events:
        call, more = step(call, event)  # type: ignore[arg-type]
        commands.extend(more)
    return call, commands


def test_closed_caller_leaves_a_message() -> None:
    call, first = start_closed(NEW, GUIDANCE)
    assert first == [Answer(), Play("c1-guidance", ("closed-now", "hours-intro", "offer-message"))]
    call, commands = run(
        call,
        PlaybackDone("c1-guidance", True),
        Digit("1"),
        PlaybackDone("c1-record-intro", True),
        RecordingDone("msg-c1", 7),
        MessageSaved(True),
        PlaybackDone("c1-goodbye", True),
    )
    assert commands == [
        StartTimer("offer", 8.0),
        Play("c1-record-intro", ("record-after-beep",)),
        NoteMessage(),
        Record("msg-c1", 120, 6, "#"),
        SaveMessage("msg-c1", 7),
        Play("c1-goodbye", ("message-saved", "goodbye")),
        Hangup(),
        Finish("message_left"),
    ]
    assert call.state == "done"


def test_pressing_1_during_the_guidance_stops_it() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    call, commands = run(call, Digit("1"))
    assert commands == [StopPlayback("c1-guidance"), Play("c1-record-intro", ("record-after-beep",)), NoteMessage()]
    # The stopped guidance's PlaybackFinished arrives later and changes nothing.
    assert run(call, PlaybackDone("c1-guidance", True))[1] == []


def test_no_key_pressed_ends_with_goodbye() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    call, commands = run(
        call, PlaybackDone("c1-guidance", True), Digit("5"), Timeout("offer"), PlaybackDone("c1-goodbye", True)
    )
    assert commands == [StartTimer("offer", 8.0), Play("c1-goodbye", ("goodbye",)), Hangup(), Finish("guidance_played")]


def test_caller_hangs_up_during_guidance() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    call, commands = run(call, HungUp(), PlaybackDone("c1-guidance", False))
    assert commands == [Finish("caller_hung_up", "in guidance")]
    assert call.state == "done"


def test_hangup_while_recording_still_saves_the_message() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    recording, _ = run(call, Digit("1"), PlaybackDone("c1-record-intro", True))
    # Asterisk's order: the hangup first, then the finished recording, then StasisEnd.
    _, commands = run(recording, HungUp(), RecordingDone("msg-c1", 4), HungUp(), MessageSaved(True))
    assert commands == [
        StartTimer("recording-end", 3.0),
        SaveMessage("msg-c1", 4),
        Finish("message_left", "caller hung up while recording"),
    ]
    # Under a second of audio is no message; nothing else would delete it from Asterisk.
    _, commands = run(recording, HungUp(), RecordingDone("msg-c1", 0))
    assert commands[1:] == [DiscardRecording("msg-c1"), Finish("caller_hung_up", "nothing recorded")]
    # If Asterisk never reports the recording, the timer saves whatever it stored.
    _, commands = run(recording, HungUp(), HungUp(), Timeout("recording-end"), MessageSaved(True))
    assert commands[1:] == [SaveMessage("msg-c1", None), Finish("message_left", "caller hung up while recording")]


def test_nothing_recorded_and_a_store_that_fails_are_said_honestly() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    _, commands = run(call, Digit("1"), PlaybackDone("c1-record-intro", True), RecordingDone("msg-c1", 0))
    assert commands[-2:] == [DiscardRecording("msg-c1"), Play("c1-goodbye", ("message-not-saved", "goodbye"))]
    call, _ = start_closed(NEW, GUIDANCE)
    _, commands = run(call, Digit("1"), PlaybackDone("c1-record-intro", True), RecordingDone("msg-c1", 3, ok=False))
    assert commands[-2:] == [DiscardRecording("msg-c1"), Play("c1-goodbye", ("message-not-saved", "goodbye"))]
    call, _ = start_closed(NEW, GUIDANCE)
    _, commands = run(
        call, Digit("1"), PlaybackDone("c1-record-intro", True), RecordingDone("msg-c1", 5), MessageSaved(False)
    )
    assert commands[-1] == Play("c1-goodbye", ("message-not-saved", "goodbye"))  # never "saved" unless it was


def test_a_failure_hands_the_call_to_the_dialplan_fallback() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    call, commands = run(call, Failed("play: 500"))
    assert commands == [
        StopPlayback("c1-guidance"),  # Asterisk would otherwise play it to the end before the fallback
        ContinueInDialplan("callrouter-fallback-1818"),
        Finish("error_fallback", "play: 500"),
    ]
    assert run(call, HungUp())[1] == []  # done is done


def test_a_shed_call_goes_to_the_fallback_unanswered() -> None:
    call, commands = start_shed(NEW)
    fallback = ContinueInDialplan("callrouter-fallback-1818")
    assert commands == [fallback, Finish("shed_to_dialplan", "callrouter-fallback-1818")]
    assert run(call, HungUp())[1] == []


def test_open_line_and_unknown_line() -> None:
    _, commands = start_open(NEW)
    assert commands == [
        ContinueInDialplan("callrouter-open-1818"),
        Finish("handed_to_dialplan", "callrouter-open-1818"),
    ]
    call, commands = start_unknown(NEW)
    assert commands == [Answer(), Play("c1-unknown", ("line-unknown", "goodbye"))]
    assert run(call, PlaybackDone("c1-unknown", True))[1] == [Hangup(), Finish("unknown_line")]


def test_hangup_while_the_message_is_being_stored_keeps_it() -> None:
    call, _ = start_closed(NEW, GUIDANCE)
    call, _ = run(call, Digit("1"), PlaybackDone("c1-record-intro", True), RecordingDone("msg-c1", 6))
    assert call.state == "saving"
    call, commands = run(call, HungUp(), HungUp(), MessageSaved(True))
    assert commands == [Finish("message_left", "caller hung up while recording")]  # no prompt to a gone caller
    assert call.state == "done"


# -- the queue (open line) ------------------------------------------------------------------


def queued(closing_in: float | None = None) -> tuple[Call, list[object]]:
    call, first = start_queue(
        NEW, ("welcome",), max_wait_seconds=600, announce_seconds=60, closing_in_seconds=closing_in
    )
    call, more = run(call, PlaybackDone("c1-welcome", True))
    return call, [*first, *more]


def test_open_caller_hears_a_welcome_then_waits_in_the_queue() -> None:
    call, commands = queued()
    assert commands == [
        Answer(),
        Play("c1-welcome", ("welcome",)),
        StartTimer("max-wait", 600),
        EnterQueue(),
        StartTimer("announce", 60),
    ]
    assert call.state == "queued"


def test_position_is_announced_and_the_next_announcement_waits_for_its_end() -> None:
    call, _ = queued()
    call, commands = run(call, Position(3), Position(2), PlaybackDone("c1-position-1", True), Position(30))
    assert commands == [
        Play("c1-position-1", ("queue-position", "num-3", "queue-position-end")),
        StartTimer("announce", 60),
        Play("c1-position-2", ("queue-position-many",)),
    ]


def test_agent_answers_and_the_caller_hangs_up_after_talking() -> None:
    call, _ = queued()
    call, commands = run(call, Position(1), Connected("leg-1", "a2", 42.4), HungUp())
    assert commands == [
        Play("c1-position-1", ("queue-position", "num-1", "queue-position-end")),
        StopPlayback("c1-position-1"),
        BridgeAgent("leg-1"),
        StartTimer("agent-settled", 2.0),
        HangupLeg("leg-1"),
        EndBridge(),
        Finish("answered", "by a2 after 42 s"),
    ]


def test_agent_hangs_up_first() -> None:
    call, _ = queued()
    settled = (Timeout("agent-settled"), AgentLeft("leg-other"), AgentLeft("leg-1"))
    call, commands = run(call, Connected("leg-1", "a1", 5), *settled)
    assert commands == [
        BridgeAgent("leg-1"),
        StartTimer("agent-settled", 2.0),
        Hangup(),
        EndBridge(),
        Finish("answered", "by a1 after 5 s"),
    ]


def test_an_agent_who_drops_the_caller_at_once_puts_them_back_at_the_front() -> None:
    call, _ = queued()
    call, commands = run(call, Connected("leg-1", "a1", 5), AgentLeft("leg-1"))
    assert commands[-3:] == [EndBridge(), Requeue("a1"), StartTimer("announce", 60)]
    assert (call.state, call.leg, call.agent) == ("queued", None, None)
    call, commands = run(call, AgentLeft("leg-1"), Connected("leg-2", "a2", 9))  # the first leg's StasisEnd, late
    assert commands == [BridgeAgent("leg-2"), StartTimer("agent-settled", 2.0)]
    call, commands = run(call, Timeout("agent-settled"), HungUp())
    assert commands[-1] == Finish("answered", "by a2 after 9 s")


def test_a_wait_that_ran_out_while_an_agent_was_connecting_ends_in_the_answering_machine() -> None:
    call, _ = queued()
    call, commands = run(call, Connected("leg-1", "a1", 600), Timeout("max-wait"), AgentLeft("leg-1"))
    assert commands[-3:] == [EndBridge(), LeaveQueue(), Play("c1-overflow", ("queue-overflow", "offer-message"))]
    assert call.overflowed


def test_a_wait_running_out_while_talking_changes_nothing() -> None:
    call, _ = queued()
    call, commands = run(call, Connected("leg-1", "a1", 5), Timeout("agent-settled"), Timeout("max-wait"))
    assert (call.state, commands[-1]) == ("connected", StartTimer("agent-settled", 2.0))


def test_a_caller_found_in_the_holding_bridge_after_a_restart_waits_on() -> None:
    call, commands = resume_queued(
        NEW, "callrouter-queue-1818", max_wait_left=420.5, announce_seconds=60, closing_in_seconds=None, announcements=3
    )
    assert commands == [
        StartTimer("max-wait", 420.5),
        StartTimer("announce", 60),
        RejoinQueue("callrouter-queue-1818"),
    ]
    call, announced = run(call, Position(2))
    assert announced == [Play("c1-position-4", ("queue-position", "num-2", "queue-position-end"))]
    _, late = resume_queued(NEW, "b", max_wait_left=-5, announce_seconds=0, closing_in_seconds=-1)
    assert late == [StartTimer("max-wait", 0.0), StartTimer("closing", 0.0), RejoinQueue("b")]


def test_caller_gives_up_while_waiting() -> None:
    call, _ = queued()
    _, commands = run(call, HungUp())
    assert commands == [LeaveQueue(), Finish("caller_gave_up", "in queued")]


def test_an_agent_answering_for_a_caller_who_just_hung_up_is_hung_up() -> None:
    call, _ = queued()
    call, commands = run(call, HungUp(), Connected("leg-1", "a1", 5))  # found by the 10,000-call fault test
    assert call.state == "done"
    assert commands[-1] == HangupLeg("leg-1")


def test_waiting_too_long_offers_the_answering_machine() -> None:
    call, _ = queued()
    call, commands = run(call, Timeout("max-wait"), Connected("leg-late", "a1", 601))
    assert commands == [
        LeaveQueue(),
        Play("c1-overflow", ("queue-overflow", "offer-message")),
        HangupLeg("leg-late"),  # an agent who answers after that gets no caller
    ]
    call, commands = run(call, PlaybackDone("c1-overflow", True), Timeout("offer"), PlaybackDone("c1-goodbye", True))
    assert commands[-1] == Finish("overflow")


def test_phone_hours_ending_while_waiting_offers_the_answering_machine_if_configured() -> None:
    call, commands = queued(closing_in=90)
    assert StartTimer("closing", 90) in commands
    call, commands = run(call, Timeout("closing"))
    assert commands == [LeaveQueue(), Play("c1-overflow", ("queue-closing", "offer-message"))]


def test_a_failure_while_bridged_releases_the_agent_and_falls_back() -> None:
    call, _ = queued()
    _, commands = run(call, Connected("leg-1", "a1", 5), Failed("addChannel: 500"))
    assert commands[2:] == [
        HangupLeg("leg-1"),
        EndBridge(),
        ContinueInDialplan("callrouter-fallback-1818"),
        Finish("error_fallback", "addChannel: 500"),
    ]


def test_a_restarted_router_knows_every_playback_id_it_may_have_left_running() -> None:
    """reconcile stops these before handing an orphaned caller on (Asterisk would finish them first)."""
    closed, first = start_closed(NEW, GUIDANCE)
    commands: list[object] = [*first]
    _, more = run(closed, Digit("1"))
    commands += more
    _, more = run(closed, PlaybackDone("c1-guidance", True), Timeout("offer"))
    commands += more
    commands += start_unknown(NEW)[1]
    waiting, more = queued()
    commands += more
    _, more = run(waiting, Timeout("max-wait"), Position(2))
    commands += more
    played = {c.playback_id for c in commands if isinstance(c, Play)}
    assert played - set(playbacks_of("c1")) == set()
    assert set(playbacks_of("c1")) == played  # all six seen here
