"""Behaviour pinned across refactors: a seeded run gives the same losses and samples as the
commit recorded in tests/data/golden.json (made by tests/data/make_golden.py), and checkpoints
written by that commit (format 1) still load and sample the same."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import make_golden  # noqa: E402

GOLDEN = json.loads((DATA / "golden.json").read_text())


@pytest.mark.parametrize("variant", sorted(GOLDEN))
def test_seeded_run_matches_the_recorded_losses_and_sample(tmp_path, variant):
    got = make_golden.train_and_sample(tmp_path, variant)
    want = GOLDEN[variant]
    for key in ("train_loss", "val_nats_per_token"):
        steps = {str(k): v for k, v in got[key].items()}
        assert steps.keys() == want[key].keys()
        for step, value in want[key].items():
            assert steps[step] == pytest.approx(value, rel=1e-5, abs=1e-6), (key, step)
    assert got["sample"] == want["sample"]


@pytest.mark.parametrize("variant", sorted(GOLDEN))
def test_a_checkpoint_of_format_1_loads_and_samples_the_same(cli, tmp_path, variant):
    from seqgen import checkpoint

    old = tmp_path / "old.pt"
    shutil.copy(DATA / f"golden-{variant}.pt", old)
    ckpt = checkpoint.load(old)
    assert ckpt.arch == "lstm" and ckpt.progress.step == 60
    out = tmp_path / "sample.txt"
    code, _, err = cli("generate", old, "--out", out, *make_golden.GENERATE)
    assert code == 0, err
    assert out.read_text() == GOLDEN[variant]["sample"]
