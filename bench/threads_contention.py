"""Training speed when another program keeps a core busy: seqgen's default thread choice
against --threads 1 and --threads <all cores>, with and without the competitor, alternated
round by round in one run; prints JSON.

    python bench/threads_contention.py [--rounds 3] [--steps 80] [--max-time 0]

Each case trains the same char model for --steps steps and reports the median tokens/s of
its metrics rows (the first left out) and the process's wall time. With --max-time T, each
case also runs `--max-time T` and reports the wall time it took (validation included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner import shakespeare_or_standin

CORES = len(os.sched_getaffinity(0))
CASES = {"default": [], "threads_1": ["--threads", "1"], "threads_all": ["--threads", str(CORES)]}


def train(text: Path, out: Path, extra: list[str], limit: list[str]) -> dict:
    cmd = [sys.executable, "-m", "seqgen", "train", "-d", "char", "-c", str(text)]
    cmd += ["--out", str(out), "--hidden-size", "256", "--embedding-size", "64", "-q"]
    cmd += ["--batch-size", "32", "--seq-len", "64", "--seed", "1", *limit, *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)}: {proc.stderr[-400:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][1:]
    return {"tokens_per_s": statistics.median(speeds), "wall_s": round(wall, 1)}


def competitor() -> subprocess.Popen:
    """One busy core: a pure-Python loop, as another program's work would be."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def one_round(text: Path, tmp: Path, r: int, args, results: dict) -> None:
    for busy in (False, True) if r % 2 == 0 else (True, False):
        other = competitor() if busy else None
        try:
            time.sleep(0.5 if busy else 0)
            names = list(CASES) if r % 2 == 0 else list(reversed(CASES))
            for name in names:
                limit = ["--max-steps", str(args.steps), "--eval-every", str(args.steps)]
                got = train(text, tmp / f"{name}-{busy}-{r}", CASES[name], limit)
                if args.max_time:
                    timed = train(
                        text, tmp / f"t-{name}-{busy}-{r}", CASES[name],
                        ["--max-time", str(args.max_time)],
                    )  # fmt: skip
                    got["max_time_wall_s"] = timed["wall_s"]
                key = f"{'busy' if busy else 'idle'}/{name}"
                for k, v in got.items():
                    results.setdefault(key, {}).setdefault(k, []).append(v)
        finally:
            if other is not None:
                other.kill()
                other.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--max-time", type=float, default=0.0)
    args = ap.parse_args()
    results: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        text = shakespeare_or_standin(Path(tmp))
        for r in range(args.rounds):
            one_round(text, Path(tmp), r, args, results)
    med = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in results.items()}
    busy = {k.split("/")[1]: v["tokens_per_s"] for k, v in med.items() if k.startswith("busy")}
    print(
        json.dumps(
            {
                "cores": CORES,
                "rounds": args.rounds,
                "each_round": results,
                "median": med,
                "busy_default_over_threads_1": busy["default"] / busy["threads_1"],
                "busy_threads_all_over_threads_1": busy["threads_all"] / busy["threads_1"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
