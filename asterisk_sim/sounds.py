"""The sounds a simulated Asterisk knows, by language and format, as Asterisk's sounds index has them.

Asterisk reads its sounds directory whenever ARI asks about sounds (main/sounds.c, main/media_index.c),
and looks for a sound's file when it plays it. Every folder at the directory's top is a language (`en`,
`en_US_f_Allison`, `da`, and whatever else lives there), and every file below one, in sub-folders too, is
a sound named by its path without the extension (`digits/1`), in the format its extension says (`.gsm`
gsm, `.wav` slin, `.ulaw` ulaw; main/file.c asks the format modules). A file with an extension no format
module claims is not a sound.

A play finds a sound by the playback's language (the `lang` asked, else the channel's): that language,
then the same without its last `_` part, and so on (`en_US_f_Allison`, `en_US_f`, `en_US`, `en`), then
English (main/file.c, fileexists_core; the step "outside any language folder" has no sounds here, since
the index, and so the simulator, knows only those inside one). So an application that plays a Danish
prompt without `lang=da` to an English channel hears nothing on a real Asterisk, and here too.

`GET /sounds` filters by language and format and answers 404 "No sounds found that matched the query"
when nothing is left (res/ari/resource_sounds.c), not an empty list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from asterisk_sim.answers import Json

# File extension -> the format Asterisk 22's format modules (formats/format_*.c) give such a file.
FORMAT_OF_EXTENSION = {
    "gsm": "gsm",
    "WAV": "gsm",
    "wav49": "gsm",
    "wav": "slin",
    "wav16": "slin16",
    "sln": "slin",
    "slin": "slin",
    "raw": "slin",
    **{f"sln{rate}": f"slin{rate}" for rate in (12, 16, 24, 32, 44, 48, 96, 192)},
    "ulaw": "ulaw",
    "ul": "ulaw",
    "mu": "ulaw",
    "ulw": "ulaw",
    "pcm": "ulaw",
    "au": "ulaw",
    "alaw": "alaw",
    "al": "alaw",
    "alw": "alaw",
    "g722": "g722",
    "g729": "g729",
    "g723": "g723",
    "g723sf": "g723",
    **{f"g726-{rate}": "g726" for rate in (16, 24, 32, 40)},
    "ilbc": "ilbc",
    "ogg": "slin",
    "spx": "speex",
    "spx16": "speex16",
    "spx32": "speex32",
    "vox": "adpcm",
    "g719": "g719",
    "siren7": "siren7",
    "siren14": "siren14",
    "h263": "h263",
    "h264": "h264",
}
DEFAULT_LANGUAGE = "en"


class Sounds:
    """Sound name -> language -> the formats it is there in: those added (the control API, `add`) and,
    with a `folder`, the files in it, read again at each question as Asterisk reads its directory."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is not None and not folder.is_dir():  # a mistyped path would make every play fail
            raise NotADirectoryError(f"sounds: {folder} is not a directory")
        self.folder = folder
        self._added: dict[str, dict[str, list[str]]] = {}
        self._seconds: dict[str, float] = {}  # how long a sound plays, where a harness said so

    def add(self, name: str, language: str = DEFAULT_LANGUAGE, fmt: str = "gsm", seconds: float | None = None) -> None:
        _note(self._added, name, language, fmt)
        if seconds is not None:
            self._seconds[name] = seconds

    def update(
        self, names: Iterable[str], language: str = DEFAULT_LANGUAGE, fmt: str = "gsm", seconds: float | None = None
    ) -> None:
        for name in names:
            self.add(name, language, fmt, seconds)

    def seconds(self, name: str) -> float | None:
        """How long `name` plays, if it was given a length of its own (else every sound plays the
        simulator's `sound_seconds`: its files' lengths are not read, so tests stay quick)."""
        return self._seconds.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._all(name)

    def names(self) -> list[str]:
        return sorted(self._all())

    def playable(self, name: str, language: str) -> bool:
        """Whether a play in `language` finds `name` (main/file.c's order, above)."""
        variants = self._all(name).get(name, {})
        tried = language
        while tried:
            if tried in variants:
                return True
            tried = tried.rpartition("_")[0]
        return DEFAULT_LANGUAGE in variants

    def json(self, name: str) -> Json | None:
        """The Sound as ARI shows it (GET /sounds/{id}); None if there is no such sound."""
        return _sound(name, self._all(name).get(name, {}), None, None)

    def listing(self, language: str | None = None, fmt: str | None = None) -> list[Json]:
        """GET /sounds: every sound, with only its variants in `language` and `fmt` when they are
        given; a sound with none left is not listed."""
        every = self._all()
        return [s for name in sorted(every) if (s := _sound(name, every[name], language, fmt)) is not None]

    def _all(self, only: str | None = None) -> dict[str, dict[str, list[str]]]:
        """What was added, and what the folder holds now (only sound `only`'s files, if given)."""
        if self.folder is None:
            return self._added
        found = {name: {lang: list(formats) for lang, formats in v.items()} for name, v in self._added.items()}
        for name, language, fmt in _read(self.folder, only):
            _note(found, name, language, fmt)
        return found


def _sound(name: str, variants: dict[str, list[str]], language: str | None, fmt: str | None) -> Json | None:
    formats = [
        {"language": lang, "format": f}
        for lang, found in variants.items()
        if not language or lang == language
        for f in found
        if not fmt or f == fmt
    ]
    return {"id": name, "formats": formats} if formats else None


def _note(variants: dict[str, dict[str, list[str]]], name: str, language: str, fmt: str) -> None:
    formats = variants.setdefault(name, {}).setdefault(language, [])
    if fmt not in formats:
        formats.append(fmt)


def _read(folder: Path, only: str | None) -> Iterator[tuple[str, str, str]]:
    """(name, language, format) of each sound file in `folder`'s language folders, links followed."""
    try:
        languages = sorted(os.listdir(folder))
    except OSError:
        return
    for language in languages:
        top = folder / language
        if not top.is_dir():  # follows a symbolic link, as Asterisk's stat() does
            continue
        start = top
        if only and "/" in only and ".." not in only.split("/") and not only.startswith("/"):
            start = top / only.rpartition("/")[0]  # a sound's own folder is enough
        for here, _, files in os.walk(start, followlinks=True):
            for file in files:
                stem, dot, extension = file.rpartition(".")
                fmt = FORMAT_OF_EXTENSION.get(extension) if dot and stem else None
                name = f"{Path(here).relative_to(top).as_posix()}/{stem}".removeprefix("./")
                if fmt is not None and (only is None or name == only):
                    yield name, language, fmt
