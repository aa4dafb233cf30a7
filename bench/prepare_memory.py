"""Peak memory (RSS) of `seqgen prepare` and of 100 training steps on a ~200 MB text file.

The file is built from a source text (Tiny Shakespeare by default) repeated with a counter per
copy, so the vocabulary stays small and the content is not one block repeated verbatim.

    python bench/prepare_memory.py [--mb 200] [--source FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAP = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "time.perf_counter() - t, r.returncode)"
)


def peak(cmd: list[str], env: dict) -> dict:
    """Run cmd in a fresh wrapper process; its children's peak RSS is cmd's alone."""
    out = subprocess.run(
        [sys.executable, "-c", WRAP, *cmd], env=env, check=True, capture_output=True, text=True
    )
    kb, seconds, code = out.stdout.split()[-3:]
    if int(code) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return {"peak_rss_mb": round(int(kb) / 1024, 1), "seconds": round(float(seconds), 1)}


def main() -> None:
    here = Path(__file__).resolve().parent
    default = Path(os.environ.get("SEQGEN_CORPORA", here.parent.parent / "shared" / "corpora"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--source", type=Path, default=default / "tinyshakespeare" / "input.txt")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = tmp / "big.txt"
        src = args.source.read_text(encoding="utf-8")
        with open(big, "w", encoding="utf-8") as f:
            i = 0
            while f.tell() < args.mb * 1e6:
                f.write(f"== copy {i} ==\n{src}")
                i += 1
        env = dict(os.environ, SEQGEN_CACHE=str(tmp / "cache"))
        size_mb = round(big.stat().st_size / 1e6, 1)
        t0 = time.perf_counter()
        prep = peak(["seqgen", "prepare", "--domain", "char", "--corpus", str(big)], env)
        train = peak(
            [
                "seqgen",
                "train",
                "--domain",
                "char",
                "--corpus",
                str(big),
                "--max-steps",
                str(args.steps),
                "--eval-every",
                str(args.steps),
                "--val-tokens",
                "200000",
                "--out",
                str(tmp / "run"),
                "-q",
            ],
            env,
        )
        print(
            json.dumps(
                {
                    "file_mb": size_mb,
                    "prepare": prep,
                    f"train_{args.steps}_steps_cached": train,
                    "total_s": round(time.perf_counter() - t0, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
