"""The webcam pages in headless Chromium whose fake camera plays a video of a real photo.

Screenshots of every page land in artifacts/browser/ (kept by CI as test artifacts).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.server.test_gunicorn import ADMIN, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "browser"


def camera_video(photo: Path, out: Path) -> Path:
    """A 640x480 Y4M (yuv420p: 4:4:4 plays as green frames) of ``photo``, 3 s at 15 fps."""
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(photo),
            "-t",
            "3",
            "-r",
            "15",
            "-vf",
            "scale=-2:480,pad=640:480:(ow-iw)/2:0:color=gray,format=yuv420p",
            "-f",
            "yuv4mpegpipe",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    return out.resolve()


@pytest.fixture(scope="module")
def playwright_instance():
    if not Path(CHROMIUM).exists() or not shutil.which("ffmpeg"):
        pytest.fail("chromium and ffmpeg are needed (make browser-deps installs them)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def server(tmp_path):
    proc, base, _ = start_server(tmp_path / "data", workers=2)
    yield base
    stop_server(proc)


def browser_with_camera(p, video: Path | None):
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    browser = p.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*args, "--no-sandbox"]
    )
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    return browser, context


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for_preview_face(page) -> None:
    page.wait_for_function(
        "document.getElementById('camera-status').textContent.includes('One face in view')",
        timeout=30000,
    )


def test_register_logout_login_and_strangers_refused(
    playwright_instance, server, face_data, tmp_path
):
    p = playwright_instance
    obama = camera_video(face_data / "people/barack_obama/1.jpg", tmp_path / "obama.y4m")
    biden = camera_video(face_data / "people/joe_biden/2.jpg", tmp_path / "biden.y4m")

    browser, context = browser_with_camera(p, obama)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/register")
    page.fill("#username", "barack")
    wait_for_preview_face(page)
    shot(page, "register")
    page.click("#capture")
    page.wait_for_url(f"{server}/account", timeout=60000)
    page.wait_for_function("document.getElementById('who').textContent === 'barack'")
    shot(page, "account")

    page.click("#logout")
    page.wait_for_url(f"{server}/login", timeout=30000)
    wait_for_preview_face(page)
    shot(page, "login")
    page.click("#start")
    page.wait_for_function(
        "document.getElementById('result').textContent.includes('Welcome, barack')", timeout=60000
    )
    page.wait_for_url(f"{server}/account", timeout=30000)
    page.wait_for_function("document.getElementById('who').textContent === 'barack'")
    assert page.text_content("#last-login") != "never"
    assert errors == []
    browser.close()

    browser, context = browser_with_camera(p, biden)
    page = context.new_page()
    page.goto(f"{server}/login")
    wait_for_preview_face(page)
    page.click("#start")
    page.wait_for_function(
        "document.getElementById('result').textContent.includes('Not recognised')", timeout=60000
    )
    assert not page.is_hidden("#retry")
    shot(page, "login-refused")
    assert page.url == f"{server}/login"
    browser.close()

    browser, context = browser_with_camera(p, None)  # Chromium's test pattern: no face
    page = context.new_page()
    page.goto(f"{server}/login")
    page.wait_for_function(
        "document.getElementById('camera-status').textContent.includes('No face in view')",
        timeout=30000,
    )
    shot(page, "login-no-face")

    page.goto(f"{server}/admin")
    page.fill("#token", ADMIN)
    page.click("#token-form button[type=submit]")
    page.wait_for_function("document.getElementById('users-count').textContent === '1'")
    page.click("#rebuild")
    page.wait_for_function(
        "document.getElementById('result').textContent.includes('Index version')", timeout=60000
    )
    page.wait_for_function("document.getElementById('users').textContent.includes('barack')")
    shot(page, "admin")
    browser.close()
