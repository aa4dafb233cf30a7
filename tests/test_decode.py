"""Decoding: sampling keeps its seeded draws, greedy is argmax stepping, beam search finds
likelier sequences than greedy and keeps constraints, clocks and the document cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgen import registry
from seqgen.decode import DecodeConfig, decode, sequence_logprob
from seqgen.errors import SeqgenError
from seqgen.models.lstm import LSTMConfig, LSTMLanguageModel

TEXT = "".join(f"the cat sat on the mat {i % 5}. a dog ate {i % 3} bones.\n" for i in range(120))


@pytest.fixture(scope="module")
def char_model():
    """A small char LSTM trained for a few hundred full-batch steps on a repetitive text."""
    tok = registry.load().domain("char").create()
    from seqgen.tokenizer import Document

    tok.fit([Document("t", [TEXT])])
    ids = torch.tensor([[tok.eod_id, *tok.encode(TEXT)[:600]]])
    torch.manual_seed(0)
    model = LSTMLanguageModel(LSTMConfig(tok.vocab_size, 16, 48, 1, 0.0))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        loss, _ = model.loss(ids[:, :-1], ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), tok


def test_greedy_is_argmax_stepping(char_model):
    model, tok = char_model
    prime = tok.encode_prime("the ")
    got = decode(model, tok, DecodeConfig(length=30, greedy=True), prime)[0]
    seq = [tok.eod_id, *prime]
    for _ in range(30):
        logits, _ = model(torch.tensor([seq]))
        row = logits[0, -1]
        if len(seq) == len(prime) + 1:
            row[tok.eod_id] = -float("inf")  # the first token is never the end
        seq.append(int(row.argmax()))
    assert got == seq[len(prime) + 1 :]


@pytest.mark.parametrize("prime", ["the ", "a d", "on t", "mat ", "s"])
def test_beam_5_is_at_least_as_likely_as_greedy(char_model, prime):
    model, tok = char_model
    p = tok.encode_prime(prime)
    cfg = {"length": 25, "stop_at_eod": False}
    greedy = decode(model, tok, DecodeConfig(greedy=True, **cfg), p)[0]
    beam = decode(model, tok, DecodeConfig(beam=5, length_penalty=0.0, **cfg), p)[0]
    lg, lb = sequence_logprob(model, tok, p, greedy), sequence_logprob(model, tok, p, beam)
    assert len(beam) == len(greedy) == 25
    assert lb >= lg - 1e-4, (tok.to_text(beam), lb, tok.to_text(greedy), lg)


def test_beam_returns_its_best_in_order_and_can_fail(char_model):
    """The returned samples are ranked; a beam of 1 is greedy, so the test above can fail."""
    model, tok = char_model
    p = tok.encode_prime("a ")
    cfg = DecodeConfig(beam=4, num_samples=4, length=12, length_penalty=0.0, stop_at_eod=False)
    outs = decode(model, tok, cfg, p)
    scores = [sequence_logprob(model, tok, p, o) for o in outs]
    assert scores == sorted(scores, reverse=True) and len({tuple(o) for o in outs}) == 4
    # a random sequence is far less likely than the beam's
    rnd = np.random.default_rng(0).integers(2, tok.vocab_size, 12).tolist()
    assert sequence_logprob(model, tok, p, rnd) < scores[-1]


def test_sampling_with_a_seed_repeats_and_differs_by_seed(char_model):
    model, tok = char_model
    a = decode(model, tok, DecodeConfig(length=40, seed=3, num_samples=2))
    b = decode(model, tok, DecodeConfig(length=40, seed=3, num_samples=2))
    c = decode(model, tok, DecodeConfig(length=40, seed=4, num_samples=2))
    assert a == b and a != c


BAD = {
    "temperature nan": {"temperature": float("nan")},
    "temperature inf": {"temperature": float("inf")},
    "temperature -1": {"temperature": -1.0},
    "top-k 0": {"top_k": 0},
    "top-p 1.5": {"top_p": 1.5},
    "top-p 0": {"top_p": 0.0},
    "length -1": {"length": -1},
    "length a billion": {"length": 10**9},
    "samples 0": {"num_samples": 0},
    "beam 0": {"beam": 0},
    "beam and greedy": {"beam": 3, "greedy": True},
    "beam and temperature": {"beam": 3, "temperature": 0.5},
    "more samples than beams": {"beam": 2, "num_samples": 3},
    "length penalty nan": {"beam": 2, "length_penalty": float("nan")},
    "beam a million": {"beam": 10**6},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_decoding_options_are_one_line(case):
    with pytest.raises(SeqgenError) as e:
        DecodeConfig(**BAD[case]).check()
    assert "\n" not in str(e.value)


def test_markup_under_beam_search_is_always_well_formed():
    from seqgen_plugins.markup import MarkupTokenizer
    from test_markup import TRAIN, parses

    from seqgen.tokenizer import Document

    tok = MarkupTokenizer.create({"min_count": "1"})
    tok.fit([Document("train", [TRAIN])])
    ok = 0
    for seed in range(100):  # untrained models of many seeds: the constraint does the work
        torch.manual_seed(seed)
        model = LSTMLanguageModel(LSTMConfig(tok.vocab_size, 8, 16, 1, 0.0)).eval()
        out = decode(model, tok, DecodeConfig(length=int(20 + seed * 3), beam=3))[0]
        ok += parses(tok.to_text(out))
    assert ok == 100


class LineClock:
    """A clock whose bars are lines: each newline ends one."""

    def __init__(self, newline: int):
        self.newline, self.lines = newline, 0

    def advance(self, token: int) -> None:
        self.lines += token == self.newline

    def elapsed(self, measure: str) -> float:
        return float(self.lines)

    def copy(self):
        other = LineClock(self.newline)
        other.lines = self.lines
        return other


@pytest.mark.parametrize("beam", [1, 4])
def test_a_clock_ends_each_hypothesis_at_its_goal(char_model, monkeypatch, beam):
    model, tok = char_model
    newline = tok.encode_prime("\n")[0]
    monkeypatch.setattr(type(tok), "measures", ("bars",))
    monkeypatch.setattr(tok, "clock", lambda: LineClock(newline))
    cfg = DecodeConfig(beam=beam, length=400, until=("bars", 2), num_samples=1, seed=1)
    (ids,) = decode(model, tok, cfg, tok.encode_prime("a "))
    assert ids.count(newline) == 2 and ids[-1] == newline


def test_beam_with_the_document_cache_on_a_midi_run(tmp_path, cli):
    """A midi run trained with --cache: beam search by --bars runs with the cache mixed in and
    ends by its clock, its end-of-piece or its length; the CLI writes the MIDI file."""
    from test_midi import train_tiny

    from seqgen import api

    _, run = train_tiny(tmp_path, cli, songs=4, bars=6, steps=8, hidden=16, batch=2,
                        options=("--cache",))  # fmt: skip
    model = api.load(run)
    assert model.checkpoint.cache is not None
    (ids,) = model.generate_ids(beam=3, length=300, until=("bars", 2))
    clock = model.tokenizer.clock()
    for t in ids:
        clock.advance(t)
    ended = 2 <= clock.elapsed("bars") < 3 or ids[-1] == model.tokenizer.eod_id
    assert ended or len(ids) >= 300
    code, _, err = cli("generate", run, "--beam", "3", "--bars", "2", "-n", "300",
                       "--out", tmp_path / "b.mid")  # fmt: skip
    assert code == 0 and (tmp_path / "b.mid").stat().st_size > 0, err


def test_a_text_run_refuses_audio_and_writes_nothing(tmp_path, cli):
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    run = tmp_path / "r"
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", run, "--max-steps", "2",
                       "--hidden-size", "8", "--embedding-size", "4", "-q")  # fmt: skip
    assert code == 0, err
    wav = tmp_path / "x.wav"
    code, out, err = cli("generate", run, "--audio", wav, "-n", "5")
    assert code == 1 and "audio" in err and err.count("\n") == 1 and out == ""
    assert not wav.exists()
