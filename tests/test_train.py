"""Training: exact resume, stopping rules, state reset at document boundaries."""

import json

import pytest
import torch

from seqgen import checkpoint

TINY = (
    "--hidden-size",
    "24",
    "--embedding-size",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--dropout",
    "0.2",
    "-q",
)


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(400)))
    return path


def losses(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train_loss"] for r in rows if "train_loss" in r}


@pytest.mark.parametrize(
    "extra",
    [(), ("--weight-drop", "0.4"), ("--ema", "0.9")],
    ids=["dropout", "weight-drop", "ema"],
)
def test_resume_is_exact(cli, tmp_path, text, extra):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    tiny = (*TINY, *extra)
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--out", whole, "--max-steps", "40", "--seed", "5", *tiny
    )
    assert code == 0, err
    code, _, err = cli(
        "train",
        "-d",
        "char",
        "-c",
        text,
        "--out",
        halves,
        "--max-steps",
        "40",
        "--seed",
        "5",
        "--stop-after",
        "20",
        *tiny,
    )
    assert code == 0, err
    assert checkpoint.load(halves / "checkpoint.pt").progress.step == 20
    code, _, err = cli("train", "--resume", halves, "-q")
    assert code == 0, err
    a = checkpoint.load(whole / "checkpoint.pt")
    b = checkpoint.load(halves / "checkpoint.pt")
    assert a.progress.step == b.progress.step == 40
    for name, tensor in a.model.items():
        assert torch.equal(tensor, b.model[name]), name
    assert (a.training_weights is None) == ("--ema" not in extra)
    for name, tensor in (a.training_weights or {}).items():  # with --ema: what training had
        assert torch.equal(tensor, b.training_weights[name]), name
    assert losses(whole) == losses(halves)  # the loss at every logged step, too


def test_resume_with_different_seed_differs(cli, tmp_path, text):
    """The exactness test above can fail: a different seed gives different weights."""
    for seed, name in ((5, "a"), (6, "b")):
        code, _, err = cli(
            "train",
            "-d",
            "char",
            "-c",
            text,
            "--out",
            tmp_path / name,
            "--max-steps",
            "10",
            "--seed",
            str(seed),
            *TINY,
        )
        assert code == 0, err
    a = checkpoint.load(tmp_path / "a" / "checkpoint.pt").model
    b = checkpoint.load(tmp_path / "b" / "checkpoint.pt").model
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_is_not_overwritten(cli, tmp_path, text):
    run = tmp_path / "run"
    assert cli("train", "-d", "char", "-c", text, "--out", run, "--max-steps", "2", *TINY)[0] == 0
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", run, "--max-steps", "2", *TINY)
    assert code == 1 and "--resume" in err and "Traceback" not in err


def test_reset_at_document_boundaries():
    """With reset, a document's logits do not depend on what came before it."""
    from seqgen.models.lstm import LSTMConfig as ModelConfig
    from seqgen.models.lstm import LSTMLanguageModel

    torch.manual_seed(0)
    model = LSTMLanguageModel(
        ModelConfig(vocab_size=7, embedding_size=4, hidden_size=8, num_layers=2, dropout=0.0)
    ).eval()
    doc = torch.tensor([[3, 4, 5, 6, 3]])
    eod = 0
    a = torch.cat([torch.tensor([[1, 2, 2, 1, eod]]), doc], 1)
    b = torch.cat([torch.tensor([[5, 5, 6, 3, eod]]), doc], 1)
    la, _ = model(a, resets=a == eod)
    lb, _ = model(b, resets=b == eod)
    assert torch.allclose(la[0, 4:], lb[0, 4:], atol=1e-6)  # from the end-of-document on
    fresh, _ = model(torch.cat([torch.tensor([[eod]]), doc], 1))  # as sampling starts
    assert torch.allclose(la[0, 4:], fresh[0], atol=1e-6)
    # and without the reset, history leaks in: the check above can fail
    na, _ = model(a)
    nb, _ = model(b)
    assert not torch.allclose(na[0, 4:], nb[0, 4:], atol=1e-4)


