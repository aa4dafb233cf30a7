"""Word vectors for the word domain: reading word2vec/GloVe text files into an embedding, and
the nearest words of a trained model (`seqgen neighbours`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgen.errors import DataError, SeqgenError
from seqgen.io import not_a_file


def load_vectors(path: Path, vocab_size: int, keys: dict[str, list[int]], dim: int) -> np.ndarray:
    """(vocab_size, dim) float32 from a word2vec/GloVe text file; NaN rows where not found.
    An exact spelling wins over a lowercased one."""
    if not path.is_file():
        raise DataError(f"-o vectors={path}: {not_a_file(path)}")
    lower: dict[str, list[int]] = {}
    for w, ids in keys.items():
        lower.setdefault(w.lower(), []).extend(ids)
    out = np.full((vocab_size, dim), np.nan, np.float32)
    exact = np.zeros(vocab_size, bool)
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            fields = line.rstrip().split(" ")
            if n == 1 and len(fields) == 2 and all(x.isdigit() for x in fields):
                continue  # word2vec header: "count dim"
            if len(fields) < 2:
                continue
            word, values = fields[0], fields[1:]
            if len(values) != dim:
                raise DataError(
                    f"-o vectors={path}: line {n} has {len(values)} dimensions, but "
                    f"--embedding-size is {dim}; train with --embedding-size {len(values)}"
                )
            targets = keys.get(word)
            is_exact = targets is not None
            if targets is None:
                targets = [i for i in lower.get(word.lower(), ()) if not exact[i]]
            if not targets:
                continue
            try:
                vec = np.array(values, dtype=np.float32)
            except ValueError:
                raise DataError(f"-o vectors={path}: line {n} is not 'word v1 v2 ...'") from None
            for i in targets:
                if is_exact or np.isnan(out[i, 0]):
                    out[i] = vec
                    exact[i] |= is_exact
    return out


# --- plugin hooks ----------------------------------------------------------------------------
def neighbours(
    target: Path,
    word: str,
    k: int = 10,
) -> list[tuple[str, float]]:
    """The ``k`` words whose input embeddings are closest (cosine) to ``word``'s."""
    import torch
    from seqgen_plugins.word import WordTokenizer

    from seqgen import checkpoint

    ckpt = checkpoint.load(target)
    domain = ckpt.tokenizer.domain
    if domain != WordTokenizer.name:
        raise SeqgenError(f"{ckpt.path}: a {domain!r} model; neighbours needs a word model")
    model, tok = checkpoint.build(ckpt)
    assert isinstance(tok, WordTokenizer)
    ids = tok.ids_of(word)
    if not ids:
        raise SeqgenError(f"{word!r} is not in the vocabulary of {ckpt.path}")
    embed = model.input_embeddings()
    if embed is None:
        raise SeqgenError(f"{ckpt.path}: its architecture has no input embedding to compare")
    with torch.no_grad():
        weight = embed.weight
        emb = torch.nn.functional.normalize(weight.float(), dim=1)
        query = torch.nn.functional.normalize(emb[ids].mean(0), dim=0)
        sims = emb @ query
    sims[: tok.n_special] = -2.0  # specials are no words
    sims[ids] = -2.0
    best: dict[str, float] = {}
    for i in torch.argsort(sims, descending=True).tolist():
        if sims[i] <= -2.0 or len(best) >= k:
            break
        w = tok.words[i - tok.n_special].strip()
        if w and w not in best and w != word.strip():
            best[w] = float(sims[i])
    return list(best.items())
