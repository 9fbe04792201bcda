"""The landing page: built by the real flow from a small fixture, then checked in headless Chromium over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import http.server
import os
import re
import shutil
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO_ROOT
from flows import publish, site
from flows.checksums import sha256_bytes
from flows.pipeline import refresh

# One folder per capture date, each dropped into the inbox and refreshed in date order, so the
# output has two releases. ada-quill is captured on both dates (the metric history); her newest
# capture lists a paper titled INJECTED_TITLE, published after every other paper so that it is
# the first row of "Newest papers". bo-chen lists a title with HTML-looking markup.
SITE_FIXTURE = FIXTURES / "site"
INJECTED_TITLE = "<script>alert(1)</script>"
MARKUP_TITLE = 'Point Clouds <b>without</b> Labels & "Masks"'
PROFILE_WITH_HISTORY = "Ada Quill"
RELEASE_IDS = ["2026-11-26", "2026-06-01"]  # newest first, as releases.json lists them
CHART_IDS = ["chart-categories", "chart-code", "chart-roles", "chart-history"]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
SCREENSHOT = ARTIFACTS / "site.png"
WINDOW = (1280, 900)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def build_output(root: Path) -> Path:
    """Run the real flow once per capture folder of the fixture, oldest first; returns output/."""
    raw, output = root / "raw", root / "output"
    for capture in sorted(path for path in SITE_FIXTURE.iterdir() if path.is_dir()):
        inbox = raw / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        for path in sorted(capture.glob("*.txt")):
            shutil.copyfile(path, inbox / path.name)
        refresh(raw_dir=str(raw), output_dir=str(output), captured_date=dt.date.fromisoformat(capture.name))
    return output


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_output(tmp_path_factory.mktemp("site-build"))


@pytest.fixture(scope="module")
def base_url(output: Path) -> Iterator[str]:
    """output/ served by http.server on 127.0.0.1 at a free port, as `python -m http.server -d output` would."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(output)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        message = "needs Debian packages chromium and chromium-driver (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    yield driver
    driver.quit()


def load(browser, url: str) -> list[dict]:
    """Open `url` and return the console errors it logged."""
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def landing(browser, base_url: str):
    """The browser showing output/index.html (loaded afresh: other tests navigate), with its console errors."""
    errors = load(browser, base_url + "index.html")
    return browser, errors


def test_landing_page_loads_without_console_errors(landing) -> None:
    _, errors = landing
    assert errors == []


def test_release_pages_load_without_console_errors(browser, base_url: str, output: Path) -> None:
    assert [release["release_id"] for release in publish.read_releases(output)] == RELEASE_IDS
    for release_id in RELEASE_IDS:
        assert load(browser, f"{base_url}{site.PAGES_DIRNAME}/{release_id}.html") == []
        assert release_id in browser.find_element("id", "citation").text


def test_every_download_link_answers_with_the_listed_bytes(browser, base_url: str, output: Path) -> None:
    pages = ["index.html", *(f"{site.PAGES_DIRNAME}/{release_id}.html" for release_id in RELEASE_IDS)]
    for page in pages:
        load(browser, base_url + page)
        links = {link.get_attribute("href"): link.get_attribute("data-sha256") for link in browser.find_elements("css selector", "a.download")}
        release_dir = output / publish.RELEASES_DIRNAME / (RELEASE_IDS[0] if page == "index.html" else Path(page).stem)
        # The files table lists every file of the release folder, no more, no fewer.
        assert sorted(url.rsplit("/", 1)[1] for url in links) == sorted(path.name for path in release_dir.iterdir()), page
        for url, listed_sha256 in links.items():
            with urllib.request.urlopen(url) as response:
                assert response.status == 200, url
                assert sha256_bytes(response.read()) == listed_sha256, url


def test_charts_are_drawn_in_the_page(landing) -> None:
    browser, _ = landing
    figures = browser.find_elements("css selector", "figure.chart")
    assert [figure.get_attribute("id") for figure in figures] == CHART_IDS
    for figure in figures:
        svg = figure.find_element("css selector", "svg")
        assert svg.size["width"] > 300 and svg.size["height"] > 150, figure.get_attribute("id")
        assert len(svg.find_elements("css selector", "path")) > 10, figure.get_attribute("id")
    assert PROFILE_WITH_HISTORY in browser.find_element("id", "chart-history").text


def test_injected_script_title_shows_as_text_and_does_not_run(landing) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    browser, _ = landing
    titles = [cell.text for cell in browser.find_elements("css selector", "#papers td.title")]
    assert titles[0] == INJECTED_TITLE
    assert MARKUP_TITLE in titles
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.find_elements("css selector", "#papers b") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text


def test_screenshot_of_the_landing_page(landing) -> None:
    browser, _ = landing
    ARTIFACTS.mkdir(exist_ok=True)
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}},
    )
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert SCREENSHOT.stat().st_size > 50_000