def test_stepper_matches_fused_lstm():
    from seqgen.models.lstm import LSTMConfig as ModelConfig
    from seqgen.models.lstm import LSTMLanguageModel

    torch.manual_seed(0)
    model = LSTMLanguageModel(
        ModelConfig(vocab_size=11, embedding_size=6, hidden_size=10, num_layers=3, dropout=0.0)
    ).eval()
    x = torch.randint(0, 11, (2, 9))
    fused, _ = model(x)
    stepper = model.stepper()
    state = stepper.initial_state(2)
    for t in range(9):
        logits, state = stepper.step(x[:, t].numpy(), state)
        assert torch.allclose(torch.from_numpy(logits), fused[:, t], atol=1e-5)


def test_patience_stops_early(cli, tmp_path, text):
    run = tmp_path / "run"
    args = ["--max-steps", "400", "--eval-every", "2", "--patience", "2", "--lr", "0"]
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", run, *args, *TINY)
    assert code == 0, err
    # lr 0: the first validation is the best, the next two do not improve: stop at step 6
    assert checkpoint.load(run / "checkpoint.pt").progress.step == 6
    assert "stopped early: validation stopped improving" in err and "best.pt" in err


def test_bf16_refused_where_unsupported(cli, tmp_path, text):
    from seqgen.hardware import bf16_supported

    if bf16_supported(torch.device("cpu")):
        pytest.skip("this CPU has bf16 LSTM kernels")
    code, _, err = cli(
        "train",
        "-d",
        "char",
        "-c",
        text,
        "--out",
        tmp_path / "r",
        "--max-steps",
        "1",
        "--precision",
        "bf16",
        *TINY,
    )
    assert code == 1 and "bf16" in err and "Traceback" not in err


def test_document_batched_nll_equals_streamed():
    """Scoring many documents batched equals scoring them one by one with resets."""
    import numpy as np

    from seqgen.evaluate import target_logprobs
    from seqgen.models.lstm import LSTMConfig as ModelConfig
    from seqgen.models.lstm import LSTMLanguageModel

    torch.manual_seed(0)
    model = LSTMLanguageModel(
        ModelConfig(vocab_size=9, embedding_size=4, hidden_size=8, num_layers=1, dropout=0.0)
    )
    rng = np.random.default_rng(0)
    ids = [0]
    for _ in range(60):
        ids += list(rng.integers(1, 9, rng.integers(1, 12))) + [0]
    ids = np.array(ids, dtype=np.uint16)
    logp = target_logprobs(model, ids, eod_id=0, streams=4)
    batched, n = -float(logp.sum()), len(logp)
    x = torch.from_numpy(ids[:-1].astype(np.int64))[None]
    logits, _ = model(x, resets=x == 0)
    one = torch.nn.functional.cross_entropy(
        logits[0], torch.from_numpy(ids[1:].astype(np.int64)), reduction="sum"
    ).detach()
    assert n == len(ids) - 1
    assert abs(batched - float(one)) < 1e-3 * n


def test_budget_defaults_only_when_nothing_is_chosen():
    from seqgen.sizing import BUDGET_MODEL, BUDGET_TRAIN, budget_defaults

    if torch.cuda.is_available():
        pytest.skip("budget sizing is for CPUs")
    assert budget_defaults(270, {}, {}) == (BUDGET_MODEL, BUDGET_TRAIN)
    assert budget_defaults(None, {}, {}) == ({}, {})
    assert budget_defaults(3600, {}, {}) == ({}, {})
    assert budget_defaults(270, {"lr": 1e-3}, {}) == ({}, {})
    assert budget_defaults(270, {}, {"hidden_size": 64}) == ({}, {})


