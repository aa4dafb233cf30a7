"""Stand-ins the speed benches share: a tokenizer whose tokens are their own ids."""

from __future__ import annotations

from seqgen.tokenizer import Tokenizer


class Ids(Tokenizer):
    """A stand-in tokenizer: ids are the tokens; id 0 ends a document."""

    name = "ids"

    def __init__(self, vocab: int):
        super().__init__()
        self.v = vocab

    @property
    def vocab_size(self) -> int:
        return self.v

    @property
    def eod_id(self) -> int:
        return 0
