"""seqgen's built-in domains. Each module is a plugin registered through the `seqgen` entry-point
group in pyproject.toml, exactly as a third-party plugin package would register."""
