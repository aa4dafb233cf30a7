"""Training tokens/s of seqgen's Trainer against a bare nn.LSTM loop with identical shapes,
interleaved in one process (rounds alternate so machine noise hits both alike).

    python bench/train_throughput.py [--hidden-size 512 --num-layers 2 --batch-size 32 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn


def seqgen_trainer(args, root: Path):
    from seqgen import run

    text = root / "corpus.txt"
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'\n-"))
    text.write_text("".join(rng.choice(letters, 2_000_000)))
    model = {"embedding_size": args.embedding_size, "hidden_size": args.hidden_size,
             "num_layers": args.num_layers, "dropout": 0.0}  # fmt: skip
    train = {"batch_size": args.batch_size, "seq_len": args.seq_len, "max_steps": 10**9,
             "precision": "fp32", "device": "cpu", "sample_length": 0}  # fmt: skip
    return run.start("char", text, root / "run", model=model, train=train).trainer


class Bare:
    """The reference: the same layers and optimizer, random ids already in memory."""

    def __init__(self, args, vocab: int):
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab, args.embedding_size)
        self.lstm = nn.LSTM(
            args.embedding_size, args.hidden_size, args.num_layers, batch_first=True
        )
        self.head = nn.Linear(args.hidden_size, vocab)
        self.params = [*self.emb.parameters(), *self.lstm.parameters(), *self.head.parameters()]
        self.opt = torch.optim.AdamW(self.params, lr=1e-3)
        self.x = torch.randint(0, vocab, (args.batch_size, args.seq_len))
        self.y = torch.randint(0, vocab, (args.batch_size, args.seq_len))
        self.state = None

    def step(self) -> None:
        out, state = self.lstm(self.emb(self.x), self.state)
        loss = nn.functional.cross_entropy(self.head(out).flatten(0, 1), self.y.flatten())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.state = (state[0].detach(), state[1].detach())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden-size", type=int, default=512)
    ap.add_argument("--num-layers", type=int, default=2)
    ap.add_argument("--embedding-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8, help="steps per round")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["SEQGEN_CACHE"] = tmp
        trainer = seqgen_trainer(args, Path(tmp))
        bare = Bare(args, trainer.data.tokenizer.vocab_size)
        for _ in range(2):  # warm up both (oneDNN primitives, allocator)
            trainer.train_step()
            bare.step()
        times = {"seqgen": [], "bare": []}
        for _ in range(args.rounds):
            for name, step in (("seqgen", trainer.train_step), ("bare", bare.step)):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step()
                times[name].append((time.perf_counter() - t0) / args.steps)
    tokens = args.batch_size * args.seq_len
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "shape": vars(args),
                "threads": torch.get_num_threads(),
                "seqgen_tokens_per_s": round(tokens / med["seqgen"]),
                "bare_tokens_per_s": round(tokens / med["bare"]),
                "ratio_seqgen_over_bare": round(med["bare"] / med["seqgen"], 3),
                "per_round_ratios": [
                    round(b / s, 3) for s, b in zip(times["seqgen"], times["bare"], strict=True)
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
