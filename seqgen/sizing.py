"""Defaults chosen for the run when the user chooses none: a model sized for a short CPU budget."""

from __future__ import annotations

from typing import NamedTuple

# For a short --max-time on a CPU, a smaller model that sees more tokens and takes more steps
# beats a large one (Tiny Shakespeare, 270 s, 2 cores: 256x2 1.512 nats/char, 384x2 1.519;
# batch 16x64 beats 32x128 and 8x64 at 55 s). Used only when the user sets none of these.
# lr: 2e-2 was 3% better than 5e-3 on Tiny Shakespeare at 55 s, but on the enwik8 prefix it
# never left the unigram plateau (5.25 bits/char after 360 s; 5e-3: 2.92 after 300 s).
BUDGET_SECONDS = 900
BUDGET_MODEL = {"hidden_size": 256, "embedding_size": 128}
BUDGET_TRAIN = {"batch_size": 16, "seq_len": 64, "lr": 5e-3}
# Width, lr and dropout are settled once the corpus is read (budget_fit). The options a user
# sets to turn sizing off are these and --dropout.
SIZED = (*BUDGET_MODEL, "dropout", *BUDGET_TRAIN)

# Dropout by how many times the run will pass over the training split. Below four passes it
# only slows learning, and each step (Tiny Shakespeare, 55 s, 0.8 passes: 1.697 val nats/char
# with 0.3 against 1.576 with none; 2.5-3 passes, seeds 1-3: 1.443 / 1.456 / 1.452 with none
# against 1.477 / 1.463 / 1.465 with 0.1, which also took a quarter fewer steps). Read 4-5
# times, Tiny Shakespeare (256 wide, 270 s, seed 1) ended at 1.445 with 0.1 against 1.498 with
# 0.3; Bach's chorales (60 s, about 4 passes, 3 seeds) at 3.307 with none and 3.324 with 0.3
# (docs/training.md).
BUDGET_RATE = 15_000  # tokens/s assumed where the rate is not measured (several processes)
BUDGET_DROPOUT = ((4.0, 0.0), (8.0, 0.1), (16.0, 0.2), (float("inf"), 0.3))  # (passes below, p)


class Wider(NamedTuple):
    """A wider model a budget may afford after the 256 of BUDGET_MODEL. It is chosen when, at
    the rate measured on this machine at its batch, the budget reads the training split at
    least ``passes`` times with it, and it has at most ``weights_per_token`` weights per
    training token (a small corpus is memorised by a wide model however long it trains)."""

    hidden: int
    embedding: int
    lr: float
    batch: int
    passes: float
    weights_per_token: float
    dropout: float | None  # None: BUDGET_DROPOUT's, by passes


# Tiny Shakespeare, seed 1: at 270 s 512 wide read it 1.8 times (7,100 tokens/s) and ended at
# 1.447, still falling, against 256 wide's 1.445 (4.5 times, both dropout 0.1); at 4.0 times
# it reached 1.411. At 900 s, 512 wide with dropout 0.2 (13.9 times) ended at 1.419, no better
# than 270 s; 768 wide, 32 streams, dropout 0.3 (7.3 times, 7.5 weights per token) reached
# 1.404, still falling; at 270 s it had read the corpus 2.1 times and stood at 1.521.
# 512 wide reads more tokens a second in 32 streams (22k against 17k): at 270 s, seed 1, 1.414
# against 1.429 with 16 in the same session (lr 0.006: 1.415).
WIDER = (Wider(512, 128, 4e-3, 32, 3.0, 4.0, None), Wider(768, 128, 4e-3, 32, 5.0, 8.0, 0.3))
CALIBRATION_STEPS = 8  # timed training steps per width, at most (after two untimed)
CALIBRATION_SECONDS = 2.0  # ... or fewer, once they took this long

# What `seqgen train --help` says each sized option becomes.
BUDGET_HELP = {
    **{k: f"{v:g}" for k, v in {**BUDGET_MODEL, **BUDGET_TRAIN}.items()},
    "hidden_size": "256; 512 or 768 where the budget reads the corpus 3 or 5 times with it",
    "batch_size": "16, or 32 when wider",
    "lr": "0.005, or 0.004 when wider",
    "dropout": "0 to 0.3, more the more passes over a small corpus the budget allows",
}


