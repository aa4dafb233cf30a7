"""Look inside the LSTM: run a model over token ids one step at a time and keep, for every layer,
the cell state ``c``, the hidden output ``h`` and the four gates.

The model traces itself (``LSTMLanguageModel.trace``) with the very cell the sampler steps, so
the traced ``c`` and ``h`` are the states the sampler carries. :func:`correlate` ranks
units by how well they follow a 0/1 indicator built from a regular expression over the text
(inside quotes, line ends, ...), after Karpathy's "The Unreasonable Effectiveness of RNNs".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.io import atomic_path

if TYPE_CHECKING:
    from seqgen.tokenizer import Tokenizer

QUANTITIES = ("c", "h", "i", "f", "g", "o")
NAMES = {
    "c": "cell state c",
    "h": "hidden output h",
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g",
    "o": "output gate o",
}


@dataclass
class Trace:
    """Activations of every layer after each input token.

    ``values[q]`` is a (L, T, H) float32 array for q in c, h, i, f, g, o: the value after the
    model has read token t (position t of ``ids``)."""

    ids: list[int]
    labels: list[str]  # each token's text, as the tokenizer decodes it alone
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return self.values["c"].shape[0]

    @property
    def hidden_size(self) -> int:
        return self.values["c"].shape[2]

    def text(self) -> str:
        return "".join(self.labels)


def trace(model, ids: list[int], start: list[int] | None = None) -> dict[str, np.ndarray]:
    """Run ``model`` over ``start + ids`` one token at a time from the zero state; return, for
    each quantity it exposes (the LSTM: c, h, i, f, g, o), the (L, T, H) float32 activations
    after each token of ``ids`` (the ``start`` tokens warm the state but are not kept)."""
    if not hasattr(model, "trace"):
        arch = getattr(model, "arch", type(model).__name__)
        raise SeqgenError(f"architecture {arch!r} cannot show its cell states (no trace)")
    was_training = model.training
    model.eval()
    try:
        return model.trace(list(ids), list(start or []))
    finally:
        model.train(was_training)


def run(model, tok: Tokenizer, ids: list[int]) -> Trace:
    """Trace ``ids`` the way the model reads a document: after the end-of-document token."""
    labels = [tok.to_text([i]) for i in ids]
    return Trace(list(ids), labels, trace(model, ids, start=[tok.eod_id]))


# --- regex indicators and unit ranking -------------------------------------------------------
def indicator(labels: list[str], pattern: str) -> np.ndarray:
    """0/1 per token: 1 where the token's text overlaps a match of ``pattern`` in the text made
    by joining the tokens' texts (a zero-width match marks the token it sits before)."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise SeqgenError(f"--regex {pattern!r}: not a valid regular expression ({e})") from None
    starts = np.cumsum([0] + [len(s) for s in labels])  # token k covers [starts[k], starts[k+1])
    text = "".join(labels)
    ind = np.zeros(len(labels), np.float32)
    for m in rx.finditer(text):
        a, b = m.span()
        if b == a:
            b = a + 1
        first = int(np.searchsorted(starts, a, side="right")) - 1
        last = int(np.searchsorted(starts, b, side="left")) - 1
        ind[max(first, 0) : last + 1] = 1.0
    return ind


