"""The adaptive softmax: the same distribution through every path (fused, loss, NumPy stepper)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqgen.model import LSTMLanguageModel, ModelConfig, Stepper

V = 50


def adaptive_model(seed: int = 0) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=V,
        embedding_size=8,
        hidden_size=32,
        num_layers=2,
        dropout=0.0,
        adaptive_cutoffs=[5, 20],
    )
    model = LSTMLanguageModel(cfg)
    counts = np.random.default_rng(seed).integers(0, 1000, V)
    model.set_frequency_order(counts)
    return model.eval()


def test_frequency_order_puts_frequent_tokens_in_the_head():
    model = adaptive_model()
    counts = np.random.default_rng(0).integers(0, 1000, V)
    head = set(np.argsort(-counts, kind="stable")[:5].tolist())
    assert set(torch.nonzero(model.rank < 5).flatten().tolist()) == head
    assert sorted(model.rank.tolist()) == list(range(V))  # a permutation


def test_log_probs_normalise_and_loss_agrees():
    model = adaptive_model()
    x = torch.randint(0, V, (3, 7))
    y = torch.randint(0, V, (3, 7))
    logp, _ = model(x)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 7), atol=1e-5)
    want = -logp.gather(-1, y[..., None]).squeeze(-1)
    got, _ = model.loss(x, y, reduction="sum")
    assert torch.allclose(got, want.sum(), atol=1e-4)
    mean, _ = model.loss(x, y)
    assert torch.allclose(mean, want.mean(), atol=1e-5)
    y[0, :3] = -100  # ignored targets, as document-batched evaluation pads with
    got, _ = model.loss(x, y, reduction="sum")
    assert torch.allclose(got, want[y != -100].sum(), atol=1e-4)


def test_stepper_matches_fused_adaptive_model():
    model = adaptive_model(1)
    x = torch.randint(0, V, (2, 9))
    fused, _ = model(x)
    stepper = Stepper(model)
    state = stepper.initial_state(2)
    for t in range(9):
        logp, state = stepper.step(x[:, t].numpy(), state)
        assert np.allclose(logp, fused[:, t].detach().numpy(), atol=1e-5)


@pytest.fixture
def words(tmp_path):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    p = 1.0 / np.arange(1, 301)
    lines = [" ".join(rng.choice(vocab, 12, p=p / p.sum())) + "." for _ in range(600)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_trains_generates_evaluates_and_resumes(cli, tmp_path, words):
    run = tmp_path / "run"
    args = ["train", "-d", "word", "-c", words, "--out", run, "-q", "--hidden-size", "16"]
    args += ["--embedding-size", "8", "--batch-size", "4", "--seq-len", "8"]
    args += ["--adaptive-softmax", "20,100", "--max-steps", "12", "--eval-every", "6"]
    code, _, err = cli(*args, "--stop-after", "6")
    assert code == 0, err
    code, _, err = cli("train", "--resume", run, "-q")
    assert code == 0, err
    whole = tmp_path / "whole"
    code, _, err = cli(*[whole if a == run else a for a in args])
    assert code == 0, err
    for name in ("checkpoint.pt",):
        a = torch.load(run / name, weights_only=True)["model"]
        b = torch.load(whole / name, weights_only=True)["model"]
        assert a.keys() == b.keys() and "rank" in a
        assert all(torch.equal(a[k], b[k]) for k in a)
    code, out, err = cli("generate", run, "--length", "30", "--seed", "3")
    assert code == 0 and out.strip(), err
    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    assert 0 < json.loads(out)["nats_per_token"] < np.log(400)


@pytest.mark.parametrize(
    ("value", "message"),
    [("10,5", "increasing"), ("abc", "increasing"), ("20,100000", "below the vocabulary")],
)
def test_bad_cutoffs_are_one_line_errors(cli, tmp_path, words, value, message):
    code, _, err = cli(
        "train",
        "-d",
        "word",
        "-c",
        words,
        "--out",
        tmp_path / "r",
        "--max-steps",
        "1",
        "--adaptive-softmax",
        value,
    )
    assert code != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
