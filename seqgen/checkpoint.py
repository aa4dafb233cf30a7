"""Self-contained checkpoints: weights, optimizer, progress, RNG, configs, tokenizer, versions.

One typed record, :class:`Checkpoint`, is the only thing the rest of seqgen reads or writes;
this module turns it into a file and back and validates every field in one place. Files are
written atomically (temp file + rename) and read with ``torch.load(weights_only=True)``, which
only rebuilds tensors and plain containers: a file crafted to run code on load is refused.
The tokenizer state is stored as JSON text, so nothing in it can execute either.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import seqgen
from seqgen.config import RunInfo, TrainConfig
from seqgen.doccache import CacheWeights
from seqgen.errors import CheckpointError, SeqgenError
from seqgen.io import atomic_path, not_a_file
from seqgen.typed import from_dict

FORMAT = "seqgen-checkpoint"
VERSION = 2  # 1: before architectures (an LSTM, progress at the top level); still loads
LATEST, BEST = "checkpoint.pt", "best.pt"


@dataclass
class TokenizerInfo:
    domain: str
    plugin: str
    plugin_version: str
    state: dict[str, Any]
    labels: list[list[str]] = field(default_factory=list)  # control id vocab_size+k: pair k


@dataclass
class Progress:
    step: int = 0
    train_time: float = 0.0  # seconds of training so far (validation excluded)
    best_val: float = math.inf  # best validation nats/token
    evals_since_best: int = 0
    world: int = 1  # processes that trained it (a resume on another number is not exact)


@dataclass
class Checkpoint:
    arch: str
    model_config: dict[str, Any]  # the architecture's config as plain data
    model: dict[str, torch.Tensor]  # the weights it is scored with (with --ema, the average)
    tokenizer: TokenizerInfo
    run: RunInfo
    train_config: TrainConfig
    progress: Progress = field(default_factory=Progress)
    optimizer: dict[str, Any] | None = None
    stream_state: list[torch.Tensor] | None = None  # the model's opaque training state
    rng: dict[str, Any] | None = None
    cache: CacheWeights | None = None  # the document cache, for runs trained with --cache
    data: dict[str, Any] = field(default_factory=dict)  # split sizes and the unit
    versions: dict[str, str] = field(default_factory=dict)
    # with --ema: the weights training goes on from (``model`` is then their average)
    training_weights: dict[str, torch.Tensor] | None = None
    path: str = ""  # where it was loaded from (not saved)


def pack_state(state: dict) -> str:
    """A tokenizer state as stored: JSON text."""
    return json.dumps(state)


def unpack_state(text: Any) -> dict:
    """The tokenizer state from its stored JSON text (ValueError if it is not a JSON object)."""
    if not isinstance(text, str):
        raise ValueError("the tokenizer state is not text")
    state = json.loads(text)
    if not isinstance(state, dict):
        raise ValueError("the tokenizer state is not a JSON object")
    return state


def save(path: Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically (the old file stays whole until the rename)."""
    payload = {
        "format": FORMAT,
        "format_version": VERSION,
        "versions": {"seqgen": seqgen.__version__, "torch": str(torch.__version__)},
        "arch": ckpt.arch,
        "model_config": ckpt.model_config,
        "model": _on_cpu(ckpt.model),
        "tokenizer": {**asdict(ckpt.tokenizer), "state": pack_state(ckpt.tokenizer.state)},
        "run": ckpt.run.to_dict(),
        "train_config": ckpt.train_config.to_dict(),
        "progress": asdict(ckpt.progress),
        "optimizer": ckpt.optimizer,
        "stream_state": [t.detach().cpu() for t in ckpt.stream_state]
        if ckpt.stream_state is not None
        else None,
        "rng": ckpt.rng,
        "cache": ckpt.cache.to_dict() if ckpt.cache is not None else None,
        "data": ckpt.data,
    }
    if ckpt.training_weights is not None:  # a run without --ema writes what it always wrote
        payload["training_weights"] = _on_cpu(ckpt.training_weights)
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as e:  # torch's zip writer reports a short write (a full disk)
            if "inline_container" not in str(e) and "write" not in str(e).lower():
                raise
            free = shutil.disk_usage(tmp.parent).free
            raise SeqgenError(
                f"{path}: the checkpoint could not be written whole ({free:,} bytes free on "
                "its disk); any earlier checkpoint there is kept"
            ) from None


def find(target: str | Path) -> Path:
    """A checkpoint file, or the best (else latest) checkpoint of a run directory."""
    target = Path(target)
    if target.is_dir():
        for name in (BEST, LATEST):
            if (target / name).is_file():
                return target / name
        raise CheckpointError(f"{target}: no {BEST} or {LATEST} in this run directory")
    if not target.exists():
        raise CheckpointError(f"{target}: no such checkpoint or run directory")
    if not target.is_file():  # /dev/zero, a FIFO: endless or one-shot reads
        raise CheckpointError(f"{target}: {not_a_file(target)}, so not a checkpoint")
    return target


