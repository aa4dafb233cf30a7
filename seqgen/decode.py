"""Decoding: feed a prime once, then choose one token at a time with the state carried (never
re-run a window). Each sample is a :class:`Hypothesis`: its ids, its row of the stepper's
state, the domain's constraint and clock and the document cache that follow it, and its model
log-probability. A chooser decides what comes next:

- sampling: temperature, then top-k, then top-p (nucleus), drawn from the rest;
- greedy: the likeliest token;
- beam search (``beam`` > 1): the ``beam`` best continuations by log-probability, hypotheses
  forked (their constraint, clock and cache copied) where one parent has several children.

The document cache (if the run has one) is mixed in first, so temperature 1 draws from exactly
the distribution `seqgen eval` scores; then the domain's constraint masks what may not follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqgen import limits
from seqgen.doccache import CacheWeights, MatchCache, mix_probs
from seqgen.errors import SeqgenError
from seqgen.tokenizer import Tokenizer

OnToken = Callable[[int, int], None]


@dataclass
class DecodeConfig:
    length: int = 500  # tokens to draw per sample (the prime not counted)
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    beam: int = 1  # > 1: beam search with this many hypotheses
    length_penalty: float = 1.0  # beam: score = log p / length**alpha (0: total log p)
    num_samples: int = 1
    seed: int | None = None
    stop_at_eod: bool = True
    until: tuple[str, float] | None = None  # (measure, amount): stop when a sample spans it
    cache: CacheWeights | None = None  # mix the document cache in (a run trained with --cache)
    # Control ids (seqgen.labels) read after the end-of-document: one slot per label key, the
    # id asked for or the key's ids, of which one is drawn from the model for each sample.
    controls: tuple[tuple[int, ...], ...] = ()
    # Classifier-free guidance: each step's log-probabilities move away from those of a twin
    # sample whose labels are all drawn from the model (``free``), by this weight.
    guidance: float = 0.0
    free: tuple[tuple[int, ...], ...] = ()
    # Section labels (a run trained with --section-labels): control ids the model may emit
    # inside a sample, one (key's ids, id asked for or -1) per key; an id asked for gets the
    # probability of all its key's ids. Empty: control ids are never chosen.
    inline: tuple[tuple[tuple[int, ...], int], ...] = ()

    @property
    def steps(self) -> int:
        """Model steps at most: ``length`` tokens, and room for section labels, which the
        model reads but the sample does not count (a sample is done at ``length`` tokens)."""
        return self.length + (self.length // 2 + 64 if self.inline else 0)

    def check(self) -> DecodeConfig:
        """SeqgenError naming the first option no decoding can use."""
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise SeqgenError(f"--temperature {self.temperature}: give a positive number")
        if self.top_k is not None and self.top_k < 1:
            raise SeqgenError(f"--top-k {self.top_k}: must be at least 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise SeqgenError(f"--top-p {self.top_p}: give a number above 0, at most 1")
        if self.length < 0:
            raise SeqgenError(f"--length {self.length}: must not be negative")
        limits.check("length", self.length, "--length")
        if self.num_samples < 1:
            raise SeqgenError(f"--num-samples {self.num_samples}: must be at least 1")
        limits.check("samples", self.num_samples, "--num-samples")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise SeqgenError(f"--seed {self.seed}: give a whole number from 0 to 2^63-1")
        if self.until is not None and not (math.isfinite(self.until[1]) and self.until[1] > 0):
            raise SeqgenError(f"--{self.until[0]} {self.until[1]}: give a positive number")
        self._check_beam()
        self._check_guidance()
        return self

    def _check_guidance(self) -> None:
        if not (math.isfinite(self.guidance) and 0 <= self.guidance <= 20):
            raise SeqgenError(f"--guidance {self.guidance}: give a weight from 0 to 20")
        if self.guidance and self.beam > 1:
            raise SeqgenError("--guidance is for sampling, not --beam")

    def _check_beam(self) -> None:
        if self.beam < 1:
            raise SeqgenError(f"--beam {self.beam}: must be at least 1")
        limits.check("beam", self.beam, "--beam")
        if not math.isfinite(self.length_penalty) or self.length_penalty < 0:
            raise SeqgenError(f"--length-penalty {self.length_penalty}: give 0 or more")
        if self.beam == 1:
            return
        sampling = self.temperature != 1.0 or self.top_k or self.top_p or self.greedy
        if sampling:
            raise SeqgenError(
                "--beam searches for the likeliest samples: --temperature, --top-k, --top-p "
                "and --greedy are for sampling"
            )
        if self.num_samples > self.beam:
            raise SeqgenError(
                f"--num-samples {self.num_samples} is more than --beam {self.beam} can return"
            )


def check_until(tok: Tokenizer, until: tuple[str, float] | None) -> None:
    """Refuse a length in a measure (seconds, bars) the domain's clock does not count."""
    if until is not None and until[0] not in tok.measures:
        raise SeqgenError(
            f"--{until[0]}: the {tok.name} domain measures samples in tokens only; use --length"
        )


