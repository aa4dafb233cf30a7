"""Helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys

import typer

from seqgen.errors import OptionError


def parse_pairs(pairs: list[str] | None) -> dict[str, str]:
    """``-o key=value`` options to a dict (validated later by the domain)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"-o {pair!r}: expected key=value")
        out[key.strip()] = value
    return out


def emit_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def info(msg: str) -> None:
    print(msg, file=sys.stderr)


def read_prime_file(tok, path, limit: int | None = None) -> list[int]:
    """Ids of the first document in ``path`` (read the domain's way), at most ``limit``; a file
    past the prime-size limits is refused (seqgen.limits)."""
    from pathlib import Path

    from seqgen import limits
    from seqgen.errors import SeqgenError
    from seqgen.io import not_a_file

    path = Path(path)
    if not path.is_file():
        raise SeqgenError(f"--prime-file {path}: {not_a_file(path)}")
    limits.check("prime_bytes", path.stat().st_size, f"--prime-file {path} (bytes)")
    cap = limits.limit("prime_tokens") if limit is None else limit
    ids: list[int] = []
    for doc in tok.read(path):
        for part in doc.parts:
            ids.extend(int(i) for i in tok.encode(part))
            if len(ids) > cap:
                if limit is not None:
                    return ids[:limit]
                limits.check("prime_tokens", len(ids), f"--prime-file {path} (tokens)")
        break
    return ids


def sample_length(tok, ids: list[int]) -> str:
    """How long a written sample is: its units (characters, events, ...) and whatever else
    the domain measures (seconds, bars)."""
    import numpy as np

    units = tok.count_units(np.asarray(ids, dtype=np.int64))
    said = [f"{units:,} {tok.unit}{'' if units == 1 else 's'}"]
    clock = tok.clock() if tok.measures else None
    if clock is not None:
        for t in ids:
            clock.advance(int(t))
        said += [f"{clock.elapsed(m):.1f} {m}" for m in tok.measures]
    return ", ".join(said)
