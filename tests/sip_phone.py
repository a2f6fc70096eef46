"""A real SIP phone for the tests: Debian's baresip, scripted through stdin, on loopback.

It speaks from a WAV file (baresip ends a call when that file ends, so make it long enough), and
records what it hears (`heard()`, baresip's sndfile module). Each phone takes its SIP port and the
next one: space phones' ports by 10.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import pytest

CONFIG = """\
poll_method		epoll
sip_listen		127.0.0.1:{port}
net_interface		127.0.0.1
audio_source		aufile,{microphone}
audio_player		aufile,{dir}/speaker.wav
audio_alert		aufile,{dir}/alert.wav
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
snd_path		{dir}/heard
"""


# Music on hold at the phone is louder than this (RMS, 0 to 1): of Debian's five tunes (asterisk-moh-
# opsound-gsm) the quietest second in their first 20 s is 0.0014 (robot_dity's very first), most are
# over 0.012, and any four seconds together over 0.014; a holding bridge without music gives the phone 0.
MUSIC = 0.005


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True)


def silence(path: Path, seconds: float) -> Path:
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds))
    return path


def tone(path: Path, hertz: int, seconds: float) -> Path:
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine", str(hertz), "vol", "0.5")
    return path


def stat(path: Path, *effects: str) -> dict[str, float]:
    """sox's `stat` of a WAV file, after optional effects (e.g. trim, sinc)."""
    result = subprocess.run(["sox", str(path), "-n", *effects, "stat"], capture_output=True, text=True, check=True)
    values = {}
    for line in result.stderr.splitlines():
        name, _, value = line.partition(":")
        try:
            values[name.strip()] = float(value.strip())
        except ValueError:
            continue
    return values


def loudness(path: Path, start: float, end: float) -> float:
    """The RMS amplitude (0 to 1) of what `path` holds from `start` to `end` seconds. Whatever of the
    stretch lies past the recording's end counts as silence: a phone that is sent no audio may record
    none."""
    length = stat(path)["Length (seconds)"]
    heard = max(0.0, min(end, length) - start)
    if heard == 0:
        return 0.0
    rms = stat(path, "trim", f"{start:.3f}", f"{heard:.3f}")["RMS     amplitude"]
    return float(rms * (heard / (end - start)) ** 0.5)


def tone_seconds(path: Path, hertz: int) -> list[float]:
    """The starts of the one-second stretches of `path` that are mostly a tone of `hertz`."""
    length = stat(path)["Length (seconds)"]
    found = []
    for start in range(int(length)):
        window = ("trim", str(start), "1")
        total = stat(path, *window)["RMS     amplitude"]
        band = stat(path, *window, "sinc", f"{hertz - 40}-{hertz + 40}")["RMS     amplitude"]
        if total > 0.02 and band > 0.8 * total:
            found.append(float(start))
    return found


class Phone:
    """`async with Phone(...) as phone:` a running baresip; `/quit` and wait on leaving."""

    def __init__(
        self, folder: Path, user: str, port: int, microphone: Path, *, auto_answer: bool = False, max_calls: int = 0
    ) -> None:
        """`max_calls`: more calls at once are refused (486 Max Calls); 0, baresip's default of 4."""
        self.folder, self.user, self.port, self.microphone = folder, user, port, microphone
        self.auto_answer, self.max_calls = auto_answer, max_calls
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Phone:
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed: run scripts/setup as root (Debian package baresip-core)")
        (self.folder / "heard").mkdir(parents=True, exist_ok=True)
        config = CONFIG.format(port=self.port, microphone=self.microphone, dir=self.folder)
        if self.max_calls:
            config += f"call_max_calls\t\t{self.max_calls}\n"
        (self.folder / "config").write_text(config, encoding="utf-8")
        answer = ";answermode=auto" if self.auto_answer else ""
        (self.folder / "accounts").write_text(f"<sip:{self.user}@127.0.0.1>;regint=0{answer}\n", encoding="utf-8")
        with self.screen.open("wb") as screen:  # the child keeps its own copy of the descriptor
            self.process = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(self.folder),
                stdin=asyncio.subprocess.PIPE, stdout=screen, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        await asyncio.sleep(1.0)  # baresip starts listening
        return self

    async def send(self, text: str) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        await self.process.stdin.drain()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            await self.send("/quit\n")
            await asyncio.wait_for(process.wait(), 5)
        except (TimeoutError, ConnectionError):
            process.kill()
            await process.wait()

    @property
    def screen(self) -> Path:
        """What baresip prints (its stdout), as a file."""
        return self.folder / "screen.txt"

    def shown(self) -> str:
        """What the phone has shown so far: an incoming call and its caller, the call's states."""
        return self.screen.read_text(encoding="utf-8", errors="replace") if self.screen.exists() else ""

    def heard(self) -> list[Path]:
        """The recordings of what this phone heard, one per call, oldest first."""
        return sorted((self.folder / "heard").glob("*-dec.wav"))
