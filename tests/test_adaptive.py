"""The adaptive softmax: the same distribution through every path (fused, loss, NumPy stepper)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqgen import checkpoint
from seqgen.models.lstm import LSTMConfig as ModelConfig
from seqgen.models.lstm import LSTMLanguageModel

V = 50


def adaptive_model(seed: int = 0, tie: bool = False) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=V,
        embedding_size=16 if tie else 8,  # tied: the head is embedding-wide, tails 16/4, 16/16
        hidden_size=32,
        num_layers=2,
        dropout=0.0,
        tie_weights=tie,
        adaptive_cutoffs=[5, 20],
    )
    model = LSTMLanguageModel(cfg)
    counts = np.random.default_rng(seed).integers(0, 1000, V)
    model.start_from_counts(counts)
    return model.eval()


def test_frequency_order_puts_frequent_tokens_in_the_head():
    model = adaptive_model()
    counts = np.random.default_rng(0).integers(0, 1000, V)
    head = set(np.argsort(-counts, kind="stable")[:5].tolist())
    assert set(torch.nonzero(model.rank < 5).flatten().tolist()) == head
    assert sorted(model.rank.tolist()) == list(range(V))  # a permutation


@pytest.mark.parametrize("tie", [False, True])
def test_log_probs_normalise_and_loss_agrees(tie):
    model = adaptive_model(tie=tie)
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


@pytest.mark.parametrize("tie", [False, True])
def test_every_adaptive_path_runs_under_bf16_autocast(tie):
    """Training under --precision bf16 (auto on CPUs with AVX512-BF16 or AMX): the head runs in
    fp32, so the log-probabilities still normalise and the losses agree with them."""
    from seqgen.hardware import bf16_supported

    if not bf16_supported(torch.device("cpu")):
        pytest.skip("this CPU has no bf16 LSTM kernels")
    model = adaptive_model(tie=tie).train()
    x = torch.randint(0, V, (3, 7))
    y = torch.randint(0, V, (3, 7))
    y[0, :2] = -100
    with torch.autocast("cpu", torch.bfloat16):
        logp, _ = model(x)
        mean, _ = model.loss(x, y)
        each, _ = model.loss(x, y, reduction="none")
    assert logp.dtype == each.dtype == torch.float32
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 7), atol=1e-5)
    want = -logp.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1)[y != -100]
    assert torch.allclose(each[y != -100], want, atol=1e-4)
    assert torch.allclose(mean, want.mean(), atol=1e-4)
    mean.backward()
    assert all(p.grad is not None for p in model.adaptive.parameters() if p.requires_grad)


@pytest.mark.parametrize("tie", [False, True])
def test_stepper_matches_fused_adaptive_model(tie):
    model = adaptive_model(1, tie)
    x = torch.randint(0, V, (2, 9))
    fused, _ = model(x)
    stepper = model.stepper()
    state = stepper.initial_state(2)
    for t in range(9):
        logp, state = stepper.step(x[:, t].numpy(), state)
        assert np.allclose(logp, fused[:, t].detach().numpy(), atol=1e-5)


def test_tied_head_reads_the_frequent_tokens_embeddings():
    model = adaptive_model(2, tie=True)
    top = torch.argsort(model.rank)[:5]
    head = model.adaptive.head.weight
    assert torch.equal(head[:5], model.embed.weight[top]) and head.shape == (5 + 2, 16)
    state = model.state_dict()
    assert "adaptive.head.cluster_weight" in state and "adaptive.head.weight" not in state
    assert sum(k.endswith("embed.weight") for k in state) == 1  # stored once
    order = model.rank.argsort()
    x, y = order[30:42].view(2, 6), order[:2].repeat(2, 3)  # rare inputs, head targets
    model.loss(x, y)[0].backward()
    assert model.embed.weight.grad[top[:2]].abs().sum() > 0  # the output side reaches it
    copy = adaptive_model(3, tie=True)
    copy.load_state_dict(state)
    assert torch.equal(copy(x)[0], model(x)[0])


@pytest.fixture
def words(tmp_path):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    p = 1.0 / np.arange(1, 301)
    lines = [" ".join(rng.choice(vocab, 12, p=p / p.sum())) + "." for _ in range(600)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("tie", [False, True])
def test_cli_trains_generates_evaluates_and_resumes(cli, tmp_path, words, tie):
    run = tmp_path / "run"
    args = ["train", "-d", "word", "-c", words, "--out", run, "-q", "--hidden-size", "16"]
    args += ["--embedding-size", "16" if tie else "8", "--batch-size", "4", "--seq-len", "8"]
    args += ["--tie-weights"] if tie else []
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


def test_clip_weight_decay_and_tail_width_reach_the_checkpoint(cli, tmp_path, words):
    run = tmp_path / "run"
    args = ["train", "-d", "word", "-c", words, "--out", run, "-q", "--hidden-size", "16"]
    args += ["--embedding-size", "8", "--batch-size", "4", "--seq-len", "8", "--max-steps", "3"]
    args += ["--adaptive-softmax", "20,100", "--adaptive-div", "2", "--optimizer", "sgd"]
    code, _, err = cli(*args, "--lr", "20", "--clip", "0.25", "--weight-decay", "0")
    assert code == 0, err
    ckpt = checkpoint.load(run / "checkpoint.pt")
    assert ckpt.train_config.clip == 0.25 and ckpt.train_config.weight_decay == 0
    assert ckpt.model_config["adaptive_div"] == 2
    # tails of 16/2 and 16/4 units instead of 16/4 and 16/16
    assert ckpt.model["adaptive.tail.0.0.weight"].shape == (8, 16)
    assert ckpt.model["adaptive.tail.1.0.weight"].shape == (4, 16)


def test_adaptive_div_needs_adaptive_softmax(cli, tmp_path, words):
    args = ["train", "-d", "word", "-c", words, "--out", tmp_path / "r", "--max-steps", "1"]
    code, _, err = cli(*args, "--adaptive-div", "2")
    assert code != 0 and "--adaptive-div needs --adaptive-softmax" in err
    assert "Traceback" not in err and not (tmp_path / "r" / "checkpoint.pt").exists()


def test_a_tail_without_units_is_a_one_line_error(cli, tmp_path, words):
    args = ["train", "-d", "word", "-c", words, "--out", tmp_path / "r", "--max-steps", "1"]
    args += ["--hidden-size", "16", "--adaptive-softmax", "20,100", "--adaptive-div", "8"]
    code, _, err = cli(*args)
    assert code != 0 and "last tail would have no units" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()
