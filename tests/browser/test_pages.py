"""The webcam pages in headless Chromium, whose fake camera plays a real clip or photo.

The head-turn clip is ``intel_female_headturn`` from the liveness folder beside the photos
(``$FACE_TEST_DATA/../liveness``, read in place, never copied): she turns one way, the other way
and back, so it passes either order of steps. A 23-frame clip looped exactly would send the
same pictures again within one capture, which the server rightly refuses ("the camera sent the
same picture several times"), so the fake camera gets what a real one has: sensor noise that
differs in every frame (and 20 frames/s, so two captures never land on one frame).

Screenshots of every state reached land in artifacts/browser/ (kept by CI as test artifacts);
``login-challenge.png`` is the README's docs/login.png.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.server.test_gunicorn import ADMIN, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "browser"
NOISE = "noise=alls=4:allf=t"  # a camera's sensor noise: no two frames are the same picture
PAD = "pad=640:480:(ow-iw)/2:(oh-ih)/2:color=gray"
FIT = f"scale=640:480:force_original_aspect_ratio=decrease,{PAD}"
LIVE_ENV = {
    "FACE_LOGIN_LIVENESS_LOGIN": "true",
    "FACE_LOGIN_LIVENESS_REGISTER": "true",
    # The fake camera plays the same recording at every login: to the replay memory that is a
    # replay (refused as it should be; tests/app/test_liveness_api.py covers it), so it is off
    # for these page tests.
    "FACE_LOGIN_LIVENESS_REPLAY_KEEP": "0",
}
# The pages run under the server's CSP (no eval): waits use selectors, not JS predicates.
CUE_SHOWN = "#cue:not([hidden]) .arrow:not(:empty)"


def ffmpeg_y4m(inputs: list[str], filters: str, out: Path) -> Path:
    """A Y4M for Chromium's fake camera (yuv420p: 4:4:4 plays as green frames)."""
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-vf",
            f"{filters},format=yuv420p",
            "-f",
            "yuv4mpegpipe",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    return out.resolve()


def turning_camera(frames: Path, out: Path) -> Path:
    """The numbered JPEGs of ``frames`` at 10 frames/s, 640x480, 4 times over, with noise."""
    count = len(list(frames.glob("[0-9][0-9][0-9][0-9].jpg")))
    assert count > 10, f"no clip frames in {frames}"
    return ffmpeg_y4m(
        ["-framerate", "10", "-i", str(frames / "%04d.jpg")],
        f"loop=loop=3:size={count}:start=0,fps=20,{FIT},{NOISE}",
        out,
    )


def still_camera(photo: Path, out: Path, height: int = 480) -> Path:
    """A person who holds still (a photo no wider than 4:3, with sensor noise), 8 s; ``height``
    below 480 puts it small in the middle of a grey frame (someone far from the camera)."""
    return ffmpeg_y4m(
        ["-loop", "1", "-framerate", "20", "-i", str(photo), "-t", "8"],
        f"scale=-2:{height},{PAD},{NOISE}",
        out,
    )


