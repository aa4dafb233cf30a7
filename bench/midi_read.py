"""pretty_midi against symusic for reading MIDI, side by side, as JSON: files per second (the
median of several rounds, and symusic's speed-up) and whether the two give the same notes.

Two sets of files: a folder of MIDI files (the shared MIDI folder by default) and music21's
Bach chorales written out as MIDI into a temporary folder first. Three readers are timed on
every file, one after the other within a round:

* ``pretty_midi``: ``pretty_midi.PrettyMIDI(path)``, the parse alone;
* ``midi_domain``: what the midi domain does per file (``seqgen_plugins.midi.io.read_midi``:
  pretty_midi, then each note's position in quarter notes);
* ``symusic``: ``symusic.Score(path)`` and the same score in seconds (what a reader needs).

Notes are compared per file as (program or drums, pitch, start, end, velocity), times in seconds
to 1 ms, zero-length notes left out (pretty_midi drops them); ``differing`` names each file
where they are not the same and the causes ``causes()`` finds in it::

    python bench/midi_read.py --rounds 5                      # shared folder + all chorales
    python bench/midi_read.py --rounds 3 --chorales 40       # a quicker look
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "midi"
TOLERANCE = 1e-3  # seconds: symusic converts ticks to seconds in float32


def notes_pretty_midi(data: bytes) -> list[tuple]:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    return sorted(
        (128 if i.is_drum else int(i.program), int(n.pitch), n.start, n.end, int(n.velocity))
        for i in pm.instruments
        for n in i.notes
        if n.end > n.start
    )


def notes_symusic(data: bytes) -> list[tuple]:
    import symusic

    score = symusic.Score.from_midi(data).to("second")
    return sorted(
        (128 if t.is_drum else int(t.program), int(n.pitch), n.time, n.time + n.duration,
         int(n.velocity))
        for t in score.tracks
        for n in t.notes
        if n.duration > 0
    )  # fmt: skip


def same_notes(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        x[:2] == y[:2] and x[4] == y[4] and abs(x[2] - y[2]) <= TOLERANCE
        and abs(x[3] - y[3]) <= TOLERANCE
        for x, y in zip(a, b, strict=True)
    )  # fmt: skip


def causes(data: bytes) -> list[str]:
    """Which of the three known reasons for different notes a file has (see docs/midi.md),
    found event by event with mido (pretty_midi's parser)."""
    import mido

    midi = mido.MidiFile(file=io.BytesIO(data))
    found = set()
    for k, track in enumerate(midi.tracks):
        tick, sounding = 0, defaultdict(list)  # (channel, pitch) -> start ticks
        for msg in track:
            tick += msg.time
            if msg.type in ("set_tempo", "time_signature") and k > 0:
                found.add("tempo or metre outside the first track")
            elif msg.type == "program_change":
                if any(ch == msg.channel and on for (ch, _), on in sounding.items()):
                    found.add("a program change while a note sounds")
            elif msg.type == "note_on" and msg.velocity > 0:
                if sounding[(msg.channel, msg.note)]:
                    found.add("a pitch struck again while it sounds")
                sounding[(msg.channel, msg.note)].append(tick)
            elif msg.type in ("note_on", "note_off"):
                sounding.pop((msg.channel, msg.note), None)
    return sorted(found)


def write_chorales(folder: Path, limit: int) -> list[Path]:
    from music21 import converter

    paths = m21_bach(limit)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, src in enumerate(paths):
            dest = folder / f"{k:03d}-{src.stem}.mid"
            try:
                score = converter.parse(str(src), forceSource=True, storePickle=False)
                score.write("midi", dest)
            except Exception:  # music21 cannot write a few (badly formed repeats): left out
                continue
            out.append(dest)
    return out


def m21_bach(limit: int) -> list[Path]:
    from seqgen_plugins.midi.corpora import m21_files

    return m21_files("bach", limit or None)


def readers() -> dict:
    import pretty_midi
    import symusic
    from seqgen_plugins.midi.io import read_midi

    return {
        "pretty_midi": lambda p: pretty_midi.PrettyMIDI(str(p)),
        "midi_domain": read_midi,
        "symusic": lambda p: symusic.Score(str(p)).to("second"),
    }


def measure(files: list[Path], rounds: int) -> dict:
    """Files per second of each reader (median over rounds), over the files every reader
    reads, and the files whose notes differ."""
    usable = []
    for path in files:
        try:
            for read in readers().values():
                read(path)
            usable.append(path)
        except Exception:  # unreadable by one of them: left out of the timing
            pass
    times: dict[str, list[float]] = {name: [] for name in readers()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(rounds):
            for name, read in readers().items():
                t0 = time.perf_counter()
                for path in usable:
                    read(path)
                times[name].append(time.perf_counter() - t0)
        differing = {}
        for path in usable:
            data = path.read_bytes()
            if not same_notes(notes_pretty_midi(data), notes_symusic(data)):
                differing[path.name] = causes(data)
    per_s = {n: len(usable) / statistics.median(t) for n, t in times.items()}
    return {
        "files": len(usable),
        "left_out": sorted(p.name for p in files if p not in usable),
        "files_per_s": {n: round(v, 1) for n, v in per_s.items()},
        "rounds_s": {n: [round(x, 4) for x in t] for n, t in times.items()},
        "symusic_vs_pretty_midi": round(per_s["symusic"] / per_s["pretty_midi"], 1),
        "symusic_vs_midi_domain": round(per_s["symusic"] / per_s["midi_domain"], 1),
        "same_notes": len(usable) - len(differing),
        "differing": differing,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--midi", type=Path, default=SHARED, help="folder of .mid files")
    p.add_argument("--chorales", type=int, default=0, help="how many chorales (0: all)")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    report = {"rounds": a.rounds}
    if a.midi.is_dir():
        report["midi_folder"] = {"path": str(a.midi)}
        report["midi_folder"] |= measure(sorted(a.midi.rglob("*.mid")), a.rounds)
    with tempfile.TemporaryDirectory(prefix="seqgen-chorales-") as folder:
        t0 = time.perf_counter()
        files = write_chorales(Path(folder), a.chorales)
        report["bach_chorales"] = {
            "written_in_s": round(time.perf_counter() - t0, 1),
            "music21_could_not_write": len(m21_bach(a.chorales)) - len(files),
        }
        report["bach_chorales"] |= measure(files, a.rounds)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
