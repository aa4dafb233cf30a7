"""The run directory's lock: two trainings into one folder would overwrite each other's
checkpoints, so the second is refused in one line."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from seqgen import checkpoint
from seqgen.errors import SeqgenError

LOCK = ".seqgen.lock"


@contextlib.contextmanager
def claimed(out: Path):
    """Hold the lock of run directory ``out`` (made if needed) or refuse in one line: two
    trainings into one folder would overwrite each other's checkpoints. If what follows fails,
    a folder this call made is removed again; on success the lock is yielded, still held."""
    from filelock import FileLock, Timeout

    made = not out.exists()
    if out.exists() and not out.is_dir():
        raise SeqgenError(f"--out {out}: a file is there; a run needs a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file where a parent folder should be, no permission, a full disk
        raise SeqgenError(f"--out {out}: cannot make the folder ({e.strerror})") from None
    lock = FileLock(str(out / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SeqgenError(
            f"{out}: another seqgen train is using this run directory; wait for it to end "
            "or choose another --out"
        ) from None
    try:
        yield lock
    except BaseException:
        lock.release()
        if made and not (out / checkpoint.LATEST).exists():  # nothing there to resume
            shutil.rmtree(out, ignore_errors=True)
        raise


def claim_new(stack: contextlib.ExitStack, out: Path):
    """Claim ``out`` for a new run (the lock stays held until ``stack`` closes)."""
    lock = stack.enter_context(claimed(out))
    if (out / checkpoint.LATEST).exists():
        raise SeqgenError(
            f"--out {out} already holds a run; continue it with --resume {out} "
            "or choose another --out"
        )
    return lock
