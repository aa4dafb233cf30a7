"""Writing where it cannot be done and reading what is not a checkpoint: a full disk, a file
where a folder should be, a device or a stray file given as a checkpoint. Each is one line that
names the target, and the files already there stay whole."""

from __future__ import annotations

import errno
import pickle

import pytest
import torch
from test_hostile import one_line

from seqgen import checkpoint
from seqgen.errors import CheckpointError, SeqgenError
from seqgen.io import atomic_path


def test_a_full_disk_names_the_target_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "sample.txt"
    target.write_text("old")
    with pytest.raises(SeqgenError, match="sample.txt: cannot write .No space left"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_a_checkpoint_cut_short_by_a_full_disk_keeps_the_old_one(run, monkeypatch):
    path = run / "checkpoint.pt"
    before = path.read_bytes()
    ckpt = checkpoint.load(path)

    def short_write(obj, f, *a, **k):  # what torch's zip writer raises on a short write
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04 half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 2")

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(SeqgenError, match="checkpoint.pt: the checkpoint could not be written"):
        checkpoint.save(path, ckpt)
    assert path.read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_an_output_under_a_file_is_one_line(cli, run, tmp_path):
    (tmp_path / "f").write_text("a file")
    code, _, err = cli("generate", run, "--out", tmp_path / "f" / "s.txt", "--length", "5")
    assert code == 1 and one_line(err) and "is a file, not a folder" in err, err
    assert (tmp_path / "f").read_text() == "a file"


def _legacy(path):
    torch.save({"weights": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)


def _pickle(path):
    path.write_bytes(pickle.dumps({"format": "seqgen"}))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_text("hello world, just some text\n" * 50),
        lambda p: p.write_bytes(bytes(range(256)) * 40),
        _legacy,
        _pickle,
        lambda p: p.write_bytes(b"PK\x05\x06" + bytes(18)),  # an empty zip archive
    ],
    ids=["text", "bytes", "legacy-torch", "pickle", "empty-zip"],
)
def test_what_is_not_a_checkpoint_is_one_line(cli, tmp_path, make):
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(CheckpointError, match="x.pt"):
        checkpoint.load(path)
    code, _, err = cli("eval", path)
    assert code == 1 and one_line(err) and "a bug" not in err, err


def test_a_device_is_not_read_as_a_checkpoint(cli):
    for command in ("eval", "generate"):
        code, _, err = cli(command, "/dev/zero")  # read whole, it would never end
        assert code == 1 and one_line(err) and "not a regular file" in err, err
