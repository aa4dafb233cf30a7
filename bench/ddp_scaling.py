"""One process with 2 threads against 2 processes with 1 thread each (torch.distributed, gloo),
for training and for evaluation, alternated round by round in one run; prints JSON.

    python bench/ddp_scaling.py [--rounds 3] [--steps 60] [--corpus PATH]

Both sides train the same model on the same global batch (--batch-size streams; the 2-process
run gives each process half). Training speed is the median tokens/s of the metrics rows after
the first; evaluation is `seqgen eval`'s own timing of the scoring. The JSON also gives what
one step sends: the gradient all-reduce moves each parameter's gradient once (4 bytes each),
which sets how far more processes (or machines) can go.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from runner import shakespeare_or_standin


def corpus(given: str | None, tmp: Path) -> Path:
    return Path(given) if given else shakespeare_or_standin(tmp)


def seqgen(*args: str, nproc: int = 1) -> str:
    if nproc > 1 and args[0] == "eval":
        head = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd = [*head, f"--nproc-per-node={nproc}", "-m", "seqgen", *args]
    else:
        cmd = [sys.executable, "-m", "seqgen", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def train(args, text: Path, out: Path, procs: int) -> dict:
    threads = 2 // procs
    extra = ["--nproc", str(procs)] if procs > 1 else []
    seqgen(
        "train", "-d", "char", "-c", str(text), "--out", str(out), "--max-steps",
        str(args.steps), "--eval-every", str(args.steps), "--hidden-size", str(args.hidden),
        "--embedding-size", "64", "--batch-size", str(args.batch), "--seq-len", "64",
        "--threads", str(threads), "--seed", "1", "-q", *extra,
    )  # fmt: skip
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][1:]
    val = [r["val_nats_per_token"] for r in rows if "val_nats_per_token" in r]
    from seqgen import checkpoint

    weights = checkpoint.load(out / "checkpoint.pt").model
    n = sum(t.numel() for t in weights.values())
    return {"tokens_per_s": statistics.median(speeds), "val": val[-1], "parameters": n}


def evaluate(run: Path, procs: int) -> float:
    report = json.loads(seqgen("eval", str(run), "--json", nproc=procs))
    return report["tokens"] / max(report["seconds"], 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--corpus")
    args = ap.parse_args()
    results: dict[str, dict[str, list]] = {"1x2": {}, "2x1": {}}
    with tempfile.TemporaryDirectory() as tmp:
        text = corpus(args.corpus, Path(tmp))
        for r in range(args.rounds):
            for name, procs in (("1x2", 1), ("2x1", 2)) if r % 2 == 0 else (("2x1", 2), ("1x2", 1)):
                out = Path(tmp) / f"{name}-{r}"
                got = train(args, text, out, procs)
                got["eval_tokens_per_s"] = evaluate(out, procs)
                for key, value in got.items():
                    results[name].setdefault(key, []).append(value)
    print(json.dumps(report(args, results), indent=2))


def report(args, results: dict) -> dict:
    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in results.items()}
    params = results["1x2"]["parameters"][0]
    step_s = args.batch * 64 / med["2x1"]["tokens_per_s"]
    return {
        "machine": f"{os.cpu_count()} CPUs",
        "model": f"char LSTM {args.hidden}x2, batch {args.batch}x64, {args.steps} steps",
        "rounds": args.rounds,
        "each_round": results,
        "median": med,
        "train_ratio_2x1_over_1x2": med["2x1"]["tokens_per_s"] / med["1x2"]["tokens_per_s"],
        "eval_ratio_2x1_over_1x2": med["2x1"]["eval_tokens_per_s"]
        / med["1x2"]["eval_tokens_per_s"],
        "allreduce_mb_per_step": round(params * 4 / 1e6, 2),
        "step_seconds_2x1": round(step_s, 4),
    }


if __name__ == "__main__":
    main()
