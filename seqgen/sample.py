"""Sampling: feed a prime, then draw one token at a time with the state carried (never re-run a
window). Temperature, top-k, top-p (nucleus) or greedy; the domain's constraint masks logits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

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


def mix_seed(seed: int) -> int:
    """Spread a small user seed over 63 bits (splitmix64). A generator seeded with 1, 2, 3 ...
    starts with tiny uniforms, so every first draw would land on token 0."""
    z = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) >> 1


def filter_logits(logits: torch.Tensor, cfg: SampleConfig) -> torch.Tensor:
    """Temperature, then top-k, then top-p on (B, V) logits (masked entries become -inf)."""
    logits = logits / max(cfg.temperature, 1e-6)
    if cfg.top_k is not None and 0 < cfg.top_k < logits.shape[-1]:
        kth = torch.topk(logits, cfg.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p is not None and 0 < cfg.top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = torch.softmax(sorted_logits, -1).cumsum(-1)
        drop = cum - torch.softmax(sorted_logits, -1) >= cfg.top_p  # keep the first over p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


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
    gen = torch.Generator().manual_seed(mix_seed(cfg.seed)) if cfg.seed is not None else None
    constraints = [tok.constraint() for _ in range(n)]
    constrained = constraints[0] is not None
    # Start from the end-of-document token, as every document in training did.
    context = [tok.eod_id, *prime]
    if constrained:
        for c in constraints:
            for t in prime:
                c.advance(int(t))
    x = torch.tensor([context] * n, dtype=torch.long)
    logits, state = model(x)
    logits = logits[:, -1].float()
    stepper = Stepper(model)
    out: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for step in range(cfg.length):
        if step == 0 and cfg.length > 1:
            logits[:, tok.eod_id] = float("-inf")  # an empty sample is never what was asked for
        if constrained:
            for i, c in enumerate(constraints):
                allowed = c.mask()
                if allowed is not None:
                    logits[i, ~torch.from_numpy(allowed)] = float("-inf")
        if cfg.greedy:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(filter_logits(logits, cfg), -1)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        ids = nxt.tolist()
        for i, t in enumerate(ids):
            if done[i]:
                continue
            out[i].append(t)
            if constrained:
                constraints[i].advance(t)
            if on_token is not None:
                on_token(i, t)
            if cfg.stop_at_eod and t == tok.eod_id:
                done[i] = True
        if all(done):
            break
        logits, state = stepper.step(nxt, state)
        logits = logits.float()
    if constrained:
        for i, c in enumerate(constraints):
            if not done[i]:
                for t in c.finish():
                    out[i].append(t)
                    if on_token is not None:
                        on_token(i, t)
    return out
