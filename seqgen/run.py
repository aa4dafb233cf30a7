"""Start or resume a training run: the one place the CLI, the benches and the Python API turn
a domain, a corpus and options into a prepared dataset, a model and a :class:`Trainer`.

    run = start("char", "input.txt", out="runs/x", train={"max_time": 60})
    summary = run.train()
    run = resume("runs/x", train={"max_time": 120})
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen import checkpoint, models, registry
from seqgen.batcher import StreamBatcher, plan
from seqgen.checkpoint import Checkpoint
from seqgen.config import RunInfo, TrainConfig
from seqgen.data import Dataset
from seqgen.distributed import SINGLE, World
from seqgen.errors import CheckpointError, SeqgenError
from seqgen.labels import LabelSpec
from seqgen.rundir import claim_new, claimed
from seqgen.runplan import check_logits, model_config, plan_start, train_options
from seqgen.sizing import BUDGET_TRAIN
from seqgen.trainer import Callback, Trainer

Note = Callable[[str], None]


def stderr_note(msg: str) -> None:
    print(f"seqgen: {msg}", file=sys.stderr)


@dataclass
class Run:
    dir: Path
    trainer: Trainer
    data: Dataset
    resumed: bool = False
    lock: Any = None  # held on the run directory (by rank 0) until training ends
    world: World = field(default_factory=lambda: SINGLE)

    def train(self, stop_after: int | None = None) -> dict:
        """Train until the plan ends (or ``stop_after`` steps of this session); the summary."""
        from seqgen.distributed import close

        try:
            summary = self.trainer.run(stop_after=stop_after)
        finally:
            if self.lock is not None:
                self.lock.release()
        self.trainer.loss_of = self.trainer.model.loss  # DistributedDataParallel goes first
        close(self.world)  # only after a clean end: with a peer gone, exiting is the way out
        return summary


def start(
    domain: str,
    corpus: str | Path | None = None,
    out: str | Path | None = None,
    options: dict[str, str] | None = None,
    arch: str = "lstm",
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    quiet: bool = True,
    note: Note = stderr_note,
    labels: LabelSpec | None = None,
) -> Run:
    """A new run of ``domain`` on ``corpus`` into ``out``. ``options`` are the domain's
    ``-o`` options (text), ``model`` the architecture's config fields, ``train`` the
    :class:`TrainConfig` fields the user chose (the rest are defaults, or budget sizing).
    ``labels`` says where documents get control labels (seqgen.labels); none by default."""

    note = note if _rank_from_env() == 0 else _silent  # rank 0 speaks for all
    labels = absolute(labels or LabelSpec()).check()
    checked = plan_start(domain, corpus, options, arch, model, train, note)
    reg, tok_cls, settings, corpus, model, train, fields_of_arch, sized_model = checked
    cfg = TrainConfig(**train).check()
    world = join(cfg)
    note, quiet = (note, quiet) if world.main else (_silent, True)
    out = Path(out) if out is not None else Path("runs") / f"{domain}-{_stamp(world)}"
    with contextlib.ExitStack() as stack:
        lock = world.first(lambda: claim_new(stack, out), others=False)
        data, fingerprint = world.first(lambda: _prepare(tok_cls, corpus, settings, note, labels))
        fitted = _budget_fit(cfg, arch, sized_model, data, fields_of_arch, world, note)
        model.update({k: v for k, v in fitted.items() if k not in BUDGET_TRAIN})
        cfg = dataclasses.replace(cfg, **{k: v for k, v in fitted.items() if k in BUDGET_TRAIN})
        check_logits(cfg, model, vocab_of(data))
        model_cfg = model_config(arch, model, vocab_of(data), note)
        plugin = reg.domain_plugin.get(domain, "?")
        version = reg.plugins[plugin].version if plugin in reg.plugins else "unknown"
        info = RunInfo(domain, corpus, settings, plugin, version, arch, fingerprint)
        if labels.enabled:
            info.labels = labels.to_dict()
        trainer = _trainer(out, data, model_cfg, cfg, info, None, quiet, note, world)
    return Run(out, trainer, data, lock=lock, world=world)


def _budget_fit(cfg: TrainConfig, arch, sized, data, fields, world: World, note) -> dict:
    """Width, learning rate and dropout of a budget-sized run, once its corpus is read
    (seqgen.sizing.budget_fit); the training rate of each width is measured here, in one
    process (with several, the width stays at the smallest and the rate is assumed)."""
    from seqgen.hardware import pick_precision, pick_threads
    from seqgen.sizing import budget_fit, measure_rate

    if not sized:
        return {}
    torch.set_num_threads(pick_threads(cfg.threads, world.local_size))
    precision = pick_precision(cfg.precision, torch.device("cpu"))
    vocab = vocab_of(data)

    def rate_of(values: dict, batch: int) -> float | None:
        if world.size > 1:
            return None
        return measure_rate(arch, values, vocab, batch, cfg.seq_len, precision)

    return budget_fit(cfg.max_time, sized, data, arch, fields, rate_of, note)


def vocab_of(data: Dataset) -> int:
    """The model's vocabulary: the tokenizer's, then the control ids of the labels."""
    return data.tokenizer.vocab_size + data.labels.size


def absolute(spec: LabelSpec) -> LabelSpec:
    """The spec with its sidecar file made absolute (a resume finds it from any folder)."""
    if spec.sidecar is None:
        return spec
    return dataclasses.replace(spec, sidecar=os.path.abspath(os.path.expanduser(spec.sidecar)))


def _rank_from_env() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def join(cfg: TrainConfig) -> World:
    """The processes of this run: one, or those torchrun started (``seqgen.distributed``)."""
    from seqgen import distributed
    from seqgen.hardware import pick_device

    return distributed.init(pick_device(cfg.device))


def _stamp(world: World) -> str:
    """The time stamp of a run directory, rank 0's on every rank."""
    stamp = [time.strftime("%Y%m%d-%H%M%S")]
    if world.size > 1:
        torch.distributed.broadcast_object_list(stamp, src=0)
    return stamp[0]


