"""Bits per character: the markup domain vs the char domain on the same held-out text.

The corpus is cut once, at the first line break after 90% of its characters, into
``train.xml`` and ``valid.xml`` in a work folder (a folder holding train.* and valid.* carries its
own splits), so both domains train on exactly the same characters and are scored on exactly the
same held-out last ~10%. Each domain trains for ``--seconds`` of training time with the same
model size, then ``seqgen eval --json`` scores the valid split; bits per character are comparable
because the markup domain's ``count_units`` counts the characters its tokens stand for.

With no size flags both runs get seqgen's budget sizing for a short ``--max-time`` (the same
for both). ``--parallel`` trains the two side by side, one thread each, so they share the
machine's load equally (on two cores: the same conditions in half the wall time).

    python bench/markup_vs_char.py --corpus ../shared/corpora/enwik8/enwik8-prefix-4154400 \\
        --seconds 600 --work bench-out/markup-vs-char

Prints one JSON object. Both domains read the text as is (char: ``-o newlines=keep``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runner import run_all, seqgen


def split_corpus(src: Path, work: Path, fraction: float = 0.9) -> dict:
    text = src.read_bytes().decode("utf-8")
    cut = text.find("\n", int(len(text) * fraction)) + 1 or len(text)
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "train.xml").write_text(text[:cut], encoding="utf-8", newline="")
    (work / "data" / "valid.xml").write_text(text[cut:], encoding="utf-8", newline="")
    return {"train_characters": cut, "valid_characters": len(text) - cut}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("bench-out/markup-vs-char"))
    ap.add_argument("--seconds", type=float, default=600.0, help="training time per domain")
    ap.add_argument("--threads", type=int, default=None, help="per run (--parallel: 1)")
    ap.add_argument("--parallel", action="store_true", help="train both domains at once")
    sizes = (
        "hidden-size",
        "num-layers",
        "embedding-size",
        "dropout",
        "batch-size",
        "seq-len",
        "lr",
        "adaptive-softmax",
    )
    types = {"lr": float, "dropout": float, "adaptive-softmax": str}
    for flag in sizes:
        ap.add_argument(f"--{flag}", type=types.get(flag, int), default=None)
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()
    report: dict = {"corpus": str(a.corpus), "seconds": a.seconds, "parallel": a.parallel}
    report.update(split_corpus(a.corpus, a.work))
    threads = a.threads or (1 if a.parallel else None)
    jobs, runs = [], {}
    for domain, options in (("char", ["-o", "newlines=keep"]), ("markup", [])):
        run = runs[domain] = a.work / f"run-{domain}"
        args = ["train", "-d", domain, "-c", str(a.work / "data"), "--out", str(run), "-q"]
        args += options + ["--max-time", str(a.seconds), "--seed", str(a.seed)]
        for flag in sizes:
            value = getattr(a, flag.replace("-", "_"))
            if value is not None:
                args += [f"--{flag}", str(value)]
        if threads:
            args += ["--threads", str(threads)]
        if not (run / "checkpoint.pt").exists():
            jobs.append(args)
    run_all(jobs, a.parallel)
    for domain, run in runs.items():
        ev = json.loads(seqgen("eval", str(run), "--json"))
        report[domain] = {
            k: ev.get(k) for k in ("bits_per_unit", "bits_per_token", "tokens", "units", "unit")
        }
    report["markup_minus_char_bpc"] = round(
        report["markup"]["bits_per_unit"] - report["char"]["bits_per_unit"], 4
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
