"""music21's bundled corpus as named corpora (``music21:bach``, ``music21:bach-small``, ...)."""

from __future__ import annotations

from pathlib import Path

from seqgen_plugins.midi.io import SCORE_SUFFIXES

M21_COMPOSERS = {
    "bach": "J. S. Bach: the 4-part chorales (about 410 scores)",
    "beethoven": "Beethoven string quartets and more",
    "mozart": "Mozart string quartets and more",
    "haydn": "Haydn string quartets",
    "monteverdi": "Monteverdi madrigals",
    "palestrina": "Palestrina masses (about 1,300 movements)",
    "essenFolksong": "Essen folk song collection (ABC files with many tunes each)",
    "ryansMammoth": "Ryan's Mammoth Collection of fiddle tunes (ABC)",
    "oneills1850": "O'Neill's 1850 Irish tunes (ABC)",
    "trecento": "Trecento pieces",
}
SMALL = 12  # music21:bach-small: the first chorales, for quick tests


def m21_files(composer: str, limit: int | None = None) -> list[Path]:
    from music21 import corpus

    files = sorted(
        Path(p) for p in corpus.getComposer(composer) if Path(p).suffix.lower() in SCORE_SUFFIXES
    )
    return files[:limit] if limit else files


def _m21_corpus(composer: str, limit: int | None = None):
    return lambda: {"all": m21_files(composer, limit)}
