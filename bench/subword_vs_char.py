"""Char vs subword at equal training time: test bits per character side by side, as JSON.

For each corpus both domains train the same model (same size, same options) for ``--seconds``
of training time on the same train split, keep their best checkpoint by validation loss, and
are scored on the same test characters (the ``units`` of both reports are equal, which the
script checks). The subword domain pays for every character (byte fallback, no ``<unk>``), so
the two figures compare exactly. Corpora (from ``--corpora-root``, default the shared folder):

- ``shakespeare``: Tiny Shakespeare, cut at the blank lines nearest 80% and 90%;
- ``hod``: Heart of Darkness without its Project Gutenberg header and footer, cut the same way;
- ``wikitext2``: WikiText-2's own train/valid/test files (the tokenized release, as shared).

Training goes through the Python API (``seqgen.train``), one process per run; ``--parallel``
trains char and subword of a corpus at once, one thread each, so both see the same load::

    python bench/subword_vs_char.py --seconds 300 --parallel --out runs/subword-vs-char
    python bench/subword_vs_char.py --seconds 15 --corpora hod --out /tmp/svc   # a smoke run

A finished run (its result.json) is reused, so an interrupted comparison can be restarted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from pathlib import Path

from word_vs_char import split_book

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SEQGEN_CORPORA") or ROOT.parent / "shared" / "corpora")
CORPORA = {
    "shakespeare": "tinyshakespeare/input.txt",
    "hod": "gutenberg/219-0.txt",
    "wikitext2": "wikitext-2",
}
SIZES = {"hidden_size": 256, "embedding_size": 128, "dropout": 0.3, "lr": 3e-3,
         "batch_size": 16, "seq_len": 64}  # fmt: skip


def corpus_folder(name: str, root: Path, out: Path) -> Path:
    """A folder with train/valid/test files for ``name``."""
    src = root / CORPORA[name]
    if src.is_dir():
        return src  # WikiText-2 comes split
    return split_book(src, out / "corpus")


def train_and_score(domain: str, corpus: Path, run: Path, options: dict, settings: dict) -> None:
    """One run (in its own process): train, score valid and test, write run/result.json."""
    import seqgen

    job = seqgen.train(domain, str(corpus), run, options=options, **settings)
    layout, summary = job.trainer.batcher.layout, job.summary
    tokens = summary["steps_this_session"] * layout.batch_size * layout.seq_len
    per_token = job.data.units("train") / len(job.data.tokens("train"))
    tokens_per_s = tokens / max(summary["train_time"], 1e-9)
    model = seqgen.load(run)
    scores = {split: model.score(split=split) for split in ("valid", "test")}
    result = {
        "test_bits_per_char": scores["test"]["bits_per_unit"],
        "valid_bits_per_char": scores["valid"]["bits_per_unit"],
        "test_characters": scores["test"]["units"],
        "test_tokens": scores["test"]["tokens"],
        "vocab_size": job.data.tokenizer.vocab_size,
        "characters_per_token": per_token,
        "steps": summary["step"],
        "train_seconds": round(summary["train_time"], 1),
        "tokens_per_s": round(tokens_per_s),
        "chars_per_s": round(tokens_per_s * per_token),
    }
    (run / "result.json").write_text(json.dumps(result, indent=1))


def run_jobs(jobs: list[tuple], parallel: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=train_and_score, args=job) for job in jobs]
    for group in [procs] if parallel else [[p] for p in procs]:
        for p in group:
            p.start()
        for p in group:
            p.join()
    failed = [job[2] for job, p in zip(jobs, procs, strict=True) if p.exitcode != 0]
    if failed:
        raise SystemExit(f"training failed for {', '.join(map(str, failed))} (see its output)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=300.0, help="training time per run")
    p.add_argument("--corpora", nargs="+", choices=sorted(CORPORA), default=list(CORPORA))
    p.add_argument("--corpora-root", type=Path, default=SHARED)
    p.add_argument("--out", type=Path, default=Path("runs/subword-vs-char"))
    p.add_argument("--model", choices=("bpe", "unigram"), default="bpe")
    p.add_argument("--vocab", type=int, default=2000, help="the subword vocabulary size")
    p.add_argument("--parallel", action="store_true", help="char and subword at once")
    p.add_argument("--threads", type=int, default=None, help="per run (--parallel: 1)")
    for name, value in SIZES.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    a = p.parse_args()
    settings = {name: getattr(a, name) for name in SIZES}
    settings.update(max_time=a.seconds, patience=0)  # patience 0: never stop early
    if a.threads or a.parallel:
        settings["threads"] = a.threads or 1
    domains = {"char": {}, "subword": {"model": a.model, "vocab": str(a.vocab)}}
    report: dict = {"seconds": a.seconds, "parallel": a.parallel, "subword": domains["subword"]}
    report["settings"] = settings
    for name in a.corpora:
        out = a.out / name
        corpus = corpus_folder(name, a.corpora_root, out)
        jobs = []
        for domain, options in domains.items():
            run = out / domain
            if (run / "result.json").is_file():
                continue  # finished before: reused
            if run.exists():
                raise SystemExit(f"{run} holds an unfinished run: remove it to train again")
            jobs.append((domain, corpus, run, options, settings))
        run_jobs(jobs, a.parallel)
        row = {d: json.loads((out / d / "result.json").read_text()) for d in domains}
        row["corpus"] = str(corpus)
        row["same_test_characters"] = (
            row["char"]["test_characters"] == row["subword"]["test_characters"]
        )
        row["subword_minus_char_test_bpc"] = round(
            row["subword"]["test_bits_per_char"] - row["char"]["test_bits_per_char"], 4
        )
        report[name] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
