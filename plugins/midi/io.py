"""Reading and writing for the midi domain: MIDI files (pretty_midi), scores (music21), piano
rolls in Boulanger-Lewandowski ``.mat`` files, and output as MIDI and PNG here, MusicXML in
``notation.py`` and WAV in ``audio.py`` (``write_piece`` dispatches on the suffix).

Everything is turned into a :class:`Piece`: notes with both wall-clock times (seconds, for the
expressive ``performance`` encoding) and score positions (quarter notes, for the ``frames``
grid), plus the first tempo and the time signatures.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.errors import DataError, SeqgenError
from seqgen.io import atomic_path

DRUMS = 128  # the program number the domain gives GM channel-10 percussion
DEFAULT_TEMPO = 120.0
MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".musicxml", ".mxl", ".xml", ".abc", ".krn")
# music21's Humdrum reader takes time quadratic in a spine's length (one spine of 8,000 notes:
# 3.4 s; 32,000: 53 s). The longest **kern file of music21's corpus has 3,077 lines.
KERN_LINES = 12_000  # SEQGEN_MAX_KERN_LINES raises it


@dataclass
class Note:
    program: int  # 0-127, or DRUMS
    pitch: int
    start: float  # seconds
    end: float
    velocity: int
    qstart: float  # quarter notes from the start
    qend: float


@dataclass
class Piece:
    """One piece of music, the domain object of a Document part."""

    notes: list[Note]
    tempo: float | None = DEFAULT_TEMPO  # first tempo (BPM); None: a bare piano roll
    # (quarter-note position, seconds, numerator, denominator)
    time_signatures: list[tuple[float, float, int, int]] = field(default_factory=list)
    grid: float | None = None  # quarter notes per frame when the source fixes it (piano rolls)
    end: float = 0.0  # quarter-note position of the end (keeps trailing silent frames)

    def __len__(self) -> int:
        return len(self.notes)


def longest_and_polyphony(spans) -> tuple:
    """(longest, most sounding at once) of (start, end) spans, in their own units; a span
    ending where another starts does not overlap it."""
    spans = list(spans)
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    sounding = most = 0
    for _, step in events:  # ends (-1) sort before starts at the same time
        sounding += step
        most = max(most, sounding)
    return max((e - s for s, e in spans), default=0), most


def _quiet():
    """pretty_midi/mido/music21 warn about harmless oddities of real files on every read."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


# --- reading ---------------------------------------------------------------------------------
def read_midi(path: Path) -> Piece:
    import pretty_midi

    with _quiet():
        try:
            if path.stat().st_size == 0:
                raise DataError(f"{path}: empty file (0 bytes)")
            pm = pretty_midi.PrettyMIDI(str(path))
        except DataError:
            raise
        except Exception as e:  # mido/pretty_midi raise anything from EOFError to KeyError
            msg = str(e).splitlines()[0][:120] if str(e) else ""
            raise DataError(
                f"{path}: not a readable MIDI file ({type(e).__name__}{': ' + msg if msg else ''})"
            ) from None
        return bounded(_from_pretty_midi(pm, path), path)


MAX_SECONDS = 6 * 3600  # longer than any real piece: a file past it is refused, not encoded
MAX_QUARTERS = 100_000  # ~14 hours of quarter notes at 120 BPM


def bounded(piece: Piece, name: Path | str) -> Piece:
    """``piece``, or DataError when a note runs longer than any music (a 40-byte file can
    declare a note of millions of beats, which the frames grid would spell frame by frame)."""
    seconds = max((n.end for n in piece.notes), default=0.0)
    quarters = max(piece.end or 0.0, max((n.qend for n in piece.notes), default=0.0))
    if seconds > MAX_SECONDS or quarters > MAX_QUARTERS:
        raise DataError(
            f"{name}: lasts {seconds / 3600:,.0f} hours ({quarters:,.0f} beats), longer than "
            f"seqgen reads ({MAX_SECONDS // 3600} hours, {MAX_QUARTERS:,} beats)"
        )
    return piece


def _from_pretty_midi(pm, path: Path | str) -> Piece:
    res = float(pm.resolution)
    notes: list[Note] = []
    for inst in pm.instruments:
        program = DRUMS if inst.is_drum else int(inst.program)
        for n in inst.notes:
            if n.end < n.start or not 0 <= n.pitch < 128:
                continue
            notes.append(
                Note(
                    program,
                    int(n.pitch),
                    float(n.start),
                    float(n.end),
                    int(min(max(n.velocity, 1), 127)),
                    pm.time_to_tick(n.start) / res,
                    pm.time_to_tick(n.end) / res,
                )
            )
    if not notes:
        raise DataError(f"{path}: no notes")
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else DEFAULT_TEMPO
    sigs = [
        (pm.time_to_tick(ts.time) / res, float(ts.time), int(ts.numerator), int(ts.denominator))
        for ts in pm.time_signature_changes
    ]
    return Piece(notes, tempo, sigs, end=max(n.qend for n in notes))


