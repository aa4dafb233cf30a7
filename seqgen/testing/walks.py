"""The kit's checks of sampling helpers: constraints over random walks, and copies that fork."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from seqgen.testing.report import _Stop
from seqgen.tokenizer import Clock, Constraint, Tokenizer

WALKS, WALK_STEPS = 8, 300


def _walk(tok: Tokenizer, rng: random.Random, steps: int, avoid_eod: bool) -> list[int]:
    """A random token sequence as the sampler could draw it (obeying the constraint)."""
    v, eod = tok.vocab_size, tok.eod_id
    special = set(tok.special_ids)
    ordinary = [i for i in range(v) if i not in special] or list(range(v))
    c = tok.constraint()
    out: list[int] = []
    for step in range(steps):
        allowed = c.mask() if c is not None else None
        if allowed is not None:
            allowed = np.asarray(allowed)
            if allowed.shape != (v,) or allowed.dtype != bool:
                raise _Stop(
                    f"Constraint.mask() returned shape {allowed.shape} dtype {allowed.dtype} "
                    f"after {out[-8:]}",
                    f"return a bool numpy array of shape ({v},) (or None: all allowed)",
                )
            if not allowed.any():
                raise _Stop(
                    f"Constraint.mask() allowed no token at all after {step} steps "
                    f"(last ids {out[-8:]})",
                    "always leave at least one token allowed (e.g. a closing token or <eod>)",
                )
            choices = [i for i in np.flatnonzero(allowed).tolist() if not (avoid_eod and i == eod)]
            choices = choices or np.flatnonzero(allowed).tolist()
            t = rng.choice(choices)
        else:
            t = rng.choice(ordinary)
        out.append(t)
        if c is not None:
            c.advance(t)
    if c is not None:
        tail = [int(t) for t in c.finish()]
        bad = [t for t in tail if not 0 <= t < v]
        if bad:
            raise _Stop(
                f"Constraint.finish() returned ids {bad} outside [0, {v})",
                "finish() must return valid ids that close what is open",
            )
        out.extend(tail)
    return out


def _check_constraint(tok: Tokenizer, **_: Any) -> None:
    c = tok.constraint()
    if c is None:
        return
    if not isinstance(c, Constraint):
        raise _Stop(
            f"constraint() returned {type(c).__name__}",
            "return a seqgen.tokenizer.Constraint subclass instance (or None)",
        )
    for k in range(WALKS):
        _walk(tok, random.Random(k), WALK_STEPS, avoid_eod=k % 2 == 0)


def _check_copy(tok: Tokenizer, **_: Any) -> None:
    """A copied constraint or clock advances on its own; advanced alike, the two agree."""
    for make, kind in ((tok.constraint, Constraint), (tok.clock, Clock)):
        first = make()
        if first is None:
            continue
        rng = random.Random(5)
        walk = _walk(tok, rng, 60, avoid_eod=True)
        for t in walk[:30]:
            first.advance(t)
        before = _look(first, tok)
        twin = first.copy()
        if not isinstance(twin, kind) or twin is first:
            raise _Stop(
                f"{type(first).__name__}.copy() returned {twin!r}",
                "return a new instance of the same class in the same state",
            )
        for t in walk[30:]:
            twin.advance(t)
        if not _agree(_look(first, tok), before):
            raise _Stop(
                f"advancing a copy of the {type(first).__name__} changed the original",
                "copy() must copy the mutable state (lists, sets, dicts), not share it",
            )
        for t in walk[30:]:
            first.advance(t)
        if not _agree(_look(first, tok), _look(twin, tok)):
            raise _Stop(
                f"a {type(first).__name__} and its copy, advanced alike, disagree",
                "copy() must copy every part of the state that mask()/elapsed() read",
            )


def _look(follower: Any, tok: Tokenizer) -> Any:
    if isinstance(follower, Clock):
        return [follower.elapsed(m) for m in tok.measures]
    mask = follower.mask()
    return None if mask is None else np.asarray(mask).copy()


def _agree(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and bool(np.array_equal(a, b))
    return a == b
