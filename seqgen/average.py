"""Weight averaging (``--ema``): an exponential moving average of the model's parameters,
updated after every optimizer step. Validation, ``best.pt``, ``seqgen generate`` and ``seqgen
eval`` use the average; training goes on from the raw weights, which the checkpoint keeps
beside it for ``--resume``. Averaging the iterates is Polyak's (and AWD-LSTM's ASGD): it
smooths away the noise of the last steps at no cost in training speed. See docs/training.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """The running average of ``model``'s parameters with ``decay`` per step. Early on the
    decay is lower, ``(1 + step) / (10 + step)``, so the first weights fade fast."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model, self.decay = model, decay
        self.names = [name for name, _ in model.named_parameters()]
        self.params = [p for _, p in model.named_parameters()]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (0 for the first)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, self.params, 1.0 - decay)

    @contextlib.contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block and its own weights again after it."""
        own = [p.detach().clone() for p in self.params]
        torch._foreach_copy_(self.params, self.shadow)
        try:
            yield
        finally:
            torch._foreach_copy_(self.params, own)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged parameters in place of its own."""
        with self.applied():
            return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    @torch.no_grad()
    def load(self, weights: dict[str, torch.Tensor]) -> None:
        """Take the average from a state dict such as ``state_dict`` gave (KeyError, or
        RuntimeError for a shape that does not fit)."""
        for name, shadow in zip(self.names, self.shadow, strict=True):
            shadow.copy_(weights[name])
