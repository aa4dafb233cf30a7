"""seqgen-dna: DNA or protein sequences in FASTA, one token per residue.

Every FASTA record becomes one document; the model learns the residues, the headers are kept
out of the token stream. Generated samples are written back as FASTA.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from seqgen import hookimpl
from seqgen.errors import DataError
from seqgen.io import atomic_write_text
from seqgen.tokenizer import Constraint, Document, Option, Tokenizer

ALPHABETS = {
    "dna": "ACGTN",  # N: any base (unknown letters are read as N)
    "protein": "ACDEFGHIKLMNPQRSTVWYX",  # X: any amino acid
}
EOD = 0  # id 0 ends a record; residues are 1, 2, ...


class FastaTokenizer(Tokenizer):
    name = "dna"
    description = "DNA or protein sequences in FASTA, one token per residue."
    unit = "residue"
    output_suffix = ".fasta"
    file_patterns = ("*.fasta", "*.fa", "*.fna", "*.faa")
    options = (
        Option(
            "alphabet",
            "dna",
            "dna: A C G T N; protein: 20 amino acids + X",
            str,
            ("dna", "protein"),
        ),
        Option("strict", False, "refuse letters outside the alphabet instead of reading N/X", bool),
        Option("line_width", 60, "residues per line when writing FASTA", int),
        Option("max_run", 0, "sampling: at most this many equal residues in a row (0: any)", int),
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        self.letters = ALPHABETS[self.settings.get("alphabet", "dna")]
        self.table = np.full(256, len(self.letters), dtype=np.int64)  # unknown: the last letter
        for i, letter in enumerate(self.letters):
            self.table[ord(letter)] = self.table[ord(letter.lower())] = i + 1
        self.ids_to_bytes = np.frombuffer(b"\n" + self.letters.encode(), dtype=np.uint8)

    # --- reading ---------------------------------------------------------------------------
    def read(self, path: Path) -> Iterator[Document]:
        try:
            text = Path(path).read_text(encoding="ascii")
        except OSError as e:
            raise DataError(f"{path}: cannot open ({e.strerror})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not a FASTA file (byte {e.start} is not ASCII)") from None
        header, lines = None, []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line.startswith(">"):
                if header is not None:
                    yield self._record(path, header, lines)
                header, lines = line[1:].strip(), []
            elif line and not line.startswith(";"):  # ';' starts an old-style comment line
                if header is None:
                    raise DataError(f"{path}:{number}: sequence before the first '>' header")
                lines.append(line)
        if header is None:
            raise DataError(f"{path}: no FASTA record (no line starting with '>')")
        yield self._record(path, header, lines)

    def _record(self, path: Path, header: str, lines: list[str]) -> Document:
        sequence = "".join(lines).replace(" ", "").upper()
        if self.settings.get("strict"):
            unknown = sorted(set(sequence) - set(self.letters))
            if unknown:
                raise DataError(
                    f"{path}: record {header!r} has letters {''.join(unknown)} "
                    f"outside the {self.settings['alphabet']} alphabet"
                )
        return Document(f"{path}:{header}", [self.reference(sequence)])

    # --- vocabulary and ids ----------------------------------------------------------------
    def fit(self, documents: Iterable[Document]) -> None:
        pass  # the alphabet is the vocabulary: nothing to learn from the corpus

    @property
    def vocab_size(self) -> int:
        return 1 + len(self.letters)

    @property
    def eod_id(self) -> int:
        return EOD

    def encode(self, part: str) -> np.ndarray:
        return self.table[np.frombuffer(part.encode("ascii", "replace"), dtype=np.uint8)]

    def decode(self, ids: Sequence[int]) -> str:
        ids = np.asarray(ids, dtype=np.int64)
        return self.ids_to_bytes[ids[ids != EOD]].tobytes().decode("ascii")

    def reference(self, part: str) -> str:
        unknown = self.letters[-1]  # N for DNA, X for protein
        return "".join(c if c in self.letters else unknown for c in part.upper())

    def encode_prime(self, text: str) -> list[int]:
        unknown = sorted(set(text.upper()) - set(self.letters))
        if unknown:
            raise DataError(f"--prime has letters outside the alphabet: {''.join(unknown)}")
        return self.encode(text).tolist()

    # --- output ----------------------------------------------------------------------------
    def write(self, ids: Sequence[int], path: Path) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        records = np.split(ids, np.flatnonzero(ids == EOD))  # each <eod> starts a new record
        sequences = [self.decode(r) for r in records if self.decode(r)] or [""]
        width = max(1, int(self.settings.get("line_width", 60)))
        out = []
        for k, sequence in enumerate(sequences, 1):
            out.append(f">seqgen-sample-{k} length={len(sequence)}\n")
            out += [sequence[i : i + width] + "\n" for i in range(0, len(sequence), width)]
        atomic_write_text(path, "".join(out))

    # --- state (stored in checkpoints as JSON) ----------------------------------------------
    def get_state(self) -> dict:
        return {"settings": self.settings}

    @classmethod
    def from_state(cls, state: dict) -> FastaTokenizer:
        return cls(settings=state["settings"])

    # --- sampling constraint (optional) -----------------------------------------------------
    def constraint(self) -> Constraint | None:
        max_run = int(self.settings.get("max_run", 0))
        return RunLimit(self.vocab_size, max_run) if max_run > 0 else None

    # --- a tiny corpus for the conformance kit ----------------------------------------------
    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        rng = random.Random(0)
        path = Path(directory) / "sample.fasta"
        with open(path, "w", encoding="ascii") as f:
            for k in range(4):
                f.write(f">sample-{k} random test record\n")
                sequence = "".join(rng.choice("ACGT") for _ in range(150)) + "NNACGT"
                f.writelines(sequence[i : i + 60] + "\n" for i in range(0, len(sequence), 60))
        return path


class RunLimit(Constraint):
    """Forbid a residue that would make a run of more than ``max_run`` equal residues."""

    def __init__(self, vocab_size: int, max_run: int):
        self.vocab_size, self.max_run = vocab_size, max_run
        self.last, self.run = EOD, 0

    def mask(self) -> np.ndarray | None:
        if self.last == EOD or self.run < self.max_run:
            return None  # anything may follow
        allowed = np.ones(self.vocab_size, dtype=bool)
        allowed[self.last] = False  # never every token: <eod> and other residues stay allowed
        return allowed

    def advance(self, token: int) -> None:
        self.run = self.run + 1 if token == self.last else 1
        self.last = token


@hookimpl
def register_domains(register):
    register(FastaTokenizer)
