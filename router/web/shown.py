"""How the console's HTML shows text it did not write: a caller id or name, a sign-in name.

A caller id is whatever the caller's phone or the trunk sent: control characters, bidirectional
overrides, zero-width characters, 10 kB. Escaping keeps it from being HTML; these filters keep it
from misleading the reader:
- a character that would not show, or would change how other characters show, is a visible mark:
  a control character by its name (NUL, ESC, DEL), any other (a bidi override, a zero-width space,
  a lone surrogate, a line separator, an unusual space) by its code point, `U+202E`; so is U+FFFD,
  which the store keeps where a NUL or a lone surrogate came (office/caller_id.py: no store takes them).
  Two ids that differ only there look different, and no override can reorder the line;
- the value sits in <bdi> (dir=ltr for a number), so even its right-to-left letters cannot move the
  words around it;
- a long value shows its first SHORT characters and how long it is; the page shows the whole,
  wrapped, on request (messages.html), and CSS wraps even the short form on a phone.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

# The C0 control characters' names (ECMA-48), which any font can show, where the control pictures
# (U+2400...) are missing from many.
C0 = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR", "SO", "SI",
    "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)  # fmt: skip
SHORT = 40  # characters shown in a line; a Danish number has 8, an international one up to 15
# Letters and symbols that draw nothing, though Unicode does not call them format characters.
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
REPLACED = "\ufffd"  # what the store keeps for a NUL or a lone surrogate
HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def mark(char: str) -> str | None:
    """What stands for `char`, or None if it shows as itself."""
    code = ord(char)
    if code < 0x20:
        return C0[code]
    if code == 0x7F:
        return "DEL"
    category = unicodedata.category(char)
    if category in HIDDEN or char in BLANK or char == REPLACED or (category == "Zs" and char != " "):
        return f"U+{code:04X}"
    return None


def length(text: str) -> str:
    """`10.240 tegn`."""
    return f"{number(len(text))} tegn"


def number(count: int) -> str:
    """`10.240`, as Danish writes it."""
    return f"{count:,}".replace(",", ".")


# What a `tel:` link may dial: ASCII digits, a leading + at most, no longer than E.164 allows. Anything
# else a trunk sent (letters, a SIP URI, a bidi mark) is shown, never handed to a phone to dial.
DIALLABLE = re.compile(r"\+?[0-9]{1,15}", re.ASCII)


def phone_number(text: str) -> bool:
    return DIALLABLE.fullmatch(text) is not None


def too_long(text: str) -> bool:
    return len(text) > SHORT


def plain(text: str) -> str:
    """For an attribute (an aria-label): marks as text, cut at SHORT characters."""
    shown = "".join(f"[{m}]" if (m := mark(c)) else c for c in text[:SHORT])
    return f"{shown}… ({length(text)})" if too_long(text) else shown


def html(text: str, whole: bool = False, number: bool = True) -> Markup:
    """The value in <bdi>, each hidden character a marked <span>; cut at SHORT unless `whole`."""
    parts = []
    for char in text if whole else text[:SHORT]:
        shown = mark(char)
        parts.append(escape(char) if shown is None else Markup('<span class="ctl">{}</span>').format(shown))
    cut = "" if whole or not too_long(text) else Markup("…<span class='sub'> ({})</span>").format(length(text))
    direction = ' dir="ltr"' if number else ""
    return Markup(f'<bdi class="shown"{direction}>') + Markup("").join(parts) + cut + Markup("</bdi>")


def caller(text: str) -> Markup:
    return html(text)


def caller_whole(text: str) -> Markup:
    return html(text, whole=True)


def name(text: str) -> Markup:
    """A name (a caller's, or one typed at the sign-in): its own direction, as a name may be Arabic."""
    return html(text, number=False)


FILTERS = {
    "caller": caller,
    "caller_whole": caller_whole,
    "caller_text": plain,
    "name": name,
    "chars": length,
    "tal": number,
}
TESTS = {"too_long": too_long, "phone_number": phone_number}
