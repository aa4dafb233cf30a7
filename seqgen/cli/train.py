"""`seqgen train`: parse the options, start or resume a run (seqgen.run), report how it went."""

from __future__ import annotations

from pathlib import Path

import typer

from seqgen.cli.common import info, parse_pairs
from seqgen.errors import SeqgenError
from seqgen.sizing import BUDGET_HELP, BUDGET_SECONDS

MODEL = "Model"
TRAINING = "Training"
LIMITS = "When to stop"
HARDWARE = "Hardware"


def sized(name: str, standard: float) -> str:
    """The help's default for an option that budget sizing (seqgen.sizing) may choose."""
    return f"[default: {standard:g}; sized for --max-time: {BUDGET_HELP[name]}]"


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
    domain: str = typer.Option(
        None,
        "--domain",
        "-d",
        metavar="NAME",
        help="Domain (see `seqgen domains`); required unless --resume.",
    ),
    corpus: str = typer.Option(
        None,
        "--corpus",
        "-c",
        metavar="CORPUS",
        help="File, directory, glob or registered corpus name (see `seqgen corpora`). "
        "[default: the domain's built-in corpus, if it has one]",
    ),
    option: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="A domain option (repeatable; see `seqgen domains NAME`).",
    ),
    out: Path = typer.Option(None, "--out", help="Run directory. [default: runs/DOMAIN-TIMESTAMP]"),
    resume: Path = typer.Option(
        None, "--resume", help="Continue the run in this directory exactly where it stopped."
    ),
    arch: str = typer.Option(
        None,
        "--arch",
        help="Model architecture; plugins can add others (see `seqgen plugins`). [default: lstm]",
        rich_help_panel=MODEL,
    ),
    hidden_size: int = typer.Option(
        None, help=f"LSTM units per layer. {sized('hidden_size', 512)}", rich_help_panel=MODEL
    ),
    num_layers: int = typer.Option(None, help="LSTM layers. [default: 2]", rich_help_panel=MODEL),
    embedding_size: int = typer.Option(
        None, help=f"Token vector size. {sized('embedding_size', 256)}", rich_help_panel=MODEL
    ),
    dropout: float = typer.Option(
        None,
        help="Share of units dropped in training (on embeddings, between layers, before the "
        f"output). {sized('dropout', 0.1)}",
        rich_help_panel=MODEL,
    ),
    tie_weights: bool = typer.Option(
        None,
        "--tie-weights/--no-tie-weights",
        help="Share input and output embeddings (with --adaptive-softmax: the head's "
        "frequent tokens). [default: no-tie-weights]",
        rich_help_panel=MODEL,
    ),
    adaptive_softmax: str = typer.Option(
        None,
        help="Adaptive softmax for a large vocabulary: frequency-rank cutoffs, e.g. 2000,10000 "
        "(the 2,000 most frequent tokens in the head, the rest in two cheaper clusters). "
        "[default: a full softmax]",
        rich_help_panel=MODEL,
    ),
    adaptive_div: float = typer.Option(
        None,
        help="How much narrower each adaptive-softmax tail is than the one before; "
        "2 gives rare tokens wider vectors at little cost. [default: 4]",
        rich_help_panel=MODEL,
    ),
    cache: bool = typer.Option(
        None,
        "--cache/--no-cache",
        help="Fit a document cache on the validation split: it proposes what followed the "
        "last time the recent tokens occurred in the document (repeated phrases, names); "
        "`seqgen eval` and `generate` then mix it in. [default: no-cache]",
        rich_help_panel=MODEL,
    ),
    batch_size: int = typer.Option(
        None, help=f"Parallel streams. {sized('batch_size', 32)}", rich_help_panel=TRAINING
    ),
    seq_len: int = typer.Option(
        None,
        help=f"Backpropagation window in tokens. {sized('seq_len', 128)}",
        rich_help_panel=TRAINING,
    ),
    lr: float = typer.Option(
        None, help=f"Peak learning rate. {sized('lr', 3e-3)}", rich_help_panel=TRAINING
    ),
    optimizer: str = typer.Option(
        None, help="adamw, rmsprop or sgd. [default: adamw]", rich_help_panel=TRAINING
    ),
    clip: float = typer.Option(
        None,
        help="Largest gradient norm; larger gradients are scaled down. [default: 1.0]",
        rich_help_panel=TRAINING,
    ),
    weight_decay: float = typer.Option(
        None,
        help="AdamW weight decay; sgd and rmsprop use none. [default: 0.01]",
        rich_help_panel=TRAINING,
    ),
    seed: int = typer.Option(None, help="Random seed. [default: 1337]", rich_help_panel=TRAINING),
    patience: int = typer.Option(
        None,
        help="Stop after this many validations without improvement; 0: never. [default: 5]",
        rich_help_panel=LIMITS,
    ),
    max_time: float = typer.Option(
        None,
        help=f"Seconds of training (validation not counted). Up to {BUDGET_SECONDS} s on a "
        "CPU, the options whose default says 'sized for --max-time' are chosen for the "
        "budget unless you set one of them. [default: no limit]",
        rich_help_panel=LIMITS,
    ),
    max_steps: int = typer.Option(
        None, help="Optimizer steps. [default: no limit]", rich_help_panel=LIMITS
    ),
    epochs: float = typer.Option(
        None,
        help="Passes over the training split. [default: no limit]",
        rich_help_panel=LIMITS,
    ),
    eval_every: int = typer.Option(
        None,
        help="Validate every N steps. [default: about 10 times a run]",
        rich_help_panel=LIMITS,
    ),
    val_tokens: int = typer.Option(
        None,
        help="Periodic validation reads at most this many tokens of the split; "
        "`seqgen eval` always reads all. [default: 500000]",
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
        help="auto, fp32 or bf16. [default: auto, bf16 where the hardware has it]",
        rich_help_panel=HARDWARE,
    ),
    device: str = typer.Option(
        None,
        help="auto, cpu, cuda or mps (or cuda:N). [default: auto, CUDA, then MPS, then the CPU]",
        rich_help_panel=HARDWARE,
    ),
    threads: int = typer.Option(
        None,
        help="CPU threads per process. [default: the cores this process may use, less those "
        "other programs keep busy]",
        rich_help_panel=HARDWARE,
    ),
    nproc: int = typer.Option(
        None,
        help="Train with N processes on this machine (data parallel, through torchrun; "
        "docs/scaling.md). [default: 1]",
        rich_help_panel=HARDWARE,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or samples."),
) -> None:
    """Train a model. Example: seqgen train --domain char --corpus docs --max-time 300"""
    import sys

    from seqgen import distributed, registry, run

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
    if resume is not None and (model or arch is not None or option):
        raise SeqgenError("--resume continues a run as it was built: no model or -o options")
    if resume is None and not domain:
        raise SeqgenError("--domain is required (see `seqgen domains`)")
    if nproc is not None and nproc < 1:
        raise SeqgenError(f"--nproc {nproc}: give 1 or more processes")
    if nproc is not None and nproc > 1 and not distributed.launched():  # checked once
        from seqgen.launch import launch, without_nproc

        if resume is not None:
            run.check_resume(resume, train)
        else:
            opts = parse_pairs(option)
            run.plan_start(domain, corpus, opts, arch or "lstm", dict(model), dict(train))
        raise typer.Exit(launch(nproc, without_nproc(sys.argv[1:])))
    if resume is not None:
        job = run.resume(resume, corpus=corpus, train=train, quiet=quiet, note=note, domain=domain)
    else:
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
        )
        best = summary["best_val_nats_per_token"]
        if summary["stopped_early"]:
            note(
                "stopped early: validation stopped improving (--patience); the best, "
                f"{best:.4f} nats/token, is in {out / 'best.pt'}"
            )
        elif best < last["val_nats_per_token"]:
            note(
                f"validation was better earlier: {best:.4f} nats/token, kept in "
                f"{out / 'best.pt'} (generate and eval use it)"
            )
    note(f"saved {out / 'checkpoint.pt'}; try: seqgen generate {out}")
