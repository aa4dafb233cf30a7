"""The language model: embedding -> multi-layer LSTM -> linear head, over integer token ids.

Shapes: B batch streams, T time steps, E embedding size, H hidden size, V vocabulary size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)


@dataclass
class ModelConfig:
    vocab_size: int
    embedding_size: int = 256  # size of each token's learned vector
    hidden_size: int = 512  # LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.1  # on embeddings, between layers and before the head
    tie_weights: bool = False  # share embedding and output matrices (Press & Wolf 2017)

    def to_dict(self) -> dict:
        return asdict(self)


class LSTMLanguageModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
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
        # With tying, the head needs inputs of embedding size: project H -> E first.
        self.proj = (
            nn.Linear(cfg.hidden_size, cfg.embedding_size, bias=False)
            if cfg.tie_weights and cfg.hidden_size != cfg.embedding_size
            else None
        )
        self.head = nn.Linear(
            cfg.embedding_size if cfg.tie_weights else cfg.hidden_size, cfg.vocab_size
        )
        if cfg.tie_weights:
            self.head.weight = self.embed.weight

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.cfg.num_layers, batch, self.cfg.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def features(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Top-layer LSTM outputs (B, T, H or E) for ids x (B, T)."""
        out, state = self.lstm(self.drop(self.embed(x)), state)
        out = self.drop(out)
        if self.proj is not None:
            out = self.proj(out)
        return out, state

    def forward(
        self, x: torch.Tensor, state: State | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (B, T, V) and the final state.

        ``reset`` (B, T) bool marks end-of-document inputs: a stream's state is zeroed just
        before such a token, so each document is read from the same fresh start as in
        sampling (which feeds the end-of-document token to a zero state), and documents
        never see each other. The fused LSTM runs over the segments between resets."""
        if reset is None or not bool(reset.any()):
            out, state = self.features(x, state)
            return self.head(out), state
        B, T = x.shape
        if state is None:
            state = self.initial_state(B, x.device)
        starts = torch.nonzero(reset.any(0)).flatten().tolist()
        bounds = sorted(set(starts) | {0, T})
        outs = []
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            keep = (~reset[:, start]).to(state[0].dtype).view(1, B, 1)
            out, state = self.features(x[:, start:end], (state[0] * keep, state[1] * keep))
            outs.append(out)
        return self.head(torch.cat(outs, 1)), state

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, state: State | None = None, reset=None
    ) -> tuple[torch.Tensor, State]:
        """Mean cross-entropy in nats per token of targets y (B, T)."""
        logits, state = self(x, state, reset)
        return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten()), state


class Stepper:
    """Runs a trained model one token at a time for sampling, carrying the state.

    ``nn.LSTM`` called per step pays oneDNN's set-up cost on every call; ``torch.lstm_cell``
    with the same weights is one cheap op per layer (about 3x faster at batch 1 here)."""

    def __init__(self, model: LSTMLanguageModel):
        lstm = model.lstm
        self.model = model
        self.layers = [
            tuple(
                getattr(lstm, f"{n}_l{i}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            for i in range(model.cfg.num_layers)
        ]

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Logits (B, V) after feeding tokens (B,); state as (L, B, H) pairs."""
        h_all, c_all = state
        x = self.model.embed(tokens)
        hs, cs = [], []
        for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            h, c = torch.lstm_cell(x, (h_all[i], c_all[i]), w_ih, w_hh, b_ih, b_hh)
            hs.append(h)
            cs.append(c)
            x = h
        if self.model.proj is not None:
            x = self.model.proj(x)
        return self.model.head(x), (torch.stack(hs), torch.stack(cs))
