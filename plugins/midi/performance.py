"""The ``performance`` encoding (PerformanceRNN): note-on / note-off per pitch, time shifts in
10 ms steps up to 1 s, 32 velocity bins; expressive timing kept to 10 ms. ``unit`` is "event"."""

from __future__ import annotations

import numpy as np
from seqgen_plugins.midi.io import DEFAULT_TEMPO, Note, Piece, longest_and_polyphony
from seqgen_plugins.midi.vocab import (
    DENS,
    EOD,
    FRAME,
    N_SHIFT,
    OFF,
    ON,
    PROG,
    SHIFT,
    STEP,
    TEMPO,
    TS,
    VEL,
    VOCAB,
    _canon_ts,
    bin_tempo,
    bin_vel,
    tempo_bin,
    ts_token,
    vel_bin,
)  # fmt: skip

from seqgen.tokenizer import Constraint


class Performance:
    """Note events on a 10 ms clock, for one tokenizer (the encoding object it delegates to)."""

    unit = "event"
    frame_resets_program = False  # the frame-end token is not part of this encoding

    def __init__(self, tok):
        self.tok = tok

    def canon(self, piece: Piece) -> tuple:
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

    def encode(self, piece: Piece) -> list[int]:
        tb, ts, notes = self.canon(piece)
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

    def decode(self, ids: list[int]) -> Piece:
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

    def reference(self, part: Piece) -> Piece:
        """Times rounded to 10 ms, velocities to 32 bins."""
        tb, ts, notes = self.canon(part)
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

    def compare(self, part: Piece) -> tuple[tuple, tuple, set, set]:
        """(got, want, got notes, wanted notes) in canonical form, for ``check_part``."""
        got = self.canon(self.decode(self.encode(part)))
        want = self.canon(self.reference(part))
        return got, want, set(got[2]), set(want[2])

    def count_units(self, ids: np.ndarray) -> int:
        return int(np.count_nonzero(np.asarray(ids) != EOD))

    def on_name(self, pitch: str) -> str:
        return f"on:{pitch} "

    def limits(self, piece: Piece) -> tuple[int, int]:
        """(longest note in 10 ms steps, most notes sounding at once) as this encoding keeps
        the piece; a note ending where another starts does not overlap it."""
        _, _, notes = self.canon(piece)
        return longest_and_polyphony((s, e) for _, _, s, e, _ in notes)

    def constraint(self, limits: dict | None = None) -> PerformanceConstraint:
        limits = limits or {}
        return PerformanceConstraint(limits.get("longest"), limits.get("polyphony"))

    def clock_grid(self) -> None:
        return None


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


class PerformanceConstraint(Constraint):
    """No note-off for a silent note or one that began at this instant (a note lasts at least
    one step, so polyphony is counted exactly), no second note-on for a sounding one, no end of
    document while notes sound. With the corpus's ``longest`` note (10 ms steps) no time shift
    carries a note past it, and a note that has reached it must be closed next (its note-off,
    or the program token that reaches it, is all that is allowed); with its ``polyphony`` no
    note-on while that many notes sound. ``finish`` waits up to 0.5 s and closes every note."""

    def __init__(self, longest: int | None = None, polyphony: int | None = None) -> None:
        self.since: dict[tuple[int, int], int] = {}  # (program, pitch) -> start step
        self.cur = self.t = 0
        self.longest, self.polyphony = longest, polyphony
        self.base = np.ones(VOCAB, dtype=bool)
        self.base[FRAME] = False  # frames-only token

    def copy(self) -> PerformanceConstraint:
        """Shares the read-only base mask; copies which notes sound since when."""
        new = object.__new__(PerformanceConstraint)
        new.base, new.cur, new.t = self.base, self.cur, self.t
        new.longest, new.polyphony = self.longest, self.polyphony
        new.since = dict(self.since)
        return new

    def room(self) -> int | None:
        """Steps the oldest sounding note may still last (None: no bound)."""
        if self.longest is None or not self.since:
            return None
        return self.longest - (self.t - min(self.since.values()))

    def mask(self) -> np.ndarray:
        room = self.room()
        if room is not None and room <= 0:
            return self._close_overdue()
        m = self.base.copy()
        m[OFF:SHIFT] = False
        for (prog, p), s in self.since.items():
            if prog == self.cur:
                m[ON + p] = False
                m[OFF + p] = s < self.t
        if room is not None and room < N_SHIFT:
            m[SHIFT + room : SHIFT + N_SHIFT] = False  # a shift of k steps is SHIFT + k - 1
        if self.polyphony is not None and len(self.since) >= self.polyphony:
            m[ON:OFF] = False
        m[EOD] = not self.since
        return m  # a one-step shift is always allowed here, so never all False

    def _close_overdue(self) -> np.ndarray:
        """A note has lasted ``longest`` steps: only note-offs (of notes that did not just
        start) in this program, or the program of an overdue note, may follow."""
        m = np.zeros(VOCAB, dtype=bool)
        for (prog, p), s in self.since.items():
            if prog == self.cur and s < self.t:
                m[OFF + p] = True
            elif prog != self.cur and self.t - s >= self.longest:
                m[PROG + prog] = True
        return m

    def advance(self, token: int) -> None:
        if ON <= token < OFF:
            self.since[(self.cur, token - ON)] = self.t  # a repeated note-on restarts the note
        elif OFF <= token < SHIFT:
            self.since.pop((self.cur, token - OFF), None)
        elif SHIFT <= token < VEL:
            self.t += token - SHIFT + 1
        elif PROG <= token < FRAME:
            self.cur = token - PROG
        elif token == EOD:
            self.since.clear()
            self.cur = self.t = 0

    def finish(self) -> list[int]:
        out: list[int] = []
        room = self.room()
        wait = 50 if room is None else min(50, room)
        if self.since and wait > 0:
            out.append(SHIFT + wait - 1)  # let the last notes sound for up to half a second
        cur = self.cur
        for prog, p in sorted(self.since):
            if prog != cur:
                out.append(PROG + prog)
                cur = prog
            out.append(OFF + p)
        return out
