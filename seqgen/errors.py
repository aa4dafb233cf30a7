"""Errors meant for the user: the CLI prints them as one line; the library never exits."""


class SeqgenError(Exception):
    """A problem the user can fix (bad input, bad option, missing file). Printed as one line."""


class DataError(SeqgenError):
    """A corpus or input file cannot be read or is unusable (empty, bad encoding, corrupt)."""


class CheckpointError(SeqgenError):
    """A checkpoint is missing, truncated, corrupt, unsafe, or from an incompatible version."""


class PluginError(SeqgenError):
    """A plugin registered something invalid (wrong type, duplicate name)."""


class OptionError(SeqgenError):
    """A domain option (-o key=value) is unknown or has a bad value."""
