"""Budget sizing (seqgen.sizing): a short CPU run that sets no sizes gets a small model, and a
dropout that suits how many times the budget reads its corpus."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from seqgen.sizing import BUDGET_DROPOUT, budget_defaults, budget_dropout, passes

FIELDS = ["vocab_size", "hidden_size", "dropout"]


def data_of(train_tokens: int):
    return SimpleNamespace(meta={"splits": {"train": {"tokens": train_tokens}}})


def dropout_for(max_time: float, train_tokens: int, sized=True, fields=FIELDS) -> dict:
    said = []
    got = budget_dropout(max_time, {"hidden_size": 256} if sized else {}, data_of(train_tokens),
                         fields, said.append)  # fmt: skip
    assert len(said) == (1 if got else 0)
    return got


def test_a_corpus_read_about_once_gets_no_dropout():
    # Tiny Shakespeare (1.0M training characters) at 55 s: under one pass
    assert passes(55, 1_003_855) < 1
    assert dropout_for(55, 1_003_855) == {"dropout": 0.0}


def test_a_small_corpus_read_many_times_gets_dropout():
    # Bach's chorales (219k training tokens) at 60 s: about four passes
    assert dropout_for(60, 219_118)["dropout"] >= 0.2
    ps = [dropout_for(60, n)["dropout"] for n in (2_000_000, 600_000, 300_000, 100_000, 1_000)]
    assert ps == sorted(ps) and ps[0] == 0 and ps[-1] == BUDGET_DROPOUT[-1][1]


def test_only_a_sized_run_of_a_model_with_dropout_gets_one():
    assert dropout_for(60, 1_000, sized=False) == {}
    assert dropout_for(60, 1_000, fields=["vocab_size", "hidden_size"]) == {}


def test_a_chosen_dropout_turns_sizing_off():
    if torch.cuda.is_available():
        pytest.skip("budget sizing is for CPUs")
    assert budget_defaults(60, {}, {}) != ({}, {})
    assert budget_defaults(60, {}, {"dropout": 0.2}) == ({}, {})


def test_a_sized_run_trains_with_the_dropout_it_announces(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("budget sizing is for CPUs")
    text = tmp_path / "small.txt"
    text.write_text("a small corpus, read many times over. " * 100)
    run = tmp_path / "run"
    code, _, err = cli("train", "-d", "char", "-c", text, "--max-time", "1", "--out", run,
                       "--threads", "1", "-q")  # fmt: skip
    assert code == 0, err
    p = BUDGET_DROPOUT[-1][1]
    assert f"--dropout {p:g}" in err
    from seqgen.checkpoint import load

    assert load(run / "checkpoint.pt").model_config["dropout"] == p
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
