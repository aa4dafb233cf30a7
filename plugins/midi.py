"""The midi domain: MIDI files (pretty_midi), scores (music21: MusicXML, ABC, Humdrum and its
bundled corpus) and Boulanger-Lewandowski piano rolls (.mat), as one fixed vocabulary.

Two encodings (``-o encoding=``):

* ``performance`` (PerformanceRNN): note-on / note-off per pitch, time-shift in 10 ms steps up
  to 1 s, 32 velocity bins; expressive timing kept to 10 ms. ``unit`` is "event".
* ``frames``: a grid (``-o grid=16th``; ``quarter`` for chorales); each frame lists the sounding
  pitches in ascending order, then a frame-end token. ``unit`` is "frame".

Both carry program tokens (drums are program 128), a tempo token and time-signature tokens.
The vocabulary is fixed in advance (all 128 pitches), so ``fit`` learns nothing and a test
split can never leak into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seqgen_plugins.midi_io import (
    DEFAULT_TEMPO,
    DRUMS,
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    Note,
    Piece,
    note_for_user,
    read_mat,
    read_midi,
    read_scores,
    write_piece,
)

from seqgen import hookimpl
from seqgen.errors import DataError, OptionError
from seqgen.tokenizer import Clock, Constraint, Document, Option, Tokenizer

# --- the fixed vocabulary --------------------------------------------------------------------
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


class MidiTokenizer(Tokenizer):
    name = "midi"
    description = (
        "Music: MIDI (pretty_midi), MusicXML/ABC/Humdrum and music21's corpus, .mat piano rolls; "
        "performance events or grid frames."
    )
    unit = "event"  # "frame" with -o encoding=frames (set per instance)
    output_suffix = ".mid"
    file_patterns = (
        "*.mid",
        "*.midi",
        "*.MID",
        "*.musicxml",
        "*.mxl",
        "*.xml",
        "*.abc",
        "*.krn",
        "*.mat",
    )
    default_corpus = "music21:bach"
    renders = {"audio": (".wav",), "plot": (".png",)}
    options = (
        Option(
            "encoding",
            "performance",
            "performance: note-on/off, 10 ms time shifts, 32 velocity bins; frames: a time grid, "
            "each frame the sounding pitches then a frame-end token",
            str,
            ("performance", "frames"),
        ),
        Option(
            "grid",
            "16th",
            "frames: frame length (32nd, 16th, 8th, quarter, half, 8th-triplet, or quarter "
            "notes as a number); piano-roll .mat files keep their own",
            str,
        ),
        Option(
            "transpose",
            0,
            "augment the train split with each piece transposed by 1..N semitones up and down "
            "(drums stay as they are; validation and test are never transposed)",
            int,
        ),
    )

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.settings.setdefault("encoding", "performance")
        self.settings.setdefault("grid", "16th")
        self.settings.setdefault("transpose", 0)
        self.frames = self.settings["encoding"] == "frames"
        self.grid = parse_grid(self.settings["grid"])
        self.unit = "frame" if self.frames else "event"  # type: ignore[misc]

    @classmethod
    def parse_options(cls, given: dict[str, str]) -> dict[str, Any]:
        values = super().parse_options(given)
        parse_grid(values["grid"])  # fail early, naming the option
        if not 0 <= values["transpose"] <= 12:
            raise OptionError(f"-o transpose={values['transpose']}: give 0 to 12 semitones")
        return values

    def augment(self, ids: np.ndarray) -> list[np.ndarray]:
        """The piece transposed by -N..-1 and 1..N semitones (``-o transpose=N``); a shift that
        would move a pitched note outside MIDI's 0-127 is left out. Drum notes (program 128)
        keep their pitch, which names the instrument."""
        n = int(self.settings.get("transpose") or 0)
        if not n:
            return []
        ids = np.asarray(ids, dtype=np.int64)
        program = np.full(len(ids), -1, np.int64)  # the program each token is played by
        cur = 0
        for i, t in enumerate(ids.tolist()):
            if PROG <= t < PROG + N_PROG:
                cur = t - PROG
            elif t == FRAME and self.frames:
                cur = 0  # every frame starts on program 0
            program[i] = cur
        notes = (ids >= ON) & (ids < SHIFT) & (program != DRUMS)
        pitch = (ids - ON) % 128
        out = []
        for k in [*range(-n, 0), *range(1, n + 1)]:
            moved = pitch[notes] + k
            if moved.size and (moved.min() < 0 or moved.max() > 127):
                continue
            out.append(np.where(notes, ids + k, ids))
        return out

    # --- reading ---------------------------------------------------------------------------
    def read(self, path: Path) -> Iterator[Document]:
        path = Path(path)
        suffix = path.suffix.lower()
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if suffix in MIDI_SUFFIXES:
            yield Document(str(path), [read_midi(path)])
        elif suffix in SCORE_SUFFIXES:
            for name, piece in read_scores(path):
                yield Document(name, [piece])
        elif suffix == ".mat":
            for split, name, piece in read_mat(path):
                if piece.grid:  # the rolls' own grid: generated frames then play at its speed
                    self.grid, self.settings["grid"] = piece.grid, str(piece.grid)
                yield Document(name, [piece], split=split)
        else:
            raise DataError(
                f"{path}: not a MIDI, MusicXML, ABC, Humdrum or .mat file (suffix {suffix!r})"
            )

    def fit(self, documents: Iterable[Document]) -> None:
        """Nothing to learn: the vocabulary is fixed (all pitches, programs, bins)."""

    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        """Two short MIDI files: piano chords over a bass line, and a drum groove."""
        import pretty_midi

        folder = Path(directory) / "midi"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(2):
            pm = pretty_midi.PrettyMIDI(initial_tempo=100 + 20 * k)
            piano, bass = pretty_midi.Instrument(program=0), pretty_midi.Instrument(program=33)
            drums = pretty_midi.Instrument(program=0, is_drum=True)
            for beat in range(8):
                t = beat * 0.5
                for p in (60, 64, 67) if beat % 2 else (62, 65, 69):
                    piano.notes.append(pretty_midi.Note(70 + 5 * k, p + k, t, t + 0.45))
                bass.notes.append(pretty_midi.Note(90, 36 + beat % 4, t, t + 0.25))
                drums.notes.append(pretty_midi.Note(100, 36 if beat % 2 else 38, t, t + 0.1))
            pm.instruments += [piano, bass, drums]
            pm.write(str(folder / f"sample{k}.mid"))
        return folder

    @property
    def vocab_size(self) -> int:
        return VOCAB

    @property
    def eod_id(self) -> int:
        return EOD

    # --- canonical (quantised) forms -------------------------------------------------------
    def _grid_of(self, piece: Piece) -> float:
        return piece.grid or self.grid

    def _perf_canon(self, piece: Piece) -> tuple:
        """(tempo bin, time signatures, notes) on the 10 ms grid with binned velocities; notes of
        one program and pitch never overlap (an earlier one is cut where the next starts)."""
        raw = []
        for n in piece.notes:
            s = max(0, round(n.start / STEP))
            e = max(round(n.end / STEP), s + 1)
            raw.append((n.program, n.pitch, s, e, vel_bin(n.velocity)))
        ts = _canon_ts(
            (max(0, round(t / STEP)), num, den) for _, t, num, den in piece.time_signatures
        )
        tb = None if piece.tempo is None else tempo_bin(piece.tempo)
        return tb, ts, tuple(_no_overlaps(raw))

    def _frames_canon(self, piece: Piece) -> tuple:
        """(tempo bin, time signatures, frame count, sorted (frame, program, pitch) cells)."""
        g = self._grid_of(piece)
        cells = set()
        last = round(piece.end / g) if piece.end else 0
        for n in piece.notes:
            fs = max(0, round(n.qstart / g))
            fe = max(round(n.qend / g), fs + 1)
            last = max(last, fe)
            cells.update((f, n.program, n.pitch) for f in range(fs, fe))
        ts = _canon_ts((max(0, round(q / g)), num, den) for q, _, num, den in piece.time_signatures)
        tb = None if piece.tempo is None else tempo_bin(piece.tempo)
        return tb, ts, last, tuple(sorted(cells))

    def canon(self, piece: Piece) -> tuple:
        return self._frames_canon(piece) if self.frames else self._perf_canon(piece)

    # --- ids -------------------------------------------------------------------------------
    def encode(self, part: Piece) -> np.ndarray:
        ids = self._encode_frames(part) if self.frames else self._encode_perf(part)
        return np.asarray(ids, dtype=np.int64)

    def _encode_perf(self, piece: Piece) -> list[int]:
        tb, ts, notes = self._perf_canon(piece)
        events = [(pos, 0, 0, num, den) for pos, num, den in ts]  # kind 0: time signature
        for prog, pitch, s, e, vb in notes:
            events.append((e, 1, prog, pitch, 0))  # offs before ons at the same step
            events.append((s, 2, prog, pitch, vb))
        events.sort()
        out = [] if tb is None else [TEMPO + tb]
        t, cur, vel = 0, 0, None
        for pos, kind, prog, a, b in events:
            while pos > t:
                k = min(pos - t, N_SHIFT)
                out.append(SHIFT + k - 1)
                t += k
            if kind == 0:
                out.append(ts_token(a, b))
                continue
            if prog != cur:
                out.append(PROG + prog)
                cur = prog
            if kind == 1:
                out.append(OFF + a)
            else:
                if b != vel:
                    out.append(VEL + b)
                    vel = b
                out.append(ON + a)
        return out

    def _encode_frames(self, piece: Piece) -> list[int]:
        tb, ts, length, cells = self._frames_canon(piece)
        by_frame: dict[int, list[tuple[int, int]]] = {}
        for f, prog, pitch in cells:  # sorted: programs ascending, then pitches ascending
            by_frame.setdefault(f, []).append((prog, pitch))
        sig_at = {pos: ts_token(num, den) for pos, num, den in ts}
        out = [] if tb is None else [TEMPO + tb]
        for f in range(length):
            if f in sig_at:
                out.append(sig_at[f])
            cur = 0  # each frame starts on program 0, so piano-only data needs no program tokens
            for prog, pitch in by_frame.get(f, ()):
                if prog != cur:
                    out.append(PROG + prog)
                    cur = prog
                out.append(ON + pitch)
            out.append(FRAME)
        return out

    def decode(self, ids: Sequence[int]) -> Piece:
        ids = [int(i) for i in ids]
        return self._decode_frames(ids) if self.frames else self._decode_perf(ids)

    def _decode_perf(self, ids: list[int]) -> Piece:
        """Tolerant of any stream: a note-off for a silent note is ignored, a repeated note-on
        restarts the note, and notes still sounding at the end are closed there."""
        tb, sigs, notes = None, [], []
        t, cur, vel = 0, 0, bin_vel(vel_bin(80))
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        for i in ids:
            if ON <= i < OFF:
                key = (cur, i - ON)
                if key in sounding:
                    s, v = sounding.pop(key)
                    if t > s:
                        notes.append((cur, i - ON, s, t, v))
                sounding[key] = (t, vel)
            elif OFF <= i < SHIFT:
                key = (cur, i - OFF)
                if key in sounding:
                    s, v = sounding.pop(key)
                    notes.append((cur, i - OFF, s, max(t, s + 1), v))
            elif SHIFT <= i < VEL:
                t += i - SHIFT + 1
            elif VEL <= i < PROG:
                vel = bin_vel(i - VEL)
            elif PROG <= i < FRAME:
                cur = i - PROG
            elif TEMPO <= i < TS:
                tb = i - TEMPO if tb is None else tb
            elif TS <= i < VOCAB:
                num, den = divmod(i - TS, len(DENS))
                sigs.append((t, num + 1, DENS[den]))
        for (prog, pitch), (s, v) in sounding.items():
            notes.append((prog, pitch, s, max(t, s + 1), v))
        bpm = DEFAULT_TEMPO if tb is None else bin_tempo(tb)
        q = bpm / 60.0
        piece = Piece(
            [
                Note(p, n, s * STEP, e * STEP, v, s * STEP * q, e * STEP * q)
                for p, n, s, e, v in sorted(notes, key=lambda x: (x[2], x[0], x[1]))
            ],
            None if tb is None else bpm,
            [(pos * STEP * q, pos * STEP, num, den) for pos, num, den in sigs],
        )
        piece.end = max((n.qend for n in piece.notes), default=0.0)
        return piece

    def _decode_frames(self, ids: list[int]) -> Piece:
        tb, sigs, cells = None, [], set()
        f, cur, open_frame = 0, 0, False
        for i in ids:
            if ON <= i < OFF:
                cells.add((f, cur, i - ON))
                open_frame = True
            elif PROG <= i < FRAME:
                cur, open_frame = i - PROG, True
            elif i == FRAME:
                f, cur, open_frame = f + 1, 0, False
            elif TEMPO <= i < TS:
                tb = i - TEMPO if tb is None else tb
            elif TS <= i < VOCAB:
                num, den = divmod(i - TS, len(DENS))
                sigs.append((f, num + 1, DENS[den]))
        length = f + 1 if open_frame else f
        return self._frames_piece(tb, sigs, length, cells, self.grid)

    @staticmethod
    def _frames_piece(tb, sigs, length: int, cells, grid: float) -> Piece:
        """Notes from (frame, program, pitch) cells: a run of frames is one held note."""
        bpm = DEFAULT_TEMPO if tb is None else bin_tempo(tb)
        sec = 60.0 / bpm
        notes, run = [], None
        for f, prog, pitch in sorted(cells, key=lambda c: (c[1], c[2], c[0])):
            if run and run[0] == prog and run[1] == pitch and run[3] == f:
                run[3] = f + 1
                continue
            if run:
                notes.append(run)
            run = [prog, pitch, f, f + 1]
        if run:
            notes.append(run)
        notes.sort(key=lambda r: (r[2], r[0], r[1]))
        return Piece(
            [
                Note(p, n, s * grid * sec, e * grid * sec, 80, s * grid, e * grid)
                for p, n, s, e in notes
            ],
            None if tb is None else bpm,
            [(pos * grid, pos * grid * sec, num, den) for pos, num, den in sigs],
            grid=grid,
            end=length * grid,
        )

    def count_units(self, ids: np.ndarray) -> int:
        ids = np.asarray(ids)
        if self.frames:
            return int(np.count_nonzero(ids == FRAME))
        return int(np.count_nonzero(ids != EOD))

    # --- checks ----------------------------------------------------------------------------
    def reference(self, part: Piece) -> Piece:
        """The part as the encoding keeps it: performance rounds times to 10 ms and velocities
        to 32 bins; frames keeps which pitches sound in each grid frame (velocity dropped)."""
        if self.frames:
            tb, ts, length, cells = self._frames_canon(part)
            return self._frames_piece(tb, ts, length, cells, self._grid_of(part))
        tb, ts, notes = self._perf_canon(part)
        bpm = DEFAULT_TEMPO if tb is None else bin_tempo(tb)
        q = bpm / 60.0
        return Piece(
            [
                Note(p, n, s * STEP, e * STEP, bin_vel(v), s * STEP * q, e * STEP * q)
                for p, n, s, e, v in notes
            ],
            None if tb is None else bpm,
            [(pos * STEP * q, pos * STEP, num, den) for pos, num, den in ts],
        )

    def check_part(self, part: Piece) -> str | None:
        got = self.canon(self.decode(self.encode(part)))
        ref = self.reference(part)
        if self.frames:
            ref.grid = self._grid_of(part)
            got_cells, want_cells = set(got[3]), set(self._frames_canon(ref)[3])
            want = self._frames_canon(ref)
        else:
            want = self._perf_canon(ref)
            got_cells, want_cells = set(got[2]), set(want[2])
        if got == want:
            return None
        if got_cells != want_cells:
            return (
                f"{len(want_cells - got_cells)} of {len(want_cells)} quantised notes lost, "
                f"{len(got_cells - want_cells)} extra"
            )
        return f"header differs: got tempo/metre {got[:2]}, expected {want[:2]}"

    # --- output ----------------------------------------------------------------------------
    def token_name(self, i: int) -> str:
        if i == EOD:
            return "<eod>\n"
        if ON <= i < OFF:
            return pitch_name(i - ON) + " " if self.frames else f"on:{pitch_name(i - ON)} "
        if OFF <= i < SHIFT:
            return f"off:{pitch_name(i - OFF)} "
        if SHIFT <= i < VEL:
            return f"+{(i - SHIFT + 1) * 10}ms\n"
        if VEL <= i < PROG:
            return f"v{bin_vel(i - VEL)} "
        if PROG <= i < FRAME:
            return "[drums] " if i - PROG == DRUMS else f"[program {i - PROG}] "
        if i == FRAME:
            return "|\n"
        if TEMPO <= i < TS:
            return f"tempo:{bin_tempo(i - TEMPO):g} "
        if TS <= i < VOCAB:
            num, den = divmod(i - TS, len(DENS))
            return f"{num + 1}/{DENS[den]} "
        return f"<{i}?> "

    def to_text(self, ids: Sequence[int]) -> str:
        return "".join(self.token_name(int(i)) for i in ids)

    def write(self, ids: Sequence[int], path: Path) -> None:
        """By suffix: .mid/.midi, .musicxml/.xml/.mxl (music21), .wav (FluidSynth or sine
        synthesis), .png (piano roll), .txt (event listing)."""
        piece = self.decode(ids)
        note_for_user(write_piece(piece, Path(path), text=self.to_text(ids)))

    measures = ("seconds", "bars")

    def clock(self) -> MidiClock:
        return MidiClock(self.grid if self.frames else None)

    def constraint(self) -> Constraint:
        return FramesConstraint() if self.frames else PerformanceConstraint()

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"settings": dict(self.settings), "vocab": VOCAB}

    @classmethod
    def from_state(cls, state: dict) -> MidiTokenizer:
        return cls(settings=state["settings"])


def _no_overlaps(raw: list[tuple[int, int, int, int, int]]) -> list[tuple[int, int, int, int, int]]:
    """Notes of one program and pitch as a monophonic line: a note that starts while the same
    one sounds cuts it there (two starting together keep the longer)."""
    out: list[tuple[int, int, int, int, int]] = []
    for note in sorted(raw, key=lambda n: (n[0], n[1], n[2], -n[3])):
        if out and out[-1][:2] == note[:2] and note[2] < out[-1][3]:
            prev = out[-1]
            if note[2] == prev[2]:
                continue
            out[-1] = (*prev[:3], note[2], prev[4])
        out.append(note)
    return sorted(out, key=lambda n: (n[2], n[0], n[1]))


class MidiClock(Clock):
    """Seconds and bars a stream spans: frame-ends (``grid`` quarter notes each) or time
    shifts (10 ms each), at the stream's tempo (120 BPM until its first tempo token; later
    ones are ignored, as decoding ignores them) and metre (4/4 until a time-signature token)."""

    def __init__(self, grid: float | None):
        self.grid, self.bpm, self.bar = grid, DEFAULT_TEMPO, 4.0  # bar length in quarters
        self.seconds = self.bars = 0.0
        self.tempo_set = False

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


class PerformanceConstraint(Constraint):
    """No note-off for a silent note, no second note-on for a sounding one, no end of
    document while notes sound; ``finish`` waits 0.5 s and closes every note."""

    def __init__(self) -> None:
        self.sounding: dict[int, set[int]] = {}
        self.cur = 0
        self.base = np.ones(VOCAB, dtype=bool)
        self.base[FRAME] = False  # frames-only token

    def copy(self) -> PerformanceConstraint:
        """Shares the read-only base mask; copies which notes sound."""
        new = object.__new__(PerformanceConstraint)
        new.base, new.cur = self.base, self.cur
        new.sounding = {prog: set(notes) for prog, notes in self.sounding.items()}
        return new

    def mask(self) -> np.ndarray:
        m = self.base.copy()
        on = self.sounding.get(self.cur, ())
        m[OFF:SHIFT] = False
        for p in on:
            m[ON + p] = False
            m[OFF + p] = True
        m[EOD] = not any(self.sounding.values())
        return m  # time shifts are always allowed, so never all False

    def advance(self, token: int) -> None:
        if ON <= token < OFF:
            self.sounding.setdefault(self.cur, set()).add(token - ON)
        elif OFF <= token < SHIFT:
            self.sounding.get(self.cur, set()).discard(token - OFF)
        elif PROG <= token < FRAME:
            self.cur = token - PROG
        elif token == EOD:
            self.sounding.clear()
            self.cur = 0

    def finish(self) -> list[int]:
        out: list[int] = []
        if any(self.sounding.values()):
            out.append(SHIFT + 49)  # let the last notes sound for half a second
        cur = self.cur
        for prog in sorted(p for p, s in self.sounding.items() if s):
            if prog != cur:
                out.append(PROG + prog)
                cur = prog
            out.extend(OFF + p for p in sorted(self.sounding[prog]))
        return out


class FramesConstraint(Constraint):
    """Within a frame programs ascend and pitches ascend within a program; tempo, metre and
    end of document only at a frame boundary; ``finish`` closes an open frame."""

    def __init__(self) -> None:
        self.cur, self.last, self.started = 0, -1, False

    def mask(self) -> np.ndarray:
        m = np.zeros(VOCAB, dtype=bool)
        m[FRAME] = True  # always allowed, so never all False
        m[ON + self.last + 1 : OFF] = True
        m[PROG + self.cur + 1 : FRAME] = True
        if not self.started:
            m[TEMPO:VOCAB] = True
            m[EOD] = True
        return m

    def advance(self, token: int) -> None:
        if ON <= token < OFF:
            self.last, self.started = token - ON, True
        elif PROG <= token < FRAME:
            self.cur, self.last, self.started = token - PROG, -1, True
        elif token in (FRAME, EOD):
            self.cur, self.last, self.started = 0, -1, False

    def finish(self) -> list[int]:
        return [FRAME] if self.started else []


# --- music21's bundled corpus ------------------------------------------------------------------
M21_COMPOSERS = {
    "bach": "J. S. Bach: the 4-part chorales (about 410 scores)",
    "beethoven": "Beethoven string quartets and more",
    "mozart": "Mozart string quartets and more",
    "haydn": "Haydn string quartets",
    "monteverdi": "Monteverdi madrigals",
    "palestrina": "Palestrina masses (about 1,300 movements)",
    "essenFolksong": "Essen folk song collection (ABC files with many tunes each)",
    "ryansMammoth": "Ryan's Mammoth Collection of fiddle tunes (ABC)",
    "oneills1850": "O'Neill's 1850 Irish tunes (ABC)",
    "trecento": "Trecento pieces",
}
SMALL = 12  # music21:bach-small: the first chorales, for quick tests


def m21_files(composer: str, limit: int | None = None) -> list[Path]:
    from music21 import corpus

    files = sorted(
        Path(p) for p in corpus.getComposer(composer) if Path(p).suffix.lower() in SCORE_SUFFIXES
    )
    return files[:limit] if limit else files


def _m21_corpus(composer: str, limit: int | None = None):
    return lambda: {"all": m21_files(composer, limit)}


@hookimpl
def register_domains(register):
    register(MidiTokenizer)


@hookimpl
def register_corpora(register):
    for composer, text in M21_COMPOSERS.items():
        register(f"music21:{composer}", _m21_corpus(composer), description=text, domain="midi")
    register(
        "music21:bach-small",
        _m21_corpus("bach", SMALL),
        description=f"the first {SMALL} Bach chorales of music21's corpus (quick tests)",
        domain="midi",
    )
