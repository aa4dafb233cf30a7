"""`seqgen train`'s options, declared once: typer reads each from its annotation, so the
command's signature is one line per option."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqgen.sizing import BUDGET_HELP, BUDGET_SECONDS

MODEL = "Model"
TRAINING = "Training"
LIMITS = "When to stop"
HARDWARE = "Hardware"


def sized(name: str, standard: float) -> str:
    """The help's default for an option that budget sizing (seqgen.sizing) may choose."""
    return f"[default: {standard:g}; sized for --max-time: {BUDGET_HELP[name]}]"


# The options, declared once (typer reads them from the annotations).
Domain = Annotated[
    str | None,
    typer.Option(
        "--domain",
        "-d",
        metavar="NAME",
        help="Domain (see `seqgen domains`); required unless --resume.",
    ),
]
Corpus = Annotated[
    str | None,
    typer.Option(
        "--corpus",
        "-c",
        metavar="CORPUS",
        help="File, directory, glob or registered corpus name (see `seqgen corpora`). "
        "[default: the domain's built-in corpus, if it has one]",
    ),
]
DomainOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="A domain option (repeatable; see `seqgen domains NAME`).",
    ),
]
LabelsFromFolders = Annotated[
    str | None,
    typer.Option(
        "--labels-from-folders",
        metavar="KEY",
        help="Label each file KEY=its first-level folder under the corpus "
        "(corpus/hikmet/*.txt: author=hikmet with KEY author); docs/labels.md.",
    ),
]
LabelFile = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        metavar="FILE",
        help="A .csv (a 'file' column, then one column per label) or .jsonl of file -> labels, "
        "files relative to the corpus folder; wins over folders and --domain-labels.",
    ),
]
DomainLabels = Annotated[
    bool | None,
    typer.Option(
        "--domain-labels/--no-domain-labels",
        help="Label each document with what the domain derives itself (music: key, mode, "
        "metre, tempo, density; markup: namespace). [default: no-domain-labels]",
    ),
]
SectionLabels = Annotated[
    bool | None,
    typer.Option(
        "--section-labels/--no-section-labels",
        help="Label each section of a document too, where the domain has sections (music: "
        "each bar's key and density), so that generation holds a --label asked for all the "
        "way through. [default: no-section-labels]",
    ),
]
Out = Annotated[
    Path | None, typer.Option("--out", help="Run directory. [default: runs/DOMAIN-TIMESTAMP]")
]
Resume = Annotated[
    Path | None,
    typer.Option("--resume", help="Continue the run in this directory exactly where it stopped."),
]
Arch = Annotated[
    str | None,
    typer.Option(
        "--arch",
        help="Model architecture; plugins can add others (see `seqgen plugins`). [default: lstm]",
        rich_help_panel=MODEL,
    ),
]
HiddenSize = Annotated[
    int | None,
    typer.Option(help=f"LSTM units per layer. {sized('hidden_size', 512)}", rich_help_panel=MODEL),
]
NumLayers = Annotated[
    int | None, typer.Option(help="LSTM layers. [default: 2]", rich_help_panel=MODEL)
]
EmbeddingSize = Annotated[
    int | None,
    typer.Option(help=f"Token vector size. {sized('embedding_size', 256)}", rich_help_panel=MODEL),
]
Dropout = Annotated[
    float | None,
    typer.Option(
        help="Share of units dropped in training (on embeddings, between layers, before the "
        f"output). {sized('dropout', 0.1)}",
        rich_help_panel=MODEL,
    ),
]
WeightDrop = Annotated[
    float | None,
    typer.Option(
        help="Share of the recurrent weights dropped at each training step (DropConnect, as in "
        "AWD-LSTM; docs/training.md). [default: 0]",
        rich_help_panel=MODEL,
    ),
]
TieWeights = Annotated[
    bool | None,
    typer.Option(
        "--tie-weights/--no-tie-weights",
        help="Share input and output embeddings (with --adaptive-softmax: the head's "
        "frequent tokens). [default: no-tie-weights]",
        rich_help_panel=MODEL,
    ),
]
AdaptiveSoftmax = Annotated[
    str | None,
    typer.Option(
        help="Adaptive softmax for a large vocabulary: frequency-rank cutoffs, e.g. 2000,10000 "
        "(the 2,000 most frequent tokens in the head, the rest in two cheaper clusters). "
        "[default: a full softmax]",
        rich_help_panel=MODEL,
    ),
]
AdaptiveDiv = Annotated[
    float | None,
    typer.Option(
        help="How much narrower each adaptive-softmax tail is than the one before; "
        "2 gives rare tokens wider vectors at little cost. [default: 4]",
        rich_help_panel=MODEL,
    ),
]
Cache = Annotated[
    bool | None,
    typer.Option(
        "--cache/--no-cache",
        help="Fit a document cache on the validation split: it proposes what followed the "
        "last time the recent tokens occurred in the document (repeated phrases, names); "
        "`seqgen eval` and `generate` then mix it in. [default: no-cache]",
        rich_help_panel=MODEL,
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(help=f"Parallel streams. {sized('batch_size', 32)}", rich_help_panel=TRAINING),
]
SeqLen = Annotated[
    int | None,
    typer.Option(
        help=f"Backpropagation window in tokens. {sized('seq_len', 128)}", rich_help_panel=TRAINING
    ),
]
Lr = Annotated[
    float | None,
    typer.Option(help=f"Peak learning rate. {sized('lr', 3e-3)}", rich_help_panel=TRAINING),
]
Optimizer = Annotated[
    str | None,
    typer.Option(help="adamw, rmsprop or sgd. [default: adamw]", rich_help_panel=TRAINING),
]
Clip = Annotated[
    float | None,
    typer.Option(
        help="Largest gradient norm; larger gradients are scaled down. [default: 1.0]",
        rich_help_panel=TRAINING,
    ),
]
WeightDecay = Annotated[
    float | None,
    typer.Option(
        help="AdamW weight decay; sgd and rmsprop use none. [default: 0.01]",
        rich_help_panel=TRAINING,
    ),
]
Ema = Annotated[
    float | None,
    typer.Option(
        help="Keep a moving average of the weights with this decay per step (e.g. 0.999: about "
        "the last 1,000 steps); validation, best.pt, generate and eval use it. 0: none. "
        "[default: 0]",
        rich_help_panel=TRAINING,
    ),
]
Seed = Annotated[
    int | None, typer.Option(help="Random seed. [default: 1337]", rich_help_panel=TRAINING)
]
Patience = Annotated[
    int | None,
    typer.Option(
        help="Stop after this many validations without improvement; 0: never. [default: 5]",
        rich_help_panel=LIMITS,
    ),
]
MaxTime = Annotated[
    float | None,
    typer.Option(
        help=f"Seconds of training (validation not counted). Up to {BUDGET_SECONDS} s on a "
        "CPU, the options whose default says 'sized for --max-time' are chosen for the "
        "budget unless you set one of them. [default: no limit]",
        rich_help_panel=LIMITS,
    ),
]
MaxSteps = Annotated[
    int | None, typer.Option(help="Optimizer steps. [default: no limit]", rich_help_panel=LIMITS)
]
Epochs = Annotated[
    float | None,
    typer.Option(
        help="Passes over the training split. [default: no limit]", rich_help_panel=LIMITS
    ),
]
EvalEvery = Annotated[
    int | None,
    typer.Option(
        help="Validate every N steps. [default: about 10 times a run]", rich_help_panel=LIMITS
    ),
]
ValTokens = Annotated[
    int | None,
    typer.Option(
        help="Periodic validation reads at most this many tokens of the split; "
        "`seqgen eval` always reads all. [default: 500000]",
        rich_help_panel=LIMITS,
    ),
]
StopAfter = Annotated[
    int | None,
    typer.Option(
        help="Stop after N steps in this session, keeping the planned schedule; "
        "continue later with --resume.",
        rich_help_panel=LIMITS,
    ),
]
Precision = Annotated[
    str | None,
    typer.Option(
        help="auto, fp32 or bf16. [default: auto, bf16 where the hardware has it]",
        rich_help_panel=HARDWARE,
    ),
]
Device = Annotated[
    str | None,
    typer.Option(
        help="auto, cpu, cuda or mps (or cuda:N). [default: auto, CUDA, then MPS, then the CPU]",
        rich_help_panel=HARDWARE,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        help="CPU threads per process. [default: the cores this process may use, less those "
        "other programs keep busy]",
        rich_help_panel=HARDWARE,
    ),
]
Nproc = Annotated[
    int | None,
    typer.Option(
        help="Train with N processes on this machine (data parallel, through torchrun; "
        "docs/scaling.md). [default: 1]",
        rich_help_panel=HARDWARE,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or samples.")]

MODEL_FIELDS = (
    "hidden_size", "num_layers", "embedding_size", "dropout", "weight_drop", "tie_weights",
    "adaptive_div",
)  # fmt: skip
TRAIN_FIELDS = (
    "batch_size", "seq_len", "lr", "optimizer", "clip", "weight_decay", "ema", "seed", "patience",
    "max_time", "max_steps", "epochs", "eval_every", "val_tokens", "cache", "precision",
    "device", "threads",
)  # fmt: skip
