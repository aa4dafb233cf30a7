"""Shared fixtures: every test gets its own token cache; shared corpora are found if present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_corpora() -> Path | None:
    env = os.environ.get("SEQGEN_CORPORA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "corpora"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def corpora() -> Path:
    found = shared_corpora()
    if found is None:
        pytest.skip("shared corpora not found (set SEQGEN_CORPORA)")
    return found


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the real `seqgen` CLI in-process: ``cli("train", ...)`` -> (code, stdout, stderr)."""
    import sys

    from seqgen.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["seqgen", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def run(cli, tmp_path) -> Path:
    """A tiny char run of three steps, trained in ``tmp_path / "run"``."""
    text = tmp_path / "t.txt"
    text.write_text("abcabcabd\n" * 200)
    out = tmp_path / "run"
    tiny = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "8"]
    code, _, err = cli("train", "-d", "char", "-c", text, "--out", out, "--max-steps", "3",
                       *tiny, "-q")  # fmt: skip
    assert code == 0, err
    return out


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """``install_plugin(module_name, source)``: write a plugin module, register it under the
    `seqgen` entry-point group (beside the built-ins, as pip would) and reload the registry."""
    import importlib
    import textwrap

    from seqgen import registry
    from seqgen.testing import fake_install

    monkeypatch.delenv("SEQGEN_PLUGINS", raising=False)
    site = tmp_path / "site"
    site.mkdir()

    def install(module: str, source: str) -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        dist = module.replace("_", "-")
        fake_install(site, dist, {"seqgen": {dist: module}})
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        registry.load.cache_clear()

    yield install
    registry.load.cache_clear()


@pytest.fixture
def bad_midis():
    """Writes, beside a good MIDI file, four broken ones (cut short, random bytes, empty, no
    notes); returns their names."""

    def write(good: Path) -> set[str]:
        import numpy as np
        import pretty_midi

        folder, data = good.parent, good.read_bytes()
        (folder / "truncated.mid").write_bytes(data[: len(data) // 3])
        (folder / "random.mid").write_bytes(np.random.default_rng(0).bytes(3000))
        (folder / "empty.mid").write_bytes(b"")
        silent = pretty_midi.PrettyMIDI()
        silent.instruments.append(pretty_midi.Instrument(0))
        silent.write(str(folder / "noteless.mid"))
        return {"truncated.mid", "random.mid", "empty.mid", "noteless.mid"}

    return write


def _tiny_midi_folder(folder: Path, pieces: int = 4) -> Path:
    """A few short generated piano pieces (scales and chords), enough to train a tiny run."""
    import pretty_midi

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(pieces):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        piano = pretty_midi.Instrument(program=0)
        for i in range(32):
            start = i * 0.25
            for pitch in (60 + (i + k) % 12, 64 + (i + k) % 12):
                piano.notes.append(pretty_midi.Note(80, pitch, start, start + 0.25))
        pm.instruments.append(piano)
        pm.write(str(folder / f"piece{k}.mid"))
    return folder


@pytest.fixture(scope="session")
def studio_runs(tmp_path_factory) -> Path:
    """A folder with two tiny runs, trained once per session: `text` (char) and `music`
    (midi, performance events)."""
    import seqgen

    root = tmp_path_factory.mktemp("studio")
    runs = root / "runs"
    text = root / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    small = dict(hidden_size=24, embedding_size=8, batch_size=4, seq_len=32, threads=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQGEN_CACHE", str(root / "cache"))
        seqgen.train("char", text, runs / "text", max_steps=300, **small)  # ends rarely
        midi = _tiny_midi_folder(root / "midi")
        seqgen.train("midi", midi, runs / "music", max_steps=30, **small)
    return runs
