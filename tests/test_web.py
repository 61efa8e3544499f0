"""The web page at / in headless Chromium: pick an image, see the model's label.

Needs Debian's chromium and chromium-driver (`make test` installs them where it can); skipped
with the reason shown when they are missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile

import pytest

import visionflow
from clirun import vf
from test_serve_cli import _free_port, _wait_ready

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="Chromium and ChromeDriver are not installed (apt-get install chromium "
                                       "chromium-driver); the browser test cannot run")


@contextlib.contextmanager
def _serving(run):
    """`visionflow serve RUN` on a free port, ready; yields its URL and stops it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # --timeout 60: the first Grad-CAM loads the Keras model and traces it, which a busy 2-core
    # machine (two test workers) has taken over the default 10 s to do
    proc = subprocess.Popen([sys.executable, "-m", "visionflow", "serve", str(run), "--port", str(port), "--timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def chromium():
    """Headless Chromium through ChromeDriver, with a fresh profile removed afterwards."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="vf-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1000,800", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def page_of(run, says: str):
    """Headless Chromium on the page of `visionflow serve RUN`, once its header says `says`:
    yields (browser, a 30 s WebDriverWait)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as browser, _serving(run) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(ec.text_to_be_present_in_element((By.ID, "model"), says))
        yield browser, wait


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def test_page_shows_the_predicted_label(trained, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir, data = trained
    image = sorted((data / "validation" / "green").iterdir())[0]
    expected = visionflow.load(run_dir).predict(str(image))
    with _serving(run_dir) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "3 classes"))
        assert "blue, green, red" in browser.find_element(By.ID, "model").text
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda d: d.find_element(By.ID, "result-label").text != "")
        assert browser.find_element(By.ID, "result-label").text == expected.label
        shown = browser.find_element(By.ID, "result-confidence").text
        assert shown == f"{expected.confidence * 100:.1f}% confident"
        bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar .name")
        assert [b.text for b in bars] == [label for label, _ in expected.top[:3]]
        # The bars are drawn to scale: the top bar's fill is its probability's share of the track.
        track = browser.find_element(By.CSS_SELECTOR, "#bars .bar .track").size["width"]
        fill = browser.find_element(By.CSS_SELECTOR, "#bars .bar .fill").size["width"]
        assert fill == pytest.approx(track * expected.confidence, abs=2)
        assert "answered in" in browser.find_element(By.ID, "status").text
        # The Grad-CAM overlay follows the prediction.
        # The src attribute is absent until the explain call answers; an error shows in the caption.
        wait.until(lambda d: (d.find_element(By.ID, "heatmap").get_attribute("src") or "").startswith("data:image/png")
                   or d.find_element(By.ID, "heatmap-caption").text.startswith("No heat map"))
        assert not browser.find_element(By.ID, "heatmap-caption").text.startswith("No heat map")
        assert browser.find_element(By.ID, "heatmap").is_displayed()
        assert f"drove “{expected.label}”" in browser.find_element(By.ID, "heatmap-caption").text
        browser.save_screenshot(str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").stat().st_size > 5_000


def test_page_shows_a_restored_image_beside_the_original_with_a_slider(browser, tmp_path, short_epochs):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from synthetic import smooth_folder, smooth_image

    data = smooth_folder(tmp_path / "photos", images=6, side=48)
    train = vf("train", data, "--task", "denoise", "--patch", "32", "--epochs", "1", "--batch-size", "16", "--project",
               tmp_path / "runs", "--name", "dn")
    assert train.returncode == 0, train.stderr[-2000:]
    image = tmp_path / "noisy.png"
    smooth_image(__import__("numpy").random.default_rng(2), 60, 90).save(image)
    with _serving(tmp_path / "runs" / "dn") as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "denoising (gaussian:25)" in d.find_element(By.ID, "model").text)
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda d: d.find_element(By.ID, "compare").is_displayed()
                   or "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""))
        assert browser.find_element(By.ID, "compare").is_displayed(), browser.find_element(By.ID, "status").text
        assert browser.find_element(By.ID, "after").get_attribute("src").startswith("data:image/png")
        assert "90×60 → 90×60" in browser.find_element(By.ID, "status").text
        before = browser.find_element(By.ID, "before")
        assert "inset(0px 50%" in before.value_of_css_property("clip-path")
        slider = browser.find_element(By.ID, "slider")
        browser.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'))", slider)
        assert "inset(0px 80%" in before.value_of_css_property("clip-path")
        shown = browser.find_element(By.ID, "after").size
        assert shown["width"] > 200 and abs(shown["height"] / shown["width"] - 60 / 90) < 0.02  # drawn at its aspect
        assert Image.open(image).size == (90, 60)  # the source is only read


