"""Time and peak memory of seqgen on small hostile inputs ("bombs"), each in its own process.

    python bench/hostile_limits.py [--only NAME]

Every bomb must end (refused in one line, or done) within a few seconds and a few hundred MB.
Prints one JSON object: per bomb, exit code, seconds, peak RSS in MB and the last stderr line.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 127:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def midi_long_note(d: Path) -> Path:
    """A 38-byte type-0 MIDI file: one tick per beat, one note held for 9 million beats."""
    events = b"\x00\x90\x3c\x40" + vlq(9_000_000) + b"\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    track = b"MTrk" + struct.pack(">I", len(events)) + events
    path = d / "bomb.mid"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + track)
    return path


def million_chars(d: Path) -> Path:
    """A 4 MB text of a million distinct characters."""
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 20_000)] + [
        chr(c) for c in range(0x20000, 0x20000 + 980_000)
    ]
    path = d / "chars.txt"
    path.write_text("".join(chars), encoding="utf-8")
    return path


def abc_long_tune(d: Path) -> Path:
    """A 32 KB ABC tune of 32,000 eighth notes on one line."""
    path = d / "long.abc"
    path.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n" + "C" * 32_000 + "\n")
    return path


def kern_long_spine(d: Path) -> Path:
    """A 104 KB Humdrum file: one spine of 32,000 eighth notes."""
    path = d / "long.krn"
    bars = "".join("8c\n" * 8 + "=\n" for _ in range(4_000))
    path.write_text("**kern\n*M4/4\n" + bars + "*-\n")
    return path


def abc_many_tunes(d: Path) -> Path:
    """A 77 KB ABC collection of 2,000 one-bar tunes."""
    path = d / "many.abc"
    path.write_text(
        "".join(f"X:{i}\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n\n" for i in range(1, 2001))
    )
    return path


def markup_pi(d: Path) -> Path:
    path = d / "pi.xml"
    path.write_text("<?" * 100_000)
    return path


def small_text(d: Path) -> Path:
    path = d / "small.txt"
    path.write_text("a small ordinary text, nothing odd\n" * 300)
    return path


def no_spaces(d: Path) -> Path:
    """8 MB of A, C, G and T without a space or a line break (the subword trainers' worst)."""
    import random

    path = d / "no-spaces.txt"
    path.write_text("".join(random.Random(0).choices("ACGT", k=8 << 20)))
    return path


def symlink_loop(d: Path) -> Path:
    root = d / "loop"
    (root / "a").mkdir(parents=True)
    (root / "a" / "text.txt").write_text("one file, reachable by endless paths\n" * 100)
    (root / "a" / "again").symlink_to(root / "a")
    return root


def run(cmd: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [x for x in err.splitlines() if x.strip()]
    return {
        "exit": proc.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "stderr_lines": len(lines),
        "last_line": lines[-1][:200] if lines else "",
    }


def bombs(d: Path, seqgen: list[str]) -> dict[str, list[str]]:
    tiny = ["--hidden-size", "16", "--embedding-size", "8", "--max-steps", "2", "-q"]
    run_dir = d / "run"
    prepare, train = [*seqgen, "prepare", "-d"], [*seqgen, "train", "-d", "char", "-c"]
    subword = [*prepare, "subword", "-c", str(no_spaces(d))]
    generate = [*seqgen, "generate", str(run_dir)]
    frames = [*prepare, "midi", "-o", "encoding=frames"]
    chars_run = ["--out", str(d / "chars-run"), *tiny]
    return {
        "baseline_python_torch": [sys.executable, "-c", "import torch"],
        "midi_long_note": [*prepare, "midi", "-c", str(midi_long_note(d))],
        "midi_long_note_frames": [*frames, "-c", str(d / "bomb.mid")],
        "million_distinct_chars": [*train, str(million_chars(d)), *chars_run],
        "abc_32000_notes": [*prepare, "midi", "-c", str(abc_long_tune(d))],
        "kern_32000_notes": [*prepare, "midi", "-c", str(kern_long_spine(d))],
        "abc_2000_tunes": [*prepare, "midi", "-c", str(abc_many_tunes(d))],
        "markup_repeated_pi": [*prepare, "markup", "-c", str(markup_pi(d))],
        **{
            f"subword_{model}_no_spaces": [*subword, "-o", f"model={model}"]
            for model in ("bpe", "unigram")
        },
        "train_small_run": [*train, str(small_text(d)), "--out", str(run_dir), *tiny],
        "prime_file_50mb": [*generate, "--prime-file", str(big_file(d)), "-n", "5", "-q"],
        "length_a_billion": [*generate, "--length", "1000000000", "-q"],
        "glob_symlink_loop": [*prepare, "char", "-c", str(symlink_loop(d)) + "/**/*.txt"],
    }  # fmt: skip


def big_file(d: Path) -> Path:
    path = d / "big.txt"
    with open(path, "wb") as f:
        f.write(b"a" * (50 << 20))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        env = {**os.environ, "SEQGEN_CACHE": str(d / "cache")}
        cmds = bombs(d, [sys.executable, "-m", "seqgen"])
        report = {}
        for name, cmd in cmds.items():
            if args.only and name not in args.only and name != "train_small_run":
                continue
            report[name] = run(cmd, env)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
