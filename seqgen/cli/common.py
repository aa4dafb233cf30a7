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
    """Ids of the first document in ``path`` (read the domain's way), at most ``limit``."""
    from seqgen.errors import SeqgenError

    if not path.is_file():
        raise SeqgenError(f"--prime-file {path}: no such file")
    ids: list[int] = []
    for doc in tok.read(path):
        for part in doc.parts:
            ids.extend(int(i) for i in tok.encode(part))
            if limit is not None and len(ids) >= limit:
                return ids[:limit]
        break
    return ids
