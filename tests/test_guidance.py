"""What a closed caller hears: Danish guidance composed from the schedule, and its prompts as audio."""

from __future__ import annotations

import textwrap
import wave
from pathlib import Path

import pytest

from router.calls.guidance import closed_guidance, render, slug
from router.calls.prompts import build, load_manifest, missing_closure_prompts, missing_prompts
from router.schedule import Override, Schedule, decide, parse_schedule
from tests.conftest import local

MANIFEST = load_manifest()
HOURS = (
    "Vi har telefontid mandag til onsdag fra klokken 10 til 12, torsdag fra klokken 15 til 17 "
    "og fredag fra klokken 10 til 12."
)
ALTERNATIVES = (
    "Du kan skrive til os på e-mail opkraevning snabel-a example punktum dk. "
    "På Mit Betalingsoverblik kan du se dine fakturaer og hvad du skylder, og du kan sende os et forslag til en aftale."
)


def heard(schedule: Schedule, when: str, line: str = "1818", overrides: tuple[Override, ...] = ()) -> str:
    decision = decide(schedule, line, local(when), overrides)
    assert not decision.open
    texts = MANIFEST.texts_for(schedule, range(2023, 2027))
    return render(closed_guidance(schedule, line, decision, MANIFEST.texts), texts)


@pytest.mark.parametrize(
    ("when", "why", "again"),
    [
        ("2024-01-04T12:30", "Vi har lukket for telefonen lige nu.", "Vi har telefontid igen i dag klokken 15."),
        ("2024-01-08T12:00", "Vi har lukket for telefonen lige nu.", "Vi har telefontid igen i morgen klokken 10."),
        ("2024-01-05T13:00", "Vi har lukket for telefonen lige nu.", "Vi har telefontid igen mandag klokken 10."),
        (
            "2024-12-24T10:30",
            "Vi har lukket i dag på grund af Juleaftensdag.",
            "Vi har telefontid igen torsdag den anden januar klokken 15.",
        ),
        (
            "2024-01-01T10:30",
            "Vi har lukket i dag på grund af Nytårsdag.",
            "Vi har telefontid igen i morgen klokken 10.",
        ),
        (
            "2025-02-07T10:30",
            "Vi har lukket for telefonen, mens vi holder personalemøde.",
            "Vi har telefontid igen i dag klokken 11.",
        ),
    ],
)
def test_closed_guidance_in_danish(shipped: Schedule, when: str, why: str, again: str) -> None:
    assert heard(shipped, when) == f"{why} {HOURS} {again} {ALTERNATIVES}"


def test_guidance_tells_the_hours_that_apply_when_it_opens_again(shipped: Schedule) -> None:
    # Friday 29 December 2023, old hours; it opens again on 2 January under the new ones.
    text = heard(shipped, "2023-12-29T16:00")
    assert HOURS in text
    assert "Vi har telefontid igen tirsdag klokken 10." in text


def test_override_with_its_own_message_and_without(shipped: Schedule) -> None:
    sick = Override("1818", False, "staff_shortage", local("2024-01-08T08:00"), local("2024-01-09T12:00"))
    assert heard(shipped, "2024-01-08T10:30", overrides=(sick,)).startswith(
        "Vi har desværre lukket for telefonen på grund af sygdom. "
    )
    odd = Override("1818", False, "no_such_reason", local("2024-01-08T08:00"), local("2024-01-09T12:00"))
    assert heard(shipped, "2024-01-08T10:30", overrides=(odd,)).startswith("Vi har lukket for telefonen lige nu. ")


def test_half_hours_several_windows_and_dates_far_ahead() -> None:
    schedule = parse_schedule(
        textwrap.dedent(
            """\
            lines:
              x:
                versions:
                  - valid_from: 2024-01-01
                    hours:
                      mon-tue: ["08:00-09:30", "13:00-15:00"]
                      fri: "10:15-11:00"
                closures:
                  - {reason: training, from: 2024-01-08, to: 2024-01-19}
            """
        )
    )
    decision = decide(schedule, "x", local("2024-01-08T10:00"))
    text = render(closed_guidance(schedule, "x", decision), MANIFEST.texts)
    assert text == (
        "Vi har lukket for telefonen lige nu. "
        "Vi har telefontid mandag og tirsdag fra klokken 8 til 9.30 og fra klokken 13 til 15 og fredag fra klokken "
        "10.15 til 11. Vi har telefontid igen mandag den toogtyvende januar klokken 8."
    )


def test_no_opening_planned() -> None:
    schedule = parse_schedule("lines:\n  x:\n    versions: [{valid_from: 2024-01-01, hours: {}}]\n")
    decision = decide(schedule, "x", local("2024-06-01T10:00"))
    assert render(closed_guidance(schedule, "x", decision), MANIFEST.texts) == (
        "Vi har lukket for telefonen lige nu. Vi har ingen telefontid planlagt lige nu."
    )


def test_every_prompt_the_guidance_uses_exists(shipped: Schedule) -> None:
    assert missing_prompts(MANIFEST) == []
    assert missing_closure_prompts(shipped, MANIFEST) == []
    texts = MANIFEST.texts_for(shipped, range(2024, 2026))
    for day in range(1, 366, 3):
        for hour in (0, 9, 12, 16, 23):
            instant = local(f"2024-01-01T{hour:02d}:07") + (local("2024-01-02T00:00") - local("2024-01-01T00:00")) * day
            decision = decide(shipped, "1818", instant)
            if not decision.open:
                guidance = closed_guidance(shipped, "1818", decision, MANIFEST.texts)
                assert [p for p in guidance.prompts if p not in texts] == []


def test_slugs_are_plain_ascii() -> None:
    assert slug("Anden påskedag") == "anden-paaskedag"
    assert slug("Fredag efter Kristi himmelfartsdag") == "fredag-efter-kristi-himmelfartsdag"
    assert slug("1. maj") == "1-maj"
    assert slug("Nytårsaftensdag") == "nytaarsaftensdag"


def test_build_speaks_danish_into_8khz_wav_and_keeps_studio_recordings(tmp_path: Path) -> None:
    texts = {"goodbye": MANIFEST.texts["goodbye"], "num-12": "12", "studio": "this text is not spoken"}
    target = tmp_path / "da" / "callrouter"
    target.mkdir(parents=True)
    (target / "studio.wav").write_bytes(b"a studio recording")
    assert build(texts, tmp_path, "da", "da") == (2, 0, 1)
    with wave.open(str(target / "goodbye.wav")) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 8000 * 0.5  # "Tak for opkaldet. Farvel" is longer than half a second
    assert (target / "studio.wav").read_bytes() == b"a studio recording"
    assert build(texts, tmp_path, "da", "da") == (0, 2, 1)  # nothing to do the second time
    texts["num-12"] = "tolv"
    assert build(texts, tmp_path, "da", "da") == (1, 1, 1)  # a changed text is spoken again


def test_a_window_that_ends_at_midnight_ends_at_24() -> None:
    schedule = parse_schedule("lines:\n  x:\n    versions: [{valid_from: 2024-01-01, hours: {sat: '20:00-24:00'}}]\n")
    decision = decide(schedule, "x", local("2024-01-08T10:00"))
    text = render(closed_guidance(schedule, "x", decision), MANIFEST.texts)
    assert "Vi har telefontid lørdag fra klokken 20 til 24." in text
