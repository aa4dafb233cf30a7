"""The document cache: copy what followed the last time the recent tokens occurred.

An LSTM forgets the exact notes of a phrase long before the phrase comes back, yet music
repeats itself (about 11% of JSB chorale frames repeat an earlier passage of the same piece
exactly, 60% of Nottingham's) and so do names and markup in text. The cache remembers the
current document and mixes one candidate into the model's distribution::

    p(y) = (1 - w[m, near]) * p_lstm(y) + w[m, near] * [y == candidate]

The candidate is the token that followed the longest earlier occurrence of the recent tokens
(found by hashing the last ``MIN_MATCH`` tokens and extended while it keeps predicting right, as
in the match models of PAQ-style compressors). ``m`` is the length of that match, counted no
further back than the distance between the two places, and ``near`` says whether that distance
is under ``NEAR`` tokens. The weights (one per bucket of ``m``, for near and far matches apart)
are fitted on the validation split by maximum likelihood, so the mixture is the cache language
model of Kuhn & De Mori (1990) with a data-driven gate; Grave et al. (2017) mix a softer,
hidden-state cache into an LSTM the same way. The cache only sees the document so far and is
never trained: the result is still a proper autoregressive model, so its held-out NLL
compares with any other model's.

Why near matches have weights of their own: music repeats a phrase from further back far more
often than the last bar or two, so a long match close behind is rare on validation. Under one
table it would take the weight of the far repeats (above 0.9), and a sampler that once
repeated a bar would be held to repeating it, bar after bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

MIN_MATCH = 3  # tokens of context that must agree before the cache proposes anything
# Lower bounds of the match-length buckets; one weight each (0 = no candidate).
BOUNDS = (0, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
NEAR = 64  # a match whose earlier place is closer than this many tokens is "near"
MIN_BUCKET = 20  # a bucket seen fewer times on validation takes the weight of the one below
MAX_WEIGHT = 0.999  # a miss must keep some probability


class MatchCache:
    """The current document's tokens and the match that proposes the next one."""

    def __init__(self, min_match: int = MIN_MATCH):
        self.k = min_match
        self.reset()

    def reset(self) -> None:
        self.seen: list[int] = []
        self.table: dict[tuple[int, ...], int] = {}  # last k tokens -> index of what followed
        self.ptr = -1  # index in `seen` of the candidate, or -1
        self.length = 0  # tokens matched before the candidate

    def copy(self) -> MatchCache:
        """An independent copy (beam search forks hypotheses)."""
        new = MatchCache(self.k)
        new.seen, new.table = list(self.seen), dict(self.table)
        new.ptr, new.length = self.ptr, self.length
        return new

    def push(self, token: int) -> None:
        """Append a token of the document (the first one after a reset is its start)."""
        seen, k = self.seen, self.k
        if self.ptr >= 0 and seen[self.ptr] == token:  # the match goes on
            self.ptr += 1
            self.length += 1
        else:
            self.ptr, self.length = -1, 0
        seen.append(token)
        t = len(seen)
        if t >= k:
            key = tuple(seen[t - k :])
            if self.ptr < 0 and key in self.table:
                p = self.table[key]
                n = k  # the hash agrees on k tokens; count how far back the two agree
                while n < BOUNDS[-1] and p - n - 1 >= 0 and seen[p - n - 1] == seen[t - n - 1]:
                    n += 1
                self.ptr, self.length = p, n
            self.table[key] = t  # the next token will follow this occurrence

    def feed(self, token: int, eod_id: int | None) -> None:
        """``push``, except that an end-of-document token starts a new document."""
        if token == eod_id:
            self.reset()
        self.push(token)

    def candidate(self) -> tuple[int, int, int]:
        """(token, match length, distance back to the earlier place), or (-1, 0, 0) when
        nothing matches. The length counts no further back than the distance: in a loop (the
        same few tokens again and again) the match overlaps itself and would otherwise grow
        with every turn."""
        if self.ptr < 0:
            return -1, 0, 0
        gap = len(self.seen) - self.ptr
        return self.seen[self.ptr], min(self.length, gap), gap


