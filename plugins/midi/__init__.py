"""The midi domain: MIDI files (pretty_midi), scores (music21: MusicXML, ABC, Humdrum and its
bundled corpus) and Boulanger-Lewandowski piano rolls (.mat), as one fixed vocabulary.

Two encodings (``-o encoding=``), each in its own module:

* ``performance`` (PerformanceRNN, ``performance.py``): note-on / note-off per pitch, time-shift
  in 10 ms steps up to 1 s, 32 velocity bins; expressive timing kept to 10 ms. ``unit`` is
  "event".
* ``frames`` (``frames.py``): a grid (``-o grid=16th``; ``quarter`` for chorales); each frame
  lists the sounding pitches in ascending order, then a frame-end token. ``unit`` is "frame".

Both carry program tokens (drums are program 128), a tempo token and time-signature tokens
(``vocab.py``). The vocabulary is fixed in advance (all 128 pitches), so a test split can never
leak into it; ``fit`` learns only the longest note and the most simultaneous notes, which bound
sampling. ``io.py`` reads and writes files; ``corpora.py``
names music21's bundled corpus.
"""

from __future__ import annotations

from seqgen_plugins.midi.corpora import M21_COMPOSERS, SMALL, _m21_corpus, m21_files
from seqgen_plugins.midi.frames import Frames, FramesConstraint
from seqgen_plugins.midi.performance import Performance, PerformanceConstraint
from seqgen_plugins.midi.tokenizer import MidiTokenizer
from seqgen_plugins.midi.vocab import (
    DENS,
    EOD,
    FRAME,
    N_TEMPO,
    OFF,
    ON,
    PROG,
    SHIFT,
    TEMPO,
    TS,
    VOCAB,
    MidiClock,
    bin_tempo,
)  # fmt: skip

from seqgen import hookimpl

__all__ = [
    "DENS",
    "EOD",
    "FRAME",
    "N_TEMPO",
    "OFF",
    "ON",
    "PROG",
    "SHIFT",
    "TEMPO",
    "TS",
    "VOCAB",
    "bin_tempo",
    "Frames",
    "FramesConstraint",
    "MidiClock",
    "MidiTokenizer",
    "Performance",
    "PerformanceConstraint",
    "m21_files",
]


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
