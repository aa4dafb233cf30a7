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


def close_match(name: str, choices) -> str | None:
    """The choice closest to a misspelled ``name`` (difflib's ratio of at least 0.6), or None."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return close[0] if close else None


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``name``; "" if none is close."""
    close = close_match(name, choices)
    return f" (did you mean {close!r}?)" if close else ""


def hint(name: str, choices, label: str = "available") -> str:
    """What to say after refusing ``name``: the close choice, else every choice."""
    choices = sorted(str(c) for c in choices)
    return did_you_mean(name, choices) or f" ({label}: {', '.join(choices) or 'none'})"
