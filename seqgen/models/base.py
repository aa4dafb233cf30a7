"""The model protocol: what every architecture implements, and what the rest of the core may
assume. Nothing outside ``seqgen/models/`` looks inside a model or its state.

A model reads ids (B, T) and carries a recurrent *state* from one call to the next. The state is
opaque: a tensor or a nesting of tensors (a tuple, a dict) that only the model itself reads. The
trainer detaches it, the evaluator and the decoder keep or drop rows of it, the checkpoint
stores it, all through the methods below. ``resets`` (B, T) marks end-of-document inputs: the
model zeroes a stream's state just before such a token, so every document starts from the same
fresh state as in sampling.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

State = Any  # a tensor or a nesting of them (tuple, list, dict); only the model reads it


class Stepper:
    """Runs a model one token at a time for sampling. The default steps the torch model itself;
    an architecture may bring a faster one (the LSTM's runs in NumPy)."""

    def __init__(self, model: LanguageModel):
        self.model = model

    def start(self, state: State) -> Any:
        """The stepper's state from the model's (after a prime read in one pass)."""
        return state

    def initial_state(self, batch: int) -> Any:
        """The stepper's zero state of ``batch`` rows."""
        return self.start(self.model.initial_state(batch))

    @torch.inference_mode()
    def step(self, tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """(B, V) float32 logits after feeding ``tokens`` (B,), and the new state."""
        x = torch.as_tensor(np.asarray(tokens, dtype=np.int64))[:, None]
        logits, state = self.model(x, state)
        return logits[:, -1].float().numpy(), state

    def select(self, state: Any, rows: np.ndarray) -> Any:
        """The state of the given rows, in that order (rows may repeat: a beam forks)."""
        return self.model.select_state(state, torch.as_tensor(np.asarray(rows, dtype=np.int64)))


class LanguageModel(nn.Module):
    """Base class of every architecture. Subclasses set ``arch`` and ``config_class`` and
    implement ``initial_state`` and either ``features`` (and inherit logits and losses from
    :class:`seqgen.models.head.TokenHead`) or ``forward(ids, state, resets)`` -> (logits,
    state) and ``loss(ids, targets, state, resets, reduction)`` -> (nll, state) themselves.
    The state may be any nesting of tensors whose dimension ``batch_dim`` is the batch."""

    arch: ClassVar[str] = ""
    config_class: ClassVar[type] = object  # a dataclass with at least ``vocab_size: int``
    batch_dim: ClassVar[int] = 1  # where the batch sits in each state tensor

    def __init__(self, config: Any):
        super().__init__()
        self.config = config

    # --- required ------------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The zero state of ``batch`` streams."""
        raise NotImplementedError

    def features(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """What the head reads (B, T, F) for ids x (B, T) and the state after them."""
        raise NotImplementedError

    # --- optional ---------------------------------------------------------------------------
    def input_embeddings(self) -> nn.Embedding | None:
        """The input embedding (pretrained vectors are copied into it, neighbours read it);
        None for an architecture without one."""
        return None

    def uses_every_parameter(self) -> bool:
        """Whether every training step gives every trainable weight a gradient, so that
        several processes need not search each step for unused ones. False is always safe."""
        return False

    # --- state handling: any nesting of tensors (a tensor, a tuple, a dict, ...) -------------
    def detach_state(self, state: State) -> State:
        """The state cut from the graph (truncated backpropagation), in fp32."""
        return tree_map(lambda t: t.detach().float(), state)

    def select_state(self, state: State, rows: torch.Tensor) -> State:
        """The state of the given rows of the batch, in that order."""
        rows = rows.to(self.state_tensors(state)[0].device)
        return tree_map(lambda t: t.index_select(self.batch_dim, rows).contiguous(), state)

    def keep_state(self, state: State, keep: torch.Tensor) -> State:
        """The state with rows where ``keep`` (B,) is False zeroed (a document starts)."""

        def keep_rows(t: torch.Tensor) -> torch.Tensor:
            shape = [1] * t.dim()
            shape[self.batch_dim] = -1
            return t * keep.to(t.dtype).view(shape)

        return tree_map(keep_rows, state)

    def join_states(self, states: list[State]) -> State:
        """Several states of the same nesting as one, their rows in order (the streams of
        several processes)."""
        return tree_map(lambda *ts: torch.cat(ts, self.batch_dim), states[0], *states[1:])

    def state_tensors(self, state: State) -> list[torch.Tensor]:
        """The state as a flat list of tensors (what a checkpoint stores)."""
        return tree_flatten(state)[0]

    def state_from_tensors(self, tensors: list[torch.Tensor], batch: int) -> State:
        """The state back from ``state_tensors``, shaped like ``initial_state(batch)``; a
        ValueError if the tensors do not fit it."""
        leaves, spec = tree_flatten(self.initial_state(batch))
        if [tuple(t.shape) for t in tensors] != [tuple(t.shape) for t in leaves]:
            raise ValueError("the stream state does not fit this model and batch")
        return tree_unflatten(list(tensors), spec)

    # --- inherited behaviour -------------------------------------------------------------
    def hidden(
        self, x: torch.Tensor, state: State | None = None, resets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """``features`` run over the segments between resets: before an input marked in
        ``resets`` (B, T) that stream's state is zeroed, so documents never see each other."""
        if resets is None or not bool(resets.any()):
            return self.features(x, state)
        B, T = x.shape
        if state is None:
            state = self.initial_state(B, x.device)
        starts = torch.nonzero(resets.any(0)).flatten().tolist()
        bounds = sorted(set(starts) | {0, T})
        outs = []
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            state = self.keep_state(state, ~resets[:, start])
            out, state = self.features(x[:, start:end], state)
            outs.append(out)
        return torch.cat(outs, 1), state

    def stepper(self) -> Stepper:
        """A per-token runner for sampling (call after training: it may copy the weights)."""
        return Stepper(self)

    def start_from_counts(self, counts: np.ndarray) -> None:
        """Prepare a new run from the training tokens' counts (V,), e.g. the head's bias."""

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
