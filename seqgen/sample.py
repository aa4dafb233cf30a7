"""Sampling: feed a prime, then draw one token at a time with the state carried (never re-run a
window). The document cache (if the run has one) is mixed in first, so temperature 1 draws from
exactly the distribution `seqgen eval` scores; then the domain's constraint masks, and
temperature, top-k, top-p (nucleus) or greedy choose."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqgen.doccache import CacheWeights, MatchCache, mix_probs
from seqgen.errors import SeqgenError
from seqgen.model import LSTMLanguageModel, Stepper
from seqgen.tokenizer import Tokenizer


@dataclass
class SampleConfig:
    length: int = 500  # tokens to draw per sample (the prime not counted)
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    num_samples: int = 1
    seed: int | None = None
    stop_at_eod: bool = True
    until: tuple[str, float] | None = None  # (measure, amount): stop when a sample spans it
    cache: CacheWeights | None = None  # mix the document cache in (a run trained with --cache)


def check_until(tok: Tokenizer, until: tuple[str, float] | None) -> None:
    """Refuse a length in a measure (seconds, bars) the domain's clock does not count."""
    if until is not None and until[0] not in tok.measures:
        raise SeqgenError(
            f"--{until[0]}: the {tok.name} domain measures samples in tokens only; use --length"
        )


def filter_logits(logits: np.ndarray, cfg: SampleConfig) -> np.ndarray:
    """Temperature, then top-k, then top-p on (B, V) logits (dropped entries become -inf)."""
    logits = logits / max(cfg.temperature, 1e-6)
    if cfg.top_k is not None and 0 < cfg.top_k < logits.shape[-1]:
        kth = np.partition(logits, -cfg.top_k, axis=-1)[:, -cfg.top_k, None]
        logits = np.where(logits < kth, -np.inf, logits)
    if cfg.top_p is not None and 0 < cfg.top_p < 1:
        order = np.argsort(-logits, axis=-1)
        ranked = np.take_along_axis(logits, order, -1)
        probs = softmax(ranked)
        drop = np.cumsum(probs, -1) - probs >= cfg.top_p  # keep the first token past p
        np.put_along_axis(logits, order, np.where(drop, -np.inf, ranked), -1)
    return logits


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of (B, V) probabilities, by inverse transform sampling."""
    u = rng.random((probs.shape[0], 1)) * probs.sum(-1, keepdims=True)
    return np.minimum((np.cumsum(probs, -1) < u).sum(-1), probs.shape[1] - 1)


@torch.inference_mode()
def generate(
    model: LSTMLanguageModel,
    tok: Tokenizer,
    cfg: SampleConfig,
    prime: Sequence[int] = (),
    on_token: Callable[[int, int], None] | None = None,
) -> list[list[int]]:
    """Draw ``cfg.num_samples`` continuations of ``prime`` (ids). Returns the new ids of each
    sample (the prime excluded), closed by the domain's constraint if it has one.
    ``on_token(sample_index, id)`` is called for every drawn token, for streaming."""
    model.eval()
    n = cfg.num_samples
    rng = np.random.default_rng(cfg.seed)
    constraints = [tok.constraint() for _ in range(n)]
    constrained = constraints[0] is not None
    check_until(tok, cfg.until)
    clocks = [tok.clock() for _ in range(n)] if cfg.until else []
    # Start from the end-of-document token, as every document in training did.
    context = [tok.eod_id, *prime]
    for follower in (constraints if constrained else []) + clocks:
        for t in prime:
            follower.advance(int(t))
    start = [c.elapsed(cfg.until[0]) for c in clocks]  # the goal counts from the prime's end
    x = torch.tensor([context] * n, dtype=torch.long)
    logits, (h, c) = model(x)  # the prime in one fused pass
    logits = logits[:, -1].float().cpu().numpy()
    state = (h.float().cpu().numpy(), c.float().cpu().numpy())
    stepper = Stepper(model)
    caches = [MatchCache(cfg.cache.min_match) for _ in range(n)] if cfg.cache else []
    for cache in caches:
        for t in context:
            cache.feed(int(t), tok.eod_id)
    out: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for step in range(cfg.length):
        if caches:
            logits = _with_cache(logits, caches, cfg.cache)
        if step == 0 and cfg.length > 1:
            logits[:, tok.eod_id] = -np.inf  # an empty sample is never what was asked for
        if constrained:
            for i, con in enumerate(constraints):
                allowed = con.mask()
                if allowed is not None:
                    logits[i, ~allowed] = -np.inf
        if cfg.greedy:
            nxt = logits.argmax(-1)
        else:
            nxt = draw(softmax(filter_logits(logits, cfg)), rng)
        for i, t in enumerate(nxt.tolist()):
            if done[i]:
                continue
            out[i].append(t)
            if caches:
                caches[i].feed(t, tok.eod_id)
            if constrained:
                constraints[i].advance(t)
            if on_token is not None:
                on_token(i, t)
            if cfg.stop_at_eod and t == tok.eod_id:
                done[i] = True
            if clocks:
                clocks[i].advance(t)
                if clocks[i].elapsed(cfg.until[0]) - start[i] >= cfg.until[1]:
                    done[i] = True
        if all(done):
            break
        logits, state = stepper.step(nxt, state)
    if constrained:
        for i, con in enumerate(constraints):
            if not out[i] or out[i][-1] != tok.eod_id:  # cut by --length or the clock
                for t in con.finish():
                    out[i].append(t)
                    if on_token is not None:
                        on_token(i, t)
    return out


def _with_cache(logits: np.ndarray, caches: list[MatchCache], w: CacheWeights) -> np.ndarray:
    """(B, V) logits of the model with each sample's cache candidate mixed in (as
    log-probabilities; unchanged when no sample has a weighted match)."""
    cands, lengths, gaps = np.array([c.candidate() for c in caches]).T
    lams = w.of(lengths, gaps)
    if not lams.any():  # no sample has a match worth mixing in: the model's logits as they are
        return logits
    with np.errstate(divide="ignore"):
        return np.log(mix_probs(softmax(logits), cands.tolist(), lams.tolist()))
