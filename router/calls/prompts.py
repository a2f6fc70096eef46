"""The prompt manifest, the prompts a schedule adds to it, and the build into Asterisk-ready audio.

Reading is pure; `build()` is the one place that runs espeak-ng and sox. Output goes to
<out>/<language>/callrouter/<name>.wav (8 kHz, mono, 16-bit), so that <out> can be Asterisk's sounds
directory and a channel with language `da` finds `sound:callrouter/<name>`. Each made file has a
sidecar <name>.txt holding the text it was made from: a file without one is a studio recording,
and the build never overwrites it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import yaml

from router.calls.guidance import MONTHS, slug
from router.schedule import WEEKDAYS, Schedule

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "prompts" / "manifest.yaml"


class PromptError(Exception):
    """A manifest that cannot be used, or a build that failed."""


@dataclass(frozen=True)
class Manifest:
    language: str
    voice: str
    texts: dict[str, str]

    def texts_for(self, schedule: Schedule, years: range) -> dict[str, str]:
        """Every prompt text: the schedule's names and e-mails, then the manifest's (which win)."""
        return {**schedule_prompts(schedule, years), **self.texts}


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise PromptError(f"{path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise PromptError(f"{path}: expected `prompts:` with a name and a text on each line")
    texts = {}
    for name, text in data["prompts"].items():
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"{path}: prompt {name!r} needs a text")
        texts[str(name)] = text.strip()
    return Manifest(str(data.get("language", "da")), str(data.get("voice", "da")), texts)


def schedule_prompts(schedule: Schedule, years: range) -> dict[str, str]:
    """Prompts whose text comes from the schedule: holiday, closing-day and closure names; e-mails."""
    found: dict[str, str] = {}
    for line in schedule.lines.values():
        if line.email:
            spoken = line.email.replace("@", " snabel-a ").replace(".", " punktum ")
            found[f"email-{slug(line.id)}"] = " ".join(spoken.split())
        for special in line.specials:
            if special.name:
                found[f"name-{slug(special.name)}"] = special.name
        if line.public_holidays is not None:
            for year in years:
                day = date(year, 1, 1)
                while day.year == year:
                    if name := line.public_holidays.name_on(day):
                        found[f"name-{slug(name)}"] = name
                    day += timedelta(days=1)
    for special in schedule.closing_days:
        if special.name:
            found[f"name-{slug(special.name)}"] = special.name
    return found


def missing_closure_prompts(schedule: Schedule, manifest: Manifest) -> list[str]:
    """Closure reasons with no message of their own (callers then hear the general one)."""
    reasons = {s.reason for line in schedule.lines.values() for s in line.specials if not s.open}
    return sorted(f"closure-{r}" for r in reasons if f"closure-{r}" not in manifest.texts)


def missing_prompts(manifest: Manifest) -> list[str]:
    """Prompts the guidance or the queue may ask for that the manifest lacks: each would be a silent gap."""
    fixed = [
        "closed-now", "closed-today-because", "hours-intro", "open-again", "no-hours-planned", "from-clock",
        "at-clock", "to", "and", "the", "today", "tomorrow", "write-email", "self-service", "offer-message",
        "record-after-beep", "message-saved", "message-not-saved", "goodbye", "welcome", "line-unknown",
        "queue-position", "queue-position-end", "queue-position-many", "queue-overflow", "queue-closing",
        "queue-estimate", "queue-estimate-minute", "queue-estimate-minutes", "queue-estimate-long",
    ]  # fmt: skip
    pieces = (
        fixed
        + [f"day-{d}" for d in WEEKDAYS]
        + [f"num-{n}" for n in range(25)]  # 24: a window that ends at midnight
        + ["num-25", "num-30"]  # wait estimates (router/calls/estimate.py)
        + [f"min-{n:02d}" for n in range(1, 60)]
        + [f"ordinal-{n}" for n in range(1, 32)]
        + [f"month-{m}" for m in MONTHS]
    )
    return [p for p in pieces if p not in manifest.texts]


def build(texts: dict[str, str], out: Path, language: str, voice: str) -> tuple[int, int, int]:
    """Speak every text into out/<language>/callrouter/<name>.wav. Returns (made, up to date, recorded)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed (Debian: apt-get install espeak-ng sox)")
    target = out / language / "callrouter"
    target.mkdir(parents=True, exist_ok=True)
    made = current = recorded = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in sorted(texts.items()):
            wav, sidecar = target / f"{name}.wav", target / f"{name}.txt"
            if wav.exists() and not sidecar.exists():
                recorded += 1  # a studio recording: never overwritten
                continue
            if wav.exists() and sidecar.read_text(encoding="utf-8") == text:
                current += 1
                continue
            raw = Path(tmp) / "raw.wav"
            _run(["espeak-ng", "-v", voice, "-w", str(raw), text])
            _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav)])
            sidecar.write_text(text, encoding="utf-8")
            made += 1
    return made, current, recorded


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PromptError(f"{command[0]} failed: {result.stderr.strip()}")
