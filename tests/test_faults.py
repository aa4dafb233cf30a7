"""Kill -9 and Ctrl-C (SIGINT) at random moments of training, checkpoint writes included:
every time, `seqgen train --resume` finishes the run with exactly the weights of a run that was
never interrupted, with the default dropout."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqgen import checkpoint

ARGS = [
    "--max-steps",
    "60",
    "--eval-every",
    "4",
    "--seed",
    "3",
    "--hidden-size",
    "24",
    "--embedding-size",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--precision",
    "fp32",
    "--threads",
    "1",
    "-q",
]  # fmt: skip  (default dropout)
TRIALS = 10


def seqgen(*args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "seqgen", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    text = root / "corpus.txt"
    text.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(600)))
    env = {**os.environ, "SEQGEN_CACHE": str(root / "cache")}
    whole = root / "whole"
    proc = seqgen("train", "-d", "char", "-c", text, "--out", whole, *ARGS, env=env)
    assert proc.wait() == 0, proc.stderr.read()
    return root, text, env, checkpoint.load(whole / "checkpoint.pt").model


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "sigint"])
def test_any_interruption_resumes_exactly(setup, sig, cli, monkeypatch):
    root, text, env, want = setup
    monkeypatch.setenv("SEQGEN_CACHE", env["SEQGEN_CACHE"])
    rng = random.Random(sig)
    for trial in range(TRIALS):
        run = root / f"{sig.name}-{trial}"
        proc = seqgen("train", "-d", "char", "-c", text, "--out", run, *ARGS, env=env)
        deadline = time.time() + 60
        while not (run / "checkpoint.pt").exists() and proc.poll() is None:
            assert time.time() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))  # somewhere in the 60 steps and their 15 saves
        proc.send_signal(sig)
        code = proc.wait()
        err = proc.stderr.read()
        assert code in (0, 130, -signal.SIGKILL), err
        if sig == signal.SIGINT and code == 130:
            assert "Traceback" not in err and "--resume" in err, err
        assert not list(run.glob(".*.tmp")) or sig == signal.SIGKILL
        code, _, err = cli("train", "--resume", run, "-q")  # in-process: no second start-up
        assert code == 0, err
        got = checkpoint.load(run / "checkpoint.pt")
        assert got.progress.step == 60
        for name, tensor in want.items():
            assert torch.equal(tensor, got.model[name]), (trial, name)
        assert not list(Path(run).glob(".*.tmp")), "a stale temp file survived the resume"
