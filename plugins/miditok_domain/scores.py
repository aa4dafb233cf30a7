"""symusic scores for the miditok domain: reading a MIDI file (one line naming a bad file), the
notes of a score as comparable tuples, and a score as the midi domain's ``Piece`` so that
``.wav``, ``.png``, ``.musicxml`` and ``.txt`` output reuse the midi domain's writers."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from seqgen_plugins.midi.io import DEFAULT_TEMPO, DRUMS, MAX_QUARTERS, MAX_SECONDS, Note, Piece

from seqgen.errors import DataError
from seqgen.io import not_a_file

DRUM = -1  # MidiTok's program for GM channel-10 percussion (the midi domain's 128)


def read_score(path: Path):
    """The file as a ``symusic.Score`` in ticks, or DataError naming it: missing, empty,
    unparsable, without notes, or longer than seqgen reads (the midi domain's bounds)."""
    import symusic

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {not_a_file(path)}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        score = symusic.Score(str(path))
    except Exception as e:  # symusic raises RuntimeError (or ValueError) for anything corrupt
        msg = str(e).splitlines()[0][:120] if str(e) else ""
        raise DataError(
            f"{path}: not a readable MIDI file ({type(e).__name__}{': ' + msg if msg else ''})"
        ) from None
    if score.ticks_per_quarter <= 0:
        raise DataError(f"{path}: not a readable MIDI file ({score.ticks_per_quarter} ticks/beat)")
    if score.note_num() == 0:
        raise DataError(f"{path}: no notes")
    quarters = score.end() / score.ticks_per_quarter
    seconds = score.to("second").end()
    if seconds > MAX_SECONDS or quarters > MAX_QUARTERS:
        raise DataError(
            f"{path}: lasts {seconds / 3600:,.0f} hours ({quarters:,.0f} beats), longer than "
            f"seqgen reads ({MAX_SECONDS // 3600} hours, {MAX_QUARTERS:,} beats)"
        )
    return score


def note_tuples(score) -> Counter:
    """The notes as a multiset of (program, pitch, onset, duration, velocity), times in quarter
    notes (exact: MidiTok's resolutions are powers of two); drums are program -1."""
    tpq = score.ticks_per_quarter
    out: Counter = Counter()
    for track in score.tracks:
        program = DRUM if track.is_drum else int(track.program)
        for n in track.notes:
            out[(program, int(n.pitch), n.time / tpq, n.duration / tpq, int(n.velocity))] += 1
    return out


def paired_fifo(notes: Counter) -> Counter:
    """Notes as note-on/note-off events spell them: ("on", program, pitch, onset, velocity)
    and ("off", program, pitch, offset). Two overlapping notes of one pitch then compare equal
    however their offsets were paired (MIDILike closes the earliest note first)."""
    out: Counter = Counter()
    for (program, pitch, onset, duration, velocity), k in notes.items():
        out[("on", program, pitch, onset, velocity)] += k
        out[("off", program, pitch, onset + duration)] += k
    return out


def describe_difference(got: Counter, want: Counter) -> str | None:
    """None if equal, else how many notes are missing and extra (and one example)."""
    if got == want:
        return None
    missing, extra = want - got, got - want
    example = next(iter(missing or extra))
    return (
        f"{sum(missing.values())} of {sum(want.values())} notes lost, {sum(extra.values())} "
        f"extra (e.g. {'lost' if missing else 'extra'} {example})"
    )


def music_seconds(score) -> float:
    """Seconds from the start to the end of the last note, at the score's tempo map."""
    seconds = score.to("second")
    return max((n.time + n.duration for t in seconds.tracks for n in t.notes), default=0.0)


def to_piece(score) -> Piece:
    """The score as the midi domain's Piece (times in seconds and in quarter notes)."""
    tpq = score.ticks_per_quarter
    timed = score.to("second")
    notes: list[Note] = []
    for track, secs in zip(score.tracks, timed.tracks, strict=True):
        program = DRUMS if track.is_drum else int(track.program)
        for n, s in zip(track.notes, secs.notes, strict=True):
            notes.append(
                Note(
                    program,
                    int(n.pitch),
                    float(s.time),
                    float(s.time + s.duration),
                    int(min(max(n.velocity, 1), 127)),
                    n.time / tpq,
                    (n.time + n.duration) / tpq,
                )
            )
    notes.sort(key=lambda n: (n.start, n.program, n.pitch))
    tempos = [t for t in score.tempos if t.time == 0]
    tempo = float(tempos[-1].qpm) if tempos else DEFAULT_TEMPO
    sigs = [
        (ts.time / tpq, float(s.time), int(ts.numerator), int(ts.denominator))
        for ts, s in zip(score.time_signatures, timed.time_signatures, strict=True)
    ]
    return Piece(notes, tempo, sigs, end=max((n.qend for n in notes), default=0.0))


def by_key(score) -> dict[tuple[int, int], list[tuple[float, float, int]]]:
    """(program, pitch) -> sorted (onset, duration, velocity) in quarter notes."""
    tpq = score.ticks_per_quarter
    out: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
    for track in score.tracks:
        program = DRUM if track.is_drum else int(track.program)
        for n in track.notes:
            out[(program, int(n.pitch))].append((n.time / tpq, n.duration / tpq, n.velocity))
    return {k: sorted(v) for k, v in out.items()}
