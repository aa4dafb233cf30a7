"""The kit's checks of a tokenizer, one function each (the names are the keys of CHECKS)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.testing.label_check import _check_labels, _check_sections
from seqgen.testing.report import _crash, _same, _short, _Stop
from seqgen.testing.walks import _check_constraint, _check_copy, _walk
from seqgen.tokenizer import Document, Tokenizer

#: The checks, in the order they run, with what each one proves.
CHECKS: dict[str, str] = {
    "contract": "the class sets name, description, unit, output_suffix, options correctly",
    "read": "read() yields Document objects for the sample corpus and fit() accepts them",
    "special": "vocab_size is a positive int; eod_id is in range and listed in special_ids",
    "ids": "encode() returns ints in [0, vocab_size) without the end-of-document token",
    "roundtrip": "decode(encode(part)) == reference(part) for every part of the corpus",
    "deterministic": "reading, fitting and encoding the same corpus twice gives the same ids",
    "state": "get_state() is JSON-safe and from_state() rebuilds the same tokenizer from a "
    "real checkpoint",
    "bad_input": "a missing file and a file of random bytes raise a SeqgenError subclass",
    "constraint": "the sampling constraint never masks every token over a random walk",
    "copy": "a copied constraint or clock (beam search forks them) advances independently",
    "declarations": "renders, measures and default_corpus are well-formed; each declared "
    "render writes a non-empty file",
    "write_read": "write() produces a file in the native format that read() accepts",
    "labels": "labels() gives text keys and values for each document, the same twice, and "
    "never raises",
    "sections": "section_labels() gives increasing token indices and text labels for each "
    "document, the same twice, and never raises",
}


MAX_PARTS = 2000  # parts of the corpus checked (a sample corpus is tiny anyway)


def _ids(tok: Tokenizer, part: Any) -> list[int]:
    got = tok.encode(part)
    arr = np.asarray(got)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise _Stop(
            f"encode() returned {type(got).__name__} of dtype {arr.dtype} and shape {arr.shape} "
            f"for part {_short(part)}",
            "return a flat list or 1-D numpy array of ints",
        )
    return [int(i) for i in arr]


def _read_all(tok: Tokenizer, path: Path, limit: int = MAX_PARTS) -> list[Document]:
    """Read a corpus (a file or a folder) fully into memory (parts listified, capped)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_dir():
        pats = type(tok).file_patterns
        files = [p for p in files if any(p.match(pat) for pat in pats)]
    docs, n = [], 0
    for f in files:
        for doc in tok.read(f):
            if not isinstance(doc, Document):
                raise _Stop(
                    f"read({f.name}) yielded {type(doc).__name__}, not a Document",
                    "yield seqgen.tokenizer.Document(name, parts) objects from read()",
                )
            parts = []
            for part in doc.parts:
                if n >= limit:
                    break
                parts.append(part)
                n += 1
            docs.append(Document(doc.name, parts, doc.split))
    return docs


def _fitted(cls: type[Tokenizer], options: dict[str, str] | None, docs: list[Document]):
    tok = cls.create(dict(options or {}))
    tok.fit(Document(d.name, list(d.parts), d.split) for d in docs)
    return tok


def _suffix(cls: type[Tokenizer]) -> str:
    for pat in cls.file_patterns:
        if pat.startswith("*.") and "*" not in pat[2:]:
            return pat[1:]
    return cls.output_suffix or ".dat"


