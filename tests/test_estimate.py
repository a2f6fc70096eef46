"""The wait estimate (router/calls/estimate.py): the rules in its docstring, as tables and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.calls.estimate import Estimate, estimate_wait, spoken, words

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def every(minutes: float, count: int, last_ago: float = 0) -> list[datetime]:
    """`count` answers `minutes` apart, the newest `last_ago` minutes before NOW."""
    newest = NOW - timedelta(minutes=last_ago)
    return [newest - timedelta(minutes=minutes * i) for i in range(count)]


@pytest.mark.parametrize(
    ("answers", "place", "expected"),
    [
        (every(2, 5), 1, Estimate(2)),
        (every(2, 5), 3, Estimate(6)),  # three callers taken, two minutes apart
        (every(2, 5), 5, Estimate(10)),
        (every(2, 5), 6, Estimate(10)),  # 12 minutes: to the nearest five
        (every(2, 5), 7, Estimate(15)),
        (every(2, 5), 15, Estimate(30)),
        (every(2, 5), 16, Estimate(30)),  # 32 minutes: about half an hour
        (every(2, 5), 17, Estimate(30, more=True)),  # 34: over half an hour
        (every(0.1, 5), 1, Estimate(1)),  # six seconds: never "0 minutes"
        (every(2, 3), 1, Estimate(2)),  # three answers are enough
        (every(2, 2), 1, None),  # two are too few
        ([], 1, None),
        (every(2, 5, last_ago=31), 1, None),  # the newest is over half an hour old: they may be at lunch
        (every(2, 5, last_ago=29), 1, Estimate(2)),
        (every(20, 5), 1, Estimate(20)),  # 0, 20 and 40 minutes ago count; 60 and 80 do not
        ([*every(1, 4), NOW - timedelta(minutes=50)], 2, Estimate(2)),  # one quiet spell does not sway the median
        ([*every(2, 5), NOW + timedelta(minutes=1)], 1, Estimate(2)),  # none from the future
        ([*every(2, 2), NOW - timedelta(minutes=61), NOW - timedelta(minutes=63)], 1, None),  # older than an hour
    ],
)
def test_the_estimate_follows_the_rules(answers: list[datetime], place: int, expected: Estimate | None) -> None:
    assert estimate_wait(answers, NOW, place) == expected


@pytest.mark.parametrize(
    ("seconds", "expected", "said"),
    [
        (0, Estimate(1), "omkring 1 minut"),
        (89, Estimate(1), "omkring 1 minut"),
        (90, Estimate(2), "omkring 2 minutter"),
        (629, Estimate(10), "omkring 10 minutter"),
        (750, Estimate(15), "omkring 15 minutter"),
        (1800, Estimate(30), "omkring 30 minutter"),
        (2000, Estimate(30, more=True), "over en halv time"),
    ],
)
def test_a_wait_is_said_as_a_person_would(seconds: float, expected: Estimate, said: str) -> None:
    assert spoken(seconds) == expected
    assert expected.danish() == said


def test_the_caller_hears_it_in_pieces_the_manifest_has() -> None:
    assert words(Estimate(1)) == ("queue-estimate", "num-1", "queue-estimate-minute")
    assert words(Estimate(25)) == ("queue-estimate", "num-25", "queue-estimate-minutes")
    assert words(Estimate(30, more=True)) == ("queue-estimate-long",)


seconds_ago = st.integers(min_value=-300, max_value=7200)


@given(st.lists(seconds_ago, max_size=30), st.integers(min_value=1, max_value=60))
def test_further_back_never_hears_less_and_never_a_negative_or_zero_wait(ago: list[float], place: int) -> None:
    answers = [NOW - timedelta(seconds=s) for s in ago]
    here, behind = estimate_wait(answers, NOW, place), estimate_wait(answers, NOW, place + 1)
    assert (here is None) == (behind is None), "whether there is enough to go on does not depend on the place"
    if here is not None and behind is not None:
        assert here.minutes >= 1
        assert (here.more, here.minutes) <= (behind.more, behind.minutes)


@given(st.lists(seconds_ago, max_size=30), st.integers(min_value=1, max_value=60))
def test_nothing_is_said_on_too_little_or_old_data(ago: list[float], place: int) -> None:
    counted = [s for s in ago if 0 <= s <= 3600]
    estimate = estimate_wait([NOW - timedelta(seconds=s) for s in ago], NOW, place)
    if len(counted) < 3 or min(counted) > 1800:
        assert estimate is None
    else:
        assert estimate is not None
