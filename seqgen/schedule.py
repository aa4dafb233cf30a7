"""When a run stops, how fast it learns at each step, and when it validates.

The plan is whichever of --max-steps, --epochs and --max-time ends first. The learning rate
warms up linearly, then follows a cosine down to ``min_lr_ratio`` of its peak over the plan
(by steps or by time, whichever is further along); a run without a plan keeps the peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqgen.config import TrainConfig

# The share of a time-planned run's wall time its periodic validations may take: 8%, so that
# with the final validation and the saving the whole stays under a tenth.
VALIDATION_SHARE = 0.08


@dataclass
class Schedule:
    cfg: TrainConfig
    steps_per_epoch: int

    @property
    def total_steps(self) -> int | None:
        limits = []
        if self.cfg.max_steps:
            limits.append(self.cfg.max_steps)
        if self.cfg.epochs:
            limits.append(math.ceil(self.cfg.epochs * self.steps_per_epoch))
        return min(limits) if limits else None

    def progress(self, step: int, seconds: float) -> float:
        """Fraction of the planned run done, by steps or by time, whichever is further."""
        p = 0.0
        total = self.total_steps
        if total:
            p = step / total
        if self.cfg.max_time:
            p = max(p, seconds / self.cfg.max_time)
        return min(p, 1.0)

    def lr(self, step: int, seconds: float) -> float:
        cfg, total = self.cfg, self.total_steps
        warmup = cfg.warmup_steps
        if total:  # a short run must not spend itself warming up
            warmup = min(warmup, max(1, total // 10))
        warm = min(1.0, (step + 1) / max(1, warmup))
        if not (total or cfg.max_time):
            return cfg.lr * warm
        cos = 0.5 * (1 + math.cos(math.pi * self.progress(step, seconds)))
        return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)

    def finished(self, step: int, seconds: float) -> bool:
        total = self.total_steps
        if total is not None and step >= total:
            return True
        return bool(self.cfg.max_time and seconds >= self.cfg.max_time)

    def eval_due(
        self, step: int, seconds: float, last_eval_seconds: float, last_cost: float = 0.0
    ) -> bool:
        """Whether to validate after ``step``. By default a run validates about 10 times; a run
        planned by time alone also waits after a validation (``last_cost`` seconds) until
        validating is at most VALIDATION_SHARE of the time since, so it stays under about a
        tenth of the wall time however slow scoring is."""
        cfg, total = self.cfg, self.total_steps
        if cfg.eval_every:
            return step % cfg.eval_every == 0
        if total:
            return step % max(1, total // 10) == 0
        if cfg.max_time:
            wait = max(cfg.max_time / 10, last_cost / VALIDATION_SHARE - last_cost)
            return seconds - last_eval_seconds >= wait
        return step % max(1, self.steps_per_epoch // 2) == 0
