"""seqgen studio's HTTP API, driven without a browser, on a real server on a free loopback
port: the run list, text and music generation, bad uploads and options, cancel, the wall-time
limit, a full queue, and 20 concurrent requests."""

from __future__ import annotations

import concurrent.futures
import io
import json
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from seqgen.studio.app import Settings, make_app  # noqa: E402
from seqgen.studio.server import bind, server, url  # noqa: E402


class Studio:
    """A studio served by uvicorn from a thread; ``url`` is its address."""

    def __init__(self, runs: Path, **settings):
        self.app = make_app([runs], Settings(**settings))
        sock = bind("127.0.0.1", 0)
        self.url = url(sock).rstrip("/")
        self.server = server(self.app, sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            threading.Event().wait(0.05)
        assert self.server.started, "the studio did not start"
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def generate(self, **fields) -> dict:
        r = self.http.post("/api/generate", json=fields)
        assert r.status_code == 202, r.text
        return r.json()

    def wait(self, job: str) -> dict:
        r = self.http.get(f"/api/jobs/{job}", params={"wait": 100})
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def studio(studio_runs):
    s = Studio(studio_runs, max_length=200_000, max_seconds=60)
    yield s
    s.close()


def _one_line_error(r) -> str:
    assert r.headers["content-type"].startswith("application/json"), r.text
    error = r.json()["error"]
    assert error and "\n" not in error and "Traceback" not in error
    return error


def test_the_run_list_sums_up_each_run(studio):
    runs = {r["id"]: r for r in studio.http.get("/api/runs").json()["runs"]}
    assert set(runs) == {"text", "music"}
    text, music = runs["text"], runs["music"]
    assert (text["domain"], text["unit"], music["domain"]) == ("char", "character", "midi")
    for run in runs.values():
        assert run["parameters"] > 1000 and run["step"] in (30, 300)
        best = run["best"]
        assert 0 < best["bits_per_unit"] < 20
        assert best["bits_per_token"] == pytest.approx(best["nats_per_token"] / np.log(2))
        curve = run["curves"]["val_bits_per_unit"]
        assert len(curve) >= 2 and min(v for _, v in curve) == pytest.approx(best["bits_per_unit"])
    assert "audio" in music["renders"] and "seconds" in music["measures"]
    assert text["renders"] == {} and text["prints_text"] and not music["prints_text"]
    assert studio.http.get("/api/runs/music").json()["parameters"] == music["parameters"]
    assert studio.http.get("/api/runs/nope").status_code == 404


def _events(studio, job: str) -> list[tuple[str, dict]]:
    out = []
    with studio.http.stream("GET", f"/api/jobs/{job}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


def test_text_streams_as_it_is_sampled(studio):
    job = studio.generate(run="text", prime="the quick", length=300, seed=5)["id"]
    events = _events(studio, job)
    assert events[-1][0] == "done" and [n for n, _ in events[:-1]] == ["text"] * (len(events) - 1)
    done = events[-1][1]
    assert done["state"] == "done" and done["text"].startswith("the quick")
    streamed = "".join(e["text"] for n, e in events if n == "text")
    assert streamed and done["text"] == "the quick" + streamed
    assert 0 <= done["tokens"] - len(streamed) <= 1 and done["tokens"] <= 300  # 1: the end token
    again = studio.wait(studio.generate(run="text", prime="the quick", length=300, seed=5)["id"])
    assert again["text"] == done["text"]  # the same seed, the same sample


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() in (1, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.astype(np.float64) / 32768.0, w.getframerate()


def test_music_gives_playable_audio_a_piano_roll_and_a_score(studio, tmp_path):
    import matplotlib.image
    import pretty_midi

    done = studio.wait(studio.generate(run="music", seconds=6, seed=3)["id"])
    assert done["state"] == "done", done
    files = {f["kind"]: f for f in done["files"]}
    assert {"sample", "audio", "plot", "score"} <= set(files) and not any(
        "error" in f for f in files.values()
    )
    get = {
        k: studio.http.get(f"/api/jobs/{done['id']}/files/{f['name']}") for k, f in files.items()
    }
    assert all(r.status_code == 200 for r in get.values())
    assert get["audio"].headers["content-type"] == "audio/wav"
    (tmp_path / "s.mid").write_bytes(get["sample"].content)
    end = pretty_midi.PrettyMIDI(str(tmp_path / "s.mid")).get_end_time()
    assert end > 1.0
    audio, rate = _wav(get["audio"].content)
    from seqgen_plugins.midi.audio import RELEASE

    assert len(audio) / rate == pytest.approx(end + RELEASE, abs=0.05)  # the notes, then a tail
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silent
    (tmp_path / "roll.png").write_bytes(get["plot"].content)
    image = matplotlib.image.imread(tmp_path / "roll.png")
    assert image.shape[0] > 50 and image.shape[1] > 50 and image.std() > 0
    assert get["score"].content.lstrip().startswith(b"<?xml")


def test_a_corrupt_upload_is_a_400_with_one_line(studio, bad_midis, tmp_path):
    good = tmp_path / "good.mid"
    (tmp_path / "seed").mkdir()
    from conftest import _tiny_midi_folder

    _tiny_midi_folder(tmp_path / "seed", pieces=1)
    good.write_bytes((tmp_path / "seed" / "piece0.mid").read_bytes())
    for name in sorted(bad_midis(good)):
        data = (tmp_path / name).read_bytes()
        r = studio.http.post("/api/generate", data={"run": "music", "seconds": "2"},
                             files={"prime_file": (name, data, "audio/midi")})  # fmt: skip
        assert r.status_code == 400, (name, r.text)
        error = _one_line_error(r)
        assert name in error and str(tmp_path) not in error and "/tmp" not in error
    upload = {"prime_file": ("good.mid", good.read_bytes(), "audio/midi")}
    r = studio.http.post("/api/generate", data={"run": "music", "seconds": "2"}, files=upload)
    assert r.status_code == 202, r.text
    assert studio.wait(r.json()["id"])["state"] == "done"
    assert studio.http.get("/api/health").json()["ok"] is True


def test_an_upload_over_the_limit_is_refused_before_it_is_read(studio, monkeypatch):
    monkeypatch.setenv("SEQGEN_MAX_PRIME_BYTES", "1000")
    upload = {"prime_file": ("big.mid", b"x" * 200_000, "audio/midi")}
    r = studio.http.post("/api/generate", data={"run": "music"}, files=upload)
    assert r.status_code == 400 and "SEQGEN_MAX_PRIME_BYTES" in _one_line_error(r)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"run": "text", "temperature": -1}, "temperature -1"),
        ({"run": "text", "temperature": "hot"}, "temperature: 'hot' is not a number"),
        ({"run": "text", "top_k": 0}, "top-k 0"),
        ({"run": "text", "top_p": 2}, "top-p 2"),
        ({"run": "text", "length": 10**9}, "at most 200,000 tokens"),
        ({"run": "text", "seconds": 3}, "char domain measures samples in tokens only"),
        ({"run": "music", "beam": 4, "temperature": 0.5}, "beam searches"),
        ({"run": "text", "colour": "red"}, "colour: not a generate option"),
        ({"run": "text", "prime": "\u2603"}, "prime"),
        ({}, "run: pick a run"),
        ({"run": "text", "control.author": "hikmet"}, "trained without labels"),
        ({"run": "text", "guidance": 2}, "guidance steers toward a control label"),
        ({"run": "text", "guidance": -1}, "guidance -1.0: give a weight from 0 to 20"),
        ({"run": "text", "guidance": "lots"}, "guidance: 'lots' is not a number"),
    ],
)
def test_a_bad_option_is_a_400_with_one_line(studio, fields, says):
    r = studio.http.post("/api/generate", json=fields)
    assert r.status_code == 400, r.text
    assert says in _one_line_error(r)


