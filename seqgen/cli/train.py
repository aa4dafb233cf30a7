"""`seqgen train`: parse the options, start or resume a run (seqgen.run), report how it went."""

from __future__ import annotations

from pathlib import Path

import typer

from seqgen.cli.common import info, parse_pairs
from seqgen.errors import SeqgenError

MODEL = "Model"
TRAINING = "Training"
LIMITS = "When to stop"
HARDWARE = "Hardware"


def parse_cutoffs(text: str) -> list[int]:
    try:
        cutoffs = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        cutoffs = []
    pairs = zip(cutoffs, cutoffs[1:], strict=False)
    if not cutoffs or cutoffs[0] < 1 or any(b <= a for a, b in pairs):
        raise SeqgenError(
            f"--adaptive-softmax {text}: give increasing positive cutoffs, e.g. 2000,10000"
        )
    return cutoffs


def train(
    domain: str = typer.Option(None, "--domain", "-d", help="Domain (see `seqgen domains`)."),
    corpus: str = typer.Option(
        None,
        "--corpus",
        "-c",
        help="File, directory, glob or registered corpus name (see `seqgen corpora`). "
        "Default: the domain's built-in corpus, if it has one.",
    ),
    option: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        help="Domain option key=value (repeatable; see `seqgen domains NAME`).",
    ),
    out: Path = typer.Option(None, "--out", help="Run directory (default: runs/DOMAIN-TIMESTAMP)."),
    resume: Path = typer.Option(
        None, "--resume", help="Continue the run in this directory exactly where it stopped."
    ),
    arch: str = typer.Option(
        None,
        "--arch",
        help="Model architecture [lstm]; plugins can add others (see `seqgen plugins`).",
        rich_help_panel=MODEL,
    ),
    hidden_size: int = typer.Option(
        None, help="LSTM units per layer [512].", rich_help_panel=MODEL
    ),
    num_layers: int = typer.Option(None, help="LSTM layers [2].", rich_help_panel=MODEL),
    embedding_size: int = typer.Option(
        None, help="Token vector size [256].", rich_help_panel=MODEL
    ),
    dropout: float = typer.Option(None, help="Dropout [0.1].", rich_help_panel=MODEL),
    tie_weights: bool = typer.Option(
        None,
        "--tie-weights/--no-tie-weights",
        help="Share input and output embeddings (with --adaptive-softmax: the head's "
        "frequent tokens).",
        rich_help_panel=MODEL,
    ),
    adaptive_softmax: str = typer.Option(
        None,
        help="Adaptive softmax for a large vocabulary: frequency-rank cutoffs, e.g. 2000,10000 "
        "(the 2,000 most frequent tokens in the head, the rest in two cheaper clusters).",
        rich_help_panel=MODEL,
    ),
    adaptive_div: float = typer.Option(
        None,
        help="How much narrower each adaptive-softmax tail is than the one before [4]; "
        "2 gives rare tokens wider vectors at little cost.",
        rich_help_panel=MODEL,
    ),
    cache: bool = typer.Option(
        None,
        "--cache/--no-cache",
        help="Fit a document cache on the validation split: it proposes what followed the "
        "last time the recent tokens occurred in the document (repeated phrases, names); "
        "`seqgen eval` and `generate` then mix it in.",
        rich_help_panel=MODEL,
    ),
    batch_size: int = typer.Option(None, help="Parallel streams [32].", rich_help_panel=TRAINING),
    seq_len: int = typer.Option(
        None, help="Backpropagation window in tokens [128].", rich_help_panel=TRAINING
    ),
    lr: float = typer.Option(None, help="Peak learning rate [3e-3].", rich_help_panel=TRAINING),
    optimizer: str = typer.Option(
        None, help="adamw, rmsprop or sgd [adamw].", rich_help_panel=TRAINING
    ),
    clip: float = typer.Option(
        None,
        help="Largest gradient norm; larger gradients are scaled down [1.0].",
        rich_help_panel=TRAINING,
    ),
    weight_decay: float = typer.Option(
        None,
        help="AdamW weight decay [0.01]; sgd and rmsprop use none.",
        rich_help_panel=TRAINING,
    ),
    seed: int = typer.Option(None, help="Random seed [1337].", rich_help_panel=TRAINING),
    patience: int = typer.Option(
        None,
        help="Stop after this many validations without improvement [5]; 0: never.",
        rich_help_panel=LIMITS,
    ),
    max_time: float = typer.Option(
        None, help="Seconds of training (validation not counted).", rich_help_panel=LIMITS
    ),
    max_steps: int = typer.Option(None, help="Optimizer steps.", rich_help_panel=LIMITS),
    epochs: float = typer.Option(
        None, help="Passes over the training split.", rich_help_panel=LIMITS
    ),
    eval_every: int = typer.Option(
        None, help="Validate every N steps [about 10 times a run].", rich_help_panel=LIMITS
    ),
    val_tokens: int = typer.Option(
        None,
        help="Periodic validation reads at most this many tokens of the split "
        "[500000]; `seqgen eval` always reads all.",
        rich_help_panel=LIMITS,
    ),
    stop_after: int = typer.Option(
        None,
        help="Stop after N steps in this session, keeping the planned schedule; "
        "continue later with --resume.",
        rich_help_panel=LIMITS,
    ),
    precision: str = typer.Option(
        None,
        help="auto, fp32 or bf16 [auto: bf16 where the hardware has it].",
        rich_help_panel=HARDWARE,
    ),
    device: str = typer.Option(
        None, help="auto, cpu, cuda or mps [auto].", rich_help_panel=HARDWARE
    ),
    threads: int = typer.Option(None, help="CPU threads [all cores].", rich_help_panel=HARDWARE),
    nproc: int = typer.Option(
        None,
        help="Train with N processes on this machine (data parallel, through torchrun; "
        "docs/scaling.md).",
        rich_help_panel=HARDWARE,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or samples."),
) -> None:
    """Train a model. Example: seqgen train --domain char --corpus input.txt --max-time 300"""
    import sys

    from seqgen import distributed, registry, run

    if nproc is not None and not distributed.launched():
        from seqgen.launch import launch, without_nproc

        raise typer.Exit(launch(nproc, without_nproc(sys.argv[1:])))

    registry.warn_problems()
    train = _given(
        batch_size=batch_size, seq_len=seq_len, lr=lr, optimizer=optimizer, clip=clip,
        weight_decay=weight_decay, seed=seed, patience=patience, max_time=max_time,
        max_steps=max_steps, epochs=epochs, eval_every=eval_every, val_tokens=val_tokens,
        cache=cache, precision=precision, device=device, threads=threads,
    )  # fmt: skip
    model = _given(
        hidden_size=hidden_size, num_layers=num_layers, embedding_size=embedding_size,
        dropout=dropout, tie_weights=tie_weights, adaptive_div=adaptive_div,
    )  # fmt: skip
    if adaptive_softmax is not None:
        model["adaptive_cutoffs"] = parse_cutoffs(adaptive_softmax)
    if adaptive_div is not None and adaptive_softmax is None:
        raise SeqgenError("--adaptive-div needs --adaptive-softmax")
    if adaptive_div is not None and adaptive_div < 1:
        raise SeqgenError(f"--adaptive-div {adaptive_div}: give a number >= 1")
    if resume is not None:
        if model or arch is not None or option:
            raise SeqgenError("--resume continues a run as it was built: no model or -o options")
        job = run.resume(resume, corpus=corpus, train=train, quiet=quiet, note=note, domain=domain)
    else:
        if not domain:
            raise SeqgenError("--domain is required (see `seqgen domains`)")
        job = run.start(
            domain, corpus, out, options=parse_pairs(option), arch=arch or "lstm", model=model,
            train=train, quiet=quiet, note=note,
        )  # fmt: skip
    t = job.trainer
    if not job.world.main:
        job.train(stop_after)  # rank 0 reports for all
        return
    note(
        f"{t.model.num_parameters() / 1e6:.2f}M parameters, {t.device.type} {t.precision}, "
        f"batch {t.batcher.layout.batch_size}x{t.batcher.layout.seq_len}, "
        f"{_threads(job.world.size)}run directory {job.dir}"
    )
    report(job.train(stop_after), job.dir)


def _threads(processes: int) -> str:
    """How the run computes: its processes and each one's CPU threads."""
    import torch

    each = torch.get_num_threads()
    if processes > 1:
        return f"{processes} processes x {each} thread(s), "
    return f"{each} thread(s), "


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def note(msg: str) -> None:
    info(f"seqgen: {msg}")


def report(summary: dict, out: Path) -> None:
    last = summary["last"]
    if summary["interrupted"]:
        note(
            f"interrupted at step {summary['step']}; checkpoint saved. "
            f"Continue with: seqgen train --resume {out}"
        )
        raise typer.Exit(130)
    if "val_nats_per_token" in last:
        note(
            f"step {summary['step']}, {summary['train_time']:.0f} s of training "
            f"({summary['wall_time']:.0f} s with validation and saving): "
            f"val {last['val_nats_per_token']:.4f} nats/token = "
            f"{last['val_bits_per_unit']:.4f} bits/{last['unit']}"
            + (" (stopped early)" if summary["stopped_early"] else "")
        )
    note(f"saved {out / 'checkpoint.pt'}; try: seqgen generate {out}")
