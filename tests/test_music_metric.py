"""One metric across music tokenizers: `seqgen eval` reports nats per note and per second of
music for every MIDI-like domain (midi performance, midi frames, miditok), counted from the
held-out pieces themselves, whatever the tokens are."""

from __future__ import annotations

import json
import math

import pytest

pretty_midi = pytest.importorskip("pretty_midi")

from test_midi import make_midi  # noqa: E402

TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "32"]
SONGS, BARS = 2, 3  # make_midi writes 5 notes a beat, 4 beats a bar, at 100 BPM
NOTES = SONGS * BARS * 4 * 5
LAST_END = (BARS * 4 - 1) * 0.6 + 0.6 * 0.9  # the last chord ends there (seconds)

DOMAINS = [
    ("midi", "encoding=performance"),
    ("midi", "encoding=frames"),
    ("miditok", "tokenization=REMI"),
    ("miditok", "tokenization=TSD"),
]


@pytest.fixture(autouse=True)
def _grad_mode():
    import torch

    torch.set_grad_enabled(True)
    yield
    torch.set_grad_enabled(True)


@pytest.mark.parametrize(("domain", "option"), DOMAINS, ids=[o for _, o in DOMAINS])
def test_eval_reports_nats_per_note_and_second(tmp_path, cli, domain, option):
    if domain == "miditok":
        pytest.importorskip("miditok")
    train, held = tmp_path / "train", tmp_path / "held"
    for folder, seeds in ((train, (0, 1, 2)), (held, (5, 6))):
        folder.mkdir()
        for k in seeds[: 3 if folder == train else SONGS]:
            make_midi(folder / f"s{k}.mid", seed=k, bars=BARS)
    run = tmp_path / "run"
    code, _, err = cli("train", "-d", domain, "-o", option, "-c", train, "--out", run,
                       "--max-steps", "4", *TINY, "--threads", "1", "-q")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("eval", run, "--corpus", held, "--json")
    assert code == 0, err
    report = json.loads(out)
    # every note of the held-out pieces, however many tokens or frames spell them
    assert report["counts"]["note"] == NOTES
    assert report["counts"]["second"] == pytest.approx(SONGS * LAST_END, rel=0.08)  # tempo bins
    nll = report["nats_per_token"] * report["tokens"]
    assert report["nats_per_note"] == pytest.approx(nll / NOTES, rel=1e-4)
    assert report["nats_per_second"] == pytest.approx(nll / report["counts"]["second"], rel=1e-4)
    assert report["bits_per_note"] == pytest.approx(report["nats_per_note"] / math.log(2))
    code, out, err = cli("eval", run, "--corpus", held)
    assert code == 0, err
    assert f"{NOTES} notes: {report['nats_per_note']:.4f} nats/note" in out
    assert "nats/second" in out
