"""Held-out negative log-likelihood over a whole token array, with the model state carried.

The array is cut into S contiguous streams that run side by side; each stream keeps its state
from start to end (unlimited context). Each stream after the first first reads the WARMUP
tokens before its cut (not scored), so it starts with the state of its context::

    ids:     a b c d e f g h i j k l m n o p q       (S = 3 streams, WARMUP = 2)
    stream0  a b c d e
    stream1       (d e)f g h i j
    stream2                 (i j)k l m n o p q   <- the remainder rides on the last stream

An LSTM forgets fast: with a warm-up of 64 tokens the sum equals the sequential one (one
stream, batch 1) to about 1e-6 nats per token on Tiny Shakespeare, at 64 streams; without it,
3e-3 to 4e-3 (bench/eval_speed.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from seqgen.doccache import CacheWeights, fit, mix_logprob, scan
from seqgen.models import LanguageModel

LN2 = math.log(2)


@dataclass
class Score:
    nll: float  # summed, nats
    tokens: int  # predicted tokens
    units: int  # what the tokens stand for (characters, frames, ...)
    unit: str
    counts: dict[str, float] = field(default_factory=dict)  # the domain's eval_units

    def report(self) -> dict:
        per_tok = self.nll / max(self.tokens, 1)
        per_unit = self.nll / max(self.units, 1)
        out = {
            "nats_per_token": per_tok,
            "bits_per_token": per_tok / LN2,
            "perplexity": math.exp(min(per_tok, 700.0)),
            "tokens": self.tokens,
            "unit": self.unit,
            "units": self.units,
            "nats_per_unit": per_unit,
            "bits_per_unit": per_unit / LN2,
        }
        if self.counts:
            out["counts"] = dict(self.counts)
        for name, count in self.counts.items():  # e.g. nats_per_note, nats_per_second
            out[f"nats_per_{name}"] = self.nll / count if count else float("nan")
            out[f"bits_per_{name}"] = out[f"nats_per_{name}"] / LN2
        return out


STREAMS = 64  # rows scored side by side
WARMUP = 64  # tokens each stream reads before its cut
LOGITS_BUDGET = 1 << 25  # floats of (rows, time, vocabulary) logits one scoring call may hold


def time_chunk(model: LanguageModel, rows: int, chunk: int) -> int:
    """``chunk`` time steps, fewer when rows x steps x vocabulary logits would pass
    LOGITS_BUDGET (128 MB): a corpus of a million distinct characters must not make
    validation allocate tens of gigabytes. The state is carried across chunks, so the
    result does not depend on it."""
    vocab = int(getattr(model.config, "vocab_size", 1))
    return max(1, min(chunk, LOGITS_BUDGET // max(1, rows * vocab)))


def with_start(ids: np.ndarray, eod_id: int | None) -> np.ndarray:
    """The ids as scored: after an end-of-document token, as every document starts in training
    and sampling (so the first document is read like the others, and its first token counts)."""
    ids = np.asarray(ids)
    if eod_id is not None and len(ids) and ids[0] != eod_id:
        ids = np.concatenate([np.array([eod_id], dtype=ids.dtype), ids])
    return ids


@torch.inference_mode()
def target_logprobs(
    model: LanguageModel,
    ids: np.ndarray,
    eod_id: int | None = None,
    streams: int = STREAMS,
    chunk: int = 256,
    device: str | torch.device = "cpu",
    share: tuple[int, int] = (0, 1),
    warmup: int = WARMUP,
    precision: str = "fp32",
) -> np.ndarray:
    """log p of each token given what precedes it, in order (float32). With ``eod_id``, the
    split is read as ``with_start`` gives it and the state is reset after each end-of-document
    token, so every document is scored on its own; without it, ids[0] is context only.

    ``share=(rank, size)`` scores only that rank's part (whole batches of documents, or whole
    streams) and leaves the rest zero: summed over the ranks, the arrays are the one array a
    single process computes. ``warmup`` tokens before each cut between streams are read
    (not scored) first, so a stream starts with the state of its context, not from zero.
    ``precision="bf16"`` computes under bf16 autocast, as training does where it can."""
    device = torch.device(device)
    with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
        return _target_logprobs(model, ids, eod_id, streams, chunk, device, share, warmup)


def _target_logprobs(model, ids, eod_id, streams, chunk, device, share, warmup) -> np.ndarray:
    was_training = model.training
    model.eval()
    ids = with_start(ids, eod_id)
    n = len(ids) - 1
    out = np.zeros(max(n, 0), np.float32)
    if n < 1:
        model.train(was_training)
        return out
    if eod_id is not None:
        starts = np.flatnonzero(ids[:-1] == eod_id)
        if len(starts) >= 2 * streams:  # many documents: score each one on its own, batched
            _documents_logprobs(model, ids, starts, device, out, chunk=chunk, share=share)
            model.train(was_training)
            return out
    streams = max(1, min(streams, n // max(chunk, 1)))
    step = time_chunk(model, streams, chunk)
    m = n // streams

    def run(x: np.ndarray, y: np.ndarray, state, at: np.ndarray):
        for t in range(0, x.shape[1], step):
            xb = torch.from_numpy(x[:, t : t + step].astype(np.int64)).to(device)
            yb = torch.from_numpy(y[:, t : t + step].astype(np.int64)).to(device)
            reset = (xb == eod_id) if eod_id is not None else None
            nll, state = model.loss(xb, yb, state, reset, reduction="none")
            out[at[:, t : t + step]] = -nll.float().cpu().numpy()
        return state

    main = ids[: streams * m + 1]
    x = np.lib.stride_tricks.sliding_window_view(main[:-1], m)[::m][:streams]
    y = np.lib.stride_tricks.sliding_window_view(main[1:], m)[::m][:streams]
    at = np.arange(streams * m).reshape(streams, m)  # where each target's log p goes
    rank, size = share
    mine = np.array_split(np.arange(streams), size)[rank]  # this rank's streams
    if len(mine):
        x, y, at = x[mine], y[mine], at[mine]
        state = _warmed(model, ids, mine * m, min(warmup, m), eod_id, device)
        state = run(np.ascontiguousarray(x), np.ascontiguousarray(y), state, at)
    rest = ids[streams * m :]
    if len(rest) > 1 and len(mine) and mine[-1] == streams - 1:
        last = model.select_state(state, torch.tensor([len(mine) - 1]))
        run(rest[None, :-1], rest[None, 1:], last, np.arange(streams * m, n)[None])
    model.train(was_training)
    return out


def _warmed(model, ids: np.ndarray, starts: np.ndarray, width: int, eod_id, device):
    """The state of each stream starting at ``starts`` after reading the ``width`` tokens
    before it (None: every stream from a zero state). A stream at 0 has no context."""
    if width < 1 or not (starts > 0).any():
        return None
    later = starts[starts > 0]
    x = np.stack([ids[s - width : s] for s in later]).astype(np.int64)
    y = np.stack([ids[s - width + 1 : s + 1] for s in later]).astype(np.int64)
    xb, yb = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    reset = (xb == eod_id) if eod_id is not None else None
    _, state = model.loss(xb, yb, None, reset, reduction="none")
    if len(later) < len(starts):  # the first stream: nothing before it
        state = model.join_states([model.initial_state(1, device), state])
    return state


def _documents_logprobs(
    model,
    ids: np.ndarray,
    starts: np.ndarray,
    device,
    out: np.ndarray,
    batch: int = 64,
    chunk: int = 256,
    share: tuple[int, int] = (0, 1),
) -> None:
    """Each document (from its end-of-document input to the next) starts from a zero state,
    exactly as with resets; documents of similar length are padded into one batch."""
    bounds = sorted({0, *starts.tolist(), len(ids) - 1})
    segs = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    segs.sort(key=lambda ab: ab[0] - ab[1])  # longest first
    rank, size = share
    for i in range(rank * batch, len(segs), batch * size):  # whole batches, dealt in turn
        group = segs[i : i + batch]
        lengths = np.array([b - a for a, b in group])
        width = max(b - a for a, b in group)
        x = np.zeros((len(group), width), np.int64)
        y = np.full((len(group), width), -100, np.int64)  # -100: ignored by cross_entropy
        for r, (a, b) in enumerate(group):
            x[r, : b - a] = ids[a:b]
            y[r, : b - a] = ids[a + 1 : b + 1]
        state = None
        chunk = time_chunk(model, len(group), chunk)
        for t in range(0, width, chunk):  # in time chunks: (B, T, V) logits stay small
            live = int(np.count_nonzero(lengths > t))  # rows still running: a prefix
            if state is not None:
                state = model.select_state(state, torch.arange(live))
            xb = torch.from_numpy(x[:live, t : t + chunk]).to(device)
            yb = torch.from_numpy(y[:live, t : t + chunk]).to(device)
            nll, state = model.loss(xb, yb, state, reduction="none")
            nll = nll.float().cpu().numpy()
            for r, (a, b) in enumerate(group[:live]):
                k = min(b - a - t, xb.shape[1])
                out[a + t : a + t + k] = -nll[r, :k]


def fit_cache(logp: np.ndarray, ids: np.ndarray, eod_id: int | None) -> CacheWeights:
    """Fit the document cache's weights to the LSTM's log p of each token of ``ids`` (as
    ``target_logprobs`` gives them)."""
    ids = with_start(ids, eod_id)
    cand, length, gap = scan(ids, eod_id)
    return fit(logp, cand == np.asarray(ids[1:]), length, gap)


def cached_logprobs(
    logp: np.ndarray, ids: np.ndarray, eod_id: int | None, weights: CacheWeights
) -> np.ndarray:
    """log p of each token under the LSTM with the document cache mixed in."""
    ids = with_start(ids, eod_id)
    found = scan(ids, eod_id, weights.min_match)
    return mix_logprob(logp, found, np.asarray(ids[1:]), weights)
