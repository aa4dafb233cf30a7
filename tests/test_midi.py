"""The midi domain: round trips against the quantised reference, bad files, .mat piano rolls
with their own splits, transposition, and CLI train -> generate runs (by bars and seconds too).
The sampling constraints and the clock are in test_midi_sampling.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi")

from seqgen_plugins.midi import (  # noqa: E402
    EOD,
    FRAME,
    ON,
    PROG,
    SHIFT,
    VOCAB,
    MidiTokenizer,
)
from seqgen_plugins.midi.io import DRUMS  # noqa: E402

from seqgen.errors import DataError  # noqa: E402


def make_midi(path: Path, seed: int = 0, bars: int = 4) -> Path:
    """Piano chords, a bass line and a drum kit, 3/4 then 4/4, at 100 BPM."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0.0))
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 3.6))
    beat = 0.6
    piano = pretty_midi.Instrument(program=0)
    bass = pretty_midi.Instrument(program=33)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    for k in range(bars * 4):
        t = k * beat
        for p in (60, 64, 67) if k % 2 else (62, 65, 69):
            piano.notes.append(pretty_midi.Note(int(rng.integers(50, 110)), p, t, t + beat * 0.9))
        bass.notes.append(pretty_midi.Note(90, 36 + k % 5, t, t + beat / 2))
        drums.notes.append(pretty_midi.Note(100, 36 if k % 2 else 38, t, t + 0.1))
    pm.instruments += [piano, bass, drums]
    pm.write(str(path))
    return path


def train_tiny(tmp_path, cli, songs, bars, steps, hidden, batch, options=()):
    """A folder of generated songs and a run trained on it for a few steps."""
    folder = tmp_path / "songs"
    folder.mkdir()
    for k in range(songs):
        make_midi(folder / f"s{k}.mid", seed=k, bars=bars)
    run = tmp_path / "run"
    sizes = f"--hidden-size {hidden} --embedding-size {hidden // 2} --batch-size {batch}"
    code, _, err = cli("train", "-d", "midi", *options, "-c", folder, "--out", run,
                       "--max-steps", steps, *sizes.split(), "--seq-len", 2 * hidden,
                       "--threads", "1", "-q")  # fmt: skip
    assert code == 0, err
    return folder, run


def piece_of(tok: MidiTokenizer, path: Path):
    (doc,) = list(tok.read(path))
    (part,) = list(doc.parts)
    return part


@pytest.mark.parametrize("options", [{}, {"encoding": "frames", "grid": "16th"}])
def test_round_trip_against_quantised_reference(tmp_path, options):
    tok = MidiTokenizer.create(options)
    piece = piece_of(tok, make_midi(tmp_path / "a.mid"))
    assert tok.check_part(piece) is None
    ids = tok.encode(piece)
    assert ids.max() < VOCAB and EOD not in ids.tolist()
    got = tok.decode(ids)
    assert {n.program for n in got.notes} == {0, 33, DRUMS}  # programs and drums kept
    assert [(num, den) for _, _, num, den in got.time_signatures] == [(3, 4), (4, 4)]
    assert abs(got.tempo - 100) < 5  # tempo bin
    # frames: the unit is the frame, counted by frame-end tokens
    if options:
        assert tok.unit == "frame" and tok.count_units(ids) == int((ids == FRAME).sum())
        assert tok.count_units(ids) == 64  # 16 beats of 4 sixteenths
    # written and read back: the same quantised notes
    out = tmp_path / "b.mid"
    tok.write(ids, out)
    again = piece_of(tok, out)
    assert tok.canon(again)[-1] == tok.canon(got)[-1]


