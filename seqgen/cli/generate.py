"""`seqgen generate`: sample from a trained run, streaming text and writing native output."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def generate(
    target: Path = typer.Argument(..., help="Run directory or checkpoint file."),
    length: int = typer.Option(
        None,
        "--length",
        "-n",
        help="Tokens to generate per sample [500; with --seconds/--bars: at most 100000].",
    ),
    seconds: float = typer.Option(
        None, "--seconds", help="Generate this many seconds (music domains)."
    ),
    bars: float = typer.Option(None, "--bars", help="Generate this many bars (music domains)."),
    temperature: float = typer.Option(
        1.0, "--temperature", "-t", help="Below 1: safer; above: wilder."
    ),
    top_k: int = typer.Option(None, help="Sample only from the k likeliest tokens."),
    top_p: float = typer.Option(
        None, help="Sample from the smallest set holding this probability."
    ),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the likeliest token."),
    prime: str = typer.Option(None, "--prime", "-p", help="Text the samples continue."),
    prime_file: Path = typer.Option(None, help="A file (in the domain's format) to continue."),
    seed: int = typer.Option(None, help="Random seed: the same seed gives the same samples."),
    num_samples: int = typer.Option(1, "--num-samples", "-N", help="Samples, drawn as one batch."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Write the sample in the domain's native format (FILE-2, FILE-3, ... "
        "for more samples).",
    ),
    audio: Path = typer.Option(None, "--audio", help="Also render the sample as audio (.wav)."),
    plot: Path = typer.Option(None, "--plot", help="Also draw the sample as a picture (.png)."),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="Mix in the run's document cache (runs trained with --cache): repeated phrases.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print samples to stdout."),
) -> None:
    """Generate from a trained model. Example: seqgen generate runs/char --prime "ROMEO:" """

    from seqgen import checkpoint
    from seqgen.cli.common import read_prime_file
    from seqgen.errors import SeqgenError
    from seqgen.sample import SampleConfig, check_until
    from seqgen.sample import generate as draw

    goals = [(name, v) for name, v in (("seconds", seconds), ("bars", bars)) if v is not None]
    if len(goals) > 1:
        raise SeqgenError("give --seconds or --bars, not both")
    if any(v <= 0 for _, v in goals):
        raise SeqgenError(f"--{goals[0][0]} must be positive")
    if length is None:
        length = 100_000 if goals else 500
    if num_samples < 1 or length < 0:
        raise SeqgenError("--num-samples must be at least 1 and --length not negative")
    ckpt = checkpoint.load(target)
    model, tok = checkpoint.build(ckpt)
    check_until(tok, goals[0] if goals else None)  # before anything is printed
    ids: list[int] = []
    if prime_file is not None:
        ids = read_prime_file(tok, prime_file)
    if prime:
        ids.extend(tok.encode_prime(prime))
    cfg = SampleConfig(
        length=length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
        num_samples=num_samples,
        seed=seed,
        until=goals[0] if goals else None,
        cache=checkpoint.cache_of(ckpt) if cache else None,
    )
    stream = not quiet and num_samples == 1
    pending: list[int] = []

    def on_token(i: int, t: int) -> None:
        # Buffer tokens that decode to a partial character (byte tokens) until they complete.
        pending.append(t)
        text = tok.to_text(pending)
        if text.endswith("\ufffd") and len(pending) < 4:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        pending.clear()

    if stream and ids:
        sys.stdout.write(tok.to_text(ids))
    samples = draw(model, tok, cfg, prime=ids, on_token=on_token if stream else None)
    if stream:
        if pending:
            sys.stdout.write(tok.to_text(pending))
        sys.stdout.write("\n")
    elif not quiet:
        for k, s in enumerate(samples, 1):
            typer.echo(f"--- sample {k} ---")
            typer.echo(tok.to_text(ids + s))
    if out is not None:
        for k, s in enumerate(samples, 1):
            path = out if k == 1 else out.with_name(f"{out.stem}-{k}{out.suffix}")
            tok.write(ids + s, path)
            print(f"seqgen: wrote {path}", file=sys.stderr)
    # The domain's `write` dispatches on the suffix (raising SeqgenError for one it cannot write).
    for extra in (audio, plot):
        if extra is not None:
            tok.write(ids + samples[0], extra)
            print(f"seqgen: wrote {extra}", file=sys.stderr)
