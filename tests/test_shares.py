"""The pieces several processes are built from, checked in one process: each rank's share of
the streams and of the scoring adds up to the whole, states join and split back, the launcher's
command line, and the thread count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgen import models
from seqgen.batcher import StreamBatcher, plan
from seqgen.evaluate import target_logprobs
from seqgen.hardware import busy_cores, pick_threads
from seqgen.launch import without_nproc


def tiny_model(vocab: int = 7):
    torch.manual_seed(0)
    cfg = models.config_of("lstm", {"vocab_size": vocab, "hidden_size": 12, "embedding_size": 5})
    return models.build("lstm", cfg).eval()


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ranks_serve_disjoint_streams_that_make_the_global_batch(world):
    ids = np.arange(5000) % 97
    layout = plan(len(ids), 12, 16, world)
    assert layout.batch_size % world == 0
    whole = StreamBatcher(ids, layout).batch(3)[0]
    parts = [StreamBatcher(ids, layout, r, world).batch(3)[0] for r in range(world)]
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("docs", [False, True], ids=["streams", "documents"])
@pytest.mark.parametrize("world", [2, 3])
def test_scoring_shares_sum_to_the_single_process_array(docs, world):
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 7, 6000)
    if docs:  # many documents: whole batches of them are dealt out
        ids[rng.choice(6000, 300, replace=False)] = 0
    model = tiny_model()
    whole = target_logprobs(model, ids, 0 if docs else None, chunk=64)
    parts = [
        target_logprobs(model, ids, 0 if docs else None, chunk=64, share=(r, world))
        for r in range(world)
    ]
    assert all(np.count_nonzero(p) for p in parts)  # every rank has work
    np.testing.assert_allclose(np.sum(parts, axis=0), whole, rtol=0, atol=1e-5)
    assert np.count_nonzero(np.all([p != 0 for p in parts], axis=0)) == 0  # disjoint


def test_states_join_and_split_back():
    model = tiny_model()
    a, b = model.initial_state(2), model.initial_state(3)
    a = tuple(t + 1 for t in a)
    joined = model.join_states([a, b])
    assert [t.shape[model.batch_dim] for t in model.state_tensors(joined)] == [5, 5]
    back = model.select_state(joined, torch.arange(2))
    assert all(torch.equal(x, y) for x, y in zip(back, a, strict=True))


def test_launcher_drops_only_its_own_option():
    argv = ["train", "-d", "char", "--nproc", "2", "--out", "x", "--nproc=3", "-q"]
    assert without_nproc(argv) == ["train", "-d", "char", "--out", "x", "-q"]


def test_threads_follow_the_request_and_the_cores():
    assert pick_threads(3) == 3
    cores = len(__import__("os").sched_getaffinity(0))
    assert 1 <= pick_threads(None) <= cores
    assert pick_threads(None, processes_here=cores * 2) == 1
    assert 0 <= busy_cores(cores, window=0.05) <= cores


def test_a_busy_core_is_left_alone(monkeypatch):
    import seqgen.hardware as hw

    monkeypatch.setattr(hw.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(hw, "busy_cores", lambda cores, window=0.1: 1)
    assert pick_threads(None) == 3
    assert pick_threads(None, processes_here=2) == 1


def test_the_gpu_path_picks_nccl_and_one_gpu_per_local_rank():
    """What a CUDA run of several processes would do, checked without a GPU."""
    from seqgen.distributed import World, backend_for, device_of
    from seqgen.errors import SeqgenError

    assert backend_for(torch.device("cuda")) == "nccl"
    assert backend_for(torch.device("cpu")) == "gloo"
    with pytest.raises(SeqgenError, match="mps"):
        backend_for(torch.device("mps"))
    world = World(rank=3, size=4, local_rank=1, local_size=2)
    assert device_of(torch.device("cuda"), world) == torch.device("cuda", 1)
    assert device_of(torch.device("cuda:0"), world) == torch.device("cuda", 0)  # as asked
    assert device_of(torch.device("cpu"), world) == torch.device("cpu")


def test_one_process_world_costs_nothing_and_needs_no_group():
    from seqgen.distributed import SINGLE, launched

    assert not launched() and SINGLE.main
    arr = np.ones(3, np.float32)
    SINGLE.sum_(arr)
    assert arr.tolist() == [1, 1, 1]
    assert SINGLE.gather("x") == ["x"] and SINGLE.first(lambda: 5) == 5
    assert SINGLE.agree([1.0, 2.0]).tolist() == [[1.0, 2.0]]


TEARDOWN = """
import os, signal, weakref
from seqgen.launch import _quiet_teardown

class Timer:
    pass

def stop():
    raise {exc}

timer = Timer()
weakref.finalize(timer, stop)
_quiet_teardown()
os.kill(os.getpid(), signal.SIGINT)  # a late, forwarded Ctrl-C
del timer
"""


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "RuntimeError('store closed')"])
def test_the_launcher_exits_quietly_after_torchrun_returns(exc):
    import subprocess
    import sys

    code = TEARDOWN.format(exc=exc)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    if exc == "KeyboardInterrupt":
        assert proc.stderr == ""
    else:
        assert proc.stderr.count("\n") == 1 and "store closed" in proc.stderr


@pytest.mark.parametrize("world", [1, 2])
def test_a_stopping_rank_ignores_the_stop_torchrun_forwards_late(world):
    import signal
    from types import SimpleNamespace

    from seqgen.trainer import Trainer

    before = signal.getsignal(signal.SIGINT)
    t = SimpleNamespace(world=SimpleNamespace(size=world), stop_requested=False, asked_at=0.0)
    try:
        with Trainer._deferred_interrupt(t):
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C asks for a stop
            assert t.stop_requested
            signal.raise_signal(signal.SIGINT)  # a repeat within a second is the same request
        after = signal.getsignal(signal.SIGINT)
        assert after == (signal.SIG_IGN if world > 1 else before)
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_rank_leaving_on_an_error_skips_the_teardown_that_can_abort(monkeypatch):
    """The process group's threads, destroyed at interpreter exit while a peer leaves too, can
    abort a rank (SIGABRT) after it printed its one line: a rank with a group exits directly."""
    import os
    import sys
    import types

    from seqgen import cli

    group = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True)
    monkeypatch.setitem(sys.modules, "torch.distributed", group)
    left = []

    def direct(code):
        left.append(code)
        raise RuntimeError("left directly")

    monkeypatch.setattr(os, "_exit", direct)
    with pytest.raises(RuntimeError):
        cli._exit(1)
    assert left == [1]
    group.is_initialized = lambda: False  # one process, or a group already closed: a plain exit
    with pytest.raises(SystemExit) as e:
        cli._exit(1)
    assert e.value.code == 1 and left == [1]
    cli._exit(0)  # success returns from main, as before
