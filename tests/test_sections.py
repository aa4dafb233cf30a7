"""Section labels (docs/labels.md): control ids inside a document where the domain says a
section starts, and generation that holds a key asked for at every section."""

from __future__ import annotations

import numpy as np
import pytest
from test_labels import corpus, prep

from seqgen.errors import DataError, SeqgenError
from seqgen.labels import LabelSpec
from seqgen.registry import load


def _sectioned_char(hook=None):
    """The char domain with a section at every line start, labelled by the line's first
    character (or ``hook``)."""
    base = load().domain("char")

    def lines(self, ids):
        text = self.decode([int(i) for i in ids])
        starts = [0] + [k + 1 for k, c in enumerate(text[:-1]) if c == "\n"]
        return [(k, {"first": text[k]}) for k in starts]

    return type("Sectioned", (base,), {"section_labels": hook or lines})


def _documents(data, head, split="all"):
    """Each document of a split as (head labels, [(section labels, text)...]); the first
    ``head`` control ids are the document's own (its first section's follow them)."""
    tok, table = data.tokenizer, data.labels
    ids = np.asarray(data.tokens(split)).astype(np.int64)
    out = []
    for doc in np.split(ids, np.flatnonzero(ids == tok.eod_id) + 1)[:-1]:
        doc = doc[:-1]
        n = head
        sections, at = [], n
        while at < len(doc):
            k = at
            while doc[k] >= tok.vocab_size:
                k += 1
            end = k
            while end < len(doc) and doc[end] < tok.vocab_size:
                end += 1
            sections.append((table.labels_of(doc[at:k]), tok.decode(doc[k:end].tolist())))
            at = end
        out.append((table.labels_of(doc[:n]), sections))
    return out


def test_sections_enter_every_document_where_the_domain_says(tmp_path):
    data = prep(
        corpus(tmp_path / "c"), LabelSpec(folders="style", sections=True), _sectioned_char()
    )
    docs = _documents(data, head=1)
    assert len(docs) == 6
    for head, sections in docs:
        assert set(head) == {"style"}
        lines = "".join(text for _, text in sections).splitlines(keepends=True)
        assert len(sections) == len(lines) >= 5
        for (labels, text), line in zip(sections, lines, strict=True):
            assert text == line and labels == {"style": head["style"], "first": line[0]}
    assert data.labels.known()["first"] == ["a", "x"]


def test_a_store_with_sections_has_its_own_key_and_the_same_text(tmp_path):
    root = corpus(tmp_path / "c")
    plain = prep(root, LabelSpec(folders="style"), _sectioned_char())
    sectioned = prep(root, LabelSpec(folders="style", sections=True), _sectioned_char())
    assert plain.dir != sectioned.dir
    a, b = (np.asarray(d.tokens("all")) for d in (plain, sectioned))
    base = plain.tokenizer.vocab_size
    assert np.array_equal(a[a < base], b[b < base]) and (b >= base).sum() > (a >= base).sum()


def test_a_domain_without_sections_is_refused(tmp_path):
    word = load().domain("word")
    with pytest.raises(SeqgenError, match="--section-labels: the word domain has no sections"):
        prep(corpus(tmp_path / "c"), LabelSpec(sections=True), word)


def test_char_paragraphs_restate_the_document_labels(tmp_path):
    def text(line):
        return "\n".join([line * 2] * 3) + "\n\n\n" + line

    root = tmp_path / "c"
    for who, line in (("ann", "la la\n"), ("bob", "do re\n")):
        (root / who).mkdir(parents=True)
        (root / who / "a.txt").write_text(text(line))
    data = prep(root, LabelSpec(folders="who", sections=True))
    for head, sections in _documents(data, head=1):
        texts = [text for _, text in sections]
        assert [labels for labels, _ in sections] == [{}] + [head] * 3  # each later paragraph
        assert all(t.startswith(("la", "do")) for t in texts[1:])
        assert "".join(texts) == text(texts[-1])


def _raises(self, ids):
    raise ValueError("boom")


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        (lambda self, ids: [(3, {"a": "x"}), (3, {"a": "y"})], "give increasing indices"),
        (lambda self, ids: [(len(ids) + 1, {"a": "x"})], "give increasing indices"),
        (lambda self, ids: [(0, {"a": 1})], "keys and values must be non-empty text"),
        (lambda self, ids: {0: {"a": "x"}}, "not a list of (index, labels)"),
        (lambda self, ids: [(True, {"a": "x"})], "give increasing indices"),
        (_raises, "section_labels() failed on document 1 of all (ValueError: boom)"),
    ],
)
def test_a_bad_sections_hook_is_one_line(tmp_path, hook, says):
    with pytest.raises(DataError) as e:
        prep(corpus(tmp_path / "c"), LabelSpec(sections=True), _sectioned_char(hook))
    assert says in str(e.value) and "\n" not in str(e.value)


