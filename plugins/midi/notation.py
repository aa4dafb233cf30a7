"""MusicXML from a piece's note list, built with music21's own tools: notes quantised to a grid,
one part per program, each part's notes as chords (``chordify``) in measures (``makeMeasures``,
``makeRests``, ``makeTies``) so every measure holds exactly its time signature. No MIDI round
trip: the notes go straight from the piece to the score."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path

from seqgen_plugins.midi.io import DRUMS, Piece

from seqgen.errors import SeqgenError
from seqgen.io import atomic_path

BINARY = tuple(Fraction(v) for v in ("4", "3", "2", "3/2", "1", "3/4", "1/2", "3/8", "1/4",
                                       "3/16", "1/8"))  # fmt: skip
TRIPLET = tuple(Fraction(v) for v in ("4", "3", "2", "3/2", "1", "3/4", "2/3", "1/2", "1/3",
                                        "1/4", "1/6", "1/12"))  # fmt: skip


def notation_grid(grid: float) -> Fraction:
    """The grid as a fraction of a quarter note that notation can spell: 1/8 (a 32nd) or
    1/12 (a 16th triplet) at the finest, a whole note at the coarsest."""
    g = Fraction(grid).limit_denominator(12)
    if g <= 0 or (8 % g.denominator and 12 % g.denominator):
        g = Fraction(1, 4)
    return max(min(g, Fraction(4)), Fraction(1, 12) if 12 % g.denominator == 0 else Fraction(1, 8))


def barred_signatures(piece: Piece, grid: Fraction) -> list[tuple[Fraction, int, int]]:
    """(offset, numerator, denominator) of each time signature, moved to the next bar line of
    the metre before it (a sampled signature may come mid-bar); 4/4 until the first."""
    out = [(Fraction(0), 4, 4)]
    for q, _, num, den in sorted(piece.time_signatures, key=lambda s: s[0]):
        start, pnum, pden = out[-1]
        bar = Fraction(pnum * 4, pden)
        at = max(round(Fraction(q) / grid) * grid, Fraction(0))
        at = start + max(-(-(at - start) // bar), 0) * bar  # whole bars since then, up
        if (num, den) == (pnum, pden):
            continue
        if at == start:
            out[-1] = (start, num, den)
        else:
            out.append((at, num, den))
    return out


def bar_lines(sigs, end: Fraction) -> list[Fraction]:
    """Every bar line from 0 to the first one at or after ``end`` (at least one bar)."""
    lines, k = [Fraction(0)], 0
    while lines[-1] < end or len(lines) < 2:
        while k + 1 < len(sigs) and sigs[k + 1][0] <= lines[-1]:
            k += 1
        lines.append(lines[-1] + Fraction(sigs[k][1] * 4, sigs[k][2]))
    return lines


def spell(length: Fraction, values) -> list[Fraction]:
    """``length`` as written values, largest first (5/4 -> 1, 1/4)."""
    out = []
    while length > 0:
        v = next(v for v in values if v <= length)
        out.append(v)
        length -= v
    return out


def _slices(notes: list[tuple[Fraction, Fraction, int]], cuts: list[Fraction], values):
    """(offset, length, [(pitch, tie type or None)]) for every stretch between consecutive
    cuts (note starts and ends, bar lines), spelled as written values; a held note is tied
    from one stretch to the next, a re-struck one is not."""
    for a, b in zip(cuts, cuts[1:], strict=False):
        sounding = [(q0, q1, p) for q0, q1, p in notes if q0 <= a < q1]
        at = a
        for v in spell(b - a, values):
            ties = []
            for q0, q1, p in sounding:
                first, last = q0 == at, q1 == at + v
                kind = "continue" if not (first or last) else "start" if not last else "stop"
                kind = None if first and last else kind
                ties.append((p, kind))
            yield at, v, sorted(ties, key=lambda t: t[0])
            at += v


def _part(notes, program: int, grid: Fraction, sigs, end: Fraction):
    from music21 import chord, meter, note, pitch, stream, tie

    q = [
        (round(Fraction(n.qstart) / grid) * grid, round(Fraction(n.qend) / grid) * grid, n.pitch)
        for n in notes
    ]
    q = _one_line_per_pitch([(q0, max(q1, q0 + grid), p) for q0, q1, p in q])
    lines = bar_lines(sigs, end)
    cuts = sorted({*lines, *(x for q0, q1, _ in q for x in (q0, q1))})
    flat = stream.Part()
    flat.insert(0, _instrument(program))
    for at, num, den in sigs:
        flat.insert(at, meter.TimeSignature(f"{num}/{den}"))
    values = TRIPLET if 12 % grid.denominator == 0 and grid.denominator % 3 == 0 else BINARY
    for at, length, pitches in _slices(q, cuts, values):
        if not pitches:
            flat.insert(at, note.Rest(quarterLength=length))
            continue
        heads = []
        for p, kind in pitches:  # Note objects: music21 re-spells a chord given bare numbers
            heads.append(note.Note(pitch.Pitch(midi=p), quarterLength=length))
            heads[-1].tie = tie.Tie(kind) if kind else None
        flat.insert(at, chord.Chord(heads, quarterLength=length) if len(heads) > 1 else heads[0])
    return flat.makeMeasures()


def _one_line_per_pitch(notes):
    """A note that starts while the same pitch sounds cuts it there (one staff cannot hold
    two of one pitch); of two starting together the longer stays."""
    out = []
    for q0, q1, p in sorted(notes, key=lambda n: (n[2], n[0], -n[1])):
        if out and out[-1][2] == p and q0 < out[-1][1]:
            if q0 == out[-1][0]:
                continue
            out[-1] = (out[-1][0], q0, p)
        out.append((q0, q1, p))
    return out


def _instrument(program: int):
    from music21 import instrument

    if program == DRUMS:
        return instrument.Percussion()
    try:
        return instrument.instrumentFromMidiProgram(program)
    except Exception:  # music21 knows most GM programs, not all
        inst = instrument.Instrument()
        inst.midiProgram = program
        return inst


def to_score(piece: Piece, grid: float):
    """A music21 Score of ``piece``: one part per program, its notes as chords sliced at
    every note start and end and every bar line, in measures of the right length."""
    from music21 import metadata, stream, tempo

    g = notation_grid(grid)
    sigs = barred_signatures(piece, g)
    end = max(  # a note rounded to nothing still lasts one grid step, as _part writes it
        (
            max(round(Fraction(n.qend) / g), round(Fraction(n.qstart) / g) + 1) * g
            for n in piece.notes
        ),
        default=Fraction(0),
    )
    score = stream.Score()
    score.metadata = metadata.Metadata(title="seqgen")
    by_prog: dict[int, list] = {}
    for n in piece.notes:
        by_prog.setdefault(n.program, []).append(n)
    for k, prog in enumerate(sorted(by_prog) or [0]):
        part = _part(by_prog.get(prog, []), prog, g, sigs, max(end, g))
        if k == 0 and piece.tempo:
            part.measure(1).insert(0, tempo.MetronomeMark(number=round(piece.tempo)))
        score.insert(0, part)
    return score


def write_score(piece: Piece, path: Path, fmt: str, grid: float) -> None:
    """Write ``piece`` as MusicXML (``fmt`` "musicxml" or "mxl") quantised to ``grid``."""
    from music21.musicxml.xmlObjects import MusicXMLExportException

    score = to_score(piece, grid)
    with tempfile.TemporaryDirectory() as d, _quiet():
        out = Path(d) / f"score.{'mxl' if fmt == 'mxl' else 'musicxml'}"
        try:
            written = Path(score.write(fmt, fp=str(out), makeNotation=False))
        except MusicXMLExportException as e:
            msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            raise SeqgenError(
                f"{path}: music21 cannot write this sample as MusicXML: {msg}"
            ) from None
        with atomic_path(path) as tmp:
            shutil.copyfile(written, tmp)


def read_back(path: Path) -> dict:
    """Re-read a written score: its measures, those whose length differs from their time
    signature, and every warning music21 gave (Python warnings and its stderr messages)."""
    from music21 import converter, stream

    err = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        score = converter.parse(str(path), forceSource=True, storePickle=False)
    said = [str(w.message) for w in caught] + [ln for ln in err.getvalue().splitlines() if ln]
    measures = wrong = 0
    for part in score.parts:
        for m in part.getElementsByClass(stream.Measure):
            measures += 1
            wrong += m.duration.quarterLength != m.barDuration.quarterLength
    return {"measures": measures, "wrong_length": wrong, "warnings": said, "score": score}


def _quiet():
    """music21 warns on stderr too (more than 16 parts: "out of midi channels")."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack
