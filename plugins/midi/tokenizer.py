"""The midi tokenizer: reading, the fixed vocabulary's options and augmentation, and output; the
encoding (``performance`` or ``frames``) is an object chosen once, in its own module."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seqgen_plugins.midi.frames import Frames
from seqgen_plugins.midi.io import (
    DRUMS,
    MIDI_SUFFIXES,
    SCORE_SUFFIXES,
    Piece,
    note_for_user,
    read_mat,
    read_midi,
    read_scores,
    write_piece,
)
from seqgen_plugins.midi.labels import (
    bar_sections,
    bar_starts,
    notes_per_second,
    piece_labels,
    terciles,
)
from seqgen_plugins.midi.performance import Performance
from seqgen_plugins.midi.vocab import (
    DENS,
    EOD,
    FRAME,
    N_PROG,
    OFF,
    ON,
    PROG,
    SHIFT,
    TEMPO,
    TS,
    VEL,
    VOCAB,
    MidiClock,
    bin_tempo,
    bin_vel,
    parse_grid,
    pitch_name,
)  # fmt: skip

from seqgen.errors import DataError, OptionError
from seqgen.io import not_a_file
from seqgen.tokenizer import Constraint, Document, Option, Tokenizer

KEEP_NOTES = 1_000_000  # notes of files parsed while fitting kept for encoding (~300 MB)


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
    # write() dispatches on the suffix; "score" is offered by the studio beside the .mid
    renders = {"audio": (".wav",), "plot": (".png",), "score": (".musicxml",)}
    measures = ("seconds", "bars")
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
        self.grid = parse_grid(self.settings["grid"])
        frames = self.settings["encoding"] == "frames"
        self.encoding = Frames(self) if frames else Performance(self)
        self.unit = self.encoding.unit  # type: ignore[misc]
        # the longest note and most simultaneous notes of the corpus, in the encoding's units
        # (learned by fit; None in an unfitted tokenizer or an old checkpoint: no bound)
        self.limits: dict[str, int] | None = None
        # notes per second parting the training pieces in thirds (labels' density; fit)
        self.density_cuts: list[float] | None = None
        self._fitting = False
        self._parsed: dict[str, list[Document]] = {}  # read while fitting, handed out once
        self._kept_notes = 0

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
            elif t == FRAME and self.encoding.frame_resets_program:
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
        """The file's documents; a file parsed while fitting is handed out from memory once
        (so ``fit`` does not double the parsing), up to ``KEEP_NOTES`` notes in all."""
        kept = self._parsed.pop(str(path), None)
        if kept is not None:
            yield from (Document(d.name, list(d.parts), d.split) for d in kept)
            return
        if not self._fitting:
            yield from self._read(Path(path))
            return
        docs = []
        for doc in self._read(Path(path)):
            docs.append(Document(doc.name, list(doc.parts), doc.split))
            yield Document(doc.name, list(docs[-1].parts), doc.split)
        notes = sum(len(part) for d in docs for part in d.parts)
        if self._kept_notes + notes <= KEEP_NOTES:
            self._parsed[str(path)], self._kept_notes = docs, self._kept_notes + notes

    def _read(self, path: Path) -> Iterator[Document]:
        suffix = path.suffix.lower()
        if not path.is_file():
            raise DataError(f"{path}: {not_a_file(path)}")
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
        """The vocabulary is fixed (all pitches, programs, bins); what is learned bounds
        sampling: the longest note and the most notes sounding at once that LIMIT_SHARE of
        the pieces stay within. A few atypical pieces (a chorale with its instrumental parts,
        a held pedal) do not set the bound for the rest."""
        longest: list[int] = []
        polyphony: list[int] = []
        density: list[float] = []
        self._fitting = True
        try:
            for doc in documents:
                for part in doc.parts:
                    n, k = self.encoding.limits(part)
                    longest.append(n)
                    polyphony.append(k)
                    density.append(notes_per_second(part))
        finally:
            self._fitting = False
        self.density_cuts = terciles(density)
        self.limits = {
            "longest": max(_share_within(longest, LIMIT_SHARE), 1),
            "polyphony": max(_share_within(polyphony, LIMIT_SHARE), 1),
        }

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

    # --- the encoding ----------------------------------------------------------------------
    def canon(self, piece: Piece) -> tuple:
        return self.encoding.canon(piece)

    def encode(self, part: Piece) -> np.ndarray:
        return np.asarray(self.encoding.encode(part), dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> Piece:
        return self.encoding.decode([int(i) for i in ids])

    def count_units(self, ids: np.ndarray) -> int:
        return self.encoding.count_units(ids)

    def eval_units(self, ids: np.ndarray) -> dict[str, float]:
        """Notes and seconds of music of the decoded pieces (a note held over frames is one
        note), so that every music domain's ``seqgen eval`` compares in nats per note."""
        notes = seconds = 0.0
        for piece_ids in pieces(np.asarray(ids, dtype=np.int64), EOD):
            piece = self.decode(piece_ids)
            notes += len(piece.notes)
            seconds += max((n.end for n in piece.notes), default=0.0)
        return {"note": notes, "second": seconds}

    def reference(self, part: Piece) -> Piece:
        """The part as the encoding keeps it: performance rounds times to 10 ms and velocities
        to 32 bins; frames keeps which pitches sound in each grid frame (velocity dropped)."""
        return self.encoding.reference(part)

    def check_part(self, part: Piece) -> str | None:
        got, want, got_cells, want_cells = self.encoding.compare(part)
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
            return self.encoding.on_name(pitch_name(i - ON))
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

    def labels(self, document: Document) -> dict[str, str]:
        """key (e.g. G-minor), mode, metre (first time signature), tempo (slow/medium/fast by
        the first tempo) and density (low/medium/high notes per second, in terciles of the
        training pieces) of the document's first piece."""
        parts = list(document.parts)
        return piece_labels(parts[0], self.density_cuts) if parts else {}

    def section_labels(self, ids: Sequence[int]) -> list[tuple[int, dict[str, str]]]:
        """Each bar, as ``--bars`` counts them (the stream's first tempo and its time
        signatures): the key of that bar and the next, and the bar's note density in the
        training pieces' terciles (docs/labels.md)."""
        ids = [int(i) for i in ids]
        starts = bar_starts(ids, self.clock())
        return bar_sections(starts, self.decode(ids), self.density_cuts) if starts else []

    def write(self, ids: Sequence[int], path: Path) -> None:
        """By suffix: .mid/.midi, .musicxml/.xml/.mxl (music21), .wav (FluidSynth or sine
        synthesis), .png (piano roll), .txt (event listing)."""
        piece = self.decode(ids)
        note_for_user(write_piece(piece, Path(path), text=self.to_text(ids), grid=self.grid))

    def clock(self) -> MidiClock:
        return MidiClock(self.encoding.clock_grid())

    def constraint(self) -> Constraint:
        return self.encoding.constraint(self.limits)

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        state = {"settings": dict(self.settings), "vocab": VOCAB}
        if self.limits is not None:
            state["limits"] = dict(self.limits)
        if self.density_cuts is not None:
            state["density_cuts"] = list(self.density_cuts)
        return state

    @classmethod
    def from_state(cls, state: dict) -> MidiTokenizer:
        """A checkpoint from before the limits were learned loads without them (no bound)."""
        tok = cls(settings=state["settings"])
        limits = state.get("limits")
        if isinstance(limits, dict):
            tok.limits = {k: int(limits[k]) for k in ("longest", "polyphony") if k in limits}
        cuts = state.get("density_cuts")
        if isinstance(cuts, list) and len(cuts) == 2:
            tok.density_cuts = [float(c) for c in cuts]
        return tok


LIMIT_SHARE = 0.9  # the bounds sampling keeps are those this share of the pieces stay within


def _share_within(values: list[int], share: float) -> int:
    """The smallest value that at least ``share`` of ``values`` do not exceed (0 if none)."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def pieces(ids: np.ndarray, eod: int) -> list[np.ndarray]:
    """The pieces of an id array, split at the end-of-piece ids (which are dropped)."""
    return [p[p != eod] for p in np.split(ids, np.flatnonzero(ids == eod)) if np.any(p != eod)]
