"""Step time of seqgen's Trainer on WikiText-2 (33,279 words) with SGD, the embedding's gradient
sparse (what training with --optimizer sgd uses) against dense, interleaved in one process:
rounds alternate so machine noise hits both alike. Prints JSON with medians and their ratio.

    python bench/embedding_grad.py [--corpus ../shared/corpora/wikitext-2 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "wikitext-2"


def trainer(corpus: Path, out: Path, threads: int | None):
    from seqgen import run

    model = {"embedding_size": 200, "hidden_size": 200, "num_layers": 2, "dropout": 0.0,
             "adaptive_cutoffs": [2000, 10000]}  # fmt: skip
    train = {"batch_size": 20, "seq_len": 35, "lr": 20.0, "optimizer": "sgd", "clip": 0.25,
             "max_steps": 10**9, "precision": "fp32", "device": "cpu", "threads": threads,
             "sample_length": 0}  # fmt: skip
    options = {"pretokenized": "true"}
    return run.start("word", corpus, out, options=options, model=model, train=train).trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=os.environ.get("WIKITEXT2", DEFAULT_CORPUS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=12, help="steps per round and variant")
    a = p.parse_args()
    t = trainer(Path(a.corpus), Path(tempfile.mkdtemp()) / "run", a.threads)
    assert t.model.embed.sparse, "the trainer should pick a sparse gradient for SGD"
    ms: dict[str, list[float]] = {"dense": [], "sparse": []}
    for _ in range(3):  # warm-up
        t.train_step()
    for _ in range(a.rounds):
        for name in ("dense", "sparse"):
            t.model.embed.sparse = name == "sparse"
            times = []
            for _ in range(a.steps):
                t0 = time.perf_counter()
                t.train_step()
                times.append(time.perf_counter() - t0)
            ms[name].append(statistics.median(times) * 1e3)
    med = {k: statistics.median(v) for k, v in ms.items()}
    print(json.dumps({
        "corpus": str(a.corpus), "vocab": t.model.cfg.vocab_size, "threads": a.threads,
        "batch": [t.B, t.T], "torch": torch.__version__,
        "ms_per_step_median": {k: round(v, 1) for k, v in med.items()},
        "ms_per_step_rounds": {k: [round(x, 1) for x in v] for k, v in ms.items()},
        "sparse_speedup": round(med["dense"] / med["sparse"], 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
