"""Two processes on gloo (CPU) train, validate and evaluate as one process does: the same
losses and weights for the same global batch, an exact resume after a rank is killed, one line
naming the rank that died, and `seqgen eval` figures equal to a single process's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen import checkpoint

SMALL = [
    "--seed", "3", "--hidden-size", "24", "--embedding-size", "8", "--batch-size", "4",
    "--seq-len", "16", "--precision", "fp32", "--threads", "1", "-q",
]  # fmt: skip


def seqgen(*args, env, wait=True):
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqgen", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job is
    )
    if not wait:
        return proc
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def rows(run: Path, key: str) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)[key] for line in lines if key in json.loads(line)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    text = root / "corpus.txt"
    text.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(600)))
    env = {**os.environ, "SEQGEN_CACHE": str(root / "cache")}
    return root, text, env


@pytest.fixture(scope="module")
def pair(corpus):
    """The same 12 steps (dropout 0) in one process and in two."""
    root, text, env = corpus
    args = ["-d", "char", "-c", text, "--max-steps", "12", "--eval-every", "4", "--dropout", "0"]
    one, two = root / "one", root / "two"
    for out, extra in ((one, []), (two, ["--nproc", "2"])):
        code, _, err = seqgen("train", *args, *SMALL, "--out", out, *extra, env=env)
        assert code == 0, err
    return one, two


@pytest.mark.slow
def test_two_ranks_match_one_process(pair):
    one, two = pair
    for key in ("train_loss", "val_nats_per_token"):
        a, b = rows(one, key), rows(two, key)
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    got, want = (checkpoint.load(r / "checkpoint.pt") for r in (two, one))
    assert got.progress.world == 2 and want.progress.world == 1
    assert got.progress.step == want.progress.step == 12
    for name, tensor in want.model.items():
        assert torch.allclose(tensor, got.model[name], rtol=0, atol=1e-5), name
    assert len(got.rng["ranks"]) == 2 and not torch.equal(*got.rng["ranks"])


@pytest.mark.slow
def test_eval_on_two_ranks_equals_one(pair, corpus):
    """In fp32 the figure is the single process's; in bf16 (rounded differently with each
    rank's half of the rows) it is within bf16's own distance from fp32."""
    _, two = pair
    env = corpus[2]
    figures = {}
    for precision in ("fp32", "auto"):
        code, out, err = seqgen("eval", two, "--json", "--precision", precision, env=env)
        assert code == 0, err
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        proc = subprocess.run(
            [*torchrun, "--nproc-per-node", "2", "-m", "seqgen", "eval", two, "--json"]
            + ["--precision", precision],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        one, both = json.loads(out), json.loads(proc.stdout)  # rank 0 alone prints
        assert both["tokens"] == one["tokens"] and both["precision"] == one["precision"]
        figures[one["precision"]] = one["nats_per_token"], both["nats_per_token"]
    one, both = figures["fp32"]
    assert abs(both - one) < 1e-6
    if "bf16" in figures:
        bf_one, bf_both = figures["bf16"]
        assert abs(bf_both - bf_one) <= max(1e-6, 2 * abs(bf_one - one)), figures


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return sorted(kids)


@pytest.fixture(scope="module")
def whole(corpus):
    """An uninterrupted 2-process run with dropout 0.2: each rank's random stream matters."""
    root, text, env = corpus
    out = root / "whole"
    code, _, err = seqgen("train", "-d", "char", "-c", text, *LONG, *SMALL, "--out", out, env=env)
    assert code == 0, err
    return out


