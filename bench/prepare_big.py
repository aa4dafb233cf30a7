"""`seqgen prepare` on a generated big text corpus with 1 worker and with N, side by side.

The corpus is one file of lines drawn at random (fixed seed) from the text corpora under
$SEQGEN_CORPORA (Tiny Shakespeare, Gutenberg books), or from random words when none are there.
Each run gets a token store of its own; the bench checks that every run wrote the same token
files, reports MB/s and peak memory, and removes the corpus and the stores afterwards.

Peak memory is given two ways: ``peak_rss_mb``, the largest single process (getrusage of the
children, exact), and ``tree_rss_mb``, the sum over the process tree (the parent and its
workers), sampled from /proc every 0.1 s.

    python bench/prepare_big.py [--mb 1000] [--domains char,word] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAP = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
)
SOURCES = ("tinyshakespeare/input.txt", "gutenberg/1342-0.txt", "gutenberg/pg11.txt")


def source_lines(corpora: Path) -> list[str]:
    lines = []
    for rel in SOURCES:
        path = corpora / rel
        if path.is_file():
            lines += [ln + "\n" for ln in path.read_text(encoding="utf-8").splitlines()]
    if not lines:
        rng = random.Random(0)
        words = [
            "".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(1, 9))) for _ in range(5000)
        ]
        lines = [" ".join(rng.choices(words, k=rng.randint(3, 14))) + "\n" for _ in range(50_000)]
    return lines


def make_corpus(path: Path, mb: float, lines: list[str]) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < mb * 1e6:
            f.write("".join(rng.choices(lines, k=20_000)))


def tree_rss_kb(root: int) -> int:
    """RSS of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def run(cmd: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAP, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    tree = 0
    while proc.poll() is None:
        tree = max(tree, tree_rss_kb(proc.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - t0
    out, err = proc.communicate()
    *report, kb, code = out.decode().split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(int(kb) / 1024, 1),
        "tree_rss_mb": round(tree / 1024, 1),
        "report": json.loads(" ".join(report)),
    }


def digest(store: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(p.name for p in store.iterdir()):
        with open(store / name, "rb") as f:
            while block := f.read(1 << 24):
                h.update(block)
    return h.hexdigest()


def main() -> None:
    here = Path(__file__).resolve().parent
    corpora = Path(os.environ.get("SEQGEN_CORPORA", here.parent.parent / "shared" / "corpora"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--domains", default="char,word")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seqgen-prepare-big-"))
    try:
        big = tmp / "big.txt"
        t0 = time.perf_counter()
        make_corpus(big, args.mb, source_lines(corpora))
        size_mb = big.stat().st_size / 1e6
        result = {"corpus_mb": round(size_mb, 1), "generate_s": round(time.perf_counter() - t0, 1)}
        result["cpus"] = len(os.sched_getaffinity(0))
        for domain in args.domains.split(","):
            runs, digests = {}, set()
            for n in args.workers.split(","):
                env = dict(os.environ, SEQGEN_CACHE=str(tmp / f"cache-{domain}-{n}"))
                cmd = ["seqgen", "prepare", "-d", domain, "-c", str(big), "--workers", n]
                got = run(cmd, env)
                digests.add(digest(Path(got["report"]["cache"])))
                shutil.rmtree(env["SEQGEN_CACHE"])
                splits = got.pop("report")["splits"]
                got["tokens"] = sum(s["tokens"] for s in splits.values())
                got["mb_per_s"] = round(size_mb / got["seconds"], 2)
                runs[f"workers_{n}"] = got
                print(json.dumps({domain: {n: got}}), file=sys.stderr, flush=True)
            runs["same_token_files"] = len(digests) == 1
            result[domain] = runs
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
