"""`seqgen prepare`: tokenize a corpus into the cache and report counts; `--check` round trips."""

from __future__ import annotations

import time

import typer

from seqgen.errors import SeqgenError

WORKERS = typer.Option(
    None,
    "--workers",
    min=1,
    help="Processes that tokenize a big corpus (default: the CPUs this process may use).",
    show_default=False,
)


def prepare(
    domain: str = typer.Option(..., "--domain", "-d", help="Domain (see `seqgen domains`)."),
    corpus: str = typer.Option(
        None,
        "--corpus",
        "-c",
        help="File, directory, glob or corpus name. Default: the domain's built-in corpus, "
        "if it has one (as seqgen train).",
    ),
    option: list[str] = typer.Option(
        None, "--option", "-o", metavar="KEY=VALUE", help="A domain option (repeatable)."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Verify decode(encode(x)) equals the domain's reference for "
        "every document; exit 1 on any mismatch.",
    ),
    workers: int = WORKERS,
) -> None:
    """Tokenize a corpus (cached) and print its counts as JSON."""
    from seqgen import registry
    from seqgen.cli.common import emit_json, parse_pairs
    from seqgen.corpus import resolve
    from seqgen.data import prepare as run_prepare

    reg = registry.load()
    registry.warn_problems(reg)
    tok_cls = reg.domain(domain)
    settings = tok_cls.parse_options(parse_pairs(option))
    corpus = corpus or tok_cls.default_corpus
    if not corpus:
        raise SeqgenError(f"--corpus is required: domain {domain!r} has no built-in corpus")
    spec = resolve(corpus, tok_cls.file_patterns, reg)
    t0 = time.perf_counter()
    data = run_prepare(tok_cls, spec, settings=settings, workers=workers)
    report = {
        "domain": domain,
        "corpus": spec.name,
        "files": len(spec.files),
        "vocab_size": data.tokenizer.vocab_size,
        "unit": data.tokenizer.unit,
        "splits": data.meta["splits"],
        "skipped": data.meta.get("skipped", {}),
        "cache": str(data.dir),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    failed = 0
    if check:
        report["check"] = round_trips(spec, data)
        failed = report["check"]["mismatches"]
    emit_json(report)
    if failed:
        raise typer.Exit(1)


def round_trips(spec, data) -> dict:
    """decode(encode(x)) against the domain's reference, for every part of every document."""
    from seqgen.data import _Sources

    tok = data.tokenizer
    checked, failed, problems = 0, 0, []
    sources = _Sources(spec, tok)
    sources.skipped.update(data.meta.get("skipped", {}))  # already reported: skip quietly
    for split in spec.sources:
        for doc, _ in sources.documents(split):
            for part in doc.parts:
                checked += 1
                problem = tok.check_part(part)
                if problem:
                    failed += 1
                    if len(problems) < 10:
                        problems.append(f"{doc.name}: {problem}")
    return {"parts": checked, "mismatches": failed, "examples": problems}