BPM = 122.04  # a tempo the midi domain's tempo tokens hold exactly


def _piece(bars):
    """A 4/4 piece: per bar, (pitches of a chord, chords per beat)."""
    from seqgen_plugins.midi.io import Note, Piece

    notes, beat = [], 60 / BPM
    for b, (chord, per_beat) in enumerate(bars):
        for q in range(4 * per_beat):
            t = (4 * b + q / per_beat) * beat
            for p in chord:
                qt = t / beat
                notes.append(Note(0, p, t, t + beat / per_beat, 80, qt, qt + 1 / per_beat))
    return Piece(notes, BPM, [(0.0, 0.0, 4, 4)], end=4.0 * len(bars))


def test_midi_sections_are_the_bars_with_their_key_and_density():
    from seqgen_plugins.midi.vocab import OFF, ON

    tok = load().domain("midi").create({})
    tok.density_cuts = [5.0, 10.0]  # notes per second: low, medium, high
    c, fsharp = (60, 64, 67), (66, 70, 73)
    bars = [(c, 1)] * 3 + [(fsharp, 1), (fsharp, 2), (fsharp, 4)]
    ids = tok.encode(_piece(bars))
    got = tok.section_labels(ids)
    assert len(got) == len(bars)
    ons = [k for k, t in enumerate(ids) if ON <= t < OFF]
    first = np.cumsum([0] + [3 * 4 * n for _, n in bars])  # each bar's first note-on
    for b, (at, _) in enumerate(got):  # a section starts before its bar's first chord
        assert (b == 0 or ons[first[b] - 1] < at) and at <= ons[first[b]]
    keys = [labels["key"] for _, labels in got]
    assert keys[:2] == ["C-major"] * 2 and keys[3:] == ["F#-major"] * 3
    assert [labels["density"] for _, labels in got] == ["medium"] * 4 + ["high"] * 2


def test_a_transposed_variant_gets_its_own_sections(tmp_path):
    from seqgen.data import _augment_train
    from seqgen.labels import Labeller, without_controls
    from seqgen.sections import add_sections

    tok = load().domain("midi").create({"transpose": "1"})
    folder = tok.sample_corpus(tmp_path)
    docs = [d for f in sorted(folder.iterdir()) for d in tok.read(f)]
    tok.fit(docs)
    lab = Labeller(LabelSpec(domain=True, sections=True), tok, folder, [])
    piece = docs[0].parts[0]
    head = lab.ids(None, docs[0])  # a variant's head has as many ids: the same keys
    body = np.concatenate([head, tok.encode(piece)])
    dtype = np.dtype(np.uint16)
    (tmp_path / "train.bin").write_bytes(np.append(body, tok.eod_id).astype(dtype).tobytes())
    assert _augment_train(tmp_path, dtype, tok, lab) == 2
    add_sections(tmp_path / "train.bin", dtype, tok, lab.table)
    ids = np.fromfile(tmp_path / "train.bin", dtype=dtype).astype(np.int64)
    got = {}
    for doc in np.split(ids, np.flatnonzero(ids == tok.eod_id) + 1)[:-1]:
        plain = without_controls(tok, doc[:-1])
        controls = int(np.count_nonzero(doc >= tok.vocab_size)) - len(head)
        want = tok.section_labels(plain)
        keys = set(lab.table.labels_of(head))  # each section restates the document's keys
        assert controls == sum(len(keys | set(labels)) for _, labels in want) > 0
        got[want[0][1]["key"]] = plain
    assert len(got) == 3  # the piece, a semitone down and a semitone up: three first-bar keys


def test_inline_gives_a_key_asked_for_all_its_mass():
    from seqgen.decode import softmax, with_inline

    base = 4
    inline = (((4, 5, 6), 5), ((7, 8), -1))  # key one asked for its id 5; key two free
    with np.errstate(divide="ignore"):
        logits = np.log(np.array([[0.1, 0.1, 0.1, 0.1, 0.2, 0.1, 0.2, 0.0, 0.1]]))
        got = softmax(with_inline(logits.copy(), base, inline))[0]
        plain = softmax(with_inline(logits.copy(), base, ()))[0]
    assert np.allclose(got, [0.1, 0.1, 0.1, 0.1, 0, 0.5, 0, 0, 0.1])
    assert np.allclose(plain[:base], 0.25) and not plain[base:].any()


@pytest.fixture(scope="module")
def midi_run(tmp_path_factory):
    """A midi run with domain and section labels, trained a few steps."""
    import seqgen

    tmp = tmp_path_factory.mktemp("sections")
    folder = load().domain("midi").sample_corpus(tmp)
    run = seqgen.train(
        "midi", folder, tmp / "run", domain_labels=True, section_labels=True, max_steps=5,
        hidden_size=32, embedding_size=16, batch_size=4, seq_len=32,
    )  # fmt: skip
    return run.dir


