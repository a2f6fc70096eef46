"""What a caller says, as audio, and what a recording of them then holds (the control API's `say`).

A harness gives a caller a WAV file to say (8 kHz, mono, 16-bit: what Asterisk's `wav` format holds);
the caller starts saying it at once, talks for its length, and is silent after it. A recording of the
channel holds, on its own timeline, the part of the speech said while it ran, silence elsewhere, and
silence where it was muted (a paused span is kept as silence too: the simulator does not cut it out, as
Asterisk's file would). Pure functions of bytes and times: the world keeps the clock.
"""

from __future__ import annotations

import io
import wave

RATE = 8000  # samples a second
WIDTH = 2  # bytes a sample


class NotSpeech(ValueError):
    """A file a caller cannot say: not a WAV file, or not 8 kHz, mono, 16-bit."""


def samples_of(data: bytes) -> bytes:
    """The PCM samples of a WAV file a caller is to say."""
    try:
        with wave.open(io.BytesIO(data)) as audio:
            shape = (audio.getframerate(), audio.getnchannels(), audio.getsampwidth())
            if shape != (RATE, 1, WIDTH):
                rate, channels, width = shape
                raise NotSpeech(
                    f"a caller says 8000 Hz, mono, 16-bit WAV (got {rate} Hz, {channels} channel(s), {8 * width}-bit);"
                    " convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav"
                )
            samples: bytes = audio.readframes(audio.getnframes())
            return samples
    except (wave.Error, EOFError) as e:
        raise NotSpeech(f"not a WAV file: {e}") from e


def seconds_of(samples: bytes) -> float:
    return len(samples) / (RATE * WIDTH)


def wav(samples: bytes) -> bytes:
    """A WAV file of 8 kHz, mono, 16-bit samples."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(WIDTH)
        audio.setframerate(RATE)
        audio.writeframes(samples)
    return out.getvalue()


def recorded(began: float, ended: float, speech: bytes, said_at: float, muted: list[tuple[float, float]]) -> bytes:
    """The samples a recording from `began` to `ended` holds of `speech` said from `said_at`, with the
    `muted` spans (start, end) silent."""
    length = _index(ended - began)
    out = bytearray(length * WIDTH)
    start = _index(said_at - began)  # negative: the caller had begun before the recording did
    first = max(0, -start)
    last = min(len(speech) // WIDTH, length - start)
    if last > first:
        out[(start + first) * WIDTH : (start + last) * WIDTH] = speech[first * WIDTH : last * WIDTH]
    for mute_start, mute_end in muted:
        a, b = max(0, _index(mute_start - began)), min(length, _index(mute_end - began))
        if b > a:
            out[a * WIDTH : b * WIDTH] = bytes((b - a) * WIDTH)
    return bytes(out)


def _index(seconds: float) -> int:
    return round(seconds * RATE)
