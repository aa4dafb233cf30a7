"""File templates for `seqgen plugins new`: ``plugin/*.tmpl`` with ``{{placeholders}}``."""
