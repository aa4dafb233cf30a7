"""How fast one long document is scored, against how fast the same model trains; prints JSON.

    python bench/eval_speed.py [--run RUN] [--max-time 55] [--rounds 3] [--corpus PATH]

Without --run it first trains the default run (`seqgen train -d char --max-time T`) on Tiny
Shakespeare (or a generated text) and reads from its metrics.jsonl the median training tokens/s
and the share of the wall time its periodic validations took. Then, alternating round by round,
it scores the validation split (one long document) in this process:

- ``sequential``: one stream, batch 1, the state carried from the first token to the last (the
  exact figure; one round only, it is slow);
- ``streams-S``: S parallel rows (``seqgen.evaluate.target_logprobs``), each starting from a
  zero state, with and without a warm-up that reads the tokens before each cut first, in fp32
  and (where the CPU has bf16 kernels, as `seqgen eval` then uses by default) in bf16.

Each scoring's tokens/s is reported with its ratio to training's, and its nats/token with the
difference from the sequential figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ddp_scaling import corpus  # noqa: E402


def train(text: Path, out: Path, max_time: float, threads: int | None) -> dict:
    cmd = [sys.executable, "-m", "seqgen", "train", "-d", "char", "-c", str(text), "--out"]
    cmd += [str(out), "--max-time", str(max_time), "--seed", "1", "-q"]
    cmd += ["--threads", str(threads)] if threads else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return run_figures(out)


def run_figures(out: Path) -> dict:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][1:]
    vals = [r for r in rows if "val_seconds" in r]
    figures = {"train_tokens_per_s": statistics.median(speeds), "validations": len(vals)}
    if vals:
        spent = sum(r["val_seconds"] for r in vals)
        figures["validation_seconds"] = round(spent, 2)
        figures["wall_seconds"] = vals[-1]["wall"]
        figures["validation_share_of_wall"] = round(spent / vals[-1]["wall"], 3)
    return figures


def score(model, ids, eod, streams: int, warmup: int, precision="fp32") -> tuple[float, float]:
    from seqgen.evaluate import target_logprobs

    t0 = time.perf_counter()
    logp = target_logprobs(model, ids, eod, streams=streams, warmup=warmup, precision=precision)
    dt = time.perf_counter() - t0
    return -float(logp.sum(dtype=np.float64)) / len(logp), len(logp) / dt


def _name(streams: int, warmup: int, precision: str) -> str:
    return f"streams-{streams}" + (f"-warmup-{warmup}" if warmup else "") + f"-{precision}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="a trained run (default: train one first)")
    ap.add_argument("--corpus")
    ap.add_argument("--max-time", type=float, default=55)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--streams", default="16,64")
    args = ap.parse_args()
    import torch

    import seqgen
    from seqgen.hardware import bf16_supported

    tmp = Path(tempfile.mkdtemp())
    run = Path(args.run) if args.run else tmp / "run"
    report = {"run": str(run)}
    if args.run:
        report.update(run_figures(run))
    else:
        report.update(train(corpus(args.corpus, tmp), run, args.max_time, args.threads))
    if args.threads:
        torch.set_num_threads(args.threads)
    model = seqgen.load(run / "best.pt")
    data, _ = model._data(None)
    ids, eod = np.asarray(data.tokens("valid")), model.tokenizer.eod_id
    exact, speed = score(model.model, ids, eod, 1, 0)
    report["tokens"] = len(ids)
    report["sequential"] = {"nats_per_token": exact, "tokens_per_s": round(speed)}
    ways = [(int(s), w, "fp32") for s in args.streams.split(",") for w in (0, 64)]
    if bf16_supported(torch.device("cpu")):
        ways += [(int(s), 64, "bf16") for s in args.streams.split(",")]
    got: dict = {_name(*way): [] for way in ways}
    for _ in range(args.rounds):
        for way, name in zip(ways, got, strict=True):
            got[name].append(score(model.model, ids, eod, *way))
    train_speed = report["train_tokens_per_s"]
    for name, results in got.items():
        nats = results[0][0]
        tps = statistics.median(r[1] for r in results)
        report[name] = {
            "nats_per_token": nats,
            "minus_sequential": nats - exact,
            "tokens_per_s": round(tps),
            "tokens_per_s_each_round": [round(r[1]) for r in results],
            "ratio_to_training": round(tps / train_speed, 2),
        }
    report["sequential"]["ratio_to_training"] = round(speed / train_speed, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
