"""Where a markup model gains or loses bits against a char model, character by character.

Both runs score the same held-out text; each token's NLL is charged to the characters it
stands for. Characters that the markup domain reads as multi-character units (tags, entities,
wiki brackets) are reported apart from those both domains read one at a time::

    python bench/markup_where.py --markup RUN --char RUN --text valid.xml --characters 100000

Characters the char model never saw are dropped from the text for both. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from seqgen import checkpoint
from seqgen.errors import SeqgenError


def token_nll(model, tok, text: str) -> tuple[list[int], np.ndarray]:
    """Ids of ``text`` and the NLL (nats) of each, from a fresh state after <eod>."""
    ids = [tok.eod_id, *tok.encode_prime(text)]
    x, y = torch.tensor(ids[:-1])[None], torch.tensor(ids[1:])
    out, state = [], None
    with torch.inference_mode():
        for t in range(0, x.shape[1], 2048):
            logits, state = model(x[:, t : t + 2048], state)
            out.append(
                torch.nn.functional.cross_entropy(logits[0], y[t : t + 2048], reduction="none")
            )
    return ids[1:], torch.cat(out).numpy()


def per_character(pieces: list[str], markup_nll, n: int):
    """Each character: inside a multi-character unit or not, the markup bits of a character read
    alone, and how far it follows the end of the last unit (the char model spent one step per
    character of that unit, the markup model one step in all); and the bits spent on units."""
    in_unit = np.zeros(n, bool)
    markup_char_bits = np.zeros(n)
    since = np.full(n, 10**9)
    unit_bits = 0.0
    pos, last_end = 0, -(10**9)
    for piece, nll in zip(pieces, markup_nll, strict=True):
        if len(piece) > 1:
            in_unit[pos : pos + len(piece)] = True
            unit_bits += float(nll) / math.log(2)
            last_end = pos + len(piece)
        else:
            markup_char_bits[pos] = float(nll) / math.log(2)
            since[pos] = pos - last_end + 1
        pos += len(piece)
    return in_unit, markup_char_bits, since, unit_bits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markup", type=Path, required=True)
    ap.add_argument("--char", type=Path, required=True)
    ap.add_argument("--text", type=Path, required=True, help="held-out text (UTF-8)")
    ap.add_argument("--characters", type=int, default=100_000)
    a = ap.parse_args()
    torch.set_num_threads(1)
    char_model, char_tok = checkpoint.build(checkpoint.load(a.char))
    markup_model, markup_tok = checkpoint.build(checkpoint.load(a.markup))
    text = a.text.read_text(encoding="utf-8")[: a.characters]

    def known(ch: str) -> bool:
        try:
            char_tok.encode_prime(ch)
            return True
        except SeqgenError:
            return False

    seen = {ch for ch in set(text) if known(ch)}
    kept = "".join(ch for ch in text if ch in seen)
    char_ids, char_nll = token_nll(char_model, char_tok, kept)
    markup_ids, markup_nll = token_nll(markup_model, markup_tok, kept)
    pieces = [markup_tok.to_text([i]) for i in markup_ids]
    if "".join(pieces) != kept or len(char_ids) != len(kept):
        raise SystemExit("the tokens do not spell the text one to one")
    in_unit, markup_char_bits, since, unit_bits = per_character(pieces, markup_nll, len(kept))
    char_bits = char_nll / math.log(2)
    n_single = int((~in_unit).sum())
    single_bits = float(markup_char_bits.sum())
    after = {}
    for name, lo, hi in (("1", 1, 1), ("2-4", 2, 4), ("5-16", 5, 16), ("17+", 17, 10**9)):
        m = ~in_unit & (since >= lo) & (since <= hi)
        n = int(m.sum())
        after[name] = {
            "characters": n,
            "char": float(char_bits[m].sum() / max(n, 1)),
            "markup": float(markup_char_bits[m].sum() / max(n, 1)),
        }
    report = {
        "characters": len(kept),
        "dropped_characters": len(text) - len(kept),
        "bits_per_character": {
            "char": float(char_bits.sum() / len(kept)),
            "markup": float((unit_bits + single_bits) / len(kept)),
        },
        "characters_in_units": int(in_unit.sum()),
        "bits_on_units": {"char": float(char_bits[in_unit].sum()), "markup": unit_bits},
        "characters_read_one_by_one": n_single,
        "bits_per_character_elsewhere": {
            "char": float(char_bits[~in_unit].sum() / n_single),
            "markup": single_bits / n_single,
        },
        "bits_per_character_by_distance_after_a_unit": after,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
