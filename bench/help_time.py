"""Wall time of `seqgen --help` (median of N fresh processes), beside `python -c pass` and
`python -c "import torch"` for scale.

    python bench/help_time.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    seqgen = shutil.which("seqgen") or "seqgen"
    print(
        json.dumps(
            {
                "runs": runs,
                "seqgen_help_s": round(timed([seqgen, "--help"], runs), 3),
                "seqgen_train_help_s": round(timed([seqgen, "train", "--help"], runs), 3),
                "python_pass_s": round(timed([sys.executable, "-c", "pass"], runs), 3),
                "python_import_torch_s": round(timed([sys.executable, "-c", "import torch"], 3), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
