"""The console's safe HTML form of a caller id (router/web/shown.py), for any text a phone can send."""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from router.web import shown

# Control characters, bidi controls, zero-width ones and lone surrogates among ordinary text.
NASTY = st.text(
    st.one_of(
        st.characters(codec=None),
        st.sampled_from("\x00\x07\x1b\x7f\x85\u200b\u200e\u202a\u202e\u2066\u2069\u2028\ufeff\ud800\u3164 +0123456789"),
    ),
    max_size=200,
)
TAG = re.compile(r"<[^>]*>")


def shows(markup: str) -> str:
    """What a reader sees: the text without its tags, unescaped."""
    return html.unescape(TAG.sub("", markup))


@given(NASTY)
def test_whatever_a_caller_sends_shows_as_visible_characters_in_logical_order(caller: str) -> None:
    for markup in (str(shown.caller(caller)), str(shown.caller_whole(caller)), str(shown.name(caller))):
        markup.encode("utf-8")  # no lone surrogate left to break the page
        seen = shows(markup)
        assert all(shown.mark(c) is None for c in seen), ascii(seen)  # nothing invisible, no bidi control
    assert shows(str(shown.caller_whole(caller))) == "".join(shown.mark(c) or c for c in caller)
    text = shown.plain(caller)
    text.encode("utf-8")
    assert all(shown.mark(c) is None for c in text)


@given(NASTY, NASTY)
def test_two_different_caller_ids_never_look_alike_in_full(one: str, other: str) -> None:
    if one != other:
        assert str(shown.caller_whole(one)) != str(shown.caller_whole(other))


def test_the_marks_name_what_they_stand_for() -> None:
    assert shows(str(shown.caller("1234\x005678"))) == "1234NUL5678"
    assert shows(str(shown.caller("\u202e87654321"))) == "U+202E87654321"
    assert shown.plain("12\x1b[31m") == "12[ESC][31m"
    assert shows(str(shown.caller("4" * 10_240))) == "4" * shown.SHORT + "… (10.240 tegn)"
    assert str(shown.caller("<b>")) == '<bdi class="shown" dir="ltr">&lt;b&gt;</bdi>'
    assert 'dir="ltr"' not in str(shown.name("سارة"))  # a name keeps its own direction, isolated
    assert unicodedata.category(shows(str(shown.name("سارة")))[0]) == "Lo"
