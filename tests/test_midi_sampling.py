"""The midi domain's sampling state: each encoding's constraint keeps random streams valid, the
clock counts seconds and bars, and a copied constraint or clock (beam search forks them)
advances on its own while sharing only what never changes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pretty_midi")

from seqgen_plugins.midi import (  # noqa: E402
    EOD,
    FRAME,
    OFF,
    ON,
    PROG,
    SHIFT,
    VOCAB,
    MidiTokenizer,
)


def _random_walk(tok: MidiTokenizer, steps: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    c = tok.constraint()
    ids = []
    for _ in range(steps):
        m = c.mask()
        assert m.shape == (VOCAB,) and m.any()
        logits = rng.normal(size=VOCAB) * 3
        logits[~m] = -np.inf
        t = int(np.argmax(logits))
        ids.append(t)
        c.advance(t)
        if t == EOD:
            c = tok.constraint()
    ids += c.finish()
    return ids


def test_constraint_keeps_performance_streams_valid():
    tok = MidiTokenizer.create()
    for seed in range(3):
        ids = _random_walk(tok, 1500, seed)
        sounding: dict[int, set[int]] = {}
        cur = 0
        for t in ids:
            if t == EOD:
                assert not any(sounding.values())
                cur = 0
            elif ON <= t < OFF:
                assert t - ON not in sounding.setdefault(cur, set())
                sounding[cur].add(t - ON)
            elif OFF <= t < SHIFT:
                assert t - OFF in sounding.get(cur, set()), "note-off for a silent note"
                sounding[cur].discard(t - OFF)
            elif PROG <= t < FRAME:
                cur = t - PROG
            assert t != FRAME
        assert not any(sounding.values()), "finish closes every note"


def test_constraint_keeps_frames_ascending():
    tok = MidiTokenizer.create({"encoding": "frames"})
    for seed in range(3):
        ids = _random_walk(tok, 1500, seed)
        assert ids[-1] in (FRAME, EOD) or not ids
        prog, last = 0, -1
        for t in ids:
            if ON <= t < OFF:
                assert t - ON > last
                last = t - ON
            elif PROG <= t < FRAME:
                assert t - PROG > prog
                prog, last = t - PROG, -1
            elif t in (FRAME, EOD):
                prog, last = 0, -1
            else:
                assert not OFF <= t < PROG  # no note-offs, shifts, velocities in frames


def test_clock_counts_seconds_and_bars():
    from seqgen_plugins.midi import DENS, N_TEMPO, TEMPO, TS, MidiClock, bin_tempo

    frames = MidiClock(grid=0.25)  # 16th-note frames at 120 BPM in 4/4 until told otherwise
    for _ in range(8):
        frames.advance(FRAME)
    assert frames.elapsed("seconds") == pytest.approx(1.0)
    assert frames.elapsed("bars") == pytest.approx(0.5)
    frames.advance(TS + 2 * len(DENS) + DENS.index(4))  # 3/4
    fast = next(b for b in range(N_TEMPO) if bin_tempo(b) > 200)
    frames.advance(TEMPO + fast)
    for _ in range(12):  # one 3/4 bar
        frames.advance(FRAME)
    assert frames.elapsed("bars") == pytest.approx(1.5)
    assert frames.elapsed("seconds") == pytest.approx(1.0 + 3 * 60 / bin_tempo(fast))
    events = MidiClock(grid=None)  # performance: time shifts of 10 ms each
    for t in (SHIFT + 99, SHIFT + 49, ON + 60, FRAME):
        events.advance(t)
    assert events.elapsed("seconds") == pytest.approx(1.5)
    assert events.elapsed("bars") == pytest.approx(1.5 * 2 / 4)


def _stream(encoding: str, seed: int, n: int) -> list[int]:
    """A valid stream of ``n`` tokens with no end of document (notes stay open in it)."""
    tok = MidiTokenizer.create({"encoding": encoding})
    rng = np.random.default_rng(seed)
    c, ids = tok.constraint(), []
    for _ in range(n):
        m = c.mask()
        m[EOD] = False
        logits = rng.normal(size=VOCAB)
        logits[~m] = -np.inf
        ids.append(int(np.argmax(logits)))
        c.advance(ids[-1])
    return ids


@pytest.mark.parametrize("encoding", ["performance", "frames"])
def test_a_copied_constraint_advances_on_its_own(encoding):
    tok = MidiTokenizer.create({"encoding": encoding})
    ids = _stream(encoding, seed=3, n=400)
    for cut in range(0, 400, 37):
        original = tok.constraint()
        for t in ids[:cut]:
            original.advance(t)
        before = original.mask().copy()
        twin = original.copy()
        assert type(twin) is type(original) and twin is not original
        assert np.array_equal(twin.mask(), before)
        for t in ids[cut:]:
            twin.advance(t)
        assert np.array_equal(original.mask(), before), "advancing the copy moved the original"
        for t in ids[cut:]:
            original.advance(t)
        assert np.array_equal(original.mask(), twin.mask())
        assert original.finish() == twin.finish()


def test_the_performance_constraint_copy_shares_only_its_base_mask():
    original = MidiTokenizer.create().constraint()
    for t in (PROG + 5, ON + 60, ON + 64, SHIFT + 9):
        original.advance(t)
    twin = original.copy()
    assert twin.base is original.base  # read-only, shared
    assert twin.since == original.since and twin.since is not original.since
    twin.advance(OFF + 60)
    twin.advance(SHIFT)
    assert set(original.since) == {(5, 60), (5, 64)} and set(twin.since) == {(5, 64)}
    assert (original.t, twin.t) == (10, 11)


@pytest.mark.parametrize("encoding", ["performance", "frames"])
def test_a_copied_clock_advances_on_its_own(encoding):
    tok = MidiTokenizer.create({"encoding": encoding})
    ids = _stream(encoding, seed=4, n=600)
    original = tok.clock()
    for t in ids[:300]:
        original.advance(t)
    before = [original.elapsed(m) for m in tok.measures]
    twin = original.copy()
    assert type(twin) is type(original) and twin is not original
    for t in ids[300:]:
        twin.advance(t)
    assert [original.elapsed(m) for m in tok.measures] == before
    assert [twin.elapsed(m) for m in tok.measures] != before
    for t in ids[300:]:
        original.advance(t)
    assert [original.elapsed(m) for m in tok.measures] == [twin.elapsed(m) for m in tok.measures]


def _longest_and_polyphony(piece) -> tuple[float, int]:
    """Longest note (seconds) and most notes sounding at once (a note ending where another
    starts does not overlap it), from the decoded notes."""
    events = sorted([(n.start, 1) for n in piece.notes] + [(n.end, -1) for n in piece.notes])
    sounding = most = 0
    for _, step in events:
        sounding += step
        most = max(most, sounding)
    return max((n.end - n.start for n in piece.notes), default=0.0), most


def _pieces(ids: list[int]) -> list[list[int]]:
    out, cur = [], []
    for t in ids:
        if t == EOD:
            out.append(cur)
            cur = []
        else:
            cur.append(t)
    return [*out, cur]


def _fitted(tmp_path, encoding: str) -> MidiTokenizer:
    """A tokenizer fitted on one piece: notes of 0.5 s (1 s at most), three at once."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    for k in range(8):
        for p in (60, 64, 67):
            piano.notes.append(pretty_midi.Note(80, p + k % 2, k * 0.5, k * 0.5 + 0.5))
    piano.notes.append(pretty_midi.Note(80, 40, 4.0, 5.0))
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "fit.mid"))
    tok = MidiTokenizer.create({"encoding": encoding, "grid": "8th"})
    tok.fit(tok.read(tmp_path / "fit.mid"))
    return tok


