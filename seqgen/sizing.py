"""Defaults chosen for the run when the user chooses none: a model sized for a short CPU budget."""

from __future__ import annotations

# For a short --max-time on a CPU, a smaller model that sees more tokens and takes more steps
# beats a large one (Tiny Shakespeare, 270 s, 2 cores: 256x2 1.512 nats/char, 384x2 1.519;
# batch 16x64 beats 32x128 and 8x64 at 55 s). Used only when the user sets none of these.
# lr: 2e-2 was 3% better than 5e-3 on Tiny Shakespeare at 55 s, but on the enwik8 prefix it
# never left the unigram plateau (5.25 bits/char after 360 s; 5e-3: 2.92 after 300 s).
BUDGET_SECONDS = 900
BUDGET_MODEL = {"hidden_size": 256, "embedding_size": 128, "dropout": 0.0}
BUDGET_TRAIN = {"batch_size": 16, "seq_len": 64, "lr": 5e-3}


def budget_defaults(max_time: float | None, train: dict, model: dict) -> tuple[dict, dict]:
    """(model, train) values for a CPU run of at most BUDGET_SECONDS in which the user set
    none of the sized options; ({}, {}) otherwise."""
    if not max_time or max_time > BUDGET_SECONDS:
        return {}, {}
    import torch

    device = train.get("device", "auto")
    if device not in ("auto", "cpu") or (device == "auto" and torch.cuda.is_available()):
        return {}, {}  # sized for a CPU; a GPU trains the standard model fast enough
    if (set(BUDGET_MODEL) | set(BUDGET_TRAIN)) & (set(train) | set(model)):
        return {}, {}
    return dict(BUDGET_MODEL), dict(BUDGET_TRAIN)
