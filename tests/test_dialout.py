"""The "Ring op" state machine (calls/dialout.py): every state and event, as a table."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from router.calls import dialout
from router.calls.dialout import (
    Answered,
    Attempt,
    Bridge,
    DestroyBridge,
    Ended,
    Finished,
    Greet,
    Greeted,
    HangUp,
    Originate,
    Ring,
    StopRinging,
)
from tests.conftest import local

T0 = local("2024-01-04T13:00")
A = Attempt("d1", "m1", "anna", "PJSIP/agent1", "PJSIP/12345678@trunk", "12345678", "1818", 45, T0)
STAFF, CITIZEN, BRIDGE = "d1-staff", "d1-citizen", "d1-bridge"


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def run(*events: dialout.Event, attempt: Attempt = A) -> tuple[Attempt, list[list[dialout.Command]]]:
    attempt, first = dialout.start(attempt)
    seen = [first]
    for event in events:
        attempt, commands = dialout.step(attempt, event)
        seen.append(commands)
    return attempt, seen


def test_start_rings_the_staff_phone_showing_the_citizens_number() -> None:
    _, [commands] = run()
    assert commands == [Originate(STAFF, "PJSIP/agent1", ("dialout", "d1", "staff"), 30, '"Ring op" <12345678>')]


def test_staff_answers_then_citizen_answers_then_they_talk_until_one_hangs_up() -> None:
    attempt, seen = run(Answered("staff", T0 + at(2)), Answered("citizen", T0 + at(9)), Ended("citizen", T0 + at(72)))
    assert seen[1] == [
        Originate(CITIZEN, "PJSIP/12345678@trunk", ("dialout", "d1", "citizen"), 45, '"1818" <1818>'),
        Ring(STAFF),
    ]
    assert seen[2] == [StopRinging(STAFF), Bridge(BRIDGE, (STAFF, CITIZEN))]  # she hears the citizen, not ringing
    assert seen[3] == [HangUp(STAFF), DestroyBridge(BRIDGE), Finished()]
    assert (attempt.state, attempt.outcome, attempt.seconds) == ("done", "talked", 63.0)


@pytest.mark.parametrize(
    ("events", "outcome", "tidy"),
    [
        ([Ended("staff", T0 + at(30), cause=19)], "staff-unanswered", []),
        ([Ended("staff", T0 + at(1), cause=17)], "staff-unanswered", []),
        ([Answered("staff", T0), Ended("citizen", T0 + at(3), cause=17)], "busy", [HangUp(STAFF)]),
        ([Answered("staff", T0), Ended("citizen", T0 + at(45), cause=19)], "no-answer", [HangUp(STAFF)]),
        ([Answered("staff", T0), Ended("citizen", T0 + at(1), cause=0)], "no-answer", [HangUp(STAFF)]),
        ([Answered("staff", T0), Ended("staff", T0 + at(5))], "cancelled", [HangUp(CITIZEN)]),
        (
            [Answered("staff", T0), Answered("citizen", T0), Ended("staff", T0 + at(5))],
            "talked",
            [HangUp(CITIZEN), DestroyBridge(BRIDGE)],
        ),
    ],
)
def test_every_way_an_attempt_ends(events: list[dialout.Event], outcome: str, tidy: list[dialout.Command]) -> None:
    attempt, seen = run(*events)
    assert (attempt.state, attempt.outcome) == ("done", outcome)
    assert seen[-1] == [*tidy, Finished()]


GREETED = replace(A, greeting=("callback-citizen-greeting",))  # a queue's callback


def test_a_callbacks_citizen_hears_the_greeting_alone_and_only_then_is_bridged() -> None:
    events = (
        Answered("staff", T0),
        Answered("citizen", T0 + at(9)),
        Greeted(T0 + at(12)),
        Ended("citizen", T0 + at(70)),
    )
    attempt, seen = run(*events, attempt=GREETED)
    assert seen[2] == [Greet(CITIZEN, "d1-greeting", ("callback-citizen-greeting",))]  # the agent still hears ringing
    assert seen[3] == [StopRinging(STAFF), Bridge(BRIDGE, (STAFF, CITIZEN))]
    assert seen[4] == [HangUp(STAFF), DestroyBridge(BRIDGE), Finished()]
    assert (attempt.state, attempt.outcome, attempt.seconds) == ("done", "talked", 61.0)  # from the answer on


@pytest.mark.parametrize(("leg", "other"), [("staff", CITIZEN), ("citizen", STAFF)])
def test_an_end_during_the_greeting_ends_it_the_citizen_was_reached(leg: dialout.Leg, other: str) -> None:
    attempt, seen = run(
        Answered("staff", T0), Answered("citizen", T0 + at(9)), Ended(leg, T0 + at(10)), attempt=GREETED
    )
    assert (attempt.state, attempt.outcome) == ("done", "talked")
    assert seen[-1] == [HangUp(other), Finished()]  # no bridge to destroy: there was none
    assert dialout.step(attempt, Greeted(T0 + at(12))) == (attempt, [])  # the greeting's end, late


def test_without_a_greeting_a_greeted_event_changes_nothing() -> None:
    attempt, _ = run(Answered("staff", T0), Answered("citizen", T0))
    assert attempt.state == "talking"
    assert dialout.step(attempt, Greeted(T0)) == (attempt, [])


def test_an_end_reported_twice_or_an_answer_after_the_end_changes_nothing() -> None:
    attempt, _ = run(Answered("staff", T0), Ended("citizen", T0 + at(3), cause=17))
    for late in (Ended("citizen", T0 + at(4)), Ended("staff", T0 + at(4)), Answered("citizen", T0 + at(5))):
        assert dialout.step(attempt, late) == (attempt, [])


def test_the_legs_ids_are_never_prefixes_of_one_another() -> None:
    """Asterisk finds an originate's channel id by prefix: `d1-staff` must not match `d1-staff-...`."""
    ids = [A.staff_leg, A.citizen_leg, A.bridge]
    assert not any(a != b and b.startswith(a) for a in ids for b in ids)