def test_bad_files_are_skipped_with_warning_and_summary(tmp_path, cli, bad_midis):
    folder = tmp_path / "songs"
    folder.mkdir()
    bad = bad_midis(make_midi(folder / "good.mid")) | {"broken.musicxml"}
    make_midi(folder / "good2.mid", seed=1)
    (folder / "broken.musicxml").write_text("<score-partwise><part")

    tok = MidiTokenizer.create()
    for name in sorted(bad):
        with pytest.raises(DataError, match=name):
            list(tok.read(folder / name))

    code, out, err = cli("prepare", "-d", "midi", "-c", folder)
    assert code == 0, err
    report = json.loads(out)
    assert {Path(p).name for p in report["skipped"]} == bad
    for name in bad:
        assert name in err and "warning" in err
    assert report["splits"]["train"]["documents"] + report["splits"]["valid"]["documents"] == 2


def _write_mat(path: Path) -> list[np.ndarray]:
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(0)
    rolls = [(rng.random((t, 88)) < 0.05).astype(np.uint8) for t in (12, 9, 7, 5)]
    obj = {}
    for key, chunk in (
        ("traindata", rolls[:2]),
        ("validdata", rolls[2:3]),
        ("testdata", rolls[3:]),
    ):
        arr = np.empty((1, len(chunk)), dtype=object)
        for i, r in enumerate(chunk):
            arr[0, i] = r
        obj[key] = arr
    scipy_io.savemat(str(path), obj)
    return rolls


def test_mat_piano_rolls_carry_their_splits(tmp_path, cli):
    path = tmp_path / "Tiny.mat"
    rolls = _write_mat(path)
    tok = MidiTokenizer.create({"encoding": "frames"})
    docs = list(tok.read(path))
    assert [d.split for d in docs] == ["train", "train", "valid", "test"]
    # the rolls' grid (an eighth note unless the name says JSB) is kept for decoding
    assert float(tok.get_state()["settings"]["grid"]) == 0.5
    for doc, roll in zip(docs, rolls, strict=True):
        (piece,) = list(doc.parts)
        ids = tok.encode(piece)
        assert tok.count_units(ids) == len(roll)  # one frame per row, tempo header-free
        assert set(ids.tolist()) <= set(range(ON, ON + 128)) | {FRAME}
        assert tok.check_part(piece) is None
        dec = tok.decode(ids)
        back = np.zeros_like(roll)
        for n in dec.notes:
            back[round(n.qstart / dec.grid) : round(n.qend / dec.grid), n.pitch - 21] = 1
        assert (back == roll).all()
    code, out, err = cli("prepare", "-d", "midi", "-o", "encoding=frames", "-c", path)
    assert code == 0, err
    splits = json.loads(out)["splits"]
    assert {k: v["units"] for k, v in splits.items()} == {"train": 21, "valid": 7, "test": 5}


def test_cli_train_generate_reads_back(tmp_path, cli):
    music21 = pytest.importorskip("music21")
    folder, run = train_tiny(tmp_path, cli, songs=3, bars=6, steps=15, hidden=32, batch=4)
    song = tmp_path / "song.mid"
    code, out, err = cli("generate", run, "-n", "120", "--seed", "1", "--out", song,
                         "--plot", tmp_path / "song.png", "--audio", tmp_path / "song.wav",
                         "--prime-file", folder / "s0.mid")  # fmt: skip
    assert code == 0, err
    assert "on:" not in out  # with --out, not the event listing but what was written:
    assert f"wrote {song} (" in err and " seconds, " in err and " bars)" in err
    assert "rendered with" in err
    pm = pretty_midi.PrettyMIDI(str(song))
    n_notes = sum(len(i.notes) for i in pm.instruments)
    assert n_notes > 0
    score = music21.converter.parse(str(song))
    assert len(score.flatten().notes) > 0
    assert (tmp_path / "song.png").stat().st_size > 1000
    assert (tmp_path / "song.wav").read_bytes()[:4] == b"RIFF"

    xml = tmp_path / "song.musicxml"
    code, _, err = cli("generate", run, "-n", "60", "--seed", "2", "-q", "--out", xml)
    assert code == 0, err
    assert len(music21.converter.parse(str(xml)).flatten().notes) > 0
    code, _, err = cli("generate", run, "-n", "10", "-q", "--out", tmp_path / "x.pdf")
    assert code != 0 and "x.pdf" in err


