"""Section labels: control ids inside a document, where the domain says a section starts (in
music, each bar: the key of that bar and the next, and the bar's note density; in text, each
paragraph), so that a long sample can be held to a label all the way through, not only at its
start (docs/labels.md).

Training (``seqgen train --section-labels``): once the token store is written, each document
of each split is rewritten with its sections' labels as control ids (sorted key order, as a
document's head) before each section's first token. A section restates the document's labels
(``author=``, ``metre=``), with the values the domain derives for the section over them;
training variants (``-o transpose``) were made and labelled before, so each gets its own.

Generation: the model emits such ids itself where it has learned that a section starts, and
the decoder gives a key asked for the probability of all that key's ids
(``LabelTable.inline``, ``seqgen.decode.shape``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.errors import DataError, SeqgenError
from seqgen.labels import (
    LabelTable,
    check_labels,
    document_ends,
    head_length,
    without_controls,
)
from seqgen.tokenizer import Tokenizer


def sections_of(tok: Tokenizer, ids: np.ndarray, where: str) -> list[tuple[int, dict[str, str]]]:
    """The domain's ``section_labels(ids)``, checked: (index, labels) pairs with increasing
    indices within the document; a one-line DataError naming ``where`` otherwise."""
    try:
        got = tok.section_labels(ids)
    except SeqgenError:
        raise
    except Exception as e:
        raise DataError(
            f"domain {tok.name!r}: section_labels() failed on {where} ({type(e).__name__}: "
            f"{str(e)[:120]})"
        ) from None
    return _checked(tok, got, len(ids), where)


def _checked(tok: Tokenizer, got: Any, n: int, where: str) -> list[tuple[int, dict[str, str]]]:
    what = f"domain {tok.name!r}: section_labels() of {where}"
    if not isinstance(got, list | tuple):
        raise DataError(f"{what} returned {type(got).__name__}, not a list of (index, labels)")
    out, last = [], -1
    for item in got:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise DataError(f"{what} gave {item!r}, not an (index, labels) pair")
        at, labels = item
        if isinstance(at, bool) or not isinstance(at, int | np.integer) or not last < at <= n:
            raise DataError(f"{what} gave index {at!r}; give increasing indices from 0 to {n}")
        out.append((int(at), check_labels(labels, what)))
        last = int(at)
    return out


def with_sections(
    tok: Tokenizer, table: LabelTable, ids: np.ndarray, where: str, restate: dict | None = None
) -> np.ndarray:
    """``ids`` (one document's tokens, no control ids) with each section's control ids written
    before its first token: the document's labels (``restate``) with the section's own over
    them (new label pairs get new ids in ``table``)."""
    ids = np.asarray(ids)
    found = sections_of(tok, ids.astype(np.int64), where)
    if not found:
        return ids
    pieces, prev = [], 0
    for at, labels in found:
        labels = {**(restate or {}), **labels}
        pieces += [ids[prev:at], np.asarray(table.add(labels), dtype=ids.dtype)]
        prev = at
    pieces.append(ids[prev:])
    return np.concatenate(pieces)


def add_sections(path: Path, dtype, tok: Tokenizer, table: LabelTable) -> None:
    """Rewrite one split file of the token store with section labels in every document (its
    head of control ids kept first), through a temporary file replaced at the end."""
    if not path.exists() or not path.stat().st_size:
        return
    ids = np.memmap(path, dtype=dtype, mode="r")
    ends = document_ends(ids, tok.eod_id)
    tmp = path.with_suffix(".sections")
    start = 0
    with open(tmp, "wb") as f:
        for k, end in enumerate(ends.tolist()):
            doc = np.asarray(ids[start:end])
            tail = doc[-1:] if doc[-1] == tok.eod_id else doc[:0]
            body = doc[: len(doc) - len(tail)]
            n = head_length(body, tok.vocab_size)
            where = f"document {k + 1} of {path.stem}"
            plain, restate = without_controls(tok, body[n:]), table.labels_of(body[:n])
            f.write(body[:n].tobytes())
            f.write(with_sections(tok, table, plain, where, restate).astype(dtype).tobytes())
            f.write(tail.tobytes())
            start = end
    del ids
    os.replace(tmp, path)