class Hypothesis:
    """One sample in the making: what it has emitted, and everything that follows it."""

    def __init__(self, tok: Tokenizer, cfg: DecodeConfig, prime: Sequence[int]):
        self.ids: list[int] = []
        self.logprob, self.done = 0.0, False
        self.constraint = tok.constraint()
        self.clock = tok.clock() if cfg.until else None
        self.cache = MatchCache(cfg.cache.min_match) if cfg.cache else None
        context = [tok.eod_id, *prime]  # every document starts after the end-of-document token
        for t in prime:
            for follower in (self.constraint, self.clock):
                if follower is not None:
                    follower.advance(int(t))
        for t in context if self.cache is not None else ():
            self.cache.feed(int(t), tok.eod_id)
        self.start = self.clock.elapsed(cfg.until[0]) if self.clock else 0.0

    def fork(self) -> Hypothesis:
        """An independent copy: its constraint, clock and cache advance on their own."""
        h = object.__new__(Hypothesis)
        h.ids, h.logprob, h.done, h.start = list(self.ids), self.logprob, self.done, self.start
        h.constraint = self.constraint.copy() if self.constraint is not None else None
        h.clock = self.clock.copy() if self.clock is not None else None
        h.cache = self.cache.copy() if self.cache is not None else None
        return h

    def push(self, t: int, tok: Tokenizer, cfg: DecodeConfig) -> None:
        """Emit token ``t``: advance the followers; done at end-of-document or at the goal.
        A control id (a section label) is read by the model only: it is not part of the
        sample, and the domain's followers never see it."""
        if t >= tok.vocab_size:
            return
        self.ids.append(t)
        if len(self.ids) >= cfg.length:
            self.done = True
        if self.cache is not None:
            self.cache.feed(t, tok.eod_id)
        if self.constraint is not None:
            self.constraint.advance(t)
        if cfg.stop_at_eod and t == tok.eod_id:
            self.done = True
        if self.clock is not None:
            self.clock.advance(t)
            if self.clock.elapsed(cfg.until[0]) - self.start >= cfg.until[1]:
                self.done = True

    def close(self, tok: Tokenizer) -> list[int]:
        """Tokens that close what is still open when the sample was cut (not by its own end)."""
        if self.constraint is None or (self.ids and self.ids[-1] == tok.eod_id):
            return []
        tail = list(self.constraint.finish())
        self.ids.extend(tail)
        return tail


def shape(logits: np.ndarray, hyps: list[Hypothesis], tok: Tokenizer, cfg: DecodeConfig
          ) -> np.ndarray:  # fmt: skip
    """(B, V) logits as the choosers see them: the cache mixed in, an end-of-document refused
    as a sample's first token (an empty sample is never what was asked for; section labels
    are not tokens of the sample), the constraints' masks.
    Control ids (past the tokenizer's vocabulary, seqgen.labels) are never chosen, but for a
    run with section labels (``cfg.inline``)."""
    if cfg.cache is not None:
        logits = with_cache(logits, [h.cache for h in hyps], cfg.cache)
    if cfg.length > 1:
        logits[[i for i, h in enumerate(hyps) if not h.ids], tok.eod_id] = -np.inf
    if logits.shape[-1] > tok.vocab_size:
        logits = with_inline(logits, tok.vocab_size, cfg.inline)
    for i, h in enumerate(hyps):
        allowed = h.constraint.mask() if h.constraint is not None else None
        if allowed is not None:
            row = logits[i, : len(allowed)]  # a view: the constraint knows the tokenizer's ids
            row[~allowed] = -np.inf
    return logits


@torch.inference_mode()
def decode(
    model,
    tok: Tokenizer,
    cfg: DecodeConfig,
    prime: Sequence[int] = (),
    on_token: OnToken | None = None,
) -> list[list[int]]:
    """``cfg.num_samples`` continuations of ``prime`` (ids): the new ids of each sample (the
    prime excluded), closed by the domain's constraint if cut short. ``on_token(i, id)`` is
    called for every token as it is chosen (for beam search: the winners', at the end)."""
    cfg.check()
    check_until(tok, cfg.until)
    limits.check("prime_tokens", len(prime), "the prime (tokens)")
    model.eval()
    if cfg.beam > 1:
        from seqgen.beam import beam_search

        return beam_search(model, tok, cfg, prime, on_token)
    return _sample(model, tok, cfg, prime, on_token)


def read_prime(model, tok: Tokenizer, prime: Sequence[int], rows: int, controls=(), rng=None):
    """The prime, after the end-of-document token and the control slots, in one fused pass: the
    last logits (rows, V) and the stepper with its state. A slot of several ids gets one per
    row, drawn with ``rng`` from the model's probabilities over them (the likeliest without)."""
    head = np.full((rows, 1), tok.eod_id, dtype=np.int64)
    for slot in controls:
        ids = np.asarray(slot, dtype=np.int64)
        if len(ids) > 1:
            scores = model(torch.from_numpy(head))[0][:, -1, ids].float().cpu().numpy()
            ids = ids[draw(softmax(scores), rng) if rng is not None else scores.argmax(-1)]
        head = np.concatenate([head, np.broadcast_to(ids, (rows,))[:, None]], 1)
    body = np.broadcast_to(np.asarray(prime, dtype=np.int64), (rows, len(prime)))
    logits, state = model(torch.from_numpy(np.concatenate([head, body], 1)))
    stepper = model.stepper()
    return logits[:, -1].float().cpu().numpy(), stepper, stepper.start(state)


