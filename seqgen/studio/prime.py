"""A generate request's body and its prime: the form (or JSON) read within a size bound, and
an uploaded file read as `seqgen generate --prime-file` reads one, with the same limits."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgen import limits
from seqgen.errors import SeqgenError

FORM_BYTES = 64 << 10  # room for the form's other fields, beside the file


@dataclass
class Upload:
    name: str  # as the user named it (shown in messages only)
    data: bytes


async def read_form(request) -> tuple[dict, Upload | None]:
    """The fields and the uploaded file of a generate request; a body over the prime-file
    limit is refused by its Content-Length, before it is read."""
    bound = limits.limit("prime_bytes") + FORM_BYTES
    size = request.headers.get("content-length")
    if size is None or not size.isdigit():
        raise SeqgenError("give the request's Content-Length")
    if int(size) > bound:
        raise SeqgenError(
            f"the request is {int(size):,} bytes, over the studio's limit of {bound:,} "
            f"(the prime-file limit; raise it with SEQGEN_MAX_PRIME_BYTES)"
        )
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            raw = json.loads(await request.body())
        except ValueError:
            raise SeqgenError("the request body is not valid JSON") from None
        if not isinstance(raw, dict):
            raise SeqgenError("the request body must be a JSON object")
        return raw, None
    try:
        form = await request.form(max_files=1, max_fields=64)
    except Exception as e:  # a malformed multipart body
        raise SeqgenError(f"the request's form could not be read ({type(e).__name__})") from None
    raw, upload = {}, None
    for key, value in form.multi_items():
        if hasattr(value, "read"):  # the file field
            data = await value.read()
            if data or value.filename:
                upload = Upload(value.filename or "upload", data)
        else:
            raw[key] = value
    return raw, upload


def prime_ids(model, text: str | None, upload: Upload | None, folder: Path) -> list[int]:
    """The prime's ids: the uploaded file (through the CLI's reader and limits, from a private
    temporary file removed after), then the text. Messages name the upload as the user did."""
    from seqgen.cli.generate import _prime_ids

    if upload is None:
        return _prime_ids(model, text or None, None)
    shown = re.sub(r"[\x00-\x1f/\\]", "_", upload.name)[:120] or "upload"
    suffix = Path(shown).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
    where = Path(tempfile.mkdtemp(prefix="upload-", dir=folder))
    path = where / f"prime{suffix}"
    try:
        path.write_bytes(upload.data)
        return _prime_ids(model, text or None, path)
    except (SeqgenError, OSError) as e:
        message = str(e).replace("--prime-file ", "").replace(str(path), shown)
        raise SeqgenError(" ".join(message.split())) from None
    finally:
        shutil.rmtree(where, ignore_errors=True)
