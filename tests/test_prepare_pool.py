"""Tokenizing in worker processes gives the same token store as in-process: the same key,
token files and meta.json, for many files, a single file cut into parts, and a broken file."""

from __future__ import annotations

import os
import random
import shutil

import pytest

from seqgen import prepare_pool
from seqgen.corpus import resolve
from seqgen.data import prepare
from seqgen.errors import SeqgenError
from seqgen.registry import load

WORDS = "the river ran long and slow past a town where nobody knew its name".split()


@pytest.fixture(scope="module")
def reg():
    return load()


@pytest.fixture
def pool_used(monkeypatch):
    """Every corpus counts as big; records whether a pool was started."""
    started = []
    real = prepare_pool._start_pool

    def spy(*args):
        pool = real(*args)
        started.append(pool is not None)
        return pool

    monkeypatch.setattr(prepare_pool, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(prepare_pool, "BATCH_PARTS", 2)
    monkeypatch.setattr(prepare_pool, "WINDOW", 1)
    monkeypatch.setattr(prepare_pool, "_start_pool", spy)
    return started


def text(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        out.append(line.capitalize() + rng.choice([".", "!", ",", ""]) + "\n")
    return "".join(out)


def store(data) -> dict:
    files = sorted(p.name for p in data.dir.iterdir())
    return {"key": data.dir.name, **{f: (data.dir / f).read_bytes() for f in files}}


def both(monkeypatch, tmp_path, reg, domain, corpus, settings=None, *, kind="str"):
    """Prepare ``corpus`` in-process and with 2 workers, each into a store of its own."""
    tok_cls = reg.domain(domain)
    settings = tok_cls.parse_options(settings or {})
    got = []
    for workers in (1, 2):
        monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / f"cache{workers}"))
        spec = resolve(str(corpus), tok_cls.file_patterns, reg)
        got.append(store(prepare(tok_cls, spec, settings=settings, workers=workers)))
    return got


# Files of a many-file corpus up to FILE_TASK_BYTES are read by a worker, bigger ones by the
# parent (their parts encoded by workers): none, some or all files go each way.
READ_BY_WORKER = {"none": -1, "some": 1500, "all": 1 << 30}


@pytest.mark.parametrize(
    ("domain", "read"),
    [("char", "none"), ("char", "some"), ("char", "all"), ("word", "some"), ("subword", "some")],
)
def test_many_files_same_store(domain, read, tmp_path, monkeypatch, reg, pool_used):
    monkeypatch.setattr(prepare_pool, "FILE_TASK_BYTES", READ_BY_WORKER[read])
    rng = random.Random(1)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(23):
        (corpus / f"doc{i:02d}.txt").write_text(text(rng, rng.randint(0, 40)))
    (corpus / "doc05.txt").write_text("")  # an empty document adds nothing
    seq, par = both(monkeypatch, tmp_path, reg, domain, corpus)
    assert pool_used == [True]
    assert seq == par
    assert len(seq["valid.bin"]) > 0


@pytest.mark.parametrize("domain", ["char", "word", "subword"])
def test_one_file_cut_in_parts_same_store(domain, tmp_path, monkeypatch, reg, pool_used):
    rng = random.Random(2)
    one = tmp_path / "one.txt"
    block = text(rng, 2000)
    with open(one, "w") as f:
        while f.tell() < 2_200_000:  # read in parts of about 1 MB: three parts
            f.write(block)
            f.write(f"=== {f.tell()} ===\n")
    seq, par = both(monkeypatch, tmp_path, reg, domain, one)
    assert pool_used == [True]
    assert seq == par


def test_own_splits_same_store(tmp_path, monkeypatch, reg, pool_used):
    rng = random.Random(3)
    for split in ("train", "valid", "test"):
        (tmp_path / "c").mkdir(exist_ok=True)
        (tmp_path / "c" / f"{split}.txt").write_text(text(rng, 300) + f"{split} ~\n")
    seq, par = both(monkeypatch, tmp_path, reg, "char", tmp_path / "c")
    assert seq == par and "test.bin" in seq