def _sample(model, tok, cfg: DecodeConfig, prime, on_token: OnToken | None) -> list[list[int]]:
    """Sampling or greedy: all samples as one batch; finished ones ride along (so the random
    draws, and with them the samples of a seed, do not depend on when others finish)."""
    n = cfg.num_samples
    rng = np.random.default_rng(cfg.seed)
    hyps = [Hypothesis(tok, cfg, prime) for _ in range(n)]
    logits, stepper, state = read_prime(model, tok, prime, n, cfg.controls, rng)
    if cfg.guidance:  # the twin: the same tokens after labels the model draws itself
        free, _, free_state = read_prime(model, tok, prime, n, cfg.free, rng)
    for _ in range(cfg.steps):
        if cfg.guidance:
            logits = guided(logits, free, cfg.guidance)
        logits = shape(logits, hyps, tok, cfg)
        if cfg.greedy:
            nxt = logits.argmax(-1)
        else:
            nxt = draw(softmax(filter_logits(logits, cfg)), rng)
        for i, t in enumerate(nxt.tolist()):
            if not hyps[i].done:
                hyps[i].push(t, tok, cfg)
                if on_token is not None and t < tok.vocab_size:
                    on_token(i, t)
        if all(h.done for h in hyps):
            break
        logits, state = stepper.step(nxt, state)
        if cfg.guidance:
            free, free_state = stepper.step(nxt, free_state)
    for i, h in enumerate(hyps):
        for t in h.close(tok):
            if on_token is not None:
                on_token(i, t)
    return [h.ids for h in hyps]


def with_inline(logits: np.ndarray, base: int, inline) -> np.ndarray:
    """(B, V) logits with the control ids (``base`` on) refused, but those ``inline`` lets
    the model emit: a key's ids as the model scores them, or, for a key asked for, the id
    asked for with the log of all the key's probability (the sample keeps the key's place
    and takes the value asked for)."""
    if not inline:  # a run without section labels: no control id is ever chosen
        logits[:, base:] = -np.inf
        return logits
    controls = logits[:, base:].copy()
    logits[:, base:] = -np.inf
    for group, asked in inline:
        scores = controls[:, np.asarray(group) - base]
        if asked < 0:
            logits[:, list(group)] = scores
        else:
            top = scores.max(-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = top + np.log(np.exp(scores - top[:, None]).sum(-1))
            logits[:, asked] = np.where(np.isfinite(top), total, -np.inf)
    return logits


def guided(logits: np.ndarray, free: np.ndarray, weight: float) -> np.ndarray:
    """Classifier-free guidance on (B, V) logits: (1 + w) log p(x | labels) - w log p(x), the
    second from a twin whose labels the model drew itself (its own mix)."""
    with np.errstate(invalid="ignore"):
        return (1 + weight) * log_softmax(logits) - weight * log_softmax(free)


def filter_logits(logits: np.ndarray, cfg: DecodeConfig) -> np.ndarray:
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


def log_softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        m = x.max(-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of (B, V) probabilities, by inverse transform sampling."""
    u = rng.random((probs.shape[0], 1)) * probs.sum(-1, keepdims=True)
    return np.minimum((np.cumsum(probs, -1) < u).sum(-1), probs.shape[1] - 1)


def with_cache(logits: np.ndarray, caches: list[MatchCache], w: CacheWeights) -> np.ndarray:
    """(B, V) logits of the model with each sample's cache candidate mixed in (as
    log-probabilities; unchanged when no sample has a weighted match)."""
    cands, lengths, gaps = np.array([c.candidate() for c in caches]).T
    lams = w.of(lengths, gaps)
    if not lams.any():  # no sample has a match worth mixing in: the model's logits as they are
        return logits
    with np.errstate(divide="ignore"):
        return np.log(mix_probs(softmax(logits), cands.tolist(), lams.tolist()))


@torch.inference_mode()
def sequence_logprob(model, tok: Tokenizer, prime: Sequence[int], ids: Sequence[int]) -> float:
    """The model's log-probability of ``ids`` after ``prime`` (after the end-of-document
    token), from one full forward pass: what beam search maximises, computed independently."""
    model.eval()
    seq = [tok.eod_id, *prime, *ids]
    logits, _ = model(torch.tensor([seq[:-1]], dtype=torch.long))
    logp = torch.log_softmax(logits[0].float(), -1)
    start = len(prime)  # logits[start + k] predicts ids[k]
    return float(sum(logp[start + k, t] for k, t in enumerate(ids)))
