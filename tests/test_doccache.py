"""The document cache: matching, fitting, and that eval and the sampler use the same mixture."""

import json

import numpy as np
import pytest
import torch

from seqgen import checkpoint
from seqgen.decode import with_cache as _with_cache
from seqgen.doccache import BOUNDS, MIN_BUCKET, NEAR, CacheWeights, MatchCache, fit, scan
from seqgen.evaluate import cached_logprobs, fit_cache, target_logprobs, with_start
from seqgen.models.lstm import LSTMConfig as ModelConfig
from seqgen.models.lstm import LSTMLanguageModel

EOD = 0


def fed(tokens):
    cache = MatchCache()
    for t in tokens:
        cache.feed(t, EOD)
    return cache


def test_proposes_what_followed_the_last_match():
    cache = fed([EOD, 1, 2, 3, 4, 5, 9, 1, 2, 3])
    assert cache.candidate() == (4, 3, 6)  # (token, length, distance back)
    cache.feed(4, EOD)
    assert cache.candidate() == (5, 4, 6)  # the match goes on
    cache.feed(7, EOD)
    assert cache.candidate() == (-1, 0, 0)  # it broke, and (3, 4, 7) never occurred


def test_match_length_counts_back_past_the_hash():
    assert fed([EOD, 8, 1, 2, 3, 4, 6, 8, 1, 2, 3]).candidate()[:2] == (4, 4)
    assert fed([EOD, 1, 2, 3]).candidate() == (-1, 0, 0)  # nothing earlier to match
    assert fed([EOD, 5, 5, 5, 5]).candidate() == (5, 1, 1)  # a run matches itself, one back


def test_a_loop_does_not_lengthen_its_own_match():
    """Round and round a 4-token loop the match spans at most one turn, so its weight stays
    that of a 4-token match and a sampler is not pulled ever deeper into the loop."""
    cache = fed([EOD, *[1, 2, 3, 4] * 6])
    assert cache.candidate() == (1, 4, 4)
    assert fed([EOD, 1, 2, 3, 4, 7, 7, 1, 2, 3]).candidate() == (4, 3, 6)  # apart: as found


def test_the_latest_occurrence_wins():
    assert fed([EOD, 1, 2, 3, 4, 1, 2, 3, 7, 1, 2, 3]).candidate()[0] == 7


def test_a_new_document_forgets_the_last():
    ids = np.array([EOD, 1, 2, 3, 4, EOD, 1, 2, 3, 4])
    cand, length, _ = scan(ids, EOD)
    assert len(cand) == len(ids) - 1
    assert cand[-1] == -1 and length[-1] == 0  # "1 2 3" was in the other document
    cand, _, _ = scan(np.array([EOD, 1, 2, 3, 4, 1, 2, 3, 4]), EOD)
    assert cand[-1] == 4  # in one document it is found


def best_weight(p, hit):
    grid = np.linspace(0, 0.999, 2000)
    return grid[np.argmax([np.log((1 - w) * p + w * hit).sum() for w in grid])]


def test_fit_finds_the_likeliest_weight_per_bucket():
    rng = np.random.default_rng(0)
    n = 400
    lengths = np.concatenate([np.full(n, 3), np.full(n, 40), np.full(5, 200), np.zeros(n, int)])
    p = np.concatenate(
        [
            rng.uniform(0.05, 0.5, n),
            rng.uniform(0.05, 0.5, n),
            np.full(5, 0.3),
            rng.uniform(0.05, 0.5, n),
        ]
    )
    hit = np.concatenate([np.zeros(n), rng.random(n) < 0.9, np.ones(5), np.ones(n)])
    far = np.full(len(p), 1000)
    w = fit(np.log(p), hit, lengths, far)
    assert w.of(3, 1000) == 0  # the cache never hit at length 3: no weight
    short = slice(n, 2 * n)
    assert w.of(40, 1000) == pytest.approx(best_weight(p[short], hit[short]), abs=2e-3)
    assert 0.5 < w.of(40, 1000) < 0.999
    assert 5 < MIN_BUCKET and w.of(200, 1000) == w.of(100, 1000) == w.of(40, 1000)  # too rare
    assert w.of(0, 0) == 0  # no candidate, nothing mixed in (though every such target "hit")
    assert w.of(40, 10) == 0  # no near match was seen: the near table is empty
    assert len(w.weights) == len(w.near) == len(BOUNDS)
    assert CacheWeights.from_dict(json.loads(json.dumps(w.to_dict()))) == w


