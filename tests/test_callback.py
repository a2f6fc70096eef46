"""The queue's callback in its pure parts and its store: the virtual waiter's place among real callers and
in the estimate (table and Hypothesis), the caller's dialogue, the schedule's `callback:`, and the store's
claim that only one router can hold."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.calls import callback_offer, estimate, flow
from router.calls.queue import CancelLeg, Queue, dispatch, join, join_virtual, leave, to_virtual
from router.office.callbacks import Callback, CallbackStore
from router.office.mail import compose
from router.office.messages import Message
from router.schedule import QueueCallback, QueueConfig, ScheduleError, Strategy, WhenClosed, parse_schedule
from tests.conftest import embedded
from tests.test_cli import run

T0 = datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
AGENTS = ("a1", "a2")
LATER = T0 + timedelta(minutes=10)


def queue(strategy: Strategy = Strategy.RING_ALL) -> Queue:
    return Queue("1818", QueueConfig(AGENTS, strategy, ring_seconds=15, retry_seconds=5))


# -- the virtual waiter -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrivals", "chooses", "expected"),
    [
        # callers by arrival (seconds after T0); the one who chooses a callback; the order after
        ({"c1": 0, "c2": 1, "c3": 2}, "c1", ["cb-c1", "c2", "c3"]),
        ({"c1": 0, "c2": 1, "c3": 2}, "c2", ["c1", "cb-c2", "c3"]),
        ({"c1": 0, "c2": 1, "c3": 2}, "c3", ["c1", "c2", "cb-c3"]),
    ],
)
def test_a_callback_keeps_its_callers_place(arrivals: dict[str, int], chooses: str, expected: list[str]) -> None:
    q = queue()
    for caller, second in arrivals.items():
        q = join(q, caller, "22334455", T0 + timedelta(seconds=second))
    q, _ = to_virtual(q, chooses, f"cb-{chooses}", "22334455", LATER)
    assert [w.call_id for w in q.waiting] == expected
    assert q.position(expected[-1]) == len(expected)
    late = join(q, "c9", "22334455", T0 + timedelta(seconds=60))
    assert late.position("c9") == len(expected) + 1  # a later caller hears the callback counted


def test_a_callback_is_not_rung_before_its_attempt_and_does_not_hold_up_the_callers_behind() -> None:
    q = join(queue(), "c1", "1", T0)
    q = join(q, "c2", "2", T0 + timedelta(seconds=1))
    q, _ = dispatch(q, T0, frozenset({"a1", "a2"}))[0], None
    q, cancelled = to_virtual(q, "c1", "cb", "22334455", LATER)
    assert cancelled == []
    q, rings, look_again = dispatch(q, T0 + timedelta(seconds=5))
    assert {r.call_id for r in rings} == {"c2"}  # ring all: every free agent for the caller behind
    q, _ = leave(q, "c2")
    q, rings, look_again = dispatch(q, T0 + timedelta(seconds=6), frozenset(q.engaged()))
    assert rings == []
    assert look_again == LATER  # it looks again when the callback is due
    q, rings, _ = dispatch(q, LATER, frozenset({a for a in AGENTS if a in q.engaged()}))
    assert {(r.call_id, r.caller) for r in rings} == {("cb", "22334455")}


def test_choosing_a_callback_stops_the_callers_agents_ringing() -> None:
    q, rings, _ = dispatch(join(queue(), "c1", "1", T0), T0)
    q, commands = to_virtual(q, "c1", "cb", "22334455", LATER)
    assert sorted(commands, key=str) == sorted((CancelLeg(r.leg_id) for r in rings), key=str)
    assert q.legs == ()
    assert q.waiter("cb") is not None


def test_join_virtual_again_moves_only_the_next_attempt() -> None:
    q = join_virtual(queue(), "cb", "22334455", T0, LATER)
    q = join_virtual(q, "cb", "22334455", T0, LATER + timedelta(minutes=5))
    [waiter] = q.waiting
    assert (waiter.virtual, waiter.not_before, waiter.since) == (True, LATER + timedelta(minutes=5), T0)


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(st.integers(0, 3600), min_size=1, max_size=12, unique=True),
    callbacks=st.data(),
    strategy=st.sampled_from(list(Strategy)),
)
def test_places_follow_arrival_whoever_chose_a_callback(
    arrivals: list[int], callbacks: st.DataObject, strategy: Strategy
) -> None:
    """Real callers and callbacks wait by arrival; a callback is counted in every later caller's place
    (and so in their estimate); only callbacks due are rung, and never ahead of an earlier caller who
    can be rung."""
    q = queue(strategy)
    for i, second in enumerate(arrivals):
        q = join(q, f"c{i}", "22334455", T0 + timedelta(seconds=second))
    chosen = callbacks.draw(st.sets(st.sampled_from(range(len(arrivals)))))
    for i in chosen:
        q, _ = to_virtual(q, f"c{i}", f"cb{i}", "22334455", LATER)
    by_arrival = sorted(range(len(arrivals)), key=lambda i: arrivals[i])
    names = [f"cb{i}" if i in chosen else f"c{i}" for i in by_arrival]
    assert [w.call_id for w in q.waiting] == names
    for place, name in enumerate(names, 1):
        assert q.position(name) == place
    answers = [T0 - timedelta(minutes=m) for m in range(1, 8)]
    for place, name in enumerate(names, 1):
        assert estimate.estimate_wait(answers, T0, q.position(name) or 0) == estimate.estimate_wait(answers, T0, place)
    _, rings, _ = dispatch(q, T0 + timedelta(minutes=5))
    assert not any(r.call_id.startswith("cb") for r in rings)  # none due yet
    real = [n for n in names if not n.startswith("cb")]
    if real:
        assert rings[0].call_id == real[0]
    _, rings, _ = dispatch(q, LATER + timedelta(hours=1))
    assert rings[0].call_id == names[0]  # all due: the first in line first


# -- the caller's dialogue ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("22334455", "22334455"),
        ("+4522334455", "22334455"),
        ("004522334455", "22334455"),
        ("12345678", None),  # no Danish number starts with 1
        ("2233445", None),
        ("223344556", None),
        ("", None),
        ("anonymous", None),
        ("+4622334455", None),
    ],
)
def test_danish_numbers(text: str, number: str | None) -> None:
    assert callback_offer.danish_number(text) == number


def waiting(caller: str = "+4522334455") -> flow.Call:
    call = flow.Call("c1", "1818", caller, T0)
    call, _ = flow.start_queue(
        call, ("welcome",), max_wait_seconds=600, announce_seconds=0, closing_in_seconds=None, callback=("5", 30)
    )
    call, _ = flow.step(call, flow.PlaybackDone("c1-welcome", True))
    return call


def plays(commands: list[flow.Command]) -> list[tuple[str, ...]]:
    return [c.prompts for c in commands if isinstance(c, flow.Play)]


def test_the_offer_comes_after_its_time_and_the_key_reads_the_number_back() -> None:
    call = flow.Call("c1", "1818", "+4522334455", T0)
    _, commands = flow.start_queue(
        call, ("welcome",), max_wait_seconds=600, announce_seconds=0, closing_in_seconds=None, callback=("5", 30)
    )
    assert flow.StartTimer("callback-offer", 30) in commands
    call = waiting()
    call, commands = flow.step(call, flow.Timeout("callback-offer"))
    assert plays(commands) == [("callback-offer", "num-5", "callback-offer-end")]
    call, commands = flow.step(call, flow.Digit("5"))
    assert flow.StopPlayback("c1-callback-offer") in commands
    number = tuple(f"num-{d}" for d in "22334455")
    assert plays(commands) == [("callback-your-number", *number, "callback-confirm")]
    call, commands = flow.step(call, flow.Digit("1"))
    assert commands[-1] == flow.RequestCallback("22334455")
    call, commands = flow.step(call, flow.CallbackSaved(True))
    assert plays(commands) == [("callback-confirmed",)]
    call, commands = flow.step(call, flow.PlaybackDone("c1-goodbye", True))
    assert commands == [flow.Hangup(), flow.Finish("callback_requested")]


def test_no_offer_without_a_callback() -> None:
    call, _ = flow.start_queue(
        flow.Call("c1", "1818", "2", T0), ("welcome",), max_wait_seconds=600, announce_seconds=0,
        closing_in_seconds=None,
    )  # fmt: skip
    call, _ = flow.step(call, flow.PlaybackDone("c1-welcome", True))
    assert flow.step(call, flow.Digit("5")) == (call, [])


def test_a_hidden_caller_keys_a_number_in_and_bad_answers_are_bounded() -> None:
    call, commands = flow.step(waiting(""), flow.Digit("5"))
    assert plays(commands) == [("callback-enter-number",)]
    for digit in "123#":
        call, commands = flow.step(call, flow.Digit(digit))
    assert plays(commands) == [("callback-number-invalid", "callback-enter-number")]
    call, commands = flow.step(call, flow.Timeout("callback-input"))  # nothing pressed
    assert plays(commands) == [("callback-enter-number",)]
    for digit in "1#":
        call, commands = flow.step(call, flow.Digit(digit))
    assert plays(commands) == [("callback-not-possible",)]  # the third: the caller waits on
    assert (call.state, call.dialogue) == ("queued", None)
    assert not any(isinstance(c, flow.LeaveQueue) for c in commands)


def test_another_number_is_read_back_before_it_is_kept() -> None:
    call, _ = flow.step(waiting(), flow.Digit("5"))
    for digit in "004533445566#":  # a phone's keypad has no +
        call, commands = flow.step(call, flow.Digit(digit))
    number = tuple(f"num-{d}" for d in "33445566")
    assert plays(commands) == [("callback-your-number", *number, "callback-confirm")]
    call, commands = flow.step(call, flow.Digit("1"))
    assert commands[-1] == flow.RequestCallback("33445566")


def test_an_agent_during_the_dialogue_gets_the_caller_and_a_store_failure_keeps_them_waiting() -> None:
    call, _ = flow.step(waiting(), flow.Digit("5"))
    connected, commands = flow.step(call, flow.Connected("leg", "a1", 40))
    assert connected.state == "connected"
    assert flow.BridgeAgent("leg") in commands
    call, _ = flow.step(call, flow.Digit("1"))
    call, commands = flow.step(call, flow.CallbackSaved(False))
    assert (call.state, plays(commands)) == ("queued", [("callback-not-possible",)])


def test_a_caller_who_hangs_up_in_the_dialogue_leaves_the_queue() -> None:
    call, _ = flow.step(waiting(), flow.Digit("5"))
    _, commands = flow.step(call, flow.HungUp())
    assert commands == [flow.LeaveQueue(), flow.Finish("caller_gave_up", "in callback")]


# -- the schedule -------------------------------------------------------------------------

SCHEDULE = """
lines:
  "1818":
    versions: [{valid_from: 2024-01-01, hours: {mon-fri: "09:00-15:00"}}]
    queue:
      agents: [agent1]
      callback: {offer_after_seconds: 45, key: "7", attempts: 2, retry_minutes: 15, when_closed: next_opening}
    callback: {dial: "PJSIP/{number}@trunk"}
