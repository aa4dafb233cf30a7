"""`seqgen corpora`: corpora that plugins register by name (usable as --corpus NAME)."""

from __future__ import annotations


def corpora() -> None:
    """List named corpora."""
    from rich.console import Console
    from rich.table import Table

    from seqgen import registry

    reg = registry.load()
    registry.warn_problems(reg)
    table = Table("corpus", "domain", "plugin", "description", box=None)
    for name, entry in sorted(reg.corpora.items()):
        table.add_row(name, entry.domain or "-", entry.plugin, entry.description)
    Console(markup=False).print(table)  # plugins' text as written
