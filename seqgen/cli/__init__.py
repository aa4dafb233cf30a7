"""The `seqgen` command line: one module per command, gathered here. Nothing heavy (torch) is
imported until a command runs, so `seqgen --help` answers at once."""

from __future__ import annotations

import sys

import typer

from seqgen import __version__
from seqgen.cli import corpora, domains, eval, generate, inspect, plugins, prepare, train
from seqgen.errors import SeqgenError

app = typer.Typer(
    name="seqgen",
    help="Train LSTM sequence models on text, words, music or markup, and generate from them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seqgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train LSTM sequence models on text, words, music or markup, and generate from them."""


app.command("train")(train.train)
app.command("generate")(generate.generate)
app.command("inspect")(inspect.inspect)
app.command("eval")(eval.evaluate)
app.command("prepare")(prepare.prepare)
app.command("domains")(domains.domains)
app.command("corpora")(corpora.corpora)
app.add_typer(plugins.app, name="plugins")


def _plugin_commands() -> None:
    from seqgen import registry

    reg = registry.load()
    reg.call("register_commands", cli=lambda plugin: app)


def main() -> None:
    try:
        _plugin_commands()
        app()
    except SeqgenError as e:
        print(f"seqgen: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("seqgen: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"seqgen: error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(1)
