"""The `seqgen` command line: one module per command, gathered here. Nothing heavy (torch) is
imported until a command runs, so `seqgen --help` answers at once."""

from __future__ import annotations

import os
import sys

import typer

from seqgen import __version__
from seqgen.cli import (
    corpora,
    domains,
    eval,
    generate,
    inspect,
    plugins,
    prepare,
    studio,
    train,
)
from seqgen.cli.helpfmt import Command, Group
from seqgen.errors import SeqgenError

app = typer.Typer(
    name="seqgen",
    cls=Group,
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


app.command("train", cls=Command)(train.train)
app.command("generate", cls=Command)(generate.generate)
app.command("inspect", cls=Command)(inspect.inspect)
app.command("eval", cls=Command)(eval.evaluate)
app.command("prepare", cls=Command)(prepare.prepare)
app.command("domains", cls=Command)(domains.domains)
app.command("corpora", cls=Command)(corpora.corpora)
app.command("studio", cls=Command)(studio.studio)
app.add_typer(plugins.app, name="plugins")


_OWNERS: dict[str | None, str] = {}  # command name -> who registered it ("seqgen": built in)


def _own_commands() -> None:
    for c in app.registered_commands:
        _OWNERS[c.name or c.callback.__name__.replace("_", "-")] = "seqgen"
    for g in app.registered_groups:
        _OWNERS[g.name] = "seqgen"


_own_commands()


def _plugin_commands() -> None:
    from seqgen import registry

    reg = registry.load()
    reg.call("register_commands", cli=lambda plugin: _Guarded(app, plugin))


class _Guarded:
    """What a plugin's ``register_commands`` gets: the app's ``command`` and ``add_typer``,
    refusing a name that is already taken (a plugin must not replace ``train``)."""

    def __init__(self, app: typer.Typer, plugin: str):
        self._app, self._plugin = app, plugin

    def _check(self, name: str | None) -> None:
        from seqgen.errors import PluginError

        owner = _OWNERS.setdefault(name, self._plugin)
        if owner != self._plugin:  # the same plugin may register again (a second main() call)
            raise PluginError(f"plugin {self._plugin!r} tried to replace the command {name!r}")

    def command(self, name: str | None = None, **kwargs):
        kwargs.setdefault("cls", Command)
        real = self._app.command(name, **kwargs)

        def decorator(func):
            self._check(name or func.__name__.replace("_", "-"))
            return real(func)

        return decorator

    def add_typer(self, sub: typer.Typer, name: str | None = None, **kwargs):
        self._check(name or sub.info.name)
        return self._app.add_typer(sub, name=name, **kwargs)


# click's errors: typer's own copy of click raises TyperException; older typers raise click's.
_CLICK_ERRORS = getattr(typer, "TyperException", None) or __import__("click").ClickException


def main() -> None:
    _exit(_main())


def _main() -> int:
    try:
        _plugin_commands()
        code = app(standalone_mode=False)  # click's own errors are printed below, in one line
        return code if isinstance(code, int) else 0
    except _CLICK_ERRORS as e:  # a misspelled command or option, a bad value
        if type(e).__name__ != "NoArgsIsHelpError":  # that one has shown the help already
            print(f"seqgen: error: {' '.join(e.format_message().split())}", file=sys.stderr)
        return e.exit_code
    except typer.Abort:
        print("seqgen: aborted", file=sys.stderr)
        return 1
    except SeqgenError as e:
        if not getattr(e, "said_elsewhere", False):  # another process of the run says it
            print(f"seqgen: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seqgen: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"seqgen: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("seqgen: error: out of memory (try a smaller --batch-size or model)", file=sys.stderr)
        return 1
    except Exception as e:  # the last net: a bug (ours or a plugin's) is still one line
        if os.environ.get("SEQGEN_DEBUG"):
            raise
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        print(
            f"seqgen: error: unexpected {type(e).__name__}: {detail} "
            "(a bug; SEQGEN_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _exit(code: int) -> None:
    """Exit with ``code``. A process of a multi-process run that leaves on an error has said
    why; it skips the interpreter's teardown, where the process group's threads, destroyed
    while a peer leaves too, can abort the process ("terminate called ...", SIGABRT)."""
    dist = sys.modules.get("torch.distributed")
    if code and dist is not None and dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)
