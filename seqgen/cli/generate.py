"""`seqgen generate`: sample from a trained run, streaming text and writing native output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from seqgen.cli.common import sample_length
from seqgen.errors import SeqgenError

# The options, declared once (typer reads them from the annotations).
Target = Annotated[Path, typer.Argument(metavar="RUN", help="Run directory or checkpoint file.")]
Length = Annotated[
    int | None,
    typer.Option(
        "--length",
        "-n",
        help="Tokens to generate per sample. [default: 500; with --seconds or --bars: at most "
        "100000]",
    ),
]
Seconds = Annotated[
    float | None,
    typer.Option(
        "--seconds", help="Generate this many seconds instead of --length (music domains)."
    ),
]
Bars = Annotated[
    float | None,
    typer.Option("--bars", help="Generate this many bars instead of --length (music domains)."),
]
Temperature = Annotated[
    float, typer.Option("--temperature", "-t", help="Below 1: safer; above: wilder.")
]
TopK = Annotated[
    int | None, typer.Option(help="Sample only from the k likeliest tokens. [default: all tokens]")
]
TopP = Annotated[
    float | None,
    typer.Option(help="Sample from the smallest set holding this probability. [default: 1]"),
]
Greedy = Annotated[bool, typer.Option("--greedy", help="Always take the likeliest token.")]
Beam = Annotated[
    int,
    typer.Option("--beam", help="Beam search: keep this many likeliest continuations; 1: sample."),
]
LengthPenalty = Annotated[
    float,
    typer.Option(
        "--length-penalty",
        help="Beam search ranks log p / length^A: 0 favours short samples, 1 none.",
    ),
]
Prime = Annotated[str | None, typer.Option("--prime", "-p", help="Text the samples continue.")]
PrimeFile = Annotated[
    Path | None, typer.Option(help="A file (in the domain's format) to continue.")
]
Seed = Annotated[
    int | None,
    typer.Option(help="Random seed: the same seed gives the same samples. [default: a fresh one]"),
]
NumSamples = Annotated[
    int, typer.Option("--num-samples", "-N", help="Samples, drawn as one batch.")
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write the sample in the domain's native format (FILE-2, FILE-3, ... "
        "for more samples). A domain whose output is not text then prints a one-line summary "
        "instead of the sample's tokens.",
    ),
]
Audio = Annotated[
    Path | None,
    typer.Option("--audio", help="Also render the sample as audio (.wav; music domains)."),
]
Plot = Annotated[
    Path | None,
    typer.Option("--plot", help="Also draw the sample as a picture (.png; music domains)."),
]
Cache = Annotated[
    bool,
    typer.Option(
        "--cache/--no-cache",
        help="Mix in the run's document cache (runs trained with --cache): repeated phrases.",
    ),
]
Label = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        "-l",
        metavar="KEY=VALUE",
        help="Ask for a control label the run was trained with (repeatable), e.g. "
        "--label author=hikmet; none: the model's own mix. docs/labels.md.",
    ),
]
Guidance = Annotated[
    float,
    typer.Option(
        help="Classifier-free guidance toward the --label asked for: each step leans away "
        "from the same sample under labels the model picks itself, by this weight (0: off; "
        "docs/labels.md).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Do not print samples to stdout.")]


def generate(
    target: Target,
    length: Length = None,
    seconds: Seconds = None,
    bars: Bars = None,
    temperature: Temperature = 1.0,
    top_k: TopK = None,
    top_p: TopP = None,
    greedy: Greedy = False,
    beam: Beam = 1,
    length_penalty: LengthPenalty = 1.0,
    prime: Prime = None,
    prime_file: PrimeFile = None,
    seed: Seed = None,
    num_samples: NumSamples = 1,
    out: Out = None,
    audio: Audio = None,
    plot: Plot = None,
    cache: Cache = True,
    label: Label = None,
    guidance: Guidance = 0.0,
    quiet: Quiet = False,
) -> None:
    """Generate from a trained model. Example: seqgen generate runs/char --prime "ROMEO:" """
    from seqgen import api
    from seqgen.decode import check_until
    from seqgen.labels import parse_labels

    cfg = _config(length, seconds, bars, temperature=temperature, top_k=top_k, top_p=top_p,
                  greedy=greedy, beam=beam, length_penalty=length_penalty,
                  num_samples=num_samples, seed=seed, guidance=guidance)  # fmt: skip
    labels = parse_labels(label)
    if guidance and not labels:
        raise SeqgenError("--guidance steers toward a --label: give one")
    model = api.load(target)
    model.labels.ids(labels)  # a label the run does not know: one line, before anything else
    tok = model.tokenizer
    extras = _renders(tok, {"audio": audio, "plot": plot})
    for path in [out, *extras]:
        if path is not None and path.is_dir():  # refused before anything is sampled
            raise SeqgenError(f"{path}: is a directory; give a file name to write")
    check_until(tok, cfg.until)  # before anything is printed
    ids = _prime_ids(model, prime, prime_file)
    cfg.cache = model.checkpoint.cache if cache else None
    quiet = quiet or (out is not None and not tok.prints_text())  # the file says it all
    stream = not quiet and num_samples == 1 and beam == 1
    printer = _Printer(tok) if stream else None
    if printer and ids:
        sys.stdout.write(tok.to_text(ids))
    samples = model.generate_ids(ids, on_token=printer, labels=labels, **_fields(cfg))
    if printer:
        printer.flush()
    elif not quiet:
        _echo(tok, ids, samples)
    _write(tok, ids, samples, out, extras)


def _config(length: int | None, seconds: float | None, bars: float | None, **given):
    """The decoding options, checked; --seconds or --bars stop a sample by the domain's clock."""
    from seqgen.decode import DecodeConfig

    goals = [(name, v) for name, v in (("seconds", seconds), ("bars", bars)) if v is not None]
    if len(goals) > 1:
        raise SeqgenError("give --seconds or --bars, not both")
    default = 100_000 if goals else 500
    until = goals[0] if goals else None
    return DecodeConfig(length=default if length is None else length, until=until, **given).check()


