"""Seed 000's experiment: what does one LSTM cell remember on a periodic bit pattern?

For each of the seven registered corpora ``bits-1-1`` ... ``bits-10-10`` (zeros:ones per
period) this trains seqgen's LSTMLanguageModel with ONE layer of hidden size 1 (a single LSTM
cell), and, where one cell does not learn the pattern, hidden size 2, 4, 8, ... It reports the
steps to convergence, checks that greedy generation (``seqgen.decode.decode``) continues the
pattern exactly for 600 symbols after a two-period prime, draws the loss curves and the cell
state of each model in one figure, and prints a JSON summary::

    python examples/bit_patterns.py                      # all seven, figure docs/bit_patterns.png
    python examples/bit_patterns.py --only bits-10-1 --save runs/bits   # + seqgen checkpoints

A saved checkpoint can be looked at with ``seqgen inspect runs/bits/bits-10-1.pt --text ...``.

Training is a tight full-batch loop, not the Trainer: the whole input is one sequence, the
end-of-document token followed by ``PERIODS`` periods of the pattern (so the model meets the
pattern exactly as ``generate`` primes it), trained with Adam at a high learning rate. Every
``CHECK_EVERY`` steps greedy generation is compared with the true continuation; the first step
at which it matches exactly is the step of convergence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqgen import registry
from seqgen.corpus import resolve
from seqgen.data import prepare
from seqgen.decode import DecodeConfig as SampleConfig
from seqgen.decode import decode as generate
from seqgen.models.lstm import LSTMConfig as ModelConfig
from seqgen.models.lstm import LSTMLanguageModel

PATTERNS = ("bits-1-1", "bits-3-1", "bits-5-1", "bits-10-1", "bits-20-1", "bits-5-5", "bits-10-10")
SIZES = (1, 2, 4, 8, 16)  # hidden sizes tried, smallest first
SEEDS = {1: (0, 1)}  # initialisations tried per size (default: seed 0 only) before the next
LR = 0.03
FORGET_BIAS = 1.0  # added to the forget-gate bias at initialisation (Gers et al. 2000)
PERIODS = 10  # periods in the training sequence (at least 100 symbols)
MAX_STEPS = 2000
CHECK_EVERY = 25
CHECK_LENGTH = 600  # greedy symbols compared with the true continuation
TEST_SIZE = 4  # the hidden size tests/test_inspect.py trains bits-10-1 with

_DATA: dict[str, tuple] = {}


def pattern(name: str):
    """(ids of the whole corpus, fitted char tokenizer) for a registered pattern corpus."""
    if name not in _DATA:
        reg = registry.load()
        spec = resolve(name, registry=reg)
        data = prepare(reg.domain("char"), spec, split=False)
        ids = np.asarray(data.tokens(data.splits[0])).astype(np.int64)
        _DATA[name] = (ids[ids != data.tokenizer.eod_id], data.tokenizer)
    return _DATA[name]


def period_of(name: str) -> int:
    zeros, ones = (int(n) for n in name.split("-")[1:])
    return zeros + ones


def tiny_lstm(vocab_size: int, hidden_size: int, seed: int) -> LSTMLanguageModel:
    """One layer of ``hidden_size`` cells, forget gates biased open so they remember."""
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_layers=1, embedding_size=4, dropout=0.0
    )
    model = LSTMLanguageModel(cfg)
    with torch.no_grad():
        model.lstm.bias_ih_l0[hidden_size : 2 * hidden_size] += FORGET_BIAS
    return model


def learn(
    name: str,
    hidden_size: int = 1,
    seed: int = 0,
    lr: float = LR,
    max_steps: int = MAX_STEPS,
    check_length: int = CHECK_LENGTH,
) -> dict:
    """Train one model on one pattern until greedy generation continues it exactly.

    Returns steps (None if it never did), the loss curve, the model and tokenizer, the
    generated and the true continuation, and whether they are equal."""
    ids, tok = pattern(name)
    P = period_of(name)
    L = max(PERIODS * P, 100)
    seq = torch.tensor(np.concatenate([[tok.eod_id], ids[:L]]))[None]
    x, y = seq[:, :-1], seq[:, 1:]
    prime, truth = ids[: 2 * P].tolist(), ids[2 * P : 2 * P + check_length].tolist()

    model = tiny_lstm(tok.vocab_size, hidden_size, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    steps, out, t0 = None, [], time.perf_counter()
    torch.set_grad_enabled(True)  # a command run in the same process may have turned it off
    for step in range(1, max_steps + 1):
        model.train()
        loss, _ = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step % CHECK_EVERY == 0 or step == max_steps:
            cfg_s = SampleConfig(length=check_length, greedy=True)
            out = generate(model, tok, cfg_s, prime=prime)[0]
            if out == truth:
                steps = step
                break
    model.eval()
    return {
        "pattern": name,
        "hidden_size": hidden_size,
        "seed": seed,
        "steps": steps,
        "seconds": round(time.perf_counter() - t0, 2),
        "final_loss": round(losses[-1], 5),
        "exact": out == truth,
        "generated": out,
        "truth": truth,
        "prime": prime,
        "losses": losses,
        "model": model,
        "tokenizer": tok,
    }


def smallest(name: str, sizes=SIZES, log=print) -> tuple[dict, list[dict]]:
    """Try hidden sizes smallest first (each with a few seeds); the first exact result wins."""
    tried: list[dict] = []
    for size in sizes:
        for seed in SEEDS.get(size, (0,)):
            r = learn(name, size, seed)
            tried.append(r)
            log(
                f"{name}: hidden {size} seed {seed}: "
                + (f"exact after {r['steps']} steps" if r["exact"] else "not learned")
                + f" ({r['seconds']} s, loss {r['final_loss']})"
            )
            if r["exact"]:
                return r, tried
    return tried[-1], tried


def cell_trace(r: dict, periods: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell state c and hidden output h (T, H) over the prime and ``periods`` more periods, and
    a mask of the ones in the input."""
    from seqgen.inspect import trace

    P = period_of(r["pattern"])
    ids, tok = pattern(r["pattern"])
    show = ids[: max((2 + periods) * P, 24)].tolist()
    values = trace(r["model"], show, start=[tok.eod_id])
    return values["c"][0], values["h"][0], np.asarray(show) == tok.encode("1")[0]


