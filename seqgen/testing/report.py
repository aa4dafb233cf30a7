"""What the conformance kit reports, and the small helpers its checks share."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class CheckFailure:
    """One failed check: its name, what went wrong, and what to change."""

    check: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.problem}\n      fix: {self.fix}"


@dataclass
class KitReport:
    """What :func:`run_checks` found: the checks that passed, failed, and were not run."""

    domain: str
    passed: list[str] = field(default_factory=list)
    failures: list[CheckFailure] = field(default_factory=list)
    not_run: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def message(self) -> str:
        n = len(self.failures)
        lines = [
            f"seqgen.testing: {n} check{'s' * (n != 1)} failed for domain {self.domain!r} "
            f"(passed: {', '.join(self.passed) or 'none'})"
        ]
        lines += [f"  {f}" for f in self.failures]
        lines += [f"  [{k}] not run: {why}" for k, why in self.not_run.items()]
        return "\n".join(lines)


class _Stop(Exception):
    """Raised inside a check to record a failure and move on to the next check."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _crash(e: BaseException) -> str:
    """One line naming the exception and the plugin frame it came from."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def _same(a: Any, b: Any) -> bool:
    """Equality that also works for numpy arrays and nested lists of them."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except Exception:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:
        return False


def _short(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
