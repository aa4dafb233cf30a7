"""What --weight-drop costs a training step: the LSTM model with and without it, the same
shapes, rounds interleaved in one process (so machine noise hits both alike). With
``--doc-len`` each row gets an end-of-document every that many tokens, at different offsets,
so a step runs over many segments (as on short pieces such as chorales). Prints JSON.

    python bench/weight_drop_speed.py --hidden-size 256 --embedding-size 64 --doc-len 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from seqgen.models.lstm import LSTMConfig, LSTMLanguageModel


def stepper(args, weight_drop: float):
    torch.manual_seed(0)
    cfg = LSTMConfig(
        vocab_size=args.vocab, embedding_size=args.embedding_size, hidden_size=args.hidden_size,
        num_layers=args.num_layers, dropout=0.1, weight_drop=weight_drop,
    )  # fmt: skip
    model = LSTMLanguageModel(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    B, T = args.batch_size, args.seq_len
    x = torch.randint(1, args.vocab, (B, T + 1))
    resets = None
    if args.doc_len:
        offsets = torch.arange(B)[:, None] * (args.doc_len // B + 1)
        resets = (torch.arange(T)[None, :] + offsets) % args.doc_len == 0

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=args.bf16):
            loss, _ = model.loss(x[:, :-1], x[:, 1:], None, resets=resets)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--embedding-size", type=int, default=64)
    ap.add_argument("--num-layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=647)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--doc-len", type=int, default=0, help="tokens a document (0: one long)")
    ap.add_argument("--weight-drop", type=float, default=0.3)
    ap.add_argument("--bf16", action="store_true", help="autocast to bf16, as training does")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20, help="steps per round")
    args = ap.parse_args()
    runs = {"plain": stepper(args, 0.0), "weight_drop": stepper(args, args.weight_drop)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds + 1):
        for name, step in runs.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            if r:  # the first round warms up
                times[name].append((time.perf_counter() - t0) / args.steps)
    tokens = args.batch_size * args.seq_len
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "args": vars(args), "threads": torch.get_num_threads(),
        "tokens_per_s": {k: round(tokens / v) for k, v in med.items()},
        "ms_per_step": {k: round(1000 * v, 2) for k, v in med.items()},
        "slowdown": round(med["weight_drop"] / med["plain"], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
