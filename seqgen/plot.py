"""Pictures a user would rather look at than read: the loss curve of a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

from seqgen.io import atomic_path


def loss_curve(metrics: Path, out: Path, unit: str = "token") -> None:
    """Plot training loss and validation loss (nats/token) against step from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = [], []
    for line in Path(metrics).read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill or a full disk
        if not isinstance(row, dict) or not isinstance(row.get("step"), int | float):
            continue
        if "train_loss" in row:
            train.append((row["step"], row["train_loss"]))
        if "val_nats_per_token" in row:
            val.append((row["step"], row["val_nats_per_token"], row["val_bits_per_unit"]))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=False), label="train", color="tab:blue", alpha=0.7)
    if val:
        steps, nats, bits = zip(*val, strict=False)
        ax.plot(steps, nats, "o-", label="validation", color="tab:orange")
        ax.set_title(f"best validation: {min(nats):.4f} nats/token, {min(bits):.4f} bits/{unit}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    finite = [v for _, v in train if math.isfinite(v)]
    if finite:
        ax.set_ylim(top=min(max(finite), 2 * (val[0][1] if val else finite[-1]) + 0.5))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