def _echo(tok, ids: list[int], samples: list[list[int]]) -> None:
    """Samples printed whole (when they were not streamed), headed when there are several."""
    for k, s in enumerate(samples, 1):
        typer.echo(f"--- sample {k} ---" if len(samples) > 1 else tok.to_text(ids + s))
        if len(samples) > 1:
            typer.echo(tok.to_text(ids + s))


def _fields(cfg) -> dict:
    from dataclasses import fields

    return {
        f.name: getattr(cfg, f.name)
        for f in fields(cfg)
        if f.name not in ("cache", "controls", "free")
    }


def _renders(tok, asked: dict) -> list:
    """The --audio/--plot files asked for, refused unless the domain declares them."""
    wanted = []
    for option, path in asked.items():
        if path is None:
            continue
        suffixes = tok.renders.get(option)
        if not suffixes:
            raise SeqgenError(f"--{option} {path}: the {tok.name} domain cannot render {option}")
        if path.suffix.lower() not in suffixes:
            raise SeqgenError(
                f"--{option} {path}: the {tok.name} domain writes {'/'.join(suffixes)}"
            )
        wanted.append(path)
    return wanted


def _prime_ids(model, prime: str | None, prime_file: Path | None) -> list[int]:
    """The prime's ids; a domain that cannot read the text says so in one line."""
    try:
        return model.encode(prime, prime_file)
    except (SeqgenError, OSError):
        raise
    except Exception as e:  # a plugin's own exception on text it does not understand
        what = f"--prime {prime!r}" if prime else f"--prime-file {prime_file}"
        domain = model.tokenizer.name
        raise SeqgenError(f"{what}: the {domain} domain cannot read it ({e})") from None


class _Printer:
    """Streams tokens to ``write`` (stdout), holding back byte tokens until they make a
    character; ``seqgen studio`` streams to its page with it."""

    def __init__(self, tok, write=None):
        self.tok, self.pending = tok, []
        self.write = write or _stdout

    def __call__(self, i: int, t: int) -> None:
        self.pending.append(t)
        text = self.tok.to_text(self.pending)
        if text.endswith("\ufffd") and len(self.pending) < 4:
            return
        self.write(text)
        self.pending.clear()

    def flush(self, end: str = "\n") -> None:
        if self.pending:
            self.write(self.tok.to_text(self.pending))
            self.pending.clear()
        if end:
            self.write(end)


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write(tok, ids: list[int], samples: list[list[int]], out: Path | None, extras) -> None:
    """The samples in the domain's native format (FILE, FILE-2, ...) and the first one's
    renderings; the domain's ``write`` dispatches on the suffix."""
    targets = []
    if out is not None:
        for k, s in enumerate(samples, 1):
            path = out if k == 1 else out.with_name(f"{out.stem}-{k}{out.suffix}")
            targets.append((path, s))
    targets += [(path, samples[0]) for path in extras]
    for path, s in targets:
        tok.write(ids + s, path)
        print(f"seqgen: wrote {path} ({sample_length(tok, ids + s)})", file=sys.stderr)
