"""`seqgen eval`: held-out loss of a trained model in nats and bits, per token and per unit."""

from __future__ import annotations

from pathlib import Path

import typer

from seqgen.errors import SeqgenError


def evaluate(
    target: Path = typer.Argument(..., metavar="RUN", help="Run directory or checkpoint file."),
    corpus: str = typer.Option(
        None,
        "--corpus",
        "-c",
        metavar="CORPUS",
        help="Evaluate on this corpus instead of the run's own. "
        "A corpus without its own splits is evaluated whole.",
    ),
    split: str = typer.Option("valid", help="valid or test (for corpora that have splits)."),
    streams: int = typer.Option(
        64,
        help="Streams scored side by side; each keeps its state and first reads the 64 "
        "tokens before its cut, so the figure equals one stream's to about 1e-6.",
    ),
    precision: str = typer.Option(
        "auto",
        metavar="auto|fp32|bf16",
        help="auto: bf16 where this CPU has bf16 kernels, as training picks it (about 2x "
        "faster; 2e-4 nats/char from fp32 on Tiny Shakespeare); fp32: the exact figure.",
    ),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="Mix in the run's document cache (runs trained with --cache); the LSTM's own "
        "figures are reported beside it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Evaluate a model. Example: seqgen eval runs/char --json"""
    import torch

    from seqgen import api, distributed
    from seqgen.cli.common import emit_json

    if streams < 1:
        raise SeqgenError(f"--streams {streams}: must be at least 1")
    model = api.load(target)
    from seqgen.hardware import pick_threads

    world = distributed.init(torch.device("cpu"))  # scored on the CPU, as sampling is
    torch.set_num_threads(pick_threads(None, world.local_size))
    report = model.score(
        corpus, split=split, streams=streams, cache=cache, world=world, precision=precision
    )
    distributed.close(world)
    if not world.main:  # under torchrun every rank scores a share; rank 0 reports
        return
    if as_json:
        emit_json(report)
        return
    show(report, model.tokenizer.unit)


def show(report: dict, unit: str) -> None:
    """The report as lines: per token and per unit, the domain's other units, the cache."""
    typer.echo(
        f"{report['corpus']} [{report['split']}]: {report['nats_per_token']:.4f} nats/token, "
        f"{report['bits_per_token']:.4f} bits/token, perplexity {report['perplexity']:.2f}\n"
        f"{report['units']:,} {unit}s in {report['tokens']:,} tokens: "
        f"{report['nats_per_unit']:.4f} nats/{unit}, {report['bits_per_unit']:.4f} bits/{unit}"
    )
    for name, count in report.get("counts", {}).items():
        amount = f"{count:,.0f}" if float(count).is_integer() else f"{count:,.1f}"
        typer.echo(
            f"{amount} {name}s: {report[f'nats_per_{name}']:.4f} nats/{name}, "
            f"{report[f'bits_per_{name}']:.4f} bits/{name}"
        )
    if report["cache"]:
        alone = report["without_cache"]
        also = "".join(
            f", {alone[f'nats_per_{name}']:.4f} nats/{name}" for name in report.get("counts", {})
        )
        typer.echo(
            f"with the document cache; the LSTM alone: {alone['nats_per_unit']:.4f} "
            f"nats/{unit}, {alone['bits_per_unit']:.4f} bits/{unit}{also}"
        )
    if "without_controls" in report:
        plain = report["without_controls"]
        typer.echo(
            f"without the control labels' own predictions: {plain['nats_per_unit']:.4f} "
            f"nats/{unit}, {plain['bits_per_unit']:.4f} bits/{unit}"
        )
    for key, value in _extras(report).items():
        typer.echo(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value:,}")


_STANDARD = {
    "checkpoint", "corpus", "split", "nats_per_token", "bits_per_token", "perplexity", "tokens",
    "unit", "units", "nats_per_unit", "bits_per_unit", "cache", "seconds", "without_cache",
    "precision", "counts", "without_controls",
}  # fmt: skip


def _extras(report: dict) -> dict:
    """The domain's own figures in the report (its eval_extras)."""
    counted = {f"{p}_per_{name}" for name in report.get("counts", {}) for p in ("nats", "bits")}
    return {k: v for k, v in report.items() if k not in _STANDARD | counted}
