"""The LSTM language model: embedding -> multi-layer LSTM -> linear head or adaptive softmax.

Shapes: B batch streams, T time steps, E embedding size, H hidden size, L layers, V vocabulary.
Training runs torch's fused ``nn.LSTM``; sampling and ``seqgen inspect`` run :func:`cell`, the
same update in NumPy (gate order as in ``nn.LSTM``: input, forget, cell candidate, output)::

    i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)       # four chunks of H
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h' = sigmoid(o) * tanh(c')

tests/test_models.py checks the two agree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from seqgen.models.base import State, Stepper
from seqgen.models.head import NumpyHead, TokenHead


@dataclass
class LSTMConfig:
    vocab_size: int
    embedding_size: int = 256  # size of each token's learned vector
    hidden_size: int = 512  # LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.1  # on embeddings, between layers and before the head
    # DropConnect on the recurrent matrices W_hh (AWD-LSTM's weight drop, Merity et al. 2018):
    # one mask per training step, the same at every time step; none in evaluation.
    weight_drop: float = 0.0
    tie_weights: bool = False  # share embedding and output matrices (Press & Wolf 2017)
    # Adaptive softmax (Grave et al. 2017): frequency-rank cutoffs, e.g. [2000, 10000] keeps the
    # 2,000 most frequent tokens in the head and puts rarer ones in two smaller-rank clusters.
    # For large vocabularies (a 33k-word softmax is ~94% of a word model's training step).
    adaptive_cutoffs: list[int] | None = None
    adaptive_div: float = 4.0  # each tail cluster's projection is this much narrower

    def check(self) -> None:
        """ValueError for sizes no model can have."""
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                flag = "--" + name.replace("_", "-")
                raise ValueError(
                    f"{flag} {getattr(self, name):g}: give a number from 0 up to (not) 1"
                )
        if self.adaptive_cutoffs:
            width = self.embedding_size if self.tie_weights else self.hidden_size
            n = len(self.adaptive_cutoffs)
            if int(width // self.adaptive_div**n) < 1:
                raise ValueError(
                    f"the adaptive softmax's last tail would have no units ({width} / "
                    f"{self.adaptive_div:g}^{n} < 1): use fewer cutoffs, a smaller "
                    "--adaptive-div or a wider model"
                )


class LSTMLanguageModel(TokenHead):
    arch = "lstm"
    config_class = LSTMConfig

    def __init__(self, cfg: LSTMConfig):
        super().__init__(cfg)
        cfg.check()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.build_head(cfg.hidden_size)
        self._dropped: dict[str, torch.Tensor] | None = None  # this step's W_hh (weight drop)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.cfg.num_layers, batch, self.cfg.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def features(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Top-layer LSTM outputs (B, T, H, or E with tying) for ids x (B, T)."""
        out, state = self.recur(self.drop(self.embed(x)), state)
        return self.project(self.drop(out)), state

    def hidden(self, x, state=None, resets=None):
        """As the base class's, with one weight-drop mask for all the segments of a step."""
        if not (self.training and self.cfg.weight_drop):
            return super().hidden(x, state, resets)
        self._dropped = self.dropped_weights()
        try:
            return super().hidden(x, state, resets)
        finally:
            self._dropped = None

    def dropped_weights(self) -> dict[str, torch.Tensor]:
        """Each W_hh with a weight_drop share of its entries zeroed (the rest scaled up)."""
        names = (f"weight_hh_l{k}" for k in range(self.cfg.num_layers))
        p = self.cfg.weight_drop
        return {n: nn.functional.dropout(getattr(self.lstm, n), p) for n in names}

    def recur(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """The LSTM layers; in training with weight_drop, over the dropped W_hh."""
        if not (self.training and self.cfg.weight_drop):
            return self.lstm(x, state)
        dropped = self._dropped or self.dropped_weights()  # one mask a call outside hidden()
        # about 6 ms a step at 256x2, batch 16x64, bf16, whichever way the weights reach
        # nn.LSTM (bench/weight_drop_speed.py): torch's CPU LSTM is slower on weights that are
        # not its own parameters
        return torch.func.functional_call(self.lstm, dropped, (x, state))

    def stepper(self) -> LSTMStepper:
        return LSTMStepper(self)

    def layer_weights(self, k: int) -> tuple[np.ndarray, ...]:
        """Layer k's (W_ih, W_hh, b_ih + b_hh) as float32 arrays."""
        get = {n: getattr(self.lstm, f"{n}_l{k}").detach().float().cpu().numpy() for n in _W}
        return get["weight_ih"], get["weight_hh"], get["bias_ih"] + get["bias_hh"]

    def trace(self, ids: list[int], start: list[int]) -> dict[str, np.ndarray]:
        """Every layer's c, h and gates i, f, g, o after each token of ``ids``, each (L, T, H),
        reading ``start`` first (not kept); for ``seqgen inspect``."""
        stepper = self.stepper()
        L, H, T = self.cfg.num_layers, self.cfg.hidden_size, len(ids)
        out = {q: np.zeros((L, T, H), np.float32) for q in ("c", "h", "i", "f", "g", "o")}
        state = stepper.start(self.initial_state(1))
        for t, token in enumerate(list(start) + list(ids)):
            keep = t - len(start)
            gates: list[dict] = []
            _, state = stepper.step(np.array([token]), state, gates)
            if keep >= 0:
                for k in range(L):
                    out["c"][k, keep], out["h"][k, keep] = state[1][k, 0], state[0][k, 0]
                    for q, v in gates[k].items():
                        out[q][k, keep] = v[0]
        return out


_W = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@functools.cache
def _scale(H: int) -> np.ndarray:
    scale = np.full(4 * H, 0.5, np.float32)
    scale[2 * H : 3 * H] = 1.0
    return scale


def cell(gates: np.ndarray, c: np.ndarray, keep: list | None = None):
    """One LSTM cell update from the summed pre-activations (B, 4H) and c (B, H): (h, c).
    With ``keep`` (a list), the activations {i, f, g, o} are appended to it."""
    H = c.shape[-1]
    t = np.tanh(gates * _scale(H))  # sigmoid(x) = (1 + tanh(x / 2)) / 2 for i, f, o
    i, f, o = (0.5 * t[:, k * H : (k + 1) * H] + 0.5 for k in (0, 1, 3))
    g = t[:, 2 * H : 3 * H]
    c = f * c + i * g
    if keep is not None:
        keep.append({"i": i, "f": f, "g": g, "o": o})
    return o * np.tanh(c), c


class LSTMStepper(Stepper):
    """The LSTM one token at a time in NumPy, carrying (h, c), each (L, B, H).

    At batch 1 each step is a few matrix-vector products. Measured here (512x2, 2 cores):
    ``nn.LSTM`` called per token 351 tok/s, ``torch.lstm_cell`` about 790 tok/s, this class
    3,442 tok/s (bench/generate_speed.py): OpenBLAS's sgemv is ~2x faster than torch's for these
    shapes, and NumPy has less overhead per small op. Layer 0's input projection is a table
    lookup: the gates each token contributes are precomputed once (V, 4H)."""

    def __init__(self, model: LSTMLanguageModel):
        super().__init__(model)
        layers = [model.layer_weights(k) for k in range(model.cfg.num_layers)]
        embed = model.embed.weight.detach().float().cpu().numpy()
        w_ih0, w_hh0, b0 = layers[0]
        self.table = embed @ w_ih0.T + b0  # (V, 4H)
        self.w_hh0 = np.ascontiguousarray(w_hh0.T)  # (H, 4H)
        # layers 1..L-1: [W_ih | W_hh]^T, one product on [x, h]
        self.upper = [
            (np.ascontiguousarray(np.concatenate([a, b], 1).T), c) for a, b, c in layers[1:]
        ]
        self.head = NumpyHead(model)

    def start(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        return tuple(t.detach().float().cpu().numpy() for t in state)

    def select(self, state, rows: np.ndarray):
        return tuple(np.ascontiguousarray(t[:, rows]) for t in state)

    def step(self, tokens: np.ndarray, state, gates: list | None = None):
        """Logits (B, V) after feeding tokens (B,); ``gates`` (a list) collects each layer's."""
        h_all, c_all = state
        hs, cs = np.empty_like(h_all), np.empty_like(c_all)
        hs[0], cs[0] = cell(self.table[tokens] + h_all[0] @ self.w_hh0, c_all[0], gates)
        x = hs[0]
        for i, (w, b) in enumerate(self.upper, 1):
            hs[i], cs[i] = cell(np.concatenate([x, h_all[i]], 1) @ w + b, c_all[i], gates)
            x = hs[i]
        return self.head(x), (hs, cs)
