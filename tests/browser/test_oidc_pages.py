"""Signing in to another application in headless Chromium: the application sends the person
to /oauth/authorize, the login page says for which application, the fake camera plays a real
head turn, the consent page asks, and the application's callback gets a code. Both themes;
screenshots in artifacts/browser/ (oidc-*.png)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.browser.test_pages import (
    CHROMIUM,
    browser_with_camera,
    shot,
    turning_camera,
    wait_text,
)
from tests.oidc.flow import (
    add_client,
    callback_server_url,
    clip,
    face_login,
    pkce,
    query,
    start_provider,
)
from tests.server.test_gunicorn import stop_server

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists() or not shutil.which("ffmpeg"):
        pytest.fail("chromium and ffmpeg are needed (make browser-deps installs them)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def provider(tmp_path_factory, liveness_data):
    proc, base = start_provider(tmp_path_factory.mktemp("oidc-pages") / "data")
    try:
        face_login(requests.Session(), base, clip(liveness_data), username="ana")
        client = add_client(base, name="Grafana", redirect_uris=[callback_server_url()])
        yield base, client
    finally:
        stop_server(proc)


def authorize_url(base: str, client: dict, **params: str) -> str:
    rp = OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope="openid profile",
        redirect_uri=client["redirect_uris"][0],
        code_challenge_method="S256",
    )
    url, _ = rp.create_authorization_url(
        f"{base}/oauth/authorize", code_verifier=pkce()[0], nonce="n", **params
    )
    return str(url)


def application_callback(page, client: dict) -> list[str]:
    """Stand in for the application's callback: record where the browser was sent."""
    reached: list[str] = []

    def answer(route) -> None:
        reached.append(route.request.url)
        route.fulfill(status=200, body="the application got its code")

    page.route(client["redirect_uris"][0] + "**", answer)
    return reached


def test_signing_in_to_an_application(chromium, provider, liveness_data, tmp_path):
    base, client = provider
    turning = turning_camera(liveness_data / "intel_female_headturn", tmp_path / "turn.y4m")
    browser, page = browser_with_camera(chromium, turning)
    reached = application_callback(page, client)
    page.goto(authorize_url(base, client))
    assert page.url.startswith(f"{base}/login?return=")
    wait_text(page, "#continue-to", "to continue to Grafana")
    page.wait_for_selector("#video")
    shot(page, "oidc-login")
    # The page starts by itself once her face is centred; after the head turn it goes back
    # to /oauth/authorize, which asks for consent. (Waiting for a status in between races
    # with a login that can be over in a few seconds.)
    page.wait_for_selector("#consent, #result.error", timeout=120000)
    refused = page.query_selector("#result.error")
    if refused and refused.get_attribute("data-error") == "liveness_failed":  # once, as test_pages
        page.click("#start")
        page.wait_for_selector("#consent, #result.error", timeout=120000)
    assert page.query_selector("#consent"), page.text_content("#result")
    wait_text(page, "h1", "Sign in to Grafana?")
    shot(page, "oidc-consent")
    page.click("#allow")
    page.wait_for_url(client["redirect_uris"][0] + "**", timeout=30000)
    assert reached and "code" in query(reached[0]) and query(reached[0])["state"]
    cookies = page.context.cookies()
    assert page.errors == []
    browser.close()

    # Dark theme, no camera: the same login page; then, signed in, the consent page and
    # the logout confirmation (no id_token_hint: the person is asked).
    browser, page = browser_with_camera(chromium, None, dark=True)
    page.goto(authorize_url(base, client))
    wait_text(page, "#continue-to", "to continue to Grafana")
    wait_text(page, "#camera-status", "No face in view", timeout=8000)
    shot(page, "oidc-login-dark")
    page.context.add_cookies(cookies)
    reached = application_callback(page, client)
    page.goto(authorize_url(base, client, prompt="consent"))
    page.wait_for_selector("#consent")
    shot(page, "oidc-consent-dark")
    page.click("#deny")
    page.wait_for_url(client["redirect_uris"][0] + "**", timeout=30000)
    assert query(reached[0])["error"] == "access_denied"
    page.goto(f"{base}/oauth/logout")
    page.wait_for_selector("#confirm-logout")
    shot(page, "oidc-logout-dark")
    page.click("#confirm-logout")
    wait_text(page, "h1", "You are logged out")
    assert "Signed in" not in (page.text_content("nav") or "")
    assert page.errors == []
    browser.close()