# --- the checks ------------------------------------------------------------------------------
def _check_contract(cls: type[Tokenizer], **_: Any) -> None:
    from seqgen.tokenizer import Option

    problems = []
    if not isinstance(cls.name, str) or not cls.name.isidentifier():
        problems.append(f"name {cls.name!r} is not an identifier")
    if not isinstance(cls.description, str) or not cls.description.strip():
        problems.append("description is empty")
    if not isinstance(cls.unit, str) or not cls.unit:
        problems.append(f"unit {cls.unit!r} is empty")
    if not isinstance(cls.output_suffix, str) or not cls.output_suffix.startswith("."):
        problems.append(f"output_suffix {cls.output_suffix!r} does not start with '.'")
    if not all(isinstance(p, str) for p in cls.file_patterns) or not cls.file_patterns:
        problems.append(f"file_patterns {cls.file_patterns!r} is not a tuple of globs")
    for o in cls.options:
        if not isinstance(o, Option):
            problems.append(f"options holds {o!r}, not an Option")
        elif o.type not in (bool, int, float, str):
            problems.append(f"option {o.name!r} has type {o.type!r}; use bool, int, float or str")
        elif o.choices is not None and o.default not in o.choices:
            problems.append(f"option {o.name!r} default {o.default!r} is not one of its choices")
    if problems:
        raise _Stop(
            "; ".join(problems), "fix the class attributes (see the guide's Tokenizer reference)"
        )


def _check_special(tok: Tokenizer, **_: Any) -> None:
    v = tok.vocab_size
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 2:
        raise _Stop(f"vocab_size is {v!r}", "vocab_size must be an int of at least 2 after fit()")
    eod = tok.eod_id
    if not isinstance(eod, (int, np.integer)) or not 0 <= eod < v:
        raise _Stop(
            f"eod_id {eod!r} is outside [0, {v})", "give <eod> an id below vocab_size (e.g. 0)"
        )
    special = list(tok.special_ids)
    if eod not in special:
        raise _Stop(
            f"eod_id {eod} is missing from special_ids {special}",
            "special_ids must include eod_id (it stands for no unit of data)",
        )
    bad = [i for i in special if not 0 <= int(i) < v]
    if bad:
        raise _Stop(f"special_ids {bad} are outside [0, {v})", "list only ids below vocab_size")


def _check_ids(tok: Tokenizer, docs: list[Document], **_: Any) -> None:
    v, eod, total = tok.vocab_size, tok.eod_id, 0
    for doc in docs:
        for part in doc.parts:
            ids = _ids(tok, part)
            total += len(ids)
            bad = [i for i in ids if not 0 <= i < v]
            if bad:
                raise _Stop(
                    f"encode({_short(part)}) gave ids {sorted(set(bad))[:5]} outside "
                    f"[0, {v}) in {doc.name}",
                    "every id must be below vocab_size; map unseen symbols to an unknown token",
                )
            if eod in ids:
                raise _Stop(
                    f"encode({_short(part)}) contains eod_id {eod} in {doc.name}",
                    "encode one part without <eod>; the core adds it between documents",
                )
    if total == 0:
        raise _Stop(
            "the sample corpus encodes to no ids at all",
            "check read() yields the content and encode() returns its ids",
        )


def _check_roundtrip(tok: Tokenizer, docs: list[Document], **_: Any) -> None:
    for doc in docs:
        for part in doc.parts:
            got = tok.decode(_ids(tok, part))
            want = tok.reference(part)
            if _same(got, want):
                continue
            if type(tok).check_part is not Tokenizer.check_part and tok.check_part(part) is None:
                continue  # the domain compares with its own tolerance
            raise _Stop(
                f"decode(encode(part)) != reference(part) in {doc.name}: got {_short(got)}, "
                f"want {_short(want)}",
                "make decode invert encode, or override reference() to return the lossy form "
                "(e.g. quantised) that decode really gives back",
            )


def _check_deterministic(
    cls: type[Tokenizer], tok: Tokenizer, docs: list[Document], corpus: Path, options, **_: Any
) -> None:
    again = _read_all(tok, corpus)
    if [len(d.parts) for d in again] != [len(d.parts) for d in docs] or not all(
        _same(a, b)
        for d1, d2 in zip(again, docs, strict=True)
        for a, b in zip(d1.parts, d2.parts, strict=True)
    ):
        raise _Stop(
            "reading the same file twice gave different documents or parts",
            "make read() depend only on the file and the settings (no randomness, no set order)",
        )
    other = _fitted(cls, options, docs)
    for doc in docs:
        for part in doc.parts:
            a, b, c = _ids(tok, part), _ids(tok, part), _ids(other, part)
            if a != b:
                raise _Stop(
                    f"encoding {_short(part)} twice gave different ids",
                    "encode() must not depend on randomness or on earlier calls",
                )
            if a != c:
                raise _Stop(
                    f"two tokenizers fitted on the same documents encode {_short(part)} "
                    "differently",
                    "fit() must give ids in a fixed order (sort the vocabulary; no set order, "
                    "no hash() of strings)",
                )


