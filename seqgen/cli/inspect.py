"""`seqgen inspect`: what the LSTM cells do over a piece of input, as a heatmap, CSV or NPZ."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from seqgen.errors import SeqgenError

# The options, declared once (typer reads them from the annotations).
Target = Annotated[Path, typer.Argument(metavar="RUN", help="Run directory or checkpoint file.")]
Text = Annotated[str | None, typer.Option("--text", "-t", help="The input to run the model over.")]
PrimeFile = Annotated[
    Path | None,
    typer.Option("--prime-file", help="Read the input from a file (in the domain's format)."),
]
Plot = Annotated[Path | None, typer.Option("--plot", help="Write a heatmap PNG: a row per unit.")]
Csv = Annotated[
    Path | None,
    typer.Option("--csv", help="Write one row per token: every quantity of the shown units."),
]
Npz = Annotated[
    Path | None,
    typer.Option("--npz", help="Write all layers, units and quantities as NumPy arrays."),
]
Layer = Annotated[
    int | None,
    typer.Option("--layer", "-l", help="LSTM layer, counted from 0. [default: the top layer]"),
]
Units = Annotated[
    str | None,
    typer.Option("--units", "-u", help="Units to show, e.g. 3,17,42 or 0-15. [default: up to 32]"),
]
Regex = Annotated[
    str | None,
    typer.Option(
        "--regex",
        "-r",
        help="Mark the tokens a regular expression matches, e.g. '\"[^\"]*\"' or '\\n'.",
    ),
]
Top = Annotated[
    int | None, typer.Option("--top", "-k", help="Show the N units most correlated with --regex.")
]
RankBy = Annotated[
    str, typer.Option("--rank-by", help="Quantity --top ranks by: c, h, i, f, g or o.")
]
Show = Annotated[
    str, typer.Option("--show", help="Quantities to plot: any of c,h,i,f,g,o, or 'all'.")
]
MaxTokens = Annotated[
    int, typer.Option("--max-tokens", help="Use at most this many tokens of the input.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the unit summary as JSON.")]


def inspect(
    target: Target,
    text: Text = None,
    prime_file: PrimeFile = None,
    plot: Plot = None,
    csv: Csv = None,
    npz: Npz = None,
    layer: Layer = None,
    units: Units = None,
    regex: Regex = None,
    top: Top = None,
    rank_by: RankBy = "c",
    show: Show = "c,h",
    max_tokens: MaxTokens = 2000,
    as_json: AsJson = False,
) -> None:
    """Show what LSTM cells remember. Example: seqgen inspect runs/char --prime-file play.txt
    --regex '"[^"]*"' --top 5 --plot quotes.png"""
    from seqgen import checkpoint
    from seqgen import inspect as look

    if plot is None and csv is None and npz is None and regex is None and not as_json:
        raise SeqgenError("nothing to do: give --plot, --csv, --npz, --json or --regex")
    if (text is None) == (prime_file is None):
        raise SeqgenError("give the input as one of --text or --prime-file")
    wanted = _check_choices(top, regex, units, rank_by, show, max_tokens)
    model, tok = checkpoint.build(checkpoint.load(target))
    ids = _input_ids(tok, text, prime_file, max_tokens)
    tr = look.run(model, tok, ids)
    layer, chosen, corr, ind = look.select(tr, layer, units, regex, top, rank_by)
    summary = _summary(layer, ids, chosen, corr, regex, rank_by, ind)
    if plot is not None:
        title = f"layer {layer}, {len(ids)} tokens"
        if regex is not None:
            title += f"; regex {regex!r} (r of {rank_by} in brackets)"
        look.plot(tr, plot, layer, chosen, wanted, ind, corr, title)
    if csv is not None:
        look.write_csv(tr, csv, layer, chosen, ind)
    if npz is not None:
        look.write_npz(tr, npz, ind, corr)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif corr is not None:
        _print_correlations(layer, chosen, corr, regex, rank_by, top is not None)
    for path in (plot, csv, npz):
        if path is not None:
            print(f"seqgen: wrote {path}", file=sys.stderr)


def _summary(layer, ids, chosen, corr, regex, rank_by, ind) -> dict:
    summary = {
        "layer": layer,
        "tokens": len(ids),
        "units": [
            {"unit": u, **({"correlation": round(float(corr[u]), 4)} if corr is not None else {})}
            for u in chosen
        ],
    }
    if regex is not None:
        summary.update(regex=regex, rank_by=rank_by, matched_tokens=int(ind.sum()))
    return summary


def _print_correlations(layer, chosen, corr, regex, rank_by, ranked: bool) -> None:
    from seqgen import inspect as look

    what = "most correlated with" if ranked else "correlation with"
    typer.echo(f"layer {layer}, {look.NAMES[rank_by]}, units {what} {regex!r}:")
    for u in chosen:
        typer.echo(f"  unit {u:>4}  r = {corr[u]:+.3f}")


def _check_choices(top, regex, units, rank_by, show, max_tokens) -> list[str]:
    """The quantities to show, after refusing option combinations that make no sense."""
    from seqgen import inspect as look

    if top is not None and regex is None:
        raise SeqgenError("--top needs a --regex to rank units against")
    if top is not None and units is not None:
        raise SeqgenError("give --units or --top, not both")
    if top is not None and top < 1:
        raise SeqgenError("--top must be at least 1")
    if rank_by not in look.QUANTITIES:
        raise SeqgenError(f"--rank-by {rank_by}: choose one of {', '.join(look.QUANTITIES)}")
    wanted = (
        list(look.QUANTITIES)
        if show.strip() == "all"
        else [q.strip() for q in show.split(",") if q.strip()]
    )
    bad = [q for q in wanted if q not in look.QUANTITIES]
    if bad or not wanted:
        raise SeqgenError(f"--show {show}: choose from c,h,i,f,g,o (or all)")
    if max_tokens < 1:
        raise SeqgenError("--max-tokens must be at least 1")
    return wanted


def _input_ids(tok, text, prime_file, max_tokens: int) -> list[int]:
    from seqgen.cli.common import read_prime_file
    from seqgen.errors import DataError

    if prime_file is not None:
        ids = read_prime_file(tok, prime_file, limit=max_tokens + 1)
    else:
        try:
            ids = list(tok.encode_prime(text))
        except DataError as e:
            raise DataError(str(e).replace("--prime", "--text")) from None
    if not ids:
        raise SeqgenError("the input is empty: nothing to inspect")
    if len(ids) > max_tokens:
        print(f"seqgen: using the first {max_tokens} of the input's tokens", file=sys.stderr)
        ids = ids[:max_tokens]
    return ids
