"""The conformance kit for tokenizer plugins: one call runs every check seqgen relies on.

Use it from a plugin's own tests::

    from seqgen.testing import check_tokenizer

    def test_my_domain(tmp_path):
        check_tokenizer(MyTokenizer, tmp_path / "sample.fasta")

or, with seqgen installed, through the pytest fixture ``seqgen_check`` (registered by the
``pytest11`` entry point, no import needed)::

    def test_my_domain(seqgen_check):
        seqgen_check(MyTokenizer)  # corpus: MyTokenizer.sample_corpus(tmp_path)

Every check runs even when an earlier one fails; the kit then raises one ``AssertionError``
listing each failed check with what to fix. Checks that need a working tokenizer (a corpus
that reads and fits) are reported as not run when that step fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqgen.testing.checks import (
    _FUNCS,
    _NEEDS_TOKENIZER,
    CHECKS,
    _check_contract,
    _fitted,
    _read_all,
)
from seqgen.testing.report import CheckFailure, KitReport, _crash, _Stop
from seqgen.tokenizer import Tokenizer

__all__ = [
    "CHECKS",
    "CheckFailure",
    "KitReport",
    "check_tokenizer",
    "fake_install",
    "run_checks",
    "sample_for",
]


def run_checks(
    cls: type[Tokenizer],
    corpus: str | Path,
    options: dict[str, str] | None = None,
    tmp_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> KitReport:
    """Run the checks (all, or ``only`` these names from :data:`CHECKS`) and return a report
    instead of raising. ``options`` are ``-o`` pairs as text, as on the command line."""
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
        raise TypeError(f"check_tokenizer expects a Tokenizer subclass, got {cls!r}")
    unknown = set(only or ()) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; known: {', '.join(CHECKS)}")
    wanted = [c for c in CHECKS if only is None or c in only]
    report = KitReport(cls.name or cls.__name__)
    corpus = Path(corpus)
    attempt = _Attempt(report, wanted)
    with tempfile.TemporaryDirectory(prefix="seqgen-kit-", dir=tmp_dir) as t:
        if "contract" in wanted:
            attempt("contract", lambda: _check_contract(cls))
        state: dict[str, Any] = {}
        if not attempt("read", lambda: state.update(_read_and_fit(cls, corpus, options))):
            for name in wanted:
                if name in _NEEDS_TOKENIZER:
                    report.not_run[name] = "needs the read check to pass first"
            return report
        ctx = dict(cls=cls, corpus=corpus, options=options, tmp=Path(t), **state)
        for name in wanted:
            if name in _NEEDS_TOKENIZER:
                attempt(name, lambda name=name: _FUNCS[name](**ctx))
    return report


class _Attempt:
    """Runs one check, recording a failure (or a crash) in the report instead of raising."""

    def __init__(self, report: KitReport, wanted: list[str]):
        self.report, self.wanted = report, wanted

    def __call__(self, name: str, func: Callable[[], None]) -> bool:
        try:
            func()
        except _Stop as s:
            self.report.failures.append(CheckFailure(name, s.problem, s.fix))
            return False
        except Exception as e:
            fix = f"see the {name} check: {CHECKS[name]}"
            self.report.failures.append(CheckFailure(name, f"crashed: {_crash(e)}", fix))
            return False
        if name in self.wanted:
            self.report.passed.append(name)
        return True


def _read_and_fit(cls: type[Tokenizer], corpus: Path, options) -> dict[str, Any]:
    if not corpus.exists():
        raise _Stop(
            f"sample corpus {corpus} does not exist",
            "pass an existing file or folder (or return one from sample_corpus)",
        )
    tok = cls.create(dict(options or {}))
    docs = _read_all(tok, corpus)
    if not docs or not any(len(d.parts) for d in docs):
        raise _Stop(
            f"read() found no documents with parts in {corpus}",
            "yield one Document per record with its parts",
        )
    return {"tok": _fitted(cls, options, docs), "docs": docs}


def check_tokenizer(
    cls: type[Tokenizer],
    corpus: str | Path,
    options: dict[str, str] | None = None,
    tmp_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> list[str]:
    """Run every conformance check on ``cls`` with the sample ``corpus`` (a file or folder in
    the domain's format). Returns the names of the passed checks; raises one AssertionError
    listing every failed check and what to fix."""
    report = run_checks(cls, corpus, options, tmp_dir, only)
    if not report.ok:
        raise AssertionError(report.message())
    return report.passed


def sample_for(cls: type[Tokenizer], directory: str | Path) -> Path | None:
    """The domain's own tiny sample corpus (``cls.sample_corpus``), written under
    ``directory``; None when the domain ships none."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return cls.sample_corpus(directory)


def fake_install(
    site_dir: str | Path,
    dist: str,
    entry_points: dict[str, dict[str, str]],
    version: str = "0.0.0",
) -> Path:
    """Make ``site_dir`` look like an installed distribution ``dist`` with ``entry_points``
    (``{"seqgen": {"mydomain": "my_module"}}``), without pip. Put ``site_dir`` (and the folder
    holding the plugin's modules) on ``sys.path``, then call ``importlib.invalidate_caches()``
    and ``seqgen.registry.load.cache_clear()``; seqgen then loads the plugin through the same
    entry-point machinery as a real install. Returns the ``.dist-info`` folder."""
    info = Path(site_dir) / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in eps.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info
