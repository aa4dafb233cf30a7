"""The miditok tokenizer: MidiTok's REMI, TSD, MIDILike or Structured over symusic scores, with an
optional BPE vocabulary trained on the training split; ``unit`` is "note"."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seqgen_plugins.midi.tokenizer import pieces
from seqgen_plugins.miditok_domain import backend
from seqgen_plugins.miditok_domain.backend import NOTE_TYPES, TOKENIZATIONS, quiet
from seqgen_plugins.miditok_domain.scores import (
    describe_difference,
    music_seconds,
    note_tuples,
    paired_fifo,
    read_score,
    to_piece,
)

from seqgen.errors import DataError, OptionError
from seqgen.io import atomic_path
from seqgen.tokenizer import Document, Option, Tokenizer

MAX_VOCAB = 65536  # ids stay uint16 in the token store


class MiditokTokenizer(Tokenizer):
    name = "miditok"
    description = (
        "Music through MidiTok (REMI, TSD, MIDILike, Structured; optional BPE) on "
        'symusic; needs pip install "seqgen[miditok]".'
    )
    unit = "note"
    output_suffix = ".mid"
    file_patterns = ("*.mid", "*.midi", "*.MID", "*.MIDI")
    renders = {"audio": (".wav",), "plot": (".png",)}  # the midi domain's writers
    options = (
        Option(
            "tokenization",
            "REMI",
            "MidiTok's flat tokenizations: REMI (bars and positions), TSD (time shifts and "
            "durations), MIDILike (note-on/off and time shifts), Structured (one time shift "
            "per note)",
            str,
            TOKENIZATIONS,
        ),
        Option(
            "vocab",
            0,
            "train MidiTok's BPE on the training split to this many ids in all "
            "(0: the base vocabulary, nothing trained)",
            int,
        ),
    )

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.settings.setdefault("tokenization", "REMI")
        self.settings.setdefault("vocab", 0)
        self.mt = backend.create(self.settings["tokenization"])
        self._derive()

    def _derive(self) -> None:
        """Tables read from the MidiTok tokenizer: each id's base tokens and notes, specials."""
        self.token_lists = backend.token_lists(self.mt)
        self.notes_of_id = np.array(
            [sum(t.split("_")[0] in NOTE_TYPES for t in names) for names in self.token_lists],
            dtype=np.int64,
        )
        self.specials = backend.special_ids(self.mt)
        self._special_set = frozenset(self.specials.values())

    @classmethod
    def parse_options(cls, given: dict[str, str]) -> dict[str, Any]:
        values = super().parse_options(given)
        backend.require()
        vocab = values["vocab"]
        if vocab:
            base = len(backend.create(values["tokenization"]))
            if not base < vocab <= MAX_VOCAB:
                raise OptionError(
                    f"-o vocab={vocab}: give more than {values['tokenization']}'s {base} base "
                    f"tokens and at most {MAX_VOCAB} (or 0 for the base vocabulary)"
                )
        return values

    # --- reading and fitting ---------------------------------------------------------------
    def read(self, path: Path) -> Iterator[Document]:
        yield Document(str(path), [read_score(Path(path))])

    def fit(self, documents: Iterable[Document]) -> None:
        """Nothing to learn for the base vocabulary; with ``-o vocab=N``, MidiTok's own
        ``train`` learns a BPE model on the training documents' bars."""
        vocab = int(self.settings.get("vocab") or 0)
        if not vocab:
            return
        scores = (part for doc in documents for part in doc.parts)
        backend.train(self.mt, vocab, scores)
        self._derive()

    @property
    def vocab_size(self) -> int:
        return len(self.token_lists)

    @property
    def eod_id(self) -> int:
        return self.specials["EOS_None"]

    @property
    def special_ids(self) -> list[int]:
        return sorted(self._special_set)

    # --- ids -------------------------------------------------------------------------------
    def encode(self, part) -> np.ndarray:
        with quiet():
            return np.asarray(self.mt.encode(part).ids, dtype=np.int64)

    def decode(self, ids: Sequence[int]):
        """A ``symusic.Score``; special ids (end of piece included) are skipped, so several
        pieces in a row decode as one."""
        import symusic

        kept = [int(i) for i in ids if int(i) not in self._special_set]
        if not kept:
            return symusic.Score(self.mt.time_division)
        with quiet():
            return self.mt.decode(kept)

    def count_units(self, ids: np.ndarray) -> int:
        """Notes: the Pitch/PitchDrum/NoteOn/DrumOn base tokens the ids stand for."""
        return int(self.notes_of_id[np.asarray(ids, dtype=np.int64)].sum())

    def eval_units(self, ids: np.ndarray) -> dict[str, float]:
        ids = np.asarray(ids, dtype=np.int64)
        seconds = sum(music_seconds(self.decode(doc)) for doc in pieces(ids, self.eod_id))
        return {"note": float(self.count_units(ids)), "second": float(seconds)}

    def reference(self, part):
        """MidiTok's preprocessing, which is what it tokenizes: onsets on its grid (8 per
        beat), durations on its duration grid (at most 12 beats), 32 velocities; Structured
        also rounds each gap between onsets to one time shift (``structured_times``)."""
        with quiet():
            score = self.mt.preprocess_score(part)
            if self.settings["tokenization"] == "Structured":
                return backend.structured_times(self.mt, score)
            return score

    def check_part(self, part) -> str | None:
        got = note_tuples(self.decode(self.encode(part)))
        want = note_tuples(self.reference(part))
        if self.settings["tokenization"] == "MIDILike":  # note-offs close the oldest note
            return describe_difference(paired_fifo(got), paired_fifo(want))
        return describe_difference(got, want)

    def encode_prime(self, text: str) -> list[int]:
        """``--prime`` as MidiTok base token names: "Bar_None Position_0 Program_0 Pitch_60"."""
        names = text.split()
        unknown = [n for n in names if n not in self.mt.vocab]
        if unknown:
            raise DataError(
                f"--prime: {', '.join(unknown[:5])} not in {self.settings['tokenization']}'s "
                "vocabulary (give MidiTok token names such as 'Bar_None Position_0 Pitch_60', "
                "or a MIDI file with --prime-file)"
            )
        from miditok import TokSequence

        seq = TokSequence(tokens=names, ids=[self.mt.vocab[n] for n in names])
        if self.mt.is_trained:
            with quiet():
                self.mt.complete_sequence(seq, complete_bytes=True)
                self.mt.encode_token_ids(seq)
        return [int(i) for i in seq.ids]

    # --- output ----------------------------------------------------------------------------
    def to_text(self, ids: Sequence[int]) -> str:
        return "".join(self._text(int(i)) for i in ids)

    def _text(self, i: int) -> str:
        if i == self.eod_id:
            return "<eod>\n"
        if not 0 <= i < self.vocab_size:
            return f"<{i}?> "
        return " ".join(self.token_lists[i]) + " "

    def write(self, ids: Sequence[int], path: Path) -> None:
        """``.mid``/``.midi`` as MidiTok decodes it (symusic writes it); ``.wav``, ``.png``,
        ``.musicxml``/``.xml``/``.mxl`` and ``.txt`` through the midi domain's writers."""
        from seqgen_plugins.midi.io import MIDI_SUFFIXES, note_for_user, write_piece

        path = Path(path)
        score = self.decode(ids)
        if path.suffix.lower() in MIDI_SUFFIXES:
            with atomic_path(path) as tmp:
                score.dump_midi(str(tmp))
            return
        note_for_user(write_piece(to_piece(score), path, text=self.to_text(ids)))

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        """The settings and MidiTok's own serialisation: its config, base vocabulary and
        trained model (the Hugging Face tokenizer's JSON text), as plain data."""
        return {
            "version": backend.VERSION,
            "settings": dict(self.settings),
            "miditok": backend.to_plain(self.mt),
        }

    @classmethod
    def from_state(cls, state: dict) -> MiditokTokenizer:
        tok = cls(settings=state["settings"])
        tok.mt = backend.from_plain(state["miditok"])
        tok._derive()
        return tok

    @classmethod
    def sample_corpus(cls, directory: Path) -> Path | None:
        """The midi domain's two short MIDI files (none without MidiTok: the kit skips)."""
        try:
            backend.require()
        except Exception:
            return None
        from seqgen_plugins.midi.tokenizer import MidiTokenizer

        return MidiTokenizer.sample_corpus(directory)
