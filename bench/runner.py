"""Run the `seqgen` CLI from benchmark scripts: one command, or several training jobs at once.

Side by side (``parallel=True``) is how two models are compared fairly on a noisy machine: both
run at the same time, one thread each, so both see the same load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHARED = Path(os.environ.get("SEQGEN_CORPORA", Path(__file__).parents[2] / "shared" / "corpora"))
LAUNCHER = "import sys; from seqgen.cli import main; sys.argv[0] = 'seqgen'; main()"


def seqgen(*args) -> str:
    """Run ``seqgen ARGS`` and return its stdout; a failure ends the script with its stderr."""
    args = [str(a) for a in args]
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"seqgen {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def run_all(jobs: list[list], parallel: bool) -> None:
    """Run the ``seqgen`` commands one after another, or all at once."""
    if not parallel:
        for args in jobs:
            seqgen(*args)
        return
    procs = []
    for args in jobs:
        args = [str(a) for a in args]
        cmd = [sys.executable, "-c", LAUNCHER, *args]
        procs.append((args, subprocess.Popen(cmd, stderr=subprocess.PIPE)))
    for args, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"seqgen {' '.join(args)} failed:\n{err.decode()}")


def shakespeare_or_standin(tmp: Path) -> Path:
    """Tiny Shakespeare from the shared corpora, or 20,000 generated lines where they are absent."""
    shakespeare = SHARED / "tinyshakespeare" / "input.txt"
    if shakespeare.is_file():
        return shakespeare
    path = tmp / "corpus.txt"
    path.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(20000)))
    return path
