"""The Hugging Face `tokenizers` side of the subword domain: one fixed pipeline, training on a
bounded sample of the training text, and the learned model as plain JSON data, checked on load.

The pipeline is the same for BPE and Unigram::

    text ──► Split: a run of 64 non-space (or 64 space) characters stands alone
         ──► ByteLevel (GPT-2's): words, numbers, punctuation and spaces apart; every UTF-8
             byte becomes one of 256 printable "byte characters"
         ──► BPE merges, or Unigram pieces, over those byte characters

All 256 byte characters are always in the vocabulary, so any text encodes (no unknown token)
and the ids decode to its exact bytes. The 64-character cap keeps a text without spaces from
becoming one enormous piece, which the trainers would pay for at every merge.

Only the learned data is stored (``{"type": "bpe", "vocab": [...], "merges": [[a, b], ...]}``
or ``{"type": "unigram", "pieces": [[piece, score], ...]}``, exactly what
``Tokenizer.to_str()`` holds under ``"model"``); the pipeline around it is rebuilt from this
code, so a stored state can neither switch on randomness (BPE dropout) nor change how ids
decode, and it reads the same under any version of `tokenizers`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from seqgen.errors import CheckpointError, SeqgenError

RUN = 64  # longest run of non-space (or space) characters one pre-token may hold
MIN_VOCAB, MAX_VOCAB = 257, 65_536  # <eod> + the 256 byte tokens; ids fit the uint16 store
# Training reads an evenly spread sample of the training text (windows of WINDOW characters):
# at most SAMPLE_CHARS characters, thinned further until its distinct whitespace-separated
# words hold at most DISTINCT_CHARS[model] characters. The trainers' time and memory follow
# that distinct text: natural text has little (WikiText-2's 10.8 MB train split: 235 K), a
# text without spaces is all distinct, and Unigram's seeding grows faster than linearly in it.
SAMPLE_CHARS = 32_000_000
DISTINCT_CHARS = {"bpe": 4_000_000, "unigram": 256_000}
WINDOW = 1 << 16
ENCODE_CHARS = 1 << 18  # text encoded in one call (bounds the Encoding objects' memory)
SCORE_DIGITS = 6  # Unigram scores are rounded: training's float sums vary in the last bits
PROBE = "Probe: ÀÉ ığüşöç İstanbul 😀 \r\n\t\x00 x" * 2  # must survive any loaded model


def hf():
    """The `tokenizers` package, or a one-line error saying how to install it."""
    try:
        import tokenizers
    except ImportError:
        raise SeqgenError(
            "the subword domain needs Hugging Face tokenizers: pip install 'tokenizers>=0.19'"
        ) from None
    return tokenizers


def byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte 0..255 (what ByteLevel maps bytes to)."""
    keep = {*range(33, 127), *range(161, 173), *range(174, 256)}
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


BYTE_OF = {c: b for b, c in enumerate(byte_chars())}


def check_vocab(n: int) -> None:
    """ValueError unless ``n`` is an allowed vocabulary size (for ``-o vocab``)."""
    if not MIN_VOCAB <= n <= MAX_VOCAB:
        raise ValueError(f"give {MIN_VOCAB:,} to {MAX_VOCAB:,} (<eod> and the 256 bytes included)")


