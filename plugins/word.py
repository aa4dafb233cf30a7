"""The word domain: one token per word or punctuation mark, decoding back to readable text.

Two ways of reading text:

* **raw** (default for ordinary text): the text is cut into words (letters with inner
  apostrophes), numbers, single punctuation marks, line breaks and leftover whitespace. A
  single space before a word belongs to the word's token (``" the"`` and ``"the"`` are two
  types, as in GPT-2), so ``decode`` rebuilds the text exactly -- punctuation, line breaks and
  paragraphs included -- and every token decodes on its own, which streaming needs. Words
  outside the vocabulary become ``<unk>`` tokens that remember their length (``<unk:7>``), so
  ``count_units`` still knows how many characters the text had.
* **pretokenized** (``-o pretokenized=true``, or detected): WikiText-style corpora whose words are
  already separated by spaces. Each line is split on whitespace and ends with ``<eos>``,
  exactly as pytorch/examples word_language_model reads it; the corpus's own ``<unk>`` is the
  domain's unknown token.

``unit`` is "character", so ``seqgen eval`` reports bits per character that compare with the
char domain on the same text. The plugin also adds ``seqgen neighbours RUN WORD``.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seqgen_plugins.char import CharTokenizer

from seqgen import hookimpl
from seqgen.io import text_encoding
from seqgen.tokenizer import Document, Option, Tokenizer

EOD, UNK, EOS = "<eod>", "<unk>", "<eos>"
MAX_UNK_LEN = 24  # <unk> tokens remember the length of the word they hide, up to this

# Raw-text tokens, tried left to right at every position. A word keeps one leading space; a run
# of spaces leaves its last space to the word after it (so "a  b" is "a", " ", " b").
TOKEN = re.compile(
    r"""\n
    | \ ?[^\W\d_]+(?:['’][^\W\d_]+)*   # words, with inner apostrophes: don't, o'clock
    | \ ?\d+                           # numbers
    | \ ?[^\w\s]                       # one punctuation mark or symbol
    | \ ?_                             # Gutenberg's _italics_ markers
    | [^\S\n]+(?!\S)                   # whitespace not followed by a word
    | [^\S\n]+                         # (its last space goes to the word)
    | .                                # anything else, so no character is ever lost
    """,
    re.VERBOSE | re.DOTALL,
)


SAMPLE = """\
"The river," he said, "was 1,200 miles long -- and it's still there."
She didn't answer. The _Nellie_ swung to her anchor; the sails were still!

A second paragraph:\ttabs,  double  spaces, and an ellipsis...
"""


def split_raw(text: str) -> list[str]:
    """Raw-mode tokens of ``text``; ``"".join(split_raw(t)) == t`` always."""
    return TOKEN.findall(text)


def _looks_pretokenized(sample: str) -> bool:
    """WikiText-like: punctuation stands apart (" , " " . "), or a literal <unk> token."""
    if f" {UNK} " in sample:
        return True
    apart = len(re.findall(r" [,.;:!?] ", sample))
    attached = len(re.findall(r"\w[,.;:!?](?:\s|$)", sample))
    return apart >= 20 and apart > 10 * attached


def info(msg: str) -> None:
    print(f"seqgen: {msg}", file=sys.stderr)


class WordTokenizer(Tokenizer):
    name = "word"
    description = "Words and punctuation (readable decode); pre-tokenized corpora like WikiText."
    unit = "character"
    output_suffix = ".txt"
    file_patterns = ("*.txt", "*.md", "*.text", "*.tokens")
    options = (
        Option("lowercase", False, "lowercase all text", bool),
        Option("strip_gutenberg", False, "drop the Project Gutenberg header and footer", bool),
        Option(
            "pretokenized",
            "auto",
            "true: words are separated by spaces, lines end with <eos> (WikiText); "
            "auto: detect from the first file",
            str,
            ("auto", "true", "false"),
        ),
        Option("max_vocab", 0, "keep at most this many word types (0: no limit)", int),
        Option(
            "min_count",
            0,
            "drop types seen fewer times in train (0: 2 for raw text, 1 for pretokenized)",
            int,
        ),
        Option("vectors", "", "word2vec/GloVe text file to initialise the embedding from", str),
        Option("freeze", False, "keep the embedding fixed during training", bool),
        Option("encoding", "utf-8", "text encoding of the files", str, check=text_encoding),
    )

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.pretokenized: bool | None = {"true": True, "false": False}.get(
            str(self.settings.get("pretokenized", "auto"))
        )
        self.words: list[str] = []
        self._set_words([])

    # --- reading ---------------------------------------------------------------------------
    def _reader(self) -> CharTokenizer:
        # The char domain's reader: the same NFC/newline/lowercase/Gutenberg handling, so both
        # domains see exactly the same characters and their bits per character compare.
        return CharTokenizer(
            {
                "lowercase": bool(self.settings.get("lowercase")),
                "strip_gutenberg": bool(self.settings.get("strip_gutenberg")),
                "newlines": "unix",
                "encoding": self.settings.get("encoding", "utf-8"),
            }
        )

    def normalize(self, text: str) -> str:
        return self._reader().normalize(text)

    def read(self, path: Path) -> Iterator[Document]:
        docs = self._reader().read(path)
        if self.pretokenized is not None:
            yield from docs
            return
        for doc in docs:  # auto: decide from the first chunk of the first file
            parts = iter(doc.parts)
            first = next(parts, "")
            self.pretokenized = _looks_pretokenized(first[: 1 << 20])
            if self.pretokenized:
                info(f"{path}: looks pre-tokenized (WikiText style); reading words as they are")

            def chain(first: str = first, parts: Iterator[str] = parts) -> Iterator[str]:
                yield first
                yield from parts

            yield Document(doc.name, chain(), doc.split)

    def _pieces(self, part: str) -> list[str]:
        """Token strings of a part, before vocabulary lookup."""
        if not self.pretokenized:
            return split_raw(part)
        out: list[str] = []
        lines = part.split("\n")
        last = len(lines) - 1
        for i, line in enumerate(lines):
            out.extend(line.split())
            if i < last or line:  # a last line without a line break still ends with <eos>
                out.append(EOS)
        return out

    # --- vocabulary ------------------------------------------------------------------------
    @property
    def _specials(self) -> list[str]:
        # <unk:n> stands for an unknown word of n characters (n = MAX_UNK_LEN: that or more),
        # so the character count of a text survives its unknown words.
        unks = [f"<unk:{n}>" for n in range(1, MAX_UNK_LEN + 1)]
        if self.pretokenized:  # the corpus's own <unk> is a word of the text as written
            return [EOD, UNK, EOS, *unks]
        return [EOD, *unks, *(" " + u for u in unks)]

    def fit(self, documents: Iterable[Document]) -> None:
        counts: Counter[str] = Counter()
        for doc in documents:
            for part in doc.parts:
                counts.update(self._pieces(part))
        if self.pretokenized is None:
            self.pretokenized = False  # nothing was read; raw is the safe default
        specials = set(self._specials) | {UNK}
        min_count = int(self.settings.get("min_count") or (1 if self.pretokenized else 2))
        kept = [w for w, c in counts.items() if c >= min_count and w not in specials]
        kept.sort(key=lambda w: (-counts[w], w))  # frequent first, then by spelling: stable
        limit = int(self.settings.get("max_vocab") or 0)
        if limit > 0:
            kept = kept[:limit]
        self._set_words(kept)

    def _set_words(self, words: Sequence[str]) -> None:
        self.words = list(words)
        table = self._specials + self.words
        self.index = {w: i for i, w in enumerate(table)}
        self.n_special = len(self._specials)
        n = list(range(1, MAX_UNK_LEN + 1))
        if self.pretokenized:
            # Characters in the WikiText layout: every word has a space before it and every
            # line ends " \n", so the count equals the file's length.
            shown = ["", " " + UNK, " \n", *[" " + UNK] * MAX_UNK_LEN]
            lengths = [0, 1 + len(UNK), 2, *(k + 1 for k in n)]
            self._unk_base = 2
        else:
            shown = ["", *[UNK] * MAX_UNK_LEN, *[" " + UNK] * MAX_UNK_LEN]
            lengths = [0, *n, *(k + 1 for k in n)]
            self._unk_base = 0
        shown += [" " + w for w in self.words] if self.pretokenized else self.words
        lengths += [len(w) + 1 for w in self.words] if self.pretokenized else map(len, self.words)
        specials = enumerate(table[: self.n_special])
        self.unk_ids = np.array([i for i, w in specials if w.strip().startswith("<unk")])
        self._shown = np.array(shown, dtype=object)
        self._lengths = np.array(lengths, dtype=np.int64)

    @property
    def vocab_size(self) -> int:
        return self.n_special + len(self.words)

    @property
    def eod_id(self) -> int:
        return 0

    @property
    def special_ids(self) -> list[int]:
        return [0]

    # --- ids -------------------------------------------------------------------------------
    def _unk_id(self, piece: str) -> int:
        spaced = piece.startswith(" ") and len(piece) > 1
        n = min(len(piece) - spaced, MAX_UNK_LEN)
        return self._unk_base + n + (MAX_UNK_LEN if spaced else 0)

    def _ids(self, pieces: list[str]) -> tuple[np.ndarray, list[str]]:
        ids = np.empty(len(pieces), np.int64)
        missing: list[str] = []
        get = self.index.get
        for k, piece in enumerate(pieces):
            i = get(piece)
            if i is None:
                i = self._unk_id(piece)
                missing.append(piece)
            ids[k] = i
        return ids, missing

    def encode(self, part: str) -> np.ndarray:
        return self._ids(self._pieces(part))[0]

    def encode_prime(self, text: str) -> list[int]:
        """Words of ``--prime``; a word the model never saw becomes <unk> with a warning."""
        pieces = self._pieces(self.normalize(text))
        if self.pretokenized and pieces and pieces[-1] == EOS and not text.endswith("\n"):
            pieces.pop()  # a prime is a line in progress
        if not self.pretokenized:
            for k, p in enumerate(pieces):  # "Aragorn" at the start: try " Aragorn" too
                if p not in self.index:
                    other = p[1:] if p.startswith(" ") else " " + p
                    if other.strip() and other in self.index:
                        pieces[k] = other
        ids, missing = self._ids(pieces)
        if missing:
            shown = ", ".join(repr(m.strip()) for m in dict.fromkeys(missing))
            print(
                f"seqgen: warning: --prime words not in the vocabulary, used as {UNK}: {shown}",
                file=sys.stderr,
            )
        return ids.tolist()

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._shown[np.asarray(ids, dtype=np.int64)])

    def to_text(self, ids: Sequence[int]) -> str:
        return self.decode(ids)

    def reference(self, part: str) -> str:
        """What decode(encode(part)) gives: raw mode, the part with words outside the vocabulary
        shown as <unk>; pretokenized, the WikiText layout (" w1 w2 \\n" per line)."""
        out = []
        for p in self._pieces(part):
            known = p in self.index
            if self.pretokenized:
                out.append(" \n" if p == EOS else " " + (p if known else UNK))
            else:
                out.append(p if known else (" " + UNK if p.startswith(" ") and p != " " else UNK))
        return "".join(out)

    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        """A few lines of prose with punctuation, numbers, quotes and paragraphs."""
        path = directory / "words.txt"
        path.write_text(SAMPLE * 3, encoding="utf-8")
        return path

    def count_units(self, ids: np.ndarray) -> int:
        """Characters of the text the ids stand for (an <unk> counts the length it hides)."""
        return int(self._lengths[np.asarray(ids, dtype=np.int64)].sum())

    def eval_extras(self, ids: np.ndarray) -> dict[str, Any]:
        """How much of the text was <unk>: with those, bits per character is a lower bound."""
        ids = np.asarray(ids)
        words = int(np.count_nonzero(ids != self.eod_id))
        unk = int(np.count_nonzero(np.isin(ids, self.unk_ids)))
        return {"unk_tokens": unk, "unk_rate": unk / max(words, 1)}

    # --- embeddings ------------------------------------------------------------------------
    def pretrained_embeddings(self, dim: int) -> np.ndarray | None:
        path = self.settings.get("vectors")
        if not path:
            return None
        from seqgen_plugins.word_vectors import load_vectors

        found = load_vectors(Path(path), self.vocab_size, self._lookup_keys(), dim)
        hits = int(np.count_nonzero(~np.isnan(found[self.n_special :, 0])))
        total = len(self.words)
        info(
            f"vectors {path}: found {hits:,} of {total:,} vocabulary words "
            f"({100 * hits / max(total, 1):.1f}%); the rest start random"
            + ("; embedding frozen" if self.freeze_embeddings else "")
        )
        return found

    def _lookup_keys(self) -> dict[str, list[int]]:
        """Vector-file word -> vocabulary ids (" the" and "the" share one vector)."""
        keys: dict[str, list[int]] = {}
        for i, w in enumerate(self.words, self.n_special):
            keys.setdefault(w.strip(), []).append(i)
        return keys

    @property
    def freeze_embeddings(self) -> bool:
        return bool(self.settings.get("freeze"))

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"settings": self.settings, "pretokenized": self.pretokenized, "words": self.words}

    @classmethod
    def from_state(cls, state: dict) -> WordTokenizer:
        tok = cls(settings=state["settings"])
        tok.pretokenized = bool(state["pretokenized"])
        tok._set_words(state["words"])
        return tok

    # --- neighbours ------------------------------------------------------------------------
    def ids_of(self, word: str) -> list[int]:
        """Vocabulary ids spelling ``word`` (with and without its leading space)."""
        word = self.normalize(word).strip()
        return [self.index[w] for w in (word, " " + word) if w in self.index and w not in (EOS,)]


@hookimpl
def register_domains(register):
    register(WordTokenizer)


@hookimpl
def register_commands(cli):
    import typer
    from seqgen_plugins.word_vectors import neighbours

    @cli.command("neighbours")
    def neighbours_command(
        target: Path = typer.Argument(..., help="Run directory or checkpoint of a word model."),
        word: str = typer.Argument(..., help="The word to find neighbours of."),
        k: int = typer.Option(10, "--k", "-k", help="How many neighbours."),
    ) -> None:
        """Nearest words by embedding cosine. Example: seqgen neighbours runs/word river"""
        for w, sim in neighbours(target, word, k):
            typer.echo(f"{sim:+.3f}  {w}")
