"""The status page in a real browser (Debian's headless Chromium through Selenium) against the real
daemon, a real mpv and the Trakt-like server: a viewing appears by itself within 2 s, Retry sends a
failed watch, and the fix form corrects a wrong match.

`python -m tests.e2e.test_web_browser docs/status-page.png` takes the README's screenshot the same way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from tests.conftest import free_port, require_binary
from tests.e2e.conftest import authorise, mpv_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

EPISODE = "Breaking.Bad.S01E02.720p.mkv"
APPEAR_WITHIN = 2.0  # seconds from mpv playing to the page showing it (the promise)


def browser(width: int = 420, height: int = 900) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = require_binary("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(require_binary("chromedriver")), options=options)


def seed_failed(state_dir: Path, path: str, title: str, reason: str, at: float) -> int:
    """A watch that failed for good, as the delivery worker leaves one."""
    media = MediaRef(path=path, title=title)
    action = ScrobbleAction(ActionKind.STOP, "mpv:/seed", f"seed-{title}", media, 96.0, at, watched=True)
    with Store.open(state_dir) as store:
        row = deliveries.enqueue_watch(store, action, at)
        assert row is not None
        with store.write() as conn:
            deliveries.fail(conn, [row], reason)
    return row


@pytest.fixture
def chrome() -> Iterator[WebDriver]:
    driver = browser()
    yield driver
    driver.quit()


def start_page(tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path) -> dict[str, Any]:
    """The daemon with a failed watch of a known film and an unidentified home video queued."""
    state = tmp_path / "state"
    authorise(trakt, state)
    now = time.time()
    failed = seed_failed(
        state, "/films/The.Matrix.1999.mkv", "The Matrix", "permanent: scrobble: 502", now - 600
    )
    unknown = seed_failed(state, "/home/Garden.Party.mkv", "Garden Party",
                          "unidentified: /home/Garden.Party.mkv", now - 300)  # fmt: skip
    port = free_port()
    daemon = DaemonProcess(mpv_config(tmp_path, trakt, mpv_socket, web={"listen": f"127.0.0.1:{port}"}))
    assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
    assert daemon.wait_event("web_listening", 5), daemon.log_text()
    return {"url": f"http://127.0.0.1:{port}/", "failed": failed, "unknown": unknown, "daemon": daemon}


@pytest.fixture
def page(tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path) -> Iterator[dict[str, Any]]:
    started = start_page(tmp_path, trakt, mpv_socket)
    yield started
    started["daemon"].kill()


def live_polls(daemon: DaemonProcess) -> int:
    return len(
        [r for r in list(daemon.lines) if r.get("event") == "web_request" and r.get("path") == "/live"]
    )


def wait(driver: WebDriver, timeout: float) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, poll_frequency=0.05)


def test_a_real_mpv_viewing_appears_on_the_open_page_within_two_seconds(
    page: dict[str, Any], chrome: WebDriver, mpv: MpvPlayer, media_dir: Path
) -> None:
    daemon: DaemonProcess = page["daemon"]
    assert daemon.wait_event("player_found", 15), daemon.log_text()
    chrome.get(page["url"])
    assert "Breaking Bad" not in chrome.find_element(By.ID, "players").text
    mpv.load(media_dir / EPISODE)
    mpv.wait_playing(EPISODE)
    playing_at = time.monotonic()
    card = (By.CSS_SELECTOR, "#players .card.playing")
    wait(chrome, APPEAR_WITHIN).until(expected_conditions.text_to_be_present_in_element(card, "S01E02"))
    assert time.monotonic() - playing_at <= APPEAR_WITHIN
    text = chrome.find_element(*card).text
    assert "Breaking Bad" in text and "playing" in text
    assert chrome.find_element(By.CSS_SELECTOR, "#players progress").get_attribute("value") is not None
    mpv.set("pause", True)
    wait(chrome, 3).until(expected_conditions.text_to_be_present_in_element(card, "paused"))


def test_retry_sends_a_failed_watch_to_trakt(
    page: dict[str, Any], chrome: WebDriver, trakt: FakeTrakt
) -> None:
    chrome.get(page["url"])
    row = chrome.find_element(By.CSS_SELECTOR, f'[data-queue-id="{page["failed"]}"]')
    assert "failed" in row.text and "permanent: scrobble: 502" in row.text
    assert trakt.history == []
    row.find_element(By.CSS_SELECTOR, f'[data-action="retry-{page["failed"]}"]').click()
    wait(chrome, 5).until(expected_conditions.text_to_be_present_in_element((By.ID, "flash"), "retrying"))
    assert trakt.wait_for(lambda t: len(t.history) == 1, 30), trakt.history
    assert trakt.history[0]["item"]["movie"]["ids"]["trakt"] == 481
    gone = (By.CSS_SELECTOR, f'[data-queue-id="{page["failed"]}"]')
    wait(chrome, 5).until(expected_conditions.invisibility_of_element_located(gone))
    wait(chrome, 3).until(expected_conditions.text_to_be_present_in_element((By.ID, "history"), "on Trakt"))


def test_the_fix_form_corrects_an_unidentified_watch_and_sends_it(
    page: dict[str, Any], chrome: WebDriver, trakt: FakeTrakt
) -> None:
    chrome.get(page["url"])
    row = chrome.find_element(By.CSS_SELECTOR, f'[data-queue-id="{page["unknown"]}"]')
    assert "unidentified: /home/Garden.Party.mkv" in row.text
    row.find_element(By.CSS_SELECTOR, "details.fix summary").click()
    field = row.find_element(By.CSS_SELECTOR, f'input[data-fix="{page["unknown"]}"]')
    field.send_keys("https://trakt.tv/movies/the-matrix-1999")
    # Two live refreshes while the form is open (the second proves the first was applied): they
    # must leave the form alone.
    daemon: DaemonProcess = page["daemon"]
    polls = live_polls(daemon)
    seen = daemon.wait_log(lambda r: r.get("path") == "/live" and live_polls(daemon) >= polls + 2, 5)
    assert seen is not None
    assert field.get_attribute("value") == "https://trakt.tv/movies/the-matrix-1999"
    field.submit()
    wait(chrome, 10).until(expected_conditions.text_to_be_present_in_element((By.ID, "flash"), "Fixed:"))
    assert "/home/Garden.Party.mkv is The Matrix (1999)" in chrome.find_element(By.ID, "flash").text
    assert trakt.wait_for(lambda t: len(t.history) == 1, 30), trakt.history
    assert trakt.history[0]["item"]["movie"]["ids"]["trakt"] == 481
    gone = (By.CSS_SELECTOR, f'[data-queue-id="{page["unknown"]}"]')
    wait(chrome, 5).until(expected_conditions.invisibility_of_element_located(gone))
    history = (By.ID, "history")
    wait(chrome, 5).until(expected_conditions.text_to_be_present_in_element(history, "fix #1"))


def screenshot(target: Path) -> None:
    """The README's picture: an episode playing, a failed watch, and a watch Retry just delivered."""
    import tempfile

    from tests.conftest import MEDIA, make_video
    from tests.e2e.conftest import BB_SHOW_IDS, MATRIX_IDS

    work = Path(tempfile.mkdtemp(prefix="sd-shot-"))
    with FakeTrakt() as trakt:
        trakt.add_movie("The Matrix", 1999, MATRIX_IDS)
        trakt.add_show(
            "Breaking Bad", 2008, BB_SHOW_IDS, episodes={(1, n): {"trakt": 62000 + n} for n in range(1, 8)}
        )
        info = start_page(work, trakt, work / "mpv.sock")
        video = make_video(work / EPISODE, MEDIA[EPISODE])
        with MpvPlayer(work / "mpv.sock") as player:
            info["daemon"].wait_event("player_found", 15)
            player.load(video)
            player.wait_playing(EPISODE)
            player.seek_percent(37)
            driver = browser(480, 1100)
            try:
                driver.get(info["url"])
                driver.find_element(By.CSS_SELECTOR, f'[data-action="retry-{info["failed"]}"]').click()
                assert trakt.wait_for(lambda t: len(t.history) == 1, 30)
                wait(driver, 5).until(
                    expected_conditions.text_to_be_present_in_element((By.ID, "history"), "on Trakt")
                )
                driver.get(info["url"])  # without the one-time "retrying" note
                wait(driver, 5).until(
                    expected_conditions.text_to_be_present_in_element((By.ID, "players"), "S01E02")
                )
                driver.save_screenshot(str(target))
            finally:
                driver.quit()
        info["daemon"].kill()


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]))
