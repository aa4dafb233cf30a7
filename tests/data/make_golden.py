"""Record the golden figures: a seeded tiny char run's training losses and sampled tokens.

Run from the repository root (``python tests/data/make_golden.py``) on the commit whose behaviour
the golden test pins; it writes ``golden.json`` and the run's checkpoint ``golden-char.pt`` here.
tests/test_golden.py trains the same run and samples the same way, and compares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = [
    "--max-steps", "60", "--lr", "1e-2", "--seed", "5", "--hidden-size", "24",
    "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16", "--dropout", "0.2",
    "--precision", "fp32", "--threads", "1", "--eval-every", "10", "-q",
]  # fmt: skip
GENERATE = ["--length", "120", "--seed", "3", "--temperature", "0.9", "-q"]
# The second run covers the other heads and the sampler's extras: words, a tied adaptive
# softmax and the document cache.
VARIANTS = {
    "char": ("char", []),
    "word": (
        "word",
        ["--adaptive-softmax", "8,16", "--adaptive-div", "2", "--tie-weights", "--cache"],
    ),
}


def corpus_text() -> str:
    return "".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(400))


def train_and_sample(work: Path, variant: str) -> dict:
    domain, extra = VARIANTS[variant]
    text = work / "corpus.txt"
    text.write_text(corpus_text())
    run = work / variant
    seqgen = [sys.executable, "-m", "seqgen"]
    env = {"SEQGEN_CACHE": str(work / "cache"), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [*seqgen, "train", "-d", domain, "-c", str(text), "--out", str(run), *TRAIN, *extra],
        check=True,
        env=env,
    )
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    out = work / f"{variant}.txt"
    subprocess.run(
        [*seqgen, "generate", str(run / "checkpoint.pt"), "--out", str(out), *GENERATE],
        check=True,
        env=env,
    )
    return {
        "train_loss": {r["step"]: r["train_loss"] for r in rows if "train_loss" in r},
        "val_nats_per_token": {
            r["step"]: r["val_nats_per_token"] for r in rows if "val_nats_per_token" in r
        },
        "sample": out.read_text(),
        "run": run,
    }


if __name__ == "__main__":
    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            got = train_and_sample(Path(tmp), variant)
            shutil.copy(got.pop("run") / "checkpoint.pt", HERE / f"golden-{variant}.pt")
            golden[variant] = got
    (HERE / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden, indent=1))
