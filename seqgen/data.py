"""Tokenize a corpus once into memory-mapped token files, kept in the token store by content and
tokenizer (not to be confused with the document cache of ``seqgen.doccache``).

Layout of one store entry (``$SEQGEN_CACHE`` or ``~/.cache/seqgen``, then ``tokens/<key>/``)::

    train.bin valid.bin [test.bin]   raw uint16/uint32 ids, documents joined by end-of-document
    meta.json                        tokenizer state, dtype, per-split tokens/units/documents

Training reads the ``.bin`` files through ``np.memmap``: the corpus is never held as Python
objects, so a corpus larger than memory trains fine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.corpus import ALL, CorpusSpec, Source
from seqgen.errors import DataError, SeqgenError
from seqgen.labels import (
    Labeller,
    LabelSpec,
    LabelTable,
    corpus_root,
    document_ends,
    head_length,
    without_controls,
)  # fmt: skip
from seqgen.prepare_pool import Splits, default_workers, encoder, pool_size
from seqgen.progress import ByteProgress
from seqgen.sections import add_sections
from seqgen.tokenizer import Document, Tokenizer

# 2: a cached tokenizer state may hold what fit learned (the midi domain's note limits);
# stores of format 1 would hand back a tokenizer without it
FORMAT = 4  # 4: the midi note bounds are a quantile over pieces (2: their maxima)
VALID_FRACTION = 0.1


def store_root() -> Path:
    """Where prepared token files are kept (``$SEQGEN_CACHE``, default ``~/.cache/seqgen``)."""
    root = os.environ.get("SEQGEN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "seqgen"


def warn(msg: str) -> None:
    print(f"seqgen: warning: {msg}", file=sys.stderr)


@dataclass
class Dataset:
    """A prepared corpus: token memmaps per split plus the fitted tokenizer."""

    dir: Path
    tokenizer: Tokenizer
    meta: dict

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    def tokens(self, split: str) -> np.ndarray:
        if split not in self.meta["splits"]:
            have = ", ".join(self.meta["splits"])
            raise SeqgenError(f"this corpus has no {split!r} split (it has: {have})")
        info = self.meta["splits"][split]
        if info["tokens"] == 0:
            return np.zeros(0, dtype=self.meta["dtype"])
        return np.memmap(self.dir / f"{split}.bin", dtype=self.meta["dtype"], mode="r")

    def units(self, split: str) -> int:
        return int(self.meta["splits"][split]["units"])

    @property
    def labels(self) -> LabelTable:
        """The control ids of a labelled corpus (empty for one without labels)."""
        pairs = [tuple(p) for p in self.meta.get("labels", [])]
        return LabelTable(self.tokenizer.vocab_size, pairs)


class _Sources:
    """Documents of each split. In a corpus of many files, a file that raises DataError is
    skipped with a warning naming it (and remembered, so later passes skip it too); in a
    one-file corpus the error stands."""

    def __init__(self, spec: CorpusSpec, tok: Tokenizer):
        self.spec, self.tok = spec, tok
        self.many = sum(len(v) for v in spec.sources.values()) > 1
        self.skipped: dict[str, str] = {}
        self.on_source: Callable[[Source], None] = lambda src: None  # for progress

    def _fail(self, src: Source, err: DataError) -> None:
        if not self.many or not isinstance(src, Path):
            raise err
        if str(src) not in self.skipped:
            self.skipped[str(src)] = str(err)
            warn(f"skipped {err}")

    def _guard(self, src: Source, parts, failed: list) -> Iterator:
        try:
            yield from parts
        except DataError as e:
            failed.append(e)
            self._fail(src, e)

    def documents(self, split: str) -> Iterator[tuple[Document, list]]:
        """Yield (document, failed); after the parts are used up, ``failed`` is non-empty if
        the document broke part-way (its tokens must then be rolled back)."""
        for src in self.spec.sources[split]:
            yield from self.documents_of(src, split)

    def documents_of(self, src: Source, split: str) -> Iterator[tuple[Document, list]]:
        if str(src) in self.skipped:
            return
        self.on_source(src)
        failed: list = []
        try:
            made = self.tok.read(src) if isinstance(src, Path) else src()
            for doc in made:
                if doc.split is None and split != ALL:
                    doc.split = split
                parts = self._guard(src, doc.parts, failed)
                yield Document(doc.name, parts, doc.split, doc.labels), failed
                if failed:
                    break
        except DataError as e:
            self._fail(src, e)


def _key(tok_cls: type[Tokenizer], identity: dict, spec: CorpusSpec, labels: LabelSpec) -> str:
    tok_name, store_format = tok_cls.name, tok_cls.store_format
    what = {"format": FORMAT, "domain": tok_name, "tokenizer": identity, "corpus": spec.fingerprint}
    if store_format != 1:  # a domain that never raised it keeps the key it always had
        what["store_format"] = store_format
    if labels.enabled:  # a store without labels keeps the key it always had
        what["labels"] = labels.identity()
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def prepare(
    tok_cls: type[Tokenizer],
    spec: CorpusSpec,
    settings: dict | None = None,
    tokenizer: Tokenizer | None = None,
    split: bool = True,
    workers: int | None = None,
    labels: LabelSpec | None = None,
) -> Dataset:
    """Tokenize ``spec`` (fitting a new tokenizer from ``settings`` unless ``tokenizer`` is
    given) into the cache, or return the cached result. A corpus without its own splits is
    divided 90/10 into train and valid, or kept whole as split ``all`` when ``split`` is False.
    ``workers`` processes encode a big corpus (default: the CPUs this process may use); the
    token files are the same for any number. ``labels`` names where documents get their
    control labels (seqgen.labels); none by default."""
    labels = labels or LabelSpec()
    identity = tokenizer.get_state() if tokenizer is not None else {"settings": settings or {}}
    identity = {**identity, "split": split}
    key = _key(tok_cls, identity, spec, labels)
    final = store_root() / "tokens" / key
    if (final / "meta.json").is_file():
        meta = json.loads((final / "meta.json").read_text())
        tok = tokenizer or tok_cls.from_state(meta["tokenizer"])
        return Dataset(final, tok, meta)

    workers = default_workers() if workers is None else max(1, int(workers))
    try:
        fresh = (tok_cls, spec, settings, tokenizer, split, key, final, workers)
        return _prepare_fresh(*fresh, labels)
    except (SeqgenError, OSError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # plugin code is not trusted to raise only DataError
        raise DataError(
            f"corpus {spec.name}: the {tok_cls.name} domain failed while reading it "
            f"({type(e).__name__}: {str(e)[:160]})"
        ) from None


def _fit(tok: Tokenizer, spec: CorpusSpec, sources: _Sources) -> None:
    """One streaming pass over the training documents (the tokenizer counts as it goes)."""
    fit_splits = [s for s in spec.sources if s in (ALL, "train")]
    files = [f for s in fit_splits for f in spec.sources[s] if isinstance(f, Path)]
    with ByteProgress("fitting", files) as bar:
        sources.on_source = bar.source

        def parts(doc: Document) -> Iterator:
            for part in doc.parts:
                bar.tick()
                yield part

        tok.fit(
            Document(d.name, parts(d), d.split, d.labels)
            for s in fit_splits
            for d, _ in sources.documents(s)
            if d.split in (None, "train")
        )
    sources.on_source = lambda src: None


def _prepare_fresh(tok_cls, spec, settings, tokenizer, split, key, final: Path, workers, labels):
    tok = tokenizer or tok_cls(settings=dict(settings or {}))
    sources = _Sources(spec, tok)
    t0 = time.perf_counter()
    if tokenizer is None:
        _fit(tok, spec, sources)
    workers = pool_size(workers, spec.files, time.perf_counter() - t0)
    labeller = None
    if labels.enabled:
        labeller = Labeller(labels, tok, corpus_root(spec.name, spec.files), spec.files)
    most = tok.vocab_size + (_most_controls() if labeller else 0)
    dtype = np.dtype(np.uint16 if most <= 65536 else np.uint32)

    root = store_root() / "tokens"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        meta = _encode_all(spec, tok, dtype, work, sources, split, workers, labeller)
        meta["skipped"] = sources.skipped
        if labeller is not None:
            meta["labels"] = labeller.table.to_data()
        meta["tokenizer"] = tok.get_state()
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(work, final)
        except OSError:  # another process prepared the same corpus meanwhile
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Dataset(final, tok, meta)


def _encode_all(
    spec: CorpusSpec,
    tok: Tokenizer,
    dtype,
    work: Path,
    sources: _Sources,
    split_all: bool,
    workers: int = 1,
    labeller: Labeller | None = None,
) -> dict:
    out = Splits(work, dtype, tok.eod_id)
    out.on_error = sources._fail  # a file a worker could not read: skipped (many files)
    with ByteProgress("tokenizing", spec.files) as bar:
        sources.on_source, out.progress = bar.source, bar.show
        with encoder(tok, dtype, workers, out.apply) as enc:
            for split in spec.sources:
                for src in spec.sources[split]:
                    if (
                        labeller is None
                        and str(src) not in sources.skipped
                        and enc.takes_file(src, sources.many)
                    ):
                        enc.file(src, split, bar.passed(src))  # read and encoded by a worker
                        continue
                    for doc, failed in sources.documents_of(src, split):
                        where = doc.split or split
                        if labeller is not None:
                            enc.controls(labeller.ids(src, doc), where)
                        for part in doc.parts:
                            enc.part(doc.name, part, (where, bar.position()))
                        enc.mark((where, bool(failed)))
    for w in out.writers.values():
        w.close()
    writers, doc_ends = out.writers, out.ends

    if ALL in writers and split_all:
        _split_all(work, dtype, doc_ends.pop(ALL), writers.pop(ALL).count)
    augmented = _augment_train(work, dtype, tok, labeller)
    if labeller is not None and labeller.spec.sections:  # after the variants: each its own
        for split in ("train", "valid", "test", ALL):
            add_sections(work / f"{split}.bin", dtype, tok, labeller.table)
    counts = _counts(work, dtype, tok, augmented=augmented)
    if not any(c["tokens"] for c in counts.values()) or (
        split_all and not counts.get("train", {}).get("tokens")
    ):
        raise DataError(f"corpus {spec.name}: no usable documents (nothing to train on)")
    return {
        "format": FORMAT,
        "domain": tok.name,
        "unit": tok.unit,
        "dtype": dtype.name,
        "vocab_size": tok.vocab_size,
        "corpus": spec.name,
        "splits": counts,
    }


def _counts(work: Path, dtype, tok: Tokenizer, augmented: int) -> dict[str, dict]:
    """Tokens, units and documents of each split file (read in blocks of 4M ids)."""
    counts = {}
    for split in ("train", "valid", "test", ALL):
        path = work / f"{split}.bin"
        if not path.exists():
            continue
        n, units, documents = path.stat().st_size // dtype.itemsize, 0, 0
        with open(path, "rb") as f:
            while (ids := np.fromfile(f, dtype=dtype, count=1 << 22)).size:
                units += tok.count_units(without_controls(tok, ids))
                documents += int(np.count_nonzero(ids == tok.eod_id))
        counts[split] = {"tokens": int(n), "units": int(units), "documents": documents}
        if split == "train" and augmented:
            counts[split]["augmented_documents"] = augmented
    return counts


def _augment_train(work: Path, dtype, tok: Tokenizer, labeller: Labeller | None = None) -> int:
    """Rewrite train.bin with each document's variants from ``tok.augment`` added, originals and
    variants in one shuffled order (fixed seed): the B training streams then each see every
    kind of variant. Returns how many variants were added."""
    path = work / "train.bin"
    if type(tok).augment is Tokenizer.augment or not path.exists() or not path.stat().st_size:
        return 0
    ids = np.memmap(path, dtype=dtype, mode="r")
    ends = document_ends(ids, tok.eod_id)
    docs: list[np.ndarray] = []
    start = 0
    for end in ends.tolist():
        doc = np.asarray(ids[start:end])
        body = doc[:-1] if doc[-1] == tok.eod_id else doc
        docs.append(doc)
        n = head_length(body, tok.vocab_size) if labeller is not None else 0  # control ids
        head, body = body[:n], body[n:]
        variants = tok.augment(body.copy()) if len(body) else []
        for v in variants:
            v = np.asarray(v)
            if n:
                v = np.concatenate(
                    [labeller.relabel(head, v, f"variant of document {len(docs)}"), v]
                )
            docs.append(np.append(v, tok.eod_id).astype(dtype))
        start = end
    added = len(docs) - len(ends)
    del ids
    order = np.random.default_rng(0).permutation(len(docs))
    tmp = work / "train.aug"
    with open(tmp, "wb") as f:
        for i in order.tolist():
            f.write(docs[i].tobytes())
    os.replace(tmp, path)
    return added


def _most_controls() -> int:
    from seqgen import limits

    return limits.limit("label_keys") * limits.limit("label_values")


def _split_all(work: Path, dtype, ends: list[int], n: int) -> None:
    """Divide all.bin into train.bin and valid.bin: every tenth document when there are at least
    ten, else the contiguous tail (the last 10% of tokens). Copied in blocks: memory stays
    small however big the corpus."""
    src = work / "all.bin"
    size = dtype.itemsize
    with (
        open(src, "rb") as f,
        open(work / "train.bin", "wb") as tr,
        open(work / "valid.bin", "wb") as va,
    ):
        if len(ends) >= 10:
            start = 0
            for i, end in enumerate(ends):
                _copy(f, va if i % 10 == 9 else tr, (end - start) * size)
                start = end
        else:
            cut = int(n * (1 - VALID_FRACTION))
            _copy(f, tr, cut * size)
            _copy(f, va, (n - cut) * size)
    src.unlink()


def _copy(src, dst, nbytes: int) -> None:
    while nbytes > 0:
        block = src.read(min(nbytes, 1 << 24))
        if not block:
            break
        dst.write(block)
        nbytes -= len(block)
