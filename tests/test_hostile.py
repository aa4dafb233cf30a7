"""Hostile input as the README promises to take it: a bad option, file, plugin or interruption
is one line on stderr naming the thing and the problem, exit code 1, and no file is modified,
half-written or left behind."""

from __future__ import annotations

import json
import math
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqgen import checkpoint, registry
from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError
from seqgen.io import atomic_write_text

TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8",
        "-q"]  # fmt: skip


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello world, a small text\n" * 200)
    return path


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("seqgen: error:") and "Traceback" not in err


BAD_TRAIN = {
    "--batch-size 0": "--batch-size",
    "--seq-len 0": "--seq-len",
    "--hidden-size 0": "--hidden-size",
    "--embedding-size -3": "--embedding-size",
    "--num-layers 0": "--num-layers",
    "--dropout 2": "--dropout",
    "--lr nan": "--lr",
    "--lr inf": "--lr",
    "--threads -1": "--threads",
    "--threads 100000": "--threads",  # that many OpenMP threads crashed the process
    "--device bogus": "--device",
    "--device cuda:99": "--device",
    "--seed -1": "--seed",
    "--max-time nan": "--max-time",
    "--max-time -5": "--max-time",
    "--clip -1": "--clip",
    "--weight-decay -1": "--weight-decay",
    "--epochs 0": "--epochs",
    "--max-steps -5": "--max-steps",
    "--patience -1": "--patience",
    "--eval-every 0": "--eval-every",
    "--val-tokens 0": "--val-tokens",
    "--optimizer foo": "--optimizer",
    "--precision fp8": "--precision",
    "--adaptive-softmax 5,3": "--adaptive-softmax",
    "--adaptive-div 2": "--adaptive-div",
    "-o encoding=rot13": "encoding",
    "-o nosuch=1": "nosuch",
    "--arch nosuch": "nosuch",
    "--hidden-size 100000": "weights",
}


