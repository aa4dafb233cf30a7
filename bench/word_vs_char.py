"""Char vs word on the same text and budget: bits per character side by side, as JSON.

The book (Heart of Darkness by default) loses its Project Gutenberg header and footer, then is
cut at the paragraph break nearest 90%: ``train.txt`` and ``valid.txt`` in one folder, which
seqgen treats as a corpus with its own splits, so both domains are scored on the very same
held-out characters (the ``units`` of both reports are equal)::

    python bench/word_vs_char.py --seconds 600 --out runs/hod            # the comparison
    python bench/word_vs_char.py --seconds 60 --threads 1 --out /tmp/hod # a short run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT.parent / "shared" / "corpora" / "gutenberg" / "219-0.txt"
CLI = [sys.executable, "-c", "from seqgen.cli import main; main()"]


def seqgen(*args: str) -> str:
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"seqgen {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def split_book(book: Path, into: Path) -> Path:
    """train.txt / valid.txt: the book body cut at the paragraph break nearest 90%."""
    from seqgen_plugins.char import CharTokenizer

    reader = CharTokenizer({"strip_gutenberg": True, "newlines": "unix"})
    text = "".join(p for doc in reader.read(book) for p in doc.parts)
    cut = text.rfind("\n\n", 0, int(len(text) * 0.9)) + 2
    into.mkdir(parents=True, exist_ok=True)
    (into / "train.txt").write_text(text[:cut], encoding="utf-8")
    (into / "valid.txt").write_text(text[cut:], encoding="utf-8")
    return into


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--book", type=Path, default=BOOK)
    p.add_argument("--seconds", type=float, default=600.0, help="training time per domain")
    p.add_argument("--out", type=Path, default=Path("runs/word-vs-char"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--embedding-size", type=int, default=128)
    a = p.parse_args()
    corpus = split_book(a.book, a.out / "corpus")
    report: dict = {"book": str(a.book), "seconds": a.seconds}
    for domain in ("char", "word"):
        run = a.out / domain
        args = ["train", "-d", domain, "-c", corpus, "-o", "lowercase=true", "--out", run]
        args += ["--hidden-size", a.hidden_size, "--embedding-size", a.embedding_size]
        args += ["--max-time", a.seconds, "--patience", "0", "--eval-every", 10**9, "-q"]
        if a.threads:
            args += ["--threads", a.threads]
        seqgen(*args)
        r = json.loads(seqgen("eval", run, "--json"))
        report[domain] = {
            k: r[k] for k in ("bits_per_unit", "units", "tokens", "perplexity") if k in r
        }
        report[domain].update({k: r[k] for k in ("unk_tokens", "unk_rate") if k in r})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
