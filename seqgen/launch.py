"""`seqgen train --nproc N`: start N training processes on this machine through torchrun's own
launcher (``torch.distributed.run``, in this process), the same as typing::

    torchrun --standalone --nproc-per-node N -m seqgen train ...

If a process dies, torchrun stops the others; this says which rank stopped, in one line.
"""

from __future__ import annotations

import os
import signal
import sys

from seqgen.errors import SeqgenError


def without_nproc(argv: list[str]) -> list[str]:
    """The command line with ``--nproc N`` (or ``--nproc=N``) taken out."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``seqgen`` with ``argv`` in ``nproc`` processes; their exit code."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    _hush_torchrun()

    if nproc < 1 or nproc > (os.cpu_count() or 1) * 4:
        raise SeqgenError(f"--nproc {nproc}: give 1 to {(os.cpu_count() or 1) * 4}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # seqgen sets each process's threads itself
    os.environ["SEQGEN_LAUNCHER"] = "1"  # a process that loses a peer leaves the word to us
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # no C++ performance hints per rank
    args = parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--monitor-interval=0.1"]
        + ["--module", "seqgen", *argv]
    )
    try:
        run(args)
    except SignalException:  # Ctrl-C (or SIGTERM): the processes had it too; rank 0 said so
        _quiet_teardown()
        return 130
    except ChildFailedError as e:
        _quiet_teardown()
        rank, failure = e.get_first_failure()
        code = failure.exitcode
        if code in (1, 2, 130):  # the process said why itself, in one line
            return code
        how = f"exited {code}"
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        print(
            f"seqgen: error: training process rank {rank} {how}; the others were stopped "
            "(the run's last checkpoint is intact: continue with --resume)",
            file=sys.stderr,
        )
        return 1
    _quiet_teardown()
    return 0


def _quiet_teardown() -> None:
    """Once torchrun has returned, this process only exits. A repeated Ctrl-C (the terminal's,
    or torchrun's own forwarding) is already answered, and torchrun's rendezvous timer stops in
    a finalizer at exit: a signal landing there would print a traceback for nothing."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sys.unraisablehook = _unraisable


def _unraisable(info) -> None:
    """Interruptions in teardown finalizers pass quietly; anything else is one line."""
    if isinstance(info.exc_value, (KeyboardInterrupt, SystemExit)) or type(
        info.exc_value
    ).__name__.endswith("SignalException"):
        return
    print(f"seqgen: warning: while exiting: {info.exc_value!r}", file=sys.stderr)


def _hush_torchrun() -> None:
    """torchrun's agent logs each signal it forwards and each process it loses; seqgen says
    what matters in one line instead."""
    import logging

    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
