"""One safe form of a caller id (and of a caller's name) for each place it appears.

A caller id is whatever the caller's phone or the trunk sent: line breaks, control characters (NUL,
BEL, ESC, DEL), bidirectional overrides, zero-width characters, 10 kB strings, `../../` paths,
HTML. It is kept as it came, and each place it goes gets the form made for that place:

- The store and the API's JSON: `stored()`, the original, but for the two things no store can keep
  as text: a lone surrogate (no UTF-8 encoding has it) and NUL (PostgreSQL refuses it) become
  U+FFFD. The JSON gives back exactly what the store holds.
- Text a person reads (the e-mail's body, `callrouter messages list` at a terminal):
  `display()`. Every character that prints nothing or moves the text around gets a visible mark, so
  two different ids never look alike: a C0 control or DEL becomes its symbol from the U+2400 block
  (NUL ␀, CR ␍, LF ␊, ESC ␛, DEL ␡), every other control, format or separator character (C1 controls
  such as U+0085, U+2028, bidi overrides and isolates, zero-width spaces and joiners, the BOM) and
  anything unassigned or private becomes `⟨U+202E⟩`. At most DISPLAY_LIMIT characters; a longer one
  ends in `…`. The result has no line break and cannot reorder what follows it. HTML is not
  escaped here: a page escapes it as it escapes all text.
- An e-mail header (the Subject): `header()`, the display form, and a `?` right after `=` written
  `⟨U+003F⟩`: `=?` starts an RFC 2047 encoded word, which the mail library (and every mail
  program) would decode, so `=?utf-8?q?...?=` could otherwise stand for anything at all.
- The attachment's file name: `filename()`, ASCII letters, digits and `+` only; any run of other
  characters is one `_`; at most FILENAME_LIMIT characters; "skjult" when nothing is left. No dot
  or slash survives, so no path, and no mail program has to guess at an encoding.
- Log lines: `masked()`, personal data, so only the last two characters, in their display form,
  after at most MASK_LIMIT stars: one line, of bounded length, whatever came.
- Any other outside text in a log line (the name given at a failed sign-in): `display()` with a
  limit of its own.
"""

from __future__ import annotations

import re
import unicodedata

DISPLAY_LIMIT = 64
FILENAME_LIMIT = 32
MASK_LIMIT = 12

# Categories that print nothing, or change how the text around them is shown: controls, format
# characters (bidi, zero-width), line and paragraph separators, surrogates, private use, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NOT_IN_FILENAME = re.compile(r"[^A-Za-z0-9+]+")


def stored(text: str) -> str:
    """The caller id as the store keeps it (and the API gives it back)."""
    return _UNSTORABLE.sub("\ufffd", text)


def display(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """For a person to read: every hidden character made visible, on one line, at most `limit` long."""
    marks = [_visible(c) for c in text[: limit + 1]]  # each character shows as at least one
    if len(text) <= limit and sum(map(len, marks)) <= limit:
        return "".join(marks)
    shown, length = [], 0
    for mark in marks:
        if length + len(mark) > limit - 1:
            break
        shown.append(mark)
        length += len(mark)
    return "".join(shown) + "…"


def header(text: str) -> str:
    """For an e-mail header: as display(), and nothing a mail program would decode."""
    return display(text).replace("=?", "=⟨U+003F⟩")


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    if unicodedata.category(char) in _HIDDEN:
        return f"⟨U+{code:04X}⟩"
    return char


def filename(text: str) -> str:
    """For an attachment's file name: letters, digits and + only."""
    safe = _NOT_IN_FILENAME.sub("_", text).strip("_")[:FILENAME_LIMIT].strip("_")
    return safe or "skjult"


def dialled(line: str) -> str:
    """The dialled number in logs: it comes from the trunk as a caller id does, so on one line and short."""
    return display(line, 40)


def masked(number: str) -> str:
    """For a log line: only the last two characters (visible, as display() shows them)."""
    return "*" * min(max(0, len(number) - 2), MASK_LIMIT) + display(number[-2:])
