"""The kit's check of the optional labels hook (``Tokenizer.labels``, docs/labels.md)."""

from __future__ import annotations

from typing import Any

from seqgen.testing.report import _crash, _Stop
from seqgen.tokenizer import Document, Tokenizer

MAX_DOCS = 50  # documents of the sample corpus asked for their labels


def _check_labels(tok: Tokenizer, docs: list[Document], **_: Any) -> None:
    """Every document's labels are a dict of keys (letters, digits, - _ .) to non-empty text;
    the hook never raises; asking twice gives the same labels."""
    from seqgen.labels import _is_key

    for doc in docs[:MAX_DOCS]:
        got = []
        for _ in range(2):
            try:
                got.append(tok.labels(Document(doc.name, iter(list(doc.parts)), doc.split)))
            except Exception as e:
                raise _Stop(
                    f"labels() raised on {doc.name}: {_crash(e)}",
                    "return {} for a document you cannot label; never raise",
                ) from None
        labels = got[0]
        if not isinstance(labels, dict):
            raise _Stop(
                f"labels() returned {type(labels).__name__} for {doc.name}",
                'return a dict of text to text, e.g. {"key": "G-minor"}',
            )
        for k, v in labels.items():
            if not (isinstance(k, str) and _is_key(k) and isinstance(v, str) and v):
                raise _Stop(
                    f"labels() of {doc.name} gave {k!r}: {v!r}",
                    "keys of letters, digits, - _ or ., values non-empty text (str(value))",
                )
        if got[1] != labels:
            raise _Stop(
                f"labels() of {doc.name} differ between two calls",
                "derive labels from the document only",
            )


def _check_sections(tok: Tokenizer, docs: list[Document], **_: Any) -> None:
    """Every document's section labels are (index, labels) pairs with increasing indices into
    its tokens and text labels; the hook never raises; asking twice gives the same sections."""
    import numpy as np

    from seqgen.errors import DataError
    from seqgen.sections import _checked

    for doc in docs[:MAX_DOCS]:
        parts = [np.asarray(tok.encode(p), dtype=np.int64) for p in doc.parts]
        ids = np.concatenate([np.zeros(0, np.int64), *parts])
        got = []
        for _ in range(2):
            try:
                got.append(tok.section_labels(ids.copy()))
            except Exception as e:
                raise _Stop(
                    f"section_labels() raised on {doc.name}: {_crash(e)}",
                    "return [] for a document without sections; never raise",
                ) from None
        try:
            _checked(tok, got[0], len(ids), doc.name)
        except DataError as e:
            raise _Stop(str(e), "give (index, {key: text}) pairs, indices increasing") from None
        if got[1] != got[0]:
            raise _Stop(
                f"section_labels() of {doc.name} differ between two calls",
                "derive section labels from the tokens only",
            )
