"""seqgen: one LSTM language model for any token stream; domains come from tokenizer plugins.

The Python API (``seqgen.train``, ``seqgen.load``) is the one the CLI calls; see seqgen/api.py.
"""

from seqgen.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl", "load", "train"]


def load(target):
    """A trained model from a run directory or checkpoint (see :class:`seqgen.api.Model`)."""
    from seqgen.api import load as _load

    return _load(target)


def train(domain, corpus=None, out=None, **options):
    """Train a new run (see :func:`seqgen.api.train`); returns it."""
    from seqgen.api import train as _train

    return _train(domain, corpus, out, **options)
