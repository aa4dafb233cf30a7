"""The training progress bar (rich): step, loss, tokens/s, ETA; a line per validation."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


class TrainProgress:
    def __init__(self, total_steps: int | None, max_time: float | None, disable: bool = False):
        self.console = Console(stderr=True)
        self.total_steps, self.max_time = total_steps, max_time
        self.disable = disable
        live = not disable and self.console.is_terminal
        self.bar = Progress(
            TextColumn("[bold]train[/bold]"),
            BarColumn(),
            TextColumn("step {task.fields[step]}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not live,
            transient=False,
        )
        # A time budget is shown as seconds done of seconds allowed, else steps of steps.
        self.by_time = max_time is not None and total_steps is None
        total = max_time if self.by_time else total_steps
        self.task = self.bar.add_task("train", total=total, step=0, loss="-", tps="-", status="")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def _done(self, step: int, seconds: float) -> float:
        done = seconds if self.by_time else step
        if self.max_time and self.total_steps:  # both limits: show whichever is further
            done = max(step / self.total_steps, seconds / self.max_time) * self.total_steps
        return done

    def advance(self, step: int, seconds: float) -> None:
        """Where the run is, after every step (loss and speed wait for the next log row)."""
        self.bar.update(self.task, completed=self._done(step, seconds), step=step)

    def status(self, text: str) -> None:
        """What the run is doing besides training (validating), shown beside the bar."""
        self.bar.update(self.task, status=text)

    def update(self, step: int, seconds: float, loss: float | None, tps: float) -> None:
        self.bar.update(
            self.task,
            completed=self._done(step, seconds),
            step=step,
            loss="-" if loss is None else f"{loss:.3f}",
            tps=f"{tps:,.0f}",
        )

    def report(self, row: dict, sample: str) -> None:
        if self.disable:
            return
        if "val_nats_per_token" in row:
            line = (
                f"step {row['step']}: val {row['val_nats_per_token']:.4f} nats/token, "
                f"{row['val_bits_per_unit']:.4f} bits/{row['unit']}"
            )
            if "val_cache_bits_per_unit" in row:
                line += f" ({row['val_cache_bits_per_unit']:.4f} with the cache)"
        else:
            line = f"step {row['step']}: no validation split"
        self.console.print(line, highlight=False)
        if sample:
            text = sample if len(sample) < 400 else sample[:400] + "…"
            self.console.print(Text(text, style="dim"))
        sys.stderr.flush()