def test_an_unknown_run_or_request_is_a_404(studio):
    assert studio.http.post("/api/generate", json={"run": "nope"}).status_code == 404
    assert studio.http.get("/api/jobs/nope").status_code == 404
    assert studio.http.post("/api/jobs/nope/cancel").status_code == 404
    job = studio.wait(studio.generate(run="text", length=5)["id"])
    assert studio.http.get(f"/api/jobs/{job['id']}/files/../../etc/passwd").status_code == 404


def test_a_request_can_be_cancelled(studio):
    job = studio.generate(run="text", length=200_000, greedy=True)["id"]
    with studio.http.stream("GET", f"/api/jobs/{job}/events") as r:
        for line in r.iter_lines():
            if line.startswith("event: text"):
                break  # it is sampling
    assert studio.http.post(f"/api/jobs/{job}/cancel").status_code == 200
    done = studio.wait(job)
    assert done["state"] == "cancelled" and 0 < done["tokens"] < 200_000
    assert done["text"]  # what was sampled before the cancel is kept


def test_a_request_stops_at_the_wall_time_limit(studio_runs):
    s = Studio(studio_runs, max_length=10_000_000, max_seconds=0.5)
    try:
        done = s.wait(s.generate(run="text", length=10_000_000, greedy=True)["id"])
        assert done["state"] == "timed out" and "0.5 seconds" in done["error"]
        assert 0 < done["tokens"] < 10_000_000 and done["seconds"] < 5
    finally:
        s.close()


