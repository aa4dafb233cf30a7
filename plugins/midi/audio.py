"""WAV output for the midi domain: FluidSynth with a General MIDI soundfont when both are
installed, else pretty_midi's sine synthesis. Either way the audio is cut to the music plus a
short release (with a fade, so the cut does not click) and peak-normalised to -1 dBFS."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from seqgen_plugins.midi.io import Piece, to_pretty_midi

from seqgen.errors import SeqgenError
from seqgen.io import atomic_path

SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
)
PEAK_DBFS = -1.0  # the loudest sample of every WAV written
RELEASE = 0.5  # seconds kept after the last note ends
FADE = 0.05  # seconds of fade-out before the cut


def find_soundfont() -> str | None:
    """``$SEQGEN_SOUNDFONT`` if it names a file, else the first GM soundfont installed."""
    given = os.environ.get("SEQGEN_SOUNDFONT")
    if given and Path(given).is_file():
        return given
    return next((p for p in SOUNDFONTS if Path(p).is_file()), None)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(samples as float in -1..1, shape (n, channels); rate) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SeqgenError(f"{path}: {8 * w.getsampwidth()}-bit WAV, expected 16-bit")
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels, rate = w.getnchannels(), w.getframerate()
    return raw.reshape(-1, channels).astype(np.float64) / 32768.0, rate


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Float samples (n, channels) in -1..1 as 16-bit PCM, atomically."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def master(audio: np.ndarray, rate: int, music_end: float) -> np.ndarray:
    """``audio`` (n, channels) cut ``RELEASE`` seconds after ``music_end``, faded out over the
    last ``FADE`` seconds, and scaled so its peak is ``PEAK_DBFS`` (silence stays silent)."""
    keep = min(len(audio), int(round((music_end + RELEASE) * rate)))
    out = np.array(audio[:keep], dtype=np.float64)
    fade = min(len(out), int(FADE * rate))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > 0:
        out *= 10 ** (PEAK_DBFS / 20) / peak
    return out


def write_audio(piece: Piece, path: Path, rate: int = 22050) -> str:
    """Render ``piece`` to a WAV at ``path``; returns which synthesiser was used."""
    fluid, sf2 = shutil.which("fluidsynth"), find_soundfont()
    end = max((n.end for n in piece.notes), default=0.0)
    if fluid and sf2:
        with tempfile.TemporaryDirectory() as d:
            mid, raw = Path(d) / "piece.mid", Path(d) / "raw.wav"
            to_pretty_midi(piece).write(str(mid))
            cmd = [fluid, "-ni", "-q", "-T", "wav", "-O", "s16", "-F", str(raw), "-r", "44100"]
            done = subprocess.run([*cmd, sf2, str(mid)], capture_output=True, text=True,
                                  timeout=600)  # fmt: skip
            if done.returncode != 0 or not raw.is_file() or not raw.stat().st_size:
                raise SeqgenError(f"{path}: fluidsynth failed: {done.stderr.strip()[:200]}")
            audio, got_rate = read_wav(raw)
        write_wav(path, master(audio, got_rate, end), got_rate)
        return f"rendered with FluidSynth and {sf2}"
    audio = to_pretty_midi(piece).synthesize(fs=rate)  # sine waves; drums are silent here
    write_wav(path, master(np.asarray(audio, dtype=np.float64)[:, None], rate, end), rate)
    why = "fluidsynth not installed" if not fluid else "no General MIDI soundfont found"
    hint = "apt install fluidsynth fluid-soundfont-gm for real instruments"
    return f"rendered with pretty_midi's sine synthesis ({why}; {hint})"
