"""Progress bars (rich): training (step, loss, tokens/s, ETA; a line per validation), and
reading a corpus (its bytes)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

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


class ByteProgress:
    """A rich bar over the corpus's bytes on stderr (a terminal only). Bytes of the files
    finished so far, plus how far into the current file its reader is (Linux: the read offset
    of the open file, from /proc; elsewhere the bar moves file by file)."""

    def __init__(self, label: str, files: list[Path]):
        from rich import progress as rp

        self.sizes = {str(f): f.stat().st_size for f in files}
        self.total = sum(self.sizes.values())
        self.done, self.at, self.current, self.last = 0, 0, None, 0.0
        self.bar = rp.Progress(
            rp.TextColumn(f"[bold]{label}[/bold]"),
            rp.BarColumn(),
            rp.DownloadColumn(),
            rp.TransferSpeedColumn(),
            rp.TextColumn("{task.fields[tokens]}"),
            rp.TimeElapsedColumn(),
            rp.TimeRemainingColumn(),
            transient=True,
            disable=not sys.stderr.isatty(),
        )
        self.task = self.bar.add_task(label, total=self.total or None, tokens="")

    def __enter__(self) -> ByteProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def source(self, src) -> None:
        """Reading moves on to ``src`` (a file, or a generator of documents)."""
        if self.current is not None:
            self.done += self.sizes.get(self.current, 0)
        self.current = str(src) if isinstance(src, Path) else None
        self.bar.update(self.task, completed=self.done)

    def passed(self, src: Path) -> int:
        """Bytes read once ``src``, handed whole to a worker, is done."""
        self.source(src)
        self.current = None
        self.done += self.sizes.get(str(src), 0)
        return self.done

    def position(self) -> int:
        """Bytes read so far: files done, plus the offset in the current one (looked up at
        most every 20 ms; in between the last figure stands)."""
        now = time.monotonic()
        if now - self.last >= 0.02 and not self.bar.disable:
            self.last = now
            self.at = self.done + (_read_offset(self.current) if self.current else 0)
        return max(self.at, self.done)

    def show(self, at: int, tokens: int | None = None) -> None:
        fields = {"tokens": f"{tokens:,} tokens"} if tokens is not None else {}
        self.bar.update(self.task, completed=at, **fields)

    def tick(self) -> None:
        self.show(self.position())


def _read_offset(path: str) -> int:
    """Where this process's open handle on ``path`` is (0 if none, or not Linux)."""
    try:
        real = os.path.realpath(path)
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}") == real:
                    with open(f"/proc/self/fdinfo/{fd}") as f:
                        return int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
