"""How seqgen's commands show their help: every help text literally (a bracket such as
``[lstm]`` is text, not a rich markup tag to swallow), no ``<bool>`` after a flag, no
``<list[Path]>`` beside an argument that takes several values (its metavar says it), and a
required argument in the usage line as ``RUN`` rather than ``{RUN}``. Commands pass
``cls=Command`` (groups ``cls=Group``); plugin commands get it by default."""

from __future__ import annotations

import typer.core
from rich.markup import escape


class _Literal:
    def format_help(self, ctx, formatter):
        params = self.get_params(ctx)
        saved = [(p, p.help, p.metavar) for p in params]
        own = self.help
        for p in params:
            if getattr(p, "help", None):
                p.help = escape(p.help)
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""  # a flag takes no value: show none
            if p.param_type_name == "argument" and p.nargs != 1:
                p.display_type_rich = _no_type  # typer would show <list[Path]>
        if own:
            self.help = escape(own)
        try:
            return super().format_help(ctx, formatter)
        finally:
            self.help = own
            for p, text, metavar in saved:
                p.help, p.metavar = text, metavar
                p.__dict__.pop("display_type_rich", None)

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p[:1] == "{" and p[-1:] == "}" else p for p in pieces]


def _no_type(ctx) -> None:
    return None


class Command(_Literal, typer.core.TyperCommand):
    """A command whose help shows what its authors wrote."""


class Group(_Literal, typer.core.TyperGroup):
    """A group of commands whose help shows what its authors wrote."""
