"""The miditok domain: the kit for every exposed tokenization (with and without BPE), every note
kept through each tokenization up to the documented quantisation (generated files, and every
file of the shared MIDI folder), the state as MidiTok's JSON, bad files, a missing extra, and
a CLI run from training to a primed .mid and nats per note."""

from __future__ import annotations

import json
import shlex
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

miditok = pytest.importorskip("miditok")
symusic = pytest.importorskip("symusic")
pretty_midi = pytest.importorskip("pretty_midi")

from seqgen_plugins.miditok_domain import MiditokTokenizer  # noqa: E402
from seqgen_plugins.miditok_domain.backend import TOKENIZATIONS, create  # noqa: E402
from seqgen_plugins.miditok_domain.scores import by_key  # noqa: E402

from seqgen.errors import DataError, OptionError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "32"]
# Known bad files of the shared folder (SOURCES.md): no notes, or no usable time division.
BAD_SHARED = {"empty.mid", "type2.mid", "zero-ticks-per-beat.mid", "negative-ticks-per-beat.mid"}


@pytest.fixture(autouse=True)
def _grad_mode():
    """`seqgen generate` in-process turns autograd off globally; training after it needs it on."""
    import torch

    torch.set_grad_enabled(True)
    yield
    torch.set_grad_enabled(True)


def bpe_size(tokenization: str, extra: int = 64) -> str:
    return str(len(create(tokenization)) + extra)


def tricky_midi(path: Path, seed: int = 0) -> Path:
    """7/8 then 4/4 at an odd resolution (89 ticks per quarter): a 20-beat note, a 16-beat
    rest, a note inside a longer one of the same pitch and program (two tracks), drums,
    pitches 0 and 127, all velocities."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(resolution=89, initial_tempo=132)
    pm.time_signature_changes += [
        pretty_midi.TimeSignature(7, 8, 0.0),
        pretty_midi.TimeSignature(4, 4, 3 * 60 / 132 * 3.5),
    ]
    q = 60 / 132  # seconds per quarter note
    lead = pretty_midi.Instrument(program=73)
    pad = pretty_midi.Instrument(program=89)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    t = 0.0
    for k in range(40):
        length = q * float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.5, 3.0]))
        vel = int(rng.integers(1, 128))
        lead.notes.append(pretty_midi.Note(vel, int(rng.integers(48, 84)), t, t + length))
        drums.notes.append(pretty_midi.Note(100, 35 + k % 12, t, t + q / 4))
        t += q * float(rng.choice([0.25, 0.5, 1.0]))
    pad.notes.append(pretty_midi.Note(60, 0, 0.0, 20 * q))  # longer than 12 beats
    pad.notes.append(pretty_midi.Note(70, 64, q, 5 * q))  # a 64 inside a 64 of another
    doubled = pretty_midi.Instrument(program=89)  # track of the same program (MidiTok merges)
    doubled.notes.append(pretty_midi.Note(80, 64, 2 * q, 3 * q))
    pad.notes.append(pretty_midi.Note(127, 127, t + 16 * q, t + 17 * q))  # after a long rest
    pm.instruments += [lead, pad, doubled, drums]
    pm.write(str(path))
    return path


def song_folder(tmp_path: Path, n: int = 3, name: str = "songs", first: int = 0) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for k in range(n):
        tricky_midi(folder / f"s{k}.mid", seed=first + k)
    return folder


def score_of(tok: MiditokTokenizer, path: Path):
    (doc,) = list(tok.read(path))
    (score,) = doc.parts
    return score


def assert_keeps_every_note(tok: MiditokTokenizer, score, name: str) -> None:
    """What docs/miditok.md promises for one file: every note comes back (same program and
    pitch), exactly as the tokenization's reference, which is the file's notes with onsets on
    1/8 of a beat (error <= 1/16 beat), velocities on 32 levels (<= 2), durations capped at 12
    beats and on the duration grid (<= 3/16 beat; MIDILike: offsets on the onset grid, <= 1/8).
    Structured has no metre (a beat is a quarter note) and its onsets drift as documented,
    which the exact comparison with its reference checks."""
    tokenization = tok.settings["tokenization"]
    got = tok.decode(tok.encode(score))
    want_keys = Counter({k: len(v) for k, v in by_key(score).items()})
    assert Counter({k: len(v) for k, v in by_key(got).items()}) == want_keys, name
    assert tok.check_part(score) is None, name
    pre = tok.mt.preprocess_score(score)
    dens = {ts.denominator for ts in score.time_signatures} or {4}
    beat = 1.0 if tokenization == "Structured" else 4 / min(dens)  # quarter notes
    cap = np.inf if tokenization == "MIDILike" else 12 * beat
    kept = by_key(pre)
    for key, notes in by_key(score).items():
        a, b = np.array(notes), np.array(kept[key])
        err = np.abs(np.sort(a, axis=0) - np.sort(b, axis=0))  # each column on its own
        assert err[:, 0].max() <= beat / 16 + 1e-9, (name, key, "onset")
        assert err[:, 2].max() <= 2, (name, key, "velocity")
        if len(dens) == 1:  # one metre: a beat has one length, so the bound is exact
            dur = np.abs(np.sort(np.minimum(a[:, 1], cap)) - np.sort(b[:, 1]))
            bound = beat / 8 if tokenization == "MIDILike" else 3 * beat / 16
            assert dur.max() <= bound + 1e-9, (name, key, "duration")


# --- the conformance kit -----------------------------------------------------------------------
@pytest.mark.parametrize("bpe", [False, True], ids=["base", "bpe"])
@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_kit_passes(seqgen_check, tokenization, bpe):
    options = {"tokenization": tokenization}
    if bpe:
        options["vocab"] = bpe_size(tokenization)
    seqgen_check(MiditokTokenizer, options=options)


# --- every note kept ---------------------------------------------------------------------------
@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_generated_files_keep_every_note(tmp_path, tokenization):
    tok = MiditokTokenizer.create({"tokenization": tokenization})
    for seed in range(3):
        path = tricky_midi(tmp_path / f"t{seed}.mid", seed)
        assert_keeps_every_note(tok, score_of(tok, path), path.name)


def test_the_generated_file_needs_the_documented_rules(tmp_path):
    """The rules are not vacuous: the 20-beat note comes back as 12 beats (REMI), the two
    overlapping notes are re-paired (MIDILike), and Structured's onsets drift after the rest."""
    path = tricky_midi(tmp_path / "t.mid")
    remi = MiditokTokenizer.create({"tokenization": "REMI"})
    score = score_of(remi, path)
    assert by_key(remi.decode(remi.encode(score)))[(89, 0)][0][1] == 6.0  # 12 eighths in 7/8
    like = MiditokTokenizer.create({"tokenization": "MIDILike"})
    back = by_key(like.decode(like.encode(score)))[(89, 64)]
    assert [n[:2] for n in back] != [n[:2] for n in by_key(like.reference(score))[(89, 64)]]
    structured = MiditokTokenizer.create({"tokenization": "Structured"})
    last = by_key(structured.decode(structured.encode(score)))[(89, 127)][0][0]
    assert last != by_key(structured.mt.preprocess_score(score))[(89, 127)][0][0]