@pytest.mark.shared
def test_shared_midi_corpus(corpora, cli):
    midi = corpora / "midi"
    if not midi.is_dir():
        pytest.skip("no midi/ in the shared corpora")
    code, out, err = cli("prepare", "-d", "midi", "-c", midi / "edge_cases", "--check")
    assert code == 0, err
    report = json.loads(out)
    assert report["check"]["mismatches"] == 0 and len(report["skipped"]) >= 3
    for encoding in ("performance", "frames"):
        tok = MidiTokenizer.create({"encoding": encoding})
        # many tempo changes; tpb 32 with drums; 11/32 and metre changes
        for name in ("chpn-p7.mid", "d_e4m3.mid", "muss_1.mid"):
            piece = piece_of(tok, midi / name)
            assert tok.check_part(piece) is None, name
    jsb = corpora / "polyphonic" / "JSB_Chorales.mat"
    if jsb.is_file():
        _jsb_frames_are_the_files_rows(jsb)


def _jsb_frames_are_the_files_rows(jsb: Path) -> None:
    """Like for like with the published JSB tables: one frame per row of the .mat file (its
    quarter-note grid), the pitches of each row (as transposed in the file), in its splits."""
    from scipy import io as scipy_io
    from seqgen_plugins.midi import vocab

    mat = scipy_io.loadmat(str(jsb))
    keys = {"train": "traindata", "valid": "validdata", "test": "testdata"}
    rolls = {s: list(np.asarray(mat[k], dtype=object).ravel()) for s, k in keys.items()}
    tok = MidiTokenizer.create({"encoding": "frames"})
    seen = dict.fromkeys(keys, 0)
    for doc in tok.read(jsb):
        roll = rolls[doc.split][seen[doc.split]]
        seen[doc.split] += 1
        ids = [i for part in doc.parts for i in tok.encode(part)]
        frames, frame = [], []
        for i in ids:
            if i == vocab.FRAME:
                frames.append(frame)
                frame = []
            else:
                assert vocab.ON <= i < vocab.OFF, i  # nothing but pitches and frame ends
                frame.append(i - vocab.ON)
        want = [sorted((np.flatnonzero(row) + 21).tolist()) for row in roll]
        assert frames == want, (doc.split, doc.name)
    assert seen == {"train": 229, "valid": 76, "test": 77}


def test_music21_chorale_reads():
    from seqgen_plugins.midi import m21_files

    files = m21_files("bach", 1)
    if not files:
        pytest.skip("music21 corpus not installed")
    tok = MidiTokenizer.create({"encoding": "frames", "grid": "quarter"})
    piece = piece_of(tok, files[0])
    assert len(piece.notes) > 20 and tok.check_part(piece) is None
    assert MidiTokenizer.default_corpus == "music21:bach"


