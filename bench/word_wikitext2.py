"""WikiText-2 word-level benchmark: train for a fixed time, report valid/test perplexity as JSON.

The reference is pytorch/examples word_language_model (2x200 LSTM, tied, dropout 0.2): valid
perplexity 226.7 after its first epoch, which takes 720 s on this CPU. The target here is
valid perplexity <= 150 after 600 s of training::

    python bench/word_wikitext2.py --seconds 600 --threads 2 --batch-size 20 --lr 30 \
        --dropout 0 --out runs/bench-wt2 -- --optimizer sgd --clip 0.25 --ema 0.9998  # benchmark
    python bench/word_wikitext2.py --seconds 90 --threads 1 --valid-tokens 5000 \
        --out /tmp/wt2                                                       # a smoke run
    python bench/word_wikitext2.py --profile --threads 1                     # where time goes

``--profile`` times the parts of one training step (embedding, LSTM, softmax + loss, backward,
optimizer) for the 33,279-way softmax, without training. ``--valid-tokens N`` scores only the
first N tokens (whole lines) of valid and test: on a slow CPU one pass over the full valid split
takes minutes, so a smoke run uses it; the benchmark itself does not. Validation happens once,
at the end (validation time does not count against --seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from runner import seqgen

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "wikitext-2"
# pytorch/examples' model: 2 layers of 200, tied, dropout 0.2, windows of 35 tokens.
REFERENCE = {"hidden": 200, "embedding": 200, "dropout": 0.2}


def model_args(a: argparse.Namespace) -> list[str]:
    args = ["--hidden-size", str(a.hidden), "--num-layers", "2"]
    args += ["--embedding-size", str(a.embedding), "--dropout", str(a.dropout)]
    # Tied: the full softmax shares the whole embedding, the adaptive head its shortlist rows.
    tie = ["--tie-weights"] if a.tie or not a.adaptive else []
    return args + (["--adaptive-softmax", a.adaptive] if a.adaptive else []) + tie


def head_corpus(corpus: Path, tokens: int, into: Path) -> Path:
    """A copy of ``corpus`` whose valid and test splits hold about the first ``tokens`` tokens."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "train.txt").symlink_to((corpus / "train.txt").resolve())
    for split in ("valid", "test"):
        lines, n = [], 0
        with open(corpus / f"{split}.txt", encoding="utf-8") as f:
            for line in f:
                if n >= tokens:
                    break
                lines.append(line)
                n += len(line.split()) + 1
        (into / f"{split}.txt").write_text("".join(lines), encoding="utf-8")
    return into


def train_and_eval(a: argparse.Namespace) -> dict:
    out = Path(a.out)
    corpus = Path(a.corpus)
    if a.valid_tokens:
        corpus = head_corpus(corpus, a.valid_tokens, Path(tempfile.mkdtemp()) / "wikitext-2")
    args = ["train", "-d", "word", "-c", str(corpus), "-o", "pretokenized=true", *model_args(a)]
    args += ["--batch-size", str(a.batch_size), "--seq-len", str(a.seq_len), "--lr", str(a.lr)]
    args += ["--max-time", str(a.seconds), "--patience", "0", "--eval-every", "100000000"]
    args += ["--out", str(out), "-q", *a.extra]
    if a.threads:
        args += ["--threads", str(a.threads)]
    if a.precision:
        args += ["--precision", a.precision]
    t0 = time.perf_counter()
    seqgen(*args)
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "step" in r][-1]
    report = {"corpus": str(a.corpus), "train_seconds": a.seconds, "wall_seconds": round(wall, 1)}
    report["model"] = " ".join(model_args(a))
    report["adaptive_softmax"] = a.adaptive or None
    report.update(batch=[a.batch_size, a.seq_len], lr=a.lr, extra=" ".join(a.extra) or None)
    report["valid_tokens"] = a.valid_tokens or "all"
    report.update(
        step=last["step"],
        tokens_per_s=next((r["tokens_per_s"] for r in reversed(rows) if "tokens_per_s" in r), None),
    )
    for split in ("valid", "test"):
        r = json.loads(seqgen("eval", str(out), "--split", split, "--json"))
        report[f"{split}_ppl"] = round(r["perplexity"], 2)
        report[f"{split}_bits_per_character"] = round(r["bits_per_unit"], 4)
    report["target_valid_ppl"] = 150.0
    report["reference_valid_ppl_epoch1"] = 226.7
    return report


