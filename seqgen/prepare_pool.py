"""Tokenizing a big corpus for ``data.prepare``: parts encoded by worker processes, in order,
with bounded memory, behind a progress bar that knows the corpus size in bytes.

The parent still reads every document through the tokenizer (``read`` may keep state, and the
skip-a-broken-file rules live in ``data._Sources``), and it still writes every id itself, in
document order. Only ``encode`` moves: the parts a tokenizer's ``read`` yields are already the
pieces it promises to encode one at a time, so sending them to workers in batches and writing
the ids back in submission order gives the same token files as encoding them in-process. At most
``WINDOW`` batches per worker are in flight, so memory stays a few batches however big the
corpus. A corpus under ``MIN_PARALLEL_BYTES`` whose vocabulary was fitted in under
``MIN_PARALLEL_SECONDS`` (or one worker, or a tokenizer that cannot be sent to a worker
process) is encoded in-process, with no pool to start.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.errors import DataError, SeqgenError
from seqgen.tokenizer import Tokenizer

MIN_PARALLEL_BYTES = 32 << 20  # smaller corpora are encoded in-process,
MIN_PARALLEL_SECONDS = 2.0  # unless fitting the vocabulary took this long
BATCH_SIZE = 4 << 20  # about this many characters (or 64 parts) per task
BATCH_PARTS = 64
WINDOW = 3  # batches in flight per worker
# A file up to this size, of a many-file corpus, may be read by a worker instead of the parent.
# Off (-1): ``read`` may keep state -- the midi domain hands out from memory what it parsed while
# fitting, so a worker parsing again made the chorales 1.6x slower. A tokenizer would have to
# declare that its reads are independent before this can be on by default.
FILE_TASK_BYTES = -1


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def corpus_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def check_ids(tok: Tokenizer, ids, where: str) -> np.ndarray:
    """Refuses ids a tokenizer should never give (negative, or past its vocabulary): they would
    fail deep inside torch, or silently wrap around in the token file."""
    arr = np.asarray(ids)
    vocab = tok.vocab_size
    if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= vocab):
        bad = arr.min() if arr.dtype.kind in "iu" and arr.min() < 0 else arr.max()
        raise SeqgenError(
            f"domain {tok.name!r} encoded {where} to id {bad!r}, outside its "
            f"vocabulary of {vocab} (a bug in the plugin)"
        )
    return arr


def encode_batch(tok: Tokenizer, dtype: np.dtype, items: list[tuple[str, Any]]) -> list:
    return [np.asarray(check_ids(tok, tok.encode(part), name), dtype=dtype) for name, part in items]


# --- the worker side -------------------------------------------------------------------------
_worker: dict = {}


def _init_worker(tok_cls: type[Tokenizer], state: dict, dtype: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker["tok"], _worker["dtype"] = tok_cls.from_state(state), np.dtype(dtype)


def _safely(fn: Callable, *args) -> Any:
    try:
        return fn(_worker["tok"], _worker["dtype"], *args)
    except Exception as e:
        try:
            pickle.dumps(e)
        except Exception:  # an exception that cannot travel back keeps its name and text
            raise RuntimeError(f"{type(e).__name__}: {e}") from None
        raise


def _work(items: list[tuple[str, Any]]) -> list:
    return _safely(encode_batch, items)


def _work_file(path: Path, split: str) -> list:
    return [_safely(encode_file, path, split)]


def encode_file(tok: Tokenizer, dtype: np.dtype, path: Path, split: str) -> tuple:
    """Read and encode one file of a many-file corpus as ``data._Sources`` would: a DataError
    while reading ends the file (the broken document is dropped, those before it stay) and is
    returned to be reported; a DataError from ``encode`` is raised."""
    docs: list = []
    made = _reading(tok.read, path)
    if isinstance(made, DataError):
        return docs, made
    made = iter(made)
    while (doc := _reading(next, made, None)) is not None and not isinstance(doc, DataError):
        arrays, parts = [], iter(doc.parts)
        while (part := _reading(next, parts, _END)) is not _END:
            if isinstance(part, DataError):
                docs.append((doc.split or split, arrays, True))
                return docs, part
            arrays.append(encode_batch(tok, dtype, [(doc.name, part)])[0])  # errors: raised
        docs.append((doc.split or split, arrays, False))
    return docs, doc


_END = object()


def _reading(step: Callable, *args) -> Any:
    """``step(*args)``, or the DataError it raised (reading a file, not encoding it)."""
    try:
        return step(*args)
    except DataError as e:
        return e


# --- the parent side -------------------------------------------------------------------------
class Encoder:
    """Encodes parts in order and hands each batch to ``apply(ops, ids)``: the queued ops
    (``("part", name, part, tag)`` and ``("mark", what)``) and the ids of its parts."""

    def __init__(self, tok: Tokenizer, dtype: np.dtype, workers: int, apply: Callable):
        self.tok, self.dtype, self.apply = tok, dtype, apply
        self.pool: ProcessPoolExecutor | None = None
        self.pending: collections.deque = collections.deque()
        self.ops: list = []
        self.size = 0
        if workers > 1:
            self.pool = _start_pool(tok, dtype, workers)
        self.window = WINDOW * workers

    def takes_file(self, src, many: bool) -> bool:
        """Whether a worker should read ``src`` itself (a small file of a many-file corpus)."""
        return (
            self.pool is not None
            and many
            and isinstance(src, Path)
            and src.stat().st_size <= FILE_TASK_BYTES
        )

    def file(self, path: Path, split: str, tag: Any = None) -> None:
        """Queue a whole file for a worker to read and encode (after the parts queued so far)."""
        self.flush()
        self.pending.append(([("file", path, tag)], self.pool.submit(_work_file, path, split)))
        self._trim()

    def part(self, name: str, part: Any, tag: Any = None) -> None:
        """Queue one part to encode (``name`` for error messages, ``tag`` back to ``apply``)."""
        self.ops.append(("part", name, part, tag))
        self.size += len(part) if hasattr(part, "__len__") else 1
        if self.size >= BATCH_SIZE or len(self.ops) >= BATCH_PARTS:
            self.flush()

    def mark(self, what: Any) -> None:
        self.ops.append(("mark", what))

    def controls(self, ids: np.ndarray, split: str) -> None:
        """Control ids (seqgen.labels) that start the next document of ``split``."""
        if len(ids):
            self.ops.append(("controls", ids, split))

    def flush(self) -> None:
        ops, self.ops, self.size = self.ops, [], 0
        items = [(op[1], op[2]) for op in ops if op[0] == "part"]
        if self.pool is None or (not items and not self.pending):
            self.apply(ops, encode_batch(self.tok, self.dtype, items))
            return
        self.pending.append((ops, self.pool.submit(_work, items) if items else None))
        self._trim()

    def _trim(self) -> None:
        while len(self.pending) > self.window:
            self._drain_one()

    def _drain_one(self) -> None:
        ops, future = self.pending.popleft()  # in the order queued: marks wait their turn
        self.apply(ops, future.result() if future is not None else [])

    def finish(self) -> None:
        self.flush()
        while self.pending:
            self._drain_one()

    def close(self) -> None:
        if self.pool is not None:
            for _, future in self.pending:
                if future is not None:
                    future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _start_pool(tok: Tokenizer, dtype: np.dtype, workers: int) -> ProcessPoolExecutor | None:
    """A spawn pool whose workers rebuild the fitted tokenizer from its state; None when the
    tokenizer class or state cannot be sent to another process (it is encoded in-process)."""
    import multiprocessing

    args = (type(tok), tok.get_state(), np.dtype(dtype).name)
    try:
        pickle.dumps(args)
    except Exception:
        return None
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main is not None and not os.path.exists(main):  # a script on stdin: spawn cannot rerun it
        return None
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=args)


def pool_size(workers: int, files: list[Path], fit_seconds: float) -> int:
    """``workers`` when the corpus is big enough to repay starting them: many bytes, or a fit
    pass (which read the training documents) that took a while -- parsing music is slow
    however few bytes it has. Otherwise 1: encoded in-process."""
    if corpus_bytes(files) >= MIN_PARALLEL_BYTES or fit_seconds >= MIN_PARALLEL_SECONDS:
        return workers
    return 1


@contextlib.contextmanager
def encoder(tok, dtype, workers: int, apply: Callable) -> Iterator[Encoder]:
    """An Encoder; with a pool of ``workers`` processes when there are more than one."""
    enc = Encoder(tok, dtype, workers, apply)
    try:
        yield enc
        enc.finish()
    finally:
        enc.close()


# --- writing the split files -----------------------------------------------------------------
class Writer:
    """Appends id arrays to a file; can roll back to the start of a document."""

    def __init__(self, path: Path, dtype: np.dtype):
        self.dtype = dtype
        self.f = open(path, "wb")
        self.count = 0

    def write(self, ids) -> None:
        arr = np.asarray(ids, dtype=self.dtype)
        self.f.write(arr.tobytes())
        self.count += arr.size

    def rollback(self, count: int) -> None:
        self.f.flush()
        self.f.truncate(count * self.dtype.itemsize)
        self.f.seek(count * self.dtype.itemsize)
        self.count = count

    def close(self) -> None:
        self.f.close()


class Splits:
    """The split files being written, and where each document ends in them. ``apply`` takes
    one encoded batch in order: ids for its parts (tagged with their split and how many bytes
    of the corpus had been read, for the progress bar); (split, failed) after a document's last
    part (a failed document is rolled back, an empty one adds nothing); or a whole file's
    documents from a worker, with the error that ended it (handed to ``on_error``)."""

    def __init__(self, work: Path, dtype: np.dtype, eod: int):
        self.work, self.dtype, self.eod = work, dtype, np.array([eod], dtype=dtype)
        self.writers: dict[str, Writer] = {}
        self.ends: dict[str, list[int]] = {}
        self.start: dict[str, int] = {}
        self.head: dict[str, int] = {}  # control ids at the start of the current document
        self.progress: Callable[[int, int], None] = lambda at, tokens: None
        self.on_error: Callable[[Path, DataError], None] = lambda src, err: None

    def writer(self, split: str) -> Writer:
        if split not in self.writers:
            self.writers[split] = Writer(self.work / f"{split}.bin", self.dtype)
            self.ends[split], self.start[split] = [], 0
        return self.writers[split]

    def apply(self, ops: list, encoded: list) -> None:
        ids = iter(encoded)
        for op in ops:
            if op[0] == "part":
                split, at = op[3]
                self.writer(split).write(next(ids))
                self.progress(at, self.tokens)
            elif op[0] == "controls":
                self.writer(op[2]).write(op[1])
                self.head[op[2]] = len(op[1])
            elif op[0] == "file":
                docs, err = next(ids)
                for split, arrays, failed in docs:
                    for arr in arrays:
                        self.writer(split).write(arr)
                    self.end(split, failed)
                if err is not None:
                    self.on_error(op[1], err)
                self.progress(op[2], self.tokens)
            else:
                self.end(*op[1])

    def end(self, split: str, failed: bool) -> None:
        w = self.writer(split)
        head = self.head.pop(split, 0)
        if failed or (head and w.count == self.start[split] + head):  # failed, or only labels
            w.rollback(self.start[split])
        elif w.count > self.start[split]:  # an empty document adds nothing
            w.write(self.eod)
            self.ends[split].append(w.count)
        self.start[split] = w.count

    @property
    def tokens(self) -> int:
        return sum(w.count for w in self.writers.values())
