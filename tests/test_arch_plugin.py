"""The architecture seam is real: a GRU registered by an installed plugin through the
``register_architectures`` hook trains, resumes, saves, loads, scores and samples through the
same CLI as the built-in LSTM (``--arch gru``), with no core file knowing it."""

from __future__ import annotations

import json

import pytest
import torch

from seqgen import checkpoint, registry

GRU_PLUGIN = """
    from dataclasses import dataclass

    import torch
    import torch.nn as nn

    from seqgen import hookimpl
    from seqgen.models import TokenHead


    @dataclass
    class GRUConfig:
        vocab_size: int
        embedding_size: int = 32
        hidden_size: int = 64
        num_layers: int = 1


    class GRULanguageModel(TokenHead):
        arch = "gru"
        config_class = GRUConfig

        def __init__(self, cfg):
            super().__init__(cfg)
            self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding_size)
            self.gru = nn.GRU(cfg.embedding_size, cfg.hidden_size, cfg.num_layers,
                              batch_first=True)
            self.build_head(cfg.hidden_size)

        def initial_state(self, batch, device="cpu"):
            c = self.config
            return (torch.zeros(c.num_layers, batch, c.hidden_size, device=device),)

        def features(self, x, state=None):
            out, h = self.gru(self.embed(x), None if state is None else state[0])
            return out, (h,)


    @hookimpl
    def register_architectures(register):
        register(GRULanguageModel)
"""


@pytest.fixture
def gru(install_plugin):
    install_plugin("seqgen_toy_gru", GRU_PLUGIN)


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"row {i}: abc abd abe {i % 7}\n" for i in range(300)))
    return path


TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16"]


def test_a_plugin_architecture_trains_resumes_and_samples(gru, cli, tmp_path, text):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    args = ["train", "-d", "char", "-c", text, "--arch", "gru", "--max-steps", "20", *TINY, "-q"]
    code, _, err = cli(*args, "--out", whole)
    assert code == 0, err
    code, _, err = cli(*args, "--out", halves, "--stop-after", "10")
    assert code == 0, err
    code, _, err = cli("train", "--resume", halves, "-q")
    assert code == 0, err
    a, b = checkpoint.load(whole / "checkpoint.pt"), checkpoint.load(halves / "checkpoint.pt")
    assert a.arch == "gru" and "gru.weight_hh_l0" in a.model
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)  # resumed exactly
    first = a.model["gru.weight_hh_l0"]
    code, out, err = cli("generate", whole, "-n", "40", "--seed", "1")
    assert code == 0 and len(out.strip()) > 0, err
    code, again, _ = cli("generate", whole, "-n", "40", "--seed", "1")
    assert again == out
    code, out, err = cli("eval", whole, "--json")
    assert code == 0, err
    assert json.loads(out)["nats_per_token"] < 3.0  # learned something: ln(17) is 2.8 + noise
    assert not torch.equal(first, torch.zeros_like(first))


def test_an_option_the_architecture_lacks_is_one_line(gru, cli, tmp_path, text):
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--arch", "gru", "--dropout", "0.2", "--max-steps",
        "2", "--out", tmp_path / "r", "-q",
    )  # fmt: skip
    assert code == 1 and "gru" in err and "dropout" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_without_the_plugin_its_checkpoint_names_the_architecture(gru, cli, tmp_path, text):
    run = tmp_path / "r"
    code, _, err = cli("train", "-d", "char", "-c", text, "--arch", "gru", "--max-steps", "2",
                       *TINY, "--out", run, "-q")  # fmt: skip
    assert code == 0, err
    registry.load.cache_clear()
    import os

    os.environ["SEQGEN_PLUGINS"] = "char"
    try:
        code, _, err = cli("eval", run)
    finally:
        del os.environ["SEQGEN_PLUGINS"]
        registry.load.cache_clear()
    assert code == 1 and "gru" in err and "Traceback" not in err, err


def test_unknown_architecture_is_one_line(cli, tmp_path, text):
    code, _, err = cli("train", "-d", "char", "-c", text, "--arch", "transformerx",
                       "--out", tmp_path / "r", "-q")  # fmt: skip
    assert code == 1 and "transformerx" in err and "lstm" in err and err.count("\n") == 1


def test_a_bare_protocol_model_with_a_tensor_state_works_end_to_end(
    install_plugin, cli, tmp_path, text
):
    """The protocol without the shared head: its own forward and loss, a single tensor as its
    state, no input embedding; resumed exactly, sampled, searched, scored; inspect refuses."""
    from pathlib import Path

    source = (Path(__file__).parent / "data" / "tiny_rnn_plugin.py").read_text()
    install_plugin("seqgen_tiny_rnn", source)
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    args = ["train", "-d", "char", "-c", text, "--arch", "tinyrnn", "--hidden-size", "16",
            "--batch-size", "4", "--seq-len", "16", "--max-steps", "20", "-q"]  # fmt: skip
    assert cli(*args, "--out", whole)[0] == 0
    assert cli(*args, "--out", halves, "--stop-after", "10")[0] == 0
    code, _, err = cli("train", "--resume", halves, "-q")
    assert code == 0, err
    a, b = checkpoint.load(whole / "checkpoint.pt"), checkpoint.load(halves / "checkpoint.pt")
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    assert len(a.stream_state) == 1 and a.stream_state[0].shape == (1, 4, 16)
    code, out, err = cli("generate", whole, "-n", "30", "--seed", "2")
    assert code == 0 and out.strip(), err
    code, out, err = cli("generate", whole, "-n", "10", "--beam", "3")
    assert code == 0 and out.strip(), err
    code, out, err = cli("eval", whole, "--json")
    assert code == 0 and json.loads(out)["nats_per_token"] > 0, err
    code, _, err = cli("inspect", whole, "--text", "abc", "--json")
    assert code == 1 and "tinyrnn" in err and err.count("\n") == 1, err
