"""Generated chorales against held-out Bach, as a musician would compare them; prints JSON.

    python bench/chorale_compare.py RUN [-N 20] [--seed 1] [--bars 16] [--out bench-out/compare]

Draws N samples from RUN (`seqgen generate --num-samples N --out gen.mid`) and reads the
held-out chorales: every tenth chorale of music21's corpus, the ones a default run validates
on. For both it reports:

- note lengths in quarter notes (a histogram, the median and the longest);
- the pitch range (lowest, highest, span);
- voices: the most notes sounding at once, and the median over time;
- key clarity: music21's key analysis (Krumhansl-Schmuckler), i.e. the correlation of the
  best-fitting key, where 1 is unambiguous.

It draws a piano roll of the first piece of each, side by side, to ``--out``/compare.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

EDGES = [0, 0.25, 0.5, 1, 2, 4, 8, 16, 1e9]  # note-length bins, in quarter notes


def generate(run: str, n: int, seed: int, bars: int, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "seqgen", "generate", run, "--num-samples", str(n)]
    cmd += ["--seed", str(seed), "--bars", str(bars), "--out", str(out / "gen.mid"), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)}: {proc.stderr.strip()[-400:]}")
    return sorted(out.glob("gen*.mid"))


def held_out(limit: int) -> list[Path]:
    from seqgen_plugins.midi.corpora import m21_files

    return m21_files("bach")[9::10][:limit]


def notes_of(path: Path) -> tuple[list[tuple[float, float, int]], float]:
    """(start, end, pitch) in quarter notes, and the piece's music21 key correlation."""
    from music21 import converter

    score = converter.parse(str(path), forceSource=True)
    notes = []
    for n in score.flatten().notes:
        for p in getattr(n, "pitches", ()):
            start = float(n.getOffsetInHierarchy(score))
            notes.append((start, start + float(n.quarterLength), p.midi))
    try:
        key = score.analyze("key")
    except Exception:  # music21 finds no key in a piece with too few pitches
        return notes, float("nan")
    return notes, float(getattr(key, "correlationCoefficient", 0.0))


def stats(pieces: list[tuple[list, float]]) -> dict:
    lengths = np.array([e - s for notes, _ in pieces for s, e, _ in notes])
    pitches = np.array([p for notes, _ in pieces for *_, p in notes])
    voices = [_voices(notes) for notes, _ in pieces]
    hist, _ = np.histogram(lengths, bins=EDGES)
    return {
        "pieces": len(pieces),
        "notes": int(len(lengths)),
        "length_histogram": dict(
            zip(_labels(), (hist / max(1, hist.sum())).round(3).tolist(), strict=True)
        ),
        "length_median_quarters": float(np.median(lengths)),
        "length_max_quarters": float(lengths.max()),
        "pitch_low": int(pitches.min()),
        "pitch_high": int(pitches.max()),
        "pitch_span": int(pitches.max() - pitches.min()),
        "voices_max": int(max(v[0] for v in voices)),
        "voices_median": float(np.median([v[1] for v in voices])),
        "key_clarity_median": float(np.nanmedian([k for _, k in pieces])),
        "pieces_without_a_key": int(sum(np.isnan(k) for _, k in pieces)),
    }


def _voices(notes: list) -> tuple[int, float]:
    """Most notes sounding at once, and the median count over sixteenth-note steps."""
    end = max(e for _, e, _ in notes)
    grid = np.zeros(int(end * 4) + 1, np.int32)
    for s, e, _ in notes:
        grid[int(round(s * 4)) : max(int(round(s * 4)) + 1, int(round(e * 4)))] += 1
    sounding = grid[grid > 0]
    return int(grid.max()), float(np.median(sounding)) if len(sounding) else 0.0


def _labels() -> list[str]:
    pairs = zip(EDGES, EDGES[1:], strict=False)
    return [f"{a:g}-{b:g}" if b < 1e9 else f">{a:g}" for a, b in pairs]


def piano_rolls(gen: list, ref: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, (notes, _), title in zip(axes, (gen, ref), ("generated", "held-out Bach"), strict=True):
        for s, e, p in notes:
            ax.broken_barh([(s, e - s)], (p - 0.4, 0.8), color="tab:blue")
        ax.set_title(title)
        ax.set_xlabel("quarter notes")
    axes[0].set_ylabel("MIDI pitch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("-N", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--out", default="bench-out/compare")
    args = ap.parse_args()
    out = Path(args.out)
    gen = [notes_of(p) for p in generate(args.run, args.N, args.seed, args.bars, out)]
    gen = [g for g in gen if g[0]]
    ref = [notes_of(p) for p in held_out(args.N)]
    piano_rolls(gen[0], ref[0], out / "compare.png")
    report = {"run": args.run, "generated": stats(gen), "held_out_bach": stats(ref)}
    report["plot"] = str(out / "compare.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
