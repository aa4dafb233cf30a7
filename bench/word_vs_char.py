"""Char vs word on the same text and budget: bits per character side by side, as JSON.

The book (Heart of Darkness by default) loses its Project Gutenberg header and footer, is
lowercased, then cut at the paragraph breaks nearest 80% and 90%: ``train.txt``, ``valid.txt``
and ``test.txt`` in one folder, which seqgen treats as a corpus with its own splits. Each run
keeps its best checkpoint by validation loss; both are then scored on the very same held-out
test characters (the ``units`` of both reports are equal), and each writes a short sample::

    python bench/word_vs_char.py --seconds 600 --parallel --out runs/hod   # the comparison
    python bench/word_vs_char.py --seconds 60 --parallel --out /tmp/hod    # a short run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runner import run_all, seqgen

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT.parent / "shared" / "corpora" / "gutenberg" / "219-0.txt"


def split_book(book: Path, into: Path) -> Path:
    """train.txt / valid.txt / test.txt: the book body cut at the paragraph breaks nearest 80%
    and 90%. Validation picks each run's best checkpoint; test scores it."""
    from seqgen_plugins.char import CharTokenizer

    reader = CharTokenizer({"strip_gutenberg": True, "newlines": "unix"})
    text = "".join(p for doc in reader.read(book) for p in doc.parts)
    a, b = (text.rfind("\n\n", 0, int(len(text) * f)) + 2 for f in (0.8, 0.9))
    into.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", text[:a]), ("valid", text[a:b]), ("test", text[b:])):
        (into / f"{name}.txt").write_text(part, encoding="utf-8")
    return into


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--book", type=Path, default=BOOK)
    p.add_argument("--seconds", type=float, default=600.0, help="training time per domain")
    p.add_argument("--out", type=Path, default=Path("runs/word-vs-char"))
    p.add_argument("--threads", type=int, default=None, help="per run (--parallel: 1)")
    p.add_argument("--parallel", action="store_true", help="train both domains at once")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64)
    a = p.parse_args()
    corpus = split_book(a.book, a.out / "corpus")
    report: dict = {"book": str(a.book), "seconds": a.seconds, "parallel": a.parallel}
    threads = a.threads or (1 if a.parallel else None)
    jobs = []
    for domain in ("char", "word"):
        args = ["train", "-d", domain, "-c", corpus, "-o", "lowercase=true"]
        args += ["--out", a.out / domain, "--max-time", a.seconds, "--patience", "0", "-q"]
        for flag in ("hidden-size", "embedding-size", "dropout", "lr", "batch-size", "seq-len"):
            args += [f"--{flag}", getattr(a, flag.replace("-", "_"))]
        if threads:
            args += ["--threads", threads]
        if not (a.out / domain / "checkpoint.pt").exists():
            jobs.append(args)
    report["command"] = " ".join(map(str, jobs[0])) if jobs else None
    run_all(jobs, a.parallel)
    for domain in ("char", "word"):
        run = a.out / domain
        r = json.loads(seqgen("eval", run, "--split", "test", "--json"))
        keys = ("bits_per_unit", "units", "tokens", "perplexity", "unk_tokens", "unk_rate")
        report[domain] = {k: r[k] for k in keys if k in r}
        length = 600 if domain == "char" else 130  # about the same stretch of text
        sample = seqgen(
            "generate",
            run,
            "--prime",
            "the river",
            "--length",
            length,
            "--temperature",
            "0.8",
            "--seed",
            "1",
        )
        report[domain]["sample"] = sample.strip()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
