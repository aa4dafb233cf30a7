"""The core's own architecture, registered through the same hook as a plugin's. By name, so that
`seqgen --help` and other commands that train nothing never import torch."""

from seqgen.hookspecs import hookimpl


@hookimpl
def register_architectures(register):
    register("seqgen.models.lstm:LSTMLanguageModel", name="lstm")
