"""`seqgen plugins`: what is loaded, which hooks each plugin implements, and any failures."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from seqgen.cli.helpfmt import Command, Group

app = typer.Typer(
    cls=Group,
    help="Loaded plugins; `seqgen plugins new` starts a new one.",
    invoke_without_command=True,
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
    Console(markup=False).print(table)  # plugins' text as written


# --- `seqgen plugins new` --------------------------------------------------------------------
FILES = {  # template -> path in the new project ({package} and {name} filled in)
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "tokenizer.py.tmpl": "{package}/__init__.py",
    "test_plugin.py.tmpl": "tests/test_{name}.py",
}


def render(name: str) -> dict[str, str]:
    """The new project's files (relative path -> text) for domain ``name``."""
    from importlib.resources import files

    from seqgen.errors import SeqgenError

    if not name.isidentifier() or not name.islower() or name.startswith("_"):
        raise SeqgenError(
            f"plugin name {name!r}: use a lowercase Python identifier (letters, digits, _), "
            "e.g. dna or sheet_music"
        )
    values = {
        "name": name,
        "package": f"seqgen_{name}",
        "dist": f"seqgen-{name.replace('_', '-')}",
        "class_name": "".join(w.capitalize() for w in name.split("_")) + "Tokenizer",
        "suffix": ".txt",
    }
    out = {}
    root = files("seqgen.templates") / "plugin"
    for template, target in FILES.items():
        text = (root / template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        out[target.format(**values)] = text
    return out


@app.command("new", cls=Command)
def new(
    name: str = typer.Argument(
        ..., metavar="NAME", help="Domain name, a lowercase identifier (e.g. dna)."
    ),
    directory: Path = typer.Option(
        None, "--dir", help="Where to create the project. [default: ./seqgen-NAME]"
    ),
) -> None:
    """Create a plugin package: entry point, tokenizer stub, kit test, README.

    The stub already passes the conformance kit; edit it until it reads your format."""
    from seqgen.errors import SeqgenError

    project = render(name)
    target = directory if directory is not None else Path(f"seqgen-{name.replace('_', '-')}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SeqgenError(f"{target}: already exists and is not empty; choose another --dir")
    for rel, text in project.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"seqgen: created {target}/ ({', '.join(project)})", file=sys.stderr)
    typer.echo(
        f"next:\n  pip install -e {target}\n  seqgen domains   # lists {name}\n"
        f"  cd {target} && pytest   # the conformance kit"
    )
