"""The subword domain: the kit for BPE and Unigram, exact round trips of any text, characters
as the unit (equal to the char domain's), the training split alone shaping the vocabulary, a
bounded training sample, and a tampered state refused in one line."""

from __future__ import annotations

import functools
import json
import random

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from seqgen_plugins import subword_hf as shf
from seqgen_plugins.char import CharTokenizer
from seqgen_plugins.subword import SAMPLE, SubwordTokenizer

from seqgen.corpus import resolve
from seqgen.data import prepare
from seqgen.errors import CheckpointError, OptionError, SeqgenError
from seqgen.tokenizer import Document

MODELS = ["bpe", "unigram"]
TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8",
        "--threads", "1", "-q"]  # fmt: skip
HARD = [
    "",
    "😀👩‍👩‍👧 flags 🇹🇷🇯🇵",
    "İstanbul'da ılık; IĞDIR ığdır",
    "line\r\nwindows\rold mac\n\n",
    "\x00\x01\x1b[31mred\x7f\t\v\f",
    "\ufeffBOM, e\u0301 combining, \uffff\U0010ffff private \ue000",
    "   leading and trailing   ",
    "東京 日本語 中文 한국어 العربية עברית",
]


@functools.cache
def fitted(model: str) -> SubwordTokenizer:
    tok = SubwordTokenizer.create({"model": model, "vocab": "400"})
    tok.fit([Document("sample", [SAMPLE * 4])])
    return tok


@pytest.fixture(autouse=True)
def _grad_mode():
    """`seqgen generate` in-process turns autograd off globally; training after it needs it on."""
    torch.set_grad_enabled(True)
    yield
    torch.set_grad_enabled(True)


@pytest.mark.parametrize("model", MODELS)
def test_conformance(seqgen_check, model):
    seqgen_check(SubwordTokenizer, options={"model": model})


def test_byte_characters_are_gpt2s():
    """Our byte table is the one ByteLevel uses: every byte of a text maps as we say."""
    from tokenizers import pre_tokenizers

    text = "".join(HARD) + "".join(map(chr, range(128)))
    level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    (mapped, _), *rest = level.pre_tokenize_str(text)
    assert not rest and mapped == "".join(shf.byte_chars()[b] for b in text.encode())
    assert sorted(shf.byte_chars()) == sorted(pre_tokenizers.ByteLevel.alphabet())


@pytest.mark.parametrize("model", MODELS)
def test_learns_subwords_within_the_vocabulary_asked(model):
    tok = fitted(model)
    assert 257 < tok.vocab_size <= 400  # byte tokens, <eod> and learned pieces
    ids = tok.encode(SAMPLE)
    assert len(ids) < len(SAMPLE.encode()) * (0.5 if model == "bpe" else 0.9)  # than bytes
    big = SubwordTokenizer.create({"model": model, "vocab": "65536"})
    big.fit([Document("sample", [SAMPLE])])
    assert big.vocab_size < 2000  # a tiny training text gives fewer


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), text=st.text(max_size=200))
@example(model="bpe", text="".join(HARD))
@example(model="unigram", text="".join(HARD))
def test_any_text_round_trips_and_counts_its_characters(model, text):
    tok = fitted(model)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.count_units(ids) == len(text)
    assert ids.min(initial=1) >= 1 and ids.max(initial=1) < tok.vocab_size  # never <eod>


@pytest.mark.parametrize("model", MODELS)
def test_a_long_text_without_spaces_round_trips(model):
    rng = random.Random(0)
    text = "".join(rng.choice("ACGTé") for _ in range(shf.ENCODE_CHARS * 2 + 1000))
    ids = fitted(model).encode(text)
    assert fitted(model).decode(ids) == text and fitted(model).count_units(ids) == len(text)


@pytest.mark.parametrize("model", MODELS)
def test_prime_is_normalized_like_the_corpus(model):
    tok = fitted(model)
    assert tok.decode(tok.encode_prime("Cafe\u0301\r\nok")) == "Café\nok"  # NFC, unix lines


