"""The first chorale (issue 17): the README's command, measured as a musician would hear it.

For each seed: ``seqgen train --domain midi --max-time 60 --out RUN --seed S --threads T -q``
(music21's Bach chorales, the default corpus), then 20 samples of the default length (500
tokens) written as .mid, .xml (MusicXML) and .wav. Prints JSON: per sample, notes longer than
the longest training note and the most notes sounding at once (against the training split and
the whole corpus), MusicXML measures whose length differs from their time signature and the
warnings music21 gives re-reading the file, WAV peak (dBFS) and silent tail (seconds after the
last sample above -60 dBFS); per run, the best validation nats/token, the train-valid gap there
and the training wall time::

    python bench/first_chorale.py --threads 1            # 3 seeds x 20 samples, 60 s each
    python bench/first_chorale.py --quick                # 1 seed x 5 samples, 20 s
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import wave
from collections import Counter
from pathlib import Path

import numpy as np

EPS = 1e-6  # seconds: decoded times are multiples of 10 ms in float


def longest_and_polyphony(piece) -> tuple[float, int]:
    """Longest note (s) and most notes sounding at once."""
    from seqgen_plugins.midi.io import longest_and_polyphony as of_spans

    longest, most = of_spans((n.start, n.end) for n in piece.notes)
    return float(longest), most


def documents(ids: np.ndarray, eod: int) -> list[list[int]]:
    out, cur = [], []
    for t in np.asarray(ids).tolist():
        if t == eod:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    return [*out, cur] if cur else out


def reference(tok, run) -> dict:
    """Longest note and polyphony of the training split and of the whole corpus, from the
    token store the run trained on (decoded as the model saw them)."""
    from seqgen import registry
    from seqgen.corpus import resolve
    from seqgen.data import prepare

    spec = resolve(run.corpus, type(tok).file_patterns, registry.load())
    data = prepare(type(tok), spec, settings=run.settings)
    out = {}
    for split in data.splits:
        pieces = [tok.decode(d) for d in documents(data.tokens(split), tok.eod_id)]
        stats = [longest_and_polyphony(p) for p in pieces]
        lengths = [n.end - n.start for p in pieces for n in p.notes]
        out[split] = {
            "documents": len(stats),
            "longest_note_s": round(max(s[0] for s in stats), 3),
            "max_polyphony": max(s[1] for s in stats),
            "documents_by_max_polyphony": dict(sorted(Counter(s[1] for s in stats).items())),
            "notes": len(lengths),
            "notes_over_2s": sum(x > 2.0 + EPS for x in lengths),
        }
    out["corpus"] = {  # what the tokenizer's fit saw when the core splits the corpus after it
        "longest_note_s": max(v["longest_note_s"] for v in out.values()),
        "max_polyphony": max(v["max_polyphony"] for v in out.values()),
    }
    return out


def wav_levels(path: Path) -> tuple[float, float, float]:
    """(peak dBFS, silent tail s, duration s) of a 16-bit WAV."""
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        rate = w.getframerate()
    level = np.abs(pcm.astype(np.int32)).max(axis=1)
    loud = np.flatnonzero(level > 32768 * 10 ** (-60 / 20))
    tail = (len(level) - 1 - loud[-1]) / rate if loud.size else len(level) / rate
    peak = 20 * np.log10(max(int(level.max()), 1) / 32768) if level.size else -np.inf
    return round(float(peak), 2), round(float(tail), 3), round(len(level) / rate, 3)


def train(run: Path, seed: int, max_time: float, threads: int, corpus: str | None) -> dict:
    cmd = ["seqgen", "train", "--domain", "midi", "--max-time", str(max_time), "--out", str(run),
           "--seed", str(seed), "--threads", str(threads), "-q"]  # fmt: skip
    if corpus:
        cmd += ["--corpus", corpus]
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"first_chorale: {' '.join(cmd)} failed: {done.stderr.strip()[-400:]}")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    vals = [r for r in rows if "val_nats_per_token" in r]
    best = min(vals, key=lambda r: r["val_nats_per_token"])
    logs = [r for r in rows if "train_loss" in r and r["step"] <= best["step"]]
    train_loss = logs[-1]["train_loss"] if logs else None
    gap = None if train_loss is None else best["val_nats_per_token"] - train_loss
    return {
        "command": " ".join(cmd),
        "wall_s": round(time.time() - t0, 1),
        "steps": max(r["step"] for r in rows),
        "best_val_nats_per_token": round(best["val_nats_per_token"], 4),
        "train_loss_there": None if train_loss is None else round(train_loss, 4),
        "train_valid_gap": None if gap is None else round(gap, 4),
        "validations": [round(r["val_nats_per_token"], 3) for r in vals],
    }  # fmt: skip


def sample_report(tok, ids: list[int], stem: Path, ref: dict) -> dict:
    from seqgen_plugins.midi.io import write_piece
    from seqgen_plugins.midi.notation import read_back

    piece = tok.decode(ids)
    longest, poly = longest_and_polyphony(piece)
    for suffix in (".mid", ".xml", ".wav"):
        synth = write_piece(piece, stem.with_suffix(suffix), grid=tok.grid) or ""
        if suffix == ".wav":
            used = "fluidsynth" if "FluidSynth" in synth else "sine"
    score = read_back(stem.with_suffix(".xml"))
    peak, tail, seconds = wav_levels(stem.with_suffix(".wav"))
    durations = [n.end - n.start for n in piece.notes]
    return {
        "notes": len(piece.notes),
        "seconds": round(max((n.end for n in piece.notes), default=0.0), 2),
        "longest_note_s": round(longest, 3),
        "over_train_longest": sum(d > ref["train"]["longest_note_s"] + EPS for d in durations),
        "over_corpus_longest": sum(d > ref["corpus"]["longest_note_s"] + EPS for d in durations),
        "max_polyphony": poly,
        "notes_over_2s": sum(d > 2.0 + EPS for d in durations),
        "notes_at_corpus_longest": sum(
            d > ref["corpus"]["longest_note_s"] - 0.01 for d in durations
        ),
        "xml_measures": score["measures"],
        "xml_wrong_length": score["wrong_length"],
        "xml_warnings": len(score["warnings"]),
        "wav_peak_dbfs": peak,
        "wav_tail_s": tail,
        "wav_seconds": seconds,
        "synth": used,
    }


def one_seed(a, seed: int) -> dict:
    import torch

    import seqgen

    run = a.out / f"run-{seed}"
    trained = train(run, seed, a.max_time, a.threads, a.corpus)
    torch.set_num_threads(a.threads)
    model = seqgen.load(run)
    tok = model.tokenizer
    ref = reference(tok, model.checkpoint.run)
    samples = model.generate_ids(length=a.length, num_samples=a.samples, seed=seed)
    (a.out / f"samples-{seed}").mkdir(parents=True, exist_ok=True)
    per = [sample_report(tok, ids, a.out / f"samples-{seed}" / f"s{k:02d}", ref)
           for k, ids in enumerate(samples)]  # fmt: skip
    return {"seed": seed, "train": trained, "limits": tok.limits, "reference": ref,
            "summary": summarise(per, ref), "samples": per}  # fmt: skip


def summarise(per: list[dict], ref: dict) -> dict:
    return {
        "samples": len(per),
        "samples_with_note_over_train_longest": sum(p["over_train_longest"] > 0 for p in per),
        "notes_over_train_longest": sum(p["over_train_longest"] for p in per),
        "notes_over_corpus_longest": sum(p["over_corpus_longest"] for p in per),
        "notes": sum(p["notes"] for p in per),
        "notes_over_2s": sum(p["notes_over_2s"] for p in per),
        "notes_at_corpus_longest": sum(p["notes_at_corpus_longest"] for p in per),
        "samples_by_max_polyphony": dict(sorted(Counter(p["max_polyphony"] for p in per).items())),
        "max_polyphony": max(p["max_polyphony"] for p in per),
        "corpus_max_polyphony": ref["corpus"]["max_polyphony"],
        "xml_wrong_length": f"{sum(p['xml_wrong_length'] for p in per)} of "
        f"{sum(p['xml_measures'] for p in per)} measures",
        "xml_warnings": sum(p["xml_warnings"] for p in per),
        "wav_peak_dbfs": [min(p["wav_peak_dbfs"] for p in per),
                          max(p["wav_peak_dbfs"] for p in per)],
        "wav_tail_s_max": max(p["wav_tail_s"] for p in per),
        "synth": sorted({p["synth"] for p in per}),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1337, 7, 42])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--max-time", type=float, default=60)
    ap.add_argument(
        "--length", type=int, default=500, help="tokens per sample (generate's default)"
    )
    ap.add_argument("--threads", type=int, default=1, help="1 on a shared machine")
    ap.add_argument("--corpus", default=None, help="default: the domain's (music21:bach)")
    ap.add_argument("--out", type=Path, default=Path("bench-out/first_chorale"))
    ap.add_argument("--quick", action="store_true", help="1 seed, 5 samples, 20 s of training")
    ap.add_argument("--full", action="store_true", help="print every sample, not just summaries")
    a = ap.parse_args()
    if a.quick:
        a.seeds, a.samples, a.max_time = a.seeds[:1], min(a.samples, 5), min(a.max_time, 20)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    runs = [one_seed(a, s) for s in a.seeds]
    if not a.full:
        for r in runs:
            r.pop("samples")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report = {"quick": a.quick, "threads": a.threads, "cpus": os.cpu_count(),
              "load_average_1min_at_end": load, "seeds": a.seeds, "samples_per_seed": a.samples,
              "max_time": a.max_time, "length": a.length,
              "bench_wall_s": round(time.time() - t0, 1), "runs": runs}  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
