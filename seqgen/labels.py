"""Control labels: key=value pairs a document carries (``author=hikmet``, ``key=G-minor``),
turned into control tokens at the start of each document so that generation can ask for them.

Where labels come from, in order of increasing precedence:

1. the domain's own hook, ``Tokenizer.labels(document)`` (``seqgen train --domain-labels``);
2. the folder layout: a file's first-level subfolder under the corpus root becomes KEY=folder
   (``--labels-from-folders KEY``);
3. a sidecar CSV or JSONL file mapping files (relative to the corpus root) to labels
   (``--labels FILE``).

The core gives each (key, value) pair one control id after the tokenizer's vocabulary
(``vocab_size + k``, in the order the pairs were first met) and writes a labelled document as
its control ids, in sorted key order, then its tokens. The :class:`LabelTable` is kept in the
token store's meta.json and in the checkpoint, as plain data.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqgen import limits
from seqgen.errors import DataError, SeqgenError
from seqgen.io import not_a_file
from seqgen.tokenizer import Document, Tokenizer

SIDECAR_SUFFIXES = (".csv", ".jsonl")
SECTIONS_FORMAT = 2  # in the store's key: 2, sections restate the document's labels


@dataclass(frozen=True)
class LabelSpec:
    """How a run labels its documents (stored in the run, so a resume labels the same)."""

    folders: str | None = None  # KEY: the first-level subfolder under the corpus root
    sidecar: str | None = None  # a .csv or .jsonl file of file -> labels
    domain: bool = False  # the domain's own labels hook
    sections: bool = False  # the domain's section_labels hook (seqgen.sections)

    @property
    def enabled(self) -> bool:
        return bool(self.folders or self.sidecar or self.domain or self.sections)

    def to_dict(self) -> dict[str, Any]:
        out = {"folders": self.folders, "sidecar": self.sidecar, "domain": self.domain}
        return {**out, "sections": True} if self.sections else out

    @classmethod
    def from_dict(cls, d: dict | None) -> LabelSpec:
        d = d or {}
        return cls(
            d.get("folders"), d.get("sidecar"), bool(d.get("domain", False)),
            bool(d.get("sections", False)),
        )  # fmt: skip

    def check(self) -> LabelSpec:
        """One-line errors for a spec no run can use (before any data is read)."""
        if self.folders is not None and not _is_key(self.folders):
            raise SeqgenError(
                f"--labels-from-folders {self.folders!r}: give a key of letters, digits, - or _"
            )
        if self.sidecar is not None:
            path = Path(self.sidecar)
            if path.suffix.lower() not in SIDECAR_SUFFIXES:
                raise SeqgenError(f"--labels {path}: give a .csv or .jsonl file")
            if not path.is_file():
                raise SeqgenError(f"--labels {path}: {not_a_file(path)}")
        return self

    def identity(self) -> dict[str, Any]:
        """What the token store's key includes: the spec and the sidecar's bytes."""
        out: dict[str, Any] = {"folders": self.folders, "domain": self.domain}
        if self.sections:  # a store without sections keeps the key it always had
            out["sections"] = SECTIONS_FORMAT
        if self.sidecar:
            out["sidecar"] = hashlib.blake2b(
                Path(self.sidecar).read_bytes(), digest_size=16
            ).hexdigest()
        return out


def _is_key(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-_." for c in text)


def warn(msg: str) -> None:
    print(f"seqgen: warning: {msg}", file=sys.stderr)


def read_sidecar(path: Path) -> dict[str, dict[str, str]]:
    """file (relative path, '/'-separated) -> labels, from a CSV with a ``file`` column or JSONL
    of objects with a ``file`` key. Values are text (numbers are written as text); an empty
    value is no label. DataError (one line) for a malformed file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"--labels {path}: cannot read it ({type(e).__name__})") from None
    rows = _jsonl_rows(path, text) if path.suffix.lower() == ".jsonl" else _csv_rows(path, text)
    out: dict[str, dict[str, str]] = {}
    for line, row in rows:
        name = row.pop("file", None)
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"--labels {path}: line {line} has no 'file'")
        labels = {}
        for k, v in row.items():
            if not isinstance(k, str) or not _is_key(k):
                raise DataError(f"--labels {path}: line {line}: {k!r} is not a label key")
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise DataError(f"--labels {path}: line {line}: {k}={v!r} is not text")
            if str(v).strip():
                labels[k] = str(v).strip()
        out[Path(name.strip()).as_posix()] = labels
    return out


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    try:
        reader = csv.DictReader(text.splitlines())
        fields = reader.fieldnames or []
        if "file" not in fields:
            raise DataError(f"--labels {path}: the CSV has no 'file' column (it has: {fields})")
        rows = []
        for k, row in enumerate(reader, 2):
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"--labels {path}: line {k} has a different number of columns")
            rows.append((k, dict(row)))
        return rows
    except csv.Error as e:
        raise DataError(f"--labels {path}: not a valid CSV ({e})") from None


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for k, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise DataError(f"--labels {path}: line {k} is not JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"--labels {path}: line {k} is not a JSON object")
        rows.append((k, row))
    return rows


def corpus_root(name: str, files: Sequence[Path]) -> Path:
    """The folder labels are relative to: the corpus itself when it is a folder, else the
    deepest folder holding all its files."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if not files:
        return Path(".")
    return Path(os.path.commonpath([str(f.parent) for f in files]))


class Labeller:
    """The labels of each document of one corpus, merged from the sources a LabelSpec names,
    and the table that numbers them."""

    def __init__(self, spec: LabelSpec, tok: Tokenizer, root: Path, files: Sequence[Path]):
        self.spec, self.tok, self.root = spec, tok, root
        self.table = LabelTable(tok.vocab_size)
        if spec.sections and type(tok).section_labels is Tokenizer.section_labels:
            raise SeqgenError(f"--section-labels: the {tok.name} domain has no sections")
        self.sidecar = read_sidecar(Path(spec.sidecar)) if spec.sidecar else {}
        if self.sidecar:
            known = {self._relative(f) for f in files}
            unknown = sorted(set(self.sidecar) - known)
            if unknown:
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                warn(
                    f"--labels {spec.sidecar}: {len(unknown)} file(s) not in the corpus: "
                    + ", ".join(unknown[:5])
                    + more
                )

    def _relative(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def labels(self, src: Any, doc: Document) -> dict[str, str]:
        """The merged labels of ``doc`` read from ``src`` (domain, then folder, then sidecar).
        The domain hook reads the parts through a tee: what it reads is still encoded, and only
        what it read ahead of the encoder is held in memory."""
        out: dict[str, str] = {}
        if self.spec.domain:
            mine, doc.parts = itertools.tee(doc.parts)
            out.update(domain_labels(self.tok, Document(doc.name, mine, doc.split)))
        out.update(doc_labels(doc))
        if isinstance(src, Path):
            rel = self._relative(src)
            parts = Path(rel).parts
            if self.spec.folders and len(parts) >= 2:
                out[self.spec.folders] = parts[0]
            out.update(self.sidecar.get(rel, {}))
        return out

    def ids(self, src: Any, doc: Document) -> np.ndarray:
        """The control ids that start ``doc`` (new pairs get new ids)."""
        return np.asarray(self.table.add(self.labels(src, doc)), dtype=np.int64)

    def relabel(self, head: np.ndarray, variant: np.ndarray, name: str) -> np.ndarray:
        """Control ids for a training variant of a document (``Tokenizer.augment``): the keys
        the domain derives are derived again from the variant, the other keys are kept."""
        kept = self.table.labels_of(head)
        if self.spec.domain:
            piece = self.tok.decode([int(i) for i in variant])
            kept.update(domain_labels(self.tok, Document(name, [piece])))
        return np.asarray(self.table.add(kept), dtype=np.int64)


def doc_labels(doc: Document) -> dict[str, str]:
    """Labels the reader attached to the document itself (``Document.labels``)."""
    given = getattr(doc, "labels", None) or {}
    return check_labels(given, f"document {doc.name}")


def domain_labels(tok: Tokenizer, doc: Document) -> dict[str, str]:
    """The domain's ``labels(document)``, checked: a dict of text to text."""
    try:
        got = tok.labels(doc)
    except SeqgenError:
        raise
    except Exception as e:
        raise DataError(
            f"domain {tok.name!r}: labels() failed on {doc.name} ({type(e).__name__}: "
            f"{str(e)[:120]})"
        ) from None
    return check_labels(got, f"domain {tok.name!r}: labels() of {doc.name}")


def check_labels(got: Any, where: str) -> dict[str, str]:
    if not isinstance(got, dict):
        raise DataError(f"{where} returned {type(got).__name__}, not a dict of text to text")
    for k, v in got.items():
        if not isinstance(k, str) or not isinstance(v, str) or not _is_key(k) or not v:
            raise DataError(f"{where} gave {k!r}: {v!r}; keys and values must be non-empty text")
    return dict(got)


@dataclass
class LabelTable:
    """The control ids of a run: pair k of ``pairs`` is id ``base + k``."""

    base: int
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pairs = [(str(k), str(v)) for k, v in self.pairs]
        self._index = {p: self.base + i for i, p in enumerate(self.pairs)}

    @property
    def size(self) -> int:
        return len(self.pairs)

    def known(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.pairs:
            out.setdefault(k, []).append(v)
        return {k: sorted(vs) for k, vs in sorted(out.items())}

    def add(self, labels: dict[str, str]) -> list[int]:
        """Ids of ``labels`` in sorted key order, numbering new pairs (within the limits)."""
        ids = []
        for key in sorted(labels):
            pair = (key, labels[key])
            if pair not in self._index:
                self._check_room(key)
                self._index[pair] = self.base + len(self.pairs)
                self.pairs.append(pair)
            ids.append(self._index[pair])
        return ids

    def _check_room(self, key: str) -> None:
        known = self.known()
        if key not in known and len(known) >= limits.limit("label_keys"):
            raise DataError(
                f"label {key!r}: over seqgen's limit of {limits.limit('label_keys')} label keys; "
                "raise it with SEQGEN_MAX_LABEL_KEYS"
            )
        if len(known.get(key, [])) >= limits.limit("label_values"):
            raise DataError(
                f"label {key!r}: over seqgen's limit of {limits.limit('label_values')} values "
                "a key; raise it with SEQGEN_MAX_LABEL_VALUES"
            )

    def ids(self, labels: dict[str, str], flag: str = "--label") -> list[int]:
        """Ids of the labels asked for at generation time; a one-line error for a key or
        value the run does not know."""
        if labels and not self.pairs:
            k, v = next(iter(labels.items()))
            raise SeqgenError(f"{flag} {k}={v}: this run was trained without labels")
        known = self.known()
        for key in sorted(labels):
            if (key, labels[key]) not in self._index:
                have = " ".join(f"{k}={', '.join(vs)};" for k, vs in known.items()).rstrip(";")
                raise SeqgenError(f"{flag} {key}={labels[key]}: the run knows {have}")
        return [self._index[(k, labels[k])] for k in sorted(labels)]

    def slots(self, labels: dict[str, str], flag: str = "--label") -> tuple[tuple[int, ...], ...]:
        """What generation reads after the end-of-document: one slot per key the run knows,
        in sorted key order, as training wrote them. A key asked for is its one id; any other
        key is all its ids, one of which the decoder draws from the model (its own mix)."""
        return tuple((asked,) if asked >= 0 else ids for ids, asked in self.inline(labels, flag))

    def inline(self, labels: dict[str, str], flag: str = "--label") -> tuple:
        """What a run trained with section labels may emit inside a sample: for each key the
        run knows (sorted), its ids and the id asked for (-1: none, the model's own choice).
        The decoder gives an id asked for the probability of all its key's ids."""
        given = dict(zip(sorted(labels), self.ids(labels, flag), strict=True))
        groups: dict[str, list[int]] = {}
        for pair, i in self._index.items():
            groups.setdefault(pair[0], []).append(i)
        return tuple((tuple(sorted(groups[k])), given.get(k, -1)) for k in sorted(groups))

    def labels_of(self, ids: Sequence[int]) -> dict[str, str]:
        return dict(self.pairs[int(i) - self.base] for i in ids if int(i) >= self.base)

    def to_data(self) -> list[list[str]]:
        return [[k, v] for k, v in self.pairs]


def without_controls(tok: Tokenizer, ids: np.ndarray) -> np.ndarray:
    """``ids`` with control ids (every id past the tokenizer's vocabulary) left out: what a
    tokenizer's count_units, decode and write may see."""
    ids = np.asarray(ids)
    return ids[ids < tok.vocab_size] if ids.size and ids.max() >= tok.vocab_size else ids


def document_ends(ids: np.ndarray, eod_id: int) -> np.ndarray:
    """Where each document of a split file ends (one past its end-of-document token; a last
    document without one ends at the end)."""
    ends = np.flatnonzero(ids == eod_id) + 1
    if not len(ends) or ends[-1] != len(ids):
        ends = np.append(ends, len(ids))
    return ends


def head_length(ids: np.ndarray, base: int) -> int:
    """How many control ids start ``ids``."""
    n = 0
    while n < len(ids) and ids[n] >= base:
        n += 1
    return n


def parse_labels(pairs: Sequence[str] | None, flag: str = "--label") -> dict[str, str]:
    """``--label key=value`` options to a dict (one line for a malformed one)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SeqgenError(f"{flag} {pair!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out
