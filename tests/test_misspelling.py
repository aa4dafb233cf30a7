"""A misspelled domain, domain option, corpus name or file, architecture, command or option is
refused in one line that suggests the closest name (difflib), before anything is read."""

from __future__ import annotations

import pytest


def one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("seqgen: error: "), err
    return err


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("hello world\n" * 200)
    return path


MISSPELT = {
    "domain": (["train", "--domain", "mdi"], "did you mean 'midi'?"),
    "domain option": (["train", "-d", "midi", "-o", "trnspose=6"], "did you mean 'transpose'?"),
    "corpus name": (["train", "-d", "midi", "-c", "music21:bahc"], "did you mean 'music21:bach'?"),
    "corpus filter": (["prepare", "-d", "midi", "-c", "music21:bahc/bwv1"], "'music21:bach/bwv1'"),
    "architecture": (["train", "-d", "char", "--arch", "lsmt"], "did you mean 'lstm'?"),
    "command": (["trian"], "did you mean 'train'?"),
    "option": (["train", "--domian", "char"], "--domain"),
    "domains NAME": (["domains", "wrod"], "did you mean 'word'?"),
}


@pytest.mark.parametrize("case", MISSPELT, ids=list(MISSPELT))
def test_a_misspelling_is_one_line_with_a_suggestion(cli, tmp_path, text, case):
    args, suggestion = MISSPELT[case]
    if args[0] == "train" and "-c" not in args:
        args = [*args, "-c", text]
    code, _, err = cli(*args, "--out", tmp_path / "run") if args[0] == "train" else cli(*args)
    assert code != 0
    assert suggestion.lower() in one_line(err).lower()
    assert not (tmp_path / "run").exists()


def test_a_misspelt_corpus_file_suggests_the_file_beside_it(cli, tmp_path, text, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "-d", "char", "-c", "inptu.txt", "--max-steps", "1")
    assert code == 1 and "did you mean 'input.txt'?" in one_line(err)
    code, _, err = cli("train", "-d", "char", "-c", "nothing-like-it.xyz", "--max-steps", "1")
    assert code == 1 and "did you mean" not in one_line(err)


def test_nothing_close_lists_what_there_is(cli, text):
    code, _, err = cli("train", "--domain", "klingon", "-c", text)
    assert code == 1 and "(available: char" in one_line(err)


def test_no_command_shows_the_help_and_no_error(cli):
    code, out, err = cli()
    assert code == 2 and "Usage:" in out + err and "error" not in err


def test_a_bad_value_or_a_missing_argument_is_one_line(cli):
    code, _, err = cli("train", "--batch-size", "many")
    assert code == 2 and "--batch-size" in one_line(err)
    code, _, err = cli("generate")
    assert code == 2 and "RUN" in one_line(err)