def read_scores(path: Path) -> Iterator[tuple[str, Piece]]:
    """(name, piece) for each score in a MusicXML/ABC/Humdrum file (an ABC file may hold many)."""
    from music21 import converter, stream

    if path.suffix.lower() == ".krn":
        _check_kern_lines(path)
    with _quiet():
        try:
            # forceSource and no pickle: music21 would otherwise load (and write) a pickled
            # cache of the parse in a shared temp folder, and a planted pickle runs code.
            parsed = converter.parse(str(path), forceSource=True, storePickle=False)
        except Exception as e:
            raise DataError(f"{path}: music21 cannot parse it ({type(e).__name__})") from None
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    used = 0
    for k, score in enumerate(scores):
        try:
            with _quiet():
                piece = from_music21(score)
        except Exception:  # one broken tune in a collection spoils only itself
            continue
        if piece.notes:
            used += 1
            name = f"{path}#{k + 1}" if len(scores) > 1 else str(path)
            yield name, bounded(piece, name)
    if not used:
        raise DataError(f"{path}: no notes")


def _check_kern_lines(path: Path) -> None:
    bound = int(os.environ.get("SEQGEN_MAX_KERN_LINES") or KERN_LINES)
    lines = 0
    with open(path, "rb") as f:
        while (block := f.read(1 << 20)) and lines <= bound:
            lines += block.count(b"\n")
    if lines > bound:
        raise DataError(
            f"{path}: over {bound:,} lines, more than music21 reads in reasonable time; split "
            f"it, or raise SEQGEN_MAX_KERN_LINES"
        )


def from_music21(score) -> Piece:
    from music21 import meter, stream, tempo

    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    flat_all = score.flatten()
    marks = list(flat_all.getElementsByClass(tempo.MetronomeMark))
    bpm = float(marks[0].getQuarterBPM() or DEFAULT_TEMPO) if marks else DEFAULT_TEMPO
    sec = 60.0 / bpm
    notes: list[Note] = []
    for part in parts:
        # not searched through the sites above: in an ABC collection that is every other tune
        inst = part.getInstrument(searchActiveSite=False, returnDefault=True)
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        if inst is not None and "Percussion" in type(inst).__name__:
            program = DRUMS
        flat = part.flatten()
        # in place: stripTies() deep-copies the part first, which music21 does in time
        # quadratic in its notes (16 s for one 16,000-note ABC tune; 0.3 s in place)
        flat.stripTies(inPlace=True)
        for n in flat.notes:
            q0 = float(n.offset)
            q1 = q0 + float(n.duration.quarterLength)
            vel = n.volume.velocity if n.volume.velocity is not None else 80
            for p in n.pitches:
                if 0 <= p.midi < 128:
                    notes.append(Note(program, p.midi, q0 * sec, q1 * sec, int(vel), q0, q1))
    sigs = []
    for ts in flat_all.getElementsByClass(meter.TimeSignature):
        q = float(ts.offset)
        sigs.append((q, q * sec, int(ts.numerator), int(ts.denominator)))
    end = max((n.qend for n in notes), default=0.0)
    return Piece(notes, bpm, sigs, end=end)


def read_mat(path: Path) -> Iterator[tuple[str, str, Piece]]:
    """(split, name, piece) for every piano roll in a Boulanger-Lewandowski .mat file: keys
    traindata/validdata/testdata, each a list of T x 88 0/1 rolls (column + 21 = MIDI pitch).
    One row is one frame: a quarter note for JSB chorales, an eighth for the others."""
    try:
        import scipy.io
    except ImportError:
        raise DataError(
            f"{path}: reading .mat piano rolls needs scipy (pip install scipy)"
        ) from None
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:
        raise DataError(f"{path}: not a readable .mat file ({type(e).__name__})") from None
    keys = {"train": "traindata", "valid": "validdata", "test": "testdata"}
    if not any(k in mat for k in keys.values()):
        raise DataError(f"{path}: no traindata/validdata/testdata arrays (not a piano-roll .mat)")
    grid = 1.0 if "jsb" in path.name.lower() else 0.5
    for split, key in keys.items():
        if key not in mat:
            continue
        rolls = np.asarray(mat[key], dtype=object).ravel()
        for k, roll in enumerate(rolls):
            roll = np.asarray(roll)
            if roll.ndim != 2 or roll.shape[1] not in (88, 128):
                raise DataError(f"{path}: {key}[{k}] has shape {roll.shape}, expected (T, 88)")
            yield split, f"{path.name}:{split}:{k}", roll_to_piece(roll, grid)