def budget_defaults(max_time: float | None, train: dict, model: dict) -> tuple[dict, dict]:
    """(model, train) values for a CPU run of at most BUDGET_SECONDS in which the user set
    none of the sized options; ({}, {}) otherwise. The dropout comes later, from
    :func:`budget_fit`, once the corpus is read."""
    if not max_time or max_time > BUDGET_SECONDS:
        return {}, {}
    import torch

    device = train.get("device", "auto")
    if device not in ("auto", "cpu") or (device == "auto" and torch.cuda.is_available()):
        return {}, {}  # sized for a CPU; a GPU trains the standard model fast enough
    if set(SIZED) & (set(train) | set(model)):
        return {}, {}
    return dict(BUDGET_MODEL), dict(BUDGET_TRAIN)


def passes(max_time: float, train_tokens: int, rate: float = BUDGET_RATE) -> float:
    """About how many times a budget run of ``max_time`` seconds sees each training token."""
    return max_time * rate / max(1, train_tokens)


def dropout_for(seen: float) -> float:
    return next(p for below, p in BUDGET_DROPOUT if seen < below)


def budget_fit(max_time, sized: dict, data, arch: str, fields: list[str], rate_of, note) -> dict:
    """The sized options that depend on the corpus (``data``, a seqgen.data.Dataset), for a
    run sized for its budget (``sized``: what budget_defaults chose; ``{}`` for any other
    run, which gets ``{}``): the width (and its learning rate and batch) and the dropout.
    ``rate_of(model_values, batch)`` gives the training tokens/s of a model on this machine
    (or None where it is not measured)."""
    if not sized:
        return {}
    tokens = int(data.meta["splits"]["train"]["tokens"])
    chosen = {k: v for k, v in sized.items() if k in fields}
    rate, dropout = rate_of(chosen, BUDGET_TRAIN["batch_size"]) or BUDGET_RATE, None
    for wide in WIDER if "hidden_size" in fields else ():
        values = {**chosen, "hidden_size": wide.hidden, "embedding_size": wide.embedding}
        values = {k: v for k, v in values.items() if k in fields}
        if _weights(arch, values, data) > wide.weights_per_token * tokens:
            break
        wide_rate = rate_of(values, wide.batch)
        if wide_rate is None or passes(max_time, tokens, wide_rate) < wide.passes:
            break
        chosen = {**values, "batch_size": wide.batch, "lr": wide.lr}
        rate, dropout = wide_rate, wide.dropout
    seen = passes(max_time, tokens, rate)
    if "dropout" in fields:
        chosen["dropout"] = dropout_for(seen) if dropout is None else dropout
    shown = {k: v for k, v in chosen.items() if sized.get(k, BUDGET_TRAIN.get(k)) != v}
    note(
        " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in shown.items())
        + f" for the budget: {max_time:g} s read the {tokens:,} training tokens about "
        f"{seen:.1f} times at {rate:,.0f} tokens/s"
    )
    return chosen


def _weights(arch: str, values: dict, data) -> int:
    from seqgen import models

    vocab = int(data.tokenizer.vocab_size)
    return models.count_parameters(arch, models.config_of(arch, {**values, "vocab_size": vocab}))


def measure_rate(arch: str, values: dict, vocab: int, batch: int, seq: int, precision: str):
    """Training tokens/s of a model of ``values`` on this machine, with the threads and
    precision set: the median of CALIBRATION_STEPS steps on random ids (fewer if they pass
    CALIBRATION_SECONDS), after two untimed ones."""
    import time

    import torch

    from seqgen import models

    model = models.build(arch, models.config_of(arch, {**values, "vocab_size": vocab}))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, seq + 1), generator=gen)
    times: list[float] = []
    while len(times) < CALIBRATION_STEPS + 2 and sum(times[2:]) < CALIBRATION_SECONDS:
        t0 = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = model.loss(x[:, :-1], x[:, 1:], None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    timed = sorted(times[2:])
    return batch * seq / timed[len(timed) // 2]
