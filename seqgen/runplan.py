"""What a run will be, checked before any data is read: the options of the domain, the
architecture and the training, the model's size and the budget sizing. ``run.start`` calls
it, and ``seqgen train --nproc`` calls it once before it starts any process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from seqgen import models, registry
from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError

Note = Callable[[str], None]


def _ignore(msg: str) -> None:
    pass


def train_options() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def plan_start(domain, corpus, options, arch, model, train, note: Note = _ignore) -> tuple:
    """Every check of a new run's options that needs no corpus (so ``seqgen train --nproc``
    can make them once, before it starts any process), and the budget sizing."""
    from seqgen.sizing import budget_defaults

    reg = registry.load()
    tok_cls = reg.domain(domain)
    reg.architecture(arch)
    settings = tok_cls.parse_options({k: str(v) for k, v in (options or {}).items()})
    corpus = str(corpus) if corpus is not None else tok_cls.default_corpus
    if not corpus:
        raise SeqgenError(f"--corpus is required: domain {domain!r} has no built-in corpus")
    from seqgen.corpus import canonical

    corpus = canonical(corpus, reg)
    model, train = dict(model or {}), dict(train or {})
    unknown = sorted(set(train) - train_options())
    if unknown:
        raise SeqgenError(f"unknown training option {unknown[0]!r}")
    _check_hardware(TrainConfig(**train).check())  # before anything is read or printed
    fields_of_arch = [f.name for f in fields(reg.architecture(arch).config_class)]
    unknown = sorted(set(model) - set(fields_of_arch))
    if unknown:
        have = ", ".join(_flag(k) for k in fields_of_arch if k != "vocab_size")
        raise SeqgenError(f"--arch {arch} has no option {_flag(unknown[0])} (its options: {have})")
    sized_model, sized_train = budget_defaults(train.get("max_time"), train, model)
    sized_model = {k: v for k, v in sized_model.items() if k in fields_of_arch}
    model_config(arch, {**sized_model, **model}, None, note)  # sizes checked up front
    if sized_model or sized_train:
        chosen = {**sized_model, **sized_train}
        note(
            f"--max-time {train['max_time']:g}: sizing the model for the budget ("
            + " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in chosen.items())
            + "); set any of these to choose yourself"
        )
        model.update(sized_model)
        train.update(sized_train)
    return reg, tok_cls, settings, corpus, model, train, fields_of_arch, sized_model


def check_logits(cfg: TrainConfig, model: dict, vocab: int) -> None:
    """A full softmax holds batch x seq-len x vocabulary logits (and their gradients) per
    step; a corpus of a million distinct symbols must not make that tens of gigabytes."""
    from seqgen import limits

    if model.get("adaptive_cutoffs"):
        return
    size = cfg.batch_size * cfg.seq_len * vocab
    if size > limits.limit("logits"):
        raise SeqgenError(
            f"{vocab:,} token types x --batch-size {cfg.batch_size} x --seq-len {cfg.seq_len} "
            f"is {size:,} logits a step (over {limits.limit('logits'):,}): use "
            "--adaptive-softmax, a smaller batch, or raise SEQGEN_MAX_LOGITS"
        )


def _check_hardware(cfg: TrainConfig) -> None:
    from seqgen.hardware import pick_device, pick_precision

    pick_precision(cfg.precision, pick_device(cfg.device))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-").replace("adaptive-cutoffs", "adaptive-softmax")


def model_config(arch: str, given: dict, vocab: int | None, note: Note):
    """The architecture's typed config; with ``vocab`` None, only the given sizes are checked
    (before the corpus is read)."""
    if vocab is None:  # the smallest vocabulary these options allow
        least = max(given.get("adaptive_cutoffs") or [0]) + 1
        try:
            cfg = models.config_of(arch, {"vocab_size": least, **given})
        except ValueError as e:
            raise SeqgenError(str(e)) from None
        return _check_size(arch, cfg, "before the corpus is read")
    cutoffs = given.get("adaptive_cutoffs")
    if cutoffs and cutoffs[-1] >= vocab:
        raise SeqgenError(
            f"--adaptive-softmax {','.join(map(str, cutoffs))}: every cutoff must be below the "
            f"vocabulary size ({vocab:,} token types)"
        )
    if vocab >= 20_000 and not cutoffs and arch == "lstm":
        note(
            f"tip: with {vocab:,} token types the output layer is most of each step; "
            "--adaptive-softmax 2000,10000 makes it several times cheaper"
        )
    try:
        cfg = models.config_of(arch, {"vocab_size": vocab, **given})
    except ValueError as e:
        raise SeqgenError(str(e).replace("unknown field", f"--arch {arch} has no option")) from None
    return _check_size(arch, cfg, f"with {vocab:,} token types")


def _check_size(arch: str, cfg, when: str):
    """The config, unless its model has more weights than seqgen.limits allows."""
    from seqgen import limits

    try:
        n = models.count_parameters(arch, cfg)
    except (ValueError, TypeError) as e:
        raise SeqgenError(f"--arch {arch}: these sizes make no model ({e})") from None
    limits.check("parameters", n, f"--arch {arch} of these sizes, {when}: weights")
    return cfg