def figure(results: list[dict], out: Path) -> None:
    """Loss curve (left) and hidden output h (solid) and cell state c (grey, right-hand scale)
    over the input (right) per pattern, plus an overlay of each single-cell model's h against
    the position in its period (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqgen.io import atomic_path

    n = len(results)
    fig, axes = plt.subplots(
        n + 1,
        2,
        figsize=(10, 1.45 * n + 2.6),
        dpi=72,
        gridspec_kw={"width_ratios": [1, 2.4], "height_ratios": [1] * n + [1.6]},
    )
    colors = plt.get_cmap("tab10")
    for k, r in enumerate(results):
        ax = axes[k, 0]
        ax.semilogy(r["losses"], color=colors(k), lw=1)
        if r["steps"]:
            ax.axvline(r["steps"], color="k", ls=":", lw=0.8)
        ax.set_ylabel(r["pattern"], fontsize=8)
        ax.tick_params(labelsize=7)
        c, h, ones = cell_trace(r)
        ax = axes[k, 1]
        t = np.arange(len(ones))
        twin = ax.twinx()
        for u in range(c.shape[1]):
            twin.plot(t, c[:, u], lw=0.8, ls="--", color="0.6")
            ax.plot(t, h[:, u], lw=1.2, color=colors(k), alpha=1.0 if u == 0 else 0.5)
        twin.tick_params(labelsize=6, colors="0.5")
        ax.set_ylim(-1.15, 1.3)
        ax.scatter(t[ones], np.full(int(ones.sum()), 1.15), s=6, c="k", zorder=3)
        state = "exact" if r["exact"] else "NOT learned"
        ax.text(
            0.01,
            0.03,
            f"{r['pattern']}: hidden {r['hidden_size']}, {state} after {r['steps']} steps",
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
        )
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title("training loss (nats/symbol)", fontsize=9)
    axes[0, 1].set_title(
        "hidden output h (colour, left scale), cell state c (grey dashes, right scale)", fontsize=9
    )
    axes[n - 1, 1].set_xlabel("input position (dots: the ones)", fontsize=8)
    axes[n - 1, 0].set_xlabel("step", fontsize=8)
    overlay(axes[n, 1], results, colors)
    axes[n, 0].axis("off")
    fig.tight_layout(h_pad=0.4)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=72)
    plt.close(fig)


def overlay(ax, results: list[dict], colors) -> None:
    """One period of each single-cell model's h against the phase in its period."""
    for k, r in enumerate(results):
        if r["hidden_size"] != 1 or not r["exact"]:
            continue
        P = period_of(r["pattern"])
        _, h, _ = cell_trace(r, periods=2)
        one = h[2 * P : 3 * P, 0]
        span = max(float(one.max() - one.min()), 1e-6)
        phase = (np.arange(P) + 0.5) / P
        ax.plot(
            phase, (one - one.min()) / span, "-o", ms=2, lw=1, color=colors(k), label=r["pattern"]
        )
    ax.set_xlabel("position within the period (fraction)", fontsize=8)
    ax.set_ylabel("h (rescaled)", fontsize=8)
    ax.set_title(
        "single-cell models: one period each, time-stretched to the same width",
        fontsize=8,
        loc="left",
        pad=2,
    )
    ax.legend(fontsize=7, ncol=4, loc="best")
    ax.tick_params(labelsize=7)


def save_checkpoint(r: dict, path: Path) -> None:
    """A checkpoint ``seqgen generate`` and ``seqgen inspect`` can load."""
    from dataclasses import asdict

    from seqgen import checkpoint
    from seqgen.config import RunInfo, TrainConfig

    tok = r["tokenizer"]
    checkpoint.save(
        path,
        checkpoint.Checkpoint(
            arch="lstm",
            model_config=asdict(r["model"].cfg),
            model=r["model"].state_dict(),
            tokenizer=checkpoint.TokenizerInfo(tok.name, "char", "", tok.get_state()),
            run=RunInfo("char", r["pattern"], {}, "char", "examples/bit_patterns.py"),
            train_config=TrainConfig(),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated patterns (default: all seven)")
    ap.add_argument("--figure", type=Path, default=Path("docs/bit_patterns.png"))
    ap.add_argument("--save", type=Path, help="write each model as DIR/<pattern>.pt")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else list(PATTERNS)
    results, summary = [], []
    for name in names:
        best, tried = smallest(name, log=lambda m: print(m, file=sys.stderr, flush=True))
        results.append(best)
        summary.append(
            {
                "pattern": name,
                "smallest_hidden_size": best["hidden_size"] if best["exact"] else None,
                "seed": best["seed"],
                "steps_to_exact": best["steps"],
                "seconds": best["seconds"],
                "final_loss": best["final_loss"],
                "exact_greedy_symbols": len(best["truth"]) if best["exact"] else 0,
                "tried": [
                    {"hidden_size": t["hidden_size"], "seed": t["seed"], "exact": t["exact"]}
                    for t in tried
                ],
            }
        )
        if args.save:
            save_checkpoint(best, args.save / f"{name}.pt")
    figure(results, args.figure)
    print(json.dumps({"figure": str(args.figure), "results": summary}, indent=1))
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
