"""Decoding: sampling keeps its seeded draws (the sampler it replaced is kept below as a
reference), greedy is argmax stepping, beam search finds likelier sequences than greedy and
keeps constraints, clocks and the document cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen import registry
from seqgen.decode import DecodeConfig, decode, sequence_logprob
from seqgen.doccache import BOUNDS, CacheWeights, MatchCache, mix_probs
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


# The sampler decode.py replaced (seqgen/sample.py at f1bb38c), its arithmetic verbatim and on
# the stepper API: a change to what a seed draws fails here, not in someone's saved results.
def old_filter_logits(logits, cfg):
    logits = logits / max(cfg.temperature, 1e-6)
    if cfg.top_k is not None and 0 < cfg.top_k < logits.shape[-1]:
        kth = np.partition(logits, -cfg.top_k, axis=-1)[:, -cfg.top_k, None]
        logits = np.where(logits < kth, -np.inf, logits)
    if cfg.top_p is not None and 0 < cfg.top_p < 1:
        order = np.argsort(-logits, axis=-1)
        ranked = np.take_along_axis(logits, order, -1)
        probs = old_softmax(ranked)
        drop = np.cumsum(probs, -1) - probs >= cfg.top_p
        np.put_along_axis(logits, order, np.where(drop, -np.inf, ranked), -1)
    return logits


def old_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def old_draw(probs, rng):
    u = rng.random((probs.shape[0], 1)) * probs.sum(-1, keepdims=True)
    return np.minimum((np.cumsum(probs, -1) < u).sum(-1), probs.shape[1] - 1)


def old_with_cache(logits, caches, w):
    cands, lengths, gaps = np.array([c.candidate() for c in caches]).T
    lams = w.of(lengths, gaps)
    if not lams.any():
        return logits
    with np.errstate(divide="ignore"):
        return np.log(mix_probs(old_softmax(logits), cands.tolist(), lams.tolist()))


def old_followers(tok, cfg, prime, n):
    """Each sample's constraint, clock and cache, advanced over the prime."""
    constraints = [tok.constraint() for _ in range(n)]
    clocks = [tok.clock() for _ in range(n)] if cfg.until else []
    for follower in (constraints if constraints[0] is not None else []) + clocks:
        for t in prime:
            follower.advance(int(t))
    caches = [MatchCache(cfg.cache.min_match) for _ in range(n)] if cfg.cache else []
    for cache in caches:
        for t in [tok.eod_id, *prime]:
            cache.feed(int(t), tok.eod_id)
    return constraints, clocks, caches


@torch.inference_mode()
def old_generate(model, tok, cfg, prime=()):
    n = cfg.num_samples
    rng = np.random.default_rng(cfg.seed)
    constraints, clocks, caches = old_followers(tok, cfg, prime, n)
    constrained = constraints[0] is not None
    start = [c.elapsed(cfg.until[0]) for c in clocks]
    logits, state = model(torch.tensor([[tok.eod_id, *prime]] * n, dtype=torch.long))
    logits, stepper = logits[:, -1].float().cpu().numpy(), model.stepper()
    state = stepper.start(state)
    out, done = [[] for _ in range(n)], [False] * n
    for step in range(cfg.length):
        if caches:
            logits = old_with_cache(logits, caches, cfg.cache)
        if step == 0 and cfg.length > 1:
            logits[:, tok.eod_id] = -np.inf
        for i, con in enumerate(constraints if constrained else []):
            allowed = con.mask()
            if allowed is not None:
                logits[i, ~allowed] = -np.inf
        if cfg.greedy:
            nxt = logits.argmax(-1)
        else:
            nxt = old_draw(old_softmax(old_filter_logits(logits, cfg)), rng)
        for i, t in enumerate(nxt.tolist()):
            if done[i]:
                continue
            out[i].append(t)
            if caches:
                caches[i].feed(t, tok.eod_id)
            if constrained:
                constraints[i].advance(t)
            if cfg.stop_at_eod and t == tok.eod_id:
                done[i] = True
            if clocks:
                clocks[i].advance(t)
                done[i] |= clocks[i].elapsed(cfg.until[0]) - start[i] >= cfg.until[1]
        if all(done):
            break
        logits, state = stepper.step(nxt, state)
    for i, con in enumerate(constraints if constrained else []):
        if not out[i] or out[i][-1] != tok.eod_id:
            out[i].extend(con.finish())
    return out


