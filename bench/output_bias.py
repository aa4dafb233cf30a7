"""The head's bias started at zero against the training tokens' unigram log-frequencies (what
`seqgen train` does), trained side by side for the same seconds, one thread each, then scored
on the whole validation (and test) split. Prints JSON.

    python bench/output_bias.py --seconds 600 -d midi \\
        -c ../shared/corpora/polyphonic/JSB_Chorales.mat -o encoding=frames -o transpose=3 \\
        --hidden-size 256 --embedding-size 64 --dropout 0.3 --lr 1e-2
    python bench/output_bias.py --seconds 120 -d char \\
        -c ../shared/corpora/tinyshakespeare/input.txt
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
from pathlib import Path


def arm(init: str, args: argparse.Namespace, root: str) -> dict:
    from seqgen import run
    from seqgen.cli.common import parse_pairs
    from seqgen.evaluate import target_logprobs
    from seqgen.models.head import TokenHead

    if init == "zero":  # the reference: nn.Linear's own bias, as before the unigram start
        TokenHead.start_from_counts = lambda self, counts: None
    model = {"hidden_size": args.hidden_size, "embedding_size": args.embedding_size,
             "dropout": args.dropout}  # fmt: skip
    train = {"batch_size": args.batch_size, "seq_len": args.seq_len, "lr": args.lr,
             "max_time": args.seconds, "sample_length": 0, "threads": args.threads,
             "seed": args.seed, "device": "cpu", "precision": "fp32", "patience": None}  # fmt: skip
    job = run.start(args.domain, args.corpus, Path(root) / init,
                    options=parse_pairs(args.option or []), model=model, train=train)  # fmt: skip
    summary = job.train()
    data, trainer = job.data, job.trainer
    out = {"init": init, "steps": summary["step"]}
    tok = data.tokenizer
    for split in ("valid", "test"):
        if split in data.splits:
            logp = target_logprobs(trainer.model, data.tokens(split), tok.eod_id)
            out[f"{split}_nats_per_{tok.unit}"] = round(-float(logp.sum()) / data.units(split), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", "-d", default="char")
    ap.add_argument("--corpus", "-c", required=True)
    ap.add_argument("--option", "-o", action="append")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--threads", type=int, default=1, help="per arm")
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--embedding-size", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="seqgen-bias-")
    with mp.get_context("spawn").Pool(2) as pool:
        zero, unigram = pool.starmap(arm, [("zero", args, root), ("unigram", args, root)])
    key = next(k for k in zero if k.startswith("valid_"))
    print(
        json.dumps(
            {
                "corpus": args.corpus,
                "seconds": args.seconds,
                "zero": zero,
                "unigram": unigram,
                "valid_ratio": round(unigram[key] / zero[key], 4),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