def _check_state(
    cls: type[Tokenizer], tok: Tokenizer, docs: list[Document], tmp: Path, **_: Any
) -> None:
    from seqgen import checkpoint

    state = tok.get_state()
    try:
        text = json.dumps(state)
    except (TypeError, ValueError) as e:
        raise _Stop(
            f"get_state() is not JSON-safe ({e})",
            "return only dicts, lists, str, int, float, bool and None (convert numpy arrays "
            "with .tolist(), tuples become lists)",
        ) from None
    if json.loads(text) != state:
        raise _Stop(
            "get_state() changes through JSON (tuples, int keys or numpy scalars?)",
            "return data that json.loads(json.dumps(state)) gives back equal",
        )
    loaded = checkpoint.unpack_state(checkpoint.pack_state(state))  # as a checkpoint stores it
    again = cls.from_state(loaded)
    if not isinstance(again, cls):
        raise _Stop(
            f"from_state() returned {type(again).__name__}, not {cls.__name__}",
            "return cls(...) from the classmethod from_state",
        )
    if again.vocab_size != tok.vocab_size or again.eod_id != tok.eod_id:
        raise _Stop(
            f"after from_state(): vocab_size {again.vocab_size} (was {tok.vocab_size}), eod_id "
            f"{again.eod_id} (was {tok.eod_id})",
            "put the whole vocabulary (and the settings) into get_state()",
        )
    for doc in docs:
        for part in doc.parts:
            ids = _ids(tok, part)
            if _ids(again, part) != ids or not _same(again.decode(ids), tok.decode(ids)):
                raise _Stop(
                    f"the tokenizer rebuilt from its checkpointed state encodes or decodes "
                    f"{_short(part)} differently",
                    "get_state() must hold everything encode/decode depend on (settings too)",
                )


def _expect_seqgen_error(what: str, run: Callable[[], None]) -> None:
    try:
        run()
    except SeqgenError:
        return
    except Exception as e:
        raise _Stop(
            f"{what} crashed with {_crash(e)}",
            "catch OSError/decoding errors in read() and raise seqgen.errors.DataError naming "
            "the file",
        ) from None
    raise _Stop(f"{what} raised nothing", "raise seqgen.errors.DataError naming the file")


def _check_bad_input(cls: type[Tokenizer], tok: Tokenizer, tmp: Path, **_: Any) -> None:
    missing = tmp / f"no-such-file{_suffix(cls)}"

    def consume(path: Path) -> None:
        for doc in tok.read(path):
            for part in doc.parts:
                tok.encode(part)

    _expect_seqgen_error(f"reading a missing file ({missing.name})", lambda: consume(missing))
    junk = tmp / f"random-bytes{_suffix(cls)}"
    junk.write_bytes(random.Random(7).randbytes(4096))
    try:
        consume(junk)  # accepting random bytes is fine (some formats are that permissive)
    except SeqgenError:
        pass
    except Exception as e:
        raise _Stop(
            f"reading a file of random bytes ({junk.name}) crashed with {_crash(e)}",
            "validate the input in read() and raise seqgen.errors.DataError naming the file",
        ) from None


