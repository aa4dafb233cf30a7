"""Well-formed share of generated samples: the markup domain (constrained and not) vs char.

Draw N samples of L tokens from each trained run and parse every sample with a real XML parser.
The criterion (see docs/markup.md): the sample text (after the constraint's ``finish`` tokens,
where the run has a constraint) is wrapped as ``<seqgen-sample>`` + text + ``</seqgen-sample>``,
a leading XML declaration moved before the wrapper, and must parse with ``xml.sax`` (expat,
namespaces off: XML 1.0 well-formedness). ``etree_share`` repeats it with
``xml.etree.ElementTree`` (expat with namespace processing, so unbound prefixes fail too).

    python bench/markup_wellformed.py --markup runs/markup --char runs/char -N 20 -L 500

Prints one JSON object. A run directory may be left out; at least one is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
import xml.sax
from pathlib import Path

DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
WRAP = "seqgen-sample"


def wrap(text: str) -> str:
    """The sample as one document: a leading XML declaration first, then the root wrapper."""
    m = DECL.match(text)
    decl, body = (m.group(0).strip(), text[m.end() :]) if m else ("", text)
    return f"{decl}<{WRAP}>{body}</{WRAP}>"


def sax_ok(text: str) -> tuple[bool, str]:
    try:
        xml.sax.parseString(wrap(text).encode("utf-8"), xml.sax.ContentHandler())
        return True, ""
    except xml.sax.SAXParseException as e:
        return False, f"{e.getLineNumber()}:{e.getColumnNumber()}: {e.getMessage()}"


def etree_ok(text: str) -> bool:
    try:
        ET.fromstring(wrap(text).encode("utf-8"))
        return True
    except ET.ParseError:
        return False


def measure(run: Path, n: int, length: int, seed: int, constrained: bool) -> dict:
    import torch

    from seqgen import checkpoint
    from seqgen.decode import DecodeConfig as SampleConfig
    from seqgen.decode import decode as generate

    torch.set_num_threads(1)
    model, tok = checkpoint.build(checkpoint.load(run))
    if not constrained:
        tok.constraint = lambda: None  # type: ignore[method-assign]
    t0 = time.perf_counter()
    cfg = SampleConfig(length=length, num_samples=n, seed=seed)
    samples = generate(model, tok, cfg)
    seconds = time.perf_counter() - t0
    texts = [tok.to_text(s) for s in samples]
    checks = [sax_ok(t) for t in texts]
    good = sum(ok for ok, _ in checks)
    return {
        "run": str(run),
        "domain": tok.name,
        "constrained": constrained and tok.constraint() is not None,
        "samples": n,
        "tokens_per_sample": length,
        "mean_characters": round(sum(map(len, texts)) / n, 1),
        "well_formed": good,
        "share": round(good / n, 4),
        "etree_share": round(sum(map(etree_ok, texts)) / n, 4),
        "errors": [err for ok, err in checks if not ok][:5],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markup", type=Path, help="run directory of a markup-domain model")
    ap.add_argument("--char", type=Path, help="run directory of a char-domain model")
    ap.add_argument("-N", "--samples", type=int, default=100)
    ap.add_argument("-L", "--length", type=int, default=2000, help="tokens per sample")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    a = ap.parse_args()
    if a.markup is None and a.char is None:
        ap.error("give --markup and/or --char")
    results = []
    if a.markup is not None:
        results.append(measure(a.markup, a.samples, a.length, a.seed, constrained=True))
        results.append(measure(a.markup, a.samples, a.length, a.seed, constrained=False))
    if a.char is not None:
        results.append(measure(a.char, a.samples, a.length, a.seed, constrained=False))
    report = {"criterion": f"xml.sax parse of <{WRAP}>sample</{WRAP}>", "results": results}
    text = json.dumps(report, indent=2)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
