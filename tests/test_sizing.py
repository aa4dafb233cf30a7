"""Budget sizing (seqgen.sizing): a short CPU run that sets no sizes gets a small model, and a
dropout that suits how many times the budget reads its corpus."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch

from seqgen.sizing import (
    BUDGET_DROPOUT,
    BUDGET_MODEL,
    WIDER,
    budget_defaults,
    budget_fit,
    passes,
)

FIELDS = ["vocab_size", "hidden_size", "embedding_size", "num_layers", "dropout"]


def data_of(train_tokens: int, vocab: int = 65):
    return SimpleNamespace(
        meta={"splits": {"train": {"tokens": train_tokens}}},
        tokenizer=SimpleNamespace(vocab_size=vocab),
    )


def fit(max_time, train_tokens, rates=None, sized=True, fields=FIELDS) -> dict:
    """What budget sizing chooses, with the training rate of each width given (tokens/s by
    hidden size; the default: 20,000 for 256, 6,000 for 512 and 2,000 for 768)."""
    rates = rates or {256: 20_000, 512: 6_000, 768: 2_000}
    said = []
    got = budget_fit(max_time, dict(BUDGET_MODEL) if sized else {}, data_of(train_tokens),
                     "lstm", fields, lambda v, batch: rates.get(v.get("hidden_size", 256)),
                     said.append)  # fmt: skip
    assert len(said) == (1 if got else 0)
    return got


def test_a_corpus_read_about_once_gets_no_dropout():
    # Tiny Shakespeare (1.0M training characters) at 55 s with 256 wide: about one pass
    assert passes(55, 1_003_855, 15_000) < 1
    assert fit(55, 1_003_855, {256: 15_000, 512: 5_000}) == {**BUDGET_MODEL, "dropout": 0.0}


def test_a_small_corpus_read_many_times_gets_dropout_and_stays_narrow():
    # Bach's chorales (219k training tokens) at 60 s: about five passes; 512 wide would have
    # 3.5M weights, 16 per training token
    got = fit(60, 219_118)
    assert got["dropout"] > 0 and got["hidden_size"] == 256
    ps = [fit(60, n)["dropout"] for n in (2_000_000, 600_000, 300_000, 100_000, 1_000)]
    assert ps == sorted(ps) and ps[0] == 0 and ps[-1] == BUDGET_DROPOUT[-1][1]


def test_a_longer_budget_on_a_large_enough_corpus_gets_a_wider_model():
    wide = WIDER[0]
    assert fit(270, 1_003_855)["hidden_size"] == 256  # 512 would read it 1.6 times
    got = fit(900, 1_003_855)  # 512 reads it 5.4 times, 768 1.8 times
    assert got["hidden_size"] == wide.hidden and got["embedding_size"] == wide.embedding
    assert got["lr"] == wide.lr and got["batch_size"] == wide.batch
    assert got["dropout"] == next(p for below, p in BUDGET_DROPOUT if 5.4 < below)
    slower = fit(900, 1_003_855, {256: 20_000, 512: 3_000})  # 2.7 passes: too few
    assert slower["hidden_size"] == 256 and 900 * 3_000 / 1_003_855 < wide.passes


def test_the_widest_comes_with_its_own_batch_and_dropout():
    wide = WIDER[-1]
    rates = {256: 50_000, 512: 20_000, 768: 8_000}
    got = fit(900, 1_003_855, rates)  # 768 reads it 7.2 times
    assert (got["hidden_size"], got["batch_size"], got["lr"]) == (wide.hidden, wide.batch, wide.lr)
    assert got["dropout"] == wide.dropout
    assert fit(270, 1_003_855, rates)["hidden_size"] == WIDER[0].hidden  # 2.2 times: too few
    small = fit(900, 900_000, rates)  # 768 would have 8.4 weights per training token
    assert small["hidden_size"] == WIDER[0].hidden and "batch_size" in small


def test_an_unmeasured_rate_keeps_the_narrow_model():
    got = fit(900, 5_000_000, {})
    assert got["hidden_size"] == 256


def test_only_a_sized_run_gets_anything():
    assert fit(60, 1_000, sized=False) == {}
    assert "dropout" not in fit(60, 1_000, fields=["vocab_size", "hidden_size"])


def test_a_chosen_dropout_turns_sizing_off():
    if torch.cuda.is_available():
        pytest.skip("budget sizing is for CPUs")
    assert budget_defaults(60, {}, {}) != ({}, {})
    assert budget_defaults(60, {}, {"dropout": 0.2}) == ({}, {})


def test_a_sized_run_trains_with_the_dropout_it_announces(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("budget sizing is for CPUs")
    text = tmp_path / "small.txt"
    text.write_text("a small corpus, read many times over. " * 12)  # 456 characters
    run = tmp_path / "run"
    code, _, err = cli("train", "-d", "char", "-c", text, "--max-time", "1", "--out", run,
                       "--threads", "1", "-q")  # fmt: skip
    assert code == 0, err
    said = re.search(r"--dropout (\S+) for the budget: .* about (\S+) times at (\S+) tokens/s", err)
    assert said, err
    p, seen = float(said[1]), float(said[2])
    assert p == next(p for below, p in BUDGET_DROPOUT if seen < below) > 0  # the rule, many passes
    from seqgen.checkpoint import load

    assert load(run / "checkpoint.pt").model_config["dropout"] == p
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
