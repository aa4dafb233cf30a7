"""The training loop: the model, its optimizer and the schedule, step after step; everything
else (metrics, checkpoints, plots, samples, the progress bar) hangs on callbacks.

The loop only computes. What it tells the outside world goes through :class:`Callback` methods
called at fixed points, so each can be limited to one process when training runs on several.
Ctrl-C asks the loop to stop at the next step boundary, where weights, optimizer, RNG and
stream state agree, so a resumed run continues exactly; a second Ctrl-C stops at once (the last
checkpoint stays whole: every save is atomic).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_map

from seqgen.batcher import StreamBatcher
from seqgen.checkpoint import Checkpoint, Progress, TokenizerInfo
from seqgen.config import RunInfo, TrainConfig
from seqgen.data import Dataset
from seqgen.doccache import CacheWeights
from seqgen.errors import SeqgenError
from seqgen.evaluate import LN2, cached_logprobs, fit_cache, target_logprobs
from seqgen.models import LanguageModel
from seqgen.optim import clip_gradients
from seqgen.schedule import Schedule


class Callback:
    """Hooks into the loop; each method may be left out."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_log(self, trainer: Trainer, row: dict) -> None: ...  # every 10 steps
    def on_validation(self, trainer: Trainer, row: dict, improved: bool) -> None: ...
    def on_interrupt(self, trainer: Trainer) -> None: ...  # Ctrl-C, at a step boundary
    def on_end(self, trainer: Trainer, summary: dict) -> None: ...
    def on_close(self, trainer: Trainer) -> None: ...  # always last, even after an error


