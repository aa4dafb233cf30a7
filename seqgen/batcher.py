"""Contiguous streams for stateful truncated backpropagation through time.

The training tokens are cut into B equal streams that advance side by side; each step takes
the next T tokens of every stream, and the model state flows from one step to the next (it is
detached, so gradients stop at the step boundary)::

    tokens:  |---- stream 0 ----|---- stream 1 ----| ... |---- stream B-1 ----|
    step k:   [kT, kT+T) of every stream  ->  batch (B, T), targets shifted by one

An epoch ends when the streams run out; the state restarts from zero. With several processes
(``world`` > 1) the B streams are the global batch and ``rank`` serves its own contiguous share
of them, so every stream's state and document cache stay within one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgen.errors import SeqgenError


@dataclass
class Layout:
    batch_size: int  # B streams in all (over every rank)
    seq_len: int  # T
    stream_len: int  # tokens per stream
    steps_per_epoch: int
    shrunk: bool  # the corpus was too small for the asked B and T


def plan(n_tokens: int, batch_size: int, seq_len: int, world: int = 1) -> Layout:
    """B and T for a split of ``n_tokens``: fewer streams, then shorter windows, when the
    corpus is too small for the asked ones (the stream count stays a multiple of ``world``)."""
    n = n_tokens - 1
    B, T = batch_size, seq_len
    if n < 2:
        raise SeqgenError("the training split is too small to train on (under 3 tokens)")
    shrunk = n // B < T + 1
    if shrunk:
        B = max(1, min(B, n // (T + 1)))
        T = min(T, n // B - 1)
    if B % world:
        B = max(world, B - B % world)
        if n // B < 2:
            raise SeqgenError(f"the training split is too small for {world} processes")
        T = min(T, n // B - 1)
    stream_len = n // B
    return Layout(B, T, stream_len, max(1, (stream_len - 1) // T), shrunk)


class StreamBatcher:
    """Batches of step k for this rank: ids (B/world, T) and targets shifted by one."""

    def __init__(self, ids: np.ndarray, layout: Layout, rank: int = 0, world: int = 1):
        if layout.batch_size % world:
            raise ValueError("the stream count must divide among the processes")
        self.ids, self.layout = ids, layout
        self.rank, self.world = rank, world
        per = layout.batch_size // world
        self.streams = range(rank * per, (rank + 1) * per)  # which streams this rank serves
        self.starts = np.arange(rank * per, (rank + 1) * per, dtype=np.int64)[:, None]
        self.starts = self.starts * layout.stream_len
        self.window = np.arange(layout.seq_len + 1, dtype=np.int64)[None, :]

    @property
    def steps_per_epoch(self) -> int:
        return self.layout.steps_per_epoch

    def epoch_start(self, step: int) -> bool:
        """Whether step ``step`` starts an epoch (the state restarts from zero)."""
        return step % self.layout.steps_per_epoch == 0

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        offset = (step % self.layout.steps_per_epoch) * self.layout.seq_len
        chunk = self.ids[self.starts + offset + self.window].astype(np.int64)
        return chunk[:, :-1], chunk[:, 1:]