def scan(ids: np.ndarray, eod_id: int | None, min_match: int = MIN_MATCH):
    """For every t: the cache's (candidate, length, distance) for ids[t+1] after reading
    ids[:t+1]; the cache restarts at each end-of-document token, which begins the next
    document."""
    n = max(len(ids) - 1, 0)
    cache = MatchCache(min_match)
    found = []
    for token in np.asarray(ids[:n]).tolist():
        cache.feed(token, eod_id)
        found.append(cache.candidate())
    cand, length, gap = np.array(found, np.int64).reshape(n, 3).T
    return cand, length, gap


@dataclass
class CacheWeights:
    """The fitted gate: a mixture weight per match-length bucket, for far and near matches."""

    weights: list[float]  # far matches
    near: list[float]  # matches whose earlier place is under near_gap tokens back
    bounds: list[int] = field(default_factory=lambda: list(BOUNDS))
    near_gap: int = NEAR
    min_match: int = MIN_MATCH

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CacheWeights:
        w = cls(
            weights=[float(w) for w in d["weights"]],
            near=[float(w) for w in d["near"]],
            bounds=[int(b) for b in d["bounds"]],
            near_gap=int(d["near_gap"]),
            min_match=int(d["min_match"]),
        )
        if not len(w.weights) == len(w.near) == len(w.bounds):
            raise ValueError("one weight per bucket")
        return w

    def of(self, length, gap) -> np.ndarray:
        """Weight for each match (length, distance); 0 where nothing matched."""
        bucket = np.searchsorted(self.bounds, length, side="right") - 1
        far, near = np.asarray(self.weights)[bucket], np.asarray(self.near)[bucket]
        w = np.where(np.asarray(gap) < self.near_gap, near, far)
        return np.where(np.asarray(length) > 0, w, 0.0)


def mix_logprob(
    logp: np.ndarray, found: tuple[np.ndarray, ...], targets: np.ndarray, w: CacheWeights
) -> np.ndarray:
    """log p(target) of the mixture, from the LSTM's log p(target) and the cache's scan."""
    cand, length, gap = found
    lam = w.of(length, gap)
    hit = (cand == targets).astype(np.float64)
    return np.log((1 - lam) * np.exp(logp.astype(np.float64)) + lam * hit)


def mix_probs(probs: np.ndarray, cands: Sequence[int], lams: Sequence[float]) -> np.ndarray:
    """(B, V) probabilities with each row's candidate mixed in (sampling)."""
    out = probs * (1 - np.asarray(lams, dtype=probs.dtype))[:, None]
    for i, (c, lam) in enumerate(zip(cands, lams, strict=True)):
        if c >= 0:
            out[i, c] += lam
    return out


def fit(logp: np.ndarray, hit: np.ndarray, length: np.ndarray, gap: np.ndarray) -> CacheWeights:
    """Maximum-likelihood weights of sum log((1 - w) p + w hit) on validation, one per bucket
    of match length, for far and near matches apart."""
    p = np.exp(logp.astype(np.float64))
    hit = hit.astype(np.float64)
    bucket = np.searchsorted(BOUNDS, length, side="right") - 1
    near = gap < NEAR
    return CacheWeights(
        weights=_fit_table(p, hit, bucket, (length > 0) & ~near),
        near=_fit_table(p, hit, bucket, (length > 0) & near),
    )


def _fit_table(p: np.ndarray, hit: np.ndarray, bucket: np.ndarray, rows: np.ndarray) -> list:
    """The objective is concave in w, so its derivative sum (hit - p) / ((1 - w) p + w hit)
    falls monotonically and bisection finds the maximum."""
    weights = [0.0] * len(BOUNDS)
    for b in range(1, len(BOUNDS)):
        sel = rows & (bucket == b)
        if int(sel.sum()) < MIN_BUCKET:
            weights[b] = weights[b - 1]  # too little evidence: as the bucket below
            continue
        pb, hb = p[sel], hit[sel]

        def slope(w: float, pb=pb, hb=hb) -> float:
            return float(np.sum((hb - pb) / ((1 - w) * pb + w * hb)))

        if slope(0.0) <= 0:
            continue  # the cache does not help here
        lo, hi = 0.0, MAX_WEIGHT
        if slope(hi) > 0:
            weights[b] = hi
            continue
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
        weights[b] = (lo + hi) / 2
    return weights