def test_a_full_queue_is_a_503(studio_runs):
    s = Studio(studio_runs, max_length=10_000_000, queue=1)
    try:
        first = s.generate(run="text", length=10_000_000, greedy=True)["id"]
        r = s.http.post("/api/generate", json={"run": "text", "length": 10})
        assert r.status_code == 503 and "busy" in _one_line_error(r)
        s.http.post(f"/api/jobs/{first}/cancel")
        assert s.wait(first)["state"] == "cancelled"
        assert s.wait(s.generate(run="text", length=10)["id"])["state"] == "done"
    finally:
        s.close()


def test_twenty_concurrent_requests_are_all_answered(studio):
    def one(k: int) -> tuple[int, dict]:
        with httpx.Client(base_url=studio.url, timeout=120) as http:
            r = http.post("/api/generate", json={"run": "text", "length": 100, "seed": k % 10})
            assert r.status_code == 202, r.text
            got = http.get(f"/api/jobs/{r.json()['id']}", params={"wait": 100}).json()
            return k, got

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = dict(pool.map(one, range(20)))
    assert len(results) == 20 and len({r["id"] for r in results.values()}) == 20
    assert all(r["state"] == "done" and r["tokens"] > 0 for r in results.values())
    for k in range(10):  # the same seed gave the same sample, whatever the order
        assert results[k]["text"] == results[k + 10]["text"]
    health = studio.http.get("/api/health", timeout=5).json()
    assert health["ok"] and health["active"] == 0
    assert studio.http.get("/api/runs", timeout=5).status_code == 200


def test_the_page_is_served(studio):
    r = studio.http.get("/")
    assert r.status_code == 200 and "<title>seqgen studio</title>" in r.text
    assert studio.http.get("/static/studio.js").status_code == 200


def test_the_command_without_the_extra_says_so_in_one_line(cli, monkeypatch, studio_runs):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    code, out, err = cli("studio", studio_runs)
    assert code == 1 and out == ""
    assert err == 'seqgen: error: the studio needs its extra: pip install "seqgen[studio]"\n'


def test_an_exposed_host_is_warned_about(cli, monkeypatch, studio_runs):
    import seqgen.studio.server as server_module

    monkeypatch.setattr(server_module, "serve", lambda app, host, port, announce: None)
    code, out, _ = cli("studio", studio_runs, "--host", "0.0.0.0", "--port", "0")
    assert code == 0 and "no authentication" in out and "0.0.0.0" in out
    code, out, _ = cli("studio", studio_runs, "--port", "0")
    assert code == 0 and "authentication" not in out


def test_the_documented_curl_example_runs(studio, tmp_path):
    import re
    import shutil
    import subprocess

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    doc = (Path(__file__).parents[1] / "docs" / "studio.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", doc, re.S) if "curl" in b]
    assert len(blocks) == 1
    script = blocks[0].replace("http://127.0.0.1:8765", studio.url).replace('"bach"', '"music"')
    script = script.replace("run=bach", "run=music")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"[\d,]+ events, [\d.]+ seconds, [\d.]+ bars", lines[0]), lines
    audio, rate = _wav((tmp_path / "chorale.wav").read_bytes())
    assert len(audio) / rate > 1 and np.abs(audio).max() > 0.1
    continued = json.loads(lines[-1])
    assert studio.wait(continued["id"])["state"] == "done"


def test_control_fields_become_the_labels_asked_for():
    from seqgen.studio.options import parse

    got = parse({"run": "r", "control.key": " G-minor ", "control.density": ""})
    assert got == {"run": "r", "labels": {"key": "G-minor"}}  # empty: the model's own mix
    assert "labels" not in parse({"run": "r", "control.key": ""})
