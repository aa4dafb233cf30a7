"""Control labels at generation time (docs/labels.md): the prime every key gets, labels the
model draws itself, classifier-free guidance, and the one-line errors."""

from __future__ import annotations

import pytest
from test_labels import corpus

from seqgen.errors import SeqgenError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A labelled run, trained a few steps through the CLI and resumed."""
    tmp = tmp_path_factory.mktemp("labelled")
    root = corpus(tmp / "c", n=6)
    import seqgen

    run = seqgen.train(
        "char", root, tmp / "run", labels_from_folders="style", max_steps=20,
        hidden_size=32, embedding_size=16, batch_size=4, seq_len=32,
    )  # fmt: skip
    return run.dir


def test_a_labelled_run_resumes_and_keeps_its_table(run_dir):
    from seqgen import checkpoint
    from seqgen.run import resume

    before = checkpoint.load(run_dir / "checkpoint.pt")
    assert sorted(map(tuple, before.tokenizer.labels)) == [("style", "aaa"), ("style", "bbb")]
    assert before.run.labels["folders"] == "style"
    job = resume(run_dir, train={"max_steps": 25})
    job.train()
    after = checkpoint.load(run_dir / "checkpoint.pt")
    assert after.progress.step == 25 and after.tokenizer.labels == before.tokenizer.labels


def test_generate_with_a_label_primes_its_control_id(run_dir, cli):
    import seqgen

    model = seqgen.load(run_dir)
    table = model.labels
    seen = []
    real = model.model.forward

    def spy(x, *a, **k):
        seen.append(x[0].tolist())
        return real(x, *a, **k)

    model.model.forward = spy
    model.generate(labels={"style": "bbb"}, length=5, seed=1, prime="x")
    eod = model.tokenizer.eod_id
    assert seen[0][:2] == [eod, table.ids({"style": "bbb"})[0]]
    code, out, err = cli("generate", run_dir, "--label", "style=aaa", "-n", "10", "--seed", "1")
    assert code == 0, err


def test_slots_fill_every_key_in_training_order():
    from seqgen.labels import LabelTable

    table = LabelTable(10, [("mode", "minor"), ("key", "A"), ("key", "G"), ("mode", "major")])
    assert table.slots({}) == ((11, 12), (10, 13))  # key before mode, each of its ids
    assert table.slots({"mode": "major"}) == ((11, 12), (13,))
    assert table.slots({"key": "G", "mode": "minor"}) == ((12,), (10,))


def test_a_label_not_asked_for_is_drawn_from_the_model(run_dir):
    """Training always wrote a style id after the end-of-document, so sampling without one
    draws it from the model, for each sample: it follows the model's probabilities."""
    import torch

    import seqgen

    model = seqgen.load(run_dir)
    ids = {v: model.labels.ids({"style": v})[0] for v in ("aaa", "bbb")}
    firsts = []
    real = model.model.forward

    def spy(x, *a, **k):
        if x.shape[1] > 2:  # the pass over end-of-document, control and prime
            firsts.extend(x[:, 1].tolist())
        return real(x, *a, **k)

    model.model.forward = spy
    for favoured in ("aaa", "bbb"):
        firsts.clear()
        with torch.no_grad():
            model.model.head.bias[ids[favoured]] += 50.0
            model.generate_ids(prime_ids=[1, 2], length=3, num_samples=8, seed=0)
            model.model.head.bias[ids[favoured]] -= 50.0
        assert firsts == [ids[favoured]] * 8
    with torch.no_grad():  # the two equally likely: both drawn among 40 samples
        model.model.head.bias[ids["aaa"]] = model.model.head.bias[ids["bbb"]]
        model.model.head.weight[ids["aaa"]] = model.model.head.weight[ids["bbb"]]
    firsts.clear()
    model.generate_ids(prime_ids=[1, 2], length=3, num_samples=40, seed=0)
    assert set(firsts) == set(ids.values())
    firsts.clear()
    model.generate_ids(prime_ids=[1, 2], labels={"style": "aaa"}, length=3, num_samples=5)
    assert firsts == [ids["aaa"]] * 5


def test_guidance_moves_toward_what_the_label_changes():
    import numpy as np

    from seqgen.decode import guided, log_softmax

    cond = np.log(np.array([[0.5, 0.3, 0.2]]))
    free = np.log(np.array([[0.6, 0.2, 0.2]]))  # the label raised token 1 from 0.2 to 0.3
    assert np.allclose(guided(cond, free, 0.0), log_softmax(cond))
    p = np.exp(log_softmax(guided(cond, free, 3.0)))[0]
    assert p.argmax() == 1 and p[1] > 0.5  # w = 3: 0.5 (0.5/0.6)^3 < 0.3 (0.3/0.2)^3


def test_generate_with_guidance(run_dir, cli):
    import seqgen

    model = seqgen.load(run_dir)
    a = model.generate_ids(labels={"style": "aaa"}, guidance=2.0, length=30, num_samples=3, seed=4)
    b = model.generate_ids(labels={"style": "aaa"}, length=30, num_samples=3, seed=4)
    assert a != b and all(0 <= i < model.tokenizer.vocab_size for s in a for i in s)
    code, out, err = cli("generate", run_dir, "-l", "style=bbb", "--guidance", "1.5", "-n", "20")
    assert code == 0, err


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--guidance", "2"], "--guidance steers toward a --label: give one"),
        (["-l", "style=aaa", "--guidance", "-1"], "--guidance -1.0: give a weight from 0 to 20"),
        (["-l", "style=aaa", "--guidance", "nan"], "--guidance nan: give a weight from 0 to 20"),
        (["-l", "style=aaa", "--guidance", "1", "--beam", "2"], "--guidance is for sampling"),
    ],
)
def test_guidance_errors_are_one_line(run_dir, cli, extra, says):
    code, out, err = cli("generate", run_dir, *extra)
    assert code != 0 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqgen: error: {says}"), err


def test_control_ids_are_never_sampled(run_dir):
    import torch

    import seqgen

    model = seqgen.load(run_dir)
    base = model.tokenizer.vocab_size
    with torch.no_grad():  # make the control ids by far the likeliest outputs
        model.model.head.bias[base:] += 100.0
    ids = model.generate_ids(length=50, num_samples=3, seed=0)
    assert all(0 <= i < base for s in ids for i in s)
    assert all(0 <= i < base for i in model.generate_ids(length=20, greedy=True)[0])


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("style=ccc", "--label style=ccc: the run knows style=aaa, bbb"),
        ("mood=x", "--label mood=x: the run knows style=aaa, bbb"),
        ("style", "expected key=value"),
    ],
)
def test_generate_label_errors_are_one_line(run_dir, cli, label, says):
    code, out, err = cli("generate", run_dir, "--label", label, "-n", "5")
    assert code != 0 and says in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_label_on_a_run_without_labels_is_one_line(cli, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n" * 50)
    code, _, err = cli(
        "train", "-d", "char", "-c", tmp_path / "a.txt", "--out", tmp_path / "r", "-q",
        "--max-steps", "2", "--hidden-size", "16", "--embedding-size", "8",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = cli("generate", tmp_path / "r", "--label", "a=b", "-n", "3")
    assert code != 0 and "trained without labels" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SeqgenError, match="trained without labels"):
        import seqgen

        seqgen.load(tmp_path / "r").generate(labels={"a": "b"}, length=3)
