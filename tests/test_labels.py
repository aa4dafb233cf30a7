"""Control labels (docs/labels.md): where they come from, how they enter the token store, and
how generation asks for them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from seqgen.corpus import resolve
from seqgen.data import _key, prepare
from seqgen.errors import DataError
from seqgen.labels import LabelSpec, LabelTable, read_sidecar
from seqgen.registry import load

TEXTS = {"aaa": "abab abab aaa\n", "bbb": "xyz xyzzy zz\n"}


def corpus(root, n=3):
    """root/aaa/k.txt and root/bbb/k.txt: two styles of text in two folders."""
    for style, line in TEXTS.items():
        (root / style).mkdir(parents=True)
        for k in range(n):
            (root / style / f"{k}.txt").write_text(line * (5 + k))
    return root


def prep(path, labels=None, tok_cls=None):
    reg = load()
    cls = tok_cls or reg.domain("char")
    spec = resolve(str(path), cls.file_patterns, registry=reg)
    return prepare(cls, spec, settings={}, labels=labels, split=False)


def documents(data, split="all"):
    """(control labels, text) of each document of a split."""
    tok, table = data.tokenizer, data.labels
    ids = np.asarray(data.tokens(split)).astype(np.int64)
    out, start = [], 0
    for end in np.flatnonzero(ids == tok.eod_id).tolist():
        doc = ids[start:end]
        n = int(np.count_nonzero(doc >= tok.vocab_size))
        assert (doc[:n] >= tok.vocab_size).all() and (doc[n:] < tok.vocab_size).all()
        out.append((table.labels_of(doc[:n]), tok.decode(doc[n:].tolist())))
        start = end + 1
    return out


def style_of(text: str) -> str:
    return "aaa" if text.startswith("abab") else "bbb"


def test_folder_layout_labels_every_document_by_its_folder(tmp_path):
    data = prep(corpus(tmp_path / "c"), LabelSpec(folders="style"))
    docs = documents(data)
    assert len(docs) == 6
    assert all(labels == {"style": style_of(text)} for labels, text in docs)
    assert data.labels.known() == {"style": ["aaa", "bbb"]}
    assert data.units("all") == sum(len(t) for _, t in docs)  # control ids are no units


def test_files_at_the_corpus_root_get_no_folder_label(tmp_path):
    root = corpus(tmp_path / "c")
    (root / "loose.txt").write_text("loose\n")
    docs = documents(prep(root, LabelSpec(folders="style")))
    assert ({}, "loose\n") in docs


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_sidecar_labels_files_relative_to_the_corpus_root(tmp_path, suffix, capsys):
    root = corpus(tmp_path / "c")
    side = tmp_path / f"labels{suffix}"
    rows = [("aaa/0.txt", "one"), ("bbb/1.txt", "two"), ("gone/x.txt", "three")]
    if suffix == ".csv":
        side.write_text("file,mood\n" + "".join(f"{f},{m}\n" for f, m in rows))
    else:
        side.write_text("".join(json.dumps({"file": f, "mood": m}) + "\n" for f, m in rows))
    data = prep(root, LabelSpec(sidecar=str(side)))
    labelled = {text: labels for labels, text in documents(data) if labels}
    assert labelled == {TEXTS["aaa"] * 5: {"mood": "one"}, TEXTS["bbb"] * 6: {"mood": "two"}}
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "not in the corpus" in line]
    assert len(warning) == 1 and "gone/x.txt" in warning[0]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("a.csv", "name,mood\nx,y\n", "no 'file' column"),
        ("b.csv", "file,mood\nx,y,z\n", "different number of columns"),
        ("c.jsonl", '{"file": "x"}\nnot json\n', "line 2 is not JSON"),
        ("d.jsonl", '{"file": "x", "mood": [1]}\n', "is not text"),
        ("e.jsonl", '["x"]\n', "not a JSON object"),
    ],
)
def test_a_malformed_sidecar_is_one_line(tmp_path, name, text, says):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=says) as e:
        read_sidecar(tmp_path / name)
    assert "\n" not in str(e.value)


def test_the_cli_refuses_a_sidecar_it_cannot_use(cli, tmp_path):
    root = corpus(tmp_path / "c")
    (tmp_path / "l.txt").write_text("x")
    for bad, says in ((tmp_path / "l.txt", ".csv or .jsonl"), (tmp_path / "no.csv", "no such")):
        code, _, err = cli("train", "-d", "char", "-c", root, "--labels", bad, "--max-steps", "1")
        assert code != 0 and says in err and len(err.strip().splitlines()) == 1


def _labelled_char(first_key: str = "first"):
    """The char domain with a labels hook: the first character of the document."""
    base = load().domain("char")

    class Labelled(base):
        def labels(self, document):
            text = "".join(document.parts)
            return {first_key: text[0]} if text else {}

    return Labelled


def test_domain_hook_labels_and_precedence(tmp_path):
    """Domain-derived, then folder, then sidecar: each later source wins on a shared key."""
    root = corpus(tmp_path / "c")
    side = tmp_path / "l.csv"
    side.write_text("file,src\naaa/0.txt,sidecar\n")
    data = prep(root, LabelSpec("src", str(side), domain=True), _labelled_char("src"))
    got = sorted((labels["src"], style_of(text)) for labels, text in documents(data))
    # aaa/0 from the sidecar, the other aaa/* and bbb/* from their folder, none from the domain
    assert got == [("aaa", "aaa")] * 2 + [("bbb", "bbb")] * 3 + [("sidecar", "aaa")]
    only_domain = prep(root, LabelSpec(domain=True), _labelled_char("src"))
    assert {labels["src"] for labels, _ in documents(only_domain)} == {"a", "x"}


def test_a_labels_hook_giving_non_text_is_one_line(tmp_path):
    base = load().domain("char")

    class Bad(base):
        def labels(self, document):
            return {"n": 3}

    with pytest.raises(DataError, match="keys and values must be non-empty text"):
        prep(corpus(tmp_path / "c"), LabelSpec(domain=True), Bad)


def test_the_limits_on_keys_and_values(monkeypatch):
    monkeypatch.setenv("SEQGEN_MAX_LABEL_VALUES", "2")
    table = LabelTable(10)
    assert table.add({"b": "1", "a": "x"}) == [10, 11]  # sorted by key, numbered as met
    table.add({"a": "y"})
    with pytest.raises(DataError, match="SEQGEN_MAX_LABEL_VALUES"):
        table.add({"a": "z"})
    monkeypatch.setenv("SEQGEN_MAX_LABEL_KEYS", "2")
    with pytest.raises(DataError, match="SEQGEN_MAX_LABEL_KEYS"):
        table.add({"c": "1"})


def test_a_store_without_labels_keeps_its_key_and_bytes(tmp_path):
    """The golden path: no labels gives the key and the token files of before."""
    reg = load()
    root = corpus(tmp_path / "c")
    spec = resolve(str(root), registry=reg)
    identity = {"settings": {}, "split": False}
    old = json.dumps(
        {"format": 4, "domain": "char", "tokenizer": identity, "corpus": spec.fingerprint},
        sort_keys=True,
        default=str,
    )
    want = hashlib.blake2b(old.encode(), digest_size=12).hexdigest()
    char = reg.domain("char")
    assert _key(char, identity, spec, LabelSpec()) == want

    class Changed(char):  # a release that tokenizes the same files differently
        store_format = 2

    assert _key(Changed, identity, spec, LabelSpec()) != want
    plain, labelled = prep(root), prep(root, LabelSpec(folders="style"))
    assert plain.dir != labelled.dir and "labels" not in plain.meta
    assert plain.labels.size == 0
    strip = np.asarray(labelled.tokens("all"))
    strip = strip[strip < labelled.tokenizer.vocab_size]
    assert np.array_equal(strip, np.asarray(plain.tokens("all")))


@pytest.mark.parametrize("n", [0, 7])
def test_the_midi_hook_agrees_with_music21_on_chorales(n):
    from music21 import corpus as m21

    from seqgen.tokenizer import Document

    tok = load().domain("midi").create({})
    path = m21.getComposer("bach")[n]
    docs = list(tok.read(path))
    tok.fit(Document(d.name, list(d.parts)) for d in docs * 3)
    labels = tok.labels(Document(docs[0].name, iter(docs[0].parts)))
    score = m21.parse(path)
    want = score.analyze("key")
    metre = score.recurse().getElementsByClass("TimeSignature")[0].ratioString
    tonic, mode = labels["key"].split("-")
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    assert (names.index(tonic), mode) == (want.tonic.pitchClass, want.mode)
    assert labels["mode"] == want.mode and labels["metre"] == metre
    assert labels["tempo"] in ("slow", "medium", "fast") and labels["density"] in (
        "low", "medium", "high",
    )  # fmt: skip
    state = tok.get_state()
    assert tok.from_state(state).labels(Document("x", iter(docs[0].parts))) == labels


def test_a_transposed_variant_gets_its_own_key(tmp_path):
    """-o transpose: the domain's labels are derived again from each variant."""
    from seqgen.data import _augment_train
    from seqgen.labels import Labeller

    tok = load().domain("midi").create({"transpose": "1"})
    folder = tok.sample_corpus(tmp_path)
    docs = [d for f in sorted(folder.iterdir()) for d in tok.read(f)]
    tok.fit(docs)
    lab = Labeller(LabelSpec(domain=True), tok, folder, [])
    piece = docs[0].parts[0]
    body = np.concatenate([lab.ids(None, docs[0]), tok.encode(piece)])
    (tmp_path / "train.bin").write_bytes(np.append(body, tok.eod_id).astype(np.uint16).tobytes())
    assert _augment_train(tmp_path, np.dtype(np.uint16), tok, lab) == 2
    ids = np.fromfile(tmp_path / "train.bin", dtype=np.uint16).astype(np.int64)
    keys = []
    for doc in np.split(ids, np.flatnonzero(ids == tok.eod_id) + 1)[:-1]:
        keys.append(lab.table.labels_of(doc[doc >= tok.vocab_size])["key"])
    assert len(set(keys)) == 3  # the piece, a semitone down and a semitone up


def _kit(cls, tmp_path):
    from seqgen.testing import run_checks

    (tmp_path / "a.txt").write_text("hello world\n" * 20)
    return run_checks(cls, tmp_path / "a.txt", only=["labels"])


def _divide_by_zero(self, doc):
    return 1 / 0


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        (lambda self, doc: {"n": 3}, "gave 'n': 3"),
        (lambda self, doc: ["a"], "returned list"),
        (_divide_by_zero, "raised"),
    ],
)
def test_the_kit_reports_a_bad_labels_hook(tmp_path, hook, says):
    base = load().domain("char")
    cls = type("Bad", (base,), {"labels": hook})
    report = _kit(cls, tmp_path)
    assert not report.ok and report.failures[0].check == "labels"
    assert says in report.failures[0].problem


def test_the_kit_passes_the_default_and_a_good_hook(tmp_path):
    assert _kit(load().domain("char"), tmp_path).ok
    assert _kit(_labelled_char(), tmp_path).ok