def _split_folder(tmp_path, valid_extra: str = "", train_extra: str = ""):
    root = tmp_path / "split"
    root.mkdir(parents=True)
    (root / "train.txt").write_bytes((SAMPLE * 4 + train_extra).replace("\n", "\r\n").encode())
    (root / "valid.txt").write_text("Unseen wörds, Zanzibar! 🎉\n\n" + valid_extra + SAMPLE)
    return root


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("options", [{}, {"lowercase": "true"}, {"newlines": "keep"}])
def test_units_equal_the_char_domains(tmp_path, model, options):
    """Bits per character compare exactly: both domains count the same characters."""
    spec = resolve(str(_split_folder(tmp_path)), ("*.txt",))
    sub = prepare(
        SubwordTokenizer, spec, SubwordTokenizer.parse_options({"model": model, **options})
    )
    char = prepare(CharTokenizer, spec, CharTokenizer.parse_options(options))
    for split in ("train", "valid"):
        assert sub.units(split) == char.units(split) > 0
        assert sub.tokens(split).size < char.tokens(split).size


@pytest.mark.parametrize("model", MODELS)
def test_only_the_training_split_shapes_the_vocabulary(tmp_path, model):
    # HF's Unigram seeds pieces from distinct words, so the word comes in several forms
    words = " " + " ".join(f"zyzzyva{end}" for end in ("", "s", "e", "n", "ic", "ed", "ly"))

    def learned(**extra: str) -> bool:
        spec = resolve(str(_split_folder(tmp_path / next(iter(extra)), **extra)), ("*.txt",))
        opts = SubwordTokenizer.parse_options({"model": model})
        tok = prepare(SubwordTokenizer, spec, opts).tokenizer
        return any(b"zyzz" in tok._bytes[i] for i in range(tok.vocab_size))

    assert not learned(valid_extra=words * 50)
    assert learned(train_extra=words * 50)  # the check can see a learned word


@pytest.mark.parametrize("value", ["256", "65537", "10000000", "-5"])
def test_a_vocabulary_out_of_range_names_the_range(value):
    with pytest.raises(OptionError, match="257 to 65,536"):
        SubwordTokenizer.create({"vocab": value})


def test_a_huge_vocabulary_on_the_command_line_is_one_line(cli, tmp_path):
    (tmp_path / "t.txt").write_text(SAMPLE)
    code, _, err = cli("train", "-d", "subword", "-c", tmp_path / "t.txt", "-o", "vocab=10**9")
    assert code == 1 and err.count("\n") == 1 and "vocab" in err
    code, _, err = cli("train", "-d", "subword", "-c", tmp_path / "t.txt", "-o", "vocab=999999")
    assert code == 1 and err.count("\n") == 1 and "257 to 65,536" in err, err


def test_the_sample_is_bounded_and_spread_evenly():
    sample = shf.Sample(chars=10_000, window=100)
    for k in range(1000):
        sample.add(f"{k:05d}" + "x" * 94 + "\n")
    assert sample.read == 100_000 and 5_000 <= sample.size <= 10_000
    firsts = [int(w[:5]) for w in sample.kept]
    assert firsts[0] == 0 and firsts[-1] >= 900  # from the start to the end, at one stride
    assert len({b - a for a, b in zip(firsts, firsts[1:], strict=False)}) == 1


def test_text_without_spaces_is_thinned_to_the_distinct_budget():
    rng = random.Random(1)
    sample = shf.Sample(window=1000)
    sample.add("".join(rng.choice("ACGT") for _ in range(200_000)))
    kept = sample.texts(distinct=20_000)
    assert shf.distinct_chars(kept, 10**9) <= 20_000 < sum(map(len, sample.kept))
    prose = shf.Sample(window=1000)
    prose.add(SAMPLE * 500)
    assert prose.texts(distinct=20_000) == prose.kept  # repeated words cost nothing


@pytest.mark.parametrize("model", MODELS)
def test_fit_trains_on_the_bounded_sample(model, monkeypatch, capsys):
    seen = {}

    def spy(kind, vocab, texts):
        seen["chars"] = sum(map(len, texts))
        return shf.untrained(kind)

    monkeypatch.setattr(shf, "train", spy)
    monkeypatch.setitem(shf.DISTINCT_CHARS, model, 5_000)
    monkeypatch.setattr(shf, "WINDOW", 1000)
    rng = random.Random(2)
    text = "".join(rng.choice("abcdefgh") for _ in range(100_000))
    SubwordTokenizer.create({"model": model}).fit([Document("blob", [text])])
    assert seen["chars"] <= 5_000 * 2  # halved down to (about) the distinct budget
    assert "sample of the 100,000 training characters" in capsys.readouterr().err


def _state(model: str) -> dict:
    return json.loads(json.dumps(fitted(model).get_state()))


def _drop_byte(s):
    s["model"]["vocab"].remove("Ā")


