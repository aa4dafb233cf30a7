"""A toy architecture for tests/test_arch_plugin.py: the model protocol without the shared head
(its own forward and loss), a bare tensor as its state, no input embedding for the core."""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen import hookimpl
from seqgen.models import LanguageModel


@dataclass
class Config:
    vocab_size: int
    hidden_size: int = 32


class TinyRNN(LanguageModel):
    arch = "tinyrnn"
    config_class = Config

    def __init__(self, cfg):
        super().__init__(cfg)
        self.emb = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.rnn = nn.RNN(cfg.hidden_size, cfg.hidden_size, batch_first=True)
        self.out = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def initial_state(self, batch, device="cpu"):
        return torch.zeros(1, batch, self.config.hidden_size, device=device)

    def features(self, x, state=None):
        return self.rnn(self.emb(x), state)

    def forward(self, x, state=None, resets=None):
        out, state = self.hidden(x, state, resets)
        return self.out(out), state

    def loss(self, x, y, state=None, resets=None, reduction="mean"):
        logits, state = self(x, state, resets)
        nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction=reduction)
        return (nll.view(y.shape) if reduction == "none" else nll), state


@hookimpl
def register_architectures(register):
    register(TinyRNN)
