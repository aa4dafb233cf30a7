"""Decoding speed at batch 1: sampling, greedy and beam search of width 2, 5 and 10 on one
LSTM with random weights, interleaved in one process (rounds alternate so noise hits all alike).

    python bench/beam_speed.py [--hidden-size 256 --num-layers 2 --vocab 100 --tokens 1000]

Tokens per second counts the tokens of the returned sample (a beam of width W steps W rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from standins import Ids

from seqgen.decode import DecodeConfig, decode
from seqgen.models.lstm import LSTMConfig, LSTMLanguageModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--num-layers", type=int, default=2)
    ap.add_argument("--embedding-size", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=100)
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LSTMConfig(args.vocab, args.embedding_size, args.hidden_size, args.num_layers, 0.0)
    model, tok = LSTMLanguageModel(cfg).eval(), Ids(args.vocab)
    runs = {
        "sample": DecodeConfig(length=args.tokens, seed=0, stop_at_eod=False),
        "greedy": DecodeConfig(length=args.tokens, greedy=True, stop_at_eod=False),
        **{
            f"beam_{w}": DecodeConfig(length=args.tokens, beam=w, stop_at_eod=False)
            for w in (2, 5, 10)
        },
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, dc in runs.items():
            t0 = time.perf_counter()
            (out,) = decode(model, tok, dc)
            times[name].append(time.perf_counter() - t0)
            assert len(out) == args.tokens
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "shape": vars(args),
                "tokens_per_s": {k: round(args.tokens / v) for k, v in med.items()},
                "time_over_sampling": {k: round(v / med["sample"], 2) for k, v in med.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