def timed_steps(model, opt, x, y, cutoffs, steps: int) -> dict[str, float]:
    """Milliseconds per part of a step, averaged over ``steps`` (after one warm-up step)."""
    import torch.nn.functional as F

    parts = dict.fromkeys(["embedding", "lstm", "softmax_loss", "backward", "optimizer"], 0.0)
    for k in range(steps + 1):  # the first step warms up and is not counted
        times = []
        t = time.perf_counter()
        e = model.drop(model.embed(x))
        times.append(time.perf_counter())
        h, _ = model.lstm(e)
        h = model.drop(h)
        times.append(time.perf_counter())
        if cutoffs:
            loss = -model.adaptive(h.flatten(0, 1), y.flatten()).output.mean()
        else:
            loss = F.cross_entropy(model.head(h).flatten(0, 1), y.flatten())
        times.append(time.perf_counter())
        opt.zero_grad()
        loss.backward()
        times.append(time.perf_counter())
        opt.step()
        times.append(time.perf_counter())
        if k:
            for name, end in zip(parts, times, strict=True):
                parts[name] += (end - t) * 1000 / steps
                t = end
    return parts


def profile(a: argparse.Namespace) -> dict:
    """Milliseconds per part of one training step, averaged over a few steps."""
    import torch

    from seqgen.models.lstm import LSTMConfig as ModelConfig
    from seqgen.models.lstm import LSTMLanguageModel
    from seqgen.optim import make_optimizer

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    V, B, T = 33_279, a.batch_size, a.seq_len
    cutoffs = [int(c) for c in a.adaptive.split(",")] if a.adaptive else None
    model = LSTMLanguageModel(
        ModelConfig(
            V,
            embedding_size=a.embedding,
            hidden_size=a.hidden,
            num_layers=2,
            dropout=a.dropout,
            tie_weights=a.tie or not cutoffs,
            adaptive_cutoffs=cutoffs,
        )
    )
    opt = make_optimizer("adamw", model.parameters(), 1e-3, 0.01)  # as seqgen trains
    # Token ids drawn by Zipf's law (id = frequency rank, p ~ 1/rank), as words are: with
    # uniform ids nearly every target would fall in the adaptive softmax's rarest cluster.
    zipf = 1.0 / torch.arange(1, V + 1, dtype=torch.float64)
    x = torch.multinomial(zipf, B * T, replacement=True).view(B, T)
    y = torch.multinomial(zipf, B * T, replacement=True).view(B, T)
    parts = timed_steps(model, opt, x, y, cutoffs, a.profile_steps)
    total = sum(parts.values())
    return {
        "batch": [B, T],
        "vocab": V,
        "adaptive_softmax": a.adaptive or None,
        "hidden": a.hidden,
        "threads": torch.get_num_threads(),
        "ms_per_step": round(total, 1),
        "ms": {k: round(v, 1) for k, v in parts.items()},
        "share": {k: round(v / total, 3) for k, v in parts.items()},
        "tokens_per_s": round(B * T / total * 1000),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", default=os.environ.get("WIKITEXT2", DEFAULT_CORPUS))
    p.add_argument("--seconds", type=float, default=600.0, help="training time (default 600)")
    p.add_argument("--out", default="runs/bench-wikitext2", help="run directory (must be new)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=35)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--precision", default=None, help="auto, fp32 or bf16")
    p.add_argument("--hidden", type=int, default=REFERENCE["hidden"], help="LSTM units per layer")
    p.add_argument("--embedding", type=int, default=REFERENCE["embedding"])
    p.add_argument("--dropout", type=float, default=REFERENCE["dropout"])
    p.add_argument(
        "--adaptive",
        default="2000,10000",
        help="adaptive softmax cutoffs; '' for the reference's full, tied softmax",
    )
    p.add_argument("--tie", action="store_true", help="tie the adaptive head to the embedding")
    p.add_argument("--valid-tokens", type=int, default=0, help="score only this many (smoke)")
    p.add_argument("--profile", action="store_true", help="time one step's parts; no training")
    p.add_argument("--profile-steps", type=int, default=5)
    p.add_argument("extra", nargs="*", help="after --: more `seqgen train` options")
    a = p.parse_args()
    print(json.dumps(profile(a) if a.profile else train_and_eval(a), indent=2))


if __name__ == "__main__":
    main()
