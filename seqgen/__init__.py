"""seqgen: one LSTM language model for any token stream; domains come from tokenizer plugins."""

from seqgen.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