@pytest.mark.parametrize(
    ("encoding", "limits"),
    [("performance", {"longest": 100, "polyphony": 3}), ("frames", {"longest": 4, "polyphony": 3})],
)
def test_fit_learns_note_limits_and_checkpoints_carry_them(tmp_path, encoding, limits):
    tok = _fitted(tmp_path, encoding)
    assert tok.limits == limits  # 1 s = 100 steps of 10 ms = four 8th frames at 120 BPM
    state = tok.get_state()
    assert MidiTokenizer.from_state(state).limits == limits
    old = {k: v for k, v in state.items() if k != "limits"}  # a checkpoint from before
    assert MidiTokenizer.from_state(old).limits is None
    assert MidiTokenizer.from_state(old).constraint().mask().any()


@pytest.mark.parametrize("encoding", ["performance", "frames"])
def test_sampled_notes_end_and_never_outnumber_the_corpus(tmp_path, encoding):
    """Random logits that favour note-ons, through the fitted constraint: no decoded note
    lasts longer than the corpus's longest and no more sound at once than it had; without
    the limits the same walk breaks both."""
    tok = _fitted(tmp_path, encoding)
    longest = 1.0  # seconds
    for limits in (tok.limits, None):
        tok.limits = limits
        worst_len, worst_poly = 0.0, 0
        for seed in range(3):
            rng = np.random.default_rng(seed)
            c, ids = tok.constraint(), []
            for _ in range(1500):
                logits = rng.normal(size=VOCAB) * 3
                logits[ON:OFF] += 2.0
                logits[~c.mask()] = -np.inf
                ids.append(int(np.argmax(logits)))
                c.advance(ids[-1])
            ids += c.finish()
            for part in _pieces(ids):
                n, k = _longest_and_polyphony(tok.decode(part))
                worst_len, worst_poly = max(worst_len, n), max(worst_poly, k)
        if limits is not None:
            assert worst_len <= longest + 1e-9 and worst_poly <= 3
        else:
            assert worst_len > longest and worst_poly > 3


