"""Beam search: keep the ``beam`` likeliest continuations at every step.

Each live hypothesis proposes its ``beam`` best next tokens (after the document cache and the
domain's constraint, as in sampling); of all proposals the ``beam`` with the highest total
log-probability live on. A parent with several surviving children is forked (its constraint,
clock and cache copied), and the stepper's state rows are gathered to match. A hypothesis that
ends (its end-of-document token, or its clock reaching ``--seconds/--bars``) is set aside;
the search stops when ``beam`` have ended or the length runs out, and the best by
``log p / length ** length_penalty`` win (0: the total log-probability, which favours short
samples; 1, the default: the mean per token).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqgen.decode import DecodeConfig, Hypothesis, OnToken, log_softmax, read_prime, shape
from seqgen.tokenizer import Tokenizer


def score(h: Hypothesis, alpha: float) -> float:
    return h.logprob / max(1, len(h.ids)) ** alpha


def beam_search(
    model, tok: Tokenizer, cfg: DecodeConfig, prime: Sequence[int], on_token: OnToken | None
) -> list[list[int]]:
    W = cfg.beam
    logits, stepper, state = read_prime(model, tok, prime, 1, cfg.controls)
    live, ended = [Hypothesis(tok, cfg, prime)], []
    for _ in range(cfg.steps):
        logp = log_softmax(shape(logits, live, tok, cfg))
        rows, tokens = _best(live, logp, W)
        live, nxt, parents = _extend(live, rows, tokens, logp, tok, cfg)
        ended += [h for h in live if h.done]
        keep = [i for i, h in enumerate(live) if not h.done]
        if len(ended) >= W or not keep:
            break
        live = [live[i] for i in keep]
        state = stepper.select(state, np.asarray([parents[i] for i in keep]))
        logits, state = stepper.step(np.asarray([nxt[i] for i in keep]), state)
    pool = ended + [h for h in live if not h.done]
    best = sorted(pool, key=lambda h: score(h, cfg.length_penalty), reverse=True)
    best = best[: cfg.num_samples]
    for i, h in enumerate(best):
        h.close(tok)
        for t in h.ids if on_token is not None else ():
            on_token(i, t)
    return [h.ids for h in best]


def _best(live: list[Hypothesis], logp: np.ndarray, W: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, token) of the W best proposals by total log-probability (finite ones only)."""
    total = np.array([h.logprob for h in live])[:, None] + logp  # (B, V)
    flat = total.ravel()
    k = min(W, int(np.isfinite(flat).sum()) or 1)
    top = np.argpartition(-flat, k - 1)[:k]
    top = top[np.argsort(-flat[top], kind="stable")]
    return np.divmod(top, logp.shape[1])


def _extend(live, rows, tokens, logp, tok: Tokenizer, cfg: DecodeConfig):
    """The children: each parent's first child takes the parent itself, later ones a fork
    (forks are taken before any child moves its parent on)."""
    taken: set[int] = set()
    children = []
    for r in rows.tolist():
        children.append(live[r].fork() if r in taken else None)
        taken.add(r)
    kids, nxt, parents = [], [], []
    for child, r, t in zip(children, rows.tolist(), tokens.tolist(), strict=True):
        h = child if child is not None else live[r]
        h.logprob += float(logp[r, t])
        h.push(t, tok, cfg)
        kids.append(h)
        nxt.append(t)
        parents.append(r)
    return kids, nxt, parents