LONG = ["--max-steps", "1000", "--eval-every", "20", "--patience", "0", "--nproc", "2"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill-rank-1", "ctrl-c"])
def test_a_stopped_run_says_so_in_one_line_and_resumes_exactly(corpus, whole, how):
    root, text, env = corpus
    cut = root / how
    args = ["-d", "char", "-c", text, *LONG, *SMALL, "--out", cut]
    proc = seqgen("train", *args, env=env, wait=False)
    deadline = time.time() + 120
    while len(rows(cut, "val_nats_per_token") if (cut / "metrics.jsonl").exists() else []) < 1:
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert len(workers) == 2
    if how == "ctrl-c":  # the terminal's Ctrl-C reaches the whole process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(workers[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and " W1" not in err, err
    if how == "ctrl-c":
        assert proc.returncode == 130 and "error" not in err, err
        assert "interrupted at step" in err and "--resume" in err, err
    else:
        assert proc.returncode == 1
        lines = [line for line in err.splitlines() if "error" in line]
        assert len(lines) == 1 and "rank 1" in lines[0] and "SIGKILL" in lines[0], err
    stopped = checkpoint.load(cut / "checkpoint.pt").progress.step
    assert 0 < stopped < 1000
    code, _, err = seqgen("train", "--resume", cut, "--nproc", "2", "-q", env=env)
    assert code == 0, err
    got, want = (checkpoint.load(r / "checkpoint.pt") for r in (cut, whole))
    assert got.progress.step == 1000
    for name, tensor in want.model.items():
        assert torch.equal(tensor, got.model[name]), name
    assert rows(cut, "val_nats_per_token") == rows(whole, "val_nats_per_token")


@pytest.mark.slow
def test_resume_on_another_world_size_says_it_is_not_exact(pair, corpus, tmp_path, cli):
    import shutil

    _, two = pair
    run = tmp_path / "run"
    shutil.copytree(two, run)
    os.environ["SEQGEN_CACHE"] = corpus[2]["SEQGEN_CACHE"]
    code, _, err = cli("train", "--resume", run, "--max-steps", "16", "-q")
    assert code == 0, err
    assert "trained by 2 process(es) and continues on 1" in err and "not be bit-exact" in err
    assert checkpoint.load(run / "checkpoint.pt").progress.step == 16


@pytest.mark.parametrize(
    "args",
    [
        ["-d", "mdi"],
        ["-d", "char", "--hidden-size", "-3"],
        ["--resume", "nowhere"],
        ["-d", "char", "--nproc", "0"],
    ],
    ids=["domain", "size", "resume", "nproc"],
)
def test_a_bad_option_under_nproc_is_one_line_before_any_process(args, corpus, cli):
    _, text, _ = corpus
    code, _, err = cli("train", "-c", text, "--nproc", "2", *args)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "error" in err, err


@pytest.mark.slow
def test_a_run_folder_in_use_is_one_line_from_rank_0(pair, corpus):
    _, two = pair
    root, text, env = corpus
    code, _, err = seqgen("train", "-d", "char", "-c", text, "--out", two, "--nproc", "2", env=env)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "already holds a run" in lines[0], err


@pytest.mark.slow
def test_two_processes_keep_one_average_and_resume_it_exactly(corpus):
    """--ema under --nproc 2: every rank averages the same weights; rank 0's checkpoint keeps
    the average and the training weights, and a resumed run ends where an unbroken one does."""
    root, text, env = corpus
    args = ["-d", "char", "-c", text, "--max-steps", "40", "--nproc", "2", "--ema", "0.9", *SMALL]
    whole, cut = root / "ema-whole", root / "ema-cut"
    code, _, err = seqgen("train", *args, "--out", whole, env=env)
    assert code == 0, err
    code, _, err = seqgen("train", *args, "--out", cut, "--stop-after", "20", env=env)
    assert code == 0, err
    code, _, err = seqgen("train", "--resume", cut, "--nproc", "2", "-q", env=env)
    assert code == 0, err
    got, want = (checkpoint.load(r / "checkpoint.pt") for r in (cut, whole))
    assert got.progress.step == want.progress.step == 40
    for name, tensor in want.model.items():
        assert torch.equal(tensor, got.model[name]), name
        assert torch.equal(want.training_weights[name], got.training_weights[name]), name
    assert any(not torch.equal(v, want.training_weights[k]) for k, v in want.model.items())