def test_musicxml_export_ties_notes_longer_than_any_written_value(tmp_path):
    """A 16/1 bar holding one 40-second note (a sample can do this) still exports."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(16, 1, 0.0))
    piano = pretty_midi.Instrument(program=4)
    piano.notes.append(pretty_midi.Note(80, 60, 0.0, 40.0))
    piano.notes.append(pretty_midi.Note(80, 64, 40.0, 41.0))
    pm.instruments.append(piano)
    src = tmp_path / "long.mid"
    pm.write(str(src))
    tok = MidiTokenizer.create({})
    ids = list(tok.encode(piece_of(tok, src)))
    out = tmp_path / "long.musicxml"
    tok.write(ids, out)
    from music21 import converter

    pitches = {p.midi for n in converter.parse(str(out)).recurse().notes for p in n.pitches}
    assert pitches == {60, 64}


def test_transpose_shifts_pitched_notes_and_leaves_drums(tmp_path):
    tok = MidiTokenizer.create({"transpose": "2"})
    ids = tok.encode(piece_of(tok, make_midi(tmp_path / "t.mid")))
    variants = tok.augment(ids)
    assert len(variants) == 4  # -2, -1, +1, +2
    drum_notes = set()
    cur = 0
    for i, t in enumerate(ids.tolist()):
        cur = t - PROG if PROG <= t < PROG + 129 else cur
        if cur == DRUMS and ON <= t < SHIFT:
            drum_notes.add(i)
    assert drum_notes  # the test piece has a drum kit
    for k, v in zip((-2, -1, 1, 2), variants, strict=True):
        assert len(v) == len(ids)
        for i, (a, b) in enumerate(zip(ids.tolist(), v.tolist(), strict=True)):
            pitched = ON <= a < SHIFT and i not in drum_notes
            assert b == (a + k if pitched else a)


def test_transpose_leaves_out_shifts_past_the_pitch_range():
    tok = MidiTokenizer.create({"encoding": "frames", "transpose": "3"})
    ids = np.array([ON + 1, ON + 126, FRAME])
    shifts = [int(v[0] - ids[0]) for v in tok.augment(ids)]
    assert shifts == [-1, 1]
    assert MidiTokenizer.create({"encoding": "frames"}).augment(ids) == []


def test_only_the_train_split_is_augmented(tmp_path, cli):
    path = tmp_path / "Tiny.mat"
    _write_mat(path)
    base = ["prepare", "-d", "midi", "-o", "encoding=frames", "-c", path]
    code, out, err = cli(*base)
    assert code == 0, err
    plain = json.loads(out)["splits"]
    code, out, err = cli(*base, "-o", "transpose=2")
    assert code == 0, err
    aug = json.loads(out)["splits"]
    assert aug["valid"] == plain["valid"] and aug["test"] == plain["test"]
    assert aug["train"]["documents"] == 5 * plain["train"]["documents"]
    assert aug["train"]["units"] == 5 * plain["train"]["units"]
    assert aug["train"]["augmented_documents"] == 4 * plain["train"]["documents"]
    code, _, err = cli(*base, "-o", "transpose=13")
    assert code != 0 and "transpose" in err


@pytest.mark.parametrize("encoding", ["frames", "performance"])
def test_generate_by_bars_and_seconds(tmp_path, cli, encoding):
    _, run = train_tiny(tmp_path, cli, songs=2, bars=4, steps=4, hidden=16, batch=2,
                        options=("-o", f"encoding={encoding}"))  # fmt: skip
    # Bars are exact on the frame grid; in the performance encoding seconds are (time shifts).
    measure, amount = ("bars", 3) if encoding == "frames" else ("seconds", 4)
    song = tmp_path / "song.mid"
    code, _, err = cli("generate", run, f"--{measure}", amount, "--seed", "1", "-q", "--out", song)
    assert code == 0, err
    tok = MidiTokenizer.create({"encoding": encoding})
    clock = tok.clock()
    before = after = 0.0  # what the clock read before and after the last token that moved it
    for t in tok.encode(piece_of(tok, song)).tolist():
        clock.advance(t)
        if clock.elapsed(measure) != after:
            before, after = after, clock.elapsed(measure)
    # An untrained model may end the piece early with <eod>. Otherwise it stops at the first
    # token that reaches the goal, so the clock read less just before it; that token is one
    # frame (a sampled metre such as 5/32 makes one frame 0.4 bars) or one time shift (<= 1 s).
    assert 0 < after and before < amount
    if encoding == "performance":
        assert after <= amount + 1.0
    code, _, err = cli("generate", run, "--seconds", "2", "--bars", "1", "-q")
    assert code != 0 and "not both" in err
    code, _, err = cli("generate", run, "--seconds", "-1", "-q")
    assert code != 0 and "positive" in err


def test_seconds_refused_for_a_domain_without_a_clock(tmp_path, cli):
    text = tmp_path / "t.txt"
    text.write_text("abc abd abe\n" * 50)
    run = tmp_path / "run"
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", run, "--max-steps", "2",
                       "--hidden-size", "8", "--embedding-size", "4", "-q")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("generate", run, "--seconds", "5")
    assert code != 0 and "tokens only" in err and "Traceback" not in err


def test_music21_corpus_name_filter():
    pytest.importorskip("music21")
    from seqgen import registry
    from seqgen.corpus import resolve

    reg = registry.load()
    whole = resolve("music21:bach", MidiTokenizer.file_patterns, reg)
    some = resolve("music21:bach/bwv10", MidiTokenizer.file_patterns, reg)
    assert 0 < len(some.files) < len(whole.files)
    assert all(f.name.lower().startswith("bwv10") for f in some.files)
    assert some.fingerprint != whole.fingerprint
    globbed = resolve("music21:bach/*bwv10?.*", MidiTokenizer.file_patterns, reg)
    assert globbed.files and all(
        f.name.lower().startswith("bwv10") and f.name[6] == "." for f in globbed.files
    )
    with pytest.raises(DataError, match="no file of music21:bach"):
        resolve("music21:bach/nothing-like-this", MidiTokenizer.file_patterns, reg)


def test_a_score_is_read_without_copying_it(tmp_path, monkeypatch):
    """Ties are merged in the flattened part itself: music21 deep-copies a stream in time
    quadratic in its notes (a 32 KB ABC tune of 32,000 notes took 36 s; bench/hostile_limits.py
    --only abc_32000_notes), so no stream may be copied on the way to notes."""
    from music21 import stream
    from seqgen_plugins.midi.io import read_scores

    def refuse(self, memo=None):
        raise AssertionError("a stream was deep-copied")

    tune = tmp_path / "tied.abc"
    tune.write_text("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC2-C2 | D E F G |\n")
    monkeypatch.setattr(stream.Stream, "__deepcopy__", refuse)
    ((_, piece),) = list(read_scores(tune))
    got = [(n.pitch, n.qstart, n.qend) for n in piece.notes]
    assert got == [(60, 0.0, 4.0), (62, 4.0, 5.0), (64, 5.0, 6.0), (65, 6.0, 7.0), (67, 7.0, 8.0)]


def test_a_humdrum_file_longer_than_the_bound_is_refused_before_parsing(tmp_path, monkeypatch):
    """music21's Humdrum reader is quadratic in a spine's length (32,000 notes: 53 s), so a
    **kern file over SEQGEN_MAX_KERN_LINES lines is refused unread; one under it is read."""
    from seqgen_plugins.midi.io import read_scores

    from seqgen.errors import DataError

    kern = tmp_path / "long.krn"
    kern.write_text("**kern\n*M4/4\n" + "4c\n4d\n4e\n4f\n=\n" * 20 + "*-\n")
    monkeypatch.setenv("SEQGEN_MAX_KERN_LINES", "50")
    with pytest.raises(DataError, match="long.krn: over 50 lines"):
        list(read_scores(kern))
    monkeypatch.setenv("SEQGEN_MAX_KERN_LINES", "200")
    ((_, piece),) = list(read_scores(kern))
    assert [n.pitch for n in piece.notes[:4]] == [60, 62, 64, 65] and len(piece.notes) == 80


def test_each_tune_of_an_abc_collection_is_read_in_its_own_time(tmp_path, monkeypatch):
    """Reading one tune of a collection must not look through the others (music21's context
    search did: 8,000 tunes took 252 s, 30 s now), so twice the tunes is twice the work."""
    from music21 import base
    from seqgen_plugins.midi.io import read_scores

    calls = [0]
    sort_tuple = base.Music21Object.sortTuple

    def counted(self, *a, **k):
        calls[0] += 1
        return sort_tuple(self, *a, **k)

    monkeypatch.setattr(base.Music21Object, "sortTuple", counted)
    work = []
    for tunes in (40, 80):
        path = tmp_path / f"{tunes}.abc"
        path.write_text("".join(f"X:{i}\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n\n"
                                for i in range(1, tunes + 1)))  # fmt: skip
        calls[0] = 0
        assert len(list(read_scores(path))) == tunes
        work.append(calls[0])
    assert work[1] < 2.2 * work[0], work
