"""Training tokens/s of a bare LSTM step (embedding, 2 layers, linear head, AdamW) by width and
number of streams, under the precision budget sizing uses on this CPU (bf16 autocast where the
CPU has it), with the arithmetic rate it implies. Prints one JSON object per (width, streams).

    python bench/width_rate.py --widths 512 768 1024 --streams 16 32 64 128 [--seconds 6]

It shows where a budget's width is bounded by the machine rather than by the batch: when every
shape runs at about the same GFLOP/s, more streams buy few tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def step_fn(hidden: int, streams: int, args):
    torch.manual_seed(0)
    V, E = args.vocab, args.embedding_size
    emb, head = nn.Embedding(V, E), nn.Linear(hidden, V)
    lstm = nn.LSTM(E, hidden, 2, batch_first=True, dropout=args.dropout)
    params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    x = torch.randint(0, V, (streams, args.seq_len))
    y = torch.randint(0, V, (streams, args.seq_len))
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is torch.bfloat16):
            out, _ = lstm(emb(x))
            logits = head(out).float()
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(hidden: int, streams: int, args) -> dict:
    step = step_fn(hidden, streams, args)
    step(), step()  # oneDNN primitives, allocator
    times, t_end = [], time.perf_counter() + args.seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    rate = streams * args.seq_len / statistics.median(times)
    E, H = args.embedding_size, hidden
    macs = 4 * H * (E + H) + 4 * H * 2 * H + H * args.vocab  # per token, forward
    return {
        "hidden": H,
        "streams": streams,
        "steps": len(times),
        "tokens_per_s": round(rate),
        "gflop_per_s": round(rate * macs * 2 * 3 / 1e9),  # forward and backward: 3 passes
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[512, 768])
    ap.add_argument("--streams", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--embedding-size", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per shape")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for hidden in args.widths:
        for streams in args.streams:
            row = {**measure(hidden, streams, args), "precision": args.precision}
            print(json.dumps({**row, "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