def snapshot(folder) -> dict:
    """Every file under ``folder`` with its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args", sorted(BAD_TRAIN))
def test_a_bad_training_option_is_one_line_and_leaves_nothing(cli, tmp_path, text, args):
    out = tmp_path / "run"
    before = snapshot(tmp_path)
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "2",
                       *TINY, *args.split())  # fmt: skip
    assert code == 1 and one_line(err), err
    assert BAD_TRAIN[args] in err, err
    assert not out.exists() and snapshot(tmp_path) == before


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(
        [
            "batch_size",
            "seq_len",
            "lr",
            "weight_decay",
            "clip",
            "max_steps",
            "epochs",
            "max_time",
            "eval_every",
            "patience",
            "val_tokens",
            "threads",
            "seed",
            "warmup_steps",
            "min_lr_ratio",
        ]
    ),  # fmt: skip
    value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True)),
)
def test_any_number_for_a_training_option_is_accepted_or_refused_cleanly(field, value):
    """Every numeric option takes any number: a usable one passes the check, anything else is
    a SeqgenError naming the option, never another exception."""
    ints = {"batch_size", "seq_len", "max_steps", "eval_every", "patience", "val_tokens",
            "threads", "seed", "warmup_steps"}  # fmt: skip
    if field in ints and isinstance(value, float):
        return  # the CLI's types refuse a float for an int option before this point
    try:
        cfg = TrainConfig(**{field: value}).check()
    except SeqgenError as e:
        assert "\n" not in str(e)
        return
    got = getattr(cfg, field)
    assert not (isinstance(got, float) and math.isnan(got))
    if field in ("batch_size", "seq_len", "max_steps", "eval_every", "val_tokens", "threads"):
        assert got >= 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=300))
def test_char_round_trips_any_text(tmp_path, text):
    tok_cls = registry.load().domain("char")
    path = tmp_path / "any.txt"
    path.write_text(text, encoding="utf-8", newline="")
    tok = tok_cls.create()
    docs = list(tok.read(path))
    tok.fit(docs)
    for doc in tok.read(path):
        for part in doc.parts:
            assert tok.decode(tok.encode(part)) == tok.reference(part)


# --- writing outputs ---------------------------------------------------------------------
def test_writing_to_dev_null_keeps_it_a_device():
    atomic_write_text("/dev/null", "a sample")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_fifo_is_written_through_and_a_symlink_followed(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    (tmp_path / "link.txt").symlink_to(real)
    atomic_write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and real.read_text() == "new"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    atomic_write_text(fifo, "through the pipe")
    reader.join(5)
    assert got == ["through the pipe"] and fifo.is_fifo()


def test_a_directory_as_output_and_a_fifo_as_prime_are_one_line(cli, tmp_path, text):
    run = tmp_path / "run"
    assert cli("train", "-d", "char", "-c", text, "--out", run, "--max-steps", "2", *TINY)[0] == 0
    code, _, err = cli("generate", run, "--out", tmp_path, "-n", "5", "-q")
    assert code == 1 and one_line(err) and "directory" in err, err
    os.mkfifo(tmp_path / "fifo")
    code, _, err = cli("generate", run, "--prime-file", tmp_path / "fifo", "-n", "5", "-q")
    assert code == 1 and one_line(err) and "not a regular file" in err, err
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_device_or_fifo_as_corpus_and_a_file_as_out_are_one_line(cli, tmp_path, text):
    os.mkfifo(tmp_path / "fifo")
    before = snapshot(tmp_path)
    for corpus, says in (("/dev/zero", "character device"), (tmp_path / "fifo", "named pipe")):
        code, _, err = cli("train", "-d", "char", "-c", corpus, "--out", tmp_path / "run",
                           "--max-steps", "2", *TINY)  # fmt: skip
        assert code == 1 and one_line(err) and says in err, err
    for out, says in ((text, "a file is there"), (text / "run", "cannot make the folder")):
        code, _, err = cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "2",
                           *TINY)  # fmt: skip
        assert code == 1 and one_line(err) and says in err, err
    assert snapshot(tmp_path) == before


def test_a_diverged_run_is_one_line_and_saves_no_broken_weights(cli, tmp_path, text):
    out = tmp_path / "run"
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "3",
                       "--lr", "1e308", "--eval-every", "1", *TINY)  # fmt: skip
    last = err.strip().splitlines()[-1]  # after the lines that say what training began
    assert code == 1 and "Traceback" not in err and "Warning" not in err, err
    assert last.startswith("seqgen: error: training diverged") and "--lr" in last, err
    for path in out.glob("*.pt"):  # a checkpoint from before the first step may stay
        weights = checkpoint.load(path).model
        assert all(bool(w.isfinite().all()) for w in weights.values()), path


def test_temp_files_of_a_killed_writer_are_cleaned(tmp_path):
    stale = tmp_path / ".checkpoint.pt.999999999.abc.tmp"  # no such process
    stale.write_text("half")
    live = tmp_path / f".checkpoint.pt.{os.getpid()}.xyz.tmp"  # ours: still writing
    live.write_text("busy")
    atomic_write_text(tmp_path / "checkpoint.pt", "x")
    assert not stale.exists() and live.exists()


def test_a_second_training_into_one_folder_is_refused(cli, tmp_path, text):
    from seqgen.rundir import claimed

    out = tmp_path / "run"
    with claimed(out):  # another training holds it
        code, _, err = cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "2",
                           *TINY)  # fmt: skip
    assert code == 1 and one_line(err) and "another seqgen train" in err, err
    assert not (out / "checkpoint.pt").exists()


# --- resume and paths --------------------------------------------------------------------
def test_a_torn_metrics_line_does_not_break_resume(cli, tmp_path, text):
    run = tmp_path / "run"
    args = ["train", "-d", "char", "-c", text, "--out", run, "--max-steps", "20", *TINY]
    assert cli(*args, "--stop-after", "10")[0] == 0
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 11, "train_lo')  # the disk filled up mid-line
    code, _, err = cli("train", "--resume", run, "-q")
    assert code == 0, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20


def test_a_relative_corpus_is_stored_absolute_and_a_changed_one_refused(cli, tmp_path, text,
                                                                        monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert (
        cli("train", "-d", "char", "-c", "t.txt", "--out", run, "--max-steps", "2", *TINY)[0] == 0
    )
    assert checkpoint.load(run).run.corpus == str(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (elsewhere / "t.txt").write_text("a different file with the same name\n" * 50)
    code, out, err = cli("eval", run, "--json")
    assert code == 0, err  # scores the run's own file, not the one in this folder
    text.write_text(text.read_text().replace("hello", "jello"))
    code, _, err = cli("eval", run)
    assert code == 1 and one_line(err) and "changed" in err, err


# --- plugins -------------------------------------------------------------------------------
PLUGINS = {
    "exits": "import sys\nsys.exit(7)\n",
    "takes_train": """
        from seqgen import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command("train")
            def train():
                print("hijacked")
    """,
    "bad_ids": """
        from seqgen import hookimpl
        from seqgen.tokenizer import Document, Tokenizer

        class Bad(Tokenizer):
            name = "badids"
            def read(self, path):
                yield Document(path.name, [path.read_text()])
            def fit(self, docs):
                for d in docs:
                    list(d.parts)
            vocab_size = 4
            eod_id = 0
            def encode(self, part):
                return [1, 2, 99]
            def decode(self, ids):
                return ""
            def get_state(self):
                return {}
            @classmethod
            def from_state(cls, state):
                return cls()

        @hookimpl
        def register_domains(register):
            register(Bad)
    """,
}


@pytest.fixture
def install(install_plugin):
    return lambda name: install_plugin(f"hostile_{name}", PLUGINS[name])


def test_a_plugin_that_exits_on_import_is_named(cli, install):
    install("exits")
    code, out, err = cli("domains")
    assert code == 0 and "char" in out, err
    assert "hostile-exits" in err and "SystemExit" in err


def test_a_plugin_cannot_replace_a_builtin_command(cli, install, text, tmp_path):
    install("takes_train")
    code, out, err = cli("train", "-d", "char", "-c", text, "--out", tmp_path / "r",
                         "--max-steps", "1", *TINY)  # fmt: skip
    assert code == 0 and "hijacked" not in out, err
    assert "hostile-takes-train" in err and "replace the command 'train'" in err


def test_a_plugin_returning_ids_out_of_range_is_named(cli, install, text, tmp_path):
    install("bad_ids")
    code, _, err = cli("train", "-d", "badids", "-c", text, "--out", tmp_path / "r", *TINY)
    assert code == 1 and "badids" in err and "99" in err and "Traceback" not in err, err


# --- untrusted files that could run code -----------------------------------------------------
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


ABC = "X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC D E F|G A B c|\n"


def test_a_planted_music21_pickle_never_runs(tmp_path, monkeypatch):
    """music21 caches parses as pickles in a shared temp folder; seqgen must never load one."""
    import pickle
    import zlib

    from music21 import converter

    marker, planted = tmp_path / "pwned", tmp_path / "m21-planted.p.gz"
    planted.write_bytes(zlib.compress(pickle.dumps(_Payload(marker))))
    monkeypatch.setattr(converter.PickleFilter, "status", lambda self: (None, False, planted))
    abc = tmp_path / "tune.abc"
    abc.write_text(ABC)
    tok = registry.load().domain("midi").create()
    docs = [p for d in tok.read(abc) for p in d.parts]
    assert docs and not marker.exists()
    try:  # the planted file is real: music21's default loads it, and runs the payload
        converter.parse(str(abc))
    except Exception as e:  # what the payload returns is no stream: music21 then fails
        assert "pwned" not in str(e)
    assert marker.exists()


# --- resource bombs ------------------------------------------------------------------------
def test_a_tiny_midi_file_with_an_endless_note_is_refused_quickly(cli, tmp_path):
    import sys
    import time

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "bench"))
    from hostile_limits import markup_pi, midi_long_note

    bomb = midi_long_note(tmp_path)
    assert bomb.stat().st_size < 64
    t0 = time.perf_counter()
    code, _, err = cli("prepare", "-d", "midi", "-o", "encoding=frames", "-c", bomb)
    assert code == 1 and one_line(err) and "longer than" in err, err
    code, _, err = cli("prepare", "-d", "markup", "-c", markup_pi(tmp_path))
    assert code == 0, err
    assert time.perf_counter() - t0 < 20  # frame by frame this was 200 s and 11 GB


def test_generate_options_and_primes_are_one_line(cli, tmp_path):
    from test_midi import train_tiny

    _, run = train_tiny(tmp_path, cli, songs=2, bars=4, steps=2, hidden=8, batch=2)
    for args in (["--temperature", "nan"], ["--top-k", "0"], ["--top-p", "1.5"],
                 ["--length", "1000000000"], ["--prime", "hello"], ["--num-samples", "0"],
                 ["--beam", "2", "--temperature", "0.5"], ["--seconds", "-1"]):  # fmt: skip
        out = tmp_path / "x.mid"
        code, stdout, err = cli("generate", run, "--out", out, *args)
        assert code == 1 and one_line(err) and not out.exists(), (args, err)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(domain=st.sampled_from(["word", "markup"]), text=st.text(min_size=1, max_size=300))
def test_text_domains_take_any_text(tmp_path, domain, text):
    """Any text reads without a traceback; what the domain keeps round-trips to its reference."""
    tok_cls = registry.load().domain(domain)
    path = tmp_path / f"any-{domain}.txt"
    path.write_text(text, encoding="utf-8", newline="")
    tok = tok_cls.create({"min_count": "1"} if domain == "markup" else {})
    try:
        docs = [(d.name, list(d.parts)) for d in tok.read(path)]
    except SeqgenError:
        return  # refused in one line is fine: never a traceback
    from seqgen.tokenizer import Document

    tok.fit([Document(n, parts) for n, parts in docs])
    for _, parts in docs:
        for part in parts:
            assert tok.check_part(part) is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=0, max_size=400), suffix=st.sampled_from([".mid", ".abc", ".xml"]))
def test_midi_takes_any_bytes(tmp_path, data, suffix):
    """Random bytes named like music are refused with a DataError (or read, if they happen to
    be music); never another exception."""
    tok = registry.load().domain("midi").create()
    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)
    try:
        for doc in tok.read(path):
            for part in doc.parts:
                tok.encode(part)
    except SeqgenError as e:
        assert "\n" not in str(e)