def _silent(msg: str) -> None:
    pass


def resume(
    run_dir: str | Path,
    corpus: str | None = None,
    train: dict[str, Any] | None = None,
    quiet: bool = True,
    note: Note = stderr_note,
    domain: str | None = None,
) -> Run:
    """Continue the run in ``run_dir`` from its latest checkpoint. A new limit among ``train``
    (max_time, max_steps, epochs) replaces the old plan; other ``train`` values override."""
    run_dir = Path(run_dir)
    if _rank_from_env():
        note = _silent
    latest = _latest(run_dir)
    stamp = latest.stat().st_mtime_ns
    ckpt = checkpoint.load(latest)
    cfg = _resumed_config(ckpt, train)
    world = join(cfg)
    note, quiet = (note, quiet) if world.main else (_silent, True)
    with contextlib.ExitStack() as stack:
        lock = world.first(lambda: stack.enter_context(claimed(run_dir)), others=False)
        if world.main and latest.stat().st_mtime_ns != stamp:  # it ended meanwhile: reread
            ckpt = checkpoint.load(latest)
            cfg = _resumed_config(ckpt, train)
        job = _resume(run_dir, ckpt, cfg, corpus, quiet, note, domain, world)
        job.lock = lock
        return job


def check_resume(run_dir: str | Path, train: dict[str, Any] | None = None) -> None:
    """The checks of ``resume`` that need no corpus (``seqgen train --nproc`` makes them once)."""
    _resumed_config(checkpoint.load(_latest(Path(run_dir))), train)


def _latest(run_dir: Path) -> Path:
    latest = run_dir / checkpoint.LATEST
    if not latest.is_file():
        raise SeqgenError(f"--resume {run_dir}: no {checkpoint.LATEST} there to continue from")
    return latest


def _resumed_config(ckpt: Checkpoint, train: dict[str, Any] | None) -> TrainConfig:
    """The run's training config with the given values; a new limit (max_time, max_steps,
    epochs) replaces the old plan."""
    given = dict(train or {})
    unknown = sorted(set(given) - train_options())
    if unknown:
        raise SeqgenError(f"unknown training option {unknown[0]!r}")
    values = ckpt.train_config.to_dict()
    if any(k in given for k in ("max_time", "max_steps", "epochs")):
        values.update(max_time=None, max_steps=None, epochs=None)  # a new plan
    values.update(given)
    return TrainConfig(**values).check()


def _resume(run_dir: Path, ckpt, cfg, corpus, quiet: bool, note: Note, domain, world) -> Run:
    info = ckpt.run
    if domain and domain != info.domain:
        raise SeqgenError(f"--resume {run_dir}: that run is of domain {info.domain!r}")
    if ckpt.tokenizer.domain != info.domain:
        raise CheckpointError(f"{ckpt.path}: its tokenizer and its run disagree on the domain")
    reg = registry.load()
    tok_cls = reg.domain(info.domain)
    labels = LabelSpec.from_dict(info.labels)
    data, fingerprint = world.first(
        lambda: _prepare(tok_cls, corpus or info.corpus, info.settings, note, labels)
    )
    if corpus is None and info.fingerprint and fingerprint != info.fingerprint:
        raise SeqgenError(
            f"--resume {run_dir}: the corpus {info.corpus} has changed since the run started; "
            "give --corpus to continue on the new content (the run will not be exact)"
        )
    if data.tokenizer.get_state() != ckpt.tokenizer.state or (
        data.labels.to_data() != ckpt.tokenizer.labels
    ):
        raise SeqgenError(
            f"--resume {run_dir}: the corpus {corpus or info.corpus} no longer gives the run's "
            "vocabulary"
        )
    try:
        model_cfg = models.config_of(ckpt.arch, ckpt.model_config)
    except ValueError as e:
        raise CheckpointError(f"{ckpt.path}: the model config does not fit: {e}") from None
    trainer = _trainer(run_dir, data, model_cfg, cfg, info, ckpt, quiet, note, world)
    if ckpt.progress.world != world.size:
        note(
            f"this run was trained by {ckpt.progress.world} process(es) and continues on "
            f"{world.size}: the streams are re-sharded, so it will not be bit-exact"
        )
    return Run(run_dir, trainer, data, resumed=True, world=world)


