"""Where and how precisely a run computes: the device and the precision, checked up front."""

from __future__ import annotations

import functools
import os
import time

import torch

from seqgen.errors import SeqgenError


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SeqgenError(f"--device {name}: choose auto, cpu, cuda, cuda:N or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise SeqgenError(f"--device {name}: choose auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SeqgenError(f"--device {name}: no CUDA device is available")
    if device.index is not None and device.type == "cuda":
        if device.index >= torch.cuda.device_count():
            raise SeqgenError(f"--device {name}: this machine has {torch.cuda.device_count()}")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SeqgenError("--device mps: no Apple GPU is available")
    return device


@functools.cache
def bf16_supported(device: torch.device) -> bool:
    """bf16 LSTM kernels exist on CUDA (Ampere+) and on CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return False
            lstm = torch.nn.LSTM(8, 8, batch_first=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                lstm(torch.zeros(1, 2, 8))
            return True
        except Exception:
            return False
    return False


def pick_precision(name: str, device: torch.device) -> str:
    if name == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if name == "bf16" and not bf16_supported(device):
        raise SeqgenError(
            f"--precision bf16: this {device.type.upper()} has no bf16 LSTM kernels "
            "(needs AVX512-BF16/AMX or a CUDA GPU); use --precision fp32"
        )
    if name not in ("fp32", "bf16"):
        raise SeqgenError(f"--precision {name}: choose auto, fp32 or bf16")
    return name


def pick_threads(requested: int | None, processes_here: int = 1) -> int:
    """CPU threads for this process: ``--threads``, or the cores it may use (its affinity,
    shared among the run's processes on this machine) less those other programs keep busy
    right now. An LSTM step is many small parallel regions; a thread whose core another
    program holds makes every region wait for it (throughput falls 10x or more), so a busy
    core is better left alone."""
    if requested:
        return requested
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    cores = max(1, cores // max(1, processes_here))
    return max(1, min(cores, cores - busy_cores(cores)))


def busy_cores(cores: int, window: float = 0.1) -> int:
    """How many of ``cores`` other programs keep busy: the machine's busy time over ``window``
    seconds less this process's own (its idle thread pool may still be spinning), from Linux's
    /proc (0 elsewhere)."""
    try:
        before, own_before = _cpu_times(), _own_ticks()
        time.sleep(window)
        after, own_after = _cpu_times(), _own_ticks()
    except (OSError, ValueError, IndexError):
        return 0
    total = sum(after) - sum(before)
    idle = (after[3] + after[4]) - (before[3] + before[4])
    if total <= 0:
        return 0
    others = max(0, total - idle - (own_after - own_before))
    busy = others / total * (os.cpu_count() or 1)
    return int(min(cores, max(0.0, busy - 0.25) + 0.5))


def _cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def _own_ticks() -> int:
    """This process's user and system time, in the same clock ticks as /proc/stat."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
