"""What a newcomer reads first: every command's help shows what its authors wrote (no
``<bool>``, ``{target}``, swallowed ``[lstm]`` or a stray " ."), and the defaults it names are
the ones a run uses, budget sizing's included."""

from __future__ import annotations

import re

import pytest
import typer

WIDE = "1000"  # columns: every help text on one line, so it can be found whole


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the real CLI (plugin commands included), as argv."""
    from seqgen.cli import _plugin_commands, app

    _plugin_commands()
    found: list[tuple[str, ...]] = [()]

    def walk(cmd, path):
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            found.append((*path, name))
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def params_of(path: tuple[str, ...]):
    from seqgen.cli import app

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd.params


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "seqgen")
def test_help_shows_what_was_written(cli, monkeypatch, path):
    monkeypatch.setenv("COLUMNS", WIDE)
    code, out, err = cli(*path, "--help")
    assert code == 0, err
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    for artefact in ("<bool>", "<list[", "[default: None]", "(dynamic)"):
        assert artefact not in out, f"seqgen {' '.join(path)} --help shows {artefact}"
    dangling = re.findall(r"\S*\s[.,;:](?=\s|$)", flat(out))
    assert not dangling, f"dangling punctuation in seqgen {' '.join(path)} --help: {dangling}"
    for p in params_of(path):
        if p.help:  # the whole text, brackets included (rich markup must not eat "[lstm]")
            assert flat(p.help) in flat(out), f"{p.name}: {p.help!r} is not shown as written"


def _train_help() -> dict[str, str]:
    return {p.name: p.help or "" for p in params_of(("train",))}


def test_train_help_names_the_defaults_a_run_uses():
    from dataclasses import MISSING, fields

    from seqgen.config import TrainConfig
    from seqgen.models.lstm import LSTMConfig

    helps = _train_help()
    checked = 0
    for f in [*fields(TrainConfig), *fields(LSTMConfig)]:
        said = re.search(r"\[default: ([^;\]]+)", helps.get(f.name, ""))
        if said is None or f.default is MISSING or f.default is None or f.type == "bool":
            continue
        shown = said.group(1).split(",")[0].strip()
        if isinstance(f.default, int | float):
            assert float(shown) == f.default, f"--{f.name}: help says {shown}, runs use {f.default}"
        else:
            assert shown == f.default, f"--{f.name}: help says {shown}, runs use {f.default}"
        checked += 1
    assert checked >= 12


def test_train_help_says_what_budget_sizing_chooses():
    from seqgen.sizing import BUDGET_MODEL, BUDGET_TRAIN, SIZED

    helps = _train_help()
    for name in SIZED:
        assert "sized for --max-time" in helps[name], f"--{name} hides that sizing replaces it"
    for name, value in {**BUDGET_MODEL, **BUDGET_TRAIN}.items():
        assert f"sized for --max-time: {value:g}" in helps[name]  # first, as the value
    assert "sized for --max-time" in helps["max_time"]


def test_a_plugins_text_is_shown_as_written(cli, monkeypatch):
    """`seqgen domains` prints what a plugin wrote, brackets and all (rich markup ate them)."""
    from seqgen import registry

    cls = registry.load().domain("char")
    monkeypatch.setattr(cls, "description", "text [lstm] [bold]not bold[/bold]")
    monkeypatch.setenv("COLUMNS", WIDE)
    for args in (["domains"], ["domains", "char"]):
        code, out, err = cli(*args)
        assert code == 0, err
        assert "text [lstm] [bold]not bold[/bold]" in out