"""


def test_the_queues_callback_is_read() -> None:
    config = parse_schedule(SCHEDULE).lines["1818"].open_to
    assert isinstance(config, QueueConfig)
    assert config.callback == QueueCallback(45, "7", 2, 15, WhenClosed.NEXT_OPENING)


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (('    callback: {dial: "PJSIP/{number}@trunk"}\n', ""), ":7:", "the line has no `callback:`"),
        (('key: "7"', 'key: "1"'), "queue.callback.key", "1 confirms"),
        (('key: "7"', 'key: "*"'), "queue.callback.key", "expected one digit"),
        (("attempts: 2", "attempts: 0"), "queue.callback.attempts", "from 1 to 10"),
        (("retry_minutes: 15", "retry_minutes: x"), "queue.callback.retry_minutes", "minutes from 1 to 240"),
        (("next_opening", "next_open"), "queue.callback.when_closed", "did you mean 'next_opening'"),
        (("when_closed", "when_close"), "queue.callback", "unknown key 'when_close'"),
    ],
)
def test_a_bad_callback_is_a_located_error(change: tuple[str, str], where: str, message: str) -> None:
    with pytest.raises(ScheduleError) as error:
        parse_schedule(SCHEDULE.replace(*change))
    assert where in str(error.value)
    assert message in str(error.value)


# -- the store ----------------------------------------------------------------------------


def test_only_one_router_claims_a_callback_and_a_lapsed_claim_is_free_again(tmp_path: Path) -> None:
    with embedded(tmp_path) as data:
        store = CallbackStore(data)
        callback = Callback("cb", "1818", "", "22334455", T0, T0, T0)
        assert store.add(callback)
        assert not store.add(replace(callback, number="33445566"))  # kept once
        soon = T0 + timedelta(minutes=2)
        assert store.claim("cb", "node-a", T0, soon) is not None
        assert store.claim("cb", "node-b", T0, soon) is None
        assert not store.to_message("cb", T0)  # not while claimed
        # node-a died calling: after the claim lapsed another router may take it up.
        assert store.claim("cb", "node-b", soon, soon + timedelta(minutes=2)) is not None
        assert store.failed("cb", "node-a", "busy", LATER) is None  # not node-a's any more
        after = store.failed("cb", "node-b", "busy", LATER)
        assert after is not None
        assert (after.attempts, after.outcomes, after.claimed_by) == (1, ("busy",), None)
        assert store.claim("cb", "node-a", soon, LATER) is None  # not due before its next attempt
        assert store.claim("cb", "node-a", LATER, LATER + timedelta(minutes=2)) is not None
        assert store.done("cb", "node-a", LATER)
        assert store.open() == []
        assert store.claim("cb", "node-b", LATER + timedelta(hours=1), LATER + timedelta(hours=2)) is None


def test_a_callback_not_made_is_emailed_as_such() -> None:
    message = Message("callback-c1", "1818", "22334455", T0, "", None, callback="2 forsøg: optaget, intet svar")
    mail = compose(message, ("a@kommune.dk",), "telefon@kommune.dk", ZoneInfo("Europe/Copenhagen"), "Opkr", None)
    assert mail["Subject"] == "Tilbagekald ikke gennemført på 1818: 22334455"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Vi forsøgte at ringe borgeren op, men fik ikke fat i dem: 2 forsøg: optaget, intet svar." in text
    assert "Ring op til:  22334455" in text
    assert "Optagelsen" not in text


def test_callrouter_at_says_that_the_line_offers_callbacks(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    printed = run("--schedule", str(path), "at", "2024-01-04T10:00", "--line", "1818")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[-1] == (
        "  callback: after 45 s in the queue a caller may press 7 to be called back and keep their place; called "
        "through PJSIP/{number}@trunk as 1818, 2 attempt(s) 15 min apart, then a message; callbacks still open "
        "when the phone hours end are made in the next phone hours"
    )
    closed = run("--schedule", str(path), "at", "2024-01-04T20:00", "--line", "1818", "--json")
    assert "callback" not in json.loads(closed.stdout)  # closed: nobody waits to be offered one


def test_a_caller_taken_up_after_a_restart_is_offered_when_it_is_due() -> None:
    call, commands = flow.resume_queued(
        flow.Call("c1", "1818", "22334455", T0), "bridge", max_wait_left=500, announce_seconds=0,
        closing_in_seconds=None, callback=("5", 12.5),
    )  # fmt: skip
    assert flow.StartTimer("callback-offer", 12.5) in commands
    _, commands = flow.step(call, flow.Digit("5"))
    assert plays(commands)[0][0] == "callback-your-number"