class Trainer:
    def __init__(
        self,
        model: LanguageModel,
        optimizer: torch.optim.Optimizer,
        data: Dataset,
        batcher: StreamBatcher,
        cfg: TrainConfig,
        info: RunInfo,
        device: torch.device,
        precision: str,
        callbacks: list[Callback] | None = None,
    ):
        self.model, self.opt, self.data, self.batcher = model, optimizer, data, batcher
        self.cfg, self.info, self.device, self.precision = cfg, info, device, precision
        self.callbacks = list(callbacks or [])
        self.schedule = Schedule(cfg, batcher.steps_per_epoch)
        self.progress = Progress()
        self.state = None  # the model's opaque state of this rank's streams
        self.cache: CacheWeights | None = None  # fitted at each validation with cfg.cache
        self.eod_id = data.tokenizer.eod_id
        self.stop_requested = False

    @property
    def step(self) -> int:
        return self.progress.step

    def emit(self, event: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    # --- one step --------------------------------------------------------------------------
    def train_step(self) -> float:
        step = self.progress.step
        x, y = (
            torch.from_numpy(a).to(self.device, non_blocking=True) for a in self.batcher.batch(step)
        )
        if self.batcher.epoch_start(step):
            self.state = None  # a new epoch: streams start over
        lr = self.schedule.lr(step, self.progress.train_time)
        for group in self.opt.param_groups:
            group["lr"] = lr
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            loss, state = self.model.loss(x, y, self.state, x == self.eod_id)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip:
            clip_gradients(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        self.state = self.model.detach_state(state)
        self.progress.step += 1
        return float(loss.detach())

    # --- validation ------------------------------------------------------------------------
    def validate(self) -> dict:
        row: dict[str, Any] = {"step": self.step, "time": round(self.progress.train_time, 2)}
        ids = self.data.tokens("valid") if "valid" in self.data.splits else None
        if ids is None or len(ids) < 2:
            return row
        tok = self.data.tokenizer
        units = self.data.units("valid")
        if self.cfg.val_tokens and len(ids) > self.cfg.val_tokens:  # a large split: a prefix
            ids = np.asarray(ids[: self.cfg.val_tokens])
            units = tok.count_units(ids)
            row["val_prefix_tokens"] = len(ids)
        logp = target_logprobs(self.model, ids, self.eod_id, device=self.device)
        nll, n, units = -float(logp.sum(dtype=np.float64)), len(logp), max(1, units)
        row.update(
            val_nats_per_token=nll / n,
            val_bits_per_token=nll / n / LN2,
            val_nats_per_unit=nll / units,
            val_bits_per_unit=nll / units / LN2,
            unit=tok.unit,
        )
        if self.cfg.cache:  # fitted on this split, so this figure is optimistic: eval's is not
            self.cache = fit_cache(logp, ids, self.eod_id)
            mixed = -float(cached_logprobs(logp, ids, self.eod_id, self.cache).sum())
            row.update(
                val_cache_nats_per_unit=mixed / units,
                val_cache_bits_per_unit=mixed / units / LN2,
            )
        return row

    def _validation(self) -> dict:
        row = self.validate()
        p = self.progress
        scored = "val_nats_per_token" in row
        improved = scored and row["val_nats_per_token"] < p.best_val
        if improved:
            p.best_val, p.evals_since_best = row["val_nats_per_token"], 0
        elif scored:
            p.evals_since_best += 1
        self.emit("on_validation", row, improved or not scored)
        return row

    # --- the loop --------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> dict:
        """Train until the plan ends, patience runs out, ``stop_after`` steps of this session
        are done, or Ctrl-C; returns a summary."""
        p, sched = self.progress, self.schedule
        start_step, last_eval, row = p.step, p.train_time, {}
        stopped_early = interrupted = False
        tokens_per_step = self.batcher.layout.batch_size * self.batcher.layout.seq_len
        loss_sum, loss_n, window = 0.0, 0, 0.0
        with self._deferred_interrupt(), self._closing():
            self.emit("on_start")
            while not sched.finished(p.step, p.train_time):
                t0 = time.perf_counter()
                loss = self.train_step()
                dt = time.perf_counter() - t0
                p.train_time += dt
                window += dt
                loss_sum, loss_n = loss_sum + loss, loss_n + 1
                if not math.isfinite(loss):
                    raise SeqgenError(
                        f"training diverged at step {p.step} (loss {loss}); try a lower --lr"
                    )
                done = sched.finished(p.step, p.train_time)
                if p.step % 10 == 0 or done:
                    tps = loss_n * tokens_per_step / max(window, 1e-9)
                    self.emit("on_log", self._log_row(loss_sum / loss_n, tps))
                    loss_sum, loss_n, window = 0.0, 0, 0.0
                stop_now = stop_after is not None and p.step - start_step >= stop_after
                if sched.eval_due(p.step, p.train_time, last_eval) or done or stop_now:
                    last_eval = p.train_time
                    row = self._validation()
                    if self.cfg.patience and p.evals_since_best >= self.cfg.patience:
                        stopped_early = True
                        break
                if stop_now:
                    break
                if self.stop_requested:
                    interrupted = True
                    self.emit("on_interrupt")
                    break
            summary = {
                "step": p.step,
                "train_time": p.train_time,
                "best_val_nats_per_token": p.best_val,
                "interrupted": interrupted,
                "stopped_early": stopped_early,
                "steps_this_session": p.step - start_step,
                "last": row,
            }
            self.emit("on_end", summary)
        return summary

    def _log_row(self, loss: float, tps: float) -> dict:
        p = self.progress
        return {
            "step": p.step,
            "time": round(p.train_time, 2),
            "train_loss": loss,
            "lr": self.schedule.lr(p.step, p.train_time),
            "tokens_per_s": round(tps),
        }

    @contextlib.contextmanager
    def _closing(self):
        try:
            yield
        finally:
            self.emit("on_close")

    @contextlib.contextmanager
    def _deferred_interrupt(self):
        """The first Ctrl-C asks for a stop at the next step boundary; the second stops now."""

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True

        try:
            old = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread: no handler of our own
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """Everything a resumed run needs, as of the last completed step."""
        tok = self.data.tokenizer
        return Checkpoint(
            arch=self.info.arch,
            model_config=_plain(self.model.config),
            model={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            tokenizer=TokenizerInfo(
                tok.name, self.info.plugin, self.info.plugin_version, tok.get_state()
            ),
            run=self.info,
            train_config=self.cfg,
            progress=Progress(**vars(self.progress)),
            optimizer=self.opt.state_dict(),
            stream_state=[t.cpu() for t in self.model.state_tensors(self.state)]
            if self.state is not None
            else None,
            rng={
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            cache=self.cache,
            data={"splits": self.data.meta["splits"], "unit": tok.unit},
        )

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from ``ckpt`` (weights, optimizer, progress, stream state and RNG)."""
        from seqgen.errors import CheckpointError

        self.model.load_state_dict(ckpt.model)
        try:
            self.opt.load_state_dict(ckpt.optimizer or {})
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise CheckpointError(f"{ckpt.path}: the optimizer state does not fit ({e})") from None
        self.progress = Progress(**vars(ckpt.progress))
        self.cache = ckpt.cache
        if ckpt.stream_state is not None:
            rows = self.batcher.layout.batch_size // self.batcher.world
            try:
                state = self.model.state_from_tensors(ckpt.stream_state, rows)
            except ValueError:
                raise CheckpointError(
                    f"{ckpt.path}: the stream state does not fit this run"
                ) from None
            self.state = self.model.detach_state(tree_map(lambda t: t.to(self.device), state))
        rng = ckpt.rng or {}
        try:
            torch.set_rng_state(rng["torch"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        except (KeyError, TypeError, RuntimeError, ValueError):
            raise CheckpointError(f"{ckpt.path}: the random-number state is corrupt") from None


def _plain(config: Any) -> dict:
    from dataclasses import asdict

    return asdict(config)