def test_fit_parses_each_file_once(tmp_path, monkeypatch):
    """Files read while fitting are handed to the encoding pass from memory, once."""
    import seqgen_plugins.midi.tokenizer as midi_tok

    _fitted(tmp_path, "performance")  # writes fit.mid
    calls = []
    real = midi_tok.read_midi
    monkeypatch.setattr(midi_tok, "read_midi", lambda p: calls.append(p) or real(p))
    tok = MidiTokenizer.create()
    tok.fit(tok.read(tmp_path / "fit.mid"))
    first = [list(d.parts) for d in tok.read(tmp_path / "fit.mid")]
    assert len(calls) == 1 and len(first[0][0].notes) == 25
    again = [list(d.parts) for d in tok.read(tmp_path / "fit.mid")]
    assert len(calls) == 2 and len(again[0][0].notes) == 25  # handed out once, then read


def test_a_few_atypical_pieces_do_not_set_the_bounds(tmp_path):
    """Twenty four-voice pieces of half-second notes and one with twelve notes held 6 s:
    sampling is bounded by what 90% of the pieces stay within, not by the outlier."""
    import pretty_midi

    from seqgen.tokenizer import Document

    def piece(name: str, voices: int, length: float) -> Document:
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        piano = pretty_midi.Instrument(program=0)
        for k in range(8):
            for v in range(voices):
                piano.notes.append(pretty_midi.Note(80, 48 + 5 * v, k * length, (k + 1) * length))
        pm.instruments.append(piano)
        pm.write(str(tmp_path / name))
        return next(iter(tok.read(tmp_path / name)))

    tok = MidiTokenizer.create({"encoding": "performance"})
    docs = [piece(f"p{i}.mid", 4, 0.5) for i in range(20)] + [piece("odd.mid", 12, 6.0)]
    tok.fit(docs)
    assert tok.limits == {"longest": 50, "polyphony": 4}
    tok.fit(docs[-1:])  # one piece: its own maxima
    assert tok.limits == {"longest": 600, "polyphony": 12}
