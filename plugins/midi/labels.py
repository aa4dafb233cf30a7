"""What the midi domain says about a piece by itself, for ``seqgen train --domain-labels``:
its key and mode, metre, tempo band and note density (docs/labels.md).

The key is music21's Aarden-Essen key analysis (what ``Score.analyze("key")`` uses): the
duration-weighted pitch-class histogram correlated with the 24 rotated key profiles. It is
computed here with NumPy on the histogram, from music21's own weights, so that a piece's
transpositions (``-o transpose``) and the judge's samples cost microseconds, not a stream each.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from seqgen_plugins.midi.io import DRUMS, Piece

TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAX_NOTES = 4000  # the key is read from the first notes of a long piece
TEMPO_BANDS = ((80.0, "slow"), (120.0, "medium"))  # first tempo below 80 BPM: slow; ...
DENSITY = ("low", "medium", "high")  # notes per second, in terciles of the training pieces
KEY_BARS = 2  # a bar's key is read from it and the next bar
BAR_SLACK = 0.01  # of a bar: a token this close before a bar line starts the bar


@lru_cache(maxsize=1)
def _profiles() -> np.ndarray:
    """(24, 12): the major then the minor profile of each tonic, music21's weights."""
    from music21.analysis.discrete import AardenEssen

    analysis = AardenEssen()
    rows = []
    for mode in ("major", "minor"):
        weights = np.asarray(analysis.getWeights(mode), dtype=np.float64)
        rows += [np.roll(weights, tonic) for tonic in range(12)]
    return np.asarray(rows)


def pitch_histogram(piece: Piece) -> np.ndarray:
    """Seconds each pitch class sounds (drums left out), over the first MAX_NOTES notes."""
    hist = np.zeros(12)
    for n in piece.notes[:MAX_NOTES]:
        if n.program != DRUMS:
            hist[n.pitch % 12] += max(n.end - n.start, 1e-3)
    return hist


def key_of(piece: Piece) -> tuple[str, str] | None:
    """(tonic, mode) such as ("G", "minor"), or None for a piece without pitched notes."""
    return key_of_histogram(pitch_histogram(piece))


def key_of_histogram(hist: np.ndarray) -> tuple[str, str] | None:
    """The key whose profile best correlates with a pitch-class histogram (None if empty)."""
    if not hist.any():
        return None
    profiles = _profiles()
    h = hist - hist.mean()
    p = profiles - profiles.mean(1, keepdims=True)
    corr = (p @ h) / (np.linalg.norm(p, axis=1) * np.linalg.norm(h) + 1e-12)
    best = int(np.argmax(corr))
    return TONICS[best % 12], ("major", "minor")[best // 12]


def metre_of(piece: Piece) -> str | None:
    if not piece.time_signatures:
        return None
    _, _, num, den = piece.time_signatures[0]
    return f"{num}/{den}"


def tempo_of(piece: Piece) -> str | None:
    if piece.tempo is None:
        return None
    for upper, name in TEMPO_BANDS:
        if piece.tempo < upper:
            return name
    return "fast"


def notes_per_second(piece: Piece) -> float:
    seconds = max((n.end for n in piece.notes), default=0.0)
    return len(piece.notes) / seconds if seconds > 0 else 0.0


def terciles(densities: list[float]) -> list[float] | None:
    """The two cut points of notes per second that part the training pieces in thirds."""
    if len(densities) < 3:
        return None
    return [float(x) for x in np.quantile(np.asarray(densities), [1 / 3, 2 / 3])]


def density_of(piece: Piece, cuts: list[float] | None) -> str | None:
    if not cuts or not piece.notes:
        return None
    rate = notes_per_second(piece)
    return DENSITY[int(rate > cuts[0]) + int(rate > cuts[1])]


def bar_starts(ids, clock) -> list[tuple[int, float]]:
    """(index, seconds) of the first token of each bar a stream reaches, as ``clock`` counts
    bars (a bar a long time shift passes over has no token of its own and is left out). A
    bar line up to BAR_SLACK of a bar early counts: the 10 ms grid rounds bar lines."""
    out, bar = [], -1
    for i, t in enumerate(ids):
        b = int(np.floor(clock.elapsed("bars") + BAR_SLACK))
        if b > bar:
            out.append((i, clock.elapsed("seconds")))
            bar = b
        clock.advance(int(t))
    return out


def bar_sections(
    starts: list[tuple[int, float]], piece: Piece, cuts: list[float] | None
) -> list[tuple[int, dict[str, str]]]:
    """Each bar's labels: the key of that bar and the next KEY_BARS - 1 (by the seconds each
    pitch class sounds within them) and its density (notes starting in it per second, in the
    training pieces' terciles). Time O((notes + bars) log notes)."""
    notes = piece.notes
    end = max((n.end for n in notes), default=0.0)
    times = np.array([s for _, s in starts] + [max(end, starts[-1][1])])
    pitched = [n for n in notes if n.program != DRUMS]
    pc = np.array([n.pitch % 12 for n in pitched], dtype=np.int64)
    begin, stop = np.array([n.start for n in pitched]), np.array([n.end for n in pitched])
    heard = np.stack([sounded(begin[pc == c], stop[pc == c], times) for c in range(12)], 1)
    began = np.searchsorted(np.sort([n.start for n in notes]), times)  # notes begun before
    out = []
    for k, (at, t0) in enumerate(starts):
        labels, t1 = {}, times[k + 1]
        if t1 - t0 < 1e-3:  # the last notes' ends on the final bar line: nothing to say
            continue
        hist = heard[min(k + KEY_BARS, len(starts))] - heard[k]
        found = key_of_histogram(np.where(hist > 1e-6, hist, 0.0))
        if found is not None:
            labels["key"] = f"{found[0]}-{found[1]}"
        if cuts:
            rate = float(began[k + 1] - began[k]) / (t1 - t0)
            labels["density"] = DENSITY[int(rate > cuts[0]) + int(rate > cuts[1])]
        if labels:
            out.append((at, labels))
    return out


def sounded(begin: np.ndarray, end: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Seconds the notes (begin, end) have sounded before each of ``times``, summed: a note
    adds min(t, end) - begin once it has begun."""
    b, e = np.sort(begin), np.sort(end)
    sum_b = np.concatenate([[0.0], np.cumsum(b)])
    sum_e = np.concatenate([[0.0], np.cumsum(e)])
    kb, ke = np.searchsorted(b, times), np.searchsorted(e, times)
    return (kb * times - sum_b[kb]) - (ke * times - sum_e[ke])


def piece_labels(piece: Piece, cuts: list[float] | None) -> dict[str, str]:
    """key, mode, metre, tempo and density of one piece (those it has)."""
    out: dict[str, str] = {}
    found = key_of(piece)
    if found is not None:
        out["key"], out["mode"] = f"{found[0]}-{found[1]}", found[1]
    for name, value in (
        ("metre", metre_of(piece)),
        ("tempo", tempo_of(piece)),
        ("density", density_of(piece, cuts)),
    ):
        if value is not None:
            out[name] = value
    return out
