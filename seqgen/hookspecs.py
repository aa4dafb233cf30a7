"""The hooks a seqgen plugin can implement. Each receives a `register` callable owned by the core.

A plugin is a module listed under the ``seqgen`` entry-point group whose functions carry
``@seqgen.hookimpl``. An implementation may accept fewer arguments than its spec.
"""

import pluggy

hookspec = pluggy.HookspecMarker("seqgen")
hookimpl = pluggy.HookimplMarker("seqgen")


@hookspec
def register_domains(register):
    """Register tokenizer classes: ``register(MyTokenizer)``; the class's ``name`` is the domain."""


@hookspec
def register_corpora(register):
    """Register named corpora: ``register(name, factory, description=..., domain=...)``.

    ``factory()`` returns a path, or a :class:`seqgen.corpus.CorpusSplits` with its own splits."""


@hookspec
def register_architectures(register):
    """Register model architectures: ``register(MyModel)``, a
    :class:`seqgen.models.LanguageModel` subclass; its ``arch`` is the name ``--arch`` takes."""


@hookspec
def register_commands(cli):
    """Add commands to the ``seqgen`` typer app: ``@cli.command() def hello(): ...``."""
