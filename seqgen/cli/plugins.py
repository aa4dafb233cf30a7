"""`seqgen plugins`: what is loaded, which hooks each plugin implements, and any failures."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Loaded plugins; `seqgen plugins new` starts a new one.", invoke_without_command=True
)


@app.callback()
def plugins(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List loaded plugins with their version and hooks."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from seqgen import registry
    from seqgen.cli.common import emit_json

    reg = registry.load()
    if as_json:
        emit_json([asdict(p) for p in reg.plugins.values()])
        return
    registry.warn_problems(reg)
    table = Table("plugin", "version", "module", "hooks", "status", box=None)
    for p in reg.plugins.values():
        table.add_row(p.name, p.version, p.module, ", ".join(p.hooks), p.error or "ok")
    Console().print(table)
