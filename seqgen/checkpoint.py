"""Self-contained checkpoints: weights, optimizer, schedule, RNG, configs, tokenizer and versions.

Written atomically (temp file + rename). Read with ``torch.load(weights_only=True)``, which only
rebuilds tensors and plain containers: a file crafted to run code on load is refused.
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

import seqgen
from seqgen.errors import CheckpointError
from seqgen.io import atomic_path

FORMAT = "seqgen-checkpoint"
VERSION = 1
LATEST, BEST = "checkpoint.pt", "best.pt"


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint. ``payload['tokenizer']['state']`` must be JSON-safe."""
    payload = dict(payload)
    payload["format"] = FORMAT
    payload["format_version"] = VERSION
    payload["versions"] = {"seqgen": seqgen.__version__, "torch": str(torch.__version__)}
    tok = dict(payload["tokenizer"])
    tok["state"] = json.dumps(tok["state"])  # plain text: nothing in it can execute
    payload["tokenizer"] = tok
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


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
    return target


def load(target: str | Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, refusing anything but tensors and plain data."""
    path = find(target)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f"it imports {found.group(1)}" if found else "it holds objects beyond plain data"
        raise CheckpointError(
            f"{path}: refused to load: {what}, which could run code; "
            "seqgen checkpoints hold only tensors and plain data"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        detail = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({detail})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqgen checkpoint")
    if ckpt.get("format_version", 0) > VERSION:
        raise CheckpointError(
            f"{path}: written by a newer seqgen ({ckpt['versions']['seqgen']}); upgrade seqgen"
        )
    try:
        ckpt["tokenizer"]["state"] = json.loads(ckpt["tokenizer"]["state"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: tokenizer state is missing or corrupt") from None
    ckpt["path"] = str(path)
    return ckpt


def build(ckpt: dict[str, Any]):
    """Rebuild (model, tokenizer) from a loaded checkpoint, in eval mode on the CPU."""
    from seqgen import registry
    from seqgen.model import LSTMLanguageModel, ModelConfig

    reg = registry.load()
    info = ckpt["tokenizer"]
    if info["domain"] not in reg.domains:
        raise CheckpointError(
            f"{ckpt['path']}: needs domain {info['domain']!r} from plugin {info.get('plugin')!r} "
            f"{info.get('plugin_version', '')}, which is not installed"
        )
    tok = reg.domains[info["domain"]].from_state(info["state"])
    model = LSTMLanguageModel(ModelConfig(**ckpt["model_config"]))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt['path']}: weights do not match the config ({e})") from None
    model.eval()
    return model, tok


def cache_of(ckpt: dict[str, Any]):
    """The document cache fitted for a run trained with --cache (else None)."""
    from seqgen.doccache import CacheWeights

    found = ckpt.get("cache")
    if not found:
        return None
    try:
        return CacheWeights.from_dict(found)
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{ckpt['path']}: the document cache's weights are corrupt") from None
