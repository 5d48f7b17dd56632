"""The page: self-contained (nothing fetched), its weights are the look's, and in a real
browser (Debian's chromium, driven through its chromedriver) choosing a token repaints every
input."""

import base64
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from multimodal.errors import InputError
from multimodal.viz import look
from multimodal.viz.page import write_page

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def page(predictor, photo, clip, tmp_path):
    seen = look(predictor, [photo, clip, "a cat"], mask="prefix")
    return seen, write_page(seen, tmp_path / "index.html", title="a test")


def data_of(path: Path) -> dict:
    text = path.read_text()
    return json.loads(re.search(r"const DATA = (.*);\n", text).group(1).replace("<\\/", "</"))


def test_the_page_fetches_nothing(page):
    _, path = page
    text = path.read_text()
    assert "default-src 'none'" in text  # the browser may load nothing from anywhere
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", text.replace("http-equiv", ""))
    assert not re.search(r"<(script|link|img|iframe)[^>]*(src|href)=", text)
    pictures = [i["picture"] for i in data_of(path)["inputs"] if "picture" in i]
    assert len(pictures) == 2 and all(p.startswith("data:image/png;base64,") for p in pictures)


def test_the_page_holds_the_weights(page):
    seen, path = page
    data = data_of(path)
    L, H, T = seen.shape
    weights = np.frombuffer(base64.b64decode(data["weights"]), "<u2").reshape(L, H, T, T)
    np.testing.assert_allclose(weights / 65535, seen.attention.numpy(), atol=1 / 65535)
    assert [t["column"] for t in data["tokens"]] == list(range(T))
    assert data["tokens"][1]["box"] == list(seen.tokens[1].box)


def test_one_layer_only(predictor, photo, tmp_path):
    seen = look(predictor, [photo, "a cat"])
    data = data_of(write_page(seen, tmp_path / "one.html", layer=1))
    assert data["layers"] == [1]
    assert len(base64.b64decode(data["weights"])) == 4 * seen.shape[2] ** 2 * 2


def test_an_unwritable_page_is_one_sentence(page, tmp_path):
    seen, _ = page
    with pytest.raises(InputError, match="cannot write the page .*missing"):
        write_page(seen, tmp_path / "missing" / "index.html")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    yield driver
    driver.quit()


def overlays(driver) -> list[str]:
    """Each input's painted overlay, as the pixels it holds now."""
    script = "return [...document.querySelectorAll('canvas.overlay')].map(c => c.toDataURL())"
    return driver.execute_script(script)


def wait_for(driver, condition, what):
    for _ in range(100):
        if driver.execute_script(f"return {condition}"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the page never showed {what}")


def test_choosing_a_token_repaints_every_input(page, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    seen, path = page
    browser.get(path.as_uri())
    wait_for(browser, "document.body.dataset.ready === '1'", "its first paint")
    T = seen.shape[2]
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-query") == str(T - 1)
    assert (
        browser.execute_script("return window.performance.getEntriesByType('resource').length") == 0
    )
    before = overlays(browser)
    assert len(before) == 2  # the image and the clip
    tokens = browser.find_elements(By.CSS_SELECTOR, "#strip .tok")
    assert len(tokens) == T
    patch = next(t.column for t in seen.tokens if t.kind == "patch")
    tokens[patch].click()  # hold the first patch
    wait_for(browser, f"document.body.dataset.query === '{patch}'", "the patch chosen")
    after = overlays(browser)
    assert after[0] != before[0] and after[1] != before[1]
    shades = [t.value_of_css_property("background-color") for t in tokens]
    assert len(set(shades)) > 3  # the pieces are shaded by the new weights
    ActionChains(browser).move_to_element(tokens[T - 2]).perform()  # held: hovering changes nothing
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-query") == str(patch)
    Select(browser.find_element(By.ID, "layer")).select_by_value("1")
    assert overlays(browser)[0] != after[0]  # another layer paints another picture
    Select(browser.find_element(By.ID, "head")).select_by_value("2")
    status = browser.find_element(By.ID, "status").text
    assert status.startswith(f"token {patch} (patch (0, 0)) held looks most at:")
    tokens[patch].click()  # release; hovering chooses again
    frame = next(t.column for t in seen.tokens if t.kind == "frames")
    ActionChains(browser).move_to_element(tokens[frame]).perform()
    wait_for(browser, f"document.body.dataset.query === '{frame}'", "the hovered frame chosen")
    canvas = browser.find_elements(By.CSS_SELECTOR, "canvas.overlay")[0]
    ActionChains(browser).move_to_element_with_offset(canvas, 0, 0).click().perform()  # centre
    centre = next(t.column for t in seen.tokens if t.patch == (1, 2))  # 12 x 20 px, 3 x 5 grid
    wait_for(browser, f"document.body.dataset.query === '{centre}'", "the clicked patch chosen")


def test_text_that_closes_the_script_stays_text(predictor, photo, tmp_path):
    attack = "</script><script>document.title='owned'</script>"
    seen = look(predictor, [photo, attack])
    path = write_page(seen, tmp_path / "index.html")
    text = path.read_text()
    assert text.count("</script>") == 1  # the page's own; the input's are escaped in the data
    pieces = "".join(t["piece"] for t in data_of(path)["tokens"] if t["kind"] == "text")
    assert pieces == attack


def test_a_page_too_large_is_one_sentence(page, tmp_path, monkeypatch):
    from multimodal.viz import page as page_module

    seen, _ = page
    monkeypatch.setattr(page_module, "MAX_WEIGHT_BYTES", 1024)
    with pytest.raises(InputError, match=r"^the page would hold 0 MiB of attention weights \(2 "):
        write_page(seen, tmp_path / "big.html")
    assert not (tmp_path / "big.html").exists()
