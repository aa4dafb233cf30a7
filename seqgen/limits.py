"""Bounds on every size that input decides, so a small hostile input costs bounded time and
memory. Each is generous for real data; past it, a one-line error names the limit and the
environment variable that raises it (``SEQGEN_MAX_<NAME>=N``)."""

from __future__ import annotations

import os

from seqgen.errors import SeqgenError

DEFAULTS = {
    "prime_bytes": 16 << 20,  # a --prime-file larger than this is refused before it is read
    "prime_tokens": 1_000_000,  # tokens of priming (--prime and --prime-file together)
    "length": 10_000_000,  # tokens generate may draw per sample (--length, or by --seconds)
    "samples": 10_000,  # --num-samples (a batch)
    "logits": 1 << 28,  # batch x seq-len x vocabulary of a full-softmax training step (1 GB)
    "parameters": 2_000_000_000,  # model weights (8 GB in fp32, before the optimizer's state)
    "beam": 1_000,  # --beam width
    "threads": 1_024,  # --threads per process (far more cannot all start: the process dies)
    "label_keys": 16,  # distinct label keys of a run (seqgen.labels)
    "label_values": 256,  # distinct values of one label key
}


def limit(name: str) -> int:
    """The bound ``name`` (its default, or the environment's SEQGEN_MAX_<NAME>)."""
    raw = os.environ.get(f"SEQGEN_MAX_{name.upper()}")
    if raw is None:
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise SeqgenError(f"SEQGEN_MAX_{name.upper()}={raw!r}: give a whole number") from None
    return max(0, value)


def check(name: str, value: int, what: str) -> None:
    """SeqgenError when ``value`` passes the bound ``name``; ``what`` names the input."""
    bound = limit(name)
    if value > bound:
        raise SeqgenError(
            f"{what}: {value:,} is over seqgen's limit of {bound:,}; "
            f"raise it with SEQGEN_MAX_{name.upper()}={value}"
        )
