"""Weight averaging (--ema): the running average's arithmetic, that validation, best.pt and
eval use the average while training goes on from its own weights, and bad values."""

import json
import math

import numpy as np
import pytest
import torch

from seqgen import checkpoint
from seqgen.average import WeightAverage
from seqgen.evaluate import target_logprobs

TINY = ("--hidden-size", "24", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16")


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"line {i}: the quick brown fox, {i * 7 % 13}\n" for i in range(400)))
    return path


def test_the_average_follows_the_weights_with_a_warm_up():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    avg = WeightAverage(model, decay=0.9)
    want = [p.detach().clone() for p in model.parameters()]
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        avg.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        want = [
            d * w + (1 - d) * p.detach() for w, p in zip(want, model.parameters(), strict=False)
        ]
    for got, w in zip(avg.shadow, want, strict=False):
        assert torch.allclose(got, w, atol=1e-6)
    own = [p.detach().clone() for p in model.parameters()]
    with avg.applied():
        assert all(torch.equal(p, w) for p, w in zip(model.parameters(), avg.shadow, strict=False))
    assert all(torch.equal(p, o) for p, o in zip(model.parameters(), own, strict=False))  # put back
    assert torch.equal(avg.state_dict()["weight"], avg.shadow[0])


def test_validation_best_pt_and_eval_score_the_average(cli, tmp_path, text):
    out = tmp_path / "run"
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--out", out, "--max-steps", "60", "--ema", "0.95",
        "--eval-every", "30", "--lr", "0.01", "-q", *TINY,
    )  # fmt: skip
    assert code == 0, err
    ckpt = checkpoint.load(out / "checkpoint.pt")
    assert ckpt.train_config.ema == 0.95 and ckpt.training_weights is not None
    assert any(not torch.equal(v, ckpt.training_weights[k]) for k, v in ckpt.model.items())
    model, tok = checkpoint.build(ckpt)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "val_nats_per_token" in r][-1]
    code, report, err = cli("eval", out / "checkpoint.pt", "--json")
    assert code == 0, err
    assert math.isclose(
        json.loads(report)["nats_per_token"], last["val_nats_per_token"], rel_tol=1e-4
    )
    raw, _ = checkpoint.build(
        checkpoint.Checkpoint(**{**vars(ckpt), "model": ckpt.training_weights})
    )
    ids = np.asarray(tok.encode(text.read_text()[-2000:]))
    avg_nll = -target_logprobs(model, ids).mean()
    raw_nll = -target_logprobs(raw, ids).mean()
    assert avg_nll != raw_nll  # two different models were kept


def test_ema_on_resume_starts_an_average_and_off_drops_it(cli, tmp_path, text):
    out = tmp_path / "run"
    base = ("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "40", "-q", *TINY)
    assert cli(*base, "--stop-after", "10")[0] == 0
    assert checkpoint.load(out / "checkpoint.pt").training_weights is None
    code, _, err = cli("train", "--resume", out, "--ema", "0.9", "--stop-after", "10", "-q")
    assert code == 0, err
    assert checkpoint.load(out / "checkpoint.pt").training_weights is not None
    code, _, err = cli("train", "--resume", out, "--ema", "0", "-q")
    assert code == 0, err
    ckpt = checkpoint.load(out / "checkpoint.pt")
    assert ckpt.progress.step == 40 and ckpt.training_weights is None


def test_training_weights_that_do_not_fit_are_one_line_on_resume(cli, tmp_path, text):
    out = tmp_path / "run"
    base = ("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "40", "-q", *TINY)
    assert cli(*base, "--ema", "0.9", "--stop-after", "10")[0] == 0
    raw = torch.load(out / "checkpoint.pt", weights_only=True)
    raw["training_weights"] = {k: v[..., :1].clone() for k, v in raw["training_weights"].items()}
    torch.save(raw, out / "checkpoint.pt")
    code, _, err = cli("train", "--resume", out, "-q")
    lines = err.splitlines()
    assert code == 1 and "do not fit" in lines[-1] and "Traceback" not in err, err
    assert all(line.startswith("seqgen: ") for line in lines), err  # notes, then one error


@pytest.mark.parametrize("bad", ["-0.1", "1", "1.5", "nan"])
def test_an_impossible_decay_is_one_line(cli, tmp_path, text, bad):
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--out", tmp_path / "r", "--max-steps", "2",
        "--ema", bad, "-q", *TINY,
    )  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "--ema" in err, err
    assert not (tmp_path / "r").exists()
