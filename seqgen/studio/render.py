"""A finished sample as files, written by the domain's own ``write`` as `seqgen generate`
writes them: the native format, then every kind the tokenizer declares in ``renders``. The
studio never asks which domain it is: it plays what is audio and shows what is a picture."""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path
from typing import Any

from seqgen.cli.common import sample_length

# Writers may draw with pyplot, which is not thread-safe: one sample is written at a time.
WRITE_LOCK = threading.Lock()
MAX_TEXT = 200_000  # characters of a sample's text sent to the page
MEDIA = {
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".wav": "audio/wav",
    ".png": "image/png",
}


def outputs(tok) -> list[tuple[str, str]]:
    """(kind, suffix) of every file a sample is written as: "sample" (the native format)
    first, then each declared render's first suffix; a suffix appears once."""
    wanted = [("sample", tok.output_suffix)]
    wanted += [(kind, suffixes[0]) for kind, suffixes in tok.renders.items() if suffixes]
    seen, out = set(), []
    for kind, suffix in wanted:
        if suffix.lower() not in seen:
            seen.add(suffix.lower())
            out.append((kind, suffix))
    return out


def media_type(suffix: str) -> str:
    return MEDIA.get(suffix.lower()) or mimetypes.guess_type(f"x{suffix}")[0] or "text/plain"


def render(tok, ids: list[int], folder: Path) -> list[dict[str, Any]]:
    """Write the sample's files into ``folder``; a writer that fails is one line in its entry."""
    files = []
    for kind, suffix in outputs(tok):
        path = folder / f"sample{suffix}"
        entry: dict[str, Any] = {"kind": kind, "name": path.name, "type": media_type(suffix)}
        try:
            with WRITE_LOCK:
                tok.write(ids, path)
            entry["bytes"] = path.stat().st_size
        except Exception as e:  # a writer's failure is shown beside the sample, not raised
            entry["error"] = one_line(e)
        files.append(entry)
    return files


def describe(tok, ids: list[int]) -> dict[str, Any]:
    """What the page shows beside the files: the text, its length, the domain's report."""
    try:
        report = {str(k): str(v) for k, v in tok.sample_report(ids).items()}
    except Exception as e:
        report = {"report": f"failed: {one_line(e)}"}
    return {
        "text": tok.to_text(ids)[:MAX_TEXT],
        "length": sample_length(tok, ids),
        "report": report,
    }


def one_line(e: BaseException) -> str:
    from seqgen.errors import SeqgenError

    text = " ".join(str(e).split())[:300]
    if isinstance(e, (SeqgenError, OSError)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
