"""The language model: embedding -> multi-layer LSTM -> linear head or adaptive softmax.

Shapes: B batch streams, T time steps, E embedding size, H hidden size, V vocabulary size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
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
    # Adaptive softmax (Grave et al. 2017): frequency-rank cutoffs, e.g. [2000, 10000] keeps the
    # 2,000 most frequent tokens in the head and puts rarer ones in two smaller-rank clusters.
    # For large vocabularies (a 33k-word softmax is ~94% of a word model's training step).
    adaptive_cutoffs: list[int] | None = None
    adaptive_div: float = 4.0  # each tail cluster's projection is this much narrower

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        """ValueError for sizes no model can have."""
        if self.adaptive_cutoffs:
            width = self.embedding_size if self.tie_weights else self.hidden_size
            n = len(self.adaptive_cutoffs)
            if int(width // self.adaptive_div**n) < 1:
                raise ValueError(
                    f"the adaptive softmax's last tail would have no units ({width} / "
                    f"{self.adaptive_div:g}^{n} < 1): use fewer cutoffs, a smaller "
                    "--adaptive-div or a wider model"
                )


class LSTMLanguageModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
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
        # With tying, the head needs inputs of embedding size: project H -> E first.
        self.proj = (
            nn.Linear(cfg.hidden_size, cfg.embedding_size, bias=False)
            if cfg.tie_weights and cfg.hidden_size != cfg.embedding_size
            else None
        )
        width = cfg.embedding_size if cfg.tie_weights else cfg.hidden_size
        self.adaptive = None
        if cfg.adaptive_cutoffs:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                width, cfg.vocab_size, list(cfg.adaptive_cutoffs), div_value=cfg.adaptive_div
            )
            # rank[id]: the token's place by training frequency, which the clusters are cut on.
            # A buffer, so the checkpoint carries it; set by set_frequency_order before training.
            self.register_buffer("rank", torch.arange(cfg.vocab_size))
            if cfg.tie_weights:  # the head's shortlist rows are the frequent tokens' embeddings
                asm = self.adaptive
                asm.head = TiedHead(self, asm.shortlist_size, asm.n_clusters, width)
        else:
            self.head = nn.Linear(width, cfg.vocab_size)
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

    def set_frequency_order(self, counts: np.ndarray) -> None:
        """Adaptive softmax only: rank tokens by their training counts (V,), most frequent
        first, so the head holds the frequent ones."""
        order = np.argsort(-np.asarray(counts), kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.rank.copy_(torch.from_numpy(rank))

    def init_output_bias(self, counts: np.ndarray) -> None:
        """Start the head at the training tokens' unigram log-frequencies (add-one smoothed),
        so the first steps learn context instead of pushing down, one by one, the logits of
        tokens that never occur: a fixed vocabulary such as midi's 647 ids uses under 100 on
        JSB, and a full softmax started at zero spends its first minute on the rest."""
        counts = np.asarray(counts, dtype=np.float64) + 1.0
        with torch.no_grad():
            logf = torch.from_numpy(np.log(counts / counts.sum())).float()
            self.head.bias.copy_(logf.to(self.head.bias.device))

    def forward(
        self, x: torch.Tensor, state: State | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (B, T, V) and the final state (with an adaptive softmax the "logits" are
        the log-probabilities themselves, which every softmax leaves unchanged)."""
        out, state = self.hidden(x, state, reset)
        if self.adaptive is None:
            return self.head(out), state
        with fp32(out):
            logp = self.adaptive.log_prob(out.flatten(0, 1).float())[:, self.rank]
        return logp.view(*out.shape[:2], -1), state

    def hidden(
        self, x: torch.Tensor, state: State | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """What the head reads (B, T, H or E), and the final state.

        ``reset`` (B, T) bool marks end-of-document inputs: a stream's state is zeroed just
        before such a token, so each document is read from the same fresh start as in
        sampling (which feeds the end-of-document token to a zero state), and documents
        never see each other. The fused LSTM runs over the segments between resets."""
        if reset is None or not bool(reset.any()):
            return self.features(x, state)
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
        return torch.cat(outs, 1), state

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        state: State | None = None,
        reset: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[torch.Tensor, State]:
        """Cross-entropy in nats of targets y (B, T): the mean per token, the sum
        (``reduction="sum"``) or each token's (``"none"``: (B, T), 0 where ignored); targets of
        -100 are ignored."""
        if self.adaptive is None:
            logits, state = self(x, state, reset)
            nll = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction=reduction)
            return (nll.view(y.shape) if reduction == "none" else nll), state
        out, state = self.hidden(x, state, reset)
        out, flat = out.flatten(0, 1), y.flatten()
        keep = flat != -100
        if reduction == "none":
            each = torch.zeros(flat.shape, dtype=torch.float32, device=flat.device)
            if bool(keep.any()):
                with fp32(out):
                    each[keep] = -self.adaptive(out[keep].float(), self.rank[flat[keep]]).output
            return each.view(y.shape), state
        if not bool(keep.all()):
            out, flat = out[keep], flat[keep]
        # The adaptive softmax computes only the head and the clusters its targets need.
        with fp32(out):
            nll = -self.adaptive(out.float(), self.rank[flat]).output
        return (nll.sum() if reduction == "sum" else nll.mean()), state


def fp32(x: torch.Tensor) -> torch.autocast:
    """Autocast off: torch's adaptive softmax fails under bf16 autocast (it copies bf16 cluster
    outputs into an fp32 result), so it runs in fp32 on features cast up."""
    return torch.autocast(x.device.type, enabled=False)