def test_sparse_embedding_gradient_trains_like_the_dense_one():
    """SGD's sparse embedding gradient, clipped with the rest, moves every weight as the dense
    gradient does (repeated tokens in a batch included)."""
    from seqgen.models.lstm import LSTMConfig as ModelConfig
    from seqgen.models.lstm import LSTMLanguageModel
    from seqgen.optim import clip_gradients

    cfg = ModelConfig(vocab_size=40, embedding_size=8, hidden_size=16, num_layers=2, dropout=0.0)
    torch.manual_seed(0)
    dense = LSTMLanguageModel(cfg)
    sparse = LSTMLanguageModel(cfg)
    sparse.load_state_dict(dense.state_dict())
    sparse.embed.sparse = True
    start = dense.embed.weight.detach().clone()
    opts = [torch.optim.SGD(m.parameters(), lr=5.0) for m in (dense, sparse)]
    for _ in range(5):
        x = torch.randint(0, 10, (3, 12))  # few distinct tokens: rows repeat within a batch
        y = torch.randint(0, 40, (3, 12))
        norms = []
        for model, opt in zip((dense, sparse), opts, strict=True):
            opt.zero_grad(set_to_none=True)
            model.loss(x, y)[0].backward()
            norms.append(float(clip_gradients(model.parameters(), 0.05)))
            opt.step()
        assert sparse.embed.weight.grad.is_sparse
        assert norms[0] == pytest.approx(norms[1], rel=1e-5)
        assert norms[0] > 0.05  # so the clipping really scaled both
    for name, tensor in dense.state_dict().items():
        assert torch.allclose(tensor, sparse.state_dict()[name], atol=1e-5), name
    moved = (sparse.embed.weight.detach() != start).any(1)
    assert moved[:10].all() and not moved[10:].any()  # exactly the rows the batches used


@pytest.mark.parametrize(
    ("extra", "sparse"),
    [
        (("--optimizer", "sgd"), True),
        (("--optimizer", "adamw"), False),
        (("--optimizer", "sgd", "--tie-weights", "--hidden-size", "8"), False),
    ],
)
def test_sgd_gets_a_sparse_embedding_gradient(cli, tmp_path, text, monkeypatch, extra, sparse):
    from seqgen import trainer as train

    seen = []
    real = train.Trainer.train_step

    def spy(self):
        loss = real(self)
        seen.append(self.model.embed.weight.grad.is_sparse)
        return loss

    monkeypatch.setattr(train.Trainer, "train_step", spy)
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--out", tmp_path / "r", "--max-steps", "3", *TINY,
        *extra,
    )  # fmt: skip
    assert code == 0, err
    assert seen == [sparse] * 3


def test_a_new_run_starts_the_head_at_unigram_frequencies(tmp_path):
    """Tokens the training split never uses start far below the ones it uses, in their
    add-one smoothed proportions; a resumed run keeps its trained bias."""
    import numpy as np

    from seqgen import run

    path = tmp_path / "t.txt"
    path.write_text("aab" * 300)
    job = run.start(
        "char", path, tmp_path / "r", model={"embedding_size": 8, "hidden_size": 16,
        "num_layers": 1, "dropout": 0.0}, train={"max_steps": 1, "sample_length": 0},
    )  # fmt: skip
    trainer, data = job.trainer, job.data
    V = data.tokenizer.vocab_size
    counts = np.bincount(data.tokens("train"), minlength=V) + 1.0
    bias = trainer.model.head.bias.detach().numpy()
    assert bias == pytest.approx(np.log(counts / counts.sum()), abs=1e-5)
    a, b = data.tokenizer.encode("a")[0], data.tokenizer.encode("b")[0]
    assert bias[a] - bias[b] == pytest.approx(np.log(2), abs=0.01)
    assert bias.min() < bias[b] - 5  # unused ids (the eod token aside) start far down


def test_a_stop_asked_for_does_not_wait_for_a_validation(tmp_path, text):
    """Ctrl-C or SIGTERM arriving just before a validation is due stops at once: scoring a
    large validation split first (a 33k-word softmax took 4.5 minutes) is not a prompt stop."""
    from seqgen import run
    from seqgen.trainer import Callback

    job = run.start("char", text, tmp_path / "r", train={"max_steps": 50, "eval_every": 5,
                    "batch_size": 4, "seq_len": 16}, model={"hidden_size": 16,
                    "embedding_size": 8})  # fmt: skip

    class AskAt(Callback):
        def on_step(self, trainer):
            if trainer.progress.step == 10:  # a validation is due after this step
                trainer.stop_requested = True

    job.trainer.callbacks.append(AskAt())
    summary = job.train()
    assert summary["interrupted"] and summary["step"] == 10
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_nats_per_token" in r] == [5]
    assert checkpoint.load(tmp_path / "r" / "checkpoint.pt").progress.step == 10
