"""`seqgen domains [NAME]`: the loaded domains, or one domain's options."""

from __future__ import annotations

import typer


def domains(
    name: str = typer.Argument(None, metavar="NAME", help="Show this domain's options."),
) -> None:
    """List domains with a one-line description, or the options of one domain."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from seqgen import registry

    reg = registry.load()
    registry.warn_problems(reg)
    console = Console(markup=False)  # a plugin's text is shown as written, brackets and all
    if name is None:
        table = Table("domain", "unit", "plugin", "description", box=None)
        for dom, cls in sorted(reg.domains.items()):
            table.add_row(dom, cls.unit, reg.domain_plugin[dom], cls.description)
        console.print(table)
        return
    cls = reg.domain(name)
    console.print(Text.assemble((name, "bold"), f": {cls.description}"), highlight=False)
    console.print(
        f"unit: {cls.unit}; output: {cls.output_suffix}; plugin: {reg.domain_plugin[name]}"
    )
    if cls.default_corpus:
        console.print(f"default corpus: {cls.default_corpus}")
    if cls.renders:
        made = ", ".join(f"--{k} ({'/'.join(v)})" for k, v in cls.renders.items())
        console.print(f"seqgen generate can also write: {made}")
    if cls.measures:
        console.print(f"samples measured in: {', '.join(f'--{m}' for m in cls.measures)}")
    if not cls.options:
        console.print("no options")
        return
    table = Table("option (-o key=value)", "type", "default", "help", box=None)
    for o in cls.options:
        kind = "|".join(o.choices) if o.choices else o.type.__name__
        table.add_row(o.name, kind, repr(o.default), o.help)
    console.print(table)
