"""seqgen studio: a local web page (and the HTTP API it shares with scripts) to pick a run,
set the decoding knobs, generate, and listen. Needs the extra: pip install "seqgen[studio]"."""
