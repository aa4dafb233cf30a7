"""Bad input: one clear line naming the thing and the problem; never a traceback, never a
half-written output file."""

import pytest

TINY = ("--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8", "-q")


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert "Traceback" not in err
    return lines[-1]


@pytest.fixture
def run(cli, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello world\n" * 200)
    out = tmp_path / "run"
    assert cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "2", *TINY)[0] == 0
    return out


def test_missing_corpus(cli, tmp_path):
    code, _, err = cli("train", "-d", "char", "-c", tmp_path / "nope.txt", *TINY)
    assert code == 1 and "nope.txt" in one_line(err) and "no such" in err


def test_empty_corpus(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = cli("train", "-d", "char", "-c", empty, "--out", tmp_path / "r", *TINY)
    assert code == 1 and "no usable documents" in one_line(err)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_invalid_utf8_names_file_and_offset(cli, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\n" * 10 + b"\xff\xfe broken")
    code, _, err = cli("prepare", "-d", "char", "-c", bad)
    line = one_line(err)
    assert code == 1 and "bad.txt" in line and "byte 100" in line


def test_invalid_utf8_file_in_a_folder_is_skipped(cli, tmp_path):
    import json

    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(3):
        (folder / f"good{i}.txt").write_text("some good text\n" * 50)
    (folder / "bad.txt").write_bytes(b"\xc3\x28 not utf-8")
    code, out, err = cli("prepare", "-d", "char", "-c", folder)
    assert code == 0, err
    report = json.loads(out)
    assert list(report["skipped"]) == [str(folder / "bad.txt")]
    assert "bad.txt" in err


def test_unknown_domain_and_bad_option(cli, tmp_path):
    code, _, err = cli("train", "-d", "klingon", "-c", tmp_path)
    assert code == 1 and "unknown domain 'klingon'" in one_line(err) and "char" in err
    code, _, err = cli("prepare", "-d", "char", "-c", tmp_path, "-o", "lowercase=perhaps")
    assert code == 1 and "lowercase" in one_line(err)
    code, _, err = cli("prepare", "-d", "char", "-c", tmp_path, "-o", "colour=red")
    assert code == 1 and "colour" in one_line(err) and "lowercase" in err


def test_prime_with_unknown_symbols_lists_them(cli, run):
    code, out, err = cli("generate", run, "--prime", "hello ☃ Ω")
    line = one_line(err)
    assert code == 1 and "'☃'" in line and "'Ω'" in line


def test_generate_never_leaves_a_half_file(cli, run, tmp_path, monkeypatch):
    import seqgen.io

    target = tmp_path / "out.txt"
    target.write_text("previous content")

    def interrupted(fd):  # the sample is written to the temp file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(seqgen.io.os, "fsync", interrupted)
    code, _, err = cli("generate", run, "-n", "20", "-q", "--out", target)
    assert code != 0
    assert target.read_text() == "previous content"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.argv=['seqgen','--help']\n"
        "from seqgen.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported at startup'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