def load(target: str | Path) -> Checkpoint:
    """Load and validate a checkpoint onto the CPU, refusing anything but tensors and data."""
    path = find(target)
    raw = _read(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqgen checkpoint")
    version = raw.get("format_version", 0)
    if not isinstance(version, int) or version > VERSION:
        written = raw.get("versions", {}).get("seqgen", "?") if isinstance(raw, dict) else "?"
        raise CheckpointError(f"{path}: written by a newer seqgen ({written}); upgrade seqgen")
    if version < 2:
        raw = _upgrade_v1(raw)
    try:
        ckpt = _parse(raw)
    except (ValueError, TypeError, KeyError, RecursionError, AttributeError) as e:
        raise CheckpointError(f"{path}: corrupt or tampered checkpoint ({_one_line(e)})") from None
    ckpt.path = str(path)
    return ckpt


def _read(path: Path) -> Any:
    # torch.save writes a zip archive; the older pickle-only format (and anything else) is
    # refused before torch's legacy reader, which trusts the sizes a file declares
    try:
        whole = zipfile.is_zipfile(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if not whole:
        raise CheckpointError(
            f"{path}: not a seqgen checkpoint, or a truncated one (not a whole zip archive)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f"it imports {found.group(1)}" if found else "it holds objects beyond plain data"
        raise CheckpointError(
            f"{path}: refused to load: {what}, which could run code; "
            "seqgen checkpoints hold only tensors and plain data"
        ) from None
    except Exception as e:  # a damaged archive fails in many ways; the reader runs no code
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__


def _upgrade_v1(raw: dict) -> dict:
    """A checkpoint written before architectures were pluggable: always an LSTM."""
    raw = dict(raw)
    raw["arch"] = "lstm"
    raw["progress"] = {
        "step": raw.pop("step", 0),
        "train_time": raw.pop("train_time", 0.0),
        "best_val": raw.pop("best_val", math.inf),
        "evals_since_best": raw.pop("evals_since_best", 0),
    }
    if isinstance(raw.get("stream_state"), tuple):
        raw["stream_state"] = list(raw["stream_state"])
    return raw


def _parse(raw: dict) -> Checkpoint:
    """Every field checked for type (shapes and values are checked against the architecture by
    ``seqgen.models.restore``); ValueError names the first that does not fit."""
    weights = _weights(raw["model"], "the weights")
    training = raw.get("training_weights")
    if training is not None:
        training = _weights(training, "the training weights")
        if set(training) != set(weights):
            raise ValueError("the training weights do not name the same tensors as the weights")
    state = raw.get("stream_state")
    if state is not None and not (
        isinstance(state, list | tuple) and all(isinstance(t, torch.Tensor) for t in state)
    ):
        raise ValueError("the stream state is not a list of tensors")
    tok = dict(raw["tokenizer"])
    tok["state"] = unpack_state(tok.get("state"))
    tok.setdefault("plugin", "?")
    tok.setdefault("plugin_version", "")
    for key in ("optimizer", "rng"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise ValueError(f"{key} is not a mapping")
    cache = raw.get("cache")
    if any(not isinstance(p, list | tuple) or len(p) != 2 for p in tok.get("labels", [])):
        raise ValueError("the label table is not a list of (key, value) pairs")
    return Checkpoint(
        arch=from_dict(_Arch, {"arch": raw["arch"]}).arch,
        model_config=_mapping(raw["model_config"], "model_config"),
        model=weights,
        tokenizer=from_dict(TokenizerInfo, tok),
        run=from_dict(RunInfo, raw["run"]),
        train_config=from_dict(TrainConfig, raw["train_config"]),
        progress=from_dict(Progress, raw.get("progress", {})),
        optimizer=raw.get("optimizer"),
        stream_state=list(state) if state is not None else None,
        rng=raw.get("rng"),
        cache=_cache(cache) if cache else None,
        data=_mapping(raw.get("data", {}), "data"),
        versions=_mapping(raw.get("versions", {}), "versions"),
        training_weights=training,
    )


def _on_cpu(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in weights.items()}


def _weights(weights: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise ValueError(f"{what} are not a mapping of names to tensors")
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"weight {name} holds NaN or infinite values")
    return weights


@dataclass
class _Arch:
    arch: str


def _mapping(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not a mapping")
    return value


def _cache(value: Any) -> CacheWeights:
    try:
        return CacheWeights.from_dict(value)
    except (KeyError, TypeError, ValueError):
        raise ValueError("the document cache's weights are corrupt") from None


def build(ckpt: Checkpoint):
    """Rebuild (model, tokenizer) from a loaded checkpoint, in eval mode on the CPU."""
    from seqgen import models, registry

    reg = registry.load()
    info = ckpt.tokenizer
    if info.domain not in reg.domains:
        raise CheckpointError(
            f"{ckpt.path}: needs domain {info.domain!r} from plugin {info.plugin!r} "
            f"{info.plugin_version}, which is not installed"
        )
    try:
        tok = reg.domains[info.domain].from_state(info.state)
    except Exception as e:  # a tampered state must not surface as a plugin's traceback
        raise CheckpointError(f"{ckpt.path}: the tokenizer state is corrupt ({e})") from None
    model = models.restore(ckpt.arch, ckpt.model_config, ckpt.model, where=ckpt.path)
    controls = len(info.labels)
    if tok.vocab_size + controls != model.config.vocab_size:
        raise CheckpointError(
            f"{ckpt.path}: the tokenizer has {tok.vocab_size} token types"
            + (f" and the run {controls} control labels" if controls else "")
            + f", the model {model.config.vocab_size}"
        )
    model.eval()
    return model, tok


def label_table(ckpt: Checkpoint, tok):
    """The run's control labels (seqgen.labels.LabelTable; empty for a run without)."""
    from seqgen.labels import LabelTable

    return LabelTable(tok.vocab_size, [tuple(p) for p in ckpt.tokenizer.labels])
