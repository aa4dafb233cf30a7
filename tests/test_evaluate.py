"""Scoring a long text in parallel streams: the warm-up before each cut, the precision, and
how often a time-planned run validates."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

from seqgen import models
from seqgen.config import TrainConfig
from seqgen.evaluate import target_logprobs
from seqgen.hardware import bf16_supported
from seqgen.schedule import VALIDATION_SHARE, Schedule

EOD = 0


@functools.cache
def model_with_memory():
    """A small LSTM trained for a moment on a text whose next token depends on the last few,
    so the state carries information across a cut."""
    torch.manual_seed(0)
    cfg = models.config_of("lstm", {"vocab_size": 9, "hidden_size": 24, "embedding_size": 8})
    model = models.build("lstm", cfg)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    ids = torch.from_numpy(text(4096, seed=1).astype(np.int64)).view(32, 128)
    for _ in range(60):
        loss, _ = model.loss(ids[:, :-1], ids[:, 1:], None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def text(n: int, seed: int) -> np.ndarray:
    """Runs of one symbol (1-8) whose length is the symbol: what comes next depends on how
    long the current run has lasted."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < n:
        s = int(rng.integers(1, 9))
        out += [s] * s
    return np.array(out[:n], dtype=np.int64)


def test_a_warm_up_makes_the_streams_what_one_stream_gives():
    model, ids = model_with_memory(), text(6000, seed=2)
    seq = target_logprobs(model, ids, streams=1, warmup=0)
    cold = target_logprobs(model, ids, streams=8, chunk=64, warmup=0)
    warm = target_logprobs(model, ids, streams=8, chunk=64, warmup=64)
    assert abs(cold.sum() - seq.sum()) > 1e-3  # the cuts cost something without the warm-up
    np.testing.assert_allclose(warm, seq, atol=1e-4)  # and nothing with it


def test_an_end_of_document_inside_the_warm_up_makes_it_exact():
    """The state resets after an end-of-document token, so a warm-up that reaches back past
    one starts the stream exactly where one stream would be."""
    ids = text(6000, seed=3)
    m = (len(ids) - 1) // 4
    for k in (1, 2, 3):
        ids[k * m - 10] = EOD  # 10 tokens before each cut
    model = model_with_memory()
    seq = target_logprobs(model, ids, EOD, streams=1, warmup=0)
    warm = target_logprobs(model, ids, EOD, streams=4, chunk=64, warmup=16)
    cold = target_logprobs(model, ids, EOD, streams=4, chunk=64, warmup=0)
    np.testing.assert_allclose(warm, seq, rtol=0, atol=1e-5)
    assert np.abs(cold - seq).max() > 1e-3


@pytest.mark.parametrize("world", [2, 3])
def test_warmed_shares_still_sum_to_the_whole(world):
    model, ids = model_with_memory(), text(6000, seed=4)
    whole = target_logprobs(model, ids, streams=6, chunk=64)
    parts = [
        target_logprobs(model, ids, streams=6, chunk=64, share=(r, world)) for r in range(world)
    ]
    np.testing.assert_allclose(np.sum(parts, axis=0), whole, rtol=0, atol=1e-5)


@pytest.mark.skipif(not bf16_supported(torch.device("cpu")), reason="no bf16 kernels here")
def test_bf16_scoring_is_close_to_fp32_and_not_the_same():
    model, ids = model_with_memory(), text(3000, seed=5)
    fp32 = target_logprobs(model, ids, streams=4, chunk=64)
    bf16 = target_logprobs(model, ids, streams=4, chunk=64, precision="bf16")
    assert not np.array_equal(fp32, bf16)  # autocast was on
    assert abs(fp32.mean() - bf16.mean()) < 0.02


def schedule(max_time: float) -> Schedule:
    return Schedule(TrainConfig(max_time=max_time), steps_per_epoch=100)


def test_a_time_planned_run_validates_every_tenth_of_its_budget():
    s = schedule(100.0)
    assert not s.eval_due(50, 19.9, last_eval_seconds=10.0, last_cost=0.1)
    assert s.eval_due(50, 20.0, last_eval_seconds=10.0, last_cost=0.1)


def test_a_slow_validation_spaces_the_next_ones_out():
    """A validation that took 5 s of a 100 s plan: the next waits until 5 s is only
    VALIDATION_SHARE of the time since (57.5 s of training at 8%)."""
    s = schedule(100.0)
    wait = 5.0 / VALIDATION_SHARE - 5.0
    assert not s.eval_due(50, 10.0 + wait - 0.1, last_eval_seconds=10.0, last_cost=5.0)
    assert s.eval_due(50, 10.0 + wait, last_eval_seconds=10.0, last_cost=5.0)


def test_validation_rows_say_how_long_they_took(cli, tmp_path):
    corpus, out = tmp_path / "corpus.txt", tmp_path / "run"
    corpus.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(400)))
    code, _, err = cli(
        "train", "-d", "char", "-c", str(corpus), "--out", str(out), "--max-steps", "20",
        "--eval-every", "10", "--hidden-size", "16", "--embedding-size", "8", "-q",
    )  # fmt: skip
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_nats_per_token" in r]
    assert len(vals) == 2
    assert all(r["val_seconds"] > 0 and r["wall"] >= r["val_seconds"] for r in vals)
    assert vals[1]["wall"] > vals[0]["wall"]
