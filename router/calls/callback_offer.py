"""The caller's side of a queue's callback, pure: the offer, choosing the number, the confirmation.

After the line's `offer_after_seconds` in the queue a caller hears that they can press the line's key to be
called back and keep their place. Pressed, they hear the number their call came from, digit by digit, and
press 1 to take it, or key in another and end it with #; a caller whose number is hidden (or not a Danish
number) keys one in. Bad or missing answers are asked for again, `Settings.callback_tries` times in all;
then the caller simply waits on. A number chosen is kept in the store (`RequestCallback`; the runtime
answers `CallbackSaved`), and only then does the caller hear that they keep their place and may hang up.

The caller stays in the queue all along: an agent who answers meanwhile is simply connected (flow.py).

    queued --key--> callback --1 (or a number and #)--> callback-saving --saved--> goodbye (hang up)
                       |  bad or no answer, too often                  |  not saved
                       +--> queued ("we cannot call you back")  <------+
"""

from __future__ import annotations

import re
from dataclasses import replace

from router.calls.flow_types import (
    Call,
    CallbackSaved,
    Command,
    Dialogue,
    Digit,
    Event,
    Play,
    PlaybackDone,
    RequestCallback,
    StartTimer,
    StopPlayback,
    Timeout,
)

_DANISH = re.compile(r"(?:\+45|0045)?([2-9][0-9]{7})")
OFFER_TIMER = "callback-offer"
INPUT_TIMER = "callback-input"
STATES = ("callback", "callback-saving")


def danish_number(text: str) -> str | None:
    """The eight digits of a Danish number (with or without +45 or 0045 before them), or None."""
    found = _DANISH.fullmatch(text.replace(" ", ""))
    return found.group(1) if found else None


def digits(number: str) -> tuple[str, ...]:
    return tuple(f"num-{d}" for d in number)


def offer_timer(seconds: float) -> StartTimer:
    return StartTimer(OFFER_TIMER, seconds)


def offer(call: Call) -> tuple[Call, list[Command]]:
    """The time to offer a callback came (in `queued`): say so, unless something else is being said."""
    if call.playback is not None:
        return call, [offer_timer(5.0)]  # after the announcement now playing
    assert call.callback_key is not None
    playback = f"{call.id}-callback-offer"
    prompts = ("callback-offer", f"num-{call.callback_key}", "callback-offer-end")
    return replace(call, playback=playback), [Play(playback, prompts)]


def begin(call: Call) -> tuple[Call, list[Command]]:
    """The caller pressed the key (in `queued`): the number to call them on."""
    stop: list[Command] = [StopPlayback(call.playback)] if call.playback else []
    dialogue = Dialogue(danish_number(call.caller) or "")
    call, commands = _ask(replace(call, state="callback", dialogue=dialogue))
    return call, [*stop, *commands]


def step(call: Call, event: Event) -> tuple[Call, list[Command]]:
    """The dialogue's states (`STATES`); a hangup, an agent and the queue's timeouts are flow.py's."""
    dialogue = call.dialogue
    assert dialogue is not None
    if call.state == "callback-saving":
        if isinstance(event, CallbackSaved):
            if event.ok:
                playback = f"{call.id}-goodbye"
                state = replace(call, state="goodbye", playback=playback, outcome="callback_requested")
                return state, [Play(playback, ("callback-confirmed",))]
            return _give_up(call)
        return call, []
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        return replace(call, playback=None), [StartTimer(INPUT_TIMER, call.settings.callback_input_seconds)]
    if isinstance(event, Timeout) and event.name == INPUT_TIMER:
        return _again(call, ())
    if not isinstance(event, Digit):
        return call, []
    stop: list[Command] = [StopPlayback(call.playback)] if call.playback else []
    call = replace(call, playback=None)
    if event.digit == "1" and not dialogue.typed and dialogue.number:
        return replace(call, state="callback-saving"), [*stop, RequestCallback(dialogue.number)]
    if event.digit == "#":
        number = danish_number(dialogue.typed)
        if number is None:
            call, commands = _again(call, ("callback-number-invalid",))
            return call, [*stop, *commands]
        call, commands = _ask(replace(call, dialogue=Dialogue(number, tries=dialogue.tries, prompts=dialogue.prompts)))
        return call, [*stop, *commands]
    if event.digit.isdigit() or event.digit == "+":
        typed = (dialogue.typed + event.digit)[-16:]  # a number, not a novel
        return replace(call, dialogue=replace(dialogue, typed=typed)), [*stop, StartTimer(INPUT_TIMER, 10.0)]
    return call, stop


def _ask(call: Call, first: tuple[str, ...] = ()) -> tuple[Call, list[Command]]:
    """Read the number back and ask for 1, or ask for one to be keyed in."""
    dialogue = call.dialogue
    assert dialogue is not None
    if dialogue.number:
        prompts = (*first, "callback-your-number", *digits(dialogue.number), "callback-confirm")
    else:
        prompts = (*first, "callback-enter-number")
    playback = f"{call.id}-callback-{dialogue.prompts + 1}"
    state = replace(call, playback=playback, dialogue=replace(dialogue, typed="", prompts=dialogue.prompts + 1))
    return state, [Play(playback, prompts)]


def _again(call: Call, first: tuple[str, ...]) -> tuple[Call, list[Command]]:
    """A bad or missing answer: ask again, or give up after too many."""
    assert call.dialogue is not None
    dialogue = replace(call.dialogue, tries=call.dialogue.tries + 1)
    if dialogue.tries >= call.settings.callback_tries:
        return _give_up(call)
    return _ask(replace(call, dialogue=dialogue), first)


def _give_up(call: Call) -> tuple[Call, list[Command]]:
    """No callback after all: the caller waits on in the queue, where they were."""
    playback = f"{call.id}-callback-off"
    state = replace(call, state="queued", playback=playback, dialogue=None)
    return state, [Play(playback, ("callback-not-possible",))]
