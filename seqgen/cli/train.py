"""`seqgen train`: parse the options, start or resume a run (seqgen.run), report how it went."""

from __future__ import annotations

from pathlib import Path

import typer

from seqgen.cli import train_options as o
from seqgen.cli.common import info, parse_pairs
from seqgen.errors import SeqgenError


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
    domain: o.Domain = None,
    corpus: o.Corpus = None,
    option: o.DomainOptions = None,
    labels_from_folders: o.LabelsFromFolders = None,
    labels: o.LabelFile = None,
    domain_labels: o.DomainLabels = None,
    section_labels: o.SectionLabels = None,
    out: o.Out = None,
    resume: o.Resume = None,
    arch: o.Arch = None,
    hidden_size: o.HiddenSize = None,
    num_layers: o.NumLayers = None,
    embedding_size: o.EmbeddingSize = None,
    dropout: o.Dropout = None,
    weight_drop: o.WeightDrop = None,
    tie_weights: o.TieWeights = None,
    adaptive_softmax: o.AdaptiveSoftmax = None,
    adaptive_div: o.AdaptiveDiv = None,
    cache: o.Cache = None,
    batch_size: o.BatchSize = None,
    seq_len: o.SeqLen = None,
    lr: o.Lr = None,
    optimizer: o.Optimizer = None,
    clip: o.Clip = None,
    weight_decay: o.WeightDecay = None,
    ema: o.Ema = None,
    seed: o.Seed = None,
    patience: o.Patience = None,
    max_time: o.MaxTime = None,
    max_steps: o.MaxSteps = None,
    epochs: o.Epochs = None,
    eval_every: o.EvalEvery = None,
    val_tokens: o.ValTokens = None,
    stop_after: o.StopAfter = None,
    precision: o.Precision = None,
    device: o.Device = None,
    threads: o.Threads = None,
    nproc: o.Nproc = None,
    quiet: o.Quiet = False,
) -> None:
    """Train a model. Example: seqgen train --domain char --corpus docs --max-time 300"""
    _train({k: v for k, v in locals().items() if v is not None})


def _train(given: dict) -> None:
    """Check the options, hand off to torchrun for --nproc, or start/resume here and report."""
    from seqgen import distributed, registry, run

    registry.warn_problems()
    train = {k: given[k] for k in o.TRAIN_FIELDS if k in given}
    model = _model_options(given)
    resume, quiet, nproc = given.get("resume"), given["quiet"], given.get("nproc")
    if nproc is not None and nproc > 1 and not distributed.launched():  # checked once
        _launch(given, model, train)
    if resume is not None:
        job = run.resume(
            resume, corpus=given.get("corpus"), train=train, quiet=quiet, note=note,
            domain=given.get("domain"),
        )  # fmt: skip
    else:
        job = run.start(
            given["domain"], given.get("corpus"), given.get("out"),
            options=parse_pairs(given.get("option")), arch=given.get("arch", "lstm"),
            model=model, train=train, quiet=quiet, note=note, labels=_labels(given),
        )  # fmt: skip
    t = job.trainer
    if not job.world.main:
        job.train(given.get("stop_after"))  # rank 0 reports for all
        return
    note(
        f"{t.model.num_parameters() / 1e6:.2f}M parameters, {t.device.type} {t.precision}, "
        f"batch {t.batcher.layout.batch_size}x{t.batcher.layout.seq_len}, "
        f"{_threads(job.world.size)}run directory {job.dir}"
    )
    report(job.train(given.get("stop_after")), job.dir)


def _model_options(given: dict) -> dict:
    """The model options given, checked against each other and against --resume/--domain."""
    model = {k: given[k] for k in o.MODEL_FIELDS if k in given}
    softmax, div = given.get("adaptive_softmax"), given.get("adaptive_div")
    if softmax is not None:
        model["adaptive_cutoffs"] = parse_cutoffs(softmax)
    if div is not None and softmax is None:
        raise SeqgenError("--adaptive-div needs --adaptive-softmax")
    if div is not None and div < 1:
        raise SeqgenError(f"--adaptive-div {div}: give a number >= 1")
    resume = given.get("resume")
    labelled = any(
        k in given for k in ("labels_from_folders", "labels", "domain_labels", "section_labels")
    )
    if resume is not None and (model or "arch" in given or given.get("option") or labelled):
        raise SeqgenError("--resume continues a run as it was built: no model, -o or label options")
    if resume is None and not given.get("domain"):
        raise SeqgenError("--domain is required (see `seqgen domains`)")
    nproc = given.get("nproc")
    if nproc is not None and nproc < 1:
        raise SeqgenError(f"--nproc {nproc}: give 1 or more processes")
    return model


def _labels(given: dict):
    """Where the documents' control labels come from (seqgen.labels)."""
    from seqgen.labels import LabelSpec

    file = given.get("labels")
    return LabelSpec(
        given.get("labels_from_folders"), str(file) if file else None,
        bool(given.get("domain_labels")), bool(given.get("section_labels")),
    )  # fmt: skip


def _launch(given: dict, model: dict, train: dict) -> None:
    """Check the whole run once here, then start its processes through torchrun."""
    import sys

    from seqgen import run
    from seqgen.launch import launch, without_nproc

    if given.get("resume") is not None:
        run.check_resume(given["resume"], train)
    else:
        opts = parse_pairs(given.get("option"))
        arch = given.get("arch", "lstm")
        run.plan_start(given["domain"], given.get("corpus"), opts, arch, dict(model), dict(train))
    raise typer.Exit(launch(given["nproc"], without_nproc(sys.argv[1:])))


def _threads(processes: int) -> str:
    """How the run computes: its processes and each one's CPU threads."""
    import torch

    each = torch.get_num_threads()
    if processes > 1:
        return f"{processes} processes x {each} thread(s), "
    return f"{each} thread(s), "


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
