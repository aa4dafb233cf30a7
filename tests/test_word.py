"""The word domain: readable round trips, vocabulary limits, WikiText mode, vectors, priming,
the `neighbours` command, and characters as the unit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from seqgen_plugins.word import MAX_UNK_LEN, SAMPLE, WordTokenizer, split_raw

from seqgen.corpus import resolve
from seqgen.data import prepare
from seqgen.tokenizer import Document

TEXT = (
    '"Well," he said -- and paused.  It\'s 1899!\n'
    "She didn't answer; the _Nellie_ swung.\n"
    "\n"
    "\tA new paragraph (with brackets) ends here...\n"
)
TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8"]
TINY += ["--threads", "1", "-q"]


def fitted(text: str = TEXT, **options: str) -> WordTokenizer:
    tok = WordTokenizer.create({"pretokenized": "false", **options})
    tok.fit([Document("t", [tok.normalize(text)])])
    return tok


def test_split_is_lossless_and_keeps_layout():
    pieces = split_raw(TEXT)
    assert "".join(pieces) == TEXT
    assert {"\n", ",", ".", "!", " (", ")"} <= set(pieces)
    assert " didn't" in pieces and "Well" in pieces and " said" in pieces and "\t" in pieces
    assert split_raw("a  b") == ["a", " ", " b"]  # the last space of a run goes to the word


def test_decode_round_trip_is_readable():
    tok = fitted(min_count="1")
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT  # punctuation, line breaks, the blank line, the tab
    assert tok.count_units(ids) == len(TEXT)
    # Every token decodes on its own, so streamed samples read the same as the whole.
    assert "".join(tok.to_text([i]) for i in ids) == TEXT


def test_lowercase_option():
    tok = fitted(min_count="1", lowercase="true")
    assert tok.decode(tok.encode(tok.normalize("WELL, HE SAID."))) == "well, he said."


def test_vocab_limits_and_unk_keep_character_count():
    text = "the cat saw the dog. the cat ran.\n" * 3 + "a zebra!\n"
    tok = fitted(text, max_vocab="4", min_count="1")
    assert len(tok.words) == 4 and tok.vocab_size == tok.n_special + 4
    tok2 = fitted(text, min_count="2")
    assert " zebra" not in tok2.words and " cat" in tok2.words
    ids = tok2.encode("the zebra ran.\n")
    assert tok2.decode(ids) == "the <unk> ran.\n"
    assert tok2.count_units(ids) == len("the zebra ran.\n")  # <unk> remembers its length
    extras = tok2.eval_extras(ids)
    assert extras["unk_tokens"] == 1 and extras["unk_rate"] == pytest.approx(1 / len(ids))


def test_state_round_trip():
    tok = fitted()
    again = WordTokenizer.from_state(json.loads(json.dumps(tok.get_state())))
    assert again.encode(TEXT).tolist() == tok.encode(TEXT).tolist()


def _wikitext_like(root):
    lines = {
        "train": [" \n", " = Title = \n", " \n", " The cat , a <unk> , sat . \n", " It sat . \n"],
        "valid": [" \n", " The dog sat . \n", " A <unk> . \n"],
        "test": [" The cat sat \n", " . \n"],
    }
    root.mkdir()
    for split, ls in lines.items():
        (root / f"{split}.txt").write_text("".join(ls) * 5, encoding="utf-8")
    return root, lines


@pytest.mark.parametrize("mode", ["true", "auto"])
def test_pretokenized_counts_match_pytorch_examples(tmp_path, mode):
    root, lines = _wikitext_like(tmp_path / "wt")
    cls = WordTokenizer
    data = prepare(
        cls, resolve(str(root), cls.file_patterns), cls.parse_options({"pretokenized": mode})
    )
    tok = data.tokenizer
    assert tok.pretokenized
    for split, ls in lines.items():
        want = 5 * sum(len(line.split()) + 1 for line in ls)  # words + <eos> per line
        info = data.meta["splits"][split]
        assert info["tokens"] - info["documents"] == want
        assert info["units"] == len((root / f"{split}.txt").read_text())  # characters of the file
    assert tok.index["<unk>"] == 1  # the corpus's own <unk> is the unknown token
    ids = tok.encode(" The dog sat . \n")
    assert tok.decode(ids) == " The <unk> sat . \n"  # "dog" is only in valid
    assert tok.eval_extras(ids)["unk_tokens"] == 1


def test_count_units_matches_char_domain(tmp_path):
    from seqgen_plugins.char import CharTokenizer

    root = tmp_path / "split"
    root.mkdir()
    (root / "train.txt").write_text(SAMPLE * 4)
    (root / "valid.txt").write_text("Unseen words, Zanzibar!\n\n" + SAMPLE)
    spec = resolve(str(root), ("*.txt",))
    for opts in ({}, {"lowercase": "true"}):
        word = prepare(WordTokenizer, spec, WordTokenizer.parse_options(opts))
        char = prepare(CharTokenizer, spec, CharTokenizer.parse_options(opts))
        assert (
            word.units("valid")
            == char.units("valid")
            == len("Unseen words, Zanzibar!\n\n") + len(SAMPLE)
        )


def _glove(path, words, dim=8):
    rng = np.random.default_rng(0)
    vecs = {w: rng.normal(size=dim).round(4) for w in words}
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vecs.items()))
    return vecs


def test_vectors_coverage_and_freeze(cli, tmp_path):
    torch.set_grad_enabled(True)  # see word_run
    text = tmp_path / "t.txt"
    text.write_text(SAMPLE * 20)
    vecs = _glove(tmp_path / "glove.txt", ["the", "river", "said", "answer", "notaword"])
    run = tmp_path / "run"
    opts = ["-o", f"vectors={tmp_path / 'glove.txt'}", "-o", "freeze=true", "-o", "min_count=1"]
    code, _, err = cli(
        "train", "-d", "word", "-c", text, *opts, "--out", run, "--max-steps", "4", *TINY
    )
    assert code == 0, err
    assert "found 4 of" in err  # the, river, said, answer; notaword is no vocabulary word
    weights = torch.load(run / "checkpoint.pt", weights_only=True)["model"]["embed.weight"]
    from seqgen import checkpoint

    _, tok = checkpoint.build(checkpoint.load(run))
    for w in ("the", "river", "said", "answer"):
        for i in tok.ids_of(w):
            assert np.allclose(weights[i].numpy(), vecs[w], atol=1e-6)  # unchanged by training

    code, _, err = cli(
        "train",
        "-d",
        "word",
        "-c",
        text,
        *opts,
        "--out",
        tmp_path / "r2",
        "--max-steps",
        "1",
        *TINY[:2],
        "--embedding-size",
        "16",
        *TINY[4:],
    )
    assert code == 1 and "8 dimensions" in err and "--embedding-size 8" in err


@pytest.fixture
def word_run(cli, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wordrun")
    text = tmp / "t.txt"
    text.write_text(SAMPLE * 30)
    run = tmp / "run"
    # `generate` and `eval` switch autograd off for the whole process (torch.set_grad_enabled),
    # and the in-process CLI keeps that between tests: training needs it back on.
    torch.set_grad_enabled(True)
    code, _, err = cli("train", "-d", "word", "-c", text, "--out", run, "--max-steps", "6", *TINY)
    assert code == 0, err
    return run


def test_prime_with_unknown_word_warns(cli, word_run):
    code, out, err = cli("generate", word_run, "-n", "20", "--seed", "1", "--prime", "Aragorn said")
    assert code == 0, err
    assert "not in the vocabulary" in err and "Aragorn" in err
    assert out.startswith("<unk> said")
    code, out, err = cli("generate", word_run, "-n", "5", "--seed", "1", "--prime", "river")
    assert code == 0 and "warning" not in err and out.startswith(" river")  # " river" is known


def test_eval_reports_characters_and_unk(cli, word_run):
    code, out, err = cli("eval", word_run, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["unit"] == "character" and report["units"] > report["tokens"]
    assert "unk_tokens" in report and 0 <= report["unk_rate"] < 1


def test_neighbours_command(cli, word_run, tmp_path):
    code, out, err = cli("neighbours", word_run, "river", "--k", "3")
    assert code == 0, err
    rows = out.strip().splitlines()
    assert len(rows) == 3 and all(float(r.split()[0]) <= 1.0 for r in rows)
    code, _, err = cli("neighbours", word_run, "Aragorn")
    assert code == 1 and "not in the vocabulary" in err

    text = tmp_path / "c.txt"
    text.write_text("abc " * 100)
    code, _, err = cli(
        "train", "-d", "char", "-c", text, "--out", tmp_path / "c", "--max-steps", "1", *TINY
    )
    assert code == 0, err
    code, _, err = cli("neighbours", tmp_path / "c", "a")
    assert code == 1 and "needs a word model" in err


def test_neighbours_of_an_architecture_without_input_embedding_is_one_line(
    install_plugin, cli, tmp_path
):
    from pathlib import Path

    source = (Path(__file__).parent / "data" / "tiny_rnn_plugin.py").read_text()
    install_plugin("seqgen_tiny_rnn", source)
    text = tmp_path / "t.txt"
    text.write_text(SAMPLE * 30)
    torch.set_grad_enabled(True)  # see word_run
    args = ["--arch", "tinyrnn", "--hidden-size", "8", "--max-steps", "1", "--threads", "1"]
    code, _, err = cli("train", "-d", "word", "-c", text, "--out", tmp_path / "r", *args, "-q")
    assert code == 0, err
    code, _, err = cli("neighbours", tmp_path / "r", "river")
    assert code == 1 and "no input embedding" in err and err.count("\n") == 1, err


def test_conformance_kit(tmp_path):
    testing = pytest.importorskip("seqgen.testing")
    testing.check_tokenizer(WordTokenizer, WordTokenizer.sample_corpus(tmp_path), tmp_dir=tmp_path)


@pytest.mark.shared
def test_wikitext2_token_counts(corpora):
    root = corpora / "wikitext-2"
    if not root.is_dir():
        pytest.skip("no wikitext-2 in the shared corpora")
    data = prepare(
        WordTokenizer,
        resolve(str(root), WordTokenizer.file_patterns),
        WordTokenizer.parse_options({"pretokenized": "true"}),
    )
    got = {s: v["tokens"] - v["documents"] for s, v in data.meta["splits"].items()}
    assert got == {"train": 2_088_628, "valid": 217_646, "test": 245_569}
    # pytorch/examples' vocabulary, plus <eod> and the <unk:n> tokens for words never seen
    assert data.tokenizer.vocab_size == 33_278 + 1 + MAX_UNK_LEN
