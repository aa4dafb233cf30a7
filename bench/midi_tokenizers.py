"""Music tokenizers side by side, as JSON: seqgen's performance and frames encodings and MidiTok's
REMI and TSD, each MidiTok one with and without BPE, trained for the same time on the same
pieces and scored on the same held-out pieces.

The corpus folder's MIDI files (sorted by name) are split once: every tenth file is held out,
the rest is the training corpus (which seqgen divides 90/10 again for its validation). Nothing
held out is seen by training or by BPE's merges. Each encoding then trains through the Python
API (``seqgen.train``: the same run module as ``seqgen train``, with its default sizing for the
budget) for ``--seconds``, and its best checkpoint is scored on the held-out folder with
``Model.score`` (``seqgen eval --corpus HELD``)::

    python bench/midi_tokenizers.py --seconds 600 --threads 2 --out runs/music-tokenizers
    python bench/midi_tokenizers.py --seconds 15 --out /tmp/mt-smoke      # a smoke run

Per encoding: ``tokens_per_note`` (held-out tokens, ends of piece included, over held-out
notes), ``train_tokens_per_s`` and ``train_notes_per_s`` (the training tokens a second of
training time read, and the notes they stand for), ``nats_per_note`` and ``nats_per_second``
on the held-out pieces (the LSTM's summed loss over their notes and seconds of music, as
``seqgen eval`` reports them), ``held_out_notes`` (the notes the encoding keeps of them: frames
merges a re-struck pitch into one note), and ``generate_notes_per_s`` (one sample of
``--generate`` tokens from scratch, notes counted in the decoded sample).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "midi"


def encodings(vocab: int) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (domain, -o options). ``vocab``: the BPE vocabulary (ids in all)."""
    out = {
        "performance": ("midi", {"encoding": "performance"}),
        "frames": ("midi", {"encoding": "frames"}),
    }
    for name in ("REMI", "TSD"):
        out[name] = ("miditok", {"tokenization": name})
        out[f"{name}+BPE"] = ("miditok", {"tokenization": name, "vocab": str(vocab)})
    return out


def split_corpus(folder: Path, into: Path) -> tuple[Path, Path, list[str]]:
    """train/ and held/ folders of links to the corpus's files: every tenth file held out."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi"))
    if len(files) < 10:
        raise SystemExit(f"{folder}: {len(files)} MIDI files; the split needs at least 10")
    train, held = into / "train", into / "held"
    for d in (train, held):
        d.mkdir(parents=True, exist_ok=False)
    for i, path in enumerate(files):
        (held if i % 10 == 9 else train).joinpath(path.name).symlink_to(path.resolve())
    return train, held, sorted(p.name for p in held.iterdir())


def one(name: str, domain: str, options: dict, a, train: Path, held: Path) -> dict:
    import seqgen

    t0 = time.perf_counter()
    run = seqgen.train(
        domain, train, a.out / name, options=options, max_time=a.seconds, threads=a.threads,
        seed=a.seed, patience=0,
    )  # fmt: skip
    summary = run.summary
    layout = run.trainer.batcher.layout
    tokens_per_step = layout.batch_size * layout.seq_len
    model = seqgen.load(run.dir)
    tok = model.tokenizer
    report = model.score(held, cache=False)
    notes = report["counts"]["note"]
    train_tps = summary["step"] * tokens_per_step / max(summary["train_time"], 1e-9)
    t1 = time.perf_counter()
    (sample,) = model.generate_ids([], length=a.generate, seed=a.seed, stop_at_eod=False)
    gen_s = time.perf_counter() - t1
    sample_notes = tok.eval_units(sample)["note"]
    return {
        "domain": domain,
        "options": options,
        "vocab_size": tok.vocab_size,
        "tokens_per_note": round(report["tokens"] / notes, 3),
        "train_tokens_per_s": round(train_tps),
        "train_notes_per_s": round(train_tps / (report["tokens"] / notes)),
        "nats_per_note": round(report["nats_per_note"], 4),
        "nats_per_second": round(report["nats_per_second"], 4),
        "nats_per_token": round(report["nats_per_token"], 4),
        "held_out_notes": int(notes),
        "held_out_seconds": round(report["counts"]["second"], 1),
        "generate_notes_per_s": round(sample_notes / gen_s, 1),
        "generated_tokens": len(sample),
        "generated_notes": int(sample_notes),
        "steps": summary["step"],
        "train_time_s": round(summary["train_time"], 1),
        "prepare_and_train_wall_s": round(time.perf_counter() - t0 - gen_s, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", type=Path, default=SHARED, help="a folder of MIDI files")
    p.add_argument("--seconds", type=float, default=600.0, help="training time per encoding")
    p.add_argument("--vocab", type=int, default=2000, help="BPE vocabulary (ids in all)")
    p.add_argument("--generate", type=int, default=2000, help="tokens generated per encoding")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--only", action="append", help="encoding names to run (repeatable)")
    p.add_argument("--out", type=Path, default=Path("runs/music-tokenizers"))
    a = p.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    train, held, held_files = split_corpus(a.corpus, a.out / "corpus")
    report: dict = {
        "corpus": str(a.corpus),
        "seconds": a.seconds,
        "threads": a.threads,
        "held_out_files": held_files,
        "encodings": {},
    }
    for name, (domain, options) in encodings(a.vocab).items():
        if a.only and name not in a.only:
            continue
        report["encodings"][name] = one(name, domain, options, a, train, held)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
