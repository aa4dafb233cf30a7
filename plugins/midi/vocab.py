"""The midi domain's fixed vocabulary: token ranges, the bins for velocity, tempo and metre,
the time grids, and MidiClock, which measures a stream in seconds and bars."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from seqgen_plugins.midi.io import DEFAULT_TEMPO

from seqgen.errors import OptionError
from seqgen.tokenizer import Clock

EOD = 0
ON = 1  # 128 pitches: note-on (performance) or "sounds in this frame" (frames)
OFF = ON + 128  # 128 note-offs
SHIFT = OFF + 128  # time shifts of 1..100 steps of 10 ms
N_SHIFT = 100
VEL = SHIFT + N_SHIFT  # 32 velocity bins
N_VEL = 32
PROG = VEL + N_VEL  # programs 0-127 and 128 = drums
N_PROG = 129
FRAME = PROG + N_PROG  # end of a frame
TEMPO = FRAME + 1  # 32 tempo bins, log-spaced 30-300 BPM
N_TEMPO = 32
TS = TEMPO + N_TEMPO  # time signatures: numerator 1-16 x denominator in DENS
DENS = (1, 2, 4, 8, 16, 32)
N_TS = 16 * len(DENS)
VOCAB = TS + N_TS

STEP = 0.01  # seconds per time-shift step
TEMPO_EDGES = np.geomspace(30.0, 300.0, N_TEMPO + 1)
GRIDS = {
    "32nd": 0.125,
    "16th": 0.25,
    "8th": 0.5,
    "eighth": 0.5,
    "quarter": 1.0,
    "half": 2.0,
    "16th-triplet": 1 / 6,
    "8th-triplet": 1 / 3,
}
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def parse_grid(text: str) -> float:
    """Quarter notes per frame from a name (16th, 8th, quarter, ...) or a positive number."""
    text = str(text).strip().lower()
    if text in GRIDS:
        return GRIDS[text]
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 16:
        raise OptionError(
            f"option grid={text!r}: use {', '.join(GRIDS)} or a number of quarter notes"
        )
    return value


def vel_bin(velocity: int) -> int:
    return min(max(int(velocity), 0), 127) * N_VEL // 128


def bin_vel(b: int) -> int:
    return b * (128 // N_VEL) + (128 // N_VEL) // 2


def tempo_bin(bpm: float) -> int:
    return int(np.clip(np.searchsorted(TEMPO_EDGES, bpm) - 1, 0, N_TEMPO - 1))


def bin_tempo(b: int) -> float:
    return round(float(np.sqrt(TEMPO_EDGES[b] * TEMPO_EDGES[b + 1])), 2)


def ts_token(num: int, den: int) -> int | None:
    if not 1 <= num <= 16 or den not in DENS:
        return None  # outside the vocabulary: dropped (and dropped from the reference too)
    return TS + (num - 1) * len(DENS) + DENS.index(den)


def pitch_name(p: int) -> str:
    return f"{NAMES[p % 12]}{p // 12 - 1}"


def _canon_ts(sigs: Iterable[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    """Time signatures at quantised positions: representable ones only, the last one at a
    position wins, and a repeat of the current signature is dropped."""
    at: dict[int, tuple[int, int]] = {}
    for pos, num, den in sorted(sigs, key=lambda s: s[0]):
        if ts_token(num, den) is not None:
            at[pos] = (num, den)
    out, cur = [], None
    for pos in sorted(at):
        if at[pos] != cur:
            out.append((pos, *at[pos]))
            cur = at[pos]
    return tuple(out)


class MidiClock(Clock):
    """Seconds and bars a stream spans: frame-ends (``grid`` quarter notes each) or time
    shifts (10 ms each), at the stream's tempo (120 BPM until its first tempo token; later
    ones are ignored, as decoding ignores them) and metre (4/4 until a time-signature token)."""

    def __init__(self, grid: float | None):
        self.grid, self.bpm, self.bar = grid, DEFAULT_TEMPO, 4.0  # bar length in quarters
        self.seconds = self.bars = 0.0
        self.tempo_set = False

    def copy(self) -> MidiClock:
        """Its state is numbers only: a shallow copy is a full one."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def advance(self, token: int) -> None:
        if TEMPO <= token < TEMPO + N_TEMPO:
            if not self.tempo_set:
                self.bpm, self.tempo_set = bin_tempo(token - TEMPO), True
        elif TS <= token < TS + N_TS:
            num, den = divmod(token - TS, len(DENS))
            self.bar = (num + 1) * 4 / DENS[den]
        elif self.grid is not None and token == FRAME:
            self.seconds += self.grid * 60 / self.bpm
            self.bars += self.grid / self.bar
        elif self.grid is None and SHIFT <= token < SHIFT + N_SHIFT:
            dt = (token - SHIFT + 1) * STEP
            self.seconds += dt
            self.bars += dt * self.bpm / 60 / self.bar

    def elapsed(self, measure: str) -> float:
        return self.seconds if measure == "seconds" else self.bars
