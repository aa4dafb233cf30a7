"""The character domain: any Unicode text, one token per character (after NFC normalisation).

Also registers the toy periodic bit patterns (``bits-3-1`` is ``0001`` repeated) as corpora.
"""

from __future__ import annotations

import mmap
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from seqgen import hookimpl
from seqgen.errors import DataError
from seqgen.io import join_tokens, read_text_chunks, text_encoding
from seqgen.tokenizer import Document, Option, Tokenizer

EOD, UNK = "<eod>", "<unk>"
N_SPECIAL = 2
N_BYTES = 256
START = "*** START OF TH"  # Project Gutenberg markers: "*** START OF THE/THIS PROJECT ..."
END = "*** END OF TH"


def _has_gutenberg_header(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(START.encode()) >= 0


class CharTokenizer(Tokenizer):
    name = "char"
    description = "Unicode text, one token per character (NFC); Shakespeare, poetry, code."
    unit = "character"
    output_suffix = ".txt"
    file_patterns = ("*.txt", "*.md", "*.text", "*.py", "*.c", "*.h", "*.js", "*.tex")
    options = (
        Option("lowercase", False, "lowercase all text", bool),
        Option("strip_gutenberg", False, "drop the Project Gutenberg header and footer", bool),
        Option(
            "newlines",
            "unix",
            "unix: CRLF and CR become LF; keep: as in the file",
            str,
            ("unix", "keep"),
        ),
        Option(
            "unknown",
            "unk",
            "characters missing from the vocabulary: unk (one <unk> token), bytes (spelled as "
            "UTF-8 byte tokens, lossless) or error",
            str,
            ("unk", "bytes", "error"),
        ),
        Option("encoding", "utf-8", "text encoding of the files", str, check=text_encoding),
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        self.chars: list[str] = []
        self._cps = np.zeros(0, np.int64)

    # --- reading ---------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        if self.settings.get("newlines", "unix") == "unix":
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self.settings.get("lowercase"):
            text = text.lower()
        return text

    def read(self, path: Path) -> Iterator[Document]:
        encoding = self.settings.get("encoding", "utf-8")
        encoding = "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
        strip = bool(self.settings.get("strip_gutenberg")) and _has_gutenberg_header(path)

        def parts() -> Iterator[str]:
            where = "header" if strip else "body"
            for chunk in read_text_chunks(path, encoding):  # chunks end at line breaks
                if where == "header":
                    at = chunk.find(START)
                    if at < 0:
                        continue
                    chunk, where = chunk[chunk.find("\n", at) + 1 or len(chunk) :], "body"
                if where == "done":
                    return
                if strip and (at := chunk.find(END)) >= 0:
                    chunk, where = chunk[: chunk.rfind("\n", 0, at) + 1], "done"
                yield self.normalize(chunk)

        yield Document(str(path), parts())

    # --- vocabulary ------------------------------------------------------------------------
    def fit(self, documents: Iterable[Document]) -> None:
        counts: Counter[str] = Counter()
        for doc in documents:
            for part in doc.parts:
                counts.update(part)
        self._set_chars(sorted(counts))

    def _set_chars(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self._cps = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._table = np.array([EOD, UNK] + [""] * self._n_bytes + self.chars, dtype=object)

    @property
    def _n_bytes(self) -> int:
        return N_BYTES if self.settings.get("unknown") == "bytes" else 0

    @property
    def _offset(self) -> int:
        return N_SPECIAL + self._n_bytes

    @property
    def vocab_size(self) -> int:
        return self._offset + len(self.chars)

    @property
    def eod_id(self) -> int:
        return 0

    @property
    def special_ids(self) -> list[int]:
        return [0]

    # --- ids -------------------------------------------------------------------------------
    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        idx = np.searchsorted(self._cps, cps)
        idx = np.minimum(idx, max(len(self._cps) - 1, 0))
        found = self._cps[idx] == cps if len(self._cps) else np.zeros(len(cps), bool)
        return idx + self._offset, found

    def unknown_symbols(self, text: str) -> list[str]:
        _, found = self._lookup(text)
        return sorted({text[i] for i in np.flatnonzero(~found)})

    def encode(self, part: str) -> np.ndarray:
        ids, found = self._lookup(part)
        if found.all():
            return ids
        mode = self.settings.get("unknown", "unk")
        if mode == "error":
            missing = self.unknown_symbols(part)
            raise DataError(f"characters not in the vocabulary: {_show(missing)}")
        if mode == "unk":
            ids[~found] = 1
            return ids
        pieces, start = [], 0  # bytes: spell each unknown character as its UTF-8 bytes
        for i in np.flatnonzero(~found):
            pieces.append(ids[start:i])
            pieces.append(np.frombuffer(part[i].encode("utf-8"), np.uint8).astype(np.int64) + 2)
            start = i + 1
        pieces.append(ids[start:])
        return np.concatenate(pieces)

    def encode_prime(self, text: str) -> list[int]:
        text = self.normalize(text)
        missing = self.unknown_symbols(text)
        if missing and self.settings.get("unknown") != "bytes":
            raise DataError(f"--prime has characters the model never saw: {_show(missing)}")
        return self.encode(text).tolist()

    def decode(self, ids: Sequence[int]) -> str:
        ids = np.asarray(ids, dtype=np.int64)
        return join_tokens(ids[ids != 0], self._table, N_SPECIAL, self._n_bytes)

    def to_text(self, ids: Sequence[int]) -> str:
        return self.decode(ids)

    def count_units(self, ids: np.ndarray) -> int:
        """Characters: every id but <eod>; of byte tokens only the first byte of a character."""
        ids = np.asarray(ids)
        n = int(np.count_nonzero(ids != 0))
        if self._n_bytes:
            b = ids[(ids >= N_SPECIAL) & (ids < self._offset)] - N_SPECIAL
            n -= int(np.count_nonzero((b & 0xC0) == 0x80))  # UTF-8 continuation bytes
        return n

    def section_labels(self, ids: Sequence[int]) -> list[tuple[int, dict[str, str]]]:
        """Each paragraph after the first (a line that follows a blank line) is a section.
        It has no labels of its own: the document's labels are restated there
        (``--section-labels``, docs/labels.md)."""
        ids, nl = np.asarray(ids, dtype=np.int64), self._lookup("\n")
        if len(ids) < 3 or not nl[1][0]:
            return []
        nl_id = int(nl[0][0])
        starts = (ids[:-2] == nl_id) & (ids[1:-1] == nl_id) & (ids[2:] != nl_id)
        return [(int(k) + 2, {}) for k in np.flatnonzero(starts)]

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"settings": self.settings, "chars": "".join(self.chars)}

    @classmethod
    def from_state(cls, state: dict) -> CharTokenizer:
        tok = cls(settings=state["settings"])
        tok._set_chars(list(state["chars"]))
        return tok

    # --- testing ---------------------------------------------------------------------------
    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        path = Path(directory) / "sample.txt"
        path.write_text(
            "ROMEO:\nBut, soft! what light through yonder window breaks?\n"
            "It is the east, and Juliet is the sun.\n\n"
            "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? \u00e9t\u00e9 \u2014 caf\u00e9\n",
            encoding="utf-8",
        )
        return path


def _show(chars: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(c) for c in chars[:limit])
    return shown + (f" and {len(chars) - limit} more" if len(chars) > limit else "")


# The seed's periodic bit patterns: (zeros, ones) per period.
PATTERNS = {
    "1-1": (1, 1),
    "3-1": (3, 1),
    "5-1": (5, 1),
    "10-1": (10, 1),
    "20-1": (20, 1),
    "5-5": (5, 5),
    "10-10": (10, 10),
}
PATTERN_LENGTH = 20_000


def pattern_text(zeros: int, ones: int, length: int = PATTERN_LENGTH) -> str:
    period = "0" * zeros + "1" * ones
    return (period * (length // len(period) + 1))[:length]


def _pattern_corpus(key: str):
    zeros, ones = PATTERNS[key]

    def documents() -> Iterator[Document]:
        yield Document(f"bits-{key}", [pattern_text(zeros, ones)])

    documents.__qualname__ = f"bits-{key}-{PATTERN_LENGTH}"
    return lambda: {"all": [documents]}


@hookimpl
def register_domains(register):
    register(CharTokenizer)


@hookimpl
def register_corpora(register):
    for key, (zeros, ones) in PATTERNS.items():
        register(
            f"bits-{key}",
            _pattern_corpus(key),
            description=f"{zeros} zero(s) then {ones} one(s), repeated ({PATTERN_LENGTH:,} long)",
            domain="char",
        )
