"""What a training run leaves behind, as trainer callbacks: metrics.jsonl, checkpoints,
loss.png, the samples shown at each validation, and the progress bar. ``run.py`` picks them;
with several processes only rank 0 gets the ones that write."""

from __future__ import annotations

import json
import time
from pathlib import Path

from seqgen import checkpoint
from seqgen.trainer import Callback, Trainer


class MetricsLog(Callback):
    """One JSON line per log interval and per validation, appended to ``metrics.jsonl``."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.f = None

    def on_start(self, trainer: Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_last_line(self.path)
        drop_rows_after(self.path, trainer.step)
        self.f = open(self.path, "a")

    def write(self, row: dict) -> None:
        if self.f is not None:
            self.f.write(json.dumps(row) + "\n")
            self.f.flush()

    def on_log(self, trainer: Trainer, row: dict) -> None:
        self.write(row)

    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None:
        self.write(row)

    def on_close(self, trainer: Trainer) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def repair_last_line(path: Path) -> None:
    """Cut a partial last line (a write cut short by a full disk or a kill), so the next row
    starts on a line of its own and every line stays one JSON object."""
    if not path.is_file():
        return
    with open(path, "rb+") as f:
        size = f.seek(0, 2)
        if size == 0:
            return
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        tail = max(0, size - (1 << 20))
        f.seek(tail)
        block = f.read()
        cut = block.rfind(b"\n")
        f.truncate(tail + cut + 1 if cut >= 0 else tail)


def drop_rows_after(path: Path, step: int) -> None:
    """Forget rows logged after ``step``: a run killed after logging them resumes from its last
    checkpoint and logs those steps again."""
    if not path.is_file():
        return
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    keep = [line for line in lines if _step_of(line) <= step]
    if len(keep) != len(lines):
        from seqgen.io import atomic_write_text

        atomic_write_text(path, "".join(keep))


def _step_of(line: str) -> float:
    try:
        step = json.loads(line).get("step", 0)
    except (json.JSONDecodeError, AttributeError):
        return 0
    return step if isinstance(step, int | float) else 0


class Checkpointer(Callback):
    """``checkpoint.pt`` before the first step, after every validation and on Ctrl-C;
    ``best.pt`` when validation improved (or there is none)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_start(self, trainer: Trainer) -> None:
        if not (self.run_dir / checkpoint.LATEST).exists():  # resumable from the first step
            checkpoint.save(self.run_dir / checkpoint.LATEST, trainer.checkpoint())

    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None:
        ckpt = trainer.checkpoint()
        checkpoint.save(self.run_dir / checkpoint.LATEST, ckpt)
        if improved:
            checkpoint.save(self.run_dir / checkpoint.BEST, ckpt)

    def on_interrupt(self, trainer: Trainer) -> None:
        checkpoint.save(self.run_dir / checkpoint.LATEST, trainer.checkpoint())


class LossPlot(Callback):
    """``loss.png``: training and validation loss against step, redrawn after a validation at
    most every ``every`` seconds (matplotlib takes ~0.3 s a drawing) and at the end."""

    def __init__(self, run_dir: Path, every: float = 30.0):
        self.run_dir, self.every, self.drawn = Path(run_dir), every, -float("inf")

    def draw(self, trainer: Trainer) -> None:
        from seqgen.plot import loss_curve

        metrics = self.run_dir / "metrics.jsonl"
        if metrics.is_file():
            loss_curve(metrics, self.run_dir / "loss.png", trainer.data.tokenizer.unit)
        self.drawn = time.perf_counter()

    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None:
        if time.perf_counter() - self.drawn >= self.every:
            self.draw(trainer)

    def on_end(self, trainer: Trainer, summary: dict) -> None:
        self.draw(trainer)


class Samples(Callback):
    """A short sample at each validation (temperature 0.8, seeded by the step), kept in
    ``text`` for the progress bar. Sampling steps on the CPU, so a GPU run shows none."""

    def __init__(self, length: int):
        self.length, self.text = length, ""

    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None:
        self.text = ""
        if not self.length or trainer.device.type != "cpu":
            return
        from seqgen.decode import DecodeConfig, decode

        cfg = DecodeConfig(
            length=self.length, temperature=0.8, seed=trainer.step, cache=trainer.cache
        )
        model, tok = trainer.model, trainer.data.tokenizer
        was = model.training
        with trainer.scored():  # the weights validation scored
            ids = decode(model, tok, cfg)[0]
        model.train(was)
        try:
            self.text = tok.to_text(ids)
        except Exception:  # a half-trained model may sample what the domain cannot show
            self.text = ""


class ProgressBar(Callback):
    """The rich progress bar: step, loss, tokens/s, ETA; a line (and a sample) per validation."""

    def __init__(self, quiet: bool, samples: Samples | None = None):
        self.quiet, self.samples, self.bar = quiet, samples, None

    def on_start(self, trainer: Trainer) -> None:
        from seqgen.progress import TrainProgress

        total = trainer.schedule.total_steps
        self.bar = TrainProgress(total, trainer.cfg.max_time, disable=self.quiet)
        self.bar.__enter__()
        self.bar.update(trainer.step, trainer.progress.train_time, None, 0.0)
        self.started = time.perf_counter()

    def on_step(self, trainer: Trainer) -> None:  # a slow step still moves the bar
        self.bar.advance(trainer.step, trainer.progress.train_time)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        self.bar.update(row["step"], row["time"], row["train_loss"], row["tokens_per_s"])

    def on_validation_start(self, trainer: Trainer) -> None:
        self.bar.status("validating")

    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None:
        self.bar.status("")
        self.bar.report(row, self.samples.text if self.samples else "")

    def on_close(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