def test_near_and_far_matches_are_weighted_apart():
    """A long match close behind (a sampler repeating its last bar) gets the weight that such
    matches earned on validation, not the far repeats' weight."""
    rng = np.random.default_rng(1)
    n = 400
    p = rng.uniform(0.05, 0.5, 2 * n)
    hit = np.concatenate([rng.random(n) < 0.95, rng.random(n) < 0.1])
    lengths = np.full(2 * n, 40)
    gaps = np.concatenate([np.full(n, 500), np.full(n, 40)])
    w = fit(np.log(p), hit, lengths, gaps)
    assert w.of(40, 500) > 0.8 and w.of(40, 40) < 0.1
    assert NEAR > 40 and w.of(40, NEAR) == w.of(40, 500)


def repeating_ids(rng, docs=30, size=12, vocab=9):
    ids = [EOD]
    for _ in range(docs):
        phrase = list(rng.integers(1, vocab, size))
        ids += phrase + list(rng.integers(1, vocab, 3)) + phrase + [EOD]
    return np.array(ids, dtype=np.uint16)


def tiny_model(vocab=9):
    torch.manual_seed(0)
    return LSTMLanguageModel(
        ModelConfig(vocab_size=vocab, embedding_size=4, hidden_size=8, num_layers=2, dropout=0.0)
    )


def test_eval_mixture_is_the_sum_of_per_token_mixtures():
    rng = np.random.default_rng(1)
    model, ids = tiny_model(), repeating_ids(rng)
    logp = target_logprobs(model, ids, EOD, streams=4)
    w = fit_cache(logp, ids, EOD)
    mixed = cached_logprobs(logp, ids, EOD, w)
    assert mixed.sum() > logp.sum() + 50  # repeated phrases: the cache must pay off
    cache, want = MatchCache(), []
    for t in range(len(ids) - 1):
        cache.feed(int(ids[t]), EOD)
        c, m, gap = cache.candidate()
        lam = float(w.of(m, gap))
        want.append(np.log((1 - lam) * np.exp(logp[t]) + lam * (c == ids[t + 1])))
    assert mixed == pytest.approx(np.array(want), abs=1e-6)


def test_sampler_draws_from_the_distribution_eval_scores():
    """Step by step, the sampler's mixed distribution gives each next token the probability that
    eval's mixture gives it."""
    rng = np.random.default_rng(2)
    model, ids = tiny_model(), repeating_ids(rng, docs=20)
    w = fit_cache(target_logprobs(model, ids, EOD, streams=4), ids, EOD)
    doc = ids[: np.flatnonzero(ids == EOD)[1] + 1]  # the first document, from its EOD
    want = cached_logprobs(target_logprobs(model, doc, EOD), doc, EOD, w)
    stepper, cache = model.stepper(), MatchCache()
    state = stepper.initial_state(1)
    got = []
    for t in range(len(doc) - 1):
        logits, state = stepper.step(np.array([doc[t]]), state)
        cache.feed(int(doc[t]), EOD)
        row = torch.from_numpy(_with_cache(logits, [cache], w)[0])  # the sampler normalises
        got.append(float(torch.log_softmax(row, -1)[doc[t + 1]]))
    assert np.array(got) == pytest.approx(want, abs=1e-4)
    _, length, gap = scan(doc, EOD)
    assert np.count_nonzero(w.of(length, gap)) >= 5  # the comparison covered mixed-in tokens too