class TiedHead(nn.Module):
    """The adaptive softmax's head with its shortlist tied to the embedding: row r is the
    embedding of the token ranked r by frequency, the last rows (one per cluster) are its own.
    The embedding and the ranking are read from the model, so the checkpoint holds each once."""

    def __init__(self, model: LSTMLanguageModel, shortlist: int, n_clusters: int, width: int):
        super().__init__()
        self.shortlist = shortlist
        self.cluster_weight = nn.Parameter(torch.empty(n_clusters, width))
        nn.init.normal_(self.cluster_weight, std=width**-0.5)
        object.__setattr__(self, "_model", model)  # not a submodule: no second state entry

    @property
    def weight(self) -> torch.Tensor:
        order = torch.argsort(self._model.rank)[: self.shortlist]
        return torch.cat([self._model.embed.weight[order], self.cluster_weight])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class Stepper:
    """Runs a trained model one token at a time for sampling, carrying the state, in NumPy.

    At batch 1 each step is a few matrix-vector products. Measured here (512x2, 2 cores):
    ``nn.LSTM`` called per token 351 tok/s, ``torch.lstm_cell`` about 790 tok/s, sampling with
    this class 3,442 tok/s (bench/generate_speed.py): OpenBLAS's sgemv is ~2x faster than
    torch's for these shapes, and NumPy has less overhead per small op. Layer 0's input
    projection is a table lookup: the gates each token contributes are precomputed once (V, 4H)."""

    def __init__(self, model: LSTMLanguageModel):
        cfg = model.cfg
        w = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        self.H, self.L = cfg.hidden_size, cfg.num_layers
        self.scale = np.full(4 * self.H, 0.5, np.float32)
        self.scale[2 * self.H : 3 * self.H] = 1.0
        bias = [w[f"lstm.bias_ih_l{i}"] + w[f"lstm.bias_hh_l{i}"] for i in range(self.L)]
        self.table = w["embed.weight"] @ w["lstm.weight_ih_l0"].T + bias[0]  # (V, 4H)
        self.w_hh0 = np.ascontiguousarray(w["lstm.weight_hh_l0"].T)  # (H, 4H)
        self.upper = [  # layers 1..L-1: [W_ih | W_hh]^T, one product on [x, h]
            (
                np.ascontiguousarray(
                    np.concatenate([w[f"lstm.weight_ih_l{i}"], w[f"lstm.weight_hh_l{i}"]], 1).T
                ),
                bias[i],
            )
            for i in range(1, self.L)
        ]
        self.proj = np.ascontiguousarray(w["proj.weight"].T) if model.proj is not None else None
        self.rank = None  # set with an adaptive softmax: frequency rank of each token id
        if model.adaptive is None:
            self.head_w = np.ascontiguousarray(w["head.weight"].T)  # (H or E, V)
            self.head_b = w["head.bias"]
        else:
            asm = model.adaptive
            head_w = asm.head.weight.detach().float().cpu().numpy()  # tied or not
            self.head_w = np.ascontiguousarray(head_w.T)  # (F, short + n)
            self.head_b = w.get("adaptive.head.bias", np.zeros(self.head_w.shape[1], np.float32))
            self.shortlist = asm.shortlist_size
            self.tails = [  # per cluster: (F, h_i) then (h_i, size_i)
                (
                    np.ascontiguousarray(w[f"adaptive.tail.{i}.0.weight"].T),
                    np.ascontiguousarray(w[f"adaptive.tail.{i}.1.weight"].T),
                )
                for i in range(asm.n_clusters)
            ]
            self.rank = w["rank"].astype(np.int64)

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.L, batch, self.H)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def _cell(self, gates: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One LSTM cell update; gate order in nn.LSTM: input, forget, cell, output."""
        H = self.H
        t = np.tanh(gates * self.scale)  # sigmoid(x) = (1 + tanh(x / 2)) / 2 for i, f, o
        i, f, o = (0.5 * t[:, k * H : (k + 1) * H] + 0.5 for k in (0, 1, 3))
        c = f * c + i * t[:, 2 * H : 3 * H]
        return o * np.tanh(c), c

    def step(self, tokens: np.ndarray, state: tuple[np.ndarray, np.ndarray]):
        """Logits (B, V) after feeding tokens (B,); state is (h, c), each (L, B, H)."""
        h_all, c_all = state
        hs, cs = np.empty_like(h_all), np.empty_like(c_all)
        hs[0], cs[0] = self._cell(self.table[tokens] + h_all[0] @ self.w_hh0, c_all[0])
        x = hs[0]
        for i, (w, b) in enumerate(self.upper, 1):
            hs[i], cs[i] = self._cell(np.concatenate([x, h_all[i]], 1) @ w + b, c_all[i])
            x = hs[i]
        if self.proj is not None:
            x = x @ self.proj
        if self.rank is None:
            return x @ self.head_w + self.head_b, (hs, cs)
        head = _log_softmax(x @ self.head_w + self.head_b)
        parts = [head[:, : self.shortlist]]
        for i, (w1, w2) in enumerate(self.tails):  # log p = log p(cluster) + log p(t | cluster)
            parts.append(_log_softmax((x @ w1) @ w2) + head[:, self.shortlist + i, None])
        return np.concatenate(parts, 1)[:, self.rank], (hs, cs)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))
