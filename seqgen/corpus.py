"""Turn a ``--corpus`` argument (file, directory, glob or registered name) into split sources."""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from seqgen.errors import DataError, close_match
from seqgen.io import kind_of
from seqgen.tokenizer import Document

SPLITS = ("train", "valid", "test")
ALL = "all"  # a corpus without its own splits: divided 90/10 when prepared

# A source is a file, or a callable that generates documents (e.g. synthetic corpora).
Source = Path | Callable[[], Iterable[Document]]


@dataclass
class CorpusSpec:
    """What to read. ``sources`` maps a split (or ``all``) to its sources, in order."""

    name: str
    sources: dict[str, list[Source]]
    fingerprint: str = ""  # identifies the content, for the token cache
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [s for srcs in self.sources.values() for s in srcs if isinstance(s, Path)]


def _is_split_dir(path: Path) -> dict[str, list[Source]] | None:
    """A directory holding train.*, valid.* (and test.*) carries its own splits."""
    found: dict[str, list[Source]] = {}
    for child in sorted(path.iterdir()):
        if child.is_file() and child.stem in SPLITS:
            found.setdefault(child.stem, []).append(child)
    return found if "train" in found and "valid" in found else None


def _expand(arg: str, patterns: tuple[str, ...]) -> list[Path]:
    path = Path(arg).expanduser()
    if any(ch in arg for ch in "*?["):
        return _unique(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
    if path.is_file():
        return [path]
    if path.is_dir():
        return _unique(
            f
            for pattern in patterns
            for f in path.rglob(pattern)
            if f.is_file() and not any(p.startswith(".") for p in f.relative_to(path).parts)
        )
    if path.exists():  # a device, a FIFO or a socket: endless or one-shot, not a corpus
        raise DataError(f"corpus {arg}: {kind_of(path)}, not a file or a folder of files")
    raise DataError(f"corpus {arg}: no such file, directory or registered corpus name")


def _missing(arg: str, registry) -> DataError:
    """The error for a ``--corpus`` that names nothing, with the registered name (or the file
    beside it) closest to what was typed."""
    names = list(registry.corpora) if registry is not None else []
    base, slash, rest = arg.partition("/")
    near = close_match(base, names) if slash else None
    found = f"{near}/{rest}" if near else close_match(arg, names)  # NAME/PATTERN, or NAME
    path = Path(arg).expanduser()
    if found is None and path.parent.is_dir():
        try:
            beside = [p.name for p in itertools.islice(path.parent.iterdir(), 10_000)]
        except OSError:  # a folder we may not list: no suggestion
            beside = []
        near = close_match(path.name, beside)
        found = str(path.parent / near) if near else None
    guess = f" (did you mean {found!r}?)" if found else ""
    return DataError(f"corpus {arg}: no such file, directory or registered corpus name{guess}")


def _unique(files: Iterable[Path]) -> list[Path]:
    """Each file once, however many links lead to it (a glob through a symlink loop reaches
    the same file by endless paths; a copy in validation would leak training text)."""
    seen: dict[str, Path] = {}
    for f in sorted(files, key=lambda p: (len(p.parts), str(p))):
        seen.setdefault(os.path.realpath(f), f)
    return sorted(seen.values())


def canonical(arg: str, registry=None) -> str:
    """``--corpus`` as a run stores it: a registered name as it is, a path made absolute, so
    the run finds the same files from any folder."""
    if registry is not None and not Path(arg).expanduser().exists():
        if registry.corpus(arg) is not None or registry.corpus(arg.partition("/")[0]):
            return arg
        if not any(ch in arg for ch in "*?["):
            raise _missing(arg, registry)
    return os.path.abspath(os.path.expanduser(arg))


def fingerprint(sources: dict[str, list[Source]], name: str) -> str:
    """Hash of every file's bytes (and place in the splits); generated sources count by name."""
    h = hashlib.blake2b(digest_size=16)
    for split, srcs in sorted(sources.items()):
        for src in srcs:
            h.update(f"{split}\0".encode())
            if isinstance(src, Path):
                h.update(src.name.encode() + b"\0")
                with open(src, "rb") as f:
                    while block := f.read(1 << 22):
                        h.update(block)
            else:
                h.update(f"{name}:{getattr(src, '__qualname__', repr(src))}".encode())
    return h.hexdigest()


def resolve(arg: str, patterns: tuple[str, ...] = ("*",), registry=None) -> CorpusSpec:
    """Find what ``--corpus arg`` means. Registered names win over paths of the same name
    only when no such path exists. ``NAME/PATTERN`` keeps the files of the registered corpus
    NAME whose file name matches the glob PATTERN (a pattern without wildcards: names
    starting with it), e.g. ``music21:bach/bwv1*``."""
    entry = registry.corpus(arg) if registry is not None else None
    name_filter = None
    if entry is None and registry is not None and "/" in arg and not Path(arg).exists():
        base, _, pattern = arg.partition("/")
        entry = registry.corpus(base)
        if entry is not None:
            name_filter = pattern if any(c in pattern for c in "*?[") else pattern + "*"
    if entry is not None and not Path(arg).exists():
        made = entry.factory()
        if isinstance(made, CorpusSpec):
            spec = made
        elif isinstance(made, dict):
            spec = CorpusSpec(arg, {k: list(v) for k, v in made.items()})
        else:
            items = made if isinstance(made, list | tuple) else [made]
            spec = CorpusSpec(arg, {ALL: [Path(p) if isinstance(p, str) else p for p in items]})
        if name_filter is not None:
            spec.sources = {
                split: [
                    s
                    for s in srcs
                    if isinstance(s, Path) and fnmatch(s.name.lower(), name_filter.lower())
                ]
                for split, srcs in spec.sources.items()
            }
            spec.name, spec.fingerprint = arg, ""
            if not any(spec.sources.values()):
                raise DataError(f"corpus {arg}: no file of {base} has a name matching {pattern!r}")
    else:
        path = Path(arg).expanduser()
        if not path.exists() and not any(ch in arg for ch in "*?["):
            raise _missing(arg, registry)
        own = _is_split_dir(path) if path.is_dir() else None
        files = own if own is not None else {ALL: _expand(arg, patterns)}
        if not any(files.values()):
            raise DataError(f"corpus {arg}: no files matching {', '.join(patterns)}")
        spec = CorpusSpec(arg, files)
    for src in spec.files:
        if not src.is_file():
            raise DataError(f"corpus {arg}: {src} does not exist")
    if not spec.fingerprint:
        spec.fingerprint = fingerprint(spec.sources, spec.name)
    return spec
