"""`seqgen inspect` and the bit-pattern experiment: the traced gates equal PyTorch's LSTM, the
command writes its files and ranks units by a regex, and one LSTM learns 10:1 exactly."""

from __future__ import annotations

import json
import sys
from csv import reader
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen import inspect as look
from seqgen.errors import SeqgenError
from seqgen.models.lstm import LSTMConfig as ModelConfig
from seqgen.models.lstm import LSTMLanguageModel

ROOT = Path(__file__).resolve().parents[1]


def test_cell_matches_torch_lstm_cell():
    """The NumPy cell the sampler and `inspect` step equals torch's fused cell."""
    from seqgen.models.lstm import cell

    torch.manual_seed(0)
    E, H, B = 5, 7, 3
    ref = torch.nn.LSTMCell(E, H)
    x, h, c = torch.randn(B, E), torch.randn(B, H), torch.randn(B, H)
    weights = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    with torch.no_grad():
        pre = x @ ref.weight_ih.T + ref.bias_ih + h @ ref.weight_hh.T + ref.bias_hh
        kept: list = []
        h1, c1 = cell(pre.numpy(), c.numpy(), kept)
        h2, c2 = torch.lstm_cell(x, (h, c), *weights)
    np.testing.assert_allclose(h1, h2.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(c1, c2.numpy(), rtol=0, atol=1e-6)
    gates = kept[0]
    # The gates put back together give the same new state.
    np.testing.assert_allclose(gates["f"] * c.numpy() + gates["i"] * gates["g"], c1, atol=1e-6)
    assert set(gates) == {"i", "f", "g", "o"}
    assert all(float(gates[q].min()) >= 0 and float(gates[q].max()) <= 1 for q in "ifo")


def test_trace_matches_nn_lstm():
    torch.manual_seed(1)
    model = LSTMLanguageModel(
        ModelConfig(vocab_size=9, embedding_size=6, hidden_size=8, num_layers=2, dropout=0.0)
    ).eval()
    ids = torch.randint(0, 9, (40,)).tolist()
    values = look.trace(model, ids, start=[0])
    with torch.no_grad():
        x = model.embed(torch.tensor([[0, *ids]]))
        out, (h_n, c_n) = model.lstm(x)
    assert values["c"].shape == (2, 40, 8)
    np.testing.assert_allclose(values["h"][-1], out[0, 1:].numpy(), atol=1e-5)
    np.testing.assert_allclose(values["h"][:, -1], h_n[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(values["c"][:, -1], c_n[:, 0].numpy(), atol=1e-5)
    # Layer 0's cell state checked on every step against nn.LSTM run one layer deep.
    one = torch.nn.LSTM(6, 8, batch_first=True)
    one.load_state_dict(
        {
            k.replace("_l0", "_l0"): v
            for k, v in model.lstm.state_dict().items()
            if k.endswith("_l0")
        }
    )
    with torch.no_grad():
        out0, _ = one(x)
    np.testing.assert_allclose(values["h"][0], out0[0, 1:].numpy(), atol=1e-5)


def test_indicator_and_correlation():
    labels = list('ab "cd" e\nf')
    ind = look.indicator(labels, r'"[^"]*"')
    assert "".join(np.array(labels)[ind == 1]) == '"cd"'
    assert look.indicator(labels, r"\n").tolist() == [0] * 9 + [1, 0]
    values = np.stack([ind, -ind, np.ones_like(ind)], 1)
    assert np.allclose(look.correlate(values, ind), [1, -1, 0])
    with pytest.raises(SeqgenError, match="matches nothing"):
        look.top_units(values, labels, "zzz", 2)
    with pytest.raises(SeqgenError, match="units 0-4"):
        look.parse_units("1,5", 5)
    assert look.parse_units("3,0-2,3", 5) == [3, 0, 1, 2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A char model trained through the CLI for a few steps."""
    from seqgen.cli import main

    tmp = tmp_path_factory.mktemp("inspect")
    text = tmp / "quotes.txt"
    text.write_text('He said "hi there" and left.\nShe said "no" then.\n' * 60)
    run = tmp / "run"
    args = [
        "seqgen",
        "train",
        "-d",
        "char",
        "-c",
        str(text),
        "--out",
        str(run),
        "--max-steps",
        "8",
        "--hidden-size",
        "12",
        "--embedding-size",
        "8",
        "--batch-size",
        "4",
        "--seq-len",
        "32",
        "--threads",
        "1",
        "--precision",
        "fp32",
        "-q",
    ]
    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse cache is not set yet
        mp.setenv("SEQGEN_CACHE", str(tmp / "cache"))
        mp.setattr(sys, "argv", args)
        try:
            main()
        except SystemExit as e:
            assert not e.code
    return run


def test_cli_inspect_writes_plot_csv_npz(cli, tiny_run, tmp_path):
    png, csv, npz = tmp_path / "cells.png", tmp_path / "cells.csv", tmp_path / "cells.npz"
    code, _, err = cli(
        "inspect",
        tiny_run,
        "--text",
        'He said "no".\n',
        "--units",
        "3,7,1",
        "--plot",
        png,
        "--csv",
        csv,
        "--npz",
        npz,
        "--show",
        "all",
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(csv, newline="", encoding="utf-8") as f:
        rows = list(reader(f))
    assert rows[0][:5] == ["position", "token", "c3", "h3", "i3"]
    assert len(rows) == 1 + len('He said "no".\n') and rows[-1][1] == "\n"
    data = np.load(npz)
    assert data["c"].shape == (2, 14, 12) and data["f"].shape == (2, 14, 12)  # 2 layers
    assert "".join(data["tokens"]) == 'He said "no".\n'
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_cli_inspect_top_regex(cli, tiny_run, tmp_path, monkeypatch):
    code, out, err = cli(
        "inspect",
        tiny_run,
        "--text",
        'He said "hi there" then.\nShe said "no".',
        "--regex",
        '"[^"]*"',
        "--top",
        "3",
        "--plot",
        tmp_path / "q.png",
    )
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("unit")]
    assert len(lines) == 3 and all("r = " in ln for ln in lines)
    assert (tmp_path / "q.png").is_file()

    code, _, err = cli("inspect", tiny_run, "--text", "He said no.", "--regex", "zzz", "--top", "2")
    assert code == 1 and "matches nothing" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("inspect", tiny_run, "--text", "He said", "--units", "99", "--json")
    assert code == 1 and "unit 99 does not exist" in err
    code, _, err = cli("inspect", tiny_run, "--text", "Hé!", "--json")
    assert code == 1 and "--text" in err and "never saw" in err
    code, _, err = cli("inspect", tiny_run, "--text", "He", "--top", "2")
    assert code == 1 and "--regex" in err

    page = tmp_path / "page.txt"
    page.write_text('She said "no".\nHe said "hi".\n')
    code, out, err = cli(
        "inspect",
        tiny_run,
        "--prime-file",
        page,
        "--regex",
        r"\n",
        "--top",
        "2",
        "--layer",
        "0",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["layer"] == 0 and report["matched_tokens"] == 2 and len(report["units"]) == 2


def test_bits_10_1_learned_exactly():
    """One LSTM layer learns 0000000000 1 repeated: greedy generation reproduces it exactly."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import bit_patterns
    finally:
        sys.path.remove(str(ROOT / "examples"))
    result = bit_patterns.learn("bits-10-1", hidden_size=bit_patterns.TEST_SIZE, check_length=600)
    assert result["exact"], result
    assert result["generated"] == result["truth"] and len(result["generated"]) >= 500
