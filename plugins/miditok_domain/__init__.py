"""The miditok domain: MidiTok's tokenizations (REMI, TSD, MIDILike, Structured) over symusic
scores, with an optional BPE vocabulary trained on the training split.

``seqgen train --domain miditok -o tokenization=REMI -o vocab=5000 --corpus FOLDER``. The
tokenizer's config and trained model go into the checkpoint as MidiTok's own JSON data;
``unit`` is "note", so ``seqgen eval`` reports nats per note as the midi domain does. MidiTok
and symusic are an optional extra (``pip install "seqgen[miditok]"``): this module imports
without them, and ``--domain miditok`` then says in one line how to install them.
``backend.py`` holds everything that touches MidiTok, ``scores.py`` reading and notes,
``tokenizer.py`` the contract.
"""

from __future__ import annotations

from seqgen_plugins.miditok_domain.tokenizer import MiditokTokenizer

from seqgen import hookimpl

__all__ = ["MiditokTokenizer"]


@hookimpl
def register_domains(register):
    register(MiditokTokenizer)
