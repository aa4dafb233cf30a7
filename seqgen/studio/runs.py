"""The runs the studio serves: found under the folders and run directories it was given, each
summed up from its metrics.jsonl and its best checkpoint (read once per change)."""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError

CHECKPOINTS = ("best.pt", "checkpoint.pt")
MAX_DEPTH = 3  # how deep under a given folder runs are looked for
MAX_RUNS = 500
MAX_CURVE = 400  # points of a loss curve sent to the page (thinned evenly)


def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in CHECKPOINTS)


def find_runs(targets: list[Path]) -> dict[str, Path]:
    """Run id (a short, URL-safe name) -> run directory, for every run at or under
    ``targets`` (run directories, or folders holding runs)."""
    found: list[Path] = []
    for target in targets:
        if not target.exists():
            raise SeqgenError(f"{target}: no such file or directory")
        if target.is_file():  # a checkpoint file: its run directory
            target = target.parent
        if is_run(target):
            found.append(target)
            continue
        if not target.is_dir():
            raise SeqgenError(f"{target}: not a run directory or a folder of runs")
        found += _walk(target, MAX_DEPTH)
    runs: dict[str, Path] = {}
    for path in found[:MAX_RUNS]:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip("-") or "run"
        name, k = base, 2
        while name in runs:
            name, k = f"{base}-{k}", k + 1
        runs[name] = path.resolve()
    return runs


def _walk(folder: Path, depth: int) -> list[Path]:
    if depth == 0:
        return []
    out = []
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    for child in children:
        out += [child] if is_run(child) else _walk(child, depth - 1)
    return out


def read_metrics(path: Path) -> list[dict]:
    """The rows of metrics.jsonl (a torn or foreign line skipped)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def curves(rows: list[dict]) -> dict[str, list[list[float]]]:
    """[step, value] pairs: validation bits per unit and nats per token, training loss."""
    out: dict[str, list[list[float]]] = {"val_bits_per_unit": [], "val_nats_per_token": [],
                                         "train_loss": []}  # fmt: skip
    for row in rows:
        for key, points in out.items():
            if _finite(row.get(key)):
                points.append([row["step"], round(float(row[key]), 5)])
    return {k: _thin(v) for k, v in out.items()}


def _thin(points: list, most: int = MAX_CURVE) -> list:
    if len(points) <= most:
        return points
    every = len(points) / most
    return [points[int(i * every)] for i in range(most - 1)] + [points[-1]]


def best_figures(rows: list[dict]) -> dict[str, Any]:
    """The validation row with the lowest nats per token: its four figures and its step."""
    vals = [r for r in rows if _finite(r.get("val_nats_per_token"))]
    if not vals:
        return {}
    best = min(vals, key=lambda r: r["val_nats_per_token"])
    keys = ("val_nats_per_token", "val_bits_per_token", "val_nats_per_unit", "val_bits_per_unit")
    out = {k.removeprefix("val_"): best[k] for k in keys if _finite(best.get(k))}
    out["best_step"] = best["step"]
    return out


class Catalog:
    """The runs and their summaries; a summary is rebuilt when its files change."""

    def __init__(self, targets: list[Path]):
        self.targets = targets
        self.runs = find_runs(targets)
        self._cache: dict[str, tuple[tuple, dict]] = {}
        self._lock = threading.Lock()

    def rescan(self) -> None:
        self.runs = find_runs(self.targets)

    def path(self, run_id: str) -> Path:
        try:
            return self.runs[run_id]
        except KeyError:
            raise SeqgenError(f"no run {run_id!r}") from None

    def summary(self, run_id: str) -> dict[str, Any]:
        path = self.path(run_id)
        stamp = tuple(_mtime(path / n) for n in (*CHECKPOINTS, "metrics.jsonl"))
        with self._lock:
            cached = self._cache.get(run_id)
            if cached and cached[0] == stamp:
                return cached[1]
        out = {"id": run_id, **_summarize(path)}
        with self._lock:
            self._cache[run_id] = (stamp, out)
        return out

    def summaries(self) -> list[dict[str, Any]]:
        out = []
        for run_id in self.runs:
            try:
                out.append(self.summary(run_id))
            except SeqgenError as e:
                out.append({"id": run_id, "path": str(self.runs[run_id]), "error": str(e)})
        return out


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _summarize(path: Path) -> dict[str, Any]:
    from seqgen import checkpoint, registry

    ckpt = checkpoint.load(path)
    tok = registry.load().domain(ckpt.run.domain)
    rows = read_metrics(path / "metrics.jsonl")
    return {
        "path": str(path),
        "domain": ckpt.run.domain,
        "arch": ckpt.arch,
        "parameters": sum(int(t.numel()) for t in ckpt.model.values()),
        "step": max((r["step"] for r in rows), default=ckpt.progress.step),  # trained so far
        "unit": str(ckpt.data.get("unit") or tok.unit),
        "corpus": ckpt.run.corpus,
        "renders": {k: list(v) for k, v in tok.renders.items()},
        "output_suffix": tok.output_suffix,
        "measures": list(tok.measures),
        "prints_text": tok.prints_text(),
        "controls": _controls(ckpt),  # the control labels it was trained with
        "best": best_figures(rows),
        "curves": curves(rows),
    }


def _controls(ckpt) -> list[dict[str, Any]]:
    """Each label key the run was trained with and its values (docs/labels.md)."""
    from seqgen.labels import LabelTable

    known = LabelTable(0, [tuple(p) for p in ckpt.tokenizer.labels]).known()
    return [{"key": k, "values": vs} for k, vs in known.items()]
