"""The tokenizer contract: what a domain plugin implements to turn its data into token ids and back.

The core never looks inside a document. It asks the tokenizer to read files into
:class:`Document` objects, to fit a vocabulary, to encode each part to ids, and later to decode
ids, count the units they stand for, write native output, and (optionally) constrain sampling.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from seqgen.errors import OptionError, hint


@dataclass(frozen=True)
class Option:
    """One domain option, given on the command line as ``-o name=value``."""

    name: str
    default: Any
    help: str
    type: type = str  # bool, int, float or str
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], None] | None = None  # raises ValueError("why") for a bad value

    def parse(self, text: str) -> Any:
        """Turn the command-line text into a value, or raise OptionError naming the option."""
        try:
            if self.type is bool:
                low = text.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value: Any = low in ("1", "true", "yes", "on")
            else:
                value = self.type(text)
        except ValueError:
            raise OptionError(
                f"option {self.name}={text!r}: expected {self.type.__name__}"
            ) from None
        if self.choices is not None and value not in self.choices:
            raise OptionError(
                f"option {self.name}={text!r}: choose one of {', '.join(self.choices)}"
            )
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as e:
                raise OptionError(f"option {self.name}={text!r}: {e}") from None
        return value


@dataclass
class Document:
    """One document of a corpus. ``parts`` are domain objects (text chunks, note lists, ...)
    in order; they may be produced lazily so a large file is never held whole in memory.
    ``split`` is set when the source itself says which split the document belongs to.
    ``labels`` are key=value pairs the reader knows (``{"author": "hikmet"}``); the core turns
    them into control tokens at the start of the document (docs/labels.md)."""

    name: str
    parts: Iterable[Any]
    split: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


class Constraint:
    """Per-sample state machine that keeps generated streams valid (well-formed markup,
    closed notes). The sampler calls ``advance`` with every token (prime tokens too), asks
    ``mask`` before each draw, and appends ``finish`` when the length runs out. Beam search
    ``copy``-es it when a hypothesis forks: the copy must advance independently."""

    def mask(self) -> np.ndarray | None:
        """Boolean array over the vocabulary: True where a token is allowed next. None: all."""
        return None

    def advance(self, token: int) -> None:
        """Record that ``token`` was emitted."""

    def finish(self) -> list[int]:
        """Tokens that close whatever is still open, so a cut sample is still valid."""
        return []

    def copy(self) -> Constraint:
        """An independent copy in the same state (a forked hypothesis). The default deep-copies;
        override it where a shallower copy is enough and faster."""
        return copy.deepcopy(self)


class Clock:
    """Per-sample running measure of how far a stream has got, in the domain's own terms
    (seconds, bars), for ``seqgen generate --seconds/--bars``. The sampler calls ``advance``
    with every token (prime tokens too) and stops a sample once ``elapsed`` reaches the goal."""

    def advance(self, token: int) -> None:
        """Record that ``token`` was emitted."""

    def elapsed(self, measure: str) -> float:
        """How much of ``measure`` (one of the tokenizer's ``measures``) the stream spans."""
        raise NotImplementedError

    def copy(self) -> Clock:
        """An independent copy in the same state (a forked hypothesis); deep by default."""
        return copy.deepcopy(self)


class Tokenizer:
    """Base class of every domain. Subclasses set the class attributes and implement the
    methods marked *required*; the rest have working defaults."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    unit: ClassVar[str] = "token"  # what count_units counts: "character", "frame", ...
    options: ClassVar[tuple[Option, ...]] = ()
    output_suffix: ClassVar[str] = ".txt"  # native format written by `write`
    file_patterns: ClassVar[tuple[str, ...]] = ("*",)  # files a directory corpus is made of
    # Corpus used when `seqgen train` gets no --corpus (a registered name or a path); None: none.
    default_corpus: ClassVar[str | None] = None
    # What `write` can produce beyond the native format, by kind:
    # {"audio": (".wav",), "plot": (".png",)}. `seqgen generate --audio/--plot` refuses a
    # domain that does not declare it, and a suffix it does not list; `seqgen studio` offers
    # every declared kind (its first suffix) beside the sample: plays audio, shows pictures.
    renders: ClassVar[dict[str, tuple[str, ...]]] = {}
    # What clock() can measure, e.g. ("seconds", "bars"): `seqgen generate --seconds/--bars`.
    measures: ClassVar[tuple[str, ...]] = ()
    # Raise it when the same files and settings would now give other ids or labels: the
    # token store's key includes it, so a corpus tokenized the old way is not reused.
    store_format: ClassVar[int] = 1

    def __init__(self, settings: dict[str, Any] | None = None):
        self.settings: dict[str, Any] = dict(settings or {})

    # --- options ---------------------------------------------------------------------------
    @classmethod
    def parse_options(cls, given: dict[str, str]) -> dict[str, Any]:
        """Validate ``-o`` pairs against ``options``; fill in defaults."""
        known = {o.name: o for o in cls.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            why = hint(unknown[0], known, "its options")
            raise OptionError(f"domain {cls.name!r} has no option {unknown[0]!r}{why}")
        values = {o.name: o.default for o in cls.options}
        values.update({k: known[k].parse(v) for k, v in given.items()})
        return values

    @classmethod
    def create(cls, given: dict[str, str] | None = None) -> Tokenizer:
        """A fresh, unfitted tokenizer from command-line options."""
        return cls(settings=cls.parse_options(given or {}))

    # --- reading and fitting (required) ----------------------------------------------------
    def read(self, path: Path) -> Iterator[Document]:
        """Yield the documents in one file. Raise DataError naming the file if unreadable."""
        raise NotImplementedError

    def fit(self, documents: Iterable[Document]) -> None:
        """Build the vocabulary from the training documents."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def eod_id(self) -> int:
        """The end-of-document token: separates documents and ends generation."""
        raise NotImplementedError

    def encode(self, part: Any) -> Sequence[int] | np.ndarray:
        """Ids for one part of a document (no end-of-document token)."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> Any:
        """The domain object (text, notes, ...) that ``ids`` stand for."""
        raise NotImplementedError

    def get_state(self) -> dict:
        """Everything needed to rebuild this tokenizer, as JSON-safe data (options included)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict) -> Tokenizer:
        raise NotImplementedError

    # --- defaults a domain may override ----------------------------------------------------
    @property
    def special_ids(self) -> list[int]:
        """Ids that stand for no unit of data (end-of-document, padding, ...)."""
        return [self.eod_id]

    def count_units(self, ids: np.ndarray) -> int:
        """How many units (see ``unit``) the ids stand for; used for bits per unit."""
        return int(np.count_nonzero(~np.isin(ids, self.special_ids)))

    def to_text(self, ids: Sequence[int]) -> str:
        """Human-readable form, streamed to stdout while sampling."""
        return str(self.decode(ids))

    @classmethod
    def prints_text(cls) -> bool:
        """Whether ``to_text`` is what a reader wants on the screen (text, markup) rather
        than token names (music). ``seqgen generate --out FILE`` prints the sample only if so,
        else one line saying what it wrote. Default: text unless the domain renders audio or
        pictures (``renders``)."""
        return not cls.renders

    def encode_prime(self, text: str) -> list[int]:
        """Ids for a priming string given with ``--prime``. Raise DataError listing symbols
        the vocabulary lacks, unless the domain has an unknown token."""
        return [int(i) for i in self.encode(text)]

    def reference(self, part: Any) -> Any:
        """What ``decode(encode(part))`` must equal: the part itself for lossless domains,
        its quantised form for lossy ones."""
        return part

    def check_part(self, part: Any) -> str | None:
        """None if the part round-trips to its reference, else a short description."""
        got = self.decode(self.encode(part))
        want = self.reference(part)
        if got == want:
            return None
        return f"decoded {len(got)} items, expected {len(want)}"

    def write(self, ids: Sequence[int], path: Path) -> None:
        """Write generated ids to ``path`` in the domain's native format. Use
        :func:`seqgen.io.atomic_write` so a failure never leaves half a file."""
        from seqgen.io import atomic_write_text

        atomic_write_text(path, self.to_text(ids))

    def pretrained_embeddings(self, dim: int) -> np.ndarray | None:
        """Optional initial embedding matrix (vocab_size, dim), float32, e.g. from word vectors.
        Rows of NaN keep their random initialisation. None: all random."""
        return None

    @property
    def freeze_embeddings(self) -> bool:
        """True keeps the embedding matrix fixed during training."""
        return False

    def constraint(self) -> Constraint | None:
        """A fresh Constraint for one sample, or None when any token may follow any other."""
        return None

    def augment(self, ids: np.ndarray) -> list[np.ndarray]:
        """Extra training variants of one training document's ids (its end-of-document token
        excluded), e.g. the piece transposed. Only the train split is augmented, after the
        split is made, so validation and test never see a variant. Default: none."""
        return []

    def clock(self) -> Clock | None:
        """A fresh Clock for one sample, or None when the domain has no measure of length
        beyond tokens (then --seconds/--bars are refused)."""
        return None

    def sample_report(self, ids: Sequence[int]) -> dict[str, Any]:
        """Facts about a generated sample worth showing beside it, e.g. whether markup is
        well-formed (``seqgen studio`` shows them). Keys are labels, values short. Default:
        none."""
        return {}

    def labels(self, document: Document) -> dict[str, str]:
        """Labels the domain derives from a document itself (``{"key": "G-minor"}``), used
        when a run is trained with ``--domain-labels``; text keys and non-empty text values.
        ``document.parts`` is an iterator: read only as far as you need (what you read is
        still encoded, and held in memory until it is). A fitted tokenizer
        is asked (what ``fit`` learned, e.g. terciles, may set the values); a training variant
        (``augment``) is asked again with ``decode(variant)`` as its one part. Default: none."""
        return {}

    def section_labels(self, ids: Sequence[int]) -> list[tuple[int, dict[str, str]]]:
        """Where a document's sections start and what the domain derives for each, used when a
        run is trained with ``--section-labels``: ``(index into ids, labels)`` pairs with
        increasing indices, e.g. each bar's key and note density. ``ids`` are one document's
        tokens (no control ids); the core writes each section's labels as control ids before
        ``ids[index]``, and generation keeps the keys asked for at every section. Default:
        none (the domain has no sections)."""
        return []

    def eval_extras(self, ids: np.ndarray) -> dict[str, Any]:
        """Extra figures ``seqgen eval`` reports for the evaluated ids (e.g. the share of unknown
        tokens, which makes bits per unit a lower bound). Keys become JSON keys."""
        return {}

    def eval_units(self, ids: np.ndarray) -> dict[str, float]:
        """Further units the evaluated ids stand for, by name (``{"note": 812, "second": 95.3}``
        for music), so domains whose tokens differ compare on one measure: ``seqgen eval``
        reports ``nats_per_NAME`` and ``bits_per_NAME`` for each. Default ``{}``."""
        return {}

    # --- testing ---------------------------------------------------------------------------
    @classmethod
    def sample_corpus(cls, directory: Path) -> Path | None:
        """Write a tiny corpus (a file or a folder, a few kilobytes) in the domain's native
        format under ``directory`` and return its path. :func:`seqgen.testing.check_tokenizer`
        and seqgen's own test suite run the conformance checks on it. None: the domain ships
        no sample, so those checks are skipped for it."""
        return None
