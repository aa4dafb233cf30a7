"""Does a generated chorale look like the chorales it learned from? Statistics as JSON.

Draws N samples of ``--bars`` bars from a run of the midi domain's ``frames`` encoding, writes
the first as MIDI, WAV and a piano-roll PNG, and compares per-frame statistics (notes sounding
per frame, pitch range, share of frames that repeat the previous one, share of frames inside
a passage of 8 or more frames that already occurred in the piece, frames per piece) with the
run's validation split (never transposed). Samples the model did not end itself stop at
``--bars``, so frames per piece compares fairly only when ``ended_by_eod`` is near 1. A run
trained with ``--cache`` samples with its document cache unless ``--no-cache`` is given::

    python bench/chorale_check.py RUN --bars 16 -N 20 --out bench-out/chorale
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def frames_of(ids, on: int, frame: int, eod: int) -> list[list[tuple]]:
    """Pieces as lists of frames, each frame the tuple of its pitches."""
    pieces, frames, cur = [], [], []
    for t in ids:
        if t == eod:
            if frames:
                pieces.append(frames)
            frames, cur = [], []
        elif t == frame:
            frames.append(tuple(cur))
            cur = []
        elif on <= t < on + 128:
            cur.append(t - on)
    if frames:
        pieces.append(frames)
    return pieces


def passage_share(pieces: list[list[tuple]], k: int = 8) -> float:
    """Share of frames inside a run of ``k`` frames that occurred earlier in the same piece."""
    covered = total = 0
    for p in pieces:
        inside = np.zeros(len(p), bool)
        first: dict[tuple, int] = {}
        for i in range(len(p) - k + 1):
            key = tuple(p[i : i + k])
            if key in first and first[key] + k <= i:
                inside[i : i + k] = True
            first.setdefault(key, i)
        covered, total = covered + int(inside.sum()), total + len(p)
    return round(covered / max(total, 1), 3)


def stats(pieces: list[list[tuple]]) -> dict:
    frames = [f for p in pieces for f in p]
    pitches = [x for f in frames for x in f]
    repeats = sum(a == b for p in pieces for a, b in zip(p, p[1:], strict=False))
    return {
        "pieces": len(pieces),
        "frames_per_piece": round(float(np.mean([len(p) for p in pieces])), 1),
        "frames_per_piece_median": float(np.median([len(p) for p in pieces])),
        "notes_per_frame": round(len(pitches) / max(len(frames), 1), 3),
        "silent_frame_share": round(sum(not f for f in frames) / max(len(frames), 1), 3),
        "repeated_frame_share": round(repeats / max(len(frames) - len(pieces), 1), 3),
        "repeated_passage_share": passage_share(pieces),
        "pitch_min": int(min(pitches)),
        "pitch_max": int(max(pitches)),
        "pitch_mean": round(float(np.mean(pitches)), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--bars", type=float, default=16)
    ap.add_argument("-N", "--samples", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench-out/chorale"))
    ap.add_argument("--no-cache", action="store_true", help="leave the run's cache out")
    a = ap.parse_args()
    import torch
    from seqgen_plugins.midi import FRAME, ON

    from seqgen import checkpoint, registry
    from seqgen.corpus import resolve
    from seqgen.data import prepare
    from seqgen.decode import DecodeConfig as SampleConfig
    from seqgen.decode import decode as generate

    torch.set_num_threads(1)
    ckpt = checkpoint.load(a.run)
    model, tok = checkpoint.build(ckpt)
    cfg = SampleConfig(
        length=100_000,
        num_samples=a.samples,
        seed=a.seed,
        temperature=a.temperature,
        until=("bars", a.bars),
        cache=None if a.no_cache else ckpt.cache,
    )
    samples = generate(model, tok, cfg)
    a.out.mkdir(parents=True, exist_ok=True)
    for suffix in (".mid", ".wav", ".png"):
        tok.write(samples[0], a.out / f"chorale{suffix}")
    run = ckpt.run
    data = prepare(type(tok), resolve(run.corpus, type(tok).file_patterns, registry.load()),
                   settings=run.settings)  # fmt: skip
    split = "valid" if "valid" in data.splits else data.splits[0]
    reference = frames_of(np.asarray(data.tokens(split)).tolist(), ON, FRAME, tok.eod_id)
    generated = [frames_of(s, ON, FRAME, tok.eod_id)[0] for s in samples if any(s)]
    report = {
        "run": str(a.run),
        "bars": a.bars,
        "temperature": a.temperature,
        "cache": cfg.cache is not None,
        "generated": stats(generated),
        # the rest stopped at --bars: their lengths are cut, not chosen by the model
        "ended_by_eod": round(sum(tok.eod_id in s for s in samples) / max(len(samples), 1), 3),
        f"{split}_split": stats(reference),
        "files": [str(a.out / f"chorale{s}") for s in (".mid", ".wav", ".png")],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