@pytest.mark.shared
@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_shared_midi_folder_keeps_every_note(corpora, tokenization):
    folder = corpora / "midi"
    if not folder.is_dir():
        pytest.skip("no midi/ in the shared corpora")
    tok = MiditokTokenizer.create({"tokenization": tokenization})
    bad, used = set(), 0
    for path in sorted(folder.rglob("*.mid")):
        try:
            score = score_of(tok, path)
        except DataError as e:
            assert path.name in str(e) and "\n" not in str(e)
            bad.add(path.name)
            continue
        assert_keeps_every_note(tok, score, path.name)
        used += 1
    assert bad == BAD_SHARED and used >= 50


# --- ids, state and options --------------------------------------------------------------------
@pytest.mark.parametrize("vocab", [0, 1], ids=["base", "bpe"])
def test_count_units_counts_notes(tmp_path, vocab):
    size = bpe_size("REMI") if vocab else "0"
    tok = MiditokTokenizer.create({"tokenization": "REMI", "vocab": size})
    scores = [score_of(tok, tricky_midi(tmp_path / f"t{k}.mid", k)) for k in range(2)]
    if vocab:
        from seqgen.tokenizer import Document

        tok.fit([Document("t", scores)])
        assert tok.vocab_size > len(create("REMI"))
    for score in scores:
        ids = tok.encode(score)
        assert tok.count_units(ids) == score.note_num()
    if vocab:  # learned tokens stand for several base tokens, notes among them
        assert len(tok.encode(scores[0])) < len(create("REMI").encode(scores[0]).ids)


def test_state_is_miditok_json_and_rebuilds(tmp_path):
    tok = MiditokTokenizer.create({"tokenization": "TSD", "vocab": bpe_size("TSD")})
    score = score_of(tok, tricky_midi(tmp_path / "t.mid"))
    from seqgen.tokenizer import Document

    tok.fit([Document("t", [score])])
    state = json.loads(json.dumps(tok.get_state()))  # plain data: no pickles, no objects
    assert state["miditok"]["tokenization"] == "TSD"
    assert json.loads(state["miditok"]["_model"])["model"]["type"] == "BPE"
    again = MiditokTokenizer.from_state(state)
    assert again.vocab_size == tok.vocab_size
    assert again.encode(score).tolist() == tok.encode(score).tolist()


def test_options_are_checked():
    with pytest.raises(OptionError, match="base tokens"):
        MiditokTokenizer.parse_options({"vocab": "100"})
    with pytest.raises(OptionError, match="tokenization"):
        MiditokTokenizer.parse_options({"tokenization": "CPWord"})


