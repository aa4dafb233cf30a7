"""File helpers shared by the core and plugins: atomic writes and chunked, strict text reading."""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from seqgen.errors import DataError, SeqgenError

CHUNK_BYTES = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    A crash, Ctrl-C or exception leaves the old file (or no file), never half a new one. A
    symlink is followed (the file it points to is replaced, the link stays); a target that is
    not a regular file (``/dev/null``, a FIFO, a terminal) is written through, never replaced.
    Temp files left by a process that was killed mid-write are removed on the next write."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise SeqgenError(f"{path}: is a directory; give a file name to write")
    special = path.exists() and not path.is_file()
    folder = path.parent if not special else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, path.name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as e:  # a file where a folder should be, no permission, a read-only disk
        above = next((p for p in path.parents if p.exists()), None)
        why = f"{above} is a file, not a folder" if above and not above.is_dir() else e.strerror
        raise SeqgenError(f"{path}: cannot write there ({why or e})") from None
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a normal file follows the umask
    try:
        yield Path(tmp)
        if special:
            _write_through(Path(tmp), path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if _writing_failed(e, tmp):  # named by the target, not by the temporary file
            raise SeqgenError(
                f"{path}: cannot write ({e.strerror or e}); nothing was changed"
            ) from None
        raise


def _writing_failed(e: BaseException, tmp: str) -> bool:
    full = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return isinstance(e, OSError) and (e.errno in full or e.filename == tmp)


def _write_through(tmp: Path, target: Path) -> None:
    with open(tmp, "rb") as src, open(target, "wb") as dst:
        while block := src.read(CHUNK_BYTES):
            dst.write(block)


def _remove_stale(folder: Path, name: str) -> None:
    """Delete ``.NAME.PID.*.tmp`` files whose writing process no longer runs."""
    for old in folder.glob(f".{glob_escape(name)}.*.tmp"):
        pid = old.name[len(name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                old.unlink()


def not_a_file(path: Path) -> str:
    """Why ``path``, which is not a regular file, cannot be read as one."""
    return f"{kind_of(path)}, not a regular file" if path.exists() else "no such file"


def kind_of(path: Path) -> str:
    """What ``path`` is when it exists but is no regular file or folder (a device, a FIFO)."""
    tests = (("is_dir", "a folder"), ("is_char_device", "a character device"),
             ("is_block_device", "a block device"), ("is_fifo", "a named pipe"),
             ("is_socket", "a socket"))  # fmt: skip
    return next((what for test, what in tests if getattr(path, test)()), "a special file")


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def text_encoding(name: str) -> None:
    """ValueError unless ``name`` is a codec that decodes bytes to text (for ``-o encoding``);
    ``auto`` passes, for domains that detect the encoding themselves."""
    if str(name).lower() == "auto":
        return
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError("no such text encoding (e.g. utf-8, latin-1, utf-16)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{info.name} is not a text encoding")


def read_text_chunks(
    path: str | os.PathLike, encoding: str = "utf-8-sig", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[str]:
    """Decode a text file strictly, in pieces of about ``chunk_bytes`` that end at a line break
    where one exists, so no line (and no word) is cut in two.

    Invalid bytes raise DataError naming the file and the byte offset."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    carry = ""
    offset = 0
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot open ({e.strerror})") from None
    with f:
        while True:
            block = f.read(chunk_bytes)
            final = not block
            pending = len(decoder.getstate()[0])
            try:
                text = carry + decoder.decode(block, final=final)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                raise DataError(
                    f"{path}: not valid {encoding.removesuffix('-sig').upper()} at byte {at} "
                    f"({e.reason}); re-encode the file or check it is text"
                ) from None
            offset += len(block)
            if final:
                if text:
                    yield text
                return
            cut = text.rfind("\n") + 1
            if cut == 0 and len(text) > 4 * chunk_bytes:
                cut = max(text.rfind(" "), len(text) - 1) + 1  # one enormous line
            carry = text[cut:]
            if cut:
                yield text[:cut]


def join_tokens(ids, table, first_byte: int, n_bytes: int) -> str:
    """The text of ``ids``: ``table[i]`` for each id, except that ids ``first_byte`` ..
    ``first_byte + n_bytes - 1`` are raw UTF-8 bytes, decoded run by run (a broken sequence,
    as a sampler can produce, becomes U+FFFD)."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    is_byte = (ids >= first_byte) & (ids < first_byte + n_bytes)
    if not is_byte.any():
        return "".join(table[ids])
    out, run = [], bytearray()
    for i, byte in zip(ids.tolist(), is_byte.tolist(), strict=True):
        if byte:
            run.append(i - first_byte)
            continue
        if run:
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
        out.append(table[i])
    if run:
        out.append(run.decode("utf-8", errors="replace"))
    return "".join(out)
