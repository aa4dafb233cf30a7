"""Several processes, one run: torch.distributed as launched by ``torchrun``.

A :class:`World` is what the rest of seqgen knows of the processes: this one's rank, how many
there are, and the few collective calls the trainer and evaluation make. One process is the
trivial world (``SINGLE``), whose calls cost nothing, so the trainer has a single code path::

    torchrun --nproc-per-node 2 -m seqgen train --domain char --corpus input.txt
    seqgen train --nproc 2 ...            # the same, launched from inside seqgen

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; gloo carries
CPU runs and NCCL CUDA runs. A peer that dies makes the next collective fail; the survivors
then name the ranks whose processes are gone (those on this machine) in one line.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.models import LanguageModel

T = TypeVar("T")


class PeerError(SeqgenError):
    """Rank 0's error, raised on the other ranks too; only rank 0 prints it."""

    said_elsewhere = True


class LostPeer(PeerError):
    """A peer died; under ``seqgen train --nproc`` the launcher names it, so this is silent."""


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    peers: list[tuple[str, int]] = field(default_factory=list)  # (host, pid) of every rank

    @property
    def main(self) -> bool:
        return self.rank == 0

    # --- collectives (free with one process) ---------------------------------------------
    def agree(self, values: list[float]) -> torch.Tensor:
        """Every rank's ``values``, as a (size, len) tensor, on every rank."""
        mine = torch.tensor([values], dtype=torch.float64)
        if self.size == 1:
            return mine
        out = [torch.zeros_like(mine) for _ in range(self.size)]
        self._call(torch.distributed.all_gather, out, mine)
        return torch.cat(out)

    def sum_(self, array) -> None:
        """Sum a NumPy array or CPU tensor over the ranks, in place."""
        if self.size == 1:
            return
        t = torch.from_numpy(array) if not isinstance(array, torch.Tensor) else array
        self._call(torch.distributed.all_reduce, t)

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (a list by rank); None elsewhere. Objects travel
        pickled between this run's own processes only, never from a file."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size if self.main else None
        self._call(torch.distributed.gather_object, obj, out, dst=0)
        return out

    def first(self, fn: Callable[[], T], others: bool = True) -> T | None:
        """``fn`` on rank 0, then (if it worked, and ``others``) on the others: rank 0 writes
        what the others then read (the token store). An error on rank 0 is raised on every
        rank (there as a SeqgenError with its message)."""
        if self.size == 1:
            return fn()
        error = None
        if self.main:
            try:
                result = fn()
            except Exception as e:  # the others must hear of it, or they wait forever
                error = e
        box = [(str(error) or type(error).__name__) if error else None]
        self._call(torch.distributed.broadcast_object_list, box, src=0)
        if error is not None:
            raise error
        if box[0] is not None:
            raise PeerError(box[0])
        if self.main:
            return result
        return fn() if others else None

    def barrier(self) -> None:
        if self.size > 1:
            self._call(torch.distributed.barrier)

    def _call(self, fn, *args, **kwargs):
        with self.talking():
            return fn(*args, **kwargs)

    @contextlib.contextmanager
    def talking(self, only_backend: bool = False):
        """Around calls that talk to the other ranks (a collective; a backward pass whose
        gradients are averaged): a peer that went away becomes one line, not a traceback.
        With ``only_backend``, only errors from gloo/NCCL are taken to mean that."""
        try:
            yield
        except RuntimeError as e:  # gloo/NCCL: a peer went away, or timed out
            if self.size == 1 or (only_backend and not _from_backend(e)):
                raise
            kind = LostPeer if os.environ.get("SEQGEN_LAUNCHER") else SeqgenError
            raise kind(f"rank {self.rank}: {self.lost(e)}") from None

    def lost(self, e: BaseException) -> str:
        """Which peers are gone, as far as this machine can tell."""
        here = socket.gethostname()
        dead = [r for r, (host, pid) in enumerate(self.peers) if host == here and not _alive(pid)]
        if dead:
            ranks = ", ".join(map(str, dead))
            return f"rank {ranks} stopped, so this one stops too"
        return f"lost contact with another process of this run ({_first_line(e)})"


SINGLE = World()


def launched() -> bool:
    """Whether this process was started by torchrun (or ``seqgen train --nproc``) with peers."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> World:
    """Join the process group torchrun describes (gloo on CPU, NCCL on CUDA); SINGLE when
    there is none."""
    if not launched():
        return SINGLE
    import torch.distributed as dist

    env = {k: int(os.environ.get(k, d)) for k, d in _ENV.items()}
    backend = backend_for(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(env["LOCAL_RANK"])
        try:
            dist.init_process_group(backend, timeout=timedelta(minutes=10))
        except (RuntimeError, ValueError) as e:
            raise SeqgenError(f"could not join the other processes: {_first_line(e)}") from None
    world = World(env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"])
    peers: list[Any] = [None] * world.size
    world._call(dist.all_gather_object, peers, (socket.gethostname(), os.getpid()))
    world.peers = [tuple(p) for p in peers]
    return world


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes; Apple's MPS has neither."""
    if device.type == "mps":
        raise SeqgenError("several processes need --device cpu or cuda (gloo/NCCL), not mps")
    return "nccl" if device.type == "cuda" else "gloo"


def close(world: World) -> None:
    """Leave the process group together: every rank reaches the barrier before any tears its
    connections down (a rank that leaves early can make a slower one abort)."""
    if world.size > 1 and torch.distributed.is_initialized():
        import gc

        gc.collect()  # a DistributedDataParallel left unreferenced lets go of the group
        world.barrier()
        torch.distributed.destroy_process_group()


def device_of(device: torch.device, world: World) -> torch.device:
    """Each process of a CUDA run takes the GPU of its local rank."""
    if world.size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", world.local_rank)
    return device


_ENV = {"RANK": 0, "WORLD_SIZE": 1, "LOCAL_RANK": 0, "LOCAL_WORLD_SIZE": 1}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # a killed child not yet reaped is a zombie
            if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _from_backend(e: BaseException) -> bool:
    text = str(e)
    return "DistBackendError" in type(e).__name__ or any(
        word in text for word in ("gloo", "NCCL", "Connection", "connection")
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def data_parallel(model: LanguageModel, device: torch.device):
    """The model's loss behind DistributedDataParallel: gradients are averaged over the ranks
    during the backward pass (bucketed, overlapping it). Parameters a step may leave unused (an
    adaptive softmax cluster no target fell into) are searched for unless the model says
    there are none."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    unused = not model.uses_every_parameter()
    return DistributedDataParallel(_Loss(model), device_ids=ids, find_unused_parameters=unused)


class _Loss(torch.nn.Module):
    """``model.loss`` as a module's forward, the call DistributedDataParallel wraps."""

    def __init__(self, model: LanguageModel):
        super().__init__()
        self.model = model

    def forward(self, x, y, state, resets):
        return self.model.loss(x, y, state, resets)
