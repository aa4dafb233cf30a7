"""seqgen studio in a real headless browser (Debian's chromium and chromium-driver, through
Selenium): text appears as it is generated, music plays as a WAV of the right length and is
drawn as a piano roll, a corrupt upload shows a message, and the server keeps serving. Skips
without the browser, unless SEQGEN_REQUIRE_BROWSER=1 (CI sets it where it installed one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REQUIRED = os.environ.get("SEQGEN_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("SEQGEN_ARTIFACTS") or Path(__file__).parents[1] / ".ci/artifacts")


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        if REQUIRED:
            pytest.fail(f"SEQGEN_REQUIRE_BROWSER=1 but {module} is not installed")
        pytest.skip(f"{module} is not installed")


if not (CHROMIUM.exists() and DRIVER.exists()):
    if REQUIRED:
        raise RuntimeError(f"SEQGEN_REQUIRE_BROWSER=1 but {CHROMIUM} or {DRIVER} is missing")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)


def start_studio(runs: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`seqgen studio RUNS --port 0` as a user starts it; returns it and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqgen", "studio", str(runs), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("seqgen studio: http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"the studio did not start: {line}{proc.stdout.read()}")
    return proc, line.split()[2]


ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required")  # fmt: skip


def browser():
    _need("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ARGS:
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(str(DRIVER)), options=opts)


@pytest.fixture(scope="module")
def page(studio_runs):
    _need("starlette")
    proc, url = start_studio(studio_runs)
    driver = browser()
    try:
        driver.get(url)
        yield driver, url
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(20)


def wait_for(driver, condition, timeout: float = 90, what: str = "the page"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition, message=f"waiting for {what}")


def drawn(driver, css: str) -> int:
    """How many of the SVG elements ``css`` finds are drawn (have a size)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".filter((e) => e.getBBox && e.getBBox().width > 0).length",
        css,
    )


def fill(driver, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for name, value in fields.items():
        box = driver.find_element(By.ID, name)
        box.clear()
        if value:
            box.send_keys(value)


def choose_run(driver, run_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#run option[value='{run_id}']"))
    Select(driver.find_element(By.ID, "run")).select_by_value(run_id)


def generate(driver) -> str:
    """Press Generate; the status line once the sample has finished."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "generate").click()  # the status says "sending…" at once
    status = driver.find_element(By.ID, "status")
    ends = ("done", "failed", "cancelled", "timed", "refused")
    wait_for(driver, lambda d: status.text.startswith(ends), what="the end of the sample")
    return status.text


def test_text_appears_as_it_is_generated(page):
    from selenium.webdriver.common.by import By

    driver, _ = page
    choose_run(driver, "text")
    assert "char" in driver.find_element(By.ID, "run-info").text
    assert drawn(driver, "#run-curve path") == 1  # the loss curve
    fill(driver, {"prime": "the quick", "length": "300", "seed": "2"})
    assert generate(driver).startswith("done"), driver.find_element(By.ID, "error").text
    text = driver.find_element(By.ID, "output").text
    assert text.startswith("the quick") and len(text) > 100
    assert not driver.find_element(By.ID, "error").is_displayed()


# Decodes the <audio> element's WAV in the page (Web Audio) and measures it.
MEASURE = """
const done = arguments[arguments.length - 1];
const audio = document.querySelector("#media audio");
fetch(audio.src).then((r) => r.arrayBuffer()).then((buf) =>
  new OfflineAudioContext(1, 1, 22050).decodeAudioData(buf)).then((b) => {
    const x = b.getChannelData(0); let s = 0; for (const v of x) s += v * v;
    done({duration: b.duration, rms: Math.sqrt(s / x.length), element: audio.duration,
          error: audio.error && audio.error.code});
  }).catch((e) => done({failed: String(e)}));
"""


def test_music_plays_and_shows_its_piano_roll(page, tmp_path):
    import pretty_midi
    from selenium.webdriver.common.by import By
    from seqgen_plugins.midi.audio import RELEASE

    driver, url = page
    choose_run(driver, "music")
    wait_for(driver, lambda d: d.find_elements(By.ID, "seconds"), what="the seconds field")
    fill(driver, {"prime": "", "length": "", "seconds": "6", "seed": "3"})
    assert generate(driver).startswith("done"), driver.find_element(By.ID, "error").text
    audio = driver.find_element(By.CSS_SELECTOR, "#media audio")
    wait_for(driver, lambda d: d.execute_script("return arguments[0].readyState", audio) >= 1,
             what="the audio's metadata")  # fmt: skip
    got = driver.execute_async_script(MEASURE)
    assert "failed" not in got and got["error"] is None, got
    midi_link = driver.find_element(By.CSS_SELECTOR, "#downloads a[download='sample.mid']")
    import httpx

    (tmp_path / "s.mid").write_bytes(httpx.get(midi_link.get_attribute("href")).content)
    end = pretty_midi.PrettyMIDI(str(tmp_path / "s.mid")).get_end_time()
    assert end > 1.0
    assert got["duration"] == pytest.approx(end + RELEASE, abs=0.05)  # the notes and a tail
    assert got["element"] == pytest.approx(got["duration"], abs=0.05)
    assert got["rms"] > 0.01  # not silent
    roll = driver.find_element(By.CSS_SELECTOR, "#media img[data-kind='plot']")
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    wait_for(driver, lambda d: d.execute_script(loaded, roll), what="the piano roll")
    assert driver.execute_script("return arguments[0].naturalHeight", roll) > 50
    names = {
        a.get_attribute("download") for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a")
    }
    assert {"sample.mid", "sample.wav", "sample.musicxml"} <= names
    screenshot(driver)


def screenshot(driver) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "studio.png"))


def test_a_corrupt_upload_shows_a_message(page, tmp_path):
    from selenium.webdriver.common.by import By

    driver, url = page
    choose_run(driver, "music")
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06" + os.urandom(200))
    driver.find_element(By.ID, "prime-file").send_keys(str(bad))
    status = generate(driver)
    error = driver.find_element(By.ID, "error")
    assert status == "refused" and error.is_displayed()
    assert "broken.mid" in error.text and "Traceback" not in error.text
    assert "\n" not in error.text.strip()
    driver.find_element(By.ID, "prime-file").clear()
    fill(driver, {"seconds": "2"})
    assert generate(driver).startswith("done")  # the server keeps serving


def test_the_compare_view_lists_the_runs(page):
    from selenium.webdriver.common.by import By

    driver, _ = page
    driver.find_element(By.ID, "tab-compare").click()
    rows = lambda d: d.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")  # noqa: E731
    wait_for(driver, lambda d: len(rows(d)) == 2, what="the runs table")
    first = [r.find_element(By.TAG_NAME, "td").text for r in rows(driver)]
    driver.find_element(By.CSS_SELECTOR, "#runs-table th[data-key='id']").click()
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows(driver)] == sorted(first)
    driver.find_element(By.CSS_SELECTOR, "#runs-table th[data-key='id']").click()
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows(driver)] == sorted(first)[::-1]
    assert drawn(driver, "#compare-curve path") == 2  # the curves overlaid
    driver.find_element(By.ID, "tab-generate").click()
