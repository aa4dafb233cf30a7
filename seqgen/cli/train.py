"""`seqgen train`: tokenize a corpus (cached), train the LSTM, checkpoint into a run directory."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from seqgen.cli.common import info, parse_pairs

MODEL = "Model"
TRAINING = "Training"
LIMITS = "When to stop"
HARDWARE = "Hardware"


# For a short --max-time on a CPU, a smaller model that sees more tokens and takes more steps
# beats a large one (Tiny Shakespeare, 270 s, 2 cores: 256x2 1.512 nats/char, 384x2 1.519;
# batch 16x64 beats 32x128 and 8x64 at 55 s). Used only when the user sets none of these.
# lr: 2e-2 was 3% better than 5e-3 on Tiny Shakespeare at 55 s, but on the enwik8 prefix it
# never left the unigram plateau (5.25 bits/char after 360 s; 5e-3: 2.92 after 300 s).
BUDGET_SECONDS = 900
BUDGET_DEFAULTS = {
    "hidden_size": 256,
    "embedding_size": 128,
    "dropout": 0.0,
    "batch_size": 16,
    "seq_len": 64,
    "lr": 5e-3,
}


def budget_defaults(max_time: float | None, given: dict, sizes: dict) -> dict:
    if not max_time or max_time > BUDGET_SECONDS:
        return {}
    import torch

    if given.get("device", "auto") not in ("auto", "cpu") or (
        given.get("device", "auto") == "auto" and torch.cuda.is_available()
    ):
        return {}  # sized for a CPU; a GPU trains the standard model fast enough
    if set(BUDGET_DEFAULTS) & (set(given) | set(sizes)):
        return {}
    return dict(BUDGET_DEFAULTS)


def parse_cutoffs(text: str) -> list[int]:
    from seqgen.errors import SeqgenError

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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or samples."),
) -> None:
    """Train a model. Example: seqgen train --domain char --corpus input.txt --max-time 300"""
    from dataclasses import fields

    from seqgen import checkpoint, registry
    from seqgen.corpus import resolve
    from seqgen.data import prepare
    from seqgen.errors import SeqgenError
    from seqgen.model import ModelConfig
    from seqgen.train import RunInfo, TrainConfig, Trainer

    reg = registry.load()
    registry.warn_problems(reg)
    given = {
        "batch_size": batch_size,
        "seq_len": seq_len,
        "lr": lr,
        "optimizer": optimizer,
        "clip": clip,
        "weight_decay": weight_decay,
        "seed": seed,
        "patience": patience,
        "max_time": max_time,
        "max_steps": max_steps,
        "epochs": epochs,
        "eval_every": eval_every,
        "val_tokens": val_tokens,
        "cache": cache,
        "precision": precision,
        "device": device,
        "threads": threads,
    }
    given = {k: v for k, v in given.items() if v is not None}
    sizes = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "embedding_size": embedding_size,
        "dropout": dropout,
        "tie_weights": tie_weights,
    }
    sizes = {k: v for k, v in sizes.items() if v is not None}
    if adaptive_softmax is not None:
        sizes["adaptive_cutoffs"] = parse_cutoffs(adaptive_softmax)
    if adaptive_div is not None:
        if adaptive_softmax is None:
            raise SeqgenError("--adaptive-div needs --adaptive-softmax")
        if adaptive_div < 1:
            raise SeqgenError(f"--adaptive-div {adaptive_div}: give a number >= 1")
        sizes["adaptive_div"] = adaptive_div

    ckpt = None
    if resume is not None:
        ckpt = checkpoint.load(Path(resume) / checkpoint.LATEST)
        run = ckpt["run"]
        if domain and domain != run["domain"]:
            raise SeqgenError(f"--resume {resume}: that run is of domain {run['domain']!r}")
        domain, corpus, settings = run["domain"], corpus or run["corpus"], run["settings"]
        cfg_dict = dict(ckpt["train_config"])
        if any(k in given for k in ("max_time", "max_steps", "epochs")):
            cfg_dict.update(max_time=None, max_steps=None, epochs=None)  # a new plan
        cfg_dict.update(given)
        cfg = TrainConfig(**cfg_dict)
        model_cfg = ModelConfig(**ckpt["model_config"])
        out = Path(resume)
    else:
        if not domain:
            raise SeqgenError("--domain is required (see `seqgen domains`)")
        tok_cls = reg.domain(domain)
        settings = tok_cls.parse_options(parse_pairs(option))
        corpus = corpus or getattr(tok_cls, "default_corpus", None)
        if not corpus:
            raise SeqgenError(f"--corpus is required: domain {domain!r} has no built-in corpus")
        budget = budget_defaults(max_time, given, sizes)
        if budget:
            info(
                "seqgen: --max-time "
                f"{max_time:g}: sizing the model for the budget ("
                + " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in budget.items())
                + "); set any of these to choose yourself"
            )
            for key, value in budget.items():  # none of these was given (budget_defaults)
                (sizes if key in ("hidden_size", "embedding_size", "dropout") else given)[key] = (
                    value
                )
        known = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in given.items() if k in known})
        if out is None:
            out = Path("runs") / f"{domain}-{time.strftime('%Y%m%d-%H%M%S')}"
        if (out / checkpoint.LATEST).exists():
            raise SeqgenError(
                f"--out {out} already holds a run; continue it with --resume {out} "
                "or choose another --out"
            )
    tok_cls = reg.domain(domain)
    spec = resolve(corpus, tok_cls.file_patterns, reg)
    t0 = time.perf_counter()
    data = prepare(tok_cls, spec, settings=settings)
    if ckpt is not None and data.tokenizer.get_state() != ckpt["tokenizer"]["state"]:
        raise SeqgenError(
            f"--resume {resume}: the corpus {corpus} no longer gives the run's vocabulary"
        )
    splits = ", ".join(f"{k} {v['tokens']:,}" for k, v in data.meta["splits"].items())
    skipped = len(data.meta.get("skipped", {}))
    info(
        f"seqgen: {spec.name}: {data.tokenizer.vocab_size:,} token types; tokens: {splits}"
        + (f"; skipped {skipped} file(s)" if skipped else "")
        + f" ({time.perf_counter() - t0:.1f} s)"
    )
    if ckpt is None:
        vocab = data.tokenizer.vocab_size
        cutoffs = sizes.get("adaptive_cutoffs")
        if cutoffs and cutoffs[-1] >= vocab:
            raise SeqgenError(
                f"--adaptive-softmax {adaptive_softmax}: every cutoff must be below the "
                f"vocabulary size ({vocab:,} token types)"
            )
        if vocab >= 20_000 and not cutoffs:
            info(
                f"seqgen: tip: with {vocab:,} token types the output layer is most of each "
                "step; --adaptive-softmax 2000,10000 makes it several times cheaper"
            )
        model_cfg = ModelConfig(vocab_size=vocab, **sizes)
        try:
            model_cfg.check()
        except ValueError as e:
            raise SeqgenError(str(e)) from None
    plugin = reg.domain_plugin.get(domain, "?")
    run_info = RunInfo(
        domain=domain,
        corpus=corpus,
        settings=settings,
        plugin=plugin,
        plugin_version=reg.plugins[plugin].version if plugin in reg.plugins else "unknown",
    )
    trainer = Trainer(
        out, data, model_cfg, cfg, run_info, resume=ckpt, stop_after=stop_after, quiet=quiet
    )
    n_params = sum(p.numel() for p in trainer.model.parameters())
    info(
        f"seqgen: {n_params / 1e6:.2f}M parameters, {trainer.device.type} {trainer.precision}, "
        f"batch {trainer.B}x{trainer.T}, run directory {out}"
    )
    summary = trainer.run()
    last = summary["last"]
    if summary["interrupted"]:
        info(
            f"seqgen: interrupted at step {summary['step']}; checkpoint saved. "
            f"Continue with: seqgen train --resume {out}"
        )
        raise typer.Exit(130)
    if "val_nats_per_token" in last:
        info(
            f"seqgen: step {summary['step']}, {summary['train_time']:.0f} s: "
            f"val {last['val_nats_per_token']:.4f} nats/token = "
            f"{last['val_bits_per_unit']:.4f} bits/{last['unit']}"
            + (" (stopped early)" if summary["stopped_early"] else "")
        )
    info(f"seqgen: saved {out / checkpoint.LATEST}; try: seqgen generate {out}")
