"""Tiny Shakespeare under a time budget: `seqgen train --domain char --max-time S`, then
`seqgen eval` over the whole validation split (state carried). Prints one JSON object per run.

    python bench/shakespeare.py --seconds 270 55 [-- extra train options]
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

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def run(seconds: float, corpus: Path, extra: list[str], root: Path) -> dict:
    out = root / f"run-{seconds:g}s"
    cmd = [
        "seqgen",
        "train",
        "--domain",
        "char",
        "--corpus",
        str(corpus),
        "--max-time",
        str(seconds),
        "--out",
        str(out),
        "-q",
        *extra,
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    ev = subprocess.run(
        ["seqgen", "eval", str(out), "--json"], check=True, capture_output=True, text=True
    )
    report = json.loads(ev.stdout)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    tps = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r]
    return {
        "budget_s": seconds,
        "command": " ".join(cmd),
        "wall_s": round(wall, 1),
        "steps": max(r["step"] for r in rows),
        "median_tokens_per_s": sorted(tps)[len(tps) // 2] if tps else None,
        "val_nats_per_char": round(report["nats_per_unit"], 4),
        "val_bits_per_char": round(report["bits_per_unit"], 4),
        "val_chars": report["units"],
        "checkpoint": report["checkpoint"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[270.0])
    ap.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("SEQGEN_CORPORA", DEFAULT.parent.parent))
        / "tinyshakespeare"
        / "input.txt",
    )
    ap.add_argument("--keep", type=Path, help="keep runs here (default: a temp dir)")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more train options")
    args = ap.parse_args()
    extra = [a for a in args.extra if a != "--"]
    root = args.keep or Path(tempfile.mkdtemp(prefix="seqgen-bench-"))
    for s in args.seconds:
        print(json.dumps(run(s, args.corpus, extra, root)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