@pytest.mark.parametrize("read", ["none", "all"])
def test_broken_file_skipped_the_same(read, tmp_path, monkeypatch, reg, pool_used, capsys):
    monkeypatch.setattr(prepare_pool, "FILE_TASK_BYTES", READ_BY_WORKER[read])
    rng = random.Random(4)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"doc{i:02d}.txt").write_text(text(rng, 30))
    (corpus / "doc07.txt").write_bytes(b"fine text\n" * 50 + b"\xff\xfe broken\n")
    seq, par = both(monkeypatch, tmp_path, reg, "char", corpus)
    assert seq == par
    assert b"doc07.txt" in seq["meta.json"]
    assert capsys.readouterr().err.count("warning: skipped") == 2  # once per prepare


@pytest.mark.parametrize("read", ["none", "all"])
def test_file_broken_part_way_skipped_the_same(read, tmp_path, monkeypatch, reg, pool_used):
    """valid.txt is read only when encoding; it breaks after its first part of about 1 MB."""
    monkeypatch.setattr(prepare_pool, "FILE_TASK_BYTES", READ_BY_WORKER[read])
    rng = random.Random(5)
    corpus = tmp_path / "c"
    corpus.mkdir()
    for split in ("train", "test"):
        (corpus / f"{split}.txt").write_text(text(rng, 200))
    good = text(rng, 200).encode()
    (corpus / "valid.txt").write_bytes(good * (1_200_000 // len(good) + 1) + b"\xff oops\n")
    seq, par = both(monkeypatch, tmp_path, reg, "char", corpus)
    assert seq == par
    assert b"valid.txt" in seq["meta.json"] and seq["valid.bin"] == b""


def test_worker_error_is_one_line_and_leaves_no_entry(tmp_path, monkeypatch, reg, pool_used):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "train.txt").write_text("abc\n" * 100)
    (corpus / "valid.txt").write_text("abz\n" * 100)  # z is not in the vocabulary
    tok_cls = reg.domain("char")
    settings = tok_cls.parse_options({"unknown": "error"})
    messages = []
    for workers in (1, 2):
        monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / f"cache{workers}"))
        spec = resolve(str(corpus), tok_cls.file_patterns, reg)
        with pytest.raises(SeqgenError) as err:
            prepare(tok_cls, spec, settings=settings, workers=workers)
        messages.append(str(err.value))
        assert os.listdir(tmp_path / f"cache{workers}" / "tokens") == []
    assert pool_used == [True]
    assert messages[0] == messages[1] and "'z'" in messages[0]


def test_midi_augmented_same_store(tmp_path, monkeypatch, reg, pool_used):
    tok_cls = reg.domain("midi")
    sample = tok_cls.sample_corpus(tmp_path / "s")
    corpus = tmp_path / "midi"
    corpus.mkdir()
    files = sorted(p for p in sample.rglob("*") if p.is_file())
    for i in range(11):
        shutil.copy(files[i % len(files)], corpus / f"{i:02d}{files[i % len(files)].suffix}")
    seq, par = both(monkeypatch, tmp_path, reg, "midi", corpus)
    assert pool_used == [True]
    assert seq == par


def test_small_corpus_starts_no_pool(tmp_path, monkeypatch, reg):
    monkeypatch.setattr(prepare_pool, "_start_pool", lambda *a: pytest.fail("pool started"))
    (tmp_path / "a.txt").write_text("small\n" * 100)
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    tok_cls = reg.domain("char")
    prepare(tok_cls, resolve(str(tmp_path / "a.txt"), registry=reg), settings={}, workers=4)


def test_pool_when_many_bytes_or_a_slow_fit(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 1000)
    files = [tmp_path / "a.txt"]
    assert prepare_pool.pool_size(4, files, fit_seconds=0.1) == 1
    assert prepare_pool.pool_size(4, files, fit_seconds=prepare_pool.MIN_PARALLEL_SECONDS) == 4
    assert prepare_pool.pool_size(4, files * (prepare_pool.MIN_PARALLEL_BYTES // 1000 + 1), 0) == 4


def test_default_workers_follow_affinity():
    assert prepare_pool.default_workers() == len(os.sched_getaffinity(0))
