"""`seqgen eval`: held-out loss of a trained model in nats and bits, per token and per unit."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def evaluate(
    target: Path = typer.Argument(..., help="Run directory or checkpoint file."),
    corpus: str = typer.Option(
        None,
        "--corpus",
        "-c",
        help="Evaluate on this corpus instead of the run's own. "
        "A corpus without its own splits is evaluated whole.",
    ),
    split: str = typer.Option("valid", help="valid or test (for corpora that have splits)."),
    streams: int = typer.Option(16, help="Streams scored side by side (each keeps its state)."),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="Mix in the run's document cache (runs trained with --cache); the LSTM's own "
        "figures are reported beside it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Evaluate a model. Example: seqgen eval runs/char --json"""

    import numpy as np

    from seqgen import checkpoint, registry
    from seqgen.cli.common import emit_json
    from seqgen.corpus import resolve
    from seqgen.data import prepare
    from seqgen.evaluate import Score, cached_logprobs, target_logprobs

    ckpt = checkpoint.load(target)
    model, tok = checkpoint.build(ckpt)
    reg = registry.load()
    run = ckpt["run"]
    name = corpus or run["corpus"]
    spec = resolve(name, type(tok).file_patterns, reg)
    data = None
    if corpus is None:  # the run's own corpus: usually still in the cache, as trained
        data = prepare(type(tok), spec, settings=run["settings"])
        if data.tokenizer.get_state() != tok.get_state():
            data = None
    if data is None:
        data = prepare(type(tok), spec, tokenizer=tok, split=corpus is None)
    if "all" in data.splits:
        split = "all"
    t0 = time.perf_counter()
    ids = data.tokens(split)
    logp = target_logprobs(model, ids, tok.eod_id, streams=streams)
    lstm = Score(-float(logp.sum(dtype=np.float64)), len(logp), data.units(split), tok.unit)
    weights = checkpoint.cache_of(ckpt) if cache else None
    score = lstm
    if weights is not None:
        mixed = cached_logprobs(logp, ids, tok.eod_id, weights)
        score = Score(-float(mixed.sum()), len(logp), data.units(split), tok.unit)
    extras = tok.eval_extras(ids)  # domain figures, e.g. the <unk> rate of the word domain
    report = {
        "checkpoint": ckpt["path"],
        "corpus": name,
        "split": split,
        **score.report(),
        "cache": weights is not None,
        **extras,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if weights is not None:
        report["without_cache"] = {k: v for k, v in lstm.report().items() if "_per_" in k}
    if as_json:
        emit_json(report)
        return
    typer.echo(
        f"{name} [{split}]: {report['nats_per_token']:.4f} nats/token, "
        f"{report['bits_per_token']:.4f} bits/token, perplexity {report['perplexity']:.2f}\n"
        f"{report['units']:,} {tok.unit}s in {report['tokens']:,} tokens: "
        f"{report['nats_per_unit']:.4f} nats/{tok.unit}, "
        f"{report['bits_per_unit']:.4f} bits/{tok.unit}"
    )
    if weights is not None:
        alone = report["without_cache"]
        typer.echo(
            f"with the document cache; the LSTM alone: {alone['nats_per_unit']:.4f} "
            f"nats/{tok.unit}, {alone['bits_per_unit']:.4f} bits/{tok.unit}"
        )
    for key, value in extras.items():
        typer.echo(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value:,}")
