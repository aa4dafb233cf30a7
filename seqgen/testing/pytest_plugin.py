"""pytest plugin (entry point ``pytest11: seqgen``): the ``seqgen_check`` fixture.

Installed with seqgen, so a plugin's tests can use it without importing anything::

    def test_conformance(seqgen_check):
        seqgen_check(MyTokenizer)                      # on MyTokenizer.sample_corpus(...)
        seqgen_check(MyTokenizer, "data/tiny.fasta", options={"alphabet": "protein"})

Nothing heavy is imported until the fixture is used, so other projects' test runs stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def seqgen_check(tmp_path: Path) -> Callable[..., list[str]]:
    """``seqgen_check(TokenizerClass, corpus=None, options=None, only=None)`` runs the
    conformance kit (:func:`seqgen.testing.check_tokenizer`) and returns the passed checks.
    Without ``corpus`` it uses the class's ``sample_corpus``, and skips the test if there is
    none."""

    def check(
        cls: Any,
        corpus: str | Path | None = None,
        options: dict[str, str] | None = None,
        only: list[str] | None = None,
    ) -> list[str]:
        from seqgen.testing import check_tokenizer, sample_for

        if corpus is None:
            corpus = sample_for(cls, tmp_path / "sample")
            if corpus is None:
                pytest.skip(f"domain {cls.name!r} has no sample_corpus(); pass a corpus path")
        return check_tokenizer(cls, corpus, options=options, tmp_dir=tmp_path, only=only)

    return check
