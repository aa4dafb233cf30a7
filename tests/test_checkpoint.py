"""Checkpoints: self-contained, atomic, and never executing code from the file on load."""

import os
import pickle
import zipfile

import pytest
import torch

from seqgen import checkpoint
from seqgen.errors import CheckpointError

TINY = ("--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8", "-q")


def test_checkpoint_is_self_contained(run):
    ckpt = checkpoint.load(run / "checkpoint.pt")
    assert ckpt.arch == "lstm" and ckpt.model and ckpt.optimizer and ckpt.rng
    assert ckpt.progress.step == 3 and ckpt.train_config.batch_size == 2
    assert ckpt.model_config["hidden_size"] == 16
    assert ckpt.tokenizer.domain == "char" == ckpt.run.domain
    assert ckpt.tokenizer.state["chars"] == "\nabcd"
    assert ckpt.versions["seqgen"] and ckpt.versions["torch"]
    model, tok = checkpoint.build(ckpt)  # nothing but the file is needed
    assert tok.vocab_size == model.config.vocab_size


class Exploit:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_checkpoint_is_refused(cli, run, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    payload["extra"] = Exploit(marker)
    torch.save(payload, evil)  # a real torch zip file with a real payload inside
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(evil)
    assert not marker.exists()
    # the payload is real: an unsafe loader would have run it
    torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()
    code, _, err = cli("generate", evil, "-n", "5")
    assert code == 1 and "refused" in err and "Traceback" not in err
    assert not marker.exists()


def test_plain_pickle_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Exploit(tmp_path / "x")))
    with pytest.raises(CheckpointError):
        checkpoint.load(evil)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.9])
def test_truncated_checkpoint_is_a_clear_error(cli, run, tmp_path, keep):
    data = (run / "checkpoint.pt").read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="broken.pt"):
        checkpoint.load(broken)
    code, _, err = cli("eval", broken)
    assert code == 1 and err.count("\n") == 1 and "broken.pt" in err


def test_not_a_checkpoint(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a seqgen checkpoint"):
        checkpoint.load(other)
    with pytest.raises(CheckpointError, match="no such"):
        checkpoint.load(tmp_path / "missing.pt")


def test_save_is_atomic(run, tmp_path, monkeypatch):
    """A crash while writing leaves the previous checkpoint intact and no temp file."""
    path = run / "checkpoint.pt"
    before = path.read_bytes()
    payload = checkpoint.load(path)

    def crash(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, payload)
    assert path.read_bytes() == before
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == []
    assert zipfile.is_zipfile(path)


def test_loaded_tensors_are_on_cpu(run, tmp_path):
    """Loading maps every tensor to the CPU (map_location), whatever device saved it."""
    payload = checkpoint.load(run / "checkpoint.pt")
    assert all(t.device.type == "cpu" for t in payload.model.values())


def _tamper(run, tmp_path, change):
    raw = torch.load(run / "checkpoint.pt", weights_only=True)
    change(raw)
    path = tmp_path / "tampered.pt"
    torch.save(raw, path)
    return path


TAMPERED = {
    "unknown config key": lambda r: r["train_config"].update(bogus=1),
    "missing config key": lambda r: r["model_config"].pop("hidden_size"),
    "mistyped config": lambda r: r["train_config"].update(batch_size="many"),
    "mistyped model config": lambda r: r["model_config"].update(num_layers=2.5),
    "no weights": lambda r: r.update(model=[1, 2]),
    "non-finite weights": lambda r: r["model"]["lstm.weight_hh_l0"].fill_(float("nan")),
    "shrunk vocabulary": lambda r: r["tokenizer"].update(state='{"chars": "ab"}'),
    "tokenizer not json": lambda r: r["tokenizer"].update(state="{not json"),
    "swapped domain": lambda r: r["tokenizer"].update(domain="markup"),
    "unknown arch": lambda r: r.update(arch="transformer9000"),
    "cache nonsense": lambda r: r.update(cache={"weights": "x"}),
    "bad progress": lambda r: r["progress"].update(step="ten"),
    "nested json": lambda r: r["tokenizer"].update(state="[" * 100_000 + "]" * 100_000),
    "state a list": lambda r: r.update(stream_state=[1, 2]),
    "training weights a list": lambda r: r.update(training_weights=[1]),
    "training weights short of one": lambda r: r.update(
        training_weights={k: v for k, v in list(r["model"].items())[1:]}
    ),
    "training weights not finite": lambda r: r.update(
        training_weights={k: torch.full_like(v, float("inf")) for k, v in r["model"].items()}
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_checkpoint_is_one_line(cli, run, tmp_path, case):
    path = _tamper(run, tmp_path, TAMPERED[case])
    code, out, err = cli("eval", path)
    assert code == 1, (case, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err and "tampered.pt" in err, err


def test_a_huge_declared_model_is_refused_before_allocating(run, tmp_path):
    """A small file that declares a model of billions of weights: refused by comparing shapes on
    the meta device, not by allocating them."""
    import resource

    path = _tamper(run, tmp_path, lambda r: r["model_config"].update(hidden_size=200_000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="do not match"):
        checkpoint.build(checkpoint.load(path))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200


def test_resuming_with_another_domains_checkpoint_is_refused(cli, run, tmp_path):
    path = _tamper(run, tmp_path, lambda r: r["run"].update(domain="word"))
    (tmp_path / "other").mkdir()
    path.rename(tmp_path / "other" / "checkpoint.pt")
    code, _, err = cli("train", "--resume", tmp_path / "other", "-q")
    assert code == 1 and "domain" in err and err.count("\n") == 1, err


def test_format_1_fields_are_upgraded(run, tmp_path):
    """A checkpoint written before architectures (format 1: progress at the top level, no
    arch) loads as an LSTM with its progress."""
    raw = torch.load(run / "checkpoint.pt", weights_only=True)
    progress = raw.pop("progress")
    raw.pop("arch")
    raw.update(format_version=1, **progress)
    raw["stream_state"] = tuple(raw["stream_state"])
    torch.save(raw, tmp_path / "v1.pt")
    old = checkpoint.load(tmp_path / "v1.pt")
    assert old.arch == "lstm" and old.progress.step == progress["step"] == 3
    model, _ = checkpoint.build(old)
    assert model.arch == "lstm"
