"""Every `seqgen ...` command shown in the README and docs/ must parse against the real CLI
(options exist, values have the right types), and the README's text quickstart must run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(?:bash|sh|console|shell)\n(.*?)```", re.S)


def commands(path: Path) -> list[str]:
    found = []
    for block in BLOCK.findall(path.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;|\|", line):
                part = part.strip().removeprefix("$ ").strip()
                if part.startswith("torchrun ") and " -m seqgen " in part:  # what torchrun runs
                    part = "seqgen " + part.split(" -m seqgen ", 1)[1]
                if part.startswith("seqgen "):
                    found.append(part)
    return found


ALL = [(p.relative_to(ROOT).as_posix(), c) for p in DOCS for c in commands(p)]


def test_docs_show_commands():
    assert len(ALL) >= 5


@pytest.mark.parametrize(("doc", "line"), ALL, ids=[f"{d}:{c[:60]}" for d, c in ALL])
def test_documented_command_parses(doc, line):
    from seqgen.cli import _plugin_commands, app

    _plugin_commands()
    root = typer.main.get_command(app)
    args = shlex.split(line, comments=True)[1:]
    ctx = root.make_context("seqgen", list(args))
    cmd = root
    while hasattr(cmd, "resolve_command"):  # a group of subcommands
        rest = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
        if not rest:
            break
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None, f"{doc}: no command {name!r} in: {line}"
        ctx = sub.make_context(name, list(rest), parent=ctx)
        cmd = sub


def test_readme_text_quickstart_runs(cli, tmp_path, monkeypatch):
    """The README's text quickstart, as written, on the files a clone has (a small model and
    a 2-second budget; the run folder in a temporary directory)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    readme = commands(ROOT / "README.md")
    quick = [c for c in readme if "runs/text" in c]
    assert [c.split()[1] for c in quick] == ["train", "generate", "eval"]
    for line in quick:
        args = shlex.split(line.replace("--max-time 300", "--max-time 2"))[1:]
        if args[0] == "train":
            args += ["--hidden-size", "32", "--embedding-size", "16", "-q"]
        code, out, err = cli(*args)
        assert code == 0, f"{line}\n{err}"


def test_readme_layout_names_the_folders_there_are():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("Layout:") :].split("\n\n")[0]
    named = re.findall(r"`([\w./-]+)/`", layout)
    assert len(named) >= 5
    missing = [name for name in named if not (ROOT / name).is_dir()]
    assert not missing, f"the README's layout names folders that do not exist: {missing}"


def test_readme_installs_what_ci_installs():
    """Every package .ci/run installs (the example plugin the tests load included) is installed
    by a command the README shows."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in re.findall(r"^python -m pip install (.*)$", ci, re.M):
        words = [w for w in line.split() if w not in ("-q", "--upgrade")]
        if words == ["pip"]:
            continue
        assert f"pip install {' '.join(words)}" in readme, f"the README never runs: {line}"