@pytest.fixture(scope="module")
def playwright_instance():
    if not Path(CHROMIUM).exists() or not shutil.which("ffmpeg"):
        pytest.fail("chromium and ffmpeg are needed (make browser-deps installs them)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def start_live_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn as ``start_server`` runs it, but with the head-turn challenge on for both
    flows, as shipped (``start_server`` switches it off for its photo-based tests)."""
    proc, base, _ = start_server(data_dir, workers=2, extra_env=LIVE_ENV)
    return proc, base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, base = start_live_server(tmp_path_factory.mktemp("server") / "data")
    yield base
    stop_server(proc)


@pytest.fixture(scope="module")
def liveness_clips(face_data) -> Path:
    clips = face_data.parent / "liveness"
    if not (clips / "intel_female_headturn").is_dir():
        pytest.fail(f"liveness clips not found at {clips} (beside FACE_TEST_DATA)")
    return clips


def browser_with_camera(p, video: Path | None, dark: bool = False):
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    browser = p.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*args, "--no-sandbox"]
    )
    context = browser.new_context(
        viewport={"width": 900, "height": 1000}, color_scheme="dark" if dark else "light"
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on(
        "console",
        lambda m: page.errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return browser, page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def text(page, selector: str) -> str:
    return page.text_content(selector) or ""


def expect(locator):
    """Playwright's auto-waiting assertions (imported here, like sync_playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def wait_text(page, selector: str, words: str, timeout: float = 30000) -> None:
    expect(page.locator(selector)).to_contain_text(words, ignore_case=True, timeout=timeout)


def challenge_outcome(page, shot_name: str | None = None) -> str:
    """Wait for the step cue (screenshot it), then for the answer; returns #result's error
    code ('' on success)."""
    page.wait_for_selector(CUE_SHOWN, timeout=30000)
    if shot_name:
        shot(page, shot_name)
    page.wait_for_selector("#result.ok, #result.error", timeout=90000)
    return page.get_attribute("#result", "data-error") or ""


def turn_until_answered(page, shot_name: str | None = None) -> str:
    """The clip turns both ways, so either random order passes; should a run still fail on
    liveness, ask once more (a new challenge) before reporting it."""
    outcome = challenge_outcome(page, shot_name)
    if outcome == "liveness_failed":
        print("liveness failed once:", text(page, "#result"), "- trying again")
        page.click("#start" if page.query_selector("#start") else "#capture")
        outcome = challenge_outcome(page)
    return outcome


def one_main_button(page) -> None:
    visible = [b for b in page.query_selector_all("main button") if b.is_visible()]
    assert [b.text_content() for b in visible] == ["Try again"], "one way to try again"


def test_a_live_stranger_then_ana_registers_logs_out_and_in(
    playwright_instance, server, liveness_clips, tmp_path
):
    turning = turning_camera(liveness_clips / "intel_female_headturn", tmp_path / "turn.y4m")

    # Nobody is registered: she turns as asked, and is a stranger (dark theme, for a look).
    browser, page = browser_with_camera(playwright_instance, turning, dark=True)
    page.goto(f"{server}/login")
    assert "Log in" in text(page, "nav") and "Signed in" not in text(page, "nav")
    assert page.get_attribute(".camera", "aria-label")
    assert not page.query_selector("#files"), "no photo upload while liveness is on"
    assert turn_until_answered(page, "login-challenge-dark") == "not_recognized"
    wait_text(page, "#result", "Not recognised")
    one_main_button(page)
    shot(page, "login-refused-dark")
    assert page.errors == []
    browser.close()

    browser, page = browser_with_camera(playwright_instance, turning)
    page.goto(f"{server}/register")
    assert not page.query_selector("#files"), "no photo upload while liveness is on"
    wait_text(page, "#camera-status", "One face in view")
    shot(page, "register")
    page.fill("#username", "ana")
    page.press("#username", "Enter")  # runs the main button, does not reload the page
    assert turn_until_answered(page, "register-challenge") == ""
    assert "?" not in page.url
    page.wait_for_url(f"{server}/account", timeout=30000)
    expect(page.locator("#who")).to_have_text("ana")
    assert "Signed in as ana" in text(page, "nav")
    shot(page, "account")

    page.goto(f"{server}/login")  # signed in: no camera, a plain sentence with links
    wait_text(page, "h1", "You are signed in as ana")
    assert not page.query_selector("#video")
    shot(page, "login-signed-in")

    page.click("main [data-logout]")
    page.wait_for_url(f"{server}/login", timeout=30000)
    page.wait_for_selector("#video")
    assert "Signed in" not in text(page, "nav")
    # No click: the page starts by itself once one face is centred.
    assert turn_until_answered(page, "login-challenge") == ""
    wait_text(page, "#result", "Welcome, ana")
    shot(page, "login-welcome")
    page.wait_for_url(f"{server}/account", timeout=30000)
    expect(page.locator("#who")).to_have_text("ana")
    assert "Signed in as ana" in text(page, "nav")
    # "Last login" is the login before this one: registering is not a login.
    wait_text(page, "#last-login", "none before this one")
    shot(page, "account-after-login")

    page.click("nav [data-logout]")
    page.wait_for_url(f"{server}/login", timeout=30000)
    assert turn_until_answered(page) == ""
    page.wait_for_url(f"{server}/account", timeout=30000)
    expect(page.locator("#last-login")).not_to_have_text(re.compile(r"^(…|)$"))
    assert "none" not in text(page, "#last-login"), "the first login is now the previous one"
    shot(page, "account-second-login")
    assert page.errors == []

    page.goto(f"{server}/admin")
    page.fill("#token", ADMIN)
    page.press("#token", "Enter")
    expect(page.locator("#users-count")).to_have_text("1")
    page.click("#rebuild")
    wait_text(page, "#result", "built", timeout=60000)
    version = re.search(r"Index version (\d+) built", text(page, "#result")).group(1)
    expect(page.locator("#index-version")).to_have_text(version)
    wait_text(page, "#users", "ana")
    # The audit table lists the attempts made above: ana's registration and logins, and the
    # refused login before she registered.
    wait_text(page, "#audit", "register")
    assert "not recognized" in text(page, "#audit") and "ana" in text(page, "#audit")
    assert "127.0.0.1: " in text(page, "#failures")
    shot(page, "admin")
    browser.close()


def test_what_the_login_page_says_without_a_live_turn(
    playwright_instance, server, face_data, tmp_path
):
    obama = face_data / "people/barack_obama/1.jpg"

    # A still face (a photo, with a camera's noise): the server did not see the turn.
    browser, page = browser_with_camera(
        playwright_instance, still_camera(obama, tmp_path / "still.y4m")
    )
    page.goto(f"{server}/login")
    assert challenge_outcome(page) == "liveness_failed"
    wait_text(page, "#result", "turn your head further")
    one_main_button(page)
    shot(page, "login-still-photo")
    assert page.errors == []
    browser.close()

    # Far from the camera: "move closer" at once, and no capture starts.
    far = still_camera(obama, tmp_path / "far.y4m", height=200)
    browser, page = browser_with_camera(playwright_instance, far)
    page.goto(f"{server}/login")
    page.wait_for_selector("#video")
    wait_text(page, "#camera-status", "Move closer", timeout=8000)
    assert page.is_hidden("#cue")
    shot(page, "login-too-far")
    browser.close()

    # Chromium's test pattern: no face, said at once (not after a wait).
    browser, page = browser_with_camera(playwright_instance, None, dark=True)
    page.goto(f"{server}/login")
    wait_text(page, "#camera-status", "No face in view", timeout=8000)
    assert page.is_hidden("#cue")
    shot(page, "login-no-face-dark")
    assert page.errors == []
    browser.close()


def test_the_username_step_when_the_face_alone_is_not_enough(
    playwright_instance, liveness_clips, tmp_path
):
    """A gallery so large (simulated: a false-identification target of 1e-12, which no
    face alone meets) that a login without a username is asked for one, and finishes with
    the frames already taken: no second head turn."""
    turning = turning_camera(liveness_clips / "intel_female_headturn", tmp_path / "turn.y4m")
    env = {**LIVE_ENV, "FACE_LOGIN_MATCHING_MAX_FALSE_IDENTIFICATION": "1e-12"}
    proc, base, _ = start_server(tmp_path / "data", workers=1, extra_env=env)
    try:
        browser, page = browser_with_camera(playwright_instance, turning)
        page.goto(f"{base}/register")
        page.fill("#username", "bea")
        page.press("#username", "Enter")
        assert turn_until_answered(page) == ""
        page.wait_for_url(f"{base}/account", timeout=30000)
        page.click("nav [data-logout]")
        page.wait_for_url(f"{base}/login", timeout=30000)
        assert turn_until_answered(page) == "username_required"
        expect(page.locator("#username-step")).to_be_visible()
        expect(page.locator("#login-form")).to_be_hidden()
        wait_text(page, "#result", "type your username")
        shot(page, "login-username-step")
        page.fill("#step-username", "bea")
        page.press("#step-username", "Enter")
        wait_text(page, "#result", "Welcome, bea")
        shot(page, "login-username-step-welcome")
        page.wait_for_url(f"{base}/account", timeout=30000)
        expect(page.locator("#who")).to_have_text("bea")
        assert page.errors == []

        page.goto(f"{base}/admin")
        page.fill("#token", ADMIN)
        page.press("#token", "Enter")
        expect(page.locator("#enrolled-faces")).not_to_have_text("–")
        wait_text(page, "#false-identification", "per attempt")
        shot(page, "admin-gallery")
        browser.close()
    finally:
        stop_server(proc)
