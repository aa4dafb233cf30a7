"""The midi domain's MusicXML and WAV output: scores built from the note list (no MIDI round
trip) whose measures all hold their time signature and that music21 re-reads without a
warning; audio peak-normalised to -1 dBFS and cut to the music plus a short release, through
the sine fallback and (with a stand-in executable) the FluidSynth path."""

from __future__ import annotations

import sys
import wave
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("pretty_midi")
pytest.importorskip("music21")

from seqgen_plugins.midi import EOD, FRAME, PROG, VOCAB, MidiTokenizer  # noqa: E402
from seqgen_plugins.midi.io import Note, Piece  # noqa: E402
from seqgen_plugins.midi.notation import read_back  # noqa: E402


def _sampled(encoding: str, seed: int, n: int = 600) -> tuple[MidiTokenizer, list[int]]:
    """A random stream through the constraint (no end of document), closed by finish()."""
    tok = MidiTokenizer.create({"encoding": encoding})
    rng = np.random.default_rng(seed)
    c, ids = tok.constraint(), []
    for _ in range(n):
        m = c.mask()
        m[EOD] = False
        m[PROG + 1 : PROG + 40] = False  # programs 0 and 40 only: two parts, not a hundred
        m[PROG + 41 : FRAME] = False
        logits = rng.normal(size=VOCAB) * 3
        logits[~m] = -np.inf
        ids.append(int(np.argmax(logits)))
        c.advance(ids[-1])
    return tok, ids + c.finish()


def _onsets(score) -> set[tuple[Fraction, int]]:
    """(offset in quarters, pitch) of every written note that is not a tied continuation."""
    out = set()
    for part in score.parts:
        for el in part.flatten().notes:
            for n in getattr(el, "notes", [el]):
                if n.tie is None or n.tie.type == "start":
                    out.add((Fraction(el.getOffsetInHierarchy(part)).limit_denominator(96),
                             n.pitch.midi))  # fmt: skip
    return out


@pytest.mark.parametrize(("encoding", "suffix"), [("performance", ".musicxml"), ("frames", ".mxl")])
def test_musicxml_measures_hold_their_time_signature(tmp_path, monkeypatch, encoding, suffix):
    import seqgen_plugins.midi.io as midi_io

    def no_midi(*_):
        raise AssertionError("MusicXML went through MIDI")

    monkeypatch.setattr(midi_io, "to_pretty_midi", no_midi)
    for seed in range(2):
        tok, ids = _sampled(encoding, seed)
        out = tmp_path / f"s{seed}{suffix}"
        tok.write(ids, out)
        got = read_back(out)
        assert got["measures"] >= 1 and got["wrong_length"] == 0
        assert got["warnings"] == []
        g = Fraction(tok.grid)
        want = {(round(Fraction(n.qstart) / g) * g, n.pitch) for n in tok.decode(ids).notes}
        assert _onsets(got["score"]) == want


def test_a_time_signature_sampled_mid_bar_moves_to_the_next_bar_line(tmp_path):
    notes = [Note(0, 60 + k % 5, 0, 0, 80, k * 0.75, k * 0.75 + 1.25) for k in range(30)]
    sigs = [(0.0, 0.0, 3, 4), (4.0, 0.0, 5, 8), (11.3, 0.0, 4, 4)]  # 4.0 is mid-bar in 3/4
    out = tmp_path / "metre.musicxml"
    from seqgen_plugins.midi.io import write_piece

    write_piece(Piece(notes, 90.0, sigs), out, grid=0.25)
    got = read_back(out)
    assert got["wrong_length"] == 0 and got["warnings"] == []
    from music21 import meter

    changes = [
        (float(ts.getOffsetInHierarchy(got["score"].parts[0])), ts.ratioString)
        for ts in got["score"].parts[0].recurse().getElementsByClass(meter.TimeSignature)
    ]
    assert changes == [(0.0, "3/4"), (6.0, "5/8"), (13.5, "4/4")]


