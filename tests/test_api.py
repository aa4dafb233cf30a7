"""The README's Python example runs (on a small text and a short budget) and the API gives
what the CLI gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README shows no Python example"
    return blocks[0]


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    code = readme_python().replace("max_time=60", "max_steps=30, hidden_size=32, embedding_size=16")
    assert "max_steps=30" in code
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("The model") and len(out) >= 3
    assert 0 < float(out[-1]) < 8


def test_api_and_cli_give_the_same_samples_and_scores(cli, tmp_path):
    import json

    import seqgen

    text = tmp_path / "t.txt"
    text.write_text("abcabd abcabe\n" * 300)
    run = seqgen.train("char", text, tmp_path / "r", max_steps=20, hidden_size=16,
                       embedding_size=8, batch_size=4, seq_len=16)  # fmt: skip
    model = seqgen.load(run.dir)
    got = model.generate(prime="ab", length=30, seed=4)[0]
    code, out, err = cli("generate", run.dir, "--prime", "ab", "-n", "30", "--seed", "4")
    assert code == 0, err
    assert out.rstrip("\n") == got
    code, out, err = cli("eval", run.dir, "--json")
    assert code == 0, err
    cli_score, api_score = json.loads(out), model.score()
    assert cli_score["nats_per_token"] == api_score["nats_per_token"]