def test_prime_text_is_token_names():
    tok = MiditokTokenizer.create({"tokenization": "REMI"})
    ids = tok.encode_prime("Bar_None Position_0 Program_0 Pitch_60 Velocity_63 Duration_1.0.8")
    assert tok.to_text(ids).split() == [
        "Bar_None", "Position_0", "Program_0", "Pitch_60", "Velocity_63", "Duration_1.0.8",
    ]  # fmt: skip
    assert tok.count_units(np.array(ids)) == 1
    with pytest.raises(DataError, match="Pitch_999"):
        tok.encode_prime("Bar_None Pitch_999")


# --- bad input and a missing extra -------------------------------------------------------------
def test_bad_files_are_skipped_with_one_line_each(tmp_path, cli, bad_midis):
    folder = song_folder(tmp_path, n=2)
    bad = bad_midis(folder / "s0.mid")
    code, out, err = cli("prepare", "-d", "miditok", "-c", folder)
    assert code == 0, err
    assert {Path(p).name for p in json.loads(out)["skipped"]} == bad
    for name in bad:
        (line,) = [x for x in err.splitlines() if name in x]
        assert "warning" in line
    code, _, err = cli("prepare", "-d", "miditok", "-c", folder / "random.mid")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "random.mid" in err


def test_without_miditok_one_line_says_how_to_install(tmp_path, cli, monkeypatch):
    folder = song_folder(tmp_path, n=1)
    monkeypatch.setitem(sys.modules, "miditok", None)  # import miditok now fails
    code, _, err = cli("train", "-d", "miditok", "-c", folder, "--max-steps", "1", "-q")
    assert code != 0
    assert err.strip().count("\n") == 0 and 'pip install "seqgen[miditok]"' in err
    code, out, _ = cli("domains")  # seqgen itself still works, and still lists the domain
    assert code == 0 and "miditok" in out


# --- the CLI: train, generate from a prime, eval in nats per note ------------------------------
def test_cli_train_generate_from_prime_and_eval(tmp_path, cli):
    folder = song_folder(tmp_path, n=3)
    run = tmp_path / "run"
    vocab = bpe_size("REMI", 32)
    code, _, err = cli("train", "-d", "miditok", "-o", "tokenization=REMI", "-o", f"vocab={vocab}",
                       "-c", folder, "--out", run, "--max-steps", "6", *TINY, "--threads", "1",
                       "-q")  # fmt: skip
    assert code == 0, err
    song = tmp_path / "song.mid"
    prime = folder / "s0.mid"
    code, _, err = cli("generate", run, "-n", "40", "--seed", "1", "--out", song,
                       "--prime-file", prime, "--plot", tmp_path / "song.png")  # fmt: skip
    assert code == 0, err
    tok = MiditokTokenizer.from_state(json.loads(json.dumps(_state_of(run))))
    written = symusic.Score(str(song))
    primed = tok.decode(tok.encode(score_of(tok, prime)))
    assert written.note_num() >= primed.note_num() > 0  # the prime, then what the model added
    assert (tmp_path / "song.png").stat().st_size > 1000
    code, out, err = cli("eval", run, "--corpus", folder, "--json")
    assert code == 0, err
    report = json.loads(out)
    notes = sum(score_of(tok, p).note_num() for p in sorted(folder.glob("*.mid")))
    assert report["unit"] == "note" and report["units"] == notes == report["counts"]["note"]
    assert report["nats_per_note"] == pytest.approx(report["nats_per_unit"])
    code, out, _ = cli("eval", run, "--corpus", folder)
    assert code == 0 and "nats/note" in out and "nats/second" in out


def _state_of(run: Path) -> dict:
    from seqgen import checkpoint

    return checkpoint.build(checkpoint.load(run))[1].get_state()


def test_doc_examples_run(tmp_path, cli, monkeypatch):
    """docs/miditok.md's commands as written, on generated songs (a 2-second budget and a tiny
    model instead of 10 minutes), in a temporary folder."""
    from test_docs import commands

    monkeypatch.chdir(tmp_path)
    song_folder(tmp_path, n=3, name="songs")
    song_folder(tmp_path, n=2, name="held", first=10)
    lines = commands(ROOT / "docs" / "miditok.md")
    assert [line.split()[1] for line in lines] == [
        "prepare", "train", "generate", "generate", "eval", "eval",
    ]  # fmt: skip
    for line in lines:
        args = shlex.split(line.replace("--max-time 600", "--max-time 2"))[1:]
        if args[0] == "train":
            args += [*TINY, "--threads", "1", "-q"]
        code, out, err = cli(*args)
        assert code == 0, f"{line}\n{err}"
        if args[0] == "prepare":
            assert json.loads(out)["check"]["mismatches"] == 0
    assert symusic.Score("remi.mid").note_num() > 0 and Path("remi.png").is_file()
    assert symusic.Score("start.mid").note_num() >= 1  # the primed note at least