def test_page_source_escapes_data_text(output: Path) -> None:
    html = (output / site.PAGE).read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "Point Clouds &lt;b&gt;without&lt;/b&gt; Labels &amp; &#34;Masks&#34;" in html


def test_two_builds_give_byte_identical_pages(output: Path, tmp_path: Path) -> None:
    second = build_output(tmp_path)
    names = [site.PAGE, *(f"{site.PAGES_DIRNAME}/{release_id}.html" for release_id in RELEASE_IDS)]
    for name in names:
        assert (second / name).read_bytes() == (output / name).read_bytes(), name


def test_rewriting_an_unchanged_site_writes_nothing(output: Path, tmp_path: Path) -> None:
    """The flow drew the newest release's charts from its staged files (pipeline.publish_stage); drawn from the published files, the page is the same."""
    copy = shutil.copytree(output, tmp_path / "output")
    before = (copy / site.PAGE).stat().st_mtime_ns
    site.write_site(copy)
    assert (copy / site.PAGE).stat().st_mtime_ns == before


def test_pages_of_releases_no_longer_listed_are_removed(output: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(output, tmp_path / "output")
    stale = copy / site.PAGES_DIRNAME / "1999-01-01.html"
    stale.write_text("a release that recover() removed", encoding="utf-8")
    site.write_site(copy)
    assert not stale.exists()
    assert sorted(path.stem for path in (copy / site.PAGES_DIRNAME).iterdir()) == sorted(RELEASE_IDS)


def test_site_before_the_first_release_says_so(tmp_path: Path) -> None:
    site.write_site(tmp_path)
    html = (tmp_path / site.PAGE).read_text("utf-8")
    assert 'id="no-release"' in html
    assert "Data dictionary" in html
    assert not (tmp_path / site.PAGES_DIRNAME).exists()


def test_metric_history_is_a_note_when_no_profile_has_several_snapshots(output: Path) -> None:
    from flows import formats

    snapshots = formats.read("profile_snapshots", output / "latest" / "profile_snapshots.parquet")
    single = snapshots.drop_duplicates("profile_id", keep="last")
    chart = site.metric_history_chart(single)
    assert chart.svg is None
    assert "No profile has more than one" in chart.caption
    assert site.metric_history_chart(snapshots).svg is not None


@pytest.mark.parametrize("days", [1, 2, 3, 4, 9, 40, 400])
def test_metric_history_ticks_capture_dates_on_whole_days(output: Path, days: int) -> None:
    """Captures a few days apart (daily refreshes) once got ticks every 12 hours, and a matplotlib warning."""
    from flows import formats

    snapshots = formats.read("profile_snapshots", output / "latest" / "profile_snapshots.parquet")
    history = snapshots[snapshots["name"] == PROFILE_WITH_HISTORY].sort_values("captured_date").reset_index(drop=True)
    assert len(history) == 2
    history["captured_date"] = [history["captured_date"][0], history["captured_date"][0] + dt.timedelta(days=days)]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = site.metric_history_svg(history, list(history["profile_id"].unique()))

    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # svg.fonttype "none": tick labels are text
    assert not [label for label in labels if re.fullmatch(r"\d{1,2}:\d{2}", label)], labels


def test_filesize_uses_decimal_units() -> None:
    assert [site.filesize(size) for size in (0, 999, 1000, 12_345, 3_400_000, 5_000_000_000)] == ["0 B", "999 B", "1.0 kB", "12.3 kB", "3.4 MB", "5.0 GB"]
