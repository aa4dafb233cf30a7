"""The subword domain: text as learned subwords (BPE or Unigram, Hugging Face `tokenizers`),
byte-level, so every text encodes with no unknown token and decodes back exactly.

Reading goes through the char domain's reader (NFC, line breaks, lowercase, Gutenberg
stripping), so the two domains see the same characters. ``unit`` is "character" and
``count_units`` counts the characters the ids stand for (the UTF-8 lead bytes of their bytes):
``seqgen eval``'s bits per character compare exactly with the char, word and markup domains.
Unlike the word domain's ``<unk>``, nothing here hides a spelling the model does not pay for.

The model is learned in ``fit`` from the training split only (see :mod:`.subword_hf` for the
pipeline, the bounded training sample and the stored form).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seqgen_plugins import subword_hf as shf
from seqgen_plugins.char import CharTokenizer

from seqgen import hookimpl
from seqgen.errors import CheckpointError, SeqgenError
from seqgen.tokenizer import Document, Option, Tokenizer

STATE_VERSION = 1  # the pipeline of subword_hf; a new one would need a new version
READER_OPTIONS = ("lowercase", "strip_gutenberg", "newlines", "encoding")

SAMPLE = """\
ROMEO: But, soft! what light through yonder window breaks?
It is the east, and Juliet is the sun. Été, café — naïve façade.
İstanbul'da ılık bir gün; 東京 and 😀 emoji, tabs\tand  double  spaces.

JULIET: O Romeo, Romeo! wherefore art thou Romeo? 1,200 miles... "Deny thy father."
"""


def info(msg: str) -> None:
    print(f"seqgen: {msg}", file=sys.stderr)


class SubwordTokenizer(Tokenizer):
    name = "subword"
    description = (
        "Text as learned subwords: byte-level BPE or Unigram (Hugging Face tokenizers), no <unk>."
    )
    unit = "character"
    output_suffix = ".txt"
    file_patterns = CharTokenizer.file_patterns  # the same files as the char domain
    options = (
        Option(
            "model",
            "bpe",
            "bpe: byte-level BPE (GPT-2's); unigram: a Unigram language model (SentencePiece's), "
            "over the same 256 byte tokens",
            str,
            ("bpe", "unigram"),
        ),
        Option(
            "vocab",
            2000,
            f"vocabulary size, <eod> and the 256 byte tokens included ({shf.MIN_VOCAB:,} to "
            f"{shf.MAX_VOCAB:,}); learned from the training split, which may give fewer",
            int,
            check=shf.check_vocab,
        ),
        *(o for o in CharTokenizer.options if o.name in READER_OPTIONS),
    )

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.kind = str(self.settings.get("model", "bpe"))
        self._hf = None  # built on first use: an unfitted tokenizer knows the bytes alone
        self._set_spec(shf.untrained(self.kind), build=False)

    # --- reading ---------------------------------------------------------------------------
    def _reader(self) -> CharTokenizer:
        return CharTokenizer({k: self.settings[k] for k in READER_OPTIONS if k in self.settings})

    def normalize(self, text: str) -> str:
        return self._reader().normalize(text)

    def read(self, path: Path) -> Iterator[Document]:
        yield from self._reader().read(path)

    # --- vocabulary ------------------------------------------------------------------------
    def fit(self, documents: Iterable[Document]) -> None:
        sample = shf.Sample()
        for doc in documents:
            for part in doc.parts:
                sample.add(part)
        texts = sample.texts(shf.DISTINCT_CHARS[self.kind])
        used = sum(map(len, texts))
        if used < sample.read:
            info(
                f"subword: {self.kind} learned from an evenly spread {used:,}-character sample "
                f"of the {sample.read:,} training characters"
            )
        self._set_spec(shf.train(self.kind, int(self.settings.get("vocab", 2000)), texts))

    def _set_spec(self, spec: Any, build: bool = True) -> None:
        if build:
            self._hf, table = shf.load(spec, self.kind)
        else:
            table = [bytes(shf.BYTE_OF[c] for c in t) for t in _entries(spec)]
            self._hf = None
        self._spec = spec
        self._bytes = np.array([b"", *table], dtype=object)  # id 0 is <eod>
        lead = [sum((b & 0xC0) != 0x80 for b in t) for t in table]  # UTF-8 lead bytes
        self._chars = np.array([0, *lead], dtype=np.int64)

    def _model(self):
        if self._hf is None:
            self._hf, _ = shf.load(self._spec, self.kind)
        return self._hf

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    @property
    def eod_id(self) -> int:
        return 0

    # --- ids -------------------------------------------------------------------------------
    def encode(self, part: str) -> np.ndarray:
        pieces = list(shf.windows(part, shf.ENCODE_CHARS))
        if not pieces:
            return np.zeros(0, np.int64)
        done = self._model().encode_batch(pieces, add_special_tokens=False)
        return np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in done]) + 1

    def encode_prime(self, text: str) -> list[int]:
        """Any text primes: what the vocabulary lacks is spelled in bytes."""
        return self.encode(self.normalize(text)).tolist()

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``; a broken UTF-8 sequence (a sampler can draw one) is U+FFFD."""
        ids = np.asarray(ids, dtype=np.int64)
        return b"".join(self._bytes[ids[ids != 0]]).decode("utf-8", errors="replace")

    def to_text(self, ids: Sequence[int]) -> str:
        return self.decode(ids)

    def count_units(self, ids: np.ndarray) -> int:
        """Characters the ids stand for: their bytes that start a UTF-8 character."""
        return int(self._chars[np.asarray(ids, dtype=np.int64)].sum())

    def eval_extras(self, ids: np.ndarray) -> dict[str, Any]:
        """Characters per token: how much text one step of the model covers."""
        ids = np.asarray(ids)
        tokens = int(np.count_nonzero(ids != 0))
        return {"characters_per_token": self.count_units(ids) / max(tokens, 1)}

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"version": STATE_VERSION, "settings": self.settings, "model": self._spec}

    @classmethod
    def from_state(cls, state: dict) -> SubwordTokenizer:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise CheckpointError(
                f"subword tokenizer state: version {_get(state, 'version')!r}, this seqgen "
                f"reads {STATE_VERSION}"
            )
        tok = cls(settings=_checked_settings(cls, state.get("settings")))
        tok._set_spec(state.get("model"))
        return tok

    # --- testing ---------------------------------------------------------------------------
    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        path = Path(directory) / "subword.txt"
        path.write_text(SAMPLE * 4, encoding="utf-8")
        return path


def _get(state: Any, key: str) -> Any:
    return state.get(key) if isinstance(state, dict) else None


def _entries(spec: dict) -> list[str]:
    return spec["vocab"] if spec["type"] == "bpe" else [p for p, _ in spec["pieces"]]


def _checked_settings(cls: type[Tokenizer], settings: Any) -> dict[str, Any]:
    """Stored settings as options would give them; a CheckpointError for anything else."""
    if not isinstance(settings, dict):
        raise CheckpointError("subword tokenizer state: the settings are not a mapping")
    try:
        parsed = cls.parse_options({k: str(v) for k, v in settings.items()})
    except SeqgenError as e:
        raise CheckpointError(f"subword tokenizer state: {e}") from None
    changed = [k for k, v in settings.items() if parsed[k] != v or type(parsed[k]) is not type(v)]
    if changed:
        raise CheckpointError(f"subword tokenizer state: setting {changed[0]!r} is mistyped")
    return parsed


@hookimpl
def register_domains(register):
    register(SubwordTokenizer)