TAMPER = {
    "version": ("bpe", lambda s: s.update(version=2)),
    "settings not a mapping": ("bpe", lambda s: s.update(settings=[1])),
    "mistyped setting": ("bpe", lambda s: s["settings"].update(vocab="400")),
    "unknown setting": ("bpe", lambda s: s["settings"].update(dropout=0.5)),
    "model switched": ("bpe", lambda s: s["settings"].update(model="unigram")),
    "model not a mapping": ("bpe", lambda s: s.update(model="BPE")),
    "non-byte entry": ("bpe", lambda s: s["model"]["vocab"].append("€uro")),
    "repeated entry": ("bpe", lambda s: s["model"]["vocab"].append("a")),
    "missing byte": ("bpe", _drop_byte),
    "merge of unknowns": ("bpe", lambda s: s["model"]["merges"].append(["qqq", "zzz"])),
    "merges not a list": ("bpe", lambda s: s["model"].update(merges={"a": "b"})),
    "positive score": ("unigram", lambda s: s["model"]["pieces"][-1].__setitem__(1, 3.0)),
    "piece not a pair": ("unigram", lambda s: s["model"]["pieces"].append(["ab"])),
    "no pieces": ("unigram", lambda s: s["model"].update(pieces=[])),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_a_tampered_state_is_a_one_line_error(case):
    model, change = TAMPER[case]
    state = _state(model)
    change(state)
    with pytest.raises(CheckpointError) as e:
        SubwordTokenizer.from_state(state)
    assert str(e.value).startswith("subword tokenizer state:") and "\n" not in str(e.value)


@pytest.mark.parametrize("model", MODELS)
def test_the_state_is_plain_json_that_rebuilds_the_same_tokenizer(model):
    state = _state(model)
    again = SubwordTokenizer.from_state(state)
    assert again.get_state() == state
    assert np.array_equal(again.encode(SAMPLE), fitted(model).encode(SAMPLE))


def test_missing_tokenizers_names_the_pip_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(SeqgenError, match=r"pip install 'tokenizers>=0\.19'"):
        SubwordTokenizer.create().fit([Document("t", ["some text"])])


def test_trains_primes_generates_and_evaluates_in_characters(cli, tmp_path):
    from seqgen import api

    root = _split_folder(tmp_path)
    run = api.train("subword", str(root), tmp_path / "run", options={"vocab": "300"},
                    max_steps=6, hidden_size=16, embedding_size=8, batch_size=2, seq_len=8,
                    threads=1).dir  # fmt: skip
    code, out, err = cli("generate", run, "-n", "30", "--seed", "1", "--prime", "Été 😀 İs")
    assert code == 0 and out.startswith("Été 😀 İs"), err
    code, _, err = cli("generate", run, "-n", "30", "--seed", "1", "--out", tmp_path / "s.txt")
    assert code == 0 and (tmp_path / "s.txt").read_text(), err
    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    report = json.loads(out)
    char = prepare(CharTokenizer, resolve(str(root), ("*.txt",)), CharTokenizer.parse_options({}))
    assert report["unit"] == "character" and report["units"] == char.units("valid")
    counted = round(report["units"] / report["characters_per_token"])  # but <eod>
    assert counted == report["tokens"] - 1  # valid is one document, so one <eod>

    raw = torch.load(run / "checkpoint.pt", weights_only=True)  # now tamper with its state
    state = json.loads(raw["tokenizer"]["state"])
    state["model"]["merges"].append(["nope", "nada"])
    raw["tokenizer"]["state"] = json.dumps(state)
    torch.save(raw, tmp_path / "tampered.pt")
    code, _, err = cli("generate", tmp_path / "tampered.pt", "-n", "5")
    assert code == 1 and err.count("\n") == 1 and "subword tokenizer state" in err, err


def test_the_docs_commands_run(cli, tmp_path, monkeypatch):
    """docs/subword.md's commands, as written, on a tiny split folder (small model, 1 s)."""
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "subword.md").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", doc, re.S)
             for line in block.splitlines() if line.startswith("seqgen ")]  # fmt: skip
    assert [line.split()[1] for line in lines] == ["train", "generate", "eval", "train", "domains"]
    monkeypatch.chdir(tmp_path)
    corpus = str(_split_folder(tmp_path))
    for line in lines:
        args = shlex.split(line)[1:]
        if args[0] == "train":
            args[args.index("-c") + 1] = corpus
            args[args.index("--max-time") + 1] = "1"
            args += TINY
        code, _, err = cli(*args)
        assert code == 0, f"{line}\n{err}"
    assert (tmp_path / "runs" / "subword-unigram" / "best.pt").is_file()