def _prepare(tok_cls, corpus: str, settings: dict, note: Note, labels=None):
    from seqgen.corpus import resolve
    from seqgen.data import prepare

    t0 = time.perf_counter()
    spec = resolve(corpus, tok_cls.file_patterns, registry.load())
    data = prepare(tok_cls, spec, settings=settings, labels=labels)
    splits = ", ".join(f"{k} {v['tokens']:,}" for k, v in data.meta["splits"].items())
    skipped = len(data.meta.get("skipped", {}))
    table = data.labels.known()
    note(
        f"{spec.name}: {data.tokenizer.vocab_size:,} token types; tokens: {splits}"
        + (f"; skipped {skipped} file(s)" if skipped else "")
        + (f"; labels: {', '.join(f'{k} ({len(v)})' for k, v in table.items())}" if table else "")
        + f" ({time.perf_counter() - t0:.1f} s)"
    )
    return data, spec.fingerprint


def _trainer(
    out: Path,
    data: Dataset,
    model_cfg: Any,
    cfg: TrainConfig,
    info: RunInfo,
    ckpt: Checkpoint | None,
    quiet: bool,
    note: Note,
    world: World = SINGLE,
    callbacks: list[Callback] | None = None,
) -> Trainer:
    from seqgen.distributed import device_of
    from seqgen.hardware import pick_device, pick_precision, pick_threads
    from seqgen.optim import make_optimizer, sparse_embedding

    torch.set_num_threads(pick_threads(cfg.threads, world.local_size))
    device = device_of(pick_device(cfg.device), world)
    precision = pick_precision(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    model = models.build(info.arch, model_cfg)
    if world.rank:  # the same weights on every rank, but each its own dropout
        torch.manual_seed(cfg.seed + 1_000_003 * world.rank)
    _init_embeddings(model, data.tokenizer, vectors=ckpt is None)
    model.to(device)
    sparse_embedding(model, cfg.optimizer if world.size == 1 else "dense")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)
    train_ids = data.tokens("train")
    if ckpt is None:
        model.start_from_counts(np.bincount(train_ids, minlength=model_cfg.vocab_size))
    layout = plan(len(train_ids), cfg.batch_size, cfg.seq_len, world.size)
    if layout.shrunk:
        note(f"corpus is small: using --batch-size {layout.batch_size} --seq-len {layout.seq_len}")
    elif layout.batch_size != cfg.batch_size:
        note(f"using --batch-size {layout.batch_size}: a multiple of the {world.size} processes")
    batcher = StreamBatcher(train_ids, layout, world.rank, world.size)
    if callbacks is None:
        callbacks = default_callbacks(out, cfg, quiet) if world.main else []
    trainer = Trainer(model, opt, data, batcher, cfg, info, device, precision, callbacks, world)
    if ckpt is not None:
        trainer.restore(ckpt)
    return trainer


def default_callbacks(out: Path, cfg: TrainConfig, quiet: bool) -> list[Callback]:
    from seqgen.callbacks import Checkpointer, LossPlot, MetricsLog, ProgressBar, Samples

    samples = Samples(0 if quiet else cfg.sample_length)
    return [MetricsLog(out), samples, Checkpointer(out), LossPlot(out), ProgressBar(quiet, samples)]


def _init_embeddings(model, tok, vectors: bool) -> None:
    """Copy the domain's pretrained vectors (if any) into the input embedding; freeze it if
    the domain says so."""
    embed = model.input_embeddings()
    if embed is None:  # an architecture without one: nothing to copy vectors into
        if tok.freeze_embeddings:
            raise SeqgenError(f"--arch {model.arch} has no input embedding to freeze")
        return
    given = tok.pretrained_embeddings(embed.embedding_dim) if vectors else None
    if given is not None:
        given = np.asarray(given, dtype=np.float32)
        extra = embed.num_embeddings - tok.vocab_size  # control ids: random, like NaN rows
        if extra > 0 and given.shape[0] == tok.vocab_size:
            given = np.concatenate([given, np.full((extra, given.shape[1]), np.nan, np.float32)])
        given = torch.as_tensor(given)
        if given.shape != embed.weight.shape:
            raise SeqgenError(
                f"pretrained embeddings have shape {tuple(given.shape)}, "
                f"the model needs {tuple(embed.weight.shape)} (--embedding-size)"
            )
        rows = ~torch.isnan(given).any(1)
        with torch.no_grad():
            embed.weight[rows] = given[rows]
    if tok.freeze_embeddings:
        embed.weight.requires_grad_(False)
