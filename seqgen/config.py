"""Typed configuration of a run: how to train (TrainConfig) and where the data came from
(RunInfo). The CLI, the Python API and the benches build these; the trainer and the checkpoint
read them; ``check`` refuses values no run can use, with one line naming the option."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from seqgen import limits
from seqgen.errors import SeqgenError

OPTIMIZERS = ("adamw", "rmsprop", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    batch_size: int = 32  # B parallel streams
    seq_len: int = 128  # T steps of backpropagation through time
    lr: float = 3e-3
    optimizer: str = "adamw"  # adamw | rmsprop | sgd
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05  # cosine decays to this fraction of lr
    clip: float = 1.0  # max gradient norm (0: none)
    max_steps: int | None = None  # the plan: whichever of these three ends first
    epochs: float | None = None
    max_time: float | None = None  # seconds of training, validation excluded
    eval_every: int | None = None  # steps; default: about 10 validations per run
    patience: int | None = 5  # validations without improvement before stopping
    precision: str = "auto"  # auto | fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda | mps (or cuda:N)
    seed: int = 1337
    sample_length: int = 200  # tokens of the sample shown at each validation
    val_tokens: int | None = 500_000  # periodic validation reads at most this many (eval: all)
    cache: bool = False  # fit the document cache (seqgen.doccache) on validation at each one
    ema: float = 0.0  # decay of the weights' moving average (seqgen.average); 0: none
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> TrainConfig:
        """SeqgenError naming the first option no run can use; the config itself otherwise."""
        positive = ("batch_size", "seq_len", "max_steps", "eval_every", "val_tokens", "threads")
        for name in positive:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SeqgenError(f"{_flag(name)} {value}: must be at least 1")
        if self.threads is not None:  # a hundred thousand OpenMP threads crash the process
            limits.check("threads", self.threads, "--threads")
        for name in ("epochs", "max_time"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise SeqgenError(f"{_flag(name)} {value}: give a positive number")
        for name in ("lr", "weight_decay", "clip"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SeqgenError(f"{_flag(name)} {value}: give a number of 0 or more")
        if not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0 or self.sample_length < 0:
            raise SeqgenError("the schedule's warmup, floor or sample length is out of range")
        if not (math.isfinite(self.ema) and 0 <= self.ema < 1):
            raise SeqgenError(f"--ema {self.ema}: give a decay from 0 (none) up to (not) 1")
        if self.patience is not None and self.patience < 0:
            raise SeqgenError(f"--patience {self.patience}: give 0 (never stop) or more")
        if not 0 <= self.seed < 2**63:
            raise SeqgenError(f"--seed {self.seed}: give a whole number from 0 to 2^63-1")
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("precision", PRECISIONS),
        ):
            if getattr(self, name) not in allowed:
                choices = ", ".join(allowed)
                raise SeqgenError(f"{_flag(name)} {getattr(self, name)}: choose {choices}")
        if self.device.split(":")[0] not in DEVICES:
            raise SeqgenError(f"--device {self.device}: choose {', '.join(DEVICES)}")
        return self


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass
class RunInfo:
    """What the run needs to find its data again on --resume, and what it is."""

    domain: str
    corpus: str
    settings: dict[str, Any]
    plugin: str
    plugin_version: str
    arch: str = "lstm"
    fingerprint: str = ""  # the corpus's content when the run started (corpus.fingerprint)
    labels: dict[str, Any] = field(default_factory=dict)  # seqgen.labels.LabelSpec as data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