def test_every_document_is_scored_from_its_start():
    """The first document counts its first token and reads like the others, after an EOD."""
    rng = np.random.default_rng(3)
    model, ids = tiny_model(), repeating_ids(rng, docs=40)[1:]  # drop the leading EOD
    logp = target_logprobs(model, ids, EOD, streams=4)
    assert len(logp) == len(ids)
    assert len(with_start(ids, EOD)) == len(ids) + 1
    first = ids[: np.flatnonzero(ids == EOD)[0]]
    x = torch.from_numpy(np.concatenate([[EOD], first[:-1]]).astype(np.int64))[None]
    with torch.inference_mode():
        one = torch.log_softmax(model(x)[0][0], -1)[torch.arange(len(first)), first]
    assert logp[: len(first)] == pytest.approx(one.numpy(), abs=1e-5)


@pytest.fixture
def repeats(tmp_path):
    """Documents that say a random phrase, a short break, then the phrase again."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(60):
        phrase = "".join(rng.choice(letters, 30))
        (folder / f"d{i:02d}.txt").write_text(f"{phrase} and {phrase}.\n")
    return folder


TINY = (
    "--hidden-size",
    "24",
    "--embedding-size",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "32",
    "--dropout",
    "0",
    "-q",
)


def test_train_eval_generate_with_the_cache(cli, tmp_path, repeats):
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "-d", "char", "-c", repeats, "--out", run, "--max-steps", "40", "--cache", *TINY
    )
    assert code == 0, err
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_cache_bits_per_unit" in r for r in rows)
    ck = checkpoint.load(run)
    assert ck.cache is not None

    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["cache"] is True
    alone = report["without_cache"]["nats_per_unit"]
    assert report["nats_per_unit"] < 0.8 * alone  # the second half of each line is a copy
    code, out, _ = cli("eval", run, "--json", "--no-cache")
    plain = json.loads(out)
    assert plain["cache"] is False and "without_cache" not in plain
    assert plain["nats_per_unit"] == pytest.approx(alone)

    code, out, err = cli("generate", run, "-n", "80", "--seed", "4", "--prime", "xyzq and xyz")
    assert code == 0, err
    code, again, _ = cli("generate", run, "-n", "80", "--seed", "4", "--prime", "xyzq and xyz")
    assert again == out
    code, _, err = cli("generate", run, "-n", "20", "--no-cache")
    assert code == 0, err


def test_resume_keeps_the_cache_and_a_plain_run_has_none(cli, tmp_path, repeats):
    run = tmp_path / "run"
    args = ("train", "-d", "char", "-c", repeats, "--max-steps", "30", "--cache", *TINY)
    code, _, err = cli(*args, "--out", run, "--stop-after", "10")
    assert code == 0, err
    code, _, err = cli("train", "--resume", run)
    assert code == 0, err
    ck = checkpoint.load(run / "checkpoint.pt")
    assert ck.progress.step == 30 and ck.cache is not None
    plain = tmp_path / "plain"
    code, _, err = cli(
        "train", "-d", "char", "-c", repeats, "--max-steps", "5", "--out", plain, *TINY
    )
    assert code == 0, err
    assert checkpoint.load(plain).cache is None
    code, out, _ = cli("eval", plain, "--json")
    assert json.loads(out)["cache"] is False


def test_corrupt_cache_weights_are_one_line(cli, tmp_path, repeats):
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "-d", "char", "-c", repeats, "--max-steps", "5", "--out", run, "--cache", *TINY
    )
    assert code == 0, err
    ck = torch.load(run / "best.pt", weights_only=True)
    ck["cache"] = {"weights": "nonsense"}
    torch.save(ck, run / "best.pt")
    code, _, err = cli("eval", run)
    assert code == 1 and "cache" in err and "Traceback" not in err