def test_generation_holds_the_key_asked_for_at_every_section(midi_run, monkeypatch):

    import seqgen
    from seqgen import decode

    model = seqgen.load(midi_run)
    assert model.checkpoint.run.labels["sections"] is True
    base, table = model.tokenizer.vocab_size, model.labels
    pushed = []
    real = decode.Hypothesis.push
    monkeypatch.setattr(
        decode.Hypothesis, "push", lambda h, t, *a: (pushed.append(t), real(h, t, *a))
    )
    key = table.known()["key"][0]
    samples = model.generate_ids(
        labels={"key": key}, length=200, num_samples=3, seed=0, stop_at_eod=False
    )
    assert all(0 <= i < base for s in samples for i in s)  # control ids stay out of samples
    # --length counts the sample's own tokens (the domain's closing note-offs come after)
    assert all(200 <= len(s) <= 216 for s in samples), [len(s) for s in samples]
    inline = [table.labels_of([t]) for t in pushed if t >= base]
    keys = [d["key"] for d in inline if "key" in d]
    assert len(keys) > 5 and set(keys) == {key}
    free = {pair for d in inline for pair in d.items() if pair[0] != "key"}
    assert len(free) > 1  # the keys not asked for: the model's own choice
    pushed.clear()
    model.generate_ids(length=200, num_samples=3, seed=0)
    assert len({table.labels_of([t]).get("key") for t in pushed if t >= base}) > 2


def test_the_cli_trains_and_generates_with_section_labels(midi_run, cli, tmp_path):
    out = tmp_path / "s.mid"
    code, _, err = cli(
        "generate", midi_run, "--label", "tempo=medium", "--length", "50", "--out", str(out)
    )
    assert code == 0, err
    assert out.stat().st_size > 0
    code, _, err = cli("train", "--resume", midi_run, "--section-labels")
    assert code == 1 and "--resume continues a run as it was built" in err


def test_sounded_matches_the_overlap_of_each_note():
    from seqgen_plugins.midi.labels import sounded

    rng = np.random.default_rng(0)
    begin = rng.uniform(0, 10, 200)
    end = begin + rng.uniform(0.01, 3, 200)
    times = np.sort(rng.uniform(0, 14, 30))
    want = [np.clip(np.minimum(end, t) - begin, 0, None).sum() for t in times]
    assert np.allclose(sounded(begin, end, times), want)


def test_every_bar_of_a_long_piece_is_labelled():
    """1,500 bars, 72,000 notes (about a second: no bar scans every note)."""
    tok = load().domain("midi").create({})
    tok.density_cuts = [5.0, 10.0]
    bars = [((60 + b % 12, 64 + b % 12, 67 + b % 12), 4) for b in range(1500)]
    got = tok.section_labels(tok.encode(_piece(bars)))
    assert len(got) == 1500
    assert got[-1][1] == {"key": "B-major", "density": "high"}  # its one bar, B-D#-F#


def test_eval_reports_the_loss_without_the_control_ids(midi_run, cli):
    import seqgen

    score = seqgen.load(midi_run).score()
    plain = score["without_controls"]
    assert 0 < plain["nats_per_unit"] < score["nats_per_unit"]
    assert plain["bits_per_unit"] == pytest.approx(plain["nats_per_unit"] / np.log(2))
    code, out, err = cli("eval", midi_run)
    assert code == 0, err
    assert f"own predictions: {plain['nats_per_unit']:.4f} nats/event" in out


def test_the_store_key_names_the_sections_format(monkeypatch):
    """A change to how sections are written changes the key: no run reads old token files."""
    from seqgen import labels

    before = LabelSpec(domain=True, sections=True).identity()
    monkeypatch.setattr(labels, "SECTIONS_FORMAT", labels.SECTIONS_FORMAT + 1)
    assert LabelSpec(domain=True, sections=True).identity() != before
    assert "sections" not in LabelSpec(domain=True).identity()


def test_beam_search_keeps_the_key_asked_for_at_every_section(midi_run, monkeypatch):
    import torch

    import seqgen
    from seqgen import decode

    model = seqgen.load(midi_run)
    base, table = model.tokenizer.vocab_size, model.labels
    pushed = []
    real = decode.Hypothesis.push
    monkeypatch.setattr(
        decode.Hypothesis, "push", lambda h, t, *a: (pushed.append(t), real(h, t, *a))
    )
    with torch.no_grad():  # make sections likely, so that the beams hold some
        model.model.head.bias[base:] += 3.0
    key = table.known()["key"][-1]
    got = model.generate_ids(labels={"key": key}, length=60, beam=3, num_samples=2)
    assert len(got) == 2 and all(0 <= i < base for s in got for i in s)
    keys = [table.labels_of([t]).get("key") for t in pushed if t >= base]
    assert key in keys and set(keys) <= {key, None}  # some sections, all in the asked key
