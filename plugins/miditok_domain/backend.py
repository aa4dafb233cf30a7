"""MidiTok behind the miditok domain: which tokenizations are exposed, the one configuration
they share, training BPE on scores, and the trained tokenizer as plain JSON data.

MidiTok and symusic are an optional extra (``pip install "seqgen[miditok]"``); nothing here
imports them at module import time, so seqgen loads this plugin without them and refuses
``--domain miditok`` in one line instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError

INSTALL = 'pip install "seqgen[miditok]"'
# Flat, single-stream tokenizations (one id per step), which seqgen's one-stream LSTM can model.
# CPWord, Octuple, MuMIDI and MMM are multi-stream or multi-track layouts: not exposed.
TOKENIZATIONS = ("REMI", "TSD", "MIDILike", "Structured")
NOTE_TYPES = ("Pitch", "PitchDrum", "NoteOn", "DrumOn")  # the token that starts a note
# Time signatures MidiTok keeps (others are dropped from the stream; notes are unaffected):
# denominator -> numerators. Covers every metre of the shared MIDI folder but 11/32.
TIME_SIGNATURES = {2: [1, 2, 3, 4], 4: list(range(1, 13)), 8: list(range(1, 13)), 16: [7, 9]}
VERSION = 1  # of the tokenizer state this domain writes


def require() -> Any:
    """The miditok module, or one line saying how to install it."""
    try:
        import miditok  # noqa: F401
        import symusic  # noqa: F401
    except ImportError as e:
        raise SeqgenError(
            f"the miditok domain needs MidiTok and symusic ({e.name} is not installed): {INSTALL}"
        ) from None
    return sys.modules["miditok"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MidiTok warns about every unsupported time signature and similar oddities of real
    files; the domain documents what it drops instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def config():
    """The configuration every exposed tokenization shares: all 128 pitches (drums too), 32
    velocities, MidiTok's default beat resolution (8 positions per beat up to 4 beats, 4 up to
    12), programs in one stream, tempos and time signatures where the tokenization has them."""
    miditok = require()
    return miditok.TokenizerConfig(
        pitch_range=(0, 127),
        drums_pitch_range=(0, 127),
        num_velocities=32,
        use_programs=True,
        one_token_stream_for_programs=True,
        use_tempos=True,
        use_time_signatures=True,
        time_signature_range=TIME_SIGNATURES,
        delete_equal_successive_tempo_changes=True,
    )


def create(tokenization: str):
    """A fresh MidiTok tokenizer (base vocabulary, not trained)."""
    miditok = require()
    with quiet():
        return getattr(miditok, tokenization)(config())


def to_plain(tok) -> dict:
    """MidiTok's own serialisation (config, base vocabulary, trained model as the Hugging Face
    JSON string, library versions), normalised through JSON so it stays equal when loaded."""
    return json.loads(json.dumps(tok.to_dict()))


def from_plain(params: dict):
    """Rebuild a MidiTok tokenizer from :func:`to_plain`'s data (MidiTok loads params only
    from a file, so through a temporary one)."""
    miditok = require()
    name = params.get("tokenization")
    if name not in TOKENIZATIONS:
        raise SeqgenError(f"miditok state names tokenization {name!r}, not one of {TOKENIZATIONS}")
    with tempfile.TemporaryDirectory(prefix="seqgen-miditok-") as folder:
        path = Path(folder) / "tokenizer.json"
        path.write_text(json.dumps(params), encoding="utf-8")
        with quiet():
            return getattr(miditok, name)(params=path)


def bar_strings(tok, score) -> list[str]:
    """The score's base tokens as MidiTok feeds them to its model: one string (a character per
    token) per bar, exactly as ``encode`` splits them before applying BPE."""
    with quiet():  # as MidiTok's own TokTrainingIterator.load_file does it
        seq = tok.encode(score, encode_ids=False)
        return [tok._ids_to_bytes(s.ids, as_one_str=True) for s in seq.split_per_bars() if len(s)]


def train(tok, vocab: int, scores: Iterable) -> None:
    """Train ``tok``'s BPE with MidiTok's own ``train`` (Hugging Face tokenizers) to ``vocab``
    ids on the bars of ``scores``. (MidiTok's Unigram is not exposed: its training is not
    deterministic, by MidiTok's own documentation, and on a small corpus it learned a model
    that could not encode its own training bars.) Its progress bar is written straight to
    the terminal, so the file descriptors are silenced while it runs."""
    texts = [text for score in scores for text in bar_strings(tok, score)]
    if not texts:
        raise SeqgenError("no training bars to learn a BPE vocabulary from")
    with quiet(), _silent_fds():
        tok.train(vocab_size=vocab, model="BPE", iterator=texts)


@contextlib.contextmanager
def _silent_fds() -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def structured_times(tok, score):
    """``score`` with its onsets as Structured decodes them: the gap between successive onsets
    is one time shift, rounded to the nearest value MidiTok has (its duration grid, at most 12
    beats), so each rounding moves every later note. ``score`` is MidiTok-preprocessed."""
    import numpy as np
    from miditok.utils.utils import np_get_closest

    onsets = np.array(sorted({n.time for t in score.tracks for n in t.notes}), dtype=np.int64)
    gaps = np.diff(onsets, prepend=0)
    moved = gaps != 0
    if moved.any():
        table = tok._tpb_to_time_array[score.ticks_per_quarter]
        gaps[moved] = np_get_closest(table, gaps[moved])
    at = dict(zip(onsets.tolist(), np.cumsum(gaps).tolist(), strict=True))
    out = score.copy()
    for track in out.tracks:
        for note in track.notes:
            note.time = at[note.time]
    return out


def token_lists(tok) -> list[list[str]]:
    """For every id, the base tokens it stands for (one, or several for a learned token)."""
    if not tok.is_trained:
        names = {i: t for t, i in tok.vocab.items()}
        return [[names[i]] for i in range(len(tok))]
    learned = tok._model.get_vocab()  # the model's strings -> ids
    expand = tok._vocab_learned_bytes_to_tokens  # the same strings -> base tokens
    out: list[list[str]] = [[] for _ in range(len(tok))]
    for text, i in learned.items():
        out[i] = list(expand[text])
    return out


def special_ids(tok) -> dict[str, int]:
    """The model's id of each special token (PAD, BOS, EOS, MASK)."""
    if not tok.is_trained:
        return {t: tok.vocab[t] for t in tok.special_tokens}
    out = {}
    for t in tok.special_tokens:
        i = tok._model.token_to_id(tok._vocab_base_id_to_byte[tok.vocab[t]])
        if i is None:
            raise SeqgenError(f"the trained MidiTok model has no id for {t}")
        out[t] = int(i)
    return out
