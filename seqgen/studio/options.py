"""A generate request's fields (a form or JSON) to checked decoding options: the same checks
as `seqgen generate`, then the studio's own bounds on length and beam width."""

from __future__ import annotations

import math
from typing import Any

from seqgen.errors import SeqgenError

MAX_BEAM = 16  # a beam search is cancelled only once it ends: keep it short

FIELDS = {  # name -> type; anything else in a request is refused
    "run": str, "prime": str, "length": int, "seconds": float, "bars": float,
    "temperature": float, "top_k": int, "top_p": float, "greedy": bool, "beam": int,
    "length_penalty": float, "seed": int, "cache": bool, "guidance": float,
}  # fmt: skip
IGNORED = ("prime_file",)  # the upload, read on its own
CONTROL = "control."  # "control.KEY" fields: the run's control labels (docs/labels.md)


def parse(raw: dict[str, Any]) -> dict[str, Any]:
    """Typed values of the fields given (empty strings dropped); one line naming a bad one."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in IGNORED:
            continue
        if name.startswith(CONTROL):  # empty: the model's own mix for that key
            value = _convert(name, value, str).strip()
            if value:
                out.setdefault("labels", {})[name[len(CONTROL) :]] = value
            continue
        kind = FIELDS.get(name)
        if kind is None:
            raise SeqgenError(f"{name}: not a generate option (options: {', '.join(FIELDS)})")
        if value is None or (isinstance(value, str) and not value.strip() and kind is not str):
            continue
        out[name] = _convert(name, value, kind)
    if not out.get("run"):
        raise SeqgenError("run: pick a run")
    return out


def _convert(name: str, value: Any, kind: type) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise SeqgenError(f"{name}: give text")
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "on", "yes"):
            return True
        if text in ("0", "false", "off", "no"):
            return False
        raise SeqgenError(f"{name}: {value!r} is not true or false")
    try:
        number = float(value) if kind is float else int(str(value).strip())
    except (TypeError, ValueError):
        what = "a number" if kind is float else "a whole number"
        raise SeqgenError(f"{name}: {value!r} is not {what}") from None
    if isinstance(value, bool) or (kind is float and not math.isfinite(number)):
        raise SeqgenError(f"{name}: {value!r} is not a finite number")
    return number


def decode_options(fields: dict[str, Any], tok, max_length: int) -> dict[str, Any]:
    """DecodeConfig fields for one sample, checked as `seqgen generate` checks them."""
    from seqgen.decode import DecodeConfig, check_until

    goals = [(m, fields[m]) for m in ("seconds", "bars") if m in fields]
    if len(goals) > 1:
        raise SeqgenError("give seconds or bars, not both")
    length = fields.get("length", max_length if goals else min(500, max_length))
    if length > max_length:
        raise SeqgenError(f"length {length:,}: the studio draws at most {max_length:,} tokens")
    beam = fields.get("beam", 1)
    if beam > MAX_BEAM:
        raise SeqgenError(f"beam {beam}: the studio searches at most {MAX_BEAM} beams")
    cfg = DecodeConfig(
        length=length, temperature=fields.get("temperature", 1.0), top_k=fields.get("top_k"),
        top_p=fields.get("top_p"), greedy=fields.get("greedy", False), beam=beam,
        length_penalty=fields.get("length_penalty", 1.0), seed=fields.get("seed"),
        until=goals[0] if goals else None, guidance=fields.get("guidance", 0.0),
    )  # fmt: skip
    try:
        cfg.check()
        check_until(tok, cfg.until)
    except SeqgenError as e:  # the CLI's message names --options; the page has fields
        raise SeqgenError(str(e).replace("--", "")) from None
    names = ("length", "temperature", "top_k", "top_p", "greedy", "beam", "length_penalty",
             "seed", "until", "guidance")  # fmt: skip
    out = {n: getattr(cfg, n) for n in names}
    out["cache"] = fields.get("cache", True)
    return out
