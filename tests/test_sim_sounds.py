"""The simulated Asterisk's sounds: by language and format, read from a sounds directory as Asterisk
reads its own, and found by a play as Asterisk finds them (asterisk_sim/sounds.py). What a real
Asterisk 22 answers for the same is the fidelity tier's (tests/test_sim_fidelity.py, `sounds_*`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import aiohttp
import pytest

from asterisk_sim import Simulator
from asterisk_sim.sounds import Sounds


def sounds_folder(root: Path) -> Path:
    """A sounds directory as Debian's: languages at the top, one of them a link, sounds in sub-folders."""
    files = ["da/callrouter/goodbye.wav", "en_US_f_Allison/digits/1.gsm", "en_US_f_Allison/digits/1.ulaw"]
    files += ["en_US_f_Allison/core-sounds-en.txt", "en_US_f_Allison/digits/README", "da/callrouter/notes.doc"]
    files += ["stray.gsm"]  # not in a language folder: Asterisk's index does not list it
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    os.symlink("en_US_f_Allison", root / "en")
    return root


def test_a_folder_is_read_as_asterisk_reads_its_sounds_directory(tmp_path: Path) -> None:
    sounds = Sounds(sounds_folder(tmp_path))
    assert sounds.names() == ["callrouter/goodbye", "digits/1"]
    goodbye = {"id": "callrouter/goodbye", "formats": [{"language": "da", "format": "slin"}]}
    assert sounds.json("callrouter/goodbye") == goodbye
    formats = (sounds.json("digits/1") or {})["formats"]
    assert sorted((f["language"], f["format"]) for f in formats) == [
        ("en", "gsm"), ("en", "ulaw"), ("en_US_f_Allison", "gsm"), ("en_US_f_Allison", "ulaw"),
    ]  # fmt: skip
    assert sounds.listing("en", "ulaw") == [{"id": "digits/1", "formats": [{"language": "en", "format": "ulaw"}]}]
    assert [s["id"] for s in sounds.listing("da")] == ["callrouter/goodbye"]
    assert sounds.listing("da", "gsm") == []
    assert sounds.json("stray") is None
    assert "stray" not in sounds
    (tmp_path / "da" / "callrouter" / "welcome.wav").write_bytes(b"")  # read again at the next question
    assert "callrouter/welcome" in sounds
    assert sounds.json("../da/callrouter/goodbye") is None


def test_a_sounds_folder_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        Sounds(tmp_path / "no-such-folder")


def test_a_play_looks_in_its_language_then_without_its_dialect_then_in_english() -> None:
    sounds = Sounds()
    sounds.add("callrouter/goodbye", "da", "slin")
    sounds.add("hello-world", "en", "gsm")
    sounds.add("vm-intro", "en_US", "gsm")
    assert sounds.playable("callrouter/goodbye", "da")
    assert not sounds.playable("callrouter/goodbye", "en")  # a Danish prompt played without lang=da
    assert sounds.playable("hello-world", "da")  # English is the last resort
    assert sounds.playable("vm-intro", "en_US_f_Allison")  # en_US_f_Allison, en_US_f, en_US
    assert not sounds.playable("vm-intro", "en")
    assert not sounds.playable("no-such-sound", "en")


async def test_sounds_through_ari(tmp_path: Path) -> None:
    sim = Simulator("router", "secret", sounds=sounds_folder(tmp_path))
    await sim.start()
    auth = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{sim.url}/ari/sounds", params={"lang": "da"}) as answer:
                assert answer.status == 200
                assert [s["id"] for s in await answer.json()] == ["callrouter/goodbye"]
            async with http.get(f"{sim.url}/ari/sounds", params={"lang": "da", "format": "gsm"}) as answer:
                assert answer.status == 404
                assert await answer.json() == {"message": "No sounds found that matched the query"}
            async with http.get(f"{sim.url}/ari/sounds/callrouter%2Fgoodbye") as answer:
                assert (await answer.json())["formats"] == [{"language": "da", "format": "slin"}]
            async with http.post(f"{sim.url}/_sim/sounds", json={"names": ["hej"], "language": "da"}) as answer:
                assert answer.status == 204
            async with http.get(f"{sim.url}/ari/sounds/hej") as answer:
                assert (await answer.json())["formats"] == [{"language": "da", "format": "gsm"}]
    finally:
        await sim.stop()
