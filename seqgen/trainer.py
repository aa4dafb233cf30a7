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
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_map

from seqgen.average import WeightAverage
from seqgen.batcher import StreamBatcher
from seqgen.checkpoint import Checkpoint, Progress, TokenizerInfo
from seqgen.config import RunInfo, TrainConfig
from seqgen.data import Dataset
from seqgen.distributed import SINGLE, World, data_parallel
from seqgen.doccache import CacheWeights
from seqgen.errors import SeqgenError
from seqgen.evaluate import LN2, cached_logprobs, fit_cache, target_logprobs
from seqgen.labels import without_controls
from seqgen.models import LanguageModel
from seqgen.optim import clip_gradients
from seqgen.schedule import Schedule


class Callback:
    """Hooks into the loop; each method may be left out."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_step(self, trainer: Trainer) -> None: ...  # every step: keep it cheap
    def on_log(self, trainer: Trainer, row: dict) -> None: ...  # every 10 steps
    def on_validation_start(self, trainer: Trainer) -> None: ...
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
        world: World = SINGLE,
    ):
        self.model, self.opt, self.data, self.batcher = model, optimizer, data, batcher
        self.world = world
        self.loss_of = model.loss if world.size == 1 else data_parallel(model, device)
        self.shared: list | None = None  # every rank's stream state and RNG, on rank 0
        self.cfg, self.info, self.device, self.precision = cfg, info, device, precision
        self.callbacks = list(callbacks or [])
        self.schedule = Schedule(cfg, batcher.steps_per_epoch)
        self.progress = Progress()
        self.state = None  # the model's opaque state of this rank's streams
        self.cache: CacheWeights | None = None  # fitted at each validation with cfg.cache
        self.average = WeightAverage(model, cfg.ema) if cfg.ema else None
        self.eod_id = data.tokenizer.eod_id
        self.stop_requested = False
        self.asked_at = -math.inf  # when the first stop was asked for
        self.began = time.perf_counter()  # this session's start (reset by run)

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
        with self.world.talking(only_backend=True):  # gradients are averaged in backward
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
                loss, state = self.loss_of(x, y, self.state, x == self.eod_id)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        if self.cfg.clip:
            clip_gradients(self.model.parameters(), self.cfg.clip)
        self.opt.step()
        if self.average is not None:
            self.average.update(step)
        self.state = self.model.detach_state(state)
        self.progress.step += 1
        return float(loss.detach())

    # --- validation ------------------------------------------------------------------------
    def scored(self) -> contextlib.AbstractContextManager:
        """The weights that validation scores and best.pt keeps: the average with --ema."""
        return self.average.applied() if self.average is not None else contextlib.nullcontext()

    def validate(self) -> dict:
        row: dict[str, Any] = {"step": self.step, "time": round(self.progress.train_time, 2)}
        ids = self.data.tokens("valid") if "valid" in self.data.splits else None
        if ids is None or len(ids) < 2:
            return row
        tok = self.data.tokenizer
        units = self.data.units("valid")
        if self.cfg.val_tokens and len(ids) > self.cfg.val_tokens:  # a large split: a prefix
            ids = np.asarray(ids[: self.cfg.val_tokens])
            units = tok.count_units(without_controls(tok, ids))
            row["val_prefix_tokens"] = len(ids)
        share = (self.world.rank, self.world.size)
        with self.scored():
            logp = target_logprobs(
                self.model,
                ids,
                self.eod_id,
                device=self.device,
                share=share,
                precision=self.precision,
            )
        self.world.sum_(logp)  # each rank scored its share; the rest of its array is zeros
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
        self.emit("on_validation_start")
        t0 = time.perf_counter()
        row = self.validate()
        if not math.isfinite(row.get("val_nats_per_token", 0.0)):  # every rank sees the sum
            raise SeqgenError(
                f"training diverged by step {self.step} (validation loss "
                f"{row['val_nats_per_token']}); try a lower --lr"
            )
        cost = float(self.world.agree([time.perf_counter() - t0])[:, 0].max())  # the slowest
        row["val_seconds"] = round(cost, 3)
        row["wall"] = round(time.perf_counter() - self.began, 2)  # since this session began
        p = self.progress
        scored = "val_nats_per_token" in row
        improved = scored and row["val_nats_per_token"] < p.best_val
        if improved:
            p.best_val, p.evals_since_best = row["val_nats_per_token"], 0
        elif scored:
            p.evals_since_best += 1
        self.share()
        self.emit("on_validation", row, improved or not scored)
        self.world.barrier()  # rank 0's saving and drawing is not the others' step time
        return row

    # --- the loop --------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> dict:
        """Train until the plan ends, patience runs out, ``stop_after`` steps of this session
        are done, or Ctrl-C; returns a summary."""
        p, sched = self.progress, self.schedule
        start_step, last_eval, row = p.step, p.train_time, {}
        began = self.began = time.perf_counter()
        stopped_early = interrupted = False
        tokens_per_step = self.batcher.layout.batch_size * self.batcher.layout.seq_len
        loss_sum, loss_n, window = 0.0, 0, 0.0
        with self._deferred_interrupt(), self._closing():
            self.share()
            self.emit("on_start")
            self.world.barrier()
            while not sched.finished(p.step, p.train_time):
                t0 = time.perf_counter()
                loss = self.train_step()
                dt, loss = self._agree(time.perf_counter() - t0, loss)
                p.train_time += dt
                window += dt
                loss_sum, loss_n = loss_sum + loss, loss_n + 1
                if not math.isfinite(loss):
                    raise SeqgenError(
                        f"training diverged at step {p.step} (loss {loss}); try a lower --lr"
                    )
                self.emit("on_step")
                done = sched.finished(p.step, p.train_time)
                if p.step % 10 == 0 or done:
                    tps = loss_n * tokens_per_step / max(window, 1e-9)
                    self.emit("on_log", self._log_row(loss_sum / loss_n, tps))
                    loss_sum, loss_n, window = 0.0, 0, 0.0
                stop_now = stop_after is not None and p.step - start_step >= stop_after
                due = sched.eval_due(p.step, p.train_time, last_eval, row.get("val_seconds", 0))
                if (due or done or stop_now) and not self.stop_requested:  # a stop is prompt
                    last_eval = p.train_time
                    row = self._validation()
                    if self.cfg.patience and p.evals_since_best >= self.cfg.patience:
                        stopped_early = True
                        break
                if stop_now:
                    break
                if self.stop_requested:
                    interrupted = True
                    self.share()
                    self.emit("on_interrupt")
                    break
            summary = {
                "step": p.step,
                "train_time": p.train_time,
                "best_val_nats_per_token": p.best_val,
                "interrupted": interrupted,
                "stopped_early": stopped_early,
                "steps_this_session": p.step - start_step,
                "wall_time": time.perf_counter() - began,  # validation and saving included
                "last": row,
            }
            self.share()
            self.emit("on_end", summary)
        return summary

    def _agree(self, dt: float, loss: float) -> tuple[float, float]:
        """What every rank must see alike after a step: the slowest rank's time (the plan and
        the learning rate follow it), the mean loss, and whether any rank was asked to stop."""
        if self.world.size == 1:
            return dt, loss
        each = self.world.agree([dt, loss, float(self.stop_requested)])
        self.stop_requested = bool(each[:, 2].max() > 0)
        return float(each[:, 0].max()), float(each[:, 1].mean())

    def share(self) -> None:
        """Before callbacks that may save: rank 0 collects each rank's stream state and RNG."""
        if self.world.size == 1:
            return
        state = self.model.state_tensors(self.state) if self.state is not None else None
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        rngs = {"torch": torch.get_rng_state(), "cuda": cuda}
        self.shared = self.world.gather(([t.cpu() for t in state] if state else None, rngs))

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
        """The first Ctrl-C (or SIGTERM, as a scheduler sends) asks for a stop at the next step
        boundary; a second Ctrl-C stops now. A repeat within a second is the same request.
        With several processes every repeat is: torchrun forwards the terminal's Ctrl-C to
        processes that already had it, and kills them itself if they do not end in 30 s."""

        def handler(signum, frame):
            now = time.monotonic()
            again = self.world.size == 1 and now - self.asked_at > 1.0
            if self.stop_requested and signum == signal.SIGINT and again:
                raise KeyboardInterrupt
            if not self.stop_requested:
                self.stop_requested, self.asked_at = True, now

        try:
            old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: no handler of our own
            yield
            return
        try:
            yield
        finally:
            late = self.world.size > 1 and self.stop_requested  # torchrun forwards it again
            for sig, was in old.items():
                signal.signal(sig, signal.SIG_IGN if late else was)

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """Everything a resumed run needs, as of the last completed step."""
        tok, plugin = self.data.tokenizer, (self.info.plugin, self.info.plugin_version)
        labels = self.data.labels.to_data()
        own = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        averaged = self.average.state_dict() if self.average is not None else None
        return Checkpoint(
            arch=self.info.arch,
            model_config=asdict(self.model.config),
            model=own if averaged is None else averaged,
            training_weights=None if averaged is None else own,
            tokenizer=TokenizerInfo(tok.name, *plugin, tok.get_state(), labels),
            run=self.info,
            train_config=self.cfg,
            progress=Progress(**{**vars(self.progress), "world": self.world.size}),
            optimizer=self.opt.state_dict(),
            stream_state=self._stream_state(),
            rng=self._rng(),
            cache=self.cache,
            data={"splits": self.data.meta["splits"], "unit": tok.unit},
        )

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from ``ckpt`` (weights, optimizer, progress, stream state and RNG)."""
        from seqgen.errors import CheckpointError

        try:  # with --ema, `model` is the average and `training_weights` what training had
            self.model.load_state_dict(ckpt.training_weights or ckpt.model)
            if self.average is not None:  # (--ema given on resume: it starts from the weights)
                self.average.load(ckpt.model)
        except (RuntimeError, KeyError) as e:
            what = str(e).strip().splitlines()[-1].strip()[:160]  # torch lists every mismatch
            raise CheckpointError(f"{ckpt.path}: the weights do not fit ({what})") from None
        try:
            self.opt.load_state_dict(ckpt.optimizer or {})
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise CheckpointError(f"{ckpt.path}: the optimizer state does not fit ({e})") from None
        self.progress = Progress(**vars(ckpt.progress))
        self.cache = ckpt.cache
        self.state = self._restored_state(ckpt)
        rng = ckpt.rng or {}
        try:
            ranks, gpus = rng.get("ranks") or [], rng.get("cuda_ranks") or []
            if len(ranks) == self.world.size:
                torch.set_rng_state(ranks[self.world.rank])
            elif self.world.main:
                torch.set_rng_state(rng["torch"])
            if len(gpus) == self.world.size and self.device.type == "cuda":
                torch.cuda.set_rng_state(gpus[self.world.rank], self.device)
            elif rng.get("cuda") and torch.cuda.is_available() and self.world.main:
                torch.cuda.set_rng_state_all(rng["cuda"])
        except (KeyError, TypeError, RuntimeError, ValueError, IndexError):
            raise CheckpointError(f"{ckpt.path}: the random-number state is corrupt") from None

    def _restored_state(self, ckpt: Checkpoint):
        """This rank's rows of the checkpoint's stream state (of all B streams). A run
        resumed on another number of processes whose layout changed starts its streams over."""
        from seqgen.errors import CheckpointError

        if ckpt.stream_state is None:
            return None
        try:
            state = self.model.state_from_tensors(ckpt.stream_state, self.batcher.layout.batch_size)
        except ValueError:
            if ckpt.progress.world != self.world.size:
                return None
            raise CheckpointError(f"{ckpt.path}: the stream state does not fit this run") from None
        if self.world.size > 1:
            state = self.model.select_state(state, torch.tensor(list(self.batcher.streams)))
        return self.model.detach_state(tree_map(lambda t: t.to(self.device), state))

    def _stream_state(self) -> list[torch.Tensor] | None:
        """All B streams' state: this process's, or (rank 0, several processes) every rank's
        rows in order, as ``share`` collected them."""
        if self.world.size == 1 or not self.shared:
            if self.state is None:
                return None
            return [t.cpu() for t in self.model.state_tensors(self.state)]
        if self.shared[0][0] is None:
            return None
        rows = self.batcher.layout.batch_size // self.world.size
        parts = [self.model.state_from_tensors(s, rows) for s, _ in self.shared]
        return [t.cpu() for t in self.model.state_tensors(self.model.join_states(parts))]

    def _rng(self) -> dict:
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        if self.world.size > 1 and self.shared:  # each rank's own dropout streams
            rng["ranks"] = [r["torch"] for _, r in self.shared]
            if self.device.type == "cuda":
                rng["cuda_ranks"] = [r["cuda"] for _, r in self.shared]
        return rng
