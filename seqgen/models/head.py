"""Embedding in, token distribution out: the parts every architecture shares around its core.

:class:`TokenHead` gives a :class:`~seqgen.models.base.LanguageModel` its input embedding and its
output layer, a full softmax or an adaptive one (Grave et al. 2017), optionally tied to the
embedding (Press & Wolf 2017), and the ``forward``/``loss`` built on the model's ``features``.
:class:`NumpyHead` is the same output layer in NumPy for the per-token steppers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen.models.base import LanguageModel, State


def fp32(x: torch.Tensor) -> torch.autocast:
    """Autocast off: torch's adaptive softmax fails under bf16 autocast (it copies bf16 cluster
    outputs into an fp32 result), so it runs in fp32 on features cast up."""
    return torch.autocast(x.device.type, enabled=False)


class TokenHead(LanguageModel):
    """A language model with ``embed`` (V, E), an optional ``proj`` (H -> E, with tying) and
    ``head`` (linear) or ``adaptive`` (adaptive softmax with its frequency ``rank`` buffer).

    The config needs vocab_size and embedding_size; tie_weights, adaptive_cutoffs and
    adaptive_div are optional (off when absent)."""

    def build_head(self, width: int) -> None:
        """Create the output layer for features of size ``width`` (call after ``embed``)."""
        cfg = self.config
        tie = getattr(cfg, "tie_weights", False)
        cutoffs = getattr(cfg, "adaptive_cutoffs", None)
        self.proj = (
            nn.Linear(width, cfg.embedding_size, bias=False)
            if tie and width != cfg.embedding_size
            else None
        )
        width = cfg.embedding_size if tie else width
        self.adaptive = None
        if cutoffs:
            div = getattr(cfg, "adaptive_div", 4.0)
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                width, cfg.vocab_size, list(cutoffs), div_value=div
            )
            # rank[id]: the token's place by training frequency, which the clusters are cut on.
            # A buffer, so the checkpoint carries it; set by start_from_counts before training.
            self.register_buffer("rank", torch.arange(cfg.vocab_size))
            if tie:  # the head's shortlist rows are the frequent tokens' embeddings
                asm = self.adaptive
                asm.head = TiedHead(self, asm.shortlist_size, asm.n_clusters, width)
        else:
            self.head = nn.Linear(width, cfg.vocab_size)
            if tie:
                self.head.weight = self.embed.weight

    def uses_every_parameter(self) -> bool:
        """A full softmax trains every weight each step; an adaptive one skips the clusters
        no target fell into."""
        return self.adaptive is None

    def input_embeddings(self) -> nn.Embedding:
        return self.embed

    def project(self, out: torch.Tensor) -> torch.Tensor:
        """Features to the head's width (only with tying to a narrower embedding); the
        architecture's ``features`` ends with it."""
        return self.proj(out) if self.proj is not None else out

    def start_from_counts(self, counts: np.ndarray) -> None:
        """A full softmax starts at the unigram log-frequencies (add-one smoothed), so the
        first steps learn context instead of pushing down, one by one, the logits of tokens
        that never occur (midi's 647 ids use under 100 on JSB). An adaptive softmax ranks
        tokens by count, most frequent first, so its head holds the frequent ones."""
        counts = np.asarray(counts)
        if self.adaptive is not None:
            order = np.argsort(-counts, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            self.rank.copy_(torch.from_numpy(rank))
            return
        smoothed = counts.astype(np.float64) + 1.0
        with torch.no_grad():
            logf = torch.from_numpy(np.log(smoothed / smoothed.sum())).float()
            self.head.bias.copy_(logf.to(self.head.bias.device))

    def forward(
        self, x: torch.Tensor, state: State | None = None, resets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (B, T, V) and the final state (with an adaptive softmax the "logits" are
        the log-probabilities themselves, which every softmax leaves unchanged)."""
        out, state = self.hidden(x, state, resets)
        if self.adaptive is None:
            return self.head(out), state
        with fp32(out):
            logp = self.adaptive.log_prob(out.flatten(0, 1).float())[:, self.rank]
        return logp.view(*out.shape[:2], -1), state

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        state: State | None = None,
        resets: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[torch.Tensor, State]:
        """Cross-entropy in nats of targets y (B, T): the mean per token, the sum
        (``reduction="sum"``) or each token's (``"none"``: (B, T), 0 where ignored); targets of
        -100 are ignored."""
        if self.adaptive is None:
            logits, state = self(x, state, resets)
            nll = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction=reduction)
            return (nll.view(y.shape) if reduction == "none" else nll), state
        out, state = self.hidden(x, state, resets)
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


class TiedHead(nn.Module):
    """The adaptive softmax's head with its shortlist tied to the embedding: row r is the
    embedding of the token ranked r by frequency, the last rows (one per cluster) are its own.
    The embedding and the ranking are read from the model, so the checkpoint holds each once."""

    def __init__(self, model: TokenHead, shortlist: int, n_clusters: int, width: int):
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


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


class NumpyHead:
    """The output layer of a :class:`TokenHead` model in NumPy: (B, F) features before the
    projection to (B, V) logits (log-probabilities with an adaptive softmax)."""

    def __init__(self, model: TokenHead):
        self.proj = _np(model.proj.weight.T) if model.proj is not None else None
        self.rank = None  # set with an adaptive softmax: frequency rank of each token id
        if model.adaptive is None:
            self.w, self.b = _np(model.head.weight.T), _np(model.head.bias)  # (F, V), (V,)
            return
        asm = model.adaptive
        self.w = _np(asm.head.weight.T)  # (F, shortlist + clusters), tied or not
        bias = getattr(asm.head, "bias", None)
        self.b = _np(bias) if bias is not None else np.zeros(self.w.shape[1], np.float32)
        self.shortlist = asm.shortlist_size
        self.tails = [(_np(t[0].weight.T), _np(t[1].weight.T)) for t in asm.tail]
        self.rank = model.rank.detach().cpu().numpy().astype(np.int64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.proj is not None:
            x = x @ self.proj
        if self.rank is None:
            return x @ self.w + self.b
        head = log_softmax(x @ self.w + self.b)
        parts = [head[:, : self.shortlist]]
        for i, (w1, w2) in enumerate(self.tails):  # log p = log p(cluster) + log p(t | cluster)
            parts.append(log_softmax((x @ w1) @ w2) + head[:, self.shortlist + i, None])
        return np.concatenate(parts, 1)[:, self.rank]


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))