def _check_write_read(tok: Tokenizer, docs: list[Document], tmp: Path, **_: Any) -> None:
    ids: list[int] = []
    for doc in docs[:3]:
        for part in doc.parts[:50]:
            ids.extend(_ids(tok, part))
        ids.append(tok.eod_id)
    walk = _walk(tok, random.Random(99), 200, avoid_eod=True)
    for label, seq in (("the encoded sample corpus", ids), ("a random generated sample", walk)):
        out = tmp / f"kit-output-{label.split()[1]}{tok.output_suffix}"
        try:
            tok.write(seq, out)
        except Exception as e:
            raise _Stop(
                f"write() of {label} ({len(seq)} ids) failed: {_crash(e)}",
                "write() must handle any id sequence the sampler can produce",
            ) from None
        if not out.is_file():
            raise _Stop(
                f"write() of {label} created no file at {out.name}",
                "write the native output to exactly the path given",
            )
        try:
            back = _read_all(tok, out)
        except SeqgenError as e:
            if label.startswith("a random"):
                continue  # random ids may not form valid data; a clear error is acceptable
            raise _Stop(
                f"read() refused the file write() made from {label}: {e}",
                "write() must produce the format read() accepts",
            ) from None
        except _Stop:
            raise
        except Exception as e:
            raise _Stop(
                f"read() of the file write() made from {label} crashed: {_crash(e)}",
                "write() must produce the format read() accepts",
            ) from None
        if label.startswith("the encoded") and ids[:-1] and not back:
            raise _Stop(
                f"read() found no documents in the file write() made from {label}",
                "write() must produce the format read() accepts",
            )
        for doc in back:
            for part in doc.parts:
                bad = [i for i in _ids(tok, part) if not 0 <= i < tok.vocab_size]
                if bad:
                    raise _Stop(
                        f"re-reading written output gives ids {bad[:5]} out of range",
                        "map unseen symbols to an unknown token",
                    )


def _check_declarations(tok: Tokenizer, docs: list[Document], tmp: Path, **_: Any) -> None:
    cls = type(tok)
    if cls.default_corpus is not None and not isinstance(cls.default_corpus, str):
        raise _Stop(f"default_corpus is {cls.default_corpus!r}", "give a str (or None)")
    if not isinstance(cls.measures, tuple) or not all(isinstance(m, str) for m in cls.measures):
        raise _Stop(f"measures is {cls.measures!r}", 'give a tuple of names, e.g. ("bars",)')
    if bool(cls.measures) != (tok.clock() is not None):
        raise _Stop(
            f"measures is {cls.measures!r} but clock() returns {tok.clock()!r}",
            "declare measures exactly when clock() returns a Clock",
        )
    if not isinstance(cls.renders, dict):
        raise _Stop(f"renders is {cls.renders!r}", 'give a dict like {"audio": (".wav",)}')
    ids = [i for d in docs[:1] for p in d.parts[:20] for i in _ids(tok, p)][:400]
    for option, suffixes in cls.renders.items():
        ok = isinstance(suffixes, tuple) and all(
            isinstance(x, str) and x.startswith(".") for x in suffixes
        )
        if not isinstance(option, str) or not suffixes or not ok:
            raise _Stop(
                f"renders[{option!r}] is {suffixes!r}",
                'map an option name to a tuple of suffixes, e.g. "audio": (".wav",)',
            )
        for suffix in suffixes:
            path = tmp / f"render-{option}{suffix}"
            tok.write(ids, path)
            if not path.is_file() or path.stat().st_size == 0:
                raise _Stop(
                    f"write() to a {suffix} file (declared in renders) left no file",
                    "write every suffix renders declares, or leave it out of renders",
                )


_NEEDS_TOKENIZER = (
    "special", "ids", "roundtrip", "deterministic", "state", "bad_input", "constraint",
    "write_read", "copy", "declarations", "labels", "sections",
)  # fmt: skip


_FUNCS: dict[str, Callable[..., None]] = {
    "contract": _check_contract,
    "special": _check_special,
    "ids": _check_ids,
    "roundtrip": _check_roundtrip,
    "deterministic": _check_deterministic,
    "state": _check_state,
    "bad_input": _check_bad_input,
    "constraint": _check_constraint,
    "write_read": _check_write_read,
    "copy": _check_copy,
    "declarations": _check_declarations,
    "labels": _check_labels,
    "sections": _check_sections,
}
