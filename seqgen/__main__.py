"""``python -m seqgen``: the same CLI as the ``seqgen`` command (torchrun launches it this way)."""

from seqgen.cli import main

main()
