"""Sampling speed at batch 1: seqgen's sampler (NumPy stepping) against calling nn.LSTM once
per token with the same weights, and the sampler with the document cache mixed in, interleaved
in one process.

    python bench/generate_speed.py [--hidden-size 512 --num-layers 2 --tokens 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from standins import Ids

from seqgen.decode import DecodeConfig as SampleConfig
from seqgen.decode import decode as generate
from seqgen.doccache import BOUNDS, CacheWeights
from seqgen.models.lstm import LSTMConfig as ModelConfig
from seqgen.models.lstm import LSTMLanguageModel


@torch.inference_mode()
def per_step_lstm(model: LSTMLanguageModel, n: int) -> None:
    """The slow way: nn.LSTM called on one token at a time."""
    x = torch.zeros(1, 1, dtype=torch.long)
    state = None
    gen = torch.Generator().manual_seed(0)
    for _ in range(n):
        out, state = model.lstm(model.embed(x), state)
        probs = torch.softmax(model.head(out[:, -1]), -1)
        x = torch.multinomial(probs, 1, generator=gen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden-size", type=int, default=512)
    ap.add_argument("--num-layers", type=int, default=2)
    ap.add_argument("--embedding-size", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = LSTMLanguageModel(
        ModelConfig(args.vocab, args.embedding_size, args.hidden_size, args.num_layers, dropout=0.0)
    ).eval()
    tok = Ids(args.vocab)
    cfg = SampleConfig(length=args.tokens, seed=0, stop_at_eod=False)
    cached = SampleConfig(
        length=args.tokens,
        seed=0,
        stop_at_eod=False,
        cache=CacheWeights(weights=[0.5] * len(BOUNDS), near=[0.5] * len(BOUNDS)),
    )
    times = {"seqgen": [], "nn_lstm_per_step": [], "seqgen_cache": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        out = generate(model, tok, cfg)
        times["seqgen"].append(time.perf_counter() - t0)
        assert len(out[0]) == args.tokens
        t0 = time.perf_counter()
        generate(model, tok, cached)
        times["seqgen_cache"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        per_step_lstm(model, args.tokens)
        times["nn_lstm_per_step"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "shape": vars(args),
                "threads": torch.get_num_threads(),
                "seqgen_tokens_per_s": round(args.tokens / med["seqgen"]),
                "nn_lstm_per_step_tokens_per_s": round(args.tokens / med["nn_lstm_per_step"]),
                "speedup": round(med["nn_lstm_per_step"] / med["seqgen"], 2),
                "seqgen_cache_tokens_per_s": round(args.tokens / med["seqgen_cache"]),
                "cache_slowdown": round(med["seqgen_cache"] / med["seqgen"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
