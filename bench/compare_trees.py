"""Run one bench script against two source trees side by side, alternating, and report medians.

    python bench/compare_trees.py --base ../base --rounds 3 -- bench/train_throughput.py

``--base`` is another checkout of seqgen (e.g. ``git worktree add ../base HEAD~5``); the script
runs once per round under each tree (this tree first, then the base), with that tree's
``seqgen`` and ``seqgen_plugins`` first on ``PYTHONPATH``. Every JSON number the script prints
is collected; the report gives each key's median per tree and their ratio (this / base).
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

ROOT = Path(__file__).resolve().parents[1]


def path_for(tree: Path, shim: Path) -> str:
    """PYTHONPATH that makes ``seqgen`` and ``seqgen_plugins`` come from ``tree``."""
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "seqgen_plugins"
    if not link.exists():
        link.symlink_to(tree / "plugins")
    return os.pathsep.join([str(tree), str(shim)])


def run_once(tree: Path, pythonpath: str, script: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, str(tree / script[0]), *script[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def numbers(row: dict, prefix: str = "") -> dict[str, float]:
    found = {}
    for key, value in row.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            found[prefix + key] = float(value)
        elif isinstance(value, dict):
            found.update(numbers(value, f"{prefix}{key}."))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("script", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    script = [a for a in args.script if a != "--"]
    trees = {"this": ROOT, "base": args.base.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: path_for(t, Path(tmp) / name) for name, t in trees.items()}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(numbers(run_once(tree, paths[name], script)))
    keys = sorted(set(runs["this"][0]) & set(runs["base"][0]))
    report = {"script": script, "rounds": args.rounds, "median": {}}
    for key in keys:
        this = statistics.median(r[key] for r in runs["this"])
        base = statistics.median(r[key] for r in runs["base"])
        ratio = round(this / base, 3) if base else None
        report["median"][key] = {"this": this, "base": base, "ratio": ratio}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