def roll_to_piece(roll: np.ndarray, grid: float, low: int | None = None) -> Piece:
    """A T x 88 (or x 128) 0/1 piano roll as notes: a run of frames where a pitch sounds is
    one note. The piece keeps its own grid and has no tempo or metre header."""
    roll = np.asarray(roll) > 0
    low = (21 if roll.shape[1] == 88 else 0) if low is None else low
    sec = 60.0 / DEFAULT_TEMPO
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), bool)
    padded[1:-1] = roll
    diff = np.diff(padded.astype(np.int8), axis=0)
    notes = []
    for col in range(roll.shape[1]):
        starts = np.flatnonzero(diff[:, col] == 1)
        ends = np.flatnonzero(diff[:, col] == -1)
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            q0, q1 = s * grid, e * grid
            notes.append(Note(0, col + low, q0 * sec, q1 * sec, 80, q0, q1))
    notes.sort(key=lambda n: (n.qstart, n.pitch))
    return Piece(notes, None, [], grid=grid, end=roll.shape[0] * grid)


# --- writing ---------------------------------------------------------------------------------
def to_pretty_midi(piece: Piece):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=piece.tempo or DEFAULT_TEMPO)
    for _, t, num, den in piece.time_signatures:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, t))
    by_prog: dict[int, list[Note]] = {}
    for n in piece.notes:
        by_prog.setdefault(n.program, []).append(n)
    for prog in sorted(by_prog):
        drum = prog == DRUMS
        name = "Drums" if drum else pretty_midi.program_to_instrument_name(prog)
        inst = pretty_midi.Instrument(program=0 if drum else prog, is_drum=drum, name=name)
        for n in by_prog[prog]:
            end = max(n.end, n.start + 0.01)
            inst.notes.append(pretty_midi.Note(n.velocity, n.pitch, n.start, end))
        pm.instruments.append(inst)
    return pm


def write_piece(piece: Piece, path: Path, text: str = "", grid: float = 0.25) -> str | None:
    """Write by suffix: .mid/.midi, .musicxml/.xml/.mxl (quantised to ``grid`` quarter notes
    unless the piece has its own), .wav, .png, .txt. Returns a note for the user (which
    synthesiser was used) or None."""
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        pm = to_pretty_midi(piece)
        with atomic_path(path) as tmp:
            pm.write(str(tmp))
        return None
    if suffix in (".musicxml", ".xml", ".mxl"):
        from seqgen_plugins.midi.notation import write_score

        write_score(piece, path, "mxl" if suffix == ".mxl" else "musicxml", piece.grid or grid)
        return None
    if suffix == ".wav":
        from seqgen_plugins.midi.audio import write_audio

        return write_audio(piece, path)
    if suffix == ".png":
        _write_plot(piece, path)
        return None
    if suffix == ".txt":
        from seqgen.io import atomic_write_text

        atomic_write_text(path, text)
        return None
    raise SeqgenError(
        f"{path}: the midi domain writes .mid, .midi, .musicxml, .xml, .mxl, .wav, .png or .txt, "
        f"not {suffix or 'a file without suffix'}"
    )


def _write_plot(piece: Piece, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 5), dpi=100)
    cmap = plt.get_cmap("tab20")
    progs = sorted({n.program for n in piece.notes})
    for k, prog in enumerate(progs):
        bars = [(n.start, max(n.end - n.start, 0.01)) for n in piece.notes if n.program == prog]
        pitches = [n.pitch for n in piece.notes if n.program == prog]
        label = "drums" if prog == DRUMS else f"program {prog}"
        for (x, w), p in zip(bars, pitches, strict=True):
            ax.broken_barh([(x, w)], (p - 0.4, 0.8), color=cmap(k % 20))
        ax.plot([], [], color=cmap(k % 20), lw=6, label=label)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(f"{len(piece.notes)} notes")
    if progs:
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    from seqgen.io import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())


def note_for_user(msg: str | None) -> None:
    if msg:
        print(f"seqgen: {msg}", file=sys.stderr)