def correlate(values: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """Pearson correlation of each unit's activation (T, H) with the indicator (T,); units that
    never change get 0."""
    v = values.astype(np.float64) - values.mean(0)
    d = ind.astype(np.float64) - ind.mean()
    denom = np.sqrt((v * v).sum(0) * (d * d).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (v * d[:, None]).sum(0) / denom
    return np.nan_to_num(r, nan=0.0)


def top_units(
    values: np.ndarray, labels: list[str], pattern: str, n: int
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The ``n`` units of ``values`` (T, H) most correlated (in absolute value) with the regex
    indicator: (unit indexes, correlations of all units, indicator)."""
    ind = indicator(labels, pattern)
    if not ind.any():
        raise SeqgenError(f"--regex {pattern!r} matches nothing in the text")
    if ind.all():
        raise SeqgenError(
            f"--regex {pattern!r} covers every token, so no unit can correlate with it"
        )
    r = correlate(values, ind)
    order = np.argsort(-np.abs(r), kind="stable")[:n]
    return [int(u) for u in order], r, ind


def select(tr: Trace, layer: int | None, units: str | None, regex: str | None, top: int | None,
           rank_by: str):  # fmt: skip
    """(layer, the units to show, correlations, regex indicator) for ``seqgen inspect``'s
    options: the top layer by default, the ``top`` units most correlated with ``regex``, the
    given ``units``, or the first 32."""
    L, H = tr.num_layers, tr.hidden_size
    layer = L - 1 if layer is None else layer
    if not 0 <= layer < L:
        raise SeqgenError(f"--layer {layer}: this model has layers 0-{L - 1}")
    ind = corr = None
    if top is not None:
        chosen, corr, ind = top_units(tr.values[rank_by][layer], tr.labels, regex, top)
        return layer, chosen, corr, ind
    chosen = parse_units(units, H) if units is not None else list(range(min(H, 32)))
    if regex is not None:
        ind = indicator(tr.labels, regex)
        if not ind.any():
            raise SeqgenError(f"--regex {regex!r} matches nothing in the text")
        corr = correlate(tr.values[rank_by][layer], ind)
    return layer, chosen, corr, ind


def parse_units(spec: str, hidden_size: int) -> list[int]:
    """``"3,17,42"`` or ranges ``"0-7,12"`` to unit indexes, checked against the layer size."""
    units: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                units.extend(range(int(a), int(b) + 1))
            else:
                units.append(int(part))
        except ValueError:
            raise SeqgenError(f"--units {spec!r}: expected indexes like 3,17,42 or 0-7") from None
    if not units:
        raise SeqgenError(f"--units {spec!r}: no unit indexes given")
    bad = [u for u in units if not 0 <= u < hidden_size]
    if bad:
        raise SeqgenError(
            f"--units: unit {bad[0]} does not exist; this layer has units 0-{hidden_size - 1}"
        )
    return list(dict.fromkeys(units))


# --- output ---------------------------------------------------------------------------------
def show_label(s: str) -> str:
    """A token's text as a readable tick label."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥", "": "∅"}.get(s, s.replace("\n", "⏎"))


def plot(
    tr: Trace,
    out: Path,
    layer: int,
    units: list[int],
    show: list[str],
    ind: np.ndarray | None = None,
    corr: np.ndarray | None = None,
    title: str | None = None,
) -> None:
    """Heatmaps, one panel per quantity in ``show``: a row per unit, a column per token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = len(tr.ids)
    rows = len(units)
    heights = ([0.35] if ind is not None else []) + [max(0.8, 0.22 * rows + 0.4)] * len(show)
    width = float(min(24.0, max(6.0, 2.5 + 0.11 * T)))
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(width, sum(heights) + 0.9 + 0.3 * len(show)),
        dpi=100,
        sharex=True,
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    axes = list(axes[:, 0])
    if ind is not None:
        ax = axes.pop(0)
        ax.imshow(
            ind[None, :], aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest"
        )
        ax.set_yticks([0], ["regex"])
    for ax, q in zip(axes, show, strict=True):
        _panel(fig, ax, tr.values[q][layer][:, units].T, q, units, corr)
    last = axes[-1]
    if T <= 160:
        last.set_xticks(range(T), [show_label(s) for s in tr.labels], fontsize=7)
        last.tick_params(axis="x", length=0)
    else:
        last.set_xlabel("token position")
    fig.suptitle(title or f"layer {layer}", fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


_STYLES = {"c": ("RdBu_r", None), "h": ("RdBu_r", 1.0), "g": ("RdBu_r", 1.0)}


def _panel(fig, ax, data: np.ndarray, q: str, units: list[int], corr) -> None:
    """One quantity's heatmap (units x tokens): gates on 0..1, the rest symmetric about 0."""
    cmap, lim = _STYLES.get(q, ("viridis", None))
    if q in ("i", "f", "o"):
        im = ax.imshow(data, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    else:
        lim = lim or max(float(np.abs(data).max()), 1e-6)
        im = ax.imshow(data, aspect="auto", cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_ylabel(NAMES[q], fontsize=8)
    if len(units) <= 40:
        names = [f"{u} ({corr[u]:+.2f})" if corr is not None else str(u) for u in units]
        ax.set_yticks(range(len(units)), names, fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)


def write_csv(
    tr: Trace, out: Path, layer: int, units: list[int], ind: np.ndarray | None = None
) -> None:
    """One row per token: position, token text, the regex indicator (if any), then every
    quantity of each chosen unit (columns like ``c17``, ``h17``, ``f17``)."""
    import csv

    head = ["position", "token"] + (["regex"] if ind is not None else [])
    head += [f"{q}{u}" for u in units for q in QUANTITIES]
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(head)
        for t, label in enumerate(tr.labels):
            row: list = [t, label] + ([int(ind[t])] if ind is not None else [])
            row += [f"{tr.values[q][layer, t, u]:.6g}" for u in units for q in QUANTITIES]
            w.writerow(row)


def write_npz(
    tr: Trace, out: Path, ind: np.ndarray | None = None, corr: np.ndarray | None = None
) -> None:
    """All layers and units: arrays c, h, i, f, g, o of shape (layers, tokens, units), plus ids,
    tokens, and the regex indicator and correlations when a regex was given."""
    arrays = dict(tr.values)
    arrays["ids"] = np.asarray(tr.ids, np.int64)
    arrays["tokens"] = np.asarray(tr.labels, dtype=str)
    if ind is not None:
        arrays["indicator"] = ind
    if corr is not None:
        arrays["correlation"] = corr
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