HALF = CacheWeights(weights=[0.5] * len(BOUNDS), near=[0.5] * len(BOUNDS))
AS_BEFORE = {
    "plain": {"seed": 3},
    "temperature and top-k": {"seed": 3, "temperature": 0.7, "top_k": 5},
    "top-p, three samples": {"seed": 11, "top_p": 0.9, "num_samples": 3},
    "all three": {"seed": 5, "temperature": 1.3, "top_k": 20, "top_p": 0.8, "num_samples": 2},
    "greedy": {"greedy": True, "num_samples": 2},
    "past the end": {"seed": 7, "stop_at_eod": False, "length": 300},
    "cache": {"seed": 2, "cache": HALF, "num_samples": 3, "temperature": 1.5},
    "one token (the end allowed)": {"seed": 1, "length": 1, "num_samples": 4},
}


@pytest.mark.parametrize("case", sorted(AS_BEFORE))
@pytest.mark.parametrize("prime", ["", "a dog "])
def test_sampling_draws_what_the_old_sampler_drew(char_model, case, prime):
    model, tok = char_model
    p = tok.encode_prime(prime) if prime else []
    opts = {"length": 120, **AS_BEFORE[case]}
    want = old_generate(model, tok, DecodeConfig(**opts), p)
    assert decode(model, tok, DecodeConfig(**opts), p) == want


def test_sampling_with_a_clock_and_a_constraint_draws_as_before(char_model, monkeypatch):
    from seqgen_plugins.markup import MarkupTokenizer
    from test_markup import TRAIN

    from seqgen.tokenizer import Document

    model, tok = char_model
    newline = tok.encode_prime("\n")[0]
    monkeypatch.setattr(type(tok), "measures", ("bars",))
    monkeypatch.setattr(tok, "clock", lambda: LineClock(newline))
    cfg = {"length": 400, "seed": 4, "num_samples": 3, "until": ("bars", 2.0)}
    assert decode(model, tok, DecodeConfig(**cfg)) == old_generate(model, tok, DecodeConfig(**cfg))
    mtok = MarkupTokenizer.create({"min_count": "1"})
    mtok.fit([Document("train", [TRAIN])])
    for seed in range(5):
        torch.manual_seed(seed)
        mmodel = LSTMLanguageModel(LSTMConfig(mtok.vocab_size, 8, 16, 2, 0.0)).eval()
        cfg = DecodeConfig(length=40 + 9 * seed, seed=seed, num_samples=3, top_k=4)
        assert decode(mmodel, mtok, cfg) == old_generate(mmodel, mtok, cfg)


def test_a_format_1_checkpoint_samples_what_the_old_sampler_wrote():
    """Ids recorded by seqgen.sample.generate itself (f1bb38c) from tests/data/golden-word.pt:
    a word model with a tied adaptive softmax and the document cache."""
    from pathlib import Path

    from seqgen import checkpoint

    ckpt = checkpoint.load(Path(__file__).parent / "data" / "golden-word.pt")
    model, tok = checkpoint.build(ckpt)
    cfg = DecodeConfig(length=20, seed=8, top_k=30, temperature=1.5, num_samples=2)
    cfg.cache = ckpt.cache
    got = decode(model, tok, cfg, tok.encode_prime("line 3: the"))
    assert got == [
        [52, 50, 54, 54, 38, 49, 53, 52, 50, 51, 54, 51, 8, 51, 55, 55, 51, 27, 51, 57],
        [52, 51, 51, 54, 53, 49, 49, 55, 55, 53, 52, 50, 51, 54, 53, 49, 49, 55, 55, 53],
    ]


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


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(
        ["length", "temperature", "top_k", "top_p", "beam", "length_penalty", "num_samples", "seed"]
    ),  # fmt: skip
    value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True)),
)
def test_any_number_for_a_decoding_option_is_accepted_or_refused_cleanly(field, value):
    ints = {"length", "top_k", "beam", "num_samples", "seed"}
    if field in ints and isinstance(value, float):
        return  # the CLI's int options refuse a float before this point
    try:
        DecodeConfig(**{field: value}).check()
    except SeqgenError as e:
        assert "\n" not in str(e) and field.replace("_", "-") in str(e)
