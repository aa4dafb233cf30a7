"""Polyphonic-music benchmarks (Boulanger-Lewandowski et al., ICML 2012): train and evaluate the
midi domain's ``frames`` encoding on JSB Chorales, Nottingham, Piano-midi.de and MuseData, and
print test negative log-likelihood per frame (nats) as JSON.

Each dataset runs, in its own run directory::

    seqgen train -d midi -o encoding=frames -c DATA/JSB_Chorales.mat --out RUNS/JSB_Chorales \\
        --max-time 600 --threads THREADS -q
    seqgen eval RUNS/JSB_Chorales --split test --json

Usage (full benchmark: 4 x 10 minutes of training)::

    python bench/midi_benchmarks.py --data /work/shared/corpora/polyphonic --runs runs/bench

Smoke check of the pipeline only (about a minute)::

    python bench/midi_benchmarks.py --only JSB_Chorales --max-time 60 --threads 1

Published test NLL per frame (nats) on JSB: LSTM 8.45, RNN-NADE 5.19-5.56; the 10-minute
target for this model is <= 4.5. One frame is a quarter note for JSB, an eighth for the rest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DATASETS = ("JSB_Chorales", "Nottingham", "Piano_midi", "MuseData")
PUBLISHED = {  # test NLL/frame from Boulanger-Lewandowski 2012, Table 1 (RNN-NADE, HF)
    "JSB_Chorales": 5.56,
    "Nottingham": 2.31,
    "Piano_midi": 7.05,
    "MuseData": 5.60,
}


def run_one(name: str, data: Path, runs: Path, max_time: float, threads: int, extra: list[str]):
    out = runs / name
    cmd = [
        "seqgen",
        "train",
        "-d",
        "midi",
        "-o",
        "encoding=frames",
        "-c",
        str(data / f"{name}.mat"),
        "--out",
        str(out),
        "--max-time",
        str(max_time),
        "--threads",
        str(threads),
        "-q",
        *extra,
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    trained = time.perf_counter() - t0
    ev = subprocess.run(
        ["seqgen", "eval", str(out), "--split", "test", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(ev.stdout)
    alone = report.get("without_cache", report)  # the LSTM's own figure, with --cache or not
    return {
        "dataset": name,
        "train_seconds": round(trained, 1),
        "test_nats_per_frame": report.get("nats_per_unit"),
        "cache": report.get("cache", False),
        "test_nats_per_frame_lstm_alone": alone.get("nats_per_unit"),
        "unit": report.get("unit"),
        "frames": report.get("units"),
        "published_rnn_nade": PUBLISHED[name],
        "command": " ".join(cmd),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/corpora/polyphonic"))
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-midi"))
    ap.add_argument("--only", action="append", choices=DATASETS, help="Datasets (repeatable).")
    ap.add_argument("--max-time", type=float, default=600.0, help="Training seconds each.")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("extra", nargs="*", help="More `seqgen train` options (after --).")
    args = ap.parse_args()
    results = []
    for name in args.only or DATASETS:
        if (args.runs / name).exists():
            sys.exit(f"{args.runs / name} exists; remove it or choose another --runs")
        results.append(run_one(name, args.data, args.runs, args.max_time, args.threads, args.extra))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
