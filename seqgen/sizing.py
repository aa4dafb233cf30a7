"""Defaults chosen for the run when the user chooses none: a model sized for a short CPU budget."""

from __future__ import annotations

from collections.abc import Callable

# For a short --max-time on a CPU, a smaller model that sees more tokens and takes more steps
# beats a large one (Tiny Shakespeare, 270 s, 2 cores: 256x2 1.512 nats/char, 384x2 1.519;
# batch 16x64 beats 32x128 and 8x64 at 55 s). Used only when the user sets none of these.
# lr: 2e-2 was 3% better than 5e-3 on Tiny Shakespeare at 55 s, but on the enwik8 prefix it
# never left the unigram plateau (5.25 bits/char after 360 s; 5e-3: 2.92 after 300 s).
BUDGET_SECONDS = 900
BUDGET_MODEL = {"hidden_size": 256, "embedding_size": 128}
BUDGET_TRAIN = {"batch_size": 16, "seq_len": 64, "lr": 5e-3}
# Dropout is chosen once the corpus is read (budget_dropout): the options a user sets to turn
# sizing off are these and --dropout.
SIZED = (*BUDGET_MODEL, "dropout", *BUDGET_TRAIN)

# Dropout by how many times the run will pass over the training split. Below one pass every
# token is new and dropout only slows learning (Tiny Shakespeare, 55 s, 0.8 passes: 1.697
# val nats/char with 0.3 against 1.576 with none, 854 and 875 steps);
# a small corpus read many times is memorised (Bach's chorales, 219k tokens, 60 s, 4 passes:
# train 0.70 against best validation 3.311 nats/token with none; 1.18 and 3.291 with 0.3,
# 1.29 and 3.344 with 0.5; docs/training.md).
BUDGET_RATE = 15_000  # tokens/s the budget model trains at on 2 CPU cores (measured 14k-22k)
BUDGET_DROPOUT = ((1.0, 0.0), (2.0, 0.1), (4.0, 0.2), (float("inf"), 0.3))  # (passes below, p)

# What `seqgen train --help` says each sized option becomes.
BUDGET_HELP = {
    **{k: f"{v:g}" for k, v in {**BUDGET_MODEL, **BUDGET_TRAIN}.items()},
    "dropout": "0 to 0.3, more the more passes over a small corpus the budget allows",
}


def budget_defaults(max_time: float | None, train: dict, model: dict) -> tuple[dict, dict]:
    """(model, train) values for a CPU run of at most BUDGET_SECONDS in which the user set
    none of the sized options; ({}, {}) otherwise. The dropout comes later, from
    :func:`budget_dropout`, once the corpus is read."""
    if not max_time or max_time > BUDGET_SECONDS:
        return {}, {}
    import torch

    device = train.get("device", "auto")
    if device not in ("auto", "cpu") or (device == "auto" and torch.cuda.is_available()):
        return {}, {}  # sized for a CPU; a GPU trains the standard model fast enough
    if set(SIZED) & (set(train) | set(model)):
        return {}, {}
    return dict(BUDGET_MODEL), dict(BUDGET_TRAIN)


def passes(max_time: float, train_tokens: int) -> float:
    """About how many times a budget run of ``max_time`` seconds sees each training token."""
    return max_time * BUDGET_RATE / max(1, train_tokens)


def budget_dropout(max_time, sized: dict, data, fields: list[str], note: Callable) -> dict:
    """``{"dropout": p}`` for a run sized for its budget (``sized``: what budget_defaults
    chose) of an architecture that has a dropout (``fields``), once its corpus is read
    (``data``, a seqgen.data.Dataset): none for a corpus the budget reads about once, more
    for a small one read many times. ``{}`` for any other run."""
    if not sized or "dropout" not in fields:
        return {}
    tokens = int(data.meta["splits"]["train"]["tokens"])
    seen = passes(max_time, tokens)
    p = next(p for below, p in BUDGET_DROPOUT if seen < below)
    note(
        f"--dropout {p:g} for the budget: {max_time:g} s read the {tokens:,} training tokens "
        f"about {seen:.1f} times"
    )
    return {"dropout": p}