def test_a_last_note_shorter_than_the_grid_still_fills_its_bar(tmp_path):
    """A 10 ms note on the last bar line rounds to nothing, is written as one grid step, and
    its bar is filled with rests (it once made a last measure of a 16th in 4/4)."""
    from seqgen_plugins.midi.io import write_piece

    notes = [Note(0, 60, 0.0, 2.0, 80, 0.0, 4.0), Note(0, 67, 2.0, 2.01, 80, 3.99, 4.01)]
    out = tmp_path / "short.musicxml"
    write_piece(Piece(notes, 120.0, []), out, grid=0.25)
    got = read_back(out)
    assert got["measures"] == 2 and got["wrong_length"] == 0 and got["warnings"] == []


def _wav(path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.reshape(-1, w.getnchannels()), w.getframerate(), w.getnchannels()


def _peak_and_tail(path) -> tuple[float, float]:
    """Peak in dBFS and seconds after the last sample above -60 dBFS."""
    pcm, rate, _ = _wav(path)
    level = np.abs(pcm.astype(np.int32)).max(axis=1)
    loud = np.flatnonzero(level > 32768 * 10 ** (-60 / 20))
    return 20 * np.log10(level.max() / 32768), (len(level) - 1 - loud[-1]) / rate


def _quiet_piece() -> Piece:
    """Soft notes over 2 s."""
    notes = [Note(0, 60 + 4 * k, 0.5 * k, 0.5 * k + 0.5, 12, k, k + 1) for k in range(4)]
    return Piece(notes, 120.0, [(0.0, 0.0, 4, 4)])


def test_sine_audio_peaks_near_minus_one_dbfs_with_a_short_tail(tmp_path, monkeypatch):
    import seqgen_plugins.midi.audio as audio
    from seqgen_plugins.midi.io import to_pretty_midi, write_piece

    monkeypatch.setattr(audio.shutil, "which", lambda _: None)
    raw = to_pretty_midi(_quiet_piece()).synthesize(fs=22050)
    raw_tail = (len(raw) - 1 - np.flatnonzero(np.abs(raw) > 10 ** (-60 / 20))[-1]) / 22050
    assert raw_tail > 0.9  # pretty_midi adds a second of silence
    out = tmp_path / "sine.wav"
    note = write_piece(_quiet_piece(), out)
    assert "sine" in note
    peak, tail = _peak_and_tail(out)
    assert -3.0 <= peak <= -1.0 and tail <= audio.RELEASE + 0.01


FAKE_FLUIDSYNTH = """#!{python}
import sys, wave
import numpy as np
out = sys.argv[sys.argv.index("-F") + 1]
t = np.arange(int(44100 * 7.0)) / 44100
x = 0.09 * np.sin(2 * np.pi * 440 * t) * (t < 2.0)  # -21 dBFS for 2 s, then 5 s of silence
pcm = (np.repeat(x[:, None], 2, axis=1) * 32767).astype("<i2")
with wave.open(out, "wb") as w:
    w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100); w.writeframes(pcm.tobytes())
"""


def test_fluidsynth_audio_is_normalised_and_trimmed(tmp_path, monkeypatch):
    """A stand-in fluidsynth renders quietly with a long tail, as the real one did."""
    from seqgen_plugins.midi.io import write_piece

    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "fluidsynth"
    fake.write_text(FAKE_FLUIDSYNTH.format(python=sys.executable))
    fake.chmod(0o755)
    (tmp_path / "gm.sf2").write_bytes(b"RIFF")
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(tmp_path / "gm.sf2"))
    out = tmp_path / "fluid.wav"
    assert "FluidSynth" in write_piece(_quiet_piece(), out)
    pcm, rate, channels = _wav(out)
    assert (rate, channels) == (44100, 2)
    peak, tail = _peak_and_tail(out)
    assert -3.0 <= peak <= -1.0 and tail <= 1.0
