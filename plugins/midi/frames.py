"""The ``frames`` encoding: a time grid (``-o grid=16th``; ``quarter`` for chorales); each frame
lists the sounding pitches in ascending order, then a frame-end token. ``unit`` is "frame"."""

from __future__ import annotations

import numpy as np
from seqgen_plugins.midi.io import DEFAULT_TEMPO, Note, Piece
from seqgen_plugins.midi.vocab import (
    DENS,
    EOD,
    FRAME,
    OFF,
    ON,
    PROG,
    TEMPO,
    TS,
    VOCAB,
    _canon_ts,
    bin_tempo,
    tempo_bin,
    ts_token,
)  # fmt: skip

from seqgen.tokenizer import Constraint


class Frames:
    """Which pitches sound in each grid frame, for one tokenizer (its grid may change while a
    .mat corpus is read, so it is read from the tokenizer each time)."""

    unit = "frame"
    frame_resets_program = True  # each frame starts on program 0

    def __init__(self, tok):
        self.tok = tok

    def grid_of(self, piece: Piece) -> float:
        return piece.grid or self.tok.grid

    def canon(self, piece: Piece) -> tuple:
        """(tempo bin, time signatures, frame count, sorted (frame, program, pitch) cells)."""
        g = self.grid_of(piece)
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

    def encode(self, piece: Piece) -> list[int]:
        tb, ts, length, cells = self.canon(piece)
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

    def decode(self, ids: list[int]) -> Piece:
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
        return frames_piece(tb, sigs, length, cells, self.tok.grid)

    def reference(self, part: Piece) -> Piece:
        """Which pitches sound in each grid frame (velocity dropped)."""
        tb, ts, length, cells = self.canon(part)
        return frames_piece(tb, ts, length, cells, self.grid_of(part))

    def compare(self, part: Piece) -> tuple[tuple, tuple, set, set]:
        """(got, want, got cells, wanted cells) in canonical form, for ``check_part``."""
        got = self.canon(self.decode(self.encode(part)))
        ref = self.reference(part)
        ref.grid = self.grid_of(part)
        want = self.canon(ref)
        return got, want, set(got[3]), set(want[3])

    def count_units(self, ids: np.ndarray) -> int:
        return int(np.count_nonzero(np.asarray(ids) == FRAME))

    def on_name(self, pitch: str) -> str:
        return pitch + " "

    def limits(self, piece: Piece) -> tuple[int, int]:
        """(longest note in frames, most pitches in one frame) as this encoding keeps the
        piece: a pitch sounding in consecutive frames is one note, as ``decode`` plays it."""
        _, _, _, cells = self.canon(piece)
        per_frame: dict[int, int] = {}
        for f, _, _ in cells:
            per_frame[f] = per_frame.get(f, 0) + 1
        longest, run, prev = 0, 0, None
        for f, prog, pitch in sorted(cells, key=lambda c: (c[1], c[2], c[0])):
            run = run + 1 if prev == (prog, pitch, f - 1) else 1
            longest, prev = max(longest, run), (prog, pitch, f)
        return longest, max(per_frame.values(), default=0)

    def constraint(self, limits: dict | None = None) -> FramesConstraint:
        limits = limits or {}
        return FramesConstraint(limits.get("longest"), limits.get("polyphony"))

    def clock_grid(self) -> float:
        return self.tok.grid


def frames_piece(tb, sigs, length: int, cells, grid: float) -> Piece:
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


class FramesConstraint(Constraint):
    """Within a frame programs ascend and pitches ascend within a program; tempo, metre and
    end of document only at a frame boundary; ``finish`` closes an open frame. With the
    corpus's ``longest`` note (frames) a pitch held that many frames is left out of the next,
    which ends it; with its ``polyphony`` a frame takes no more pitches than that."""

    def __init__(self, longest: int | None = None, polyphony: int | None = None) -> None:
        self.cur, self.last, self.started = 0, -1, False
        self.longest, self.polyphony = longest, polyphony
        self.held: dict[tuple[int, int], int] = {}  # (program, pitch) -> frames held so far
        self.now: list[tuple[int, int]] = []  # what sounds in the open frame

    def copy(self) -> FramesConstraint:
        """Its state is a few numbers, a small dict and a short list, copied as such."""
        new = object.__new__(type(self))
        new.cur, new.last, new.started = self.cur, self.last, self.started
        new.longest, new.polyphony = self.longest, self.polyphony
        new.held, new.now = dict(self.held), list(self.now)
        return new

    def mask(self) -> np.ndarray:
        m = np.zeros(VOCAB, dtype=bool)
        m[FRAME] = True  # always allowed, so never all False
        if self.polyphony is None or len(self.now) < self.polyphony:
            m[ON + self.last + 1 : OFF] = True
            if self.longest is not None:
                for (prog, p), n in self.held.items():
                    if prog == self.cur and n >= self.longest:
                        m[ON + p] = False
        m[PROG + self.cur + 1 : FRAME] = True
        if not self.started:
            m[TEMPO:VOCAB] = True
            m[EOD] = True
        return m

    def advance(self, token: int) -> None:
        if ON <= token < OFF:
            self.last, self.started = token - ON, True
            self.now.append((self.cur, token - ON))
        elif PROG <= token < FRAME:
            self.cur, self.last, self.started = token - PROG, -1, True
        elif token in (FRAME, EOD):
            self.cur, self.last, self.started = 0, -1, False
            self.held = {k: self.held.get(k, 0) + 1 for k in self.now} if token == FRAME else {}
            self.now = []

    def finish(self) -> list[int]:
        return [FRAME] if self.started else []