def windows(text: str, size: int) -> Iterator[str]:
    """``text`` in pieces of at most ``size`` characters, cut after a line break where the
    second half of a piece has one."""
    start = 0
    while len(text) - start > size:
        cut = text.rfind("\n", start + size // 2, start + size) + 1 or start + size
        yield text[start:cut]
        start = cut
    if start < len(text):
        yield text[start:]


class Sample:
    """An evenly spread, bounded sample of a stream of text, in one pass: windows of about
    ``window`` characters, every ``stride``-th kept; when the kept text passes ``chars``, every
    other kept window goes and the stride doubles."""

    def __init__(self, chars: int | None = None, window: int | None = None):
        self.chars, self.window = chars or SAMPLE_CHARS, window or WINDOW
        self.kept: list[str] = []
        self.size = self.seen = self.read = 0
        self.stride = 1

    def add(self, text: str) -> None:
        self.read += len(text)
        for w in windows(text, self.window):
            if self.seen % self.stride == 0:
                self.kept.append(w)
                self.size += len(w)
                while self.size > self.chars and len(self.kept) > 1:
                    self.kept, self.stride = self.kept[::2], self.stride * 2
                    self.size = sum(map(len, self.kept))
            self.seen += 1

    def texts(self, distinct: int) -> list[str]:
        """The kept windows, halved until their distinct words hold at most ``distinct``
        characters."""
        kept = self.kept
        while len(kept) > 1 and distinct_chars(kept, distinct) > distinct:
            kept = kept[::2]
        return kept


def distinct_chars(texts: list[str], stop: int) -> int:
    """Characters of the distinct whitespace-separated words of ``texts`` (counting stops
    once past ``stop``)."""
    seen: set[str] = set()
    total = 0
    for text in texts:
        for word in text.split():
            if word not in seen:
                seen.add(word)
                total += len(word)
                if total > stop:
                    return total
    return total


def pipeline(model):
    """A `tokenizers.Tokenizer` around ``model`` with the domain's pre-tokenizer and decoder."""
    tk = hf()
    pre = tk.pre_tokenizers
    tok = tk.Tokenizer(model)
    tok.pre_tokenizer = pre.Sequence(
        [
            pre.Split(tk.Regex(rf"\S{{{RUN}}}|\s{{{RUN}}}"), behavior="isolated"),
            pre.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = tk.decoders.ByteLevel()
    return tok


def untrained(kind: str) -> dict:
    """The model of the 256 byte characters alone (what an unfitted tokenizer uses)."""
    chars = byte_chars()
    if kind == "bpe":
        return {"type": "bpe", "vocab": chars, "merges": []}
    return {"type": "unigram", "pieces": [[c, round(-math.log(256), SCORE_DIGITS)] for c in chars]}


def train(kind: str, vocab: int, texts: list[str]) -> dict:
    """Learn a ``kind`` model with at most ``vocab`` - 1 entries (the 256 byte characters
    included; id 0 is seqgen's <eod>) from ``texts``; its stored form (see :func:`load`)."""
    tk = hf()
    size, alphabet = vocab - 1, byte_chars()
    if kind == "bpe":
        model = tk.models.BPE()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=size, min_frequency=2, initial_alphabet=alphabet, show_progress=False
        )
    else:
        model = tk.models.Unigram()
        trainer = tk.trainers.UnigramTrainer(
            vocab_size=size, initial_alphabet=alphabet, show_progress=False
        )
    tok = pipeline(model)
    tok.train_from_iterator(texts, trainer=trainer)
    learned = json.loads(tok.to_str())["model"]
    if kind == "bpe":
        ids = learned["vocab"]
        merges = [m.split(" ") if isinstance(m, str) else list(m) for m in learned["merges"]]
        return {"type": "bpe", "vocab": sorted(ids, key=ids.get), "merges": merges}
    # Equal scores in exact arithmetic come out a few bits apart, differently on every run;
    # rounded and sorted, the same text always gives the same ids.
    pieces = [(p, round(s, SCORE_DIGITS)) for p, s in learned["vocab"]]
    pieces.sort(key=lambda ps: (-ps[1], ps[0]))
    return {"type": "unigram", "pieces": [[p, s] for p, s in pieces]}


def load(spec: Any, kind: str):
    """The `tokenizers.Tokenizer` of a stored model and each entry's bytes; a one-line
    CheckpointError for anything a trained model cannot be."""
    if not isinstance(spec, dict) or spec.get("type") != kind:
        raise _bad(f"the stored model is not a {kind} model")
    tk = hf()
    if kind == "bpe":
        tokens, merges = _bpe_parts(spec)
        index = {t: i for i, t in enumerate(tokens)}
        model = _build(lambda: tk.models.BPE(vocab=index, merges=[tuple(m) for m in merges]))
    else:
        pieces = _unigram_parts(spec)
        tokens = [p for p, _ in pieces]
        model = _build(lambda: tk.models.Unigram([(p, float(s)) for p, s in pieces], None, False))
    _check_tokens(tokens)
    table = [bytes(BYTE_OF[c] for c in t) for t in tokens]
    tok = pipeline(model)
    ids = tok.encode(PROBE, add_special_tokens=False).ids
    if b"".join(table[i] for i in ids) != PROBE.encode():
        raise _bad("the stored model does not round-trip text")
    return tok, table


def _bad(why: str) -> CheckpointError:
    return CheckpointError(f"subword tokenizer state: {why}")


def _build(make):
    try:
        return make()
    except Exception as e:  # tokenizers' own refusal, e.g. a merge of unknown tokens
        why = " ".join(str(e).split())[:120] or type(e).__name__
        raise _bad(f"tokenizers refuses the stored model ({why})") from None


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{what} is not a list of strings")
    return value


def _bpe_parts(spec: dict) -> tuple[list[str], list[list[str]]]:
    tokens = _strings(spec.get("vocab"), "the vocabulary")
    merges = spec.get("merges")
    if not isinstance(merges, list) or len(merges) >= len(tokens):
        raise _bad("the merges are not a list shorter than the vocabulary")
    known = set(tokens)
    for m in merges:
        pair = _strings(m, "a merge")
        if len(pair) != 2 or pair[0] + pair[1] not in known or not set(pair) <= known:
            raise _bad(f"the merge {m!r} is not two vocabulary entries forming a third")
    return tokens, merges


def _unigram_parts(spec: dict) -> list[list]:
    pieces = spec.get("pieces")
    ok = isinstance(pieces, list) and all(
        isinstance(p, list)
        and len(p) == 2
        and isinstance(p[0], str)
        and isinstance(p[1], int | float)
        and math.isfinite(p[1])
        and p[1] <= 0
        for p in pieces
    )
    if not ok:
        raise _bad("the pieces are not [text, log-probability] pairs")
    return pieces


def _check_tokens(tokens: list[str]) -> None:
    if not 256 <= len(tokens) <= MAX_VOCAB - 1 or len(set(tokens)) != len(tokens):
        raise _bad(f"the vocabulary has {len(tokens):,} entries, or repeats one")
    if any(not t or not set(t) <= BYTE_OF.keys() for t in tokens):
        raise _bad("a vocabulary entry is not made of byte characters")
    if not BYTE_OF.keys() <= set(tokens):
        raise _bad("the vocabulary lacks some of the 256 byte tokens")
