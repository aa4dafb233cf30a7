"""The LSTM's weight drop (DropConnect on the recurrent matrices): masks in training only, one
mask per step shared by every time step, gradients through the kept entries, and the option
checked, stored and restored like any other model field."""

import pytest
import torch

from seqgen.models.lstm import LSTMConfig, LSTMLanguageModel


def model(weight_drop: float) -> LSTMLanguageModel:
    torch.manual_seed(0)
    cfg = LSTMConfig(vocab_size=9, embedding_size=6, hidden_size=12, num_layers=2, dropout=0.0)
    cfg.weight_drop = weight_drop
    return LSTMLanguageModel(cfg)


def test_weight_drop_is_off_in_evaluation_and_random_in_training():
    dropped, plain = model(0.5), model(0.0)
    x = torch.randint(0, 9, (3, 7))
    dropped.eval(), plain.eval()
    assert torch.equal(dropped(x)[0], plain(x)[0])  # the same weights, no mask
    dropped.train()
    a, b = dropped(x)[0], dropped(x)[0]
    assert not torch.allclose(a, b)  # a fresh mask each call
    assert not torch.allclose(a, plain(x)[0])


def test_weight_drop_masks_recurrent_entries_for_the_whole_sequence():
    m = model(0.5).train()
    torch.manual_seed(3)
    loss, _ = m.loss(torch.randint(0, 9, (4, 20)), torch.randint(0, 9, (4, 20)), None)
    loss.backward()
    for k in range(2):
        grad = getattr(m.lstm, f"weight_hh_l{k}").grad
        zero = (grad == 0).float().mean().item()
        assert 0.35 < zero < 0.65  # the dropped half gets no gradient from any time step
        assert getattr(m.lstm, f"weight_ih_l{k}").grad.ne(0).float().mean() > 0.95


def test_weight_drop_leaves_the_weights_and_flat_weights_alone():
    m = model(0.5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()(torch.randint(0, 9, (2, 5)))
    m.eval()
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    ref = model(0.0).eval()
    x = torch.randint(0, 9, (2, 5))
    assert torch.equal(m(x)[0], ref(x)[0])  # no dropped matrix left behind in nn.LSTM


@pytest.mark.parametrize("bad", [-0.1, 1.0, 3.0])
def test_weight_drop_out_of_range_is_one_line(cli, tmp_path, bad):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcd " * 400)
    code, _, err = cli("train", "-d", "char", "-c", str(corpus), "--max-steps", "2",
                       "--weight-drop", str(bad), "--out", str(tmp_path / "r"), "-q")  # fmt: skip
    assert code != 0
    assert err.strip().splitlines() == [
        f"seqgen: error: --weight-drop {bad:g}: give a number from 0 up to (not) 1"
    ]
    assert not (tmp_path / "r").exists()


def test_weight_drop_is_kept_in_the_checkpoint(cli, tmp_path):
    import seqgen

    corpus = tmp_path / "c.txt"
    corpus.write_text("abcd efgh\n" * 300)
    out = tmp_path / "r"
    code, _, err = cli("train", "-d", "char", "-c", str(corpus), "--max-steps", "3",
                       "--weight-drop", "0.3", "--hidden-size", "16", "--embedding-size", "8",
                       "--out", str(out), "-q")  # fmt: skip
    assert code == 0, err
    assert seqgen.load(out).model.cfg.weight_drop == 0.3


def test_one_weight_drop_mask_per_step_across_document_resets(monkeypatch):
    m = model(0.5).train()
    calls = []
    real = m.dropped_weights
    monkeypatch.setattr(m, "dropped_weights", lambda: calls.append(1) or real())
    x = torch.randint(1, 9, (3, 12))
    resets = torch.zeros(3, 12, dtype=torch.bool)
    resets[0, 4], resets[1, 7], resets[2, 9] = True, True, True  # four segments
    m.loss(x, x, None, resets=resets)
    assert len(calls) == 1
    assert m._dropped is None  # nothing left over for evaluation