def test_page_plots_the_timeline_of_a_video(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from synthetic import colour_frames, colour_model_run, write_video

    run_dir = colour_model_run(tmp_path / "run")
    red, blue = (220, 30, 30), (30, 30, 220)
    video = write_video(tmp_path / "scene.mp4", colour_frames([red] * 20 + [blue] * 20), fps=10)
    with _serving(run_dir) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "3 classes"))
        browser.find_element(By.ID, "file").send_keys(str(video))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments li")) > 0
                   or d.find_element(By.ID, "status").get_attribute("class") == "error")
        rows = [li.text.replace("\n", " ") for li in browser.find_elements(By.CSS_SELECTOR, "#segments li")]
        assert rows == ["0.0 – 2.0 s red 100%", "2.0 – 4.0 s blue 100%"], rows
        assert len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline")) == 3  # one line per class
        assert len(browser.find_elements(By.CSS_SELECTOR, "#chart rect")) == 2  # the segment band
        assert "8 frames labelled (2 frame(s) per second)" in browser.find_element(By.ID, "status").text


def test_page_shows_a_grid_of_generated_images_and_draws_new_ones(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from synthetic import two_colour_folder

    data = two_colour_folder(tmp_path / "colours", per_class=10)
    train = vf("train", data, "--task", "gan", "--conditional", "--image-size", "16", "--epochs", "1", "--batch-size",
               "8", "--project", tmp_path / "runs", "--name", "gan")
    assert train.returncode == 0, train.stderr[-2000:]
    with _serving(tmp_path / "runs" / "gan") as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "conditional GAN, 2 classes" in d.find_element(By.ID, "model").text)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#samples img")) == 16)
        first = browser.find_element(By.ID, "seed").text
        assert first.startswith("seed ") and not browser.find_element(By.ID, "drop").is_displayed()
        Select(browser.find_element(By.ID, "class-choice")).select_by_visible_text("red")
        wait.until(lambda d: d.find_element(By.ID, "seed").text != first)
        wait.until(lambda d: all(i.get_attribute("title") == "red" for i in d.find_elements(By.CSS_SELECTOR, "#samples img")))
        browser.find_element(By.ID, "new-samples").click()
        assert browser.find_elements(By.CSS_SELECTOR, "#samples img")[0].get_attribute("src").startswith("data:image/png")


def test_page_repaints_a_photo_with_the_chosen_style_and_strength(browser, tmp_path):
    import json

    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from synthetic import smooth_image
    from visionflow.tasks.style.models import johnson_s

    run = tmp_path / "style"  # an untrained two-style network is enough for the page's flow
    run.mkdir()
    johnson_s(styles=2).save(run / "model.keras")
    (run / "labels.json").write_text(json.dumps({"task": "style", "model": "johnson_s", "classes": [], "image_size": None,
                                                 "input_channels": 3, "multiple": 4, "patch": 32,
                                                 "styles": ["ink", "sun"], "style_weight": 5.0}))
    image = tmp_path / "photo.png"
    smooth_image(np.random.default_rng(2), 60, 90).save(image)
    with _serving(run) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "style transfer (ink, sun)" in d.find_element(By.ID, "model").text)
        assert browser.find_element(By.ID, "style-controls").is_displayed()
        Select(browser.find_element(By.ID, "style-choice")).select_by_visible_text("sun")
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda d: d.find_element(By.ID, "compare").is_displayed()
                   or "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""))
        assert browser.find_element(By.ID, "compare").is_displayed(), browser.find_element(By.ID, "status").text
        first = browser.find_element(By.ID, "after").get_attribute("src")
        assert first.startswith("data:image/png") and "90×60 → 90×60" in browser.find_element(By.ID, "status").text
        strength = browser.find_element(By.ID, "strength")
        browser.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('change'))", strength)
        wait.until(lambda d: d.find_element(By.ID, "after").get_attribute("src") != first)
        import base64
        import io

        shown = browser.find_element(By.ID, "after").get_attribute("src").split(",", 1)[1]
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown))).convert("RGB"))
        np.testing.assert_array_equal(got, np.asarray(Image.open(image).convert("RGB")))  # strength 0: the photo
